// tower-cdn admin dashboard: the panels that refresh every POLL_MS while
// the tab is visible, and the token prompt. Reads the admin API of the
// origin it was served from; no libraries, no build step. Text from the
// API only ever goes into the page as text (see view.js).

import { ApiError, api, describe, hasToken, onUnauthorized, optional, setToken } from "./api.js";
import { objectRow } from "./explain.js";
import "./keys.js";
import "./purge.js";
import { $, bytes, count, draw, el, lookups, num, percent, rate, seconds, sum, text } from "./view.js";

const POLL_MS = 2000;
const HISTORY_POINTS = 90;

let timer = null;
let polling = false;
let waitingForToken = false;
/** /stats samples for rates when there is no /reports/timeline. */
const samples = [];

function setStatus(message, isError) {
  const s = $("status");
  s.textContent = message;
  s.className = isError ? "error" : "muted";
}

// ---------------------------------------------------------------- token

function askForToken(message) {
  waitingForToken = true;
  clearTimeout(timer);
  $("token-form").hidden = false;
  const e = $("token-error");
  e.hidden = !message;
  e.textContent = message || "";
  setStatus("waiting for the admin token", true);
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const given = $("token-input").value.trim();
  if (!/^[\x21-\x7e]+$/.test(given)) {
    const e = $("token-error");
    e.hidden = false;
    e.textContent = "A bearer token is printable ASCII without spaces.";
    return;
  }
  setToken(given);
  $("token-input").value = "";
  waitingForToken = false;
  $("token-form").hidden = true;
  poll();
});

// ------------------------------------------------------------- traffic

function showStats(stats) {
  const l = lookups(stats.requests);
  text($("hit-ratio"), l.total === 0 ? "—" : percent(stats.hit_ratio));
  text($("hit-ratio-detail"), l.total === 0 ? "no lookups yet" : count(l.hits, "hit") + ", " + count(l.misses, "miss", "misses"));
  const total = sum(stats.requests);
  text($("requests-total"), num(total));
  const others = Object.entries(stats.requests || {})
    .filter(([k, v]) => v > 0 && !["Hit", "RefreshHit", "Miss"].includes(k))
    .map(([k, v]) => k + " " + num(v));
  text($("requests-detail"), others.length ? others.join(", ") : "all hits or misses");
  const served = (stats.bytes_from_cache || 0) + (stats.bytes_from_origin || 0);
  text($("bytes-served"), bytes(served));
  text($("bytes-detail"), bytes(stats.bytes_from_cache) + " from cache, " + bytes(stats.bytes_from_origin) + " from origin");
  text($("stored"), typeof stats.entries === "number" ? count(stats.entries, "object") : "—");
  text(
    $("stored-detail"),
    bytes(stats.cached_bytes) + " of " + bytes(stats.capacity_bytes) + (stats.fills_in_flight ? ", " + num(stats.fills_in_flight) + " fills in flight" : ""),
  );

  const now = Date.now() / 1000;
  samples.push({ t: now, requests: stats.requests || {}, bytes: served });
  while (samples.length > HISTORY_POINTS + 1) samples.shift();
  if (samples.length >= 2) {
    const a = samples[samples.length - 2];
    const b = samples[samples.length - 1];
    const dt = Math.max(b.t - a.t, 0.001);
    const before = lookups(a.requests);
    const after = lookups(b.requests);
    const d = after.total - before.total;
    text($("hit-ratio-recent"), d > 0 ? percent((after.hits - before.hits) / d) : "—");
    text($("rates"), rate((sum(b.requests) - sum(a.requests)) / dt) + " req/s, " + bytes((b.bytes - a.bytes) / dt) + "/s");
  }
}

/**
 * Requests/s and bytes/s: the server's per-interval timeline once its
 * traffic spans two intervals (minutes without traffic count as zero; the current one
 * is divided by the part of it that has passed), else the rates between
 * this page's polls.
 */
async function showCharts() {
  const timeline = await optional("/reports/timeline");
  const points = timeline && Array.isArray(timeline.points) ? timeline.points.filter((p) => typeof p.start === "number") : [];
  // From the first interval with traffic (not a flat hour before it).
  while (points.length && sum(points[0].requests) === 0) points.shift();
  const step = timeline && timeline.interval_seconds > 0 ? timeline.interval_seconds : 0;
  let reqs = [];
  let byts = [];
  if (step && points.length && points[points.length - 1].start - points[0].start >= step) {
    const now = Date.now() / 1000;
    const last = points[points.length - 1].start;
    const first = Math.max(points[0].start, last - (HISTORY_POINTS - 1) * step);
    const at = new Map(points.map((p) => [p.start, p]));
    for (let start = first; start <= last; start += step) {
      const p = at.get(start);
      const dt = Math.max(Math.min(step, now - start), 1);
      reqs.push(p ? sum(p.requests) / dt : 0);
      byts.push(p ? (p.bytes || 0) / dt : 0);
    }
    text($("chart-source"), "The server's timeline, one point per " + seconds(step) + ".");
  } else {
    for (let i = 1; i < samples.length; i++) {
      const dt = Math.max(samples[i].t - samples[i - 1].t, 0.001);
      reqs.push(Math.max(sum(samples[i].requests) - sum(samples[i - 1].requests), 0) / dt);
      byts.push(Math.max(samples[i].bytes - samples[i - 1].bytes, 0) / dt);
    }
    text(
      $("chart-source"),
      "Since this page was opened, one point per refresh" + (step ? " (the server's timeline has one point per " + seconds(step) + ")." : "."),
    );
  }
  draw($("chart-requests"), reqs);
  draw($("chart-bytes"), byts);
  $("chart-requests-max").textContent = reqs.length ? "(peak " + rate(Math.max(...reqs)) + ")" : "";
  $("chart-bytes-max").textContent = byts.length ? "(peak " + bytes(Math.max(...byts)) + "/s)" : "";
}

