// The session list, newest first, under date headings (Today, Yesterday, Previous 7 days,
// Previous 30 days, then by month), each session reachable with Tab and opened with Enter.

const $ = (id) => document.getElementById(id);
const DAY = 24 * 60 * 60 * 1000;
const MONTH = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric" });

export function titleOf(session) {
  return session?.title || "New chat";
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
export function renderSessions(sessions, current, open) {
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
  li.textContent = titleOf(session);
  li.title = titleOf(session);
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
