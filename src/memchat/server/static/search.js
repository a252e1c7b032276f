// Search over your messages: each hit names its session, date and role, the matched words
// marked; clicking one opens its session at that message.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const SEARCH_LIMIT = 20;

// `open(hit)` opens a hit's session.
export async function search(query, open) {
  const params = new URLSearchParams({ q: query, limit: SEARCH_LIMIT });
  const hits = await api("GET", `/api/search?${params}`);
  $("search-summary").textContent = describeHits(hits.length);
  $("hits").replaceChildren(...hits.map((hit) => renderHit(hit, open)));
  $("search-results").hidden = false;
}

function describeHits(count) {
  if (!count) return "No messages match";
  if (count >= SEARCH_LIMIT) return `The best ${count} matches`;
  return count === 1 ? "1 match" : `${count} matches`;
}

export function clearSearch() {
  $("search-input").value = "";
  $("hits").replaceChildren();
  $("search-results").hidden = true;
}

function renderHit(hit, open) {
  const meta = document.createElement("span");
  meta.className = "hit-meta";
  const date = hit.created_at.slice(0, 10);
  meta.textContent = `${hit.session_title || "New chat"} · ${date} · ${hit.role}`;
  const snippet = document.createElement("span");
  snippet.className = "snippet";
  snippet.append(...highlighted(hit.parts));
  const button = document.createElement("button");
  button.className = "hit";
  button.append(meta, snippet);
  button.addEventListener("click", () => open(hit));
  const li = document.createElement("li");
  li.append(button);
  return li;
}

// The API gives each snippet in parts, the matched words marked. They become text nodes
// and <mark> elements, never HTML, so a message's own markup stays text.
function highlighted(parts) {
  return parts.map(({ text, match }) => {
    if (!match) return text;
    const mark = document.createElement("mark");
    mark.textContent = text;
    return mark;
  });
}

// A hit opens its session at the message found, not at the end of a long history.
export function showHit(hit) {
  const found = [...$("messages").querySelectorAll(".msg")].find(
    (div) => div.dataset.seq === String(hit.seq) && div.classList.contains(hit.role),
  );
  found?.classList.add("found");
  found?.scrollIntoView({ block: "center" });
}
