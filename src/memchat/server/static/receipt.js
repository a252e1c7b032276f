// The receipt of a verified forgetting (a fact forgotten or a chat deleted with
// `?verify=true`): what was removed, and whether any copy of its words remains, said as
// `memchat ... --verify` says it.

const $ = (id) => document.getElementById(id);
const count = new Intl.NumberFormat();

// `receipt`: the API's answer (forgot, clean, removed, words, copies, kept, scanned, notes);
// `what`: what was forgotten, in the page's words (else the receipt's own).
export function showReceipt(receipt, what = receipt.forgot) {
  const verdict = line(
    receipt.clean
      ? "0 remaining copies"
      : `${plural(receipt.copies.length, "remaining copy", "remaining copies")}:`,
  );
  verdict.className = receipt.clean ? "verdict clean" : "verdict error";
  const removed = Object.entries(receipt.removed)
    .map(([table, rows]) => `${table} ${count.format(rows)}`)
    .join(", ");
  $("receipt").replaceChildren(
    line(`Forgot ${what}.`),
    verdict,
    ...(receipt.clean ? [] : [places(receipt.copies)]),
    line(`Removed: ${removed || "nothing"}.`),
    line(
      `Looked for ${plural(receipt.words, "distinctive word", "distinctive words")}` +
        ` in: ${receipt.scanned.join("; ")}.`,
    ),
    ...(receipt.kept.length
      ? [line("Also in text that is kept, so not looked for on disk:"), places(receipt.kept)]
      : []),
    ...receipt.notes.map((note) => line(`Note: ${note}`, "note")),
  );
  $("receipt-panel").showModal();
}

export function closeReceipt() {
  $("receipt-panel").close();
  $("receipt").replaceChildren();
}

function plural(n, one, many) {
  return `${count.format(n)} ${n === 1 ? one : many}`;
}

// Text nodes only: a forgotten word is shown as written, never as HTML.
function line(text, className) {
  const p = document.createElement("p");
  p.textContent = text;
  if (className) p.className = className;
  return p;
}

function places(copies) {
  const list = document.createElement("ul");
  for (const { word, where } of copies) {
    const item = document.createElement("li");
    item.textContent = `'${word}' in ${where}`;
    list.append(item);
  }
  return list;
}

$("receipt-close").addEventListener("click", closeReceipt);
