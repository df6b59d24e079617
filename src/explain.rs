//! Looking inside the cache: [`CacheHandle::explain`] ("why did this
//! miss?") and [`CacheHandle::keys`] (pages of what is stored), which the
//! admin API serves as `GET /cache?url=` and `GET /cache/keys`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap};
use serde::Serialize;

use crate::CacheHandle;
use crate::cache::entry::Entry;
use crate::cache::key::{self, CacheKey};
use crate::cache::local::Shown;

/// What the cache knows about one URL: where it routes, what it is keyed
/// on, what is stored for it and, when nothing is, why the last answer was
/// not kept. From [`CacheHandle::explain`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The URL asked about.
    pub url: String,
    /// Its host and port, lower case.
    pub host: String,
    /// Its path and query.
    pub path: String,
    /// Whether a distribution's behavior handles it (else the request
    /// passes to the wrapped app untouched, or is refused).
    pub routed: bool,
    /// The distribution that answers for the host.
    pub distribution: Option<String>,
    /// Whether that distribution is enabled.
    pub enabled: bool,
    /// The path pattern of the behavior the path matches.
    pub behavior: Option<String>,
    /// The origin id of that behavior (`None` for the default origin).
    pub origin: Option<String>,
    /// The primary cache key (U+001F, U+001E and U+001D separate its parts).
    pub key: Option<String>,
    /// Whether a usable response is stored (fresh or stale).
    pub stored: bool,
    /// Each stored response for the URI: itself, its variants and slices.
    pub variants: Vec<StoredVariant>,
    /// Whether the shared tier (Redis) holds the response a request with
    /// the given headers would get; `None` without a shared tier, or when
    /// Redis did not answer.
    pub l2: Option<bool>,
    /// Whether an origin fetch for the key is in flight now.
    pub fill_in_flight: bool,
    /// Why the origin's last answer for the URI was not stored, if this
    /// edge remembers it.
    pub not_stored: Option<NotStoredNote>,
    /// The answer in one sentence.
    pub why: String,
}

/// One stored response, as [`Explanation`] and [`KeyPage`] show it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StoredVariant {
    /// Its store key.
    pub key: String,
    /// The request fields it was chosen by (`Vary`), with the values it
    /// answers (`None`: the field was absent).
    pub vary: Vec<(String, Option<String>)>,
    /// The byte range it holds, when it is a slice of a larger object.
    pub slice: Option<String>,
    /// Status code stored.
    pub status: u16,
    /// Its age, in seconds.
    pub age: u64,
    /// Freshness left, in seconds (negative when stale).
    pub fresh_for: i64,
    /// Seconds it may be served stale while revalidating.
    pub stale_while_revalidate: u64,
    /// Seconds it may be served stale when the origin fails.
    pub stale_if_error: u64,
    /// Body bytes.
    pub size: u64,
    /// Its purge tags.
    pub tags: Vec<String>,
    /// Where it is: `memory`, `disk`.
    pub tiers: Vec<&'static str>,
    /// A soft purge marked it stale.
    pub soft_purged: bool,
    /// Its validators, for revalidation.
    pub etag: Option<String>,
    /// Its `Last-Modified`.
    pub last_modified: Option<String>,
}

/// Why an answer was not stored, and how long ago.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct NotStoredNote {
    /// The `Cache-Status` detail token (`no-store`, `private`, `set-cookie`, ...).
    pub reason: &'static str,
    /// Seconds since that answer.
    pub ago: u64,
}

/// What [`CacheHandle::keys`] lists.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct KeyQuery {
    /// Only this host.
    pub host: Option<String>,
    /// Only paths starting with this.
    pub prefix: Option<String>,
    /// Only entries carrying this purge tag.
    pub tag: Option<String>,
    /// At most this many (1..=1000; default 100).
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl KeyQuery {
    /// Everything, 100 per page.
    pub fn new() -> Self {
        KeyQuery { limit: DEFAULT_PAGE, ..KeyQuery::default() }
    }
}

