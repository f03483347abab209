/*
 * app.js - the iotpipe console's behaviour: polls the JSON API every 2 s
 * (pausable), keeps the last 15 minutes of samples that /api/history
 * returns (asking only for samples newer than the last one it has), and
 * redraws the pipeline diagram, the health, the charts and the tables.
 *
 * The charts are our own: an SVG polyline per series, drawn with DOM calls
 * (about 80 lines below). A charting library would be the larger part of
 * the page for what is only "lines over the last 15 minutes", would have
 * to be installed from the distribution on every build machine (Debian's
 * libjs-chart.js; Ubuntu's CI runners too) to be embedded, and would have
 * to keep to the page's Content-Security-Policy (no inline styles). Series
 * colours are CSS classes for that reason.
 *
 * Keyboard: p pauses and resumes, r refreshes now; every control is a
 * button, the tables scroll with the arrow keys once focused. Errors never
 * reach the browser console: a failed request shows "unreachable".
 */
"use strict";

const POLL_MS = 2000;
const WINDOW_S = 900;
const W = 600, H = 160;

const state = { t: [], series: {}, seq: 0, paused: false, timer: null, busy: false,
                configShown: false, lastOk: 0 };

/* name -> label, and which charts take which series */
const CHARTS = [
  { id: "rate", title: "Events per second", unit: "/s",
    pick: n => /^(produce\.produced_per_s|(archive|aggregate)\.(consumed|written)_per_s)$/.test(n),
    label: n => n.replace("produce.produced_per_s", "produced")
                 .replace("archive.written_per_s", "archive: events written")
                 .replace("aggregate.written_per_s", "aggregate: windows written")
                 .replace(/^(\w+)\.consumed_per_s$/, "$1: consumed") },
  { id: "rejected", title: "Invalid, filtered, late, dead-lettered per second", unit: "/s",
    pick: n => /\.(invalid_per_s\..+|filtered_per_s|late_per_s|dead_lettered_per_s)$/.test(n),
    label: n => n.replace(".invalid_per_s.", ": invalid ").replace(/\.(\w+)_per_s$/, ": $1") },
  { id: "batch", title: "Batch duration", unit: "s",
    pick: n => /\.batch_seconds$/.test(n), label: n => n.replace(".batch_seconds", "") },
  { id: "latency", title: "End-to-end latency", unit: "s",
    pick: n => /\.latency_p\d+_s$/.test(n), label: n => n.replace(/\.latency_(p\d+)_s$/, " $1") },
  { id: "lag", title: "Consumer lag per partition", unit: " rec",
    pick: n => /\.lag\.\d+$/.test(n), label: n => n.replace(".lag.", ": p") },
  { id: "watermark", title: "Watermark delay", unit: "s",
    pick: n => n === "aggregate.watermark_delay_s", label: () => "aggregate" },
  { id: "files", title: "Files written", unit: "",
    pick: n => /\.files_total$/.test(n), label: n => n.replace(".files_total", "") },
  { id: "bytes", title: "Bytes written", unit: "B",
    pick: n => /\.bytes_total$/.test(n), label: n => n.replace(".bytes_total", "") },
  { id: "rss", title: "Resident memory", unit: "B",
    pick: n => n === "process.rss_bytes", label: () => "RSS" },
  { id: "cpu", title: "CPU (100% = one core)", unit: "%",
    pick: n => n === "process.cpu_percent", label: () => "CPU" },
];

function $(id) { return document.getElementById(id); }

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  return e;
}

/* 1234567 -> "1.23M"; small values keep their decimals */
function human(v, unit) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const a = Math.abs(v);
  const u = unit || "";
  if (a >= 1e9) return (v / 1e9).toFixed(2) + "G" + u;
  if (a >= 1e6) return (v / 1e6).toFixed(2) + "M" + u;
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "k" + u;
  if (a >= 100 || v === Math.round(v)) return Math.round(v) + u;
  if (a >= 1) return v.toFixed(1) + u;
  return v.toPrecision(2) + u;
}

