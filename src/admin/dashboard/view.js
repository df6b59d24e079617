// Formatting and DOM helpers. Everything the API returns may carry
// attacker-chosen text (cached URLs, hosts, tags, Vary values): it only
// ever goes into the page as text (`textContent`, `createTextNode`),
// never parsed as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

export const $ = (id) => document.getElementById(id);

export function text(el, value) {
  el.textContent = value === undefined || value === null || value === "" ? "—" : String(value);
}

export function el(tag, className, content) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (content !== undefined) text(e, content);
  return e;
}

export function num(n) {
  return typeof n === "number" && isFinite(n) ? n.toLocaleString("en-US") : "—";
}

export function bytes(n) {
  if (typeof n !== "number" || !isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

export function percent(ratio) {
  return typeof ratio === "number" && isFinite(ratio) ? (ratio * 100).toFixed(1) + "%" : "—";
}

export function seconds(s) {
  if (typeof s !== "number" || !isFinite(s)) return "—";
  const a = Math.abs(Math.round(s));
  if (a < 120) return a + " s";
  if (a < 7200) return Math.round(a / 60) + " min";
  if (a < 172800) return (a / 3600).toFixed(1) + " h";
  return (a / 86400).toFixed(1) + " d";
}

export function rate(n) {
  if (typeof n !== "number" || !isFinite(n)) return "—";
  return n < 10 ? n.toFixed(1) : num(Math.round(n));
}

/** "1 hit", "3 hits". */
export function count(n, one, many) {
  return num(n) + " " + (n === 1 ? one : many || one + "s");
}

export function sum(obj) {
  let total = 0;
  for (const v of Object.values(obj || {})) if (typeof v === "number") total += v;
  return total;
}

/** Hits (fresh and revalidated) over lookups, from a `requests` map. */
export function lookups(requests) {
  const r = requests || {};
  const hits = (r.Hit || 0) + (r.RefreshHit || 0);
  return { hits, misses: r.Miss || 0, total: hits + (r.Miss || 0) };
}

/** A line over a filled area, scaled to the largest value. */
export function draw(svg, values) {
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

export function dl(pairs) {
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

export function freshness(v) {
  if (typeof v.fresh_for !== "number") return el("span", "", "—");
  return v.fresh_for >= 0
    ? el("span", "fresh", "fresh for " + seconds(v.fresh_for))
    : el("span", "stale", "stale for " + seconds(-v.fresh_for));
}

export function tiers(list) {
  const span = document.createElement("span");
  for (const t of list || []) span.appendChild(el("span", "tier", t));
  if (!span.firstChild) span.textContent = "—";
  return span;
}

export function yesNo(b) {
  return b === true ? "yes" : b === false ? "no" : "—";
}

/** How a key's separators are shown (Latin-1 marks, in every font). */
const KEY_SEPARATORS = {
  "\u001f": ["\u00b7", "part separator (U+001F)"],
  "\u001e": ["\u00a6", "part separator (U+001E)"],
  "\u001d": ["\u00bb", "variant separator (U+001D)"],
};

/** A cache key as a <code>, its separators as marked-up marks. */
export function keyElement(k) {
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
export function varyText(vary) {
  const pairs = Array.isArray(vary) ? vary : Object.entries(vary || {});
  return pairs.map(([k, val]) => k + ": " + (val === null || val === undefined ? "(absent)" : val));
}
