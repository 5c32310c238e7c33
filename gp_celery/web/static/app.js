// gp-celery web UI: draws the pipeline once, then polls the fleet's numbers every 2 s.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 2000;

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function number(value) {
  return Math.round(value || 0).toLocaleString("en");
}

async function getJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok && !body.error) throw new Error(`${url}: ${response.status}`);
  return body;
}

let graph = null;
let lettersShown = -1;  // dead letters + parked when the list was last read

function drawGraph() {
  const svg = document.getElementById("graph");
  svg.setAttribute("width", graph.width);
  svg.setAttribute("height", graph.height);
  const defs = el("defs", {});
  const marker = el("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 8, markerHeight: 8, orient: "auto"});
  marker.appendChild(el("path", {d: "M0,0 L10,5 L0,10 z", fill: "#777"}));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const at = Object.fromEntries(graph.nodes.map((node) => [node.id, node]));
  const {width, height} = graph.box;
  for (const edge of graph.edges) {
    const from = at[edge.from], to = at[edge.to];
    const x1 = from.x + width, y1 = from.y + height / 2, x2 = to.x, y2 = to.y + height / 2;
    const mid = (x1 + x2) / 2;
    svg.appendChild(el("path", {class: "edge",
      d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`}));
    if (edge.filter) {
      svg.appendChild(el("text", {class: "edge-label", x: mid - 40, y: (y1 + y2) / 2 - 4},
        edge.filter));
    }
  }
  for (const node of graph.nodes) {
    const group = el("g", {class: `node ${node.family}`, "data-node": node.id,
      transform: `translate(${node.x},${node.y})`});
    group.appendChild(el("rect", {width, height}));
    group.appendChild(el("text", {x: 8, y: 16}, node.id));
    group.appendChild(el("text", {x: 8, y: 31, fill: "#555"},
      `${node.type} · ${node.stage}`));
    group.appendChild(el("text", {x: 8, y: 47, class: "rate"}, "–"));
    const title = el("title", {}, node.filter ? `filter: ${node.filter}` : node.id);
    group.appendChild(title);
    svg.appendChild(group);
  }
}

function showStats(stats) {
  const rates = stats.rates || {};
  for (const group of document.querySelectorAll("#graph g.node")) {
    const id = group.dataset.node;
    const counts = stats.nodes[id] || {};
    const rate = rates[id] === undefined ? "" : `${number(rates[id])}/s · `;
    group.querySelector(".rate").textContent = `${rate}${number(counts.events_in)} in`;
  }
  const nodes = document.querySelector("#nodes tbody");
  nodes.replaceChildren();
  for (const node of graph.nodes) {
    const counts = stats.nodes[node.id] || {};
    const row = nodes.insertRow();
    row.dataset.node = node.id;
    cell(row, node.id);
    cell(row, node.family, "text");
    cell(row, node.stage, "text");
    cell(row, rates[node.id] === undefined ? "–" : number(rates[node.id]), "rate");
    for (const name of ["events_in", "events_out", "dropped", "failed", "dead_lettered"]) {
      cell(row, number(counts[name]), name === "dead_lettered" && counts[name] ? "dead" : "");
    }
  }
  const stages = document.querySelector("#stages tbody");
  stages.replaceChildren();
  for (const [queue, depth] of Object.entries(stats.queue_depths)) {
    const latency = stats.stages[queue] || {tasks: 0, secs: 0};
    const row = stages.insertRow();
    cell(row, queue);
    cell(row, number(depth));
    cell(row, number(latency.tasks));
    cell(row, latency.tasks ? (latency.secs / latency.tasks * 1000).toFixed(1) : "–");
    cell(row, (graph.digests[queue] || "").slice(0, 16), "text");
  }
  const processes = document.querySelector("#processes tbody");
  processes.replaceChildren();
  for (const process of stats.processes) {
    const row = processes.insertRow();
    cell(row, `${process.role} ${process.host}:${process.pid}`);
    cell(row, process.alive ? "yes" : (process.stopped ? "stopped" : "no"), "text");
    cell(row, `${Math.max(0, Math.round(stats.read_at - process.seen))}s ago`);
    const runs = process.stages
      ? Object.entries(process.stages).map(([q, d]) => `${q} ${d.slice(0, 12)}`).join(", ")
      : (process.inputs || []).join(", ");
    const version = process.config_version == null ? "" : `version ${process.config_version}: `;
    cell(row, version + runs, "text");
  }
  document.getElementById("summary").textContent =
    `${stats.alive} of ${stats.processes.length} processes alive · in flight ` +
    `${number(stats.in_flight)} tasks · dead letters ${number(stats.dead_letters)} · ` +
    `parked ${number(stats.parked)} · read ${new Date(stats.read_at * 1000).toLocaleTimeString()}`;
}

async function showLetters() {
  const letters = await getJson("/api/dead-letters");
  lettersShown = letters.length;
  const body = document.querySelector("#letters tbody");
  body.replaceChildren();
  for (const letter of letters) {
    const row = body.insertRow();
    row.dataset.letter = letter.id;
    cell(row, letter.id);
    cell(row, letter.kind, "text");
    cell(row, letter.node, "text");
    cell(row, number(letter.events));
    cell(row, letter.time ? new Date(letter.time * 1000).toISOString().slice(0, 19) : "–");
    cell(row, letter.error, "text");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "replay";
    button.className = "replay";
    button.addEventListener("click", () => replay(letter.id));
    row.insertCell().appendChild(button);
  }
}

async function replay(id) {
  const result = document.getElementById("replay-result");
  result.textContent = `replaying ${id}…`;
  const outcome = await getJson(`/api/dead-letters/${id}/replay`,
    {method: "POST", headers: {"X-GP-Celery": "replay"}});
  if (outcome.error) {
    result.textContent = `${id}: ${outcome.error}`;
  } else {
    const written = Object.entries(outcome.written).map(([n, c]) => `${n} ${c}`).join(", ");
    result.textContent = `replayed ${id}: ${outcome.events} events, written ` +
      `${written || "nowhere"}; ${outcome.dead_lettered} went back to the dead letters`;
  }
  await showLetters();
}

async function poll() {
  try {
    const stats = await getJson("/api/stats");
    showStats(stats);
    if (stats.dead_letters + stats.parked !== lettersShown) await showLetters();
  } catch (error) {
    document.getElementById("summary").textContent = `cannot read the fleet: ${error}`;
  }
  setTimeout(poll, REFRESH_MS);
}

async function start() {
  graph = await getJson("/api/graph");
  document.getElementById("config").textContent = graph.file || "";
  drawGraph();
  document.getElementById("refresh-letters").addEventListener("click", showLetters);
  await poll();
}

start();