/* exact integers with separators: what the tests compare with /metrics */
function count(v) {
  return v === null || v === undefined || !isFinite(v) ? "–" : Math.round(v).toLocaleString("en-US");
}

function clock(t) {
  const d = new Date(t * 1000);
  return d.toTimeString().slice(0, 8);
}

/* a request that hangs (a stopped process whose socket is still open)
 * must not hold the polling up: it is abandoned after 5 s */
async function getJSON(path) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  let r;
  try {
    r = await fetch(path, { cache: "no-store", signal: ctl.signal });
  } finally {
    clearTimeout(timer);
  }
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

/* ---- history ---------------------------------------------------------- */

function mergeHistory(h) {
  if (h.seq < state.seq) { /* another process on this port: start over */
    state.t = []; state.series = {}; state.seq = 0;
  }
  const before = state.t.length;
  for (const t of h.t) state.t.push(t);
  for (const name in h.series) {
    if (!state.series[name]) state.series[name] = new Array(before).fill(null);
    for (const v of h.series[name]) state.series[name].push(v);
  }
  for (const name in state.series)
    while (state.series[name].length < state.t.length) state.series[name].push(null);
  state.seq = h.seq;
  const cut = state.t.length ? state.t[state.t.length - 1] - WINDOW_S : 0;
  let drop = 0;
  while (drop < state.t.length && state.t[drop] < cut) drop++;
  if (drop) {
    state.t.splice(0, drop);
    for (const name in state.series) state.series[name].splice(0, drop);
  }
}

/* ---- charts ----------------------------------------------------------- */

function buildCharts() {
  const grid = $("chart-grid");
  for (const c of CHARTS) {
    const fig = el("figure", { class: "chart", id: "chart-" + c.id });
    const h = el("h3");
    h.append(el("span", {}, c.title), el("span", { class: "muted ymax" }, ""));
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": c.title,
                           "data-points": "0", preserveAspectRatio: "none" });
    const axis = el("div", { class: "axis", "aria-hidden": "true" });
    axis.append(el("span", {}, "−15 min"), el("span", {}, "now"));
    fig.append(h, s, axis, el("ul", { class: "legend" }));
    grid.append(fig);
    c.node = fig;
  }
}

function drawChart(c) {
  const names = Object.keys(state.series).filter(c.pick).sort();
  const s = c.node.querySelector("svg");
  const legend = c.node.querySelector(".legend");
  const t = state.t;
  const now = t.length ? t[t.length - 1] : 0;
  let max = 0, min = 0, points = 0;
  for (const n of names)
    for (const v of state.series[n])
      if (v !== null) { max = Math.max(max, v); min = Math.min(min, v); }
  if (max === min) max = min + 1;
  max *= 1.05;
  s.replaceChildren();
  for (let i = 1; i < 4; i++)
    s.append(svg("line", { class: "gridline", x1: 0, x2: W, y1: (H * i) / 4, y2: (H * i) / 4 }));
  legend.replaceChildren();
  names.forEach((n, i) => {
    const vals = state.series[n];
    const cls = "line s" + (i % 8);
    let seg = [];
    let last = null;
    const flush = () => {
      if (seg.length) s.append(svg("polyline", { class: cls, points: seg.join(" "),
                                                  "data-series": n }));
      seg = [];
    };
    for (let k = 0; k < t.length; k++) {
      const v = vals[k];
      if (v === null) { flush(); continue; }
      const x = ((t[k] - (now - WINDOW_S)) / WINDOW_S) * W;
      const y = H - ((v - min) / (max - min)) * H;
      seg.push(x.toFixed(1) + "," + y.toFixed(1));
      points++;
      last = v;
    }
    flush();
    const li = el("li");
    li.append(el("span", { class: "sw s" + (i % 8), "aria-hidden": "true" }),
              el("span", {}, c.label(n) + " "),
              el("strong", { "data-series": n }, human(last, c.unit)));
    legend.append(li);
  });
  s.setAttribute("data-points", String(points));
  s.setAttribute("aria-label", c.title + ": " + (names.length
    ? names.map(n => c.label(n)).join(", ") : "no data yet"));
  c.node.querySelector(".ymax").textContent = names.length ? "max " + human(max / 1.05, c.unit) : "";
  if (!names.length) legend.append(el("li", { class: "empty" }, "no data in this process"));
}

