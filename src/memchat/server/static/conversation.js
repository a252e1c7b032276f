// The session shown: its heading, its active line of turns (with "‹ k/n ›" on the turns
// that have other versions, which switch branches), opening it, a new chat, renaming,
// moving it to a project, and deleting (verified on request: a receipt says what remains).

import { api, ApiError, everyPage } from "./api.js";
import { renderAll } from "./markdown.js";
import {
  addCopy, addMessage, addTurn, addVersions, answerIn, askedIn, clearView, shownTurns,
  toBottom, turnsFrom, updateWelcome,
} from "./messages.js";
import { loadProjects } from "./projects.js";
import { showReceipt } from "./receipt.js";
import { linkTo, unlink } from "./routing.js";
import { showHit } from "./search.js";
import {
  dropSession, listSessions, newestSession, putSession, sessionById, showProject, shownProject,
  titleOf,
} from "./sessions.js";
import { guarded, page, showError } from "./state.js";
import { showSessionUsage } from "./usage.js";
import { loadVersions, versionsOf } from "./versions.js";

const $ = (id) => document.getElementById(id);
const path = (id) => `/api/sessions/${encodeURIComponent(id)}`;

let opening = 0; // the latest openSession call; an older one that returns late is dropped
const onShown = [];

// `handler()` runs each time a session (or a new chat) is shown, its turns drawn.
export function whenShown(handler) {
  onShown.push(handler);
}

export function showSession(session, id = session?.id ?? null) {
  page.current = id;
  linkTo(id);
  $("title").textContent = titleOf(session);
  showSessionUsage(session);
  $("rename").disabled = $("delete").disabled = !session;
  $("rename-form").hidden = true;
  $("title").hidden = false;
  // A new chat keeps the project typed for it; a stored one shows its own.
  if (session) $("session-project").value = session.project;
  $("project-scope").textContent = session?.scoped ? "scoped memory" : "";
  listSessions();
  for (const handler of onShown) handler();
}

// `hit`: a search hit to show; `keep`: { index, top }, the turn to leave where it was on
// the screen (a version switched), instead of going to the end.
export async function openSession(id, { hit, keep } = {}) {
  const call = ++opening;
  showError();
  let history = null;
  const html = [];
  await everyPage(`${path(id)}/messages`, async (chunk) => {
    if (history) history.turns.push(...chunk.turns);
    else history = chunk;
    const replies = chunk.turns.flatMap((t) => t.messages.filter((m) => m.role === "assistant"));
    html.push(...(await renderAll(replies.map((m) => m.text))));
  });
  if (call !== opening) return;
  clearView();
  for (const { seq, created_at, messages } of history.turns) {
    const turn = addTurn(seq);
    for (const { role, text } of messages) {
      if (role !== "user" && role !== "assistant") continue;
      const shown = role === "assistant" ? html.shift() : undefined;
      addCopy(addMessage(turn, role, text, { html: shown, time: created_at }));
    }
  }
  // A reply still streaming into this session is shown again where it was.
  const live = page.live;
  if (live?.sessionId === id) {
    if (live.from !== null) for (const turn of turnsFrom(live.from)) turn.hidden = true;
    $("messages").append(live.turn);
    updateWelcome();
  }
  showSession(history.session);
  if (keep) keepPlace(keep);
  else toBottom();
  if (hit) showHit(hit);
  guarded(() => showVersions(id))();
}

// The arrows of the turns that have other versions (drawn again from the server's list).
export async function showVersions(id) {
  const branches = await loadVersions(id);
  if (page.current !== id) return;
  const turns = shownTurns().filter((turn) => turn.dataset.seq);
  const asked = (turn) => askedIn(turn)?.source ?? "";
  const versions = versionsOf(
    turns.map((turn) => ({ seq: Number(turn.dataset.seq), asked: asked(turn) })),
    branches,
  );
  for (const old of $("messages").querySelectorAll(".versions")) old.remove();
  for (const turn of turns) {
    const { message, reply } = versions.get(Number(turn.dataset.seq)) ?? {};
    const pick = (branch) => guarded(() => switchTo(id, branch, turn))();
    if (message && askedIn(turn)) addVersions(askedIn(turn), message, pick);
    if (reply && answerIn(turn)) addVersions(answerIn(turn), reply, pick);
  }
}

