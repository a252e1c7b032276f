// The Memory panel: see, add and forget the facts memchat keeps about you, user-wide or a
// project's; forgetting one can be verified (a receipt says whether copies remain).

import { api, everyPage } from "./api.js";
import { loadProjects } from "./projects.js";
import { showReceipt } from "./receipt.js";

const $ = (id) => document.getElementById(id);

// `open(hit)` shows a message (the one a fact came from) in its session.
let open = () => {};

export async function openMemory(opener) {
  open = opener;
  $("memory-error").textContent = "";
  await loadFacts();
  $("memory-panel").showModal();
  $("fact-key").focus();
}

// Whoever logs in next must not see this person's memory.
export function closeMemory() {
  $("memory-panel").close();
  $("facts").replaceChildren();
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
  forget.addEventListener("click", () => guard(() => forgetFact(fact)));
  const row = document.createElement("tr");
  const project = cell(fact.project);
  project.className = "fact-project";
  row.append(cell(fact.key), cell(fact.value), project, cell(sourcesOf(fact)), cell(forget));
  return row;
}

// Where a fact came from: a link to each message that said it, or how it was set.
function sourcesOf(fact) {
  const span = document.createElement("span");
  span.className = "fact-sources";
  if (!fact.sources.length) span.textContent = fact.source.startsWith("import") ? "import" : "by hand";
  for (const source of fact.sources) {
    const link = document.createElement("a");
    link.href = `#${encodeURIComponent(source.session_id)}`;
    link.textContent = `${source.session_id} #${source.seq}`;
    link.title = `The message this came from (turn ${source.seq} of ${source.session_id})`;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      $("memory-panel").close();
      open({ session_id: source.session_id, seq: source.seq, role: "user" });
    });
    span.append(link, " ");
  }
  return span;
}

// Strings given to append() become text nodes, so a fact shows as written, never as HTML.
function cell(content) {
  const td = document.createElement("td");
  td.append(content);
  return td;
}

async function guard(action) {
  $("memory-error").textContent = "";
  try {
    await action();
  } catch (error) {
    $("memory-error").textContent = error.message;
  }
}

async function forgetFact(fact) {
  // By id rather than key: a key may hold a "/", which a URL path segment cannot carry.
  const verify = $("fact-verify").checked;
  const receipt = await api("DELETE", `/api/facts/${fact.id}${verify ? "?verify=true" : ""}`);
  await loadFacts();
  if (fact.project) await loadProjects();
  const where = fact.project ? ` (project ${fact.project})` : "";
  if (verify) showReceipt(receipt, `the fact "${fact.key}"${where}`);
}

async function rememberFact() {
  const key = $("fact-key").value.trim();
  const value = $("fact-value").value.trim();
  const project = $("fact-project").value.trim();
  await api("POST", "/api/facts", project ? { key, value, project } : { key, value });
  $("fact-form").reset();
  await loadFacts();
  if (project) await loadProjects();
  $("fact-key").focus();
}

$("memory-close").addEventListener("click", () => $("memory-panel").close());
$("fact-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guard(rememberFact);
});