/* ---- status, pipeline, tables ----------------------------------------- */

function stage(title, rows, extra, off) {
  const d = el("div", { class: "stage" + (off ? " off" : "") });
  d.append(el("h3", {}, title));
  const dl = el("dl");
  for (const [k, v, key] of rows) {
    dl.append(el("dt", {}, k));
    const dd = el("dd", key ? { "data-metric": key } : {}, v);
    dl.append(dd);
  }
  d.append(dl);
  if (extra) d.append(extra);
  return d;
}

function arrow() { return el("div", { class: "arrow", "aria-hidden": "true" }, "→"); }

function drawPipeline(st) {
  const p = $("pipeline");
  const pl = st.pipeline || {};
  const jobs = {};
  for (const j of st.jobs) jobs[j.name] = j;
  const pr = st.producer;
  const nodes = [];
  nodes.push(stage("Producer", pr ? [
    ["rate", human(pr.produced_per_s, "/s")],
    ["produced", count(pr.produced_total), "produce.produced_total"],
    ["delivery errors", count(pr.delivery_errors_total), "produce.delivery_errors_total"],
  ] : [["", "not in this process"]], null, !pr));
  nodes.push(arrow());
  const parts = el("div", { class: "parts" });
  const lagBy = {};
  for (const j of st.jobs) for (const l of j.lag) lagBy[l.partition] = (lagBy[l.partition] || 0) + l.records;
  for (const k of Object.keys(lagBy).sort((a, b) => a - b))
    parts.append(el("span", { class: "part", title: "records not yet read, all jobs" },
                    "p" + k + " lag " + human(lagBy[k])));
  nodes.push(stage("Topic " + (pl.topic || ""), [
    ["partitions", Object.keys(lagBy).length || "–"],
    ["bootstrap", pl.bootstrap || "–"],
  ], parts));
  nodes.push(arrow());
  const stack = el("div", { class: "stack" });
  for (const name of ["archive", "aggregate"]) {
    const j = jobs[name];
    if (!j) { stack.append(stage(name, [["", "not in this process"]], null, true)); continue; }
    const rows = [
      ["read", human(j.consumed_per_s, "/s")],
      ["consumed", count(j.consumed_total), name + ".consumed_total"],
      ["invalid · filtered · late", count(j.invalid_total) + " · " + count(j.filtered_total) +
        " · " + count(j.late_total)],
      ["lag", count(j.lag_total), name + ".lag_total"],
      ["batches", count(j.batches_total), name + ".batches_total"],
    ];
    if (name === "aggregate")
      rows.push(["watermark delay", human(j.watermark_delay_s, " s")]);
    stack.append(stage(name, rows));
  }
  nodes.push(stack);
  nodes.push(arrow());
  const out = el("div", { class: "stack" });
  for (const name of ["archive", "aggregate"]) {
    const j = jobs[name];
    if (!j) continue;
    out.append(stage(name + " output", [
      ["files", count(j.files_total), name + ".files_total"],
      ["bytes", human(j.bytes_total, "B")],
      ["rows", count(j.rows_written_total), name + ".rows_written_total"],
    ], el("div", { class: "loc" }, pl[name + ".output"] || "")));
  }
  if (!out.childNodes.length) out.append(stage("Output", [["", "none in this process"]], null, true));
  nodes.push(out);
  p.replaceChildren(...nodes);
}