// Another version of `turn`: its branch becomes the active line, shown from the server.
async function switchTo(id, branch, turn) {
  if (page.live?.sessionId === id) {
    throw new ApiError("A reply is still coming: wait for it, or stop it.");
  }
  const keep = { index: shownTurns().indexOf(turn), top: turn.getBoundingClientRect().top };
  const session = await api("POST", `${path(id)}/branches/${branch}/activate`);
  putSession(session, { top: false });
  await openSession(id, { keep });
}

function keepPlace({ index, top }) {
  const turn = shownTurns()[index];
  if (turn) $("messages").scrollTop += turn.getBoundingClientRect().top - top;
}

// A new chat is only on the page until its first message: sending it creates the session.
// It starts in the project the list shows, if one.
export function newChat() {
  const shown = shownProject();
  $("session-project").value = shown === "*" ? "" : shown;
  showSession(null);
  unlink();
  clearView();
  $("input").focus();
}

// The project a new chat is sent in ("": none).
export const newChatProject = () => $("session-project").value.trim();

// The session as a turn left it: at the top of the list, and in the heading if shown.
export function updateSession(session) {
  putSession(session);
  keepInList(session);
  if (session.id === page.current) showSession(session);
  else listSessions();
}

// The open chat stays in the list: started or moved out of the project the list shows,
// the list shows its project instead.
function keepInList(session) {
  const shown = shownProject();
  if (session.id !== page.current || shown === "*" || session.project === shown) return;
  $("project-filter").value = session.project;
  showProject(session.project);
}

// A fresh session id, made here so the page can show the chat's address at once.
export function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// -- renaming and deleting ------------------------------------------------------------

$("rename").addEventListener("click", () => {
  $("rename-input").value = $("title").textContent;
  $("title").hidden = true;
  $("rename-form").hidden = false;
  $("rename-input").select();
});

// Escape leaves the title as it was.
$("rename-input").addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    event.preventDefault();
    showSession(sessionById(page.current));
  }
});

$("rename-form").addEventListener("submit", guarded(async () => {
  const title = $("rename-input").value.trim();
  if (title) {
    const session = await api("PATCH", path(page.current), { title });
    putSession(session, { top: false });
    showSession(session);
  } else {
    showSession(sessionById(page.current));
  }
}));

// A stored chat's project field moves it (a new project is made; "" takes it out). A new
// chat's is only read when its first message is sent.
$("session-project").addEventListener("change", guarded(async () => {
  const session = sessionById(page.current);
  if (!session) return;
  const project = newChatProject();
  const moved = await api("PATCH", path(session.id), { project });
  putSession(moved, { top: false });
  keepInList(moved);
  showSession(moved);
  await loadProjects();
}));
$("project-form").addEventListener("submit", (event) => event.preventDefault());

// The answer of the delete panel: "delete", "verify", or "" (cancelled).
function askToDelete(session) {
  const panel = $("delete-panel");
  $("delete-title").textContent = titleOf(session);
  panel.returnValue = "";
  panel.showModal();
  return new Promise((resolve) => {
    panel.addEventListener("close", () => resolve(panel.returnValue), { once: true });
  });
}

$("delete").addEventListener("click", guarded(async () => {
  const session = sessionById(page.current);
  const answer = session && (await askToDelete(session));
  if (answer !== "delete" && answer !== "verify") return;
  const verify = answer === "verify";
  const receipt = await api("DELETE", `${path(session.id)}${verify ? "?verify=true" : ""}`);
  dropSession(session.id);
  const next = newestSession();
  if (next) await openSession(next.id);
  else newChat();
  if (session.project) await loadProjects();
  if (verify) showReceipt(receipt, `the chat "${titleOf(session)}"`);
}));
