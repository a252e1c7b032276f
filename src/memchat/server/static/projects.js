// Projects: the names chats are filed under, each with its memory shared (its chats
// remember as any other) or scoped (its facts are its own, its chats recall each other
// only). The Projects panel lists them, scopes or shares one, adds and deletes one; the
// list's "Show" select and the project fields' suggestions are drawn from the same list.

import { api } from "./api.js";
import { showProject, shownProject } from "./sessions.js";

const $ = (id) => document.getElementById(id);

let projects = [];
let changed = async () => {};

// `handler()` runs after a project was scoped, shared or deleted here (its chats changed).
export function whenProjectsChanged(handler) {
  changed = handler;
}

export const projectNamed = (name) => projects.find((p) => p.name === name);

export async function loadProjects() {
  projects = await api("GET", "/api/projects");
  $("project-names").replaceChildren(...projects.map((p) => new Option(p.name)));
  const filter = $("project-filter");
  const shown = projectNamed(shownProject()) || shownProject() === "" ? shownProject() : "*";
  // The first two options, "All chats" and "In no project", stay.
  filter.replaceChildren(...[...filter.options].slice(0, 2), ...projects.map(optionOf));
  filter.value = shown;
  if (shown !== shownProject()) showProject(shown);
  $("project-rows").replaceChildren(...projects.map(renderProject));
  $("projects-table").hidden = !projects.length;
  $("projects-empty").hidden = projects.length > 0;
}

export async function openProjects() {
  $("projects-error").textContent = "";
  await loadProjects();
  $("projects-panel").showModal();
}

// Whoever logs in next must not see this person's projects.
export function closeProjects() {
  $("projects-panel").close();
  projects = [];
  $("project-rows").replaceChildren();
  $("project-names").replaceChildren();
  $("project-filter").replaceChildren(...[...$("project-filter").options].slice(0, 2));
  showProject("*");
}

function optionOf(project) {
  const scoped = project.memory === "scoped";
  return new Option(scoped ? `${project.name} (scoped)` : project.name, project.name);
}

function renderProject(project) {
  const scoped = project.memory === "scoped";
  const verb = scoped ? "Share" : "Scope";
  const toggle = button(verb, `${verb} ${project.name}`);
  toggle.addEventListener("click", () =>
    guard(() => setMemory(project.name, scoped ? "shared" : "scoped")),
  );
  const memory = document.createElement("span");
  memory.className = "project-memory";
  memory.append(project.memory, " ", toggle);
  const remove = button("Delete", `Delete ${project.name}`);
  remove.addEventListener("click", () => guard(() => deleteProject(project)));
  const row = document.createElement("tr");
  row.dataset.name = project.name;
  row.append(cell(project.name), cell(memory), cell(String(project.sessions)));
  row.append(cell(String(project.facts)), cell(remove));
  return row;
}

function button(text, label) {
  const made = document.createElement("button");
  made.textContent = text;
  made.setAttribute("aria-label", label);
  return made;
}

// Strings given to append() become text nodes: a name is shown as written.
function cell(content) {
  const td = document.createElement("td");
  td.append(content);
  return td;
}

async function guard(action) {
  $("projects-error").textContent = "";
  try {
    await action();
  } catch (error) {
    $("projects-error").textContent = error.message;
  }
}

async function setMemory(name, memory) {
  await api("PUT", `/api/projects/${encodeURIComponent(name)}`, { memory });
  await loadProjects();
  await changed();
}

async function deleteProject(project) {
  const facts = project.facts === 1 ? "its 1 fact" : `its ${project.facts} facts`;
  const question = `Delete the project "${project.name}" and ${facts}? Its chats stay, in no project.`;
  if (!confirm(question)) return;
  await api("DELETE", `/api/projects/${encodeURIComponent(project.name)}`);
  await loadProjects();
  await changed();
}

async function addProject() {
  const name = $("project-name").value.trim();
  const memory = $("project-scoped").checked ? "scoped" : "shared";
  await api("PUT", `/api/projects/${encodeURIComponent(name)}`, { memory });
  $("project-add").reset();
  await loadProjects();
  $("project-name").focus();
}

$("projects-close").addEventListener("click", () => $("projects-panel").close());
$("project-add").addEventListener("submit", (event) => {
  event.preventDefault();
  guard(addProject);
});
$("project-filter").addEventListener("change", () => showProject($("project-filter").value));