function setHealth(stateName, reasons) {
  const h = $("health");
  h.className = "health " + stateName;
  h.textContent = stateName;
  const ul = $("reasons");
  ul.replaceChildren(...(reasons.length ? reasons : ["everything is running"]).map(r => el("li", {}, r)));
}

function drawStatus(st) {
  $("command").textContent = st.command ? st.command + " · pid " + st.pid : "";
  document.title = "iotpipe " + (st.command || "") + " · " + st.health.state;
  setHealth(st.health.state, st.health.reasons);
  const le = $("last-error");
  if (st.last_error) {
    le.textContent = clock(st.last_error.time) + " " + st.last_error.level + " " +
      st.last_error.component + ": " + st.last_error.message;
    le.className = "has";
  } else {
    le.textContent = "none";
    le.className = "";
  }
  drawPipeline(st);
  $("footer").textContent = "iotpipe " + st.version + " · history " + st.history.samples + "/" +
    st.history.capacity + " samples, " + human(st.history.memory_bytes, "B") + " (bound " +
    human(st.history.bound_bytes, "B") + ")";
}

function drawBatches(b) {
  const rows = b.batches.map(r => {
    const tr = el("tr");
    tr.append(el("td", {}, clock(r.time)), el("td", {}, r.job), el("td", { class: "num" }, r.partition),
              el("td", { class: "num" }, r.batch),
              el("td", { class: "num" }, r.start_offset + "–" + r.end_offset),
              el("td", { class: "num" }, count(r.rows)), el("td", { class: "num" }, count(r.files)),
              el("td", { class: "num" }, human(r.seconds, " s")), el("td", {}, r.replayed ? "yes" : "no"));
    return tr;
  });
  if (!rows.length) {
    const tr = el("tr");
    tr.append(el("td", { colspan: "9" }, "no batch committed yet"));
    rows.push(tr);
  }
  $("batches").tBodies[0].replaceChildren(...rows);
}

function drawConfig(c) {
  const rows = [];
  for (const s of c.settings.concat(c.environment.filter(e => e.value !== null))) {
    const tr = el("tr");
    const v = el("td", s.redacted ? { class: "redacted" } : {}, s.value === "" ? "(empty)" : s.value);
    tr.append(el("td", {}, s.key), v);
    rows.push(tr);
  }
  $("config").tBodies[0].replaceChildren(...rows);
}

/* ---- polling ---------------------------------------------------------- */

async function poll() {
  if (state.busy) return;
  state.busy = true;
  try {
    const [st, h, b] = await Promise.all([
      getJSON("api/status"), getJSON("api/history?since=" + state.seq), getJSON("api/batches")]);
    mergeHistory(h);
    drawStatus(st);
    for (const c of CHARTS) drawChart(c);
    drawBatches(b);
    if (!state.configShown) {
      drawConfig(await getJSON("api/config"));
      state.configShown = true;
    }
    state.lastOk = Date.now();
    $("updated").textContent = "updated " + clock(st.now);
  } catch (e) {
    setHealth("unreachable", ["the process does not answer (stopped, or the network is down); " +
      "last answer " + (state.lastOk ? new Date(state.lastOk).toTimeString().slice(0, 8) : "never")]);
  } finally {
    state.busy = false;
  }
}

function schedule() {
  clearInterval(state.timer);
  state.timer = state.paused ? null : setInterval(poll, POLL_MS);
}

function togglePause() {
  state.paused = !state.paused;
  const b = $("pause");
  b.setAttribute("aria-pressed", String(state.paused));
  b.firstChild.textContent = state.paused ? "Resume " : "Pause ";
  schedule();
  if (!state.paused) poll();
}

document.addEventListener("DOMContentLoaded", () => {
  buildCharts();
  $("pause").addEventListener("click", togglePause);
  $("refresh").addEventListener("click", poll);
  document.addEventListener("keydown", e => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === "p") togglePause();
    else if (e.key === "r") poll();
  });
  poll();
  schedule();
});
