// What your chats cost: a small figure under the session's title ("12 turns · 8.1k
// tokens"), and the Usage panel with a chart of tokens per day (Chart.js, vendored in
// this folder and loaded only when the panel first opens) and a table per model.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat("en");

// 950 -> "950", 8_140 -> "8.1k", 2_400_000 -> "2.4M".
export function compact(n) {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

const plural = (n, noun) => `${number.format(n)} ${noun}${n === 1 ? "" : "s"}`;

let shown = null; // the session whose figure is shown (a late answer for another is dropped)

// The session's turns, and its tokens where its turns were metered.
export async function showSessionUsage(session) {
  shown = session?.id ?? null;
  const figure = $("session-usage");
  if (!session || !session.turn_count) {
    figure.textContent = "";
    return;
  }
  figure.textContent = plural(session.turn_count, "turn");
  try {
    const usage = await api("GET", `/api/usage?by=session&session=${encodeURIComponent(session.id)}`);
    if (shown !== session.id) return;
    const tokens = usage.total.total_tokens;
    if (usage.total.turns) figure.textContent += ` · ${compact(tokens)} tokens`;
    figure.title = usage.total.turns
      ? `${number.format(usage.total.input_tokens)} tokens in, ` +
        `${number.format(usage.total.output_tokens)} out, as the model reported them`
      : "";
  } catch {
    // The figure is a nicety: the turns alone stay.
  }
}

// -- the Usage panel --------------------------------------------------------------------

let chart = null;
let chartLoaded = null;

// Chart.js's UMD build sets window.Chart; it is loaded once, from this server.
function loadChart() {
  chartLoaded ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/static/chart.umd.min.js";
    script.onload = () => resolve(window.Chart);
    script.onerror = () => {
      chartLoaded = null;
      reject(new Error("The chart could not be loaded."));
    };
    document.head.append(script);
  });
  return chartLoaded;
}

export async function openUsage() {
  $("usage-error").textContent = "";
  $("usage-panel").showModal();
  await guard(loadUsage);
}

// Whoever logs in next must not see this person's usage.
export function closeUsage() {
  $("usage-panel").close();
  chart?.destroy();
  chart = null;
  $("usage-summary").textContent = "";
  $("usage-models").replaceChildren();
  $("session-usage").textContent = "";
  shown = null;
}

async function loadUsage() {
  const since = $("usage-since").value;
  const days = Number.parseInt(since, 10);
  const [byDay, byModel] = await Promise.all([
    api("GET", `/api/usage?by=day&since=${since}`),
    api("GET", `/api/usage?by=model&since=${since}`),
  ]);
  const total = byDay.total;
  $("usage-summary").textContent = total.turns
    ? `${plural(total.total_tokens, "token")} in ${plural(total.turns, "turn")} over the last ` +
      `${days} days (${number.format(total.input_tokens)} in, ` +
      `${number.format(total.output_tokens)} out)` +
      (total.first_token_ms === null ? "." : `; first word after ${seconds(total.first_token_ms)} on average.`)
    : `No metered turns in the last ${days} days.`;
  $("usage-models").replaceChildren(...byModel.rows.map(modelRow));
  $("usage-models-table").hidden = !byModel.rows.length;
  await drawChart(dailySeries(byDay.rows, days));
}

const seconds = (ms) => (ms === null ? "–" : `${(ms / 1000).toFixed(1)} s`);

function modelRow(row) {
  const tr = document.createElement("tr");
  for (const value of [
    row.key,
    number.format(row.turns),
    number.format(row.total_tokens),
    seconds(row.first_token_ms),
  ]) {
    const td = document.createElement("td");
    td.append(value); // text, never HTML: a model name is the server's configuration
    tr.append(td);
  }
  return tr;
}

// Every UTC day of the period, oldest first, with 0 where nothing was used.
function dailySeries(rows, days) {
  const byKey = new Map(rows.map((row) => [row.key, row]));
  const now = new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const series = [];
  for (let back = days - 1; back >= 0; back--) {
    const key = new Date(today - back * 86_400_000).toISOString().slice(0, 10);
    const row = byKey.get(key);
    series.push({ key, input: row?.input_tokens ?? 0, output: row?.output_tokens ?? 0 });
  }
  return series;
}

async function drawChart(series) {
  const Chart = await loadChart();
  const style = getComputedStyle(document.documentElement);
  const color = (name) => style.getPropertyValue(name).trim();
  const data = {
    labels: series.map((day) => day.key.slice(5)),
    datasets: [
      { label: "Input tokens", data: series.map((day) => day.input), backgroundColor: color("--accent") },
      { label: "Output tokens", data: series.map((day) => day.output), backgroundColor: color("--found") },
    ],
  };
  if (chart) {
    chart.data = data;
    chart.update();
    return;
  }
  const axis = { stacked: true, ticks: { color: color("--muted") }, grid: { color: color("--line") } };
  chart = new Chart($("usage-chart"), {
    type: "bar",
    data,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { x: axis, y: { ...axis, beginAtZero: true } },
      plugins: { legend: { labels: { color: color("--text") } } },
    },
  });
}

async function guard(action) {
  $("usage-error").textContent = "";
  try {
    await action();
  } catch (error) {
    $("usage-error").textContent = error.message;
  }
}

$("usage-close").addEventListener("click", () => $("usage-panel").close());
$("usage-since").addEventListener("change", () => guard(loadUsage));
