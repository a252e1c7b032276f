// Each session has its own address (#id), so reload, back and bookmarks find it.

export function linkedSession() {
  return decodeURIComponent(location.hash.slice(1));
}

// The address of session `id` (none for a new chat not yet sent), as a new history entry.
export function linkTo(id) {
  if (id && linkedSession() !== id) history.pushState(null, "", `#${encodeURIComponent(id)}`);
}

export function unlink() {
  if (location.hash) history.pushState(null, "", location.pathname + location.search);
}

// `go(id)` when back or forward lands on another address ("" for a new chat).
export function whenRouted(go) {
  window.addEventListener("popstate", () => go(linkedSession()));
}
