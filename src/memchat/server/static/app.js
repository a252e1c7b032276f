// The web chat: log in with an API token, pick or start a session, stream replies (stop,
// regenerate, edit any message and step through its versions), search past messages, and
// see or change what memchat remembers about you, file chats under projects, forget
// with a receipt, and import chats from ChatGPT, Claude or another memchat. Plain ES modules, no build step;
// everything goes through the same /api the CLI documents.
//
// This module is the shell: logging in and out, and the sidebar's tools. The session
// shown is conversation.js, sending composer.js, the list sessions.js, addresses routing.js.

import { api, currentToken, useToken, whenUnauthorized } from "./api.js";
import "./composer.js";
import { newChat, openSession, showSession } from "./conversation.js";
import { closeImport, openImport, whenImported } from "./imports.js";
import { closeMemory, openMemory } from "./memory.js";
import { closeProjects, loadProjects, openProjects, whenProjectsChanged } from "./projects.js";
import { closeReceipt } from "./receipt.js";
import { linkedSession, whenRouted } from "./routing.js";
import { clearSearch, search } from "./search.js";
import { loadSessions, newestSession, sessionById, whenPicked } from "./sessions.js";
import { guarded, page, showError } from "./state.js";
import { closeUsage, openUsage } from "./usage.js";

const $ = (id) => document.getElementById(id);

async function login(candidate) {
  useToken(candidate);
  const me = await api("GET", "/api/me");
  useToken(candidate, { remember: true });
  await loadSessions();
  await loadProjects();
  // The session in the address (#id: a reload, a bookmark, back), else the newest.
  const start = sessionById(linkedSession()) ?? newestSession();
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
  page.live?.controller.abort();
  $("chat").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("token").value = "";
  // Whoever logs in next must not see this person's search hits or memory.
  closeMemory();
  closeUsage();
  closeProjects();
  closeImport();
  closeReceipt();
  clearSearch();
  $("token").focus();
}

whenUnauthorized(logout);

async function openHit(hit) {
  try {
    await openSession(hit.session_id, { hit });
  } catch (error) {
    // Its session may be gone (deleted in another tab): show the list as it is now.
    await loadSessions();
    throw error;
  }
}

// A project scoped, shared or deleted changes its chats (their `project`, `scoped`).
whenProjectsChanged(async () => {
  await loadSessions();
  const shown = sessionById(page.current);
  if (shown) showSession(shown);
});

// Imported chats join the list (and their projects the project lists).
whenImported(async () => {
  await loadSessions();
  await loadProjects();
});

whenPicked((id) => guarded(() => openSession(id))());

whenRouted(guarded(async (id) => {
  if (!currentToken() || id === (page.current ?? "")) return;
  if (!id) newChat();
  else if (sessionById(id)) await openSession(id);
}));

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

$("search-form").addEventListener("submit", guarded(async () => {
  showError();
  await search($("search-input").value, guarded(openHit));
}));
$("search-clear").addEventListener("click", clearSearch);
$("memory").addEventListener("click", guarded(() => openMemory(guarded(openHit))));
$("usage").addEventListener("click", guarded(openUsage));
$("projects").addEventListener("click", guarded(openProjects));
$("import").addEventListener("click", openImport);

const saved = currentToken();
if (saved) login(saved).catch((error) => logout(error.message));
else logout();
