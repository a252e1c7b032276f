// The chat view: each turn a group of messages, each message with its time and actions
// (copy, edit, regenerate, and "‹ 2/3 ›" where it has other versions), code blocks with a
// copy button, and a scroll that follows a streaming reply only while the reader is at the
// bottom.

const $ = (id) => document.getElementById(id);
// How near the bottom (in pixels) still counts as reading the newest message.
const AT_BOTTOM = 40;

const view = () => $("messages");

// Whether the reader is at the end of the chat (and so wants to follow it).
export function atBottom() {
  const el = view();
  return el.scrollHeight - el.scrollTop - el.clientHeight <= AT_BOTTOM;
}

export function toBottom() {
  view().scrollTop = view().scrollHeight;
}

// Runs `change`, then keeps the reader's place: at the bottom if they were there.
export function following(change) {
  const follow = atBottom();
  const result = change();
  if (follow) toBottom();
  return result;
}

export function clearView() {
  view().replaceChildren();
  updateWelcome();
}

// The welcome shows while the chat has no message.
export function updateWelcome() {
  const empty = view().querySelector(".msg") === null;
  $("welcome").hidden = !empty;
  view().hidden = empty;
}

export function addTurn(seq) {
  const turn = document.createElement("div");
  turn.className = "turn";
  if (seq !== undefined) turn.dataset.seq = seq;
  view().append(turn);
  return turn;
}

// The turns shown (not those a streaming edit takes the place of).
export function shownTurns() {
  return [...view().querySelectorAll(":scope > .turn:not([hidden])")];
}

export function lastTurn() {
  return shownTurns().at(-1) ?? null;
}

// The stored turns from turn `seq` on (a turn still streaming has no seq yet).
export function turnsFrom(seq) {
  return [...view().querySelectorAll(":scope > .turn[data-seq]")].filter(
    (turn) => Number(turn.dataset.seq) >= seq,
  );
}

// A streamed turn once stored: its seq, on it and on its messages (as a loaded one has).
export function markStored(turn, seq) {
  turn.dataset.seq = seq;
  for (const msg of turn.querySelectorAll(".msg")) msg.dataset.seq = seq;
}

export const askedIn = (turn) => turn.querySelector(".msg.user");
export const answerIn = (turn) => [...turn.querySelectorAll(".msg.assistant")].at(-1) ?? null;

// A message in `turn`: a user's as text, a reply as the HTML the server rendered.
// `source` is what Copy copies (a reply's Markdown as written).
export function addMessage(turn, role, source, { html, time } = {}) {
  const msg = document.createElement("div");
  msg.className = `msg ${role}`;
  msg.dataset.seq = turn.dataset.seq ?? "";
  const entry = document.createElement("div");
  entry.className = `entry ${role}`;
  const meta = document.createElement("div");
  meta.className = "meta";
  entry.append(msg, meta);
  turn.append(entry);
  setMessage(msg, source, html);
  stamp(msg, time);
  updateWelcome();
  return msg;
}

// A message's text, as HTML if given (a reply's rendered Markdown), else as written.
export function setMessage(msg, source, html) {
  msg.source = source;
  msg.classList.toggle("plain", html == null);
  if (html == null) msg.textContent = source;
  else {
    msg.innerHTML = html;
    addCodeButtons(msg);
  }
}

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// When it was said: the time today, the date and time before.
export function stamp(msg, time) {
  const when = time ? new Date(time) : new Date();
  const el = document.createElement("time");
  el.dateTime = when.toISOString();
  el.title = DATE_TIME.format(when);
  el.textContent = sameDay(when, new Date()) ? TIME.format(when) : DATE_TIME.format(when);
  msg.nextElementSibling.replaceChildren(el);
}

export function sameDay(a, b) {
  return a.toDateString() === b.toDateString();
}

// An action under a message: a small button that says what it did for a moment.
export function addAction(msg, label, action) {
  const button = document.createElement("button");
  button.className = "action link";
  button.textContent = label;
  button.addEventListener("click", action);
  msg.nextElementSibling.append(button);
  return button;
}

// "‹ k/n ›" under a message that has other versions; `pick(branch)` shows one.
export function addVersions(msg, { k, n, previous, next }, pick) {
  const group = document.createElement("span");
  group.className = "versions";
  const step = (label, glyph, branch) => {
    const button = document.createElement("button");
    button.className = "link";
    button.textContent = glyph;
    button.setAttribute("aria-label", label);
    button.disabled = branch === null;
    button.addEventListener("click", () => pick(branch));
    return button;
  };
  const count = document.createElement("span");
  count.className = "count";
  count.textContent = `${k}/${n}`;
  count.title = `Version ${k} of ${n}`;
  group.append(step("Previous version", "‹", previous), count, step("Next version", "›", next));
  msg.nextElementSibling.append(group);
  return group;
}

export function addCopy(msg) {
  addAction(msg, "Copy", (event) => copy(msg.source, event.currentTarget));
}

// Each code block gets a Copy button; its label is drawn by CSS, so a message's text
// (what tests and screen readers read as the message) stays the message's own.
function addCodeButtons(msg) {
  for (const pre of msg.querySelectorAll("pre")) {
    const button = document.createElement("button");
    button.className = "copy-code";
    button.type = "button";
    button.setAttribute("aria-label", "Copy code");
    button.addEventListener("click", () => copy(pre.querySelector("code").textContent, button));
    pre.prepend(button);
  }
}

async function copy(text, button) {
  let said = "Copied";
  try {
    if (navigator.clipboard && isSecureContext) await navigator.clipboard.writeText(text);
    else copyByHand(text);
  } catch {
    said = "Copy failed";
  }
  button.dataset.done = said;
  setTimeout(() => delete button.dataset.done, 1500);
}

// Where the clipboard API is not offered (a page served over plain http from elsewhere).
function copyByHand(text) {
  const area = document.createElement("textarea");
  area.value = text;
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("not copied");
}

// What a turn changed in the user's facts, shown under its reply (as text, never HTML):
// in the turn's own group, wherever the chat on screen is by then.
export function showMemoryChanges(turn, memory) {
  const said = [
    ...memory.remembered.map(({ key, value }) => `remembered ${key}: ${value}`),
    ...memory.forgotten.map((key) => `forgot ${key}`),
  ];
  if (!said.length) return;
  const note = document.createElement("div");
  note.className = "memory-note";
  note.textContent = `(${said.join("; ")})`;
  turn.append(note);
}