/// One page of stored keys, in key order.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct KeyPage {
    /// The stored responses on this page.
    pub keys: Vec<ListedKey>,
    /// Give it back as [`KeyQuery::cursor`] for the next page; `None` on
    /// the last one.
    pub next_cursor: Option<String>,
}

/// One stored response in a [`KeyPage`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ListedKey {
    /// Its store key.
    pub key: String,
    /// Its host.
    pub host: String,
    /// Its path and query.
    pub path: String,
    /// Body bytes (the file's size for one only on disk).
    pub size: u64,
    /// Seconds since it was stored or last validated.
    pub age: u64,
    /// Freshness left in seconds (negative when stale); `None` for one
    /// only on disk (read when used).
    pub fresh_for: Option<i64>,
    /// Its purge tags.
    pub tags: Vec<String>,
    /// `memory`, `disk`, or `memory+disk`.
    pub tier: &'static str,
}

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

impl CacheHandle {
    /// Explains what the cache does with a GET of `url` (`http://host/path?query`)
    /// carrying `headers` (for keys and variants that depend on them).
    /// Walks the store (and the disk tier's index) off the async runtime:
    /// meant for operators, not for the request path.
    pub async fn explain(&self, url: &str, headers: HeaderMap) -> Result<Explanation, String> {
        let this = self.clone();
        let url = url.to_owned();
        #[cfg(feature = "l2")]
        let asked = headers.clone();
        #[cfg_attr(not(feature = "l2"), allow(unused_mut))]
        let mut out = tokio::task::spawn_blocking(move || this.explain_blocking(&url, headers))
            .await
            .map_err(|_| "the explanation failed".to_owned())??;
        #[cfg(feature = "l2")]
        if let (Some(fleet), Some(primary)) = (&self.edge().fleet, &out.key) {
            out.l2 = fleet.holds(primary, &asked).await;
            if out.l2 == Some(true) && !out.stored {
                out.stored = true;
                out.why = "in the shared tier (Redis) only: the next request here is an L2 hit".to_owned();
            }
        }
        Ok(out)
    }

