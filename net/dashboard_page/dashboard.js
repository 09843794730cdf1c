// The cluster's dashboard (net/dashboard.py): connects to the manager's socket.io namespace
// /dashboard over a plain WebSocket (Engine.IO 4, Socket.IO 5: a few packet types, no client
// library: the page must work on a cluster without internet) and draws each "status" it sends.
// Every text from the cluster is set as textContent, never as HTML: a block's code is the user's.
"use strict";

const NAMESPACE = "/dashboard";
const PREFIX = NAMESPACE.length + 3;  // "42/dashboard," before a packet's data
let secret = sessionStorage.getItem("ufora-secret") || "";
let retry = null;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// A long id (a block's is its client's number and 32 hex digits) cut to its first characters,
// whole in its tooltip: the code beside it keeps its room.
function shortId(id) {
  if (!id) return id;
  const shown = el("span", id.length > 14 ? id.slice(0, 14) + "…" : id);
  shown.title = id;
  return shown;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = cell instanceof Node ? el("td") : el("td", cell);
    if (cell instanceof Node) td.appendChild(cell);
    tr.appendChild(td);
  }
  return tr;
}

// A count with its thousands apart (150,000,000), the same in every browser.
function count(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "–";
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function bar(done, total, label) {
  const outer = el("div", null, "bar");
  const fill = el("span");
  fill.style.width = (total > 0 ? Math.min(100, 100 * done / total) : 0) + "%";
  outer.appendChild(fill);
  outer.appendChild(el("b", label));
  return outer;
}

function code(block) {
  const td = el("span", block.file + ":" + block.line + "  " + block.first_line);
  td.className = "code";
  return td;
}

function setState(text, className) {
  const state = document.getElementById("state");
  state.textContent = text;
  state.className = "state " + (className || "");
}

// ---- what the cluster sends ------------------------------------------------------------
function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

// What the page shows stops being current when the connection goes: greyed, with its time.
function markStale(stale) {
  document.getElementById("views").classList.toggle("stale", stale);
}

// How a shape's partitions computed so far (``counts``: per worker) ran: all compiled by numba,
// all in CPython, or how many of each (a partition begun in CPython while its kernel compiled
// counts as CPython).
function engines(compiled, counts) {
  const computed = Object.values(counts || {}).reduce((sum, n) => sum + n, 0);
  if (!computed) return "–";
  compiled = Math.min(compiled || 0, computed);
  if (compiled === computed) return "compiled";
  if (!compiled) return "CPython";
  return `${compiled} compiled, ${computed - compiled} CPython`;
}

// A shape's partitions per worker, each named by its address where the page knows it.
function perWorker(counts, addresses) {
  const entries = Object.entries(counts || {});
  if (!entries.length) return "–";
  return entries.map(([id, n]) => `${Object.hasOwn(addresses, id) ? addresses[id] : id}: ${n}`).join(", ");
}

function render(view) {
  const status = view.status;
  markStale(false);
  document.getElementById("summary").textContent =
    `${plural(status.workers, "worker")}, ${plural(status.cores, "core")} · ${status.running} running, ` +
    `${status.pending} waiting · ${plural(status.clients, "client")} · ${plural(status.objects, "remote object")} · ` +
    `as of ${new Date(view.now * 1000).toLocaleTimeString()}`;

  const workers = document.getElementById("workers");
  workers.replaceChildren(...status.members.map((m) => {
    const tr = row([m.id, m.address, `${m.cores} / ${m.configured_cores}`,
      bar(m.memory_used || 0, m.memory_budget || 0, `${bytes(m.memory_used)} / ${bytes(m.memory_budget)}`),
      bytes(m.shm_used), m.load === undefined ? "–" : m.load,
      (m.partitions || 0) + (m.foreign_partitions ? ` (${m.foreign_partitions} for peers)` : ""),
      bytes(m.object_bytes) + (m.spilled_bytes ? ` (+ ${bytes(m.spilled_bytes)} on disk)` : ""), m.running]);
    tr.dataset.worker = m.id;
    return tr;
  }));

  const addresses = Object.fromEntries(status.members.map((m) => [m.id, m.address]));
  const running = document.getElementById("running");
  const blocks = view.running.map((b) => [b, "running"]).concat(view.pending.map((b) => [b, "waiting"]));
  running.replaceChildren(...blocks.map(([b, how]) => {
    const s = b.shape;
    const tr = row([shortId(b.id), b.client, code(b), shortId(b.worker) || how, b.seconds,
      s ? bar(s.items_done, s.items_total, `${count(s.items_done)} / ${count(s.items_total)} items`) : "–",
      s ? s.partitions_done : "–", s ? engines(s.partitions_compiled, s.by_worker) : "–",
      s ? perWorker(s.by_worker, addresses) : "–", s ? s.active_cores : "–", s ? bytes(s.bytes_moved) : "–"]);
    tr.dataset.block = b.id;
    tr.dataset.state = how;
    return tr;
  }));

  document.getElementById("errors").replaceChildren(...view.errors.map((b) => {
    const li = el("li");
    li.appendChild(el("span", new Date(b.finished * 1000).toLocaleTimeString() + " "));
    li.appendChild(code(b));
    li.appendChild(el("div", b.error, "error"));
    return li;
  }));

  document.getElementById("history").replaceChildren(...view.history.map((b) => {
    const tr = row([new Date(b.finished * 1000).toLocaleTimeString(), b.client, code(b), b.seconds,
      b.items === undefined ? "–" : count(b.items), engines(b.compiled, b.by_worker), perWorker(b.by_worker, addresses),
      el("span", b.ok ? "ok" : b.error, b.ok ? "ok" : "error")]);
    tr.dataset.block = b.id;
    return tr;
  }));

  drawTimeline(view.timeline, Math.max(1, status.cores), view.now);
}

function drawTimeline(points, cores, now) {
  const svg = document.getElementById("timeline");
  const span = 600;  // seconds shown
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points.map(([t, active]) =>
    `${(600 * (1 - (now - t) / span)).toFixed(1)},${(118 - 116 * Math.min(active, cores) / cores).toFixed(1)}`).join(" "));
  svg.replaceChildren(line);
  const last = points.length ? points[points.length - 1][1] : 0;
  document.getElementById("timeline-legend").textContent = `now ${last} of ${cores} cores computing; top of the chart: ${cores}`;
}

