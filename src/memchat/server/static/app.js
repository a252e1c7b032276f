// The web chat: log in with an API token, pick or start a session, stream replies, search
// past messages, and see or change what memchat remembers about you.
// Plain ES modules, no build step; everything goes through the same /api the CLI documents.

import { renderMarkdown } from "./markdown.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "memchat.token";
const SEARCH_LIMIT = 20;

let token = localStorage.getItem(TOKEN_KEY);
let sessions = [];
let current = null;
let busy = false;

class ApiError extends Error {}

async function request(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  return response;
}

async function api(method, path, body) {
  const response = await request(method, path, body);
  return response.status === 204 ? null : response.json();
}

// Lists come a page at a time: each page's Link header names the next, until the last.
// `add` gets every page's JSON in turn.
async function everyPage(path, add) {
  for (let next = path; next; ) {
    const response = await request("GET", next);
    add(await response.json());
    next = /<([^>]*)>;\s*rel="next"/.exec(response.headers.get("Link") ?? "")?.[1];
  }
}

async function failure(response) {
  if (response.status === 401) {
    logout("That token is not valid (any more). Paste a current one.");
  }
  const body = await response.json().catch(() => null);
  return new ApiError(body?.error?.message ?? `${response.status} ${response.statusText}`);
}

// The memory panel is a modal dialog that covers the chat's error line, so it has its own.
function showError(message, line = "chat-error") {
  $(line).textContent = message ?? "";
}

// -- logging in and out ---------------------------------------------------------------

async function login(candidate) {
  token = candidate;
  const me = await api("GET", "/api/me");
  localStorage.setItem(TOKEN_KEY, token);
  await loadSessions();
  // The session in the address (#id: a reload, a bookmark, back), else the newest.
  const start = sessions.find((s) => s.id === linkedSession()) ?? sessions[0];
  if (start) await openSession(start.id);
  else showSession(null);
  // Shown only now: a message typed earlier would race the session chosen above.
  $("me").textContent = me.name;
  $("login").hidden = true;
  $("chat").hidden = false;
  $("input").focus();
}

function logout(message) {
  token = null;
  localStorage.removeItem(TOKEN_KEY);
  $("chat").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message ?? "";
  $("token").value = "";
  // Whoever logs in next must not see this person's search hits or memory.
  $("memory-panel").close();
  $("facts").replaceChildren();
  clearSearch();
  $("token").focus();
}

// -- sessions -------------------------------------------------------------------------

async function loadSessions() {
  const found = [];
  await everyPage("/api/sessions", (page) => found.push(...page));
  sessions = found;
  renderSessions();
}

function titleOf(session) {
  return session?.title || "New chat";
}

function renderSessions() {
  const list = $("sessions");
  list.replaceChildren(
    ...sessions.map((session) => {
      const li = document.createElement("li");
      li.textContent = titleOf(session);
      li.title = titleOf(session);
      li.dataset.id = session.id;
      li.classList.toggle("active", session.id === current);
      if (session.id === current) li.setAttribute("aria-current", "true");
      // Reachable with Tab and opened with Enter or Space, as a button is.
      li.tabIndex = 0;
      li.setAttribute("role", "button");
      li.addEventListener("click", () => openSession(session.id));
      li.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          openSession(session.id);
        }
      });
      return li;
    }),
  );
}

// Each session has its own address (#id), so reload, back and bookmarks find it.
function linkedSession() {
  return decodeURIComponent(location.hash.slice(1));
}

function showSession(session) {
  current = session?.id ?? null;
  if (session && linkedSession() !== session.id) {
    history.pushState(null, "", `#${encodeURIComponent(session.id)}`);
  }
  $("title").textContent = session ? titleOf(session) : "Start a new chat";
  $("rename").disabled = $("delete").disabled = !session;
  $("rename-form").hidden = true;
  $("title").hidden = false;
  renderSessions();
}