    fn explain_blocking(&self, url: &str, headers: HeaderMap) -> Result<Explanation, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("{url:?}: give an http:// or https:// URL"));
        }
        let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host: give http://host/path"))?;
        // As the key holds it: lower case, with the port when one is given
        // (user information is not part of a request's `Host`).
        let authority = authority.as_str().rsplit('@').next().unwrap_or("");
        let host = authority.to_ascii_lowercase();
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let mut req = http::Request::get(&path).body(()).map_err(|e| e.to_string())?;
        *req.headers_mut() = headers;
        let host_value = http::HeaderValue::from_str(authority).map_err(|e| e.to_string())?;
        req.headers_mut().insert(header::HOST, host_value);
        let (mut parts, ()) = req.into_parts();
        let edge = self.edge();
        // The same canonical target a request gets (400 before any lookup).
        let refused = crate::flow::normalize_target(&mut parts).err();
        let explained = edge.routes.load().explain(&mut parts);
        let now = edge.now();
        let mut out = Explanation {
            url: url.to_owned(),
            host,
            path,
            routed: false,
            distribution: explained.distribution.clone(),
            enabled: explained.enabled,
            behavior: explained.behavior.as_ref().map(|b| b.pattern.as_str().to_owned()),
            origin: explained.behavior.as_ref().and_then(|b| b.origin_id.as_deref().map(str::to_owned)),
            key: None,
            stored: false,
            variants: Vec::new(),
            l2: None,
            fill_in_flight: false,
            not_stored: None,
            why: String::new(),
        };
        if let Some(why) = refused {
            out.why = format!("refused before any lookup ({}): a request for it gets 400", why.as_str());
            return Ok(out);
        }
        let primary = match (&explained.distribution, explained.key) {
            (None, _) => {
                out.why = "no distribution answers for this host: requests pass to the app untouched".into();
                return Ok(out);
            }
            (Some(_), Some(Err(refusal))) => {
                out.why = format!("refused before any lookup ({})", refusal.reason());
                return Ok(out);
            }
            (Some(_), None) => {
                out.why = "the distribution has no behavior for this path".into();
                return Ok(out);
            }
            (Some(_), Some(Ok(primary))) => primary,
        };
        out.routed = explained.enabled;
        out.key = Some(primary.to_string());
        out.fill_in_flight = edge.cache.fill_joinable(&primary);
        let shown = edge.cache.stored_for_uri(&primary);
        let on_disk = self.disk_keys(&primary);
        out.variants =
            shown.iter().map(|s| variant(s, now, on_disk.iter().any(|k| **k == *without_generation(&s.key)))).collect();
        out.stored = !out.variants.is_empty() || !on_disk.is_empty();
        if let Some((reason, at)) = edge.cache.not_stored(&primary) {
            let ago = now.duration_since(at).unwrap_or(Duration::ZERO).as_secs();
            out.not_stored = Some(NotStoredNote { reason: reason.as_str(), ago });
        }
        out.why = sentence(&out, !on_disk.is_empty(), explained.behavior.as_deref());
        Ok(out)
    }

    /// The disk tier's files for a URI (its key and its variants').
    #[cfg(feature = "disk")]
    fn disk_keys(&self, primary: &str) -> Vec<Box<str>> {
        let Some(disk) = self.edge().cache.disk() else { return Vec::new() };
        disk.keys_where(None, |k, _| key::is_same_uri(k, primary))
    }

    #[cfg(not(feature = "disk"))]
    fn disk_keys(&self, _primary: &str) -> Vec<Box<str>> {
        Vec::new()
    }

    /// One page of what is stored, in key order, filtered by host, path
    /// prefix or tag. The first page walks the store once (short read
    /// locks, never a write lock, off the async runtime) and keeps the
    /// sorted keys of the listing for a minute, so each later page costs
    /// its own length, not another walk; a cursor older than that goes on
    /// after its last key with a fresh walk. `Err` for a cursor this edge
    /// did not give.
    pub async fn keys(&self, query: KeyQuery) -> Result<KeyPage, String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.keys_blocking(&query))
            .await
            .map_err(|_| "the listing failed".to_owned())?
    }

    fn keys_blocking(&self, q: &KeyQuery) -> Result<KeyPage, String> {
        let limit = if q.limit == 0 { DEFAULT_PAGE } else { q.limit.min(MAX_PAGE) };
        let cursor = match q.cursor.as_deref() {
            Some(c) => Some(Cursor::decode(c).ok_or_else(|| format!("cursor {c:?} is not one this edge gave"))?),
            None => None,
        };
        let edge = self.edge();
        let kept = cursor.as_ref().and_then(|c| edge.cache.listing(c.listing).map(|keys| (c.listing, keys, c.pos)));
        let (listing, keys, mut pos) = match kept {
            Some(found) => found,
            None => {
                let after = cursor.as_ref().map(|c| c.last.as_str());
                let keys: Arc<[CacheKey]> = self.sorted_keys(q, after).into();
                (edge.cache.keep_listing(Arc::clone(&keys)), keys, 0)
            }
        };
        let now = edge.now();
        let mut rows = Vec::with_capacity(limit.min(keys.len()));
        while pos < keys.len() && rows.len() < limit {
            if let Some(row) = self.row(&keys[pos], now) {
                rows.push(row);
            }
            pos += 1;
        }
        let next_cursor = (pos < keys.len())
            .then(|| rows.last().map(|r: &ListedKey| Cursor { listing, pos, last: r.key.clone() }.encode()))
            .flatten();
        Ok(KeyPage { keys: rows, next_cursor })
    }

    /// Every stored key (memory and disk) after `after` that the query
    /// selects, sorted, once each.
    fn sorted_keys(&self, q: &KeyQuery, after: Option<&str>) -> Vec<CacheKey> {
        let host = q.host.as_deref().map(|h| h.trim_end_matches('.').to_ascii_lowercase());
        let wanted = |k: &str, tags: &[Box<str>]| {
            host.as_deref().is_none_or(|h| key::key_host(k) == h)
                && q.prefix.as_deref().is_none_or(|p| key::key_path(k).starts_with(p))
                && q.tag.as_deref().is_none_or(|t| tags.iter().any(|x| **x == *t))
        };
        let cache = &self.edge().cache;
        #[cfg_attr(not(feature = "disk"), allow(unused_mut))]
        let mut keys = cache.matching_keys(after, |k, e| wanted(k, e.tags()));
        #[cfg(feature = "disk")]
        if let Some(disk) = cache.disk() {
            keys.extend(disk.keys_where(after, |k, tags| wanted(k, tags)).into_iter().map(CacheKey::from));
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// A listed key as it is now (`None` when it left meanwhile).
    fn row(&self, key: &CacheKey, now: SystemTime) -> Option<ListedKey> {
        let cache = &self.edge().cache;
        let memory = cache.shown_at(key).map(|s| listed(&s, now));
        #[cfg(feature = "disk")]
        if let Some(disk) = cache.disk() {
            return match (memory, disk.item(key)) {
                (Some(mut row), Some(_)) => {
                    row.tier = "memory+disk";
                    Some(row)
                }
                (Some(row), None) => Some(row),
                (None, Some(item)) => Some(listed_file(&item, now)),
                (None, None) => None,
            };
        }
        memory
    }
}

/// Where a listing goes on: its kept keys and the position in them, and
/// the last key shown (to go on from when the listing is no longer kept).
struct Cursor {
    listing: u64,
    pos: usize,
    last: String,
}

impl Cursor {
    fn encode(&self) -> String {
        use base64::Engine as _;
        let text = format!("{}:{}:{}", self.listing, self.pos, self.last);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    fn decode(cursor: &str) -> Option<Self> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, ':');
        let listing = parts.next()?.parse().ok()?;
        let pos = parts.next()?.parse().ok()?;
        Some(Cursor { listing, pos, last: parts.next()?.to_owned() })
    }
}

