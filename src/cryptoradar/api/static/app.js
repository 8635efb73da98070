// cryptoradar dashboard: plain JavaScript, no dependencies, works offline.
// Data only ever reaches the page through textContent/attributes, never innerHTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const FEED_MAX = 100;
const TOKEN_KEY = "cryptoradar.token";
const state = { alerts: new Map(), chartAlerts: [], bars: [], streamBackoffMs: 1000 };

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== "") node.textContent = text;
  return node;
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = { ...authHeaders(), ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    $("token-form").hidden = false;
    throw new Unauthorized("token required");
  }
  return response;
}

async function getJson(path) {
  const response = await api(path);
  if (!response.ok && response.status !== 503) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

const fmtTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z";
const fmtNumber = (x) => (Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(5));

function fillRows(tbody, rows) {
  tbody.replaceChildren(
    ...rows.map((cells) => {
      const tr = el("tr");
      for (const cell of cells) {
        const td = el("td");
        if (cell instanceof Node) td.append(cell);
        else td.textContent = String(cell);
        tr.append(td);
      }
      return tr;
    }),
  );
}

function stateTag(text, good) {
  return el("span", { class: `tag ${good ? "ok" : "bad"}` }, text);
}

// --- panels -----------------------------------------------------------------------------------

async function refreshReadiness() {
  const body = await getJson("/readyz");
  const badge = $("readiness");
  const failed = body.checks.filter((c) => !c.ok);
  badge.className = `badge ${body.ready ? "ok" : "bad"}`;
  badge.textContent = body.ready ? "ready" : `not ready: ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`;
}

async function refreshConnections() {
  const [connections, channels] = await Promise.all([getJson("/api/connections"), getJson("/api/channels")]);
  fillRows(
    $("connections"),
    connections.map((c) => [c.source, c.connection_id, stateTag(c.state, c.state === "CONNECTED"), c.streams]),
  );
  fillRows(
    $("channels"),
    channels.map((c) => [c.channel, stateTag(c.last_error ? `${c.state}: ${c.last_error}` : c.state, c.state === "active"), c.sent, c.queued]),
  );
}

async function refreshSymbols() {
  const symbols = await getJson("/api/symbols");
  const stale = symbols.filter((s) => s.stale);
  $("fresh-summary").textContent = `${symbols.length - stale.length} of ${symbols.length} series fresh`;
  $("stale-symbols").replaceChildren(
    ...stale.map((s) => el("li", {}, `${s.market}:${s.symbol} ${s.interval} — ${s.age_ms === null ? "no bar yet" : `${Math.round(s.age_ms / 1000)} s old`}`)),
  );
  const select = $("chart-symbol");
  const names = [...new Set(symbols.map((s) => s.symbol))].sort();
  const current = select.value;
  if (names.join() !== [...select.options].map((o) => o.value).join()) {
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (names.includes(current)) select.value = current;
    await refreshChart();
  }
}

async function refreshStats() {
  const stats = await getJson("/api/stats");
  fillRows(
    $("detector-counters"),
    stats.signals.map((s) => [s.labels.detector, s.labels.kind, s.value]),
  );
  $("process-stats").textContent =
    `uptime ${Math.round(stats.uptime_s)} s · memory ${(stats.rss_bytes / 1048576).toFixed(1)} MiB · loop lag ${(stats.loop_lag_s * 1000).toFixed(1)} ms`;
}

async function refreshSilences() {
  const silences = await getJson("/api/silences");
  fillRows(
    $("silences"),
    silences.map((s) => {
      const button = el("button", { type: "button", class: "danger", "aria-label": `Delete silence ${s.id}`, "data-silence-id": String(s.id) }, "Delete");
      button.addEventListener("click", () => deleteSilence(s.id));
      return [s.matchers.join(", "), fmtTime(s.until_ms), s.reason, s.created_by, button];
    }),
  );
}

async function createSilence(event) {
  event.preventDefault();
  const value = $("silence-value").value.trim().replace(/["\\]/g, "\\$&");
  const minutes = Number($("silence-minutes").value);
  const body = {
    matchers: [`${$("silence-label").value}="${value}"`],
    until_ms: Date.now() + minutes * 60000,
    reason: $("silence-reason").value.trim(),
  };
  const response = await api("/api/silences", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const result = await response.json();
  $("silence-message").textContent = response.ok ? `Silence ${result.id} created.` : `Not created: ${result.error}`;
  if (response.ok) $("silence-form").reset();
  await refreshSilences();
}

async function deleteSilence(id) {
  const response = await api(`/api/silences/${id}`, { method: "DELETE" });
  $("silence-message").textContent = response.ok ? `Silence ${id} deleted.` : `Silence ${id} not deleted (HTTP ${response.status}).`;
  await refreshSilences();
}

// --- live feed ------------------------------------------------------------------------------------

function addFeedItem(kind, payload) {
  const signal = payload.signal || payload;
  const key = kind === "alert" ? `a${payload.id}` : `s${signal.detector}${signal.symbol}${signal.window_start_ms}`;
  if (state.alerts.has(key)) return;
  state.alerts.set(key, payload);
  const when = payload.created_at_ms || signal.window_end_ms;
  const item = el("li", { class: `feed-item ${signal.direction} sev-${signal.severity}`, "data-key": key });
  item.append(
    el("span", { class: "sym" }, signal.symbol),
    el("span", { class: "what" }, `${signal.detector} · ${signal.kind} · ${signal.timeframe}`),
    el("span", { class: `tag ${signal.direction}` }, `${signal.direction} ${signal.severity}`),
    el("time", { datetime: new Date(when).toISOString() }, fmtTime(when)),
  );
  if (kind !== "alert") item.append(el("span", { class: "tag" }, "signal"));
  const feed = $("alert-feed");
  feed.prepend(item);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  $("feed-empty").hidden = true;
  if (signal.symbol === $("chart-symbol").value) {
    state.chartAlerts.push(signal);
    drawChart();
  }
}

function handleFrame(frame) {
  let event = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  if (data.length && (event === "alert" || event === "signal")) addFeedItem(event, JSON.parse(data.join("\n")));
}

// EventSource cannot send an Authorization header, so the stream is read with fetch.
async function streamEvents() {
  const indicator = $("stream-state");
  for (;;) {
    try {
      const response = await api("/api/events", { headers: { Accept: "text/event-stream" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      indicator.textContent = "live feed: connected";
      indicator.className = "badge ok";
      state.streamBackoffMs = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          handleFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      if (error instanceof Unauthorized) return;
    }
    indicator.textContent = "live feed: reconnecting…";
    indicator.className = "badge bad";
    await new Promise((resolve) => setTimeout(resolve, state.streamBackoffMs));
    state.streamBackoffMs = Math.min(state.streamBackoffMs * 2, 30000);
  }
}

// --- chart ------------------------------------------------------------------------------------------

async function refreshChart() {
  const symbol = $("chart-symbol").value;
  const interval = $("chart-interval").value;
  if (!symbol) return;
  const params = new URLSearchParams({ symbol, interval, limit: "120" });
  const [bars, alerts] = await Promise.all([
    getJson(`/api/bars?${params}`),
    getJson(`/api/alerts?${new URLSearchParams({ symbol, limit: "200" })}`),
  ]);
  state.bars = bars;
  state.chartAlerts = alerts.items.map((a) => a.signal);
  drawChart();
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function drawChart() {
  const box = $("chart");
  const bars = state.bars;
  const symbol = $("chart-symbol").value;
  if (!bars.length) {
    box.replaceChildren();
    $("chart-note").textContent = symbol ? `No closed bars for ${symbol} yet.` : "No symbols yet.";
    return;
  }
  const width = Math.max(box.clientWidth, 320);
  const height = 260;
  const pad = { left: 8, right: 64, top: 18, bottom: 36 };
  const low = Math.min(...bars.map((b) => b.low));
  const high = Math.max(...bars.map((b) => b.high));
  const span = high - low || 1;
  const step = (width - pad.left - pad.right) / bars.length;
  const x = (i) => pad.left + i * step + step / 2;
  const y = (price) => pad.top + ((high - price) / span) * (height - pad.top - pad.bottom);
  const last = bars[bars.length - 1];
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img" });
  const title = svg("title", {});
  title.textContent = `${symbol} ${last.interval}: ${bars.length} bars, last close ${fmtNumber(last.close)}, range ${fmtNumber(low)}–${fmtNumber(high)}`;
  root.append(title);
  for (const price of [high, (high + low) / 2, low]) {
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(price), y2: y(price), class: "grid-line" }));
    const label = svg("text", { x: width - pad.right + 6, y: y(price) + 4, class: "axis" });
    label.textContent = fmtNumber(price);
    root.append(label);
  }
  bars.forEach((bar, i) => {
    const up = bar.close >= bar.open;
    root.append(svg("line", { x1: x(i), x2: x(i), y1: y(bar.high), y2: y(bar.low), class: up ? "wick up" : "wick down" }));
    const top = y(Math.max(bar.open, bar.close));
    root.append(svg("rect", {
      x: x(i) - Math.max(step * 0.35, 0.5), y: top, width: Math.max(step * 0.7, 1),
      height: Math.max(y(Math.min(bar.open, bar.close)) - top, 1), class: up ? "body up" : "body down",
    }));
  });
  let markers = 0;
  for (const signal of state.chartAlerts) {
    const i = bars.findIndex((b) => signal.window_end_ms >= b.open_time_ms && signal.window_end_ms <= b.close_time_ms);
    if (i < 0) continue;
    markers += 1;
    const bullish = signal.direction !== "bearish";
    const tip = bullish ? y(bars[i].low) + 6 : y(bars[i].high) - 6;
    const dir = bullish ? 1 : -1;
    const marker = svg("path", {
      d: `M${x(i)} ${tip} l5 ${10 * dir} h-10 z`, class: `marker ${signal.direction}`,
    });
    const tipTitle = svg("title", {});
    tipTitle.textContent = `${signal.detector} ${signal.kind} (${signal.direction}) at ${fmtTime(signal.window_end_ms)}`;
    marker.append(tipTitle);
    root.append(marker);
  }
  const start = svg("text", { x: pad.left, y: height - 4, class: "axis" });
  start.textContent = fmtTime(bars[0].open_time_ms);
  const end = svg("text", { x: width - pad.right, y: height - 4, class: "axis", "text-anchor": "end" });
  end.textContent = fmtTime(last.close_time_ms + 1);
  root.append(start, end);
  box.replaceChildren(root);
  $("chart-note").textContent = `${bars.length} bars, ${markers} alert marker${markers === 1 ? "" : "s"}.`;
}

// --- start ------------------------------------------------------------------------------------------

function every(ms, task) {
  const run = () => task().catch((error) => { if (!(error instanceof Unauthorized)) console.warn(error); });
  run();
  return setInterval(run, ms);
}

async function loadRecentAlerts() {
  const page = await getJson("/api/alerts?limit=20");
  for (const alert of page.items.reverse()) addFeedItem("alert", alert);
}

function start() {
  every(5000, refreshReadiness);
  every(5000, refreshConnections);
  every(10000, refreshSymbols);
  every(5000, refreshStats);
  every(15000, refreshSilences);
  every(30000, refreshChart);
  loadRecentAlerts().catch(() => {});
  streamEvents();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  window.location.reload();
});
$("silence-form").addEventListener("submit", (event) => createSilence(event).catch((e) => { $("silence-message").textContent = String(e.message); }));
$("chart-symbol").addEventListener("change", () => refreshChart());
$("chart-interval").addEventListener("change", () => refreshChart());
window.addEventListener("resize", drawChart);
start();
