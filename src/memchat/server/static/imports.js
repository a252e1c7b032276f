// The Import panel: a ChatGPT or Claude export (the ZIP, or its conversations.json) or a
// memchat export (.jsonl) becomes your chats, through POST /api/import as `memchat import`
// does it; "Also learn facts" learns what you said about yourself in them. It says what
// came in ("Imported 12 chats (340 turns, 3 branches), 2 facts; 1 skipped"; chats
// imported before that went on since: "Updated 2 chats (9 new turns)"), or the server's
// reason for importing nothing.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat("en");

let imported = async () => {};

// `handler()` runs after an import brought chats in (the list is to be drawn again).
export function whenImported(handler) {
  imported = handler;
}

export function openImport() {
  $("import-error").textContent = "";
  $("import-panel").showModal();
  $("import-file").focus();
}

// Whoever logs in next must not see what this person imported.
export function closeImport() {
  $("import-panel").close();
  $("import-form").reset();
  $("import-status").textContent = "";
  $("import-error").textContent = "";
}

const plural = (n, one, many = `${one}s`) => `${number.format(n)} ${n === 1 ? one : many}`;

// What an import brought in, in a sentence. `turns` counts the new chats' turns and the
// updated chats' new ones.
export function summary(result) {
  const skipped = result.skipped ? `; ${number.format(result.skipped)} skipped (imported before)` : "";
  const facts = result.facts ? `, ${plural(result.facts, "fact")}` : "";
  if (!result.sessions && !result.updated) {
    return result.facts
      ? `Imported ${plural(result.facts, "fact")}${skipped}.`
      : `Nothing new${skipped}.`;
  }
  if (!result.sessions) {
    const turns = plural(result.turns, "new turn");
    return `Updated ${plural(result.updated, "chat")} (${turns})${facts}${skipped}.`;
  }
  const parts = [plural(result.turns, "turn")];
  if (result.branches) parts.push(plural(result.branches, "branch", "branches"));
  const updated = result.updated ? ` and updated ${number.format(result.updated)}` : "";
  const chats = `${plural(result.sessions, "chat")}${updated}`;
  return `Imported ${chats} (${parts.join(", ")})${facts}${skipped}.`;
}

async function importFile() {
  const file = $("import-file").files[0];
  if (!file) return;
  const query = new URLSearchParams({ name: file.name });
  if ($("import-learn").checked) query.set("learn", "true");
  $("import-error").textContent = "";
  $("import-status").textContent = `Importing ${file.name}…`;
  setBusy(true);
  try {
    const result = await api("POST", `/api/import?${query}`, file);
    $("import-status").textContent = summary(result);
    $("import-form").reset();
    if (result.sessions || result.updated || result.facts) await imported();
  } catch (error) {
    $("import-status").textContent = "";
    // fetch fails without an answer when the server stops reading a file too large for it.
    $("import-error").textContent =
      error instanceof TypeError
        ? `The upload of ${file.name} failed: the connection was lost (is it larger than the server takes?).`
        : error.message;
  } finally {
    setBusy(false);
  }
}

function setBusy(busy) {
  for (const control of $("import-form").elements) control.disabled = busy;
  $("import-panel").setAttribute("aria-busy", String(busy));
}

$("import-close").addEventListener("click", () => $("import-panel").close());
$("import-form").addEventListener("submit", (event) => {
  event.preventDefault();
  importFile();
});
