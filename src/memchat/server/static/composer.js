// Sending: the message box, a reply streamed into the chat (Stop ends it), and the turn
// actions that send again: Edit on every message of yours (the turn and those after it
// stay, as a branch) and Regenerate on the last reply (the old one stays, as a branch);
// and Fork on every reply, a new chat with the conversation up to there.

import { api, ApiError, events, request } from "./api.js";
import {
  newChat, newChatProject, newId, openSession, showSession, showVersions, updateSession,
  whenShown,
} from "./conversation.js";
import { LiveMarkdown } from "./markdown.js";
import {
  addAction, addCopy, addMessage, addTurn, answerIn, askedIn, following, lastTurn, markStored,
  setMessage, showMemoryChanges, shownTurns, toBottom, turnsFrom, updateWelcome,
} from "./messages.js";
import { loadProjects } from "./projects.js";
import { sessionById, titleOf } from "./sessions.js";
import { guarded, page, showError } from "./state.js";

const $ = (id) => document.getElementById(id);

// The message being edited: { seq, last } (`last`: it is the chat's last), else null.
let editing = null;

// Edit on each stored message of yours, Fork on each stored reply, Regenerate on the last
// reply; none while a reply streams into this chat.
function refreshActions() {
  for (const old of $("messages").querySelectorAll(".action.resend")) old.remove();
  if (page.live && page.live.sessionId === page.current) return;
  const turns = shownTurns().filter((turn) => turn.dataset.seq);
  for (const turn of turns) {
    const asked = askedIn(turn);
    if (!asked) continue;
    addAction(asked, "Edit", () => startEditing(turn)).classList.add("resend");
    const answered = answerIn(turn);
    if (answered) addAction(answered, "Fork", fork(turn)).classList.add("resend", "fork");
  }
  const last = lastTurn();
  const asked = last && askedIn(last);
  const answered = last && answerIn(last);
  if (!turns.includes(last) || !asked || !answered) return;
  const regenerate = guarded(async () => {
    if (page.live) throw new ApiError("A reply is still coming: wait for it, or stop it.");
    showError();
    await send(asked.source, { regenerate: true });
  });
  addAction(answered, "Regenerate", regenerate).classList.add("resend");
}

// A new session holding this chat's turns up to `turn` (copies: this one is unchanged).
function fork(turn) {
  return guarded(async () => {
    showError();
    const id = encodeURIComponent(page.current);
    const body = { at_seq: Number(turn.dataset.seq) };
    const session = await api("POST", `/api/sessions/${id}/fork`, body);
    updateSession(session);
    await openSession(session.id);
  });
}

function startEditing(turn) {
  editing = { seq: Number(turn.dataset.seq), last: turn === lastTurn() };
  $("input").value = askedIn(turn).source;
  showBusy();
  $("input").focus();
}

function stopEditing() {
  if (!editing) return;
  editing = null;
  $("input").value = "";
  showBusy();
}

// Send shows when you can send here; Stop while a reply streams, saying where.
function showBusy() {
  const live = page.live;
  $("send").hidden = live !== null;
  $("stop").hidden = live === null;
  let note = "";
  if (live && live.sessionId !== page.current) {
    const where = titleOf(sessionById(live.sessionId));
    note = `A reply is still coming in "${where}": wait for it, or stop it, to send here.`;
  } else if (editing?.last) {
    note = "Editing your last message: Send replaces it and its reply, which stay as a " +
      "branch (Escape cancels).";
  } else if (editing) {
    note = "Editing an earlier message: Send asks again from there; the turns it replaces " +
      "stay as a branch (Escape cancels).";
  }
  $("composer-note").textContent = note;
}

whenShown(() => {
  stopEditing();
  showBusy();
  refreshActions();
});

// `edit`: the seq of the turn this one takes the place of (with those after it);
// `regenerate`: a new reply to the last turn's message.
async function send(text, { edit = null, regenerate = false } = {}) {
  const create = page.current === null;
  const project = create ? newChatProject() : "";
  const sessionId = create ? newId() : page.current;
  if (create) showSession(null, sessionId);
  const from = regenerate ? Number(lastTurn().dataset.seq) : edit;
  if (from !== null) for (const old of turnsFrom(from)) old.hidden = true;
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
  page.live = { sessionId, turn, controller, from };
  showBusy();
  refreshActions();

  let reply = "";
  const markdown = new LiveMarkdown((html, text) =>
    following(() => setMessage(bubble, text, html)),
  );
  try {
    const body = { text, create };
    if (project) body.project = project;
    if (regenerate) body.replace_last = true;
    else if (edit !== null) body.edit_seq = edit;
    const path = `/api/sessions/${encodeURIComponent(sessionId)}/messages`;
    const response = await request("POST", path, body, controller.signal);
    for await (const event of events(response)) {
      if (event.name === "delta") {
        if (!reply) following(() => setMessage(bubble, event.data.text));
        reply += event.data.text;
        markdown.update(reply).catch(() => {});
      } else if (event.name === "done") {
        await markdown.finish().catch(() => setMessage(bubble, reply));
        bubble.classList.remove("streaming");
        const here = page.current === sessionId;
        // The turns it took the place of are a branch now: not on this line any more.
        if (from !== null && here) for (const old of turnsFrom(from)) old.remove();
        markStored(turn, event.data.seq);
        page.live = null;
        addCopy(bubble);
        addCopy(asked);
        updateSession(event.data.session);
        // A chat started in a project may have made it.
        if (project) guarded(loadProjects)();
        following(() => showMemoryChanges(turn, event.data.memory));
        if (from !== null && here) guarded(() => showVersions(sessionId))();
      } else if (event.name === "error") {
        throw new ApiError(event.data.error.message);
      }
    }
  } catch (error) {
    failed(error, { text, sessionId, turn, from, create, regenerate, edit, controller });
  } finally {
    if (page.live?.turn === turn) page.live = null;
    showBusy();
    refreshActions();
  }
}

// Nothing of the turn was stored: it leaves the chat, the turns it was to replace come
// back, and the message goes back in the box (unless something new was typed there
// meanwhile), to send again: an edit, as the same edit.
function failed(error, { text, sessionId, turn, from, create, regenerate, edit, controller }) {
  const here = page.current === sessionId;
  turn.remove();
  if (from !== null && here) for (const old of turnsFrom(from)) old.hidden = false;
  updateWelcome();
  if (create && here) newChat();
  const said = controller.signal.aborted ? "Stopped" : error.message.replace(/[.\s]+$/, "");
  const unsaid = /saved/i.test(said) ? "" : " Nothing of it was saved.";
  if (!here) {
    const where = titleOf(sessionById(sessionId));
    showError(`Your message in "${where}" got no reply: ${said}.${unsaid}`);
  } else if (regenerate) {
    showError(`${said}.${unsaid} The earlier reply stays.`);
  } else {
    if (!$("input").value) {
      $("input").value = text;
      if (edit !== null) editing = { seq: edit, last: turnsFrom(edit).length === 1 };
    }
    const what = edit === null ? "Your message is" : "Your edit is";
    showError(`${said}.${unsaid} ${what} back in the box.`);
  }
}

$("stop").addEventListener("click", () => page.live?.controller.abort());

$("composer").addEventListener("submit", guarded(async () => {
  const text = $("input").value;
  if (!text.trim() || page.live) return;
  const edit = editing?.seq ?? null;
  editing = null;
  $("input").value = "";
  showError();
  try {
    await send(text, { edit });
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
