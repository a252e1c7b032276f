// The web chat: log in with an API token, pick or start a session, stream replies (stop,
// regenerate, edit and resend), search past messages, and see or change what memchat
// remembers about you. Plain ES modules, no build step; everything goes through the same
// /api the CLI documents.

import { api, ApiError, currentToken, events, everyPage, request, useToken, whenUnauthorized } from "./api.js";
import { LiveMarkdown, renderAll } from "./markdown.js";
import { closeMemory, openMemory } from "./memory.js";
import {
  addAction, addCopy, addMessage, addTurn, clearView, following, lastTurn, setMessage,
  showMemoryChanges, toBottom, updateWelcome,
} from "./messages.js";
import { clearSearch, search, showHit } from "./search.js";
import { renderSessions, titleOf } from "./sessions.js";
import { closeUsage, openUsage, showSessionUsage } from "./usage.js";

const $ = (id) => document.getElementById(id);

let sessions = [];
let current = null; // the id of the session shown; null for a new chat not yet sent
let live = null; // the turn streaming now: { sessionId, turn, controller }
let editing = false; // the next send replaces the last turn with the edited message
let opening = 0; // the latest openSession call; an older one that returns late is dropped

function showError(message) {
  $("chat-error").textContent = message ?? "";
}

// -- logging in and out ---------------------------------------------------------------

async function login(candidate) {
  useToken(candidate);
  const me = await api("GET", "/api/me");
  useToken(candidate, { remember: true });
  await loadSessions();
  // The session in the address (#id: a reload, a bookmark, back), else the newest.
  const start = sessions.find((s) => s.id === linkedSession()) ?? sessions[0];
  if (start) await openSession(start.id);
  else newChat();
  // Shown only now: a message typed earlier would race the session chosen above.
  $("me").textContent = $("welcome-name").textContent = me.name;
  $("login").hidden = true;
  $("chat").hidden = false;
  $("input").focus();
  showModel();
}

// The model that answers, under the chat (from the OpenAI-compatible /v1/models).
async function showModel() {
  try {
    const models = await api("GET", "/v1/models");
    $("model").textContent = `Model: ${models.data.at(-1).id}`;
  } catch {
    $("model").textContent = "";
  }
}

function logout(message) {
  useToken(null);
  live?.controller.abort();
  $("chat").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("token").value = "";
  // Whoever logs in next must not see this person's search hits or memory.
  closeMemory();
  closeUsage();
  clearSearch();
  $("token").focus();
}

whenUnauthorized(logout);

// -- sessions -------------------------------------------------------------------------

async function loadSessions() {
  const found = [];
  await everyPage("/api/sessions", (page) => found.push(...page));
  sessions = found;
  listSessions();
}

function listSessions() {
  renderSessions(sessions, current, (id) => guarded(() => openSession(id))());
}

// Each session has its own address (#id), so reload, back and bookmarks find it.
function linkedSession() {
  return decodeURIComponent(location.hash.slice(1));
}

function showSession(session, id = session?.id ?? null) {
  current = id;
  if (id && linkedSession() !== id) history.pushState(null, "", `#${encodeURIComponent(id)}`);
  $("title").textContent = titleOf(session);
  showSessionUsage(session);
  $("rename").disabled = $("delete").disabled = !session;
  $("rename-form").hidden = true;
  $("title").hidden = false;
  stopEditing();
  showBusy();
  listSessions();
}

async function openSession(id, hit) {
  const call = ++opening;
  showError();
  let history = null;
  const html = [];
  await everyPage(`/api/sessions/${encodeURIComponent(id)}/messages`, async (page) => {
    if (history) history.turns.push(...page.turns);
    else history = page;
    const replies = page.turns.flatMap((t) => t.messages.filter((m) => m.role === "assistant"));
    html.push(...(await renderAll(replies.map((m) => m.text))));
  });
  if (call !== opening) return;
  showSession(history.session);
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
  if (live?.sessionId === id) {
    if (live.replacing) lastTurn().hidden = true;
    $("messages").append(live.turn);
    updateWelcome();
  }
  refreshActions();
  toBottom();
  if (hit) showHit(hit);
}