fn variant(s: &Shown, now: SystemTime, on_disk: bool) -> StoredVariant {
    let e: &Entry = &s.entry;
    let meta = &e.head().meta;
    let (vary, slice) = describe_suffix(&s.key);
    let text = |name: header::HeaderName| e.head().headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut tiers = vec!["memory"];
    if on_disk {
        tiers.push("disk");
    }
    StoredVariant {
        key: s.key.to_string(),
        vary,
        slice,
        status: e.head().status.as_u16(),
        age: meta.clock.current_age(now).as_secs(),
        fresh_for: fresh_for(e, s.soft_purged, now),
        stale_while_revalidate: meta.stale_while_revalidate.as_secs(),
        stale_if_error: meta.stale_if_error.as_secs(),
        size: e.body().iter().map(|b| b.len() as u64).sum(),
        tags: e.tags().iter().map(|t| t.to_string()).collect(),
        tiers,
        soft_purged: s.soft_purged,
        etag: text(header::ETAG),
        last_modified: text(header::LAST_MODIFIED),
    }
}

/// Freshness left in whole seconds, negative when stale (a soft-purged
/// entry is stale whatever its lifetime said).
fn fresh_for(e: &Entry, soft_purged: bool, now: SystemTime) -> i64 {
    let meta = &e.head().meta;
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if soft_purged {
        return -secs(meta.staleness(now));
    }
    if meta.is_fresh(now) { secs(meta.remaining(now)) } else { -secs(meta.staleness(now)) }
}