// ------------------------------------------------------------- popular

async function showPopular() {
  const by = $("popular-by").value;
  const report = await optional("/reports/popular?by=" + encodeURIComponent(by));
  const body = $("popular").tBodies[0];
  if (!report) {
    body.replaceChildren();
    text($("popular-note"), "This server has no popular-objects report (GET /reports/popular).");
    return;
  }
  const rows = (report.objects || []).map((o) => {
    const tr = objectRow(o.host, o.path);
    tr.appendChild(el("td", "num", num(o.requests)));
    tr.appendChild(el("td", "num", bytes(o.bytes)));
    tr.appendChild(el("td", "num", percent(o.hit_ratio)));
    return tr;
  });
  body.replaceChildren(...rows);
  $("popular-window").textContent = report.window_seconds ? "over the last " + seconds(report.window_seconds) : "";
  $("popular-note").textContent = rows.length ? "" : "No requests yet.";
}
$("popular-by").addEventListener("change", () => showPopular().catch(report));

// ------------------------------------------------------- distributions

/** Rows are updated in place (a switch being clicked is not replaced under the pointer). */
async function showDistributions(stats) {
  const list = (await api("GET", "/distributions")).Distributions || [];
  const perDist = stats.distributions || null;
  const body = $("distributions").tBodies[0];
  const same = body.rows.length === list.length && list.every((d, i) => body.rows[i].dataset.id === String(d.Id));
  if (!same) body.replaceChildren(...list.map((d) => distributionRow(String(d.Id))));
  list.forEach((d, i) => {
    const cells = body.rows[i].cells;
    const s = perDist && perDist[d.Id];
    const l = s ? lookups(s.requests) : null;
    text(cells[1], s ? num(sum(s.requests)) : "—");
    text(cells[2], l && l.total ? percent(s.hit_ratio) : "—");
    const sw = cells[3].firstChild;
    if (!sw.disabled) showSwitch(sw, !!d.Enabled);
  });
  $("distributions-note").textContent = perDist ? "" : "Per-distribution counters are not available on this server.";
}

function distributionRow(id) {
  const tr = document.createElement("tr");
  tr.dataset.id = id;
  tr.appendChild(el("td", "mono", id));
  tr.appendChild(el("td", "num"));
  tr.appendChild(el("td", "num"));
  const cell = document.createElement("td");
  const sw = el("button", "switch");
  sw.type = "button";
  sw.setAttribute("role", "switch");
  sw.setAttribute("aria-label", "distribution " + id + " enabled");
  sw.addEventListener("click", () => toggle(id, sw.getAttribute("aria-checked") !== "true", sw));
  cell.appendChild(sw);
  tr.appendChild(cell);
  return tr;
}

function showSwitch(sw, on) {
  sw.setAttribute("aria-checked", on ? "true" : "false");
  text(sw, on ? "enabled" : "disabled");
}

async function toggle(id, enable, button) {
  button.disabled = true;
  try {
    const r = await api("POST", "/distributions/" + encodeURIComponent(id) + "/" + (enable ? "enable" : "disable"));
    const on = !!(r && r.Distribution && r.Distribution.Enabled);
    showSwitch(button, on);
    setStatus("distribution " + id + (on ? " enabled" : " disabled"));
    await poll();
  } catch (e) {
    report(e);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- poll

function report(e) {
  if (e instanceof ApiError && e.status === 401) return;
  setStatus(describe(e), true);
}

/** One refresh of every panel, then the next one in POLL_MS (while the tab is visible). */
async function poll() {
  if (polling) return;
  polling = true;
  clearTimeout(timer);
  try {
    const stats = await api("GET", "/stats");
    showStats(stats);
    await Promise.all([showCharts(), showPopular(), showDistributions(stats)]);
    setStatus("updated " + new Date().toLocaleTimeString() + (hasToken() ? "" : " (no token: loopback access)"));
  } catch (e) {
    report(e);
  } finally {
    polling = false;
    if (!waitingForToken && !document.hidden) timer = setTimeout(poll, POLL_MS);
  }
}

onUnauthorized(askForToken);
document.addEventListener("tower-cdn:changed", () => poll());
document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    clearTimeout(timer);
  } else if (!waitingForToken) {
    poll();
  }
});

poll();
