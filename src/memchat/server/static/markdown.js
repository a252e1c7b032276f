// Replies written in Markdown, as HTML the server renders (POST /api/render: markdown-it-py
// with raw HTML off, code coloured by Pygments). The page writes no Markdown parser of its
// own; what comes back holds no tag of the message's own.

import { api } from "./api.js";

// What one request may carry (the server's limits), and the longest text rendered: a
// longer one is shown as written (its HTML here is null), as the server would show it.
const BATCH_CHARS = 200_000;
const BATCH_TEXTS = 500;
const LONGEST = 100_000;

// The HTML of each text, in order (null for a text to show as written).
export async function renderAll(texts) {
  const rendered = await renderEach(texts.filter((text) => text.length <= LONGEST));
  return texts.map((text) => (text.length <= LONGEST ? rendered.shift() : null));
}

async function renderEach(texts) {
  const html = [];
  let batch = [];
  let size = 0;
  const flush = async () => {
    if (batch.length) html.push(...(await api("POST", "/api/render", { texts: batch })).html);
    batch = [];
    size = 0;
  };
  for (const text of texts) {
    if (batch.length && (size + text.length > BATCH_CHARS || batch.length >= BATCH_TEXTS)) {
      await flush();
    }
    batch.push(text);
    size += text.length;
  }
  await flush();
  return html;
}

// A reply that grows as it streams (`show(html, text)` puts it on screen): each update asks for the latest text's HTML, with at
// most one request out at a time (a request that comes back late asks again for whatever
// arrived meanwhile), so a fast stream costs a few renders, not one per piece.
export class LiveMarkdown {
  constructor(show) {
    this.show = show;
    this.text = "";
    this.shown = null;
    this.pending = null;
  }

  update(text) {
    this.text = text;
    this.pending ??= this.#renderLatest();
    return this.pending;
  }

  // Resolves once the last text given is shown.
  async finish() {
    while (this.pending) await this.pending;
    if (this.shown !== this.text) await this.update(this.text);
  }

  async #renderLatest() {
    try {
      while (this.shown !== this.text) {
        const text = this.text;
        const [html] = await renderAll([text]);
        this.shown = text;
        this.show(html, text);
      }
    } finally {
      this.pending = null;
    }
  }
}