fn listed(s: &Shown, now: SystemTime) -> ListedKey {
    let e = &s.entry;
    ListedKey {
        key: s.key.to_string(),
        host: key::key_host(&s.key).to_owned(),
        path: key::key_path(&s.key).to_owned(),
        size: e.body().iter().map(|b| b.len() as u64).sum(),
        age: e.head().meta.clock.current_age(now).as_secs(),
        fresh_for: Some(fresh_for(e, s.soft_purged, now)),
        tags: e.tags().iter().map(|t| t.to_string()).collect(),
        tier: "memory",
    }
}

#[cfg(feature = "disk")]
fn listed_file(item: &crate::cache::disk::DiskItem, now: SystemTime) -> ListedKey {
    let written = SystemTime::UNIX_EPOCH + Duration::from_nanos(item.written);
    ListedKey {
        key: item.key.to_string(),
        host: key::key_host(&item.key).to_owned(),
        path: key::key_path(&item.key).to_owned(),
        size: item.size,
        age: now.duration_since(written).unwrap_or(Duration::ZERO).as_secs(),
        fresh_for: None,
        tags: item.tags.iter().map(|t| t.to_string()).collect(),
        tier: "disk",
    }
}

/// A variant's store key as the disk tier and L2 name it (without the
/// generation of the memory tier's `Vary` marker).
fn without_generation(store_key: &str) -> std::borrow::Cow<'_, str> {
    let parts: Vec<&str> = store_key.split('\u{1d}').collect();
    match parts.as_slice() {
        [primary, generation, secondary] if generation.bytes().all(|b| b.is_ascii_digit()) => {
            std::borrow::Cow::Owned(format!("{primary}\u{1d}{secondary}"))
        }
        _ => std::borrow::Cow::Borrowed(store_key),
    }
}

/// The `Vary` fields and values, or the slice, a store key's suffix names.
fn describe_suffix(store_key: &str) -> (Vec<(String, Option<String>)>, Option<String>) {
    let mut parts = store_key.split('\u{1d}').skip(1);
    let Some(first) = parts.next() else { return (Vec::new(), None) };
    if first == "slice" {
        let slice = parts.next().and_then(|s| {
            let (size, index) = s.split_once(':')?;
            let (size, index): (u64, u64) = (size.parse().ok()?, index.parse().ok()?);
            let start = size.checked_mul(index)?;
            Some(format!("bytes={start}-{}", start + size - 1))
        });
        return (Vec::new(), slice);
    }
    // `generation` then the secondary key, or the secondary key alone.
    let secondary = parts.next().unwrap_or(first);
    let vary = secondary
        .split('\u{1e}')
        .filter(|f| !f.is_empty())
        .map(|f| match f.split_once(':') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (f.to_owned(), None),
        })
        .collect();
    (vary, None)
}

fn sentence(e: &Explanation, on_disk: bool, behavior: Option<&crate::route::Behavior>) -> String {
    let mut why = if !e.enabled {
        "the distribution is disabled: nothing is served from the cache".to_owned()
    } else if let Some(v) = e.variants.iter().find(|v| v.fresh_for > 0 && !v.soft_purged) {
        format!("stored and fresh for {} s more: the next request is a hit", v.fresh_for)
    } else if e.variants.iter().any(|v| v.soft_purged) {
        "soft-purged: the next request is served stale while one refresh runs".to_owned()
    } else if !e.variants.is_empty() {
        "stored but stale: the next request revalidates it (or serves it stale where allowed)".to_owned()
    } else if on_disk {
        "on disk only: the next request reads it from the disk tier".to_owned()
    } else if let Some(n) = &e.not_stored {
        format!("not stored: the origin's last answer, {} s ago, was not storable ({})", n.ago, n.reason)
    } else if e.fill_in_flight {
        "being fetched from the origin now".to_owned()
    } else {
        "not stored: never requested here since it was last purged, evicted or the edge started".to_owned()
    };
    if behavior.is_some_and(|b| b.hooks.viewer_request.is_some() || b.rewrite.is_some()) {
        why.push_str("; the behavior rewrites requests or runs a hook, which may change the key of a real request");
    }
    why
}
