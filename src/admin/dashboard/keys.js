// Stored objects: pages of GET /cache/keys by host, path prefix or tag.

import { describe, optional } from "./api.js";
import { objectRow } from "./explain.js";
import { $, bytes, el, freshness, seconds, text } from "./view.js";

const KEYS_PAGE = 50;
let keysCursor = null;

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
      const tr = objectRow(k.host, k.path);
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