async function openSession(id, hit) {
  showError();
  let history = null;
  await everyPage(`/api/sessions/${encodeURIComponent(id)}/messages`, (page) => {
    if (history) history.turns.push(...page.turns);
    else history = page;
  });
  showSession(history.session);
  $("messages").replaceChildren();
  for (const turn of history.turns) {
    for (const message of turn.messages) {
      if (message.role === "user" || message.role === "assistant") {
        addMessage(message.role, message.text).dataset.seq = turn.seq;
      }
    }
  }
  if (hit) showHit(hit);
}

// A search hit opens its session at the message found, not at the end of a long history.
function showHit(hit) {
  const found = [...$("messages").children].find(
    (div) => div.dataset.seq === String(hit.seq) && div.classList.contains(hit.role),
  );
  found?.classList.add("found");
  found?.scrollIntoView({ block: "center" });
}

async function newSession() {
  const session = await api("POST", "/api/sessions", {});
  sessions.unshift(session);
  showSession(session);
  $("messages").replaceChildren();
  $("input").focus();
  return session;
}

function updateSession(session) {
  sessions = [session, ...sessions.filter((s) => s.id !== session.id)];
  if (session.id === current) $("title").textContent = titleOf(session);
  renderSessions();
}

// -- messages -------------------------------------------------------------------------

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  if (role === "assistant") div.innerHTML = renderMarkdown(text);
  else div.textContent = text;
  $("messages").append(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

function parseEvent(raw) {
  let name = "message";
  const data = [];
  for (const line of raw.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return { name, data: data.length ? JSON.parse(data.join("\n")) : null };
}

async function send(text) {
  const session = current ? { id: current } : await newSession();
  const asked = addMessage("user", text);
  const bubble = addMessage("assistant", "");
  bubble.classList.add("streaming");
  let reply = "";
  try {
    const response = await fetch(`/api/sessions/${encodeURIComponent(session.id)}/messages`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    if (!response.ok) throw await failure(response);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event.name === "delta") {
          reply += event.data.text;
          bubble.innerHTML = renderMarkdown(reply);
          bubble.scrollIntoView({ block: "end" });
        } else if (event.name === "done") {
          updateSession(event.data.session);
          showMemoryChanges(event.data.memory);
        } else if (event.name === "error") {
          throw new ApiError(event.data.error.message);
        }
      }
    }
  } catch (error) {
    // Nothing of the turn was stored: the message leaves the chat and goes back in the
    // box (unless something new was typed there meanwhile), to send again.
    bubble.remove();
    asked.remove();
    if (!$("input").value) $("input").value = text;
    const said = error.message.replace(/[.\s]+$/, "");
    const unsaid = /saved/i.test(said) ? "" : " Nothing was saved.";
    showError(`${said}.${unsaid} Your message is back in the box.`);
  } finally {
    bubble.classList.remove("streaming");
  }
}

// What a turn changed in the user's facts, shown under its reply (as text, never HTML).
function showMemoryChanges(memory) {
  const said = [
    ...memory.remembered.map(({ key, value }) => `remembered ${key}: ${value}`),
    ...memory.forgotten.map((key) => `forgot ${key}`),
  ];
  if (!said.length) return;
  const note = document.createElement("div");
  note.className = "memory-note";
  note.textContent = `(${said.join("; ")})`;
  $("messages").append(note);
}

// -- search ---------------------------------------------------------------------------

async function search(query) {
  const params = new URLSearchParams({ q: query, limit: SEARCH_LIMIT });
  const hits = await api("GET", `/api/search?${params}`);
  $("search-summary").textContent = describeHits(hits.length);
  $("hits").replaceChildren(...hits.map(renderHit));
  $("search-results").hidden = false;
}

function describeHits(count) {
  if (!count) return "No messages match";
  if (count >= SEARCH_LIMIT) return `The best ${count} matches`;
  return count === 1 ? "1 match" : `${count} matches`;
}

function clearSearch() {
  $("search-input").value = "";
  $("hits").replaceChildren();
  $("search-results").hidden = true;
}