// A new chat is only on the page until its first message: sending it creates the session.
function newChat() {
  showSession(null);
  if (location.hash) history.pushState(null, "", location.pathname + location.search);
  clearView();
  $("input").focus();
}

function updateSession(session) {
  sessions = [session, ...sessions.filter((s) => s.id !== session.id)];
  if (session.id === current) showSession(session);
  else listSessions();
}

// A fresh session id, made here so the page can show the chat's address at once.
function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// -- sending --------------------------------------------------------------------------

// Regenerate and Edit act on the last turn: shown on its messages when no reply streams.
function refreshActions() {
  for (const old of $("messages").querySelectorAll(".action.last")) old.remove();
  const turn = lastTurn();
  if (!turn || live?.turn === turn) return;
  const asked = turn.querySelector(".msg.user");
  const answered = [...turn.querySelectorAll(".msg.assistant")].at(-1);
  if (!asked || !answered) return;
  const regenerate = guarded(async () => {
    if (live) throw new ApiError("A reply is still coming: wait for it, or stop it.");
    showError();
    await send(asked.source, { regenerate: true });
  });
  addAction(answered, "Regenerate", regenerate).classList.add("last");
  addAction(asked, "Edit", () => startEditing(asked.source)).classList.add("last");
}

function startEditing(text) {
  editing = true;
  $("input").value = text;
  $("composer-note").textContent =
    "Editing your last message: Send replaces it and its reply (Escape cancels).";
  $("input").focus();
}

function stopEditing() {
  if (!editing) return;
  editing = false;
  $("input").value = "";
  showBusy();
}

// Send shows when you can send here; Stop while a reply streams, saying where.
function showBusy() {
  $("send").hidden = live !== null;
  $("stop").hidden = live === null;
  let note = "";
  if (live && live.sessionId !== current) {
    const where = titleOf(sessions.find((s) => s.id === live.sessionId));
    note = `A reply is still coming in "${where}": wait for it, or stop it, to send here.`;
  } else if (editing) {
    note = $("composer-note").textContent;
  }
  $("composer-note").textContent = note;
}

async function send(text, { regenerate = false, replace = regenerate } = {}) {
  const create = current === null;
  const sessionId = create ? newId() : current;
  if (create) showSession(null, sessionId);
  const replaced = replace ? lastTurn() : null;
  if (replaced) replaced.hidden = true;
  const turn = addTurn();
  const asked = addMessage(turn, "user", text);
  const bubble = addMessage(turn, "assistant", "");
  bubble.classList.add("streaming");
  const thinking = document.createElement("span");
  thinking.className = "thinking";
  thinking.textContent = "Thinking…";
  bubble.replaceChildren(thinking);
  toBottom();
  const controller = new AbortController();
  live = { sessionId, turn, controller, replacing: replaced !== null };
  showBusy();
  refreshActions();

  let reply = "";
  const markdown = new LiveMarkdown((html, text) =>
    following(() => setMessage(bubble, text, html)),
  );
  try {
    const path = `/api/sessions/${encodeURIComponent(sessionId)}/messages`;
    const body = { text, create, replace_last: replaced !== null };
    const response = await request("POST", path, body, controller.signal);
    for await (const event of events(response)) {
      if (event.name === "delta") {
        if (!reply) following(() => setMessage(bubble, event.data.text));
        reply += event.data.text;
        markdown.update(reply).catch(() => {});
      } else if (event.name === "done") {
        await markdown.finish().catch(() => setMessage(bubble, reply));
        bubble.classList.remove("streaming");
        replaced?.remove();
        live = null;
        addCopy(bubble);
        addCopy(asked);
        updateSession(event.data.session);
        following(() => showMemoryChanges(turn, event.data.memory));
      } else if (event.name === "error") {
        throw new ApiError(event.data.error.message);
      }
    }
  } catch (error) {
    // Nothing of the turn was stored: it leaves the chat, the turn it was to replace
    // comes back, and the message goes back in the box (unless something new was typed
    // there meanwhile), to send again.
    const here = current === sessionId;
    turn.remove();
    if (replaced) replaced.hidden = false;
    updateWelcome();
    if (create && here) newChat();
    const said = controller.signal.aborted ? "Stopped" : error.message.replace(/[.\s]+$/, "");
    const unsaid = /saved/i.test(said) ? "" : " Nothing of it was saved.";
    if (!here) {
      const where = titleOf(sessions.find((s) => s.id === sessionId));
      showError(`Your message in "${where}" got no reply: ${said}.${unsaid}`);
    } else if (regenerate) {
      showError(`${said}.${unsaid} The earlier reply stays.`);
    } else {
      if (!$("input").value) $("input").value = text;
      showError(`${said}.${unsaid} Your message is back in the box.`);
    }
  } finally {
    if (live?.turn === turn) live = null;
    showBusy();
    refreshActions();
  }
}

