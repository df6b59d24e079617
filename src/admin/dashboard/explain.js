// The explain box: a URL (and optional request headers) in, how the edge
// sees it out (GET /cache?url=).

import { describe, optional } from "./api.js";
import { $, bytes, dl, el, freshness, keyElement, seconds, tiers, varyText, yesNo } from "./view.js";

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

export async function explain() {
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

/** A table row that starts with an object's host and its path (which explains it). */
export function objectRow(host, path) {
  const tr = document.createElement("tr");
  tr.appendChild(el("td", "mono", host));
  const cell = el("td", "mono");
  cell.appendChild(explainLink(host, path));
  tr.appendChild(cell);
  return tr;
}