function renderHit(hit) {
  const meta = document.createElement("span");
  meta.className = "hit-meta";
  const date = hit.created_at.slice(0, 10);
  meta.textContent = `${titleOf({ title: hit.session_title })} · ${date} · ${hit.role}`;
  const snippet = document.createElement("span");
  snippet.className = "snippet";
  snippet.append(...highlighted(hit.parts));
  const button = document.createElement("button");
  button.className = "hit";
  button.append(meta, snippet);
  button.addEventListener("click", guarded(async () => {
    try {
      await openSession(hit.session_id, hit);
    } catch (error) {
      // Its session may be gone (deleted in another tab): show the list as it is now.
      await loadSessions();
      throw error;
    }
  }));
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

// -- memory ---------------------------------------------------------------------------

async function openMemory() {
  showError(null, "memory-error");
  await loadFacts();
  $("memory-panel").showModal();
  $("fact-key").focus();
}

async function loadFacts() {
  const facts = [];
  await everyPage("/api/facts", (page) => facts.push(...page));
  $("facts").replaceChildren(...facts.map(renderFact));
  $("facts-table").hidden = !facts.length;
  $("facts-empty").hidden = facts.length > 0;
}

function renderFact(fact) {
  const forget = document.createElement("button");
  forget.textContent = "Forget";
  forget.setAttribute("aria-label", `Forget ${fact.key}`);
  forget.addEventListener("click", guarded(() => forgetFact(fact), "memory-error"));
  const row = document.createElement("tr");
  row.append(cell(fact.key), cell(fact.value), cell(forget));
  return row;
}

// Strings given to append() become text nodes, so a fact shows as written, never as HTML.
function cell(content) {
  const td = document.createElement("td");
  td.append(content);
  return td;
}

async function forgetFact(fact) {
  showError(null, "memory-error");
  // By id rather than key: a key may hold a "/", which a URL path segment cannot carry.
  await api("DELETE", `/api/facts/${fact.id}`);
  await loadFacts();
}

async function rememberFact() {
  showError(null, "memory-error");
  const key = $("fact-key").value.trim();
  const value = $("fact-value").value.trim();
  await api("POST", "/api/facts", { key, value });
  $("fact-form").reset();
  await loadFacts();
  $("fact-key").focus();
}

// -- wiring ---------------------------------------------------------------------------

function guarded(action, errorLine = "chat-error") {
  return async (event) => {
    event?.preventDefault();
    try {
      await action(event);
    } catch (error) {
      if (token) showError(error.message, errorLine);
    }
  };
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
$("new-session").addEventListener("click", guarded(newSession));

$("search-form").addEventListener("submit", guarded(async () => {
  showError();
  await search($("search-input").value);
}));
$("search-clear").addEventListener("click", clearSearch);

$("memory").addEventListener("click", guarded(openMemory));
$("memory-close").addEventListener("click", () => $("memory-panel").close());
$("fact-form").addEventListener("submit", guarded(rememberFact, "memory-error"));

$("rename").addEventListener("click", () => {
  $("rename-input").value = $("title").textContent;
  $("title").hidden = true;
  $("rename-form").hidden = false;
  $("rename-input").select();
});

window.addEventListener("popstate", guarded(async () => {
  const id = linkedSession();
  if (token && id && id !== current && sessions.some((s) => s.id === id)) await openSession(id);
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
  $("messages").replaceChildren();
  if (sessions.length) await openSession(sessions[0].id);
  else showSession(null);
}));

$("composer").addEventListener("submit", guarded(async () => {
  const text = $("input").value;
  if (!text.trim() || busy) return;
  busy = true;
  $("send").disabled = true;
  $("input").value = "";
  showError();
  try {
    await send(text);
  } finally {
    busy = false;
    $("send").disabled = false;
    $("input").focus();
  }
}));

$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

if (token) {
  login(token).catch((error) => logout(error.message));
} else {
  logout();
}
