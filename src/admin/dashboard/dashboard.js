// tower-cdn admin dashboard. Reads the admin API of the origin it was
// served from; no libraries, no build step.
//
// Everything the API returns may carry attacker-chosen text (cached URLs,
// hosts, tags, Vary values): it is only ever put in the page as text
// (`textContent`, `createTextNode`), never parsed as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "tower-cdn-admin-token";
  const POLL_MS = 2000;
  const HISTORY_POINTS = 90;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let timer = null;
  let polling = false;
  let waitingForToken = false;
  /** Endpoints this server does not have (404 NotFound): not asked again. */
  const absent = new Set();
  /** /stats samples for rates when there is no /reports/timeline. */
  const samples = [];

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** A same-origin call with the bearer token; the JSON answer or an ApiError. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method, headers, credentials: "omit", cache: "no-store", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      // A token with characters a header cannot hold, or the server is down.
      throw new ApiError(0, "NetworkError", "cannot reach the admin API (" + e.message + ")");
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (_) {
      data = null;
    }
    if (resp.ok) return data;
    const err = (data && data.Error) || {};
    if (resp.status === 401) askForToken(token ? "That token was refused." : "");
    throw new ApiError(resp.status, err.Code || "", err.Message || resp.statusText || "HTTP " + resp.status);
  }

  /** An endpoint that older servers lack: null when it is not there. */
  async function optional(path) {
    const name = path.split("?")[0];
    if (absent.has(name)) return null;
    try {
      return await api("GET", path);
    } catch (e) {
      if (e.status === 404 && e.code === "NotFound") {
        absent.add(name);
        return null;
      }
      throw e;
    }
  }

  // ---------------------------------------------------------- formatting

  function text(el, value) {
    el.textContent = value === undefined || value === null || value === "" ? "—" : String(value);
  }

  function el(tag, className, content) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (content !== undefined) text(e, content);
    return e;
  }

  function num(n) {
    return typeof n === "number" && isFinite(n) ? n.toLocaleString("en-US") : "—";
  }

  function bytes(n) {
    if (typeof n !== "number" || !isFinite(n)) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
  }

  function percent(ratio) {
    return typeof ratio === "number" && isFinite(ratio) ? (ratio * 100).toFixed(1) + "%" : "—";
  }

  function seconds(s) {
    if (typeof s !== "number" || !isFinite(s)) return "—";
    const a = Math.abs(Math.round(s));
    if (a < 120) return a + " s";
    if (a < 7200) return Math.round(a / 60) + " min";
    if (a < 172800) return (a / 3600).toFixed(1) + " h";
    return (a / 86400).toFixed(1) + " d";
  }

  function rate(n) {
    if (typeof n !== "number" || !isFinite(n)) return "—";
    return n < 10 ? n.toFixed(1) : num(Math.round(n));
  }

  /** "1 hit", "3 hits". */
  function count(n, one, many) {
    return num(n) + " " + (n === 1 ? one : many || one + "s");
  }

  function sum(obj) {
    let total = 0;
    for (const v of Object.values(obj || {})) if (typeof v === "number") total += v;
    return total;
  }

  /** Hits (fresh and revalidated) over lookups, from a `requests` map. */
  function lookups(requests) {
    const r = requests || {};
    const hits = (r.Hit || 0) + (r.RefreshHit || 0);
    return { hits, misses: r.Miss || 0, total: hits + (r.Miss || 0) };
  }

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
    token = given;
    $("token-input").value = "";
    sessionStorage.setItem(TOKEN_KEY, token);
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

  /** Requests/s and bytes/s: the server's timeline if it keeps one, else this page's samples. */
  async function showCharts() {
    const timeline = await optional("/reports/timeline");
    let reqs = [];
    let byts = [];
    if (timeline && Array.isArray(timeline.points) && timeline.interval_seconds > 0) {
      const dt = timeline.interval_seconds;
      for (const p of timeline.points.slice(-HISTORY_POINTS)) {
        reqs.push(sum(p.requests) / dt);
        byts.push((p.bytes || 0) / dt);
      }
      text($("chart-source"), "Server timeline, one point per " + seconds(dt) + ".");
    } else {
      for (let i = 1; i < samples.length; i++) {
        const dt = Math.max(samples[i].t - samples[i - 1].t, 0.001);
        reqs.push(Math.max(sum(samples[i].requests) - sum(samples[i - 1].requests), 0) / dt);
        byts.push(Math.max(samples[i].bytes - samples[i - 1].bytes, 0) / dt);
      }
      text($("chart-source"), "Since this page was opened (the server keeps no timeline), one point per poll.");
    }
    draw($("chart-requests"), reqs);
    draw($("chart-bytes"), byts);
    $("chart-requests-max").textContent = reqs.length ? "(peak " + rate(Math.max(...reqs)) + ")" : "";
    $("chart-bytes-max").textContent = byts.length ? "(peak " + bytes(Math.max(...byts)) + "/s)" : "";
  }

  /** A line over a filled area, scaled to the largest value. */
  function draw(svg, values) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (values.length < 2) return;
    const w = 300;
    const h = 80;
    const max = Math.max(...values, 1e-9);
    const step = w / (values.length - 1);
    const pts = values.map((v, i) => (i * step).toFixed(1) + "," + (h - 2 - (v / max) * (h - 6)).toFixed(1));
    const area = document.createElementNS(SVG_NS, "polygon");
    area.setAttribute("class", "area");
    area.setAttribute("points", "0," + h + " " + pts.join(" ") + " " + w + "," + h);
    const line = document.createElementNS(SVG_NS, "polyline");
    line.setAttribute("class", "line");
    line.setAttribute("points", pts.join(" "));
    svg.appendChild(area);
    svg.appendChild(line);
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
      const tr = document.createElement("tr");
      tr.appendChild(el("td", "mono", o.host));
      const path = el("td", "mono");
      path.appendChild(explainLink(o.host, o.path));
      tr.appendChild(path);
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

  // ------------------------------------------------------------- explain

  function dl(pairs) {
    const list = document.createElement("dl");
    for (const [k, v] of pairs) {
      list.appendChild(el("dt", "", k));
      if (v instanceof Node) {
        const dd = document.createElement("dd");
        dd.appendChild(v);
        list.appendChild(dd);
      } else {
        list.appendChild(el("dd", "", v));
      }
    }
    return list;
  }

  function freshness(v) {
    if (typeof v.fresh_for !== "number") return el("span", "", "—");
    return v.fresh_for >= 0
      ? el("span", "fresh", "fresh for " + seconds(v.fresh_for))
      : el("span", "stale", "stale for " + seconds(-v.fresh_for));
  }

  function tiers(list) {
    const span = document.createElement("span");
    for (const t of list || []) span.appendChild(el("span", "tier", t));
    if (!span.firstChild) span.textContent = "—";
    return span;
  }

  function yesNo(b) {
    return b === true ? "yes" : b === false ? "no" : "—";
  }

  /** How a key's separators are shown (Latin-1 marks, in every font). */
  const KEY_SEPARATORS = {
    "\u001f": ["\u00b7", "part separator (U+001F)"],
    "\u001e": ["\u00a6", "part separator (U+001E)"],
    "\u001d": ["\u00bb", "variant separator (U+001D)"],
  };

  /** A cache key as a <code>, its separators as marked-up marks. */
  function keyElement(k) {
    const code = el("code");
    if (typeof k !== "string") {
      text(code, k);
      return code;
    }
    let part = "";
    const flush = () => {
      if (part) code.appendChild(document.createTextNode(part));
      part = "";
    };
    for (const c of k) {
      const sep = KEY_SEPARATORS[c];
      if (sep) {
        flush();
        const mark = el("span", "sep", sep[0]);
        mark.title = sep[1];
        code.appendChild(mark);
      } else {
        part += c < " " || c === "\u007f" ? "\ufffd" : c;
      }
    }
    flush();
    return code;
  }

  /** `Vary` values: `[[name, value|null], ...]` or `{name: value}`. */
  function varyText(vary) {
    const pairs = Array.isArray(vary) ? vary : Object.entries(vary || {});
    return pairs.map(([k, val]) => k + ": " + (val === null || val === undefined ? "(absent)" : val));
  }

  function renderExplain(x) {
    const out = $("explain-result");
    out.replaceChildren();
    if (x.why) out.appendChild(el("p", "why", x.why));
    const dist = x.distribution === null || x.distribution === undefined
      ? x.distribution
      : x.distribution + (x.enabled === false ? " (disabled)" : "");
    out.appendChild(
      dl([
        ["URL", x.url],
        ["Routed", yesNo(x.routed)],
        ["Distribution", dist],
        ["Behavior", x.behavior],
        ["Origin", x.origin === null && x.routed ? "default" : x.origin],
        ["Key", keyElement(x.key)],
        ["Stored", yesNo(x.stored)],
        ["Fill in flight", yesNo(x.fill_in_flight)],
      ]),
    );
    if (x.not_stored) {
      const ago = typeof x.not_stored.ago === "number" ? " (" + seconds(x.not_stored.ago) + " ago)" : "";
      out.appendChild(el("p", "error", "Last answer not stored: " + (x.not_stored.reason || "unknown reason") + ago));
    }
    const variants = Array.isArray(x.variants) ? x.variants : [];
    out.appendChild(el("h3", "", variants.length === 1 ? "1 stored variant" : variants.length + " stored variants"));
    variants.forEach((v) => {
      const vary = varyText(v.vary);
      const extra = [];
      if (v.stale_while_revalidate) extra.push("stale-while-revalidate " + seconds(v.stale_while_revalidate));
      if (v.stale_if_error) extra.push("stale-if-error " + seconds(v.stale_if_error));
      const validators = [v.etag ? "ETag " + v.etag : "", v.last_modified ? "Last-Modified " + v.last_modified : ""].filter(Boolean);
      const rows = [
        ["Variant key", keyElement(v.key)],
        ["Vary", vary.length ? vary.join("; ") : "—"],
        ["Status", v.status],
        ["Age", seconds(v.age)],
        ["Freshness", freshness(v)],
        ["Stale serving", extra.length ? extra.join(", ") : "—"],
        ["Size", bytes(v.size)],
        ["Tiers", tiers(v.tiers)],
        ["Tags", (v.tags || []).join(", ")],
        ["Soft-purged", yesNo(v.soft_purged)],
      ];
      if (v.slice) rows.splice(1, 0, ["Slice", v.slice]);
      if (validators.length) rows.push(["Validators", validators.join(", ")]);
      out.appendChild(dl(rows));
    });
  }

  async function explain() {
    let url = $("explain-url").value.trim();
    if (!url) return;
    if (!url.includes("://")) url = "http://" + url.replace(/^\/+/, "");
    let query = "/cache?url=" + encodeURIComponent(url);
    for (const line of $("explain-headers").value.split("\n")) {
      if (line.trim()) query += "&header=" + encodeURIComponent(line.trim());
    }
    const out = $("explain-result");
    const button = $("explain-submit");
    button.disabled = true;
    out.replaceChildren(el("p", "muted", "asking…"));
    try {
      const x = await optional(query);
      if (!x) {
        out.replaceChildren(el("p", "error", "This server cannot explain URLs (no GET /cache)."));
      } else {
        renderExplain(x);
      }
    } catch (e) {
      out.replaceChildren(el("p", "error", describe(e)));
    } finally {
      button.disabled = false;
    }
  }

  $("explain-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    explain();
  });

  // ---------------------------------------------------------------- keys

  const KEYS_PAGE = 50;
  let keysCursor = null;

  /** A button that fills the explain box with this URL and explains it. */
  function explainLink(host, path) {
    const b = el("button", "link", path);
    b.type = "button";
    b.title = "explain this URL";
    b.addEventListener("click", () => {
      $("explain-url").value = "http://" + (host || "") + (path || "/");
      explain();
      $("explain-section").scrollIntoView({ block: "nearest" });
    });
    return b;
  }

  /** One page of stored keys matching the filters; `more`: the next page. */
  async function listKeys(more) {
    const q = new URLSearchParams();
    for (const [id, name] of [["keys-host", "host"], ["keys-prefix", "prefix"], ["keys-tag", "tag"]]) {
      const v = $(id).value.trim();
      if (v) q.set(name, v);
    }
    q.set("limit", String(KEYS_PAGE));
    if (more && keysCursor) q.set("cursor", keysCursor);
    const body = $("keys").tBodies[0];
    const note = $("keys-note");
    note.className = "muted small";
    try {
      const page = await optional("/cache/keys?" + q.toString());
      if (!page) {
        text(note, "This server cannot list stored keys (no GET /cache/keys).");
        return;
      }
      const rows = (page.keys || []).map((k) => {
        const tr = document.createElement("tr");
        tr.appendChild(el("td", "mono", k.host));
        const path = el("td", "mono");
        path.appendChild(explainLink(k.host, k.path));
        tr.appendChild(path);
        tr.appendChild(el("td", "num", bytes(k.size)));
        tr.appendChild(el("td", "num", seconds(k.age)));
        const fresh = el("td");
        fresh.appendChild(freshness(k));
        tr.appendChild(fresh);
        tr.appendChild(el("td", "", k.tier));
        tr.appendChild(el("td", "", (k.tags || []).join(", ")));
        return tr;
      });
      if (more) body.append(...rows);
      else body.replaceChildren(...rows);
      keysCursor = page.next_cursor || null;
      $("keys-more").hidden = !keysCursor;
      text(note, body.rows.length === 0 ? "Nothing stored matches." : body.rows.length + " shown" + (keysCursor ? ", more on the next page" : ""));
    } catch (e) {
      note.className = "error small";
      text(note, describe(e));
    }
  }

  $("keys-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    listKeys(false);
  });
  $("keys-more").addEventListener("click", () => listKeys(true));

  // --------------------------------------------------------------- purge

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function purge() {
    const kind = $("purge-kind-tags").checked ? "tags" : "paths";
    const items = $("purge-items").value.split("\n").map((s) => s.trim()).filter(Boolean);
    const status = $("purge-status");
    if (!items.length) {
      status.className = "error";
      text(status, "Nothing to purge: give one " + (kind === "tags" ? "tag" : "path") + " per line.");
      return;
    }
    const body = { [kind]: items };
    const host = $("purge-host").value.trim();
    if (host && kind === "paths") body.host = host;
    const mode = $("purge-mode").value;
    if (mode === "stale") body.mode = "stale";
    const button = $("purge-submit");
    button.disabled = true;
    status.className = "muted";
    text(status, "purging…");
    try {
      const created = await api("POST", "/invalidations", body);
      const id = created && created.Invalidation && created.Invalidation.Id;
      let inv = created.Invalidation || {};
      const what = items.length + " " + (kind === "tags" ? "tag" : "path") + (items.length === 1 ? "" : "s") + (mode === "stale" ? " (soft: marked stale)" : "");
      // Bounded: a sweep of a large cache may take longer; the status
      // stays readable at GET /invalidations/{id}.
      for (let i = 0; i < 60 && inv.Status !== "Completed" && id; i++) {
        text(status, "Invalidation " + id + " of " + what + ": " + (inv.Status || "InProgress") + "…");
        await sleep(500);
        inv = ((await api("GET", "/invalidations/" + encodeURIComponent(id))) || {}).Invalidation || inv;
      }
      status.className = inv.Status === "Completed" ? "ok" : "muted";
      const entries = (n) => ", " + num(n) + (n === 1 ? " entry " : " entries ");
      let removed = "";
      if (typeof inv.EntriesRemoved === "number") removed = entries(inv.EntriesRemoved) + "removed";
      if (typeof inv.EntriesMarkedStale === "number") removed = entries(inv.EntriesMarkedStale) + "marked stale";
      text(status, "Invalidation " + id + " of " + what + ": " + (inv.Status || "InProgress") + removed + ".");
      poll();
    } catch (e) {
      status.className = "error";
      let message = describe(e);
      if (mode === "stale" && e.status === 400 && e.code === "MalformedInput") message += " (this server does not know soft purges)";
      text(status, "Purge failed: " + message);
    } finally {
      button.disabled = false;
    }
  }

  $("purge-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    purge();
  });

  // ---------------------------------------------------------------- poll

  function describe(e) {
    if (e instanceof ApiError) return (e.code ? e.code + ": " : "") + e.message;
    return String(e && e.message ? e.message : e);
  }

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
      setStatus("updated " + new Date().toLocaleTimeString() + (token ? "" : " (no token: loopback access)"));
    } catch (e) {
      report(e);
    } finally {
      polling = false;
      if (!waitingForToken && !document.hidden) timer = setTimeout(poll, POLL_MS);
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
    } else if (!waitingForToken) {
      poll();
    }
  });

  poll();
})();