// ---- the secret: the page proves it holds it (net/client_auth.py's dashboard_proof) ----
function hex(data) {
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);

// SHA-256 of a byte array: for a page served over plain http from another host, where the
// browser offers no crypto.subtle (it does only in secure contexts).
function sha256(data) {
  const length = data.length;
  const padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 4, length * 8);
  view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let at = 0; at < padded.length; at += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(at + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
      const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    const next = [a, b, c, d, e, f, g, k];
    for (let i = 0; i < 8; i++) h[i] = (h[i] + next[i]) >>> 0;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(4 * i, h[i]);
  return out;
}

function hmacSha256(key, message) {
  if (key.length > 64) key = sha256(key);
  const block = new Uint8Array(64);
  block.set(key);
  const inner = new Uint8Array(64 + message.length);
  const outer = new Uint8Array(64 + 32);
  for (let i = 0; i < 64; i++) { inner[i] = block[i] ^ 0x36; outer[i] = block[i] ^ 0x5c; }
  inner.set(message, 64);
  outer.set(sha256(inner), 64);
  return sha256(outer);
}

async function hmacHex(key, message) {
  const encoder = new TextEncoder();
  const keyBytes = encoder.encode(key), messageBytes = encoder.encode(message);
  if (window.crypto && crypto.subtle) {
    const imported = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return hex(new Uint8Array(await crypto.subtle.sign("HMAC", imported, messageBytes)));
  }
  return hex(hmacSha256(keyBytes, messageBytes));
}

function askSecret(problem) {
  document.getElementById("secret-form").hidden = false;
  document.getElementById("secret-problem").textContent = problem || "";
  setState("needs the cluster's secret", "refused");
}

// The proof for one connection: null while the page has no secret to prove.
async function claim() {
  const answer = await (await fetch("/auth/challenge", { cache: "no-store" })).json();
  if (!answer.secret_required) return {};
  if (!secret) { askSecret(); return null; }
  const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
  const proof = await hmacHex(secret, ["ufora-client-port", "dashboard", answer.nonce, nonce, ""].join("|"));
  return { challenge: answer.nonce, nonce: nonce, proof: proof };
}

// ---- the connection ------------------------------------------------------------------
async function connect() {
  retry = null;
  let auth;
  try {
    auth = await claim();
  } catch (error) {
    setState("manager unreachable");
    retry = setTimeout(connect, 2000);
    return;
  }
  if (auth === null) return;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/socket.io/?EIO=4&transport=websocket`);
  let refused = false;
  socket.onmessage = (event) => {
    const packet = String(event.data);
    if (packet[0] === "0") socket.send("40" + NAMESPACE + "," + JSON.stringify(auth));
    else if (packet === "2") socket.send("3");
    else if (packet.startsWith("40" + NAMESPACE + ",")) {
      setState("live", "connected");
      document.getElementById("secret-form").hidden = true;
    } else if (packet.startsWith("44" + NAMESPACE + ",")) {
      refused = true;
      const problem = JSON.parse(packet.slice(PREFIX)).message || "refused";
      secret = "";
      sessionStorage.removeItem("ufora-secret");
      askSecret(problem);
      socket.close();
    } else if (packet.startsWith("42" + NAMESPACE + ",")) {
      const [name, data] = JSON.parse(packet.slice(PREFIX));
      if (name === "status") render(data);
    }
  };
  socket.onclose = () => {
    markStale(true);
    if (refused) return;
    setState("disconnected: reconnecting");
    if (retry === null) retry = setTimeout(connect, 2000);
  };
}

document.getElementById("secret-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!document.getElementById("secret").value) {
    askSecret("enter the cluster's secret (its services' UFORA_CLUSTER_SECRET)");
    return;
  }
  secret = document.getElementById("secret").value;
  sessionStorage.setItem("ufora-secret", secret);
  connect();
});

// for the test in a real browser (tests/test_dashboard.py)
window.uforaDashboard = {
  hmacSha256: (key, message) => hex(hmacSha256(new TextEncoder().encode(key), new TextEncoder().encode(message))),
  engines,
  perWorker,
};
connect();