// -- wiring ---------------------------------------------------------------------------

function guarded(action) {
  return async (event) => {
    event?.preventDefault?.();
    try {
      await action(event);
    } catch (error) {
      if (currentToken()) showError(error.message);
    }
  };
}

async function openHit(hit) {
  try {
    await openSession(hit.session_id, hit);
  } catch (error) {
    // Its session may be gone (deleted in another tab): show the list as it is now.
    await loadSessions();
    throw error;
  }
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await login($("token").value.trim());
  } catch (error) {
    logout(error.message);
  }
});

$("logout").addEventListener("click", () => logout());
$("new-session").addEventListener("click", guarded(newChat));
$("stop").addEventListener("click", () => live?.controller.abort());

$("search-form").addEventListener("submit", guarded(async () => {
  showError();
  await search($("search-input").value, guarded(openHit));
}));
$("search-clear").addEventListener("click", clearSearch);
$("memory").addEventListener("click", guarded(() => openMemory(guarded(openHit))));
$("usage").addEventListener("click", guarded(openUsage));

$("rename").addEventListener("click", () => {
  $("rename-input").value = $("title").textContent;
  $("title").hidden = true;
  $("rename-form").hidden = false;
  $("rename-input").select();
});

window.addEventListener("popstate", guarded(async () => {
  const id = linkedSession();
  if (!currentToken() || id === (current ?? "")) return;
  if (!id) newChat();
  else if (sessions.some((s) => s.id === id)) await openSession(id);
}));

// Escape leaves the title as it was.
$("rename-input").addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    event.preventDefault();
    showSession(sessions.find((s) => s.id === current));
  }
});

$("rename-form").addEventListener("submit", guarded(async () => {
  const title = $("rename-input").value.trim();
  if (title) {
    const session = await api("PATCH", `/api/sessions/${encodeURIComponent(current)}`, { title });
    sessions = sessions.map((s) => (s.id === session.id ? session : s));
    showSession(session);
  } else {
    showSession(sessions.find((s) => s.id === current));
  }
}));

$("delete").addEventListener("click", guarded(async () => {
  const session = sessions.find((s) => s.id === current);
  if (!session || !confirm(`Delete "${titleOf(session)}" and all its messages?`)) return;
  await api("DELETE", `/api/sessions/${encodeURIComponent(session.id)}`);
  sessions = sessions.filter((s) => s.id !== session.id);
  if (sessions.length) await openSession(sessions[0].id);
  else newChat();
}));

$("composer").addEventListener("submit", guarded(async () => {
  const text = $("input").value;
  if (!text.trim() || live) return;
  const replace = editing;
  editing = false;
  $("input").value = "";
  showError();
  try {
    await send(text, { replace });
  } finally {
    $("input").focus();
  }
}));

$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  } else if (event.key === "Escape" && editing) {
    event.preventDefault();
    stopEditing();
  }
});

const saved = currentToken();
if (saved) login(saved).catch((error) => logout(error.message));
else logout();
