// What the page's modules share: the session shown, the reply streaming now, and the one
// line where something that failed says so.

import { currentToken } from "./api.js";

const $ = (id) => document.getElementById(id);

export const page = {
  // The id of the session shown; null for a new chat not yet sent.
  current: null,
  // The turn streaming now: { sessionId, turn, controller, from }, where `from` is the
  // seq of the first turn it takes the place of (an edit or a regenerate), else null.
  live: null,
};

export function showError(message) {
  $("chat-error").textContent = message ?? "";
}

// An event handler that shows what went wrong under the chat (unless logged out by it).
export function guarded(action) {
  return async (event) => {
    event?.preventDefault?.();
    try {
      await action(event);
    } catch (error) {
      if (currentToken()) showError(error.message);
    }
  };
}
