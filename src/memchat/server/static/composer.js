// Sending: the message box, a reply streamed into the chat (Stop ends it), and the last
// turn's actions that send again: Regenerate its reply, or Edit its message and resend.

import { ApiError, events, request } from "./api.js";
import { newChat, newId, showSession, updateSession, whenShown } from "./conversation.js";
import { LiveMarkdown } from "./markdown.js";
import {
  addAction, addCopy, addMessage, addTurn, following, lastTurn, setMessage,
  showMemoryChanges, toBottom, updateWelcome,
} from "./messages.js";
import { sessionById, titleOf } from "./sessions.js";
import { guarded, page, showError } from "./state.js";

const $ = (id) => document.getElementById(id);

let editing = false; // the next send replaces the last turn with the edited message

// Regenerate and Edit act on the last turn: shown on its messages when no reply streams.
function refreshActions() {
  for (const old of $("messages").querySelectorAll(".action.last")) old.remove();
  const turn = lastTurn();
  if (!turn || page.live?.turn === turn) return;
  const asked = turn.querySelector(".msg.user");
  const answered = [...turn.querySelectorAll(".msg.assistant")].at(-1);
  if (!asked || !answered) return;
  const regenerate = guarded(async () => {
    if (page.live) throw new ApiError("A reply is still coming: wait for it, or stop it.");
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
  const live = page.live;
  $("send").hidden = live !== null;
  $("stop").hidden = live === null;
  let note = "";
  if (live && live.sessionId !== page.current) {
    const where = titleOf(sessionById(live.sessionId));
    note = `A reply is still coming in "${where}": wait for it, or stop it, to send here.`;
  } else if (editing) {
    note = $("composer-note").textContent;
  }
  $("composer-note").textContent = note;
}

whenShown(() => {
  stopEditing();
  showBusy();
  refreshActions();
});

async function send(text, { regenerate = false, replace = regenerate } = {}) {
  const create = page.current === null;
  const sessionId = create ? newId() : page.current;
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
  page.live = { sessionId, turn, controller, replacing: replaced !== null };
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
        page.live = null;
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
    const here = page.current === sessionId;
    turn.remove();
    if (replaced) replaced.hidden = false;
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
      if (!$("input").value) $("input").value = text;
      showError(`${said}.${unsaid} Your message is back in the box.`);
    }
  } finally {
    if (page.live?.turn === turn) page.live = null;
    showBusy();
    refreshActions();
  }
}

$("stop").addEventListener("click", () => page.live?.controller.abort());

$("composer").addEventListener("submit", guarded(async () => {
  const text = $("input").value;
  if (!text.trim() || page.live) return;
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
