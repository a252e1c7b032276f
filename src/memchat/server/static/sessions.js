// The session list, newest first, under date headings (Today, Yesterday, Previous 7 days,
// Previous 30 days, then by month), each session reachable with Tab and opened with Enter.
// Each one names its project, if any (and whether that project's memory is scoped); the
// list shows every session, or one project's, or those in none.

import { everyPage } from "./api.js";
import { page } from "./state.js";

const $ = (id) => document.getElementById(id);
const DAY = 24 * 60 * 60 * 1000;
const MONTH = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric" });

let sessions = [];
let pick = () => {};
// Which sessions the list shows: "*" all, "" those in no project, else that project's.
let filter = "*";

export function titleOf(session) {
  return session?.title || "New chat";
}

// `open(id)` is what picking a session in the list does.
export function whenPicked(open) {
  pick = open;
}

export const sessionById = (id) => sessions.find((s) => s.id === id);
export const newestSession = () => sessions[0] ?? null;

export async function loadSessions() {
  const found = [];
  await everyPage("/api/sessions", (chunk) => found.push(...chunk));
  sessions = found;
  listSessions();
}

export function listSessions() {
  const shown = filter === "*" ? sessions : sessions.filter((s) => s.project === filter);
  renderSessions(shown, page.current, pick);
}

// The list shows `project`'s sessions ("" those in none, "*" all).
export function showProject(project) {
  filter = project;
  listSessions();
}

export const shownProject = () => filter;

// A session that just had a turn goes to the top; one renamed or switched stays put.
export function putSession(session, { top = true } = {}) {
  if (top || !sessionById(session.id)) {
    sessions = [session, ...sessions.filter((s) => s.id !== session.id)];
  } else {
    sessions = sessions.map((s) => (s.id === session.id ? session : s));
  }
}

export function dropSession(id) {
  sessions = sessions.filter((s) => s.id !== id);
}

// The heading a session goes under, by when it last changed.
export function groupOf(updatedAt, now = new Date()) {
  const when = new Date(updatedAt);
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (when.getTime() >= today) return "Today";
  if (when.getTime() >= today - DAY) return "Yesterday";
  if (when.getTime() >= today - 7 * DAY) return "Previous 7 days";
  if (when.getTime() >= today - 30 * DAY) return "Previous 30 days";
  return MONTH.format(when);
}

// `open(id)` opens a session; `current` is the one shown.
function renderSessions(sessions, current, open) {
  const groups = new Map();
  for (const session of sessions) {
    const name = groupOf(session.updated_at);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(sessionItem(session, current, open));
  }
  $("sessions").replaceChildren(
    ...[...groups].map(([name, items]) => {
      const heading = document.createElement("h3");
      heading.textContent = name;
      const list = document.createElement("ul");
      list.append(...items);
      const group = document.createElement("section");
      group.className = "session-group";
      group.append(heading, list);
      return group;
    }),
  );
}

function sessionItem(session, current, open) {
  const li = document.createElement("li");
  const title = document.createElement("span");
  title.className = "session-title";
  title.textContent = titleOf(session);
  li.append(title);
  if (session.project) {
    const tag = document.createElement("span");
    tag.className = "project-tag";
    tag.textContent = session.scoped ? `${session.project} · scoped` : session.project;
    li.append(" ", tag);
  }
  li.title = session.project ? `${titleOf(session)} (${session.project})` : titleOf(session);
  li.dataset.id = session.id;
  li.classList.toggle("active", session.id === current);
  if (session.id === current) li.setAttribute("aria-current", "true");
  // Reachable with Tab and opened with Enter or Space, as a button is.
  li.tabIndex = 0;
  li.setAttribute("role", "button");
  li.addEventListener("click", () => open(session.id));
  li.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      open(session.id);
    }
  });
  return li;
}
