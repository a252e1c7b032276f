// The page's one way to the server: every call carries the API token, and a failure
// becomes an ApiError with the server's own message.

export class ApiError extends Error {}

const TOKEN_KEY = "memchat.token";
let token = localStorage.getItem(TOKEN_KEY);
let onUnauthorized = () => {};

export const currentToken = () => token;

export function useToken(candidate, { remember = false } = {}) {
  token = candidate;
  if (!candidate) localStorage.removeItem(TOKEN_KEY);
  else if (remember) localStorage.setItem(TOKEN_KEY, candidate);
}

// Called with a message when the server no longer takes the token.
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

// `body` is sent as JSON, but a file (a Blob) as it is: its bytes are the body.
export async function request(method, path, body, signal) {
  const headers = { Authorization: `Bearer ${token}` };
  const raw = body instanceof Blob;
  if (body !== undefined) headers["Content-Type"] = raw ? "application/octet-stream" : "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined || raw ? body : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  return response;
}

export async function api(method, path, body) {
  const response = await request(method, path, body);
  return response.status === 204 ? null : response.json();
}

// Lists come a page at a time: each page's Link header names the next, until the last.
// `add` gets every page's JSON in turn.
export async function everyPage(path, add) {
  for (let next = path; next; ) {
    const response = await request("GET", next);
    await add(await response.json());
    next = /<([^>]*)>;\s*rel="next"/.exec(response.headers.get("Link") ?? "")?.[1];
  }
}

async function failure(response) {
  if (response.status === 401) {
    onUnauthorized("That token is not valid (any more). Paste a current one.");
  }
  const body = await response.json().catch(() => null);
  return new ApiError(body?.error?.message ?? `${response.status} ${response.statusText}`);
}

// The server-sent events of a response, as { name, data } objects, as they arrive.
export async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      yield parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
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
