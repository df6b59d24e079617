// The purge form: paths or tags, hard or soft (POST /invalidations), and
// the invalidation's progress. Tells the page to refresh when done.

import { api, describe } from "./api.js";
import { $, num, text } from "./view.js";

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
    document.dispatchEvent(new Event("tower-cdn:changed"));
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
