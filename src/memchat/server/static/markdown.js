// A small, safe Markdown renderer for chat replies.
//
// Safe by construction: the text is HTML-escaped first and every construct below adds
// only fixed tags to escaped text, so no input can produce a tag or attribute of its own.
// Links keep only http(s) and mailto targets.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function emphasis(text) {
  return text
    .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
    .replace(/__([^_\n]+)__/g, "<strong>$1</strong>")
    .replace(/(^|[^*\w])\*([^*\n]+)\*(?!\w)/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_([^_\n]+)_(?!\w)/g, "$1<em>$2</em>")
    .replace(/~~([^~\n]+)~~/g, "<del>$1</del>");
}

function inline(text) {
  // Code spans and links go into placeholders first, so that nothing inside a code span
  // and nothing inside a link's address is formatted.
  // A link's label and address hold no "[", so that a run of them is read once, not
  // once from each "[" (which took time growing with the square of the run).
  const held = [];
  const hold = (html) => {
    held.push(html);
    return `\u0000${held.length - 1}\u0000`;
  };
  const out = escapeHtml(text.replace(/\u0000/g, ""))
    .replace(/`([^`\n]+)`/g, (_, code) => hold(`<code>${code}</code>`))
    .replace(/\[([^[\]\n]+)\]\(((?:https?:\/\/|mailto:)[^\s)[]+)\)/g, (_, label, url) =>
      hold(`<a href="${url}" target="_blank" rel="noopener noreferrer">${emphasis(label)}</a>`));
  // A link's label may hold a code span: restore placeholders within placeholders too.
  const restore = (html) => html.replace(/\u0000(\d+)\u0000/g, (_, i) => restore(held[Number(i)]));
  return restore(emphasis(out));
}

// Each line-level pattern takes the whole line; the `s` flag lets `.` match the line
// separators U+2028 and U+2029, which are not line breaks here.
const FENCE = /^\s*(`{3,}|~{3,})(.*)$/s;
const HEADING = /^ {0,3}(#{1,6})\s+(.*)$/s;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s*>/;
const LIST_ITEM = /^\s*([-*+]|\d+[.)])\s+(.*)$/s;
// Deeper quotes show their ">" as text: each level is a recursive call.
const MAX_QUOTE_DEPTH = 20;

// A code fence's marker and language, or null. As in CommonMark, the language is the first
// word of the info string, and a backtick fence's info string holds no backtick.
function fenceOf(line) {
  const match = line.match(FENCE);
  if (!match) return null;
  const [, marker, info] = match;
  if (marker[0] === "`" && info.includes("`")) return null;
  const word = info.trim().split(/\s+/)[0];
  return { marker, lang: /^[\w+-]+$/.test(word) ? word : "" };
}

function startsBlock(line, depth) {
  return (
    fenceOf(line) !== null ||
    HEADING.test(line) ||
    (depth < MAX_QUOTE_DEPTH && QUOTE.test(line)) ||
    LIST_ITEM.test(line)
  );
}

export function renderMarkdown(source) {
  return blocks(source.replace(/\r\n?/g, "\n").split("\n"), 0);
}

// Every turn of the loop takes the line it starts on before any rule looks at it, and a
// line that no other rule wants is a paragraph's, so no text can keep the loop in place.
function blocks(lines, depth) {
  const html = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    i += 1;
    if (!line.trim()) continue;
    const fence = fenceOf(line);
    if (fence) {
      const body = [];
      while (i < lines.length && !lines[i].trim().startsWith(fence.marker)) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end of a reply still streaming)
      const lang = fence.lang ? ` class="language-${escapeHtml(fence.lang)}"` : "";
      html.push(`<pre><code${lang}>${escapeHtml(body.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      const level = heading[1].length;
      html.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      continue;
    }
    if (RULE.test(line)) {
      html.push("<hr>");
      continue;
    }
    if (depth < MAX_QUOTE_DEPTH && QUOTE.test(line)) {
      const quoted = [line];
      while (i < lines.length && QUOTE.test(lines[i])) {
        quoted.push(lines[i]);
        i += 1;
      }
      const inner = quoted.map((q) => q.replace(/^\s*>\s?/, ""));
      html.push(`<blockquote>${blocks(inner, depth + 1)}</blockquote>`);
      continue;
    }
    const item = line.match(LIST_ITEM);
    if (item) {
      const items = [`<li>${inline(item[2])}</li>`];
      let next;
      while (i < lines.length && (next = lines[i].match(LIST_ITEM))) {
        items.push(`<li>${inline(next[2])}</li>`);
        i += 1;
      }
      const tag = /\d/.test(item[1]) ? "ol" : "ul";
      html.push(`<${tag}>${items.join("")}</${tag}>`);
      continue;
    }
    const paragraph = [inline(line)];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i], depth)) {
      paragraph.push(inline(lines[i]));
      i += 1;
    }
    html.push(`<p>${paragraph.join("<br>")}</p>`);
  }
  return html.join("\n");
}
