//! Conditional requests (RFC 9110 §13), sans-IO.
//!
//! [`evaluate`] applies `If-Match`, `If-Unmodified-Since`, `If-None-Match`
//! and `If-Modified-Since` to a stored 2xx representation in the order of
//! RFC 9110 §13.2.2; [`if_range_allows`] decides whether `Range` is honoured
//! (§13.1.5); [`not_modified_headers`] builds a 304's header set (§15.4.5);
//! [`revalidation_headers`] builds a cache's validating request
//! (RFC 9111 §4.3.1). Entity tags live in [`EntityTag`] / [`EtagList`].

use std::time::{SystemTime, UNIX_EPOCH};

use http::Method;
use http::header::{
    ETAG, HeaderMap, HeaderName, HeaderValue, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
    IF_UNMODIFIED_SINCE, LAST_MODIFIED,
};

mod etag;
mod headers;
pub use etag::{EntityTag, EtagList, parse_etag_list};
pub use headers::{not_modified_headers, revalidation_headers};

/// Validators of the selected (cached) representation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validators<'a> {
    /// The stored `ETag` field value (an unparsable one matches nothing).
    pub etag: Option<&'a HeaderValue>,
    /// The stored `Last-Modified`. A cache without one MAY pass the stored
    /// `Date` (or receipt time) instead, per RFC 9111 §4.3.2.
    pub last_modified: Option<SystemTime>,
}

impl<'a> Validators<'a> {
    /// Read `ETag` and `Last-Modified` from stored response headers (a
    /// repeated or unparsable `Last-Modified` counts as absent).
    pub fn from_headers(stored: &'a HeaderMap) -> Self {
        Self { etag: stored.get(ETAG), last_modified: single_date(stored, &LAST_MODIFIED) }
    }
}

/// What to do with the request after evaluating preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Serve normally (maybe as a range; check [`if_range_allows`]).
    Proceed,
    /// 304 Not Modified (GET/HEAD only); headers from [`not_modified_headers`].
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluate `If-Match`, `If-Unmodified-Since`, `If-None-Match` and
/// `If-Modified-Since` in the order of RFC 9110 §13.2.2 against a stored
/// 2xx representation (the caller only calls this for 2xx entries).
///
/// Written for GET/HEAD; for other methods a false `If-None-Match` yields
/// [`Precondition::Failed`] and `If-Modified-Since` is ignored (§13.1.2,
/// §13.1.3). Note RFC 9111 §4.3.2: `If-Match`/`If-Unmodified-Since` are
/// origin-server conditions; a cache may prefer to forward such requests.
pub fn evaluate(method: &Method, req_headers: &HeaderMap, v: &Validators) -> Precondition {
    let current = v.etag.and_then(|e| EntityTag::parse_bytes(e.as_bytes()));
    let get_or_head = method == Method::GET || method == Method::HEAD;

    if req_headers.contains_key(IF_MATCH) {
        // §13.2.2 step 1; §13.1.1: strong comparison, `*` is true when a
        // current representation exists (it does: it is stored). An
        // unparsable list can match nothing, so it is false.
        let ok = match parse_etag_list(req_headers.get_all(IF_MATCH)) {
            EtagList::Any => true,
            EtagList::Tags(tags) => current.as_ref().is_some_and(|c| tags.iter().any(|t| t.strong_eq(c))),
            EtagList::Invalid => false,
        };
        if !ok {
            return Precondition::Failed;
        }
    } else if let Some(since) = single_date(req_headers, &IF_UNMODIFIED_SINCE)
        && let Some(modified) = v.last_modified
    {
        // §13.2.2 step 2; §13.1.4: ignored when If-Match is present, when not
        // a single valid HTTP-date, or when there is no modification date.
        // False when the representation was modified after the date.
        if unix_secs(modified) > unix_secs(since) {
            return Precondition::Failed;
        }
    }

    if req_headers.contains_key(IF_NONE_MATCH) {
        // §13.2.2 step 3; §13.1.2: weak comparison, `*` is false when a
        // current representation exists. An unparsable list is treated as
        // matching nothing (true), so garbage never produces a 304.
        let ok = match parse_etag_list(req_headers.get_all(IF_NONE_MATCH)) {
            EtagList::Any => false,
            EtagList::Tags(tags) => !current.as_ref().is_some_and(|c| tags.iter().any(|t| t.weak_eq(c))),
            EtagList::Invalid => true,
        };
        if !ok {
            // §13.1.2: 304 for GET/HEAD, 412 for any other method.
            return if get_or_head { Precondition::NotModified } else { Precondition::Failed };
        }
    } else if get_or_head
        && let Some(since) = single_date(req_headers, &IF_MODIFIED_SINCE)
        && let Some(modified) = v.last_modified
    {
        // §13.2.2 step 4; §13.1.3: only GET/HEAD, ignored with If-None-Match,
        // an invalid or multi-member date, or no modification date. False
        // (→ 304) when last modification is earlier than or equal to the date.
        if unix_secs(modified) <= unix_secs(since) {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

/// `If-Range` (RFC 9110 §13.1.5): whether a `Range` header should be
/// honoured (`false` → ignore `Range`, send 200 with the full
/// representation). Absent → `true`. An entity-tag matches only by strong
/// comparison with the current `ETag` (so weak tags never match); an
/// HTTP-date only if it equals `Last-Modified` (to the second). A repeated
/// or unparsable `If-Range` → `false`.
pub fn if_range_allows(req_headers: &HeaderMap, v: &Validators) -> bool {
    let mut values = req_headers.get_all(IF_RANGE).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return true,
        (Some(value), None) => value,
        (Some(_), Some(_)) => return false,
    };
    let raw = trim_ows(value.as_bytes());
    // §13.1.5: an entity-tag is told from an HTTP-date by a DQUOTE in the
    // first three characters.
    if raw.iter().take(3).any(|&b| b == b'"') {
        let current = v.etag.and_then(|e| EntityTag::parse_bytes(e.as_bytes()));
        return match (EntityTag::parse_bytes(raw), current) {
            (Some(tag), Some(current)) => tag.strong_eq(&current),
            _ => false,
        };
    }
    // §13.1.5: the date must exactly match Last-Modified. (The additional
    // "strong validator" test of §8.8.2.2 is left to the caller.)
    match (parse_date(value), v.last_modified) {
        (Some(date), Some(modified)) => unix_secs(date) == unix_secs(modified),
        _ => false,
    }
}

/// The only value of `name`, or `None` if absent or repeated.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// A single-valued HTTP-date field (RFC 9110 §5.6.7); a repeated field
/// ("more than one member", §13.1.3/§13.1.4) or an invalid date is `None`.
fn single_date(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    single(headers, name).and_then(parse_date)
}

/// Parse an HTTP-date (IMF-fixdate, or the obsolete RFC 850 / asctime forms
/// that §5.6.7 says recipients MUST accept).
fn parse_date(value: &HeaderValue) -> Option<SystemTime> {
    let text = std::str::from_utf8(trim_ows(value.as_bytes())).ok()?;
    httpdate::parse_http_date(text).ok()
}

/// Whole seconds since the epoch, floored: HTTP-dates have one-second
/// resolution (RFC 9110 §5.6.7), so comparisons are made at that grain.
fn unix_secs(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => {
            let d = e.duration();
            let partial = i128::from(d.subsec_nanos() > 0);
            i128::from(d.as_secs()).saturating_neg().saturating_sub(partial)
        }
    }
}

/// Strip optional whitespace (SP / HTAB, RFC 9110 §5.6.3) at both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    // Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT (plus sub-second noise)
    const LM_SECS: u64 = 784_111_777;
    const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    fn lm() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(LM_SECS * 1000 + 750)
    }

    /// Request fields of one table row.
    type Fields<'a> = &'a [(&'a HeaderName, &'a str)];

    fn headers(pairs: Fields<'_>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append((*name).clone(), HeaderValue::from_str(value).expect("valid"));
        }
        map
    }

    #[test]
    fn evaluate_table() {
        use Precondition::{Failed, NotModified as Nm, Proceed};
        let etag = HeaderValue::from_static("\"abc\"");
        let v = Validators { etag: Some(&etag), last_modified: Some(lm()) };
        let (get, head, post) = (&Method::GET, &Method::HEAD, &Method::POST);
        #[rustfmt::skip]
        let cases: &[(&str, &Method, Fields, Precondition)] = &[
            ("unconditional", get, &[], Proceed),
            // If-None-Match (§13.1.2, weak comparison)
            ("INM match", get, &[(&IF_NONE_MATCH, "\"abc\"")], Nm),
            ("INM match HEAD", head, &[(&IF_NONE_MATCH, "\"abc\"")], Nm),
            ("INM weak vs strong", get, &[(&IF_NONE_MATCH, "W/\"abc\"")], Nm),
            ("INM no match", get, &[(&IF_NONE_MATCH, "\"xyz\"")], Proceed),
            ("INM list with spaces", get, &[(&IF_NONE_MATCH, "\"x\" ,  W/\"abc\" , \"y\"")], Nm),
            ("INM split lines", get, &[(&IF_NONE_MATCH, "\"x\""), (&IF_NONE_MATCH, "\"abc\"")], Nm),
            ("INM star", get, &[(&IF_NONE_MATCH, "*")], Nm),
            ("INM invalid → no 304", get, &[(&IF_NONE_MATCH, "abc")], Proceed),
            ("INM match on POST → 412", post, &[(&IF_NONE_MATCH, "\"abc\"")], Failed),
            // If-Modified-Since (§13.1.3)
            ("IMS exact second", get, &[(&IF_MODIFIED_SINCE, LM)], Nm),
            ("IMS later", get, &[(&IF_MODIFIED_SINCE, AFTER)], Nm),
            ("IMS earlier", get, &[(&IF_MODIFIED_SINCE, BEFORE)], Proceed),
            ("IMS RFC 850 form", get, &[(&IF_MODIFIED_SINCE, "Sunday, 06-Nov-94 08:49:37 GMT")], Nm),
            ("IMS asctime form", get, &[(&IF_MODIFIED_SINCE, "Sun Nov  6 08:49:37 1994")], Nm),
            ("IMS invalid date", get, &[(&IF_MODIFIED_SINCE, "yesterday")], Proceed),
            ("IMS two lines", get, &[(&IF_MODIFIED_SINCE, LM), (&IF_MODIFIED_SINCE, LM)], Proceed),
            ("IMS on POST ignored", post, &[(&IF_MODIFIED_SINCE, AFTER)], Proceed),
            ("IMS ignored with INM", get, &[(&IF_NONE_MATCH, "\"xyz\""), (&IF_MODIFIED_SINCE, AFTER)], Proceed),
            ("INM wins over stale IMS", get, &[(&IF_NONE_MATCH, "\"abc\""), (&IF_MODIFIED_SINCE, BEFORE)], Nm),
            // If-Match (§13.1.1, strong comparison)
            ("IM match", get, &[(&IF_MATCH, "\"abc\"")], Proceed),
            ("IM no match", get, &[(&IF_MATCH, "\"xyz\"")], Failed),
            ("IM weak never matches", get, &[(&IF_MATCH, "W/\"abc\"")], Failed),
            ("IM list", get, &[(&IF_MATCH, "\"x\", \"abc\"")], Proceed),
            ("IM star", get, &[(&IF_MATCH, "*")], Proceed),
            ("IM invalid", get, &[(&IF_MATCH, "\"abc\", *")], Failed),
            // If-Unmodified-Since (§13.1.4)
            ("IUS earlier → 412", get, &[(&IF_UNMODIFIED_SINCE, BEFORE)], Failed),
            ("IUS exact second", get, &[(&IF_UNMODIFIED_SINCE, LM)], Proceed),
            ("IUS later", get, &[(&IF_UNMODIFIED_SINCE, AFTER)], Proceed),
            ("IUS invalid ignored", get, &[(&IF_UNMODIFIED_SINCE, "not a date")], Proceed),
            // precedence (§13.2.2)
            ("IM fails before INM", get, &[(&IF_MATCH, "\"xyz\""), (&IF_NONE_MATCH, "\"abc\"")], Failed),
            ("IM ok then INM 304", get, &[(&IF_MATCH, "\"abc\""), (&IF_NONE_MATCH, "\"abc\"")], Nm),
            ("IUS ignored with IM", get, &[(&IF_MATCH, "\"abc\""), (&IF_UNMODIFIED_SINCE, BEFORE)], Proceed),
            ("IUS fails before INM", get, &[(&IF_UNMODIFIED_SINCE, BEFORE), (&IF_NONE_MATCH, "\"abc\"")], Failed),
            ("IUS ok then IMS 304", get, &[(&IF_UNMODIFIED_SINCE, AFTER), (&IF_MODIFIED_SINCE, LM)], Nm),
            ("IM fails before IMS", get, &[(&IF_MATCH, "\"xyz\""), (&IF_MODIFIED_SINCE, LM)], Failed),
        ];
        for (name, method, pairs, want) in cases {
            assert_eq!(evaluate(method, &headers(pairs), &v), *want, "{name}");
        }
    }

    #[test]
    fn evaluate_without_or_with_weak_validators() {
        use Precondition::{Failed, NotModified as Nm, Proceed};
        let none = Validators::default();
        let weak_tag = HeaderValue::from_static("W/\"abc\"");
        let weak = Validators { etag: Some(&weak_tag), last_modified: None };
        let garbage_tag = HeaderValue::from_static("abc");
        let garbage = Validators { etag: Some(&garbage_tag), last_modified: None };
        let cases: &[(&str, &Validators, Fields, Precondition)] = &[
            ("no etag: INM", &none, &[(&IF_NONE_MATCH, "\"abc\"")], Proceed),
            ("no etag: INM *", &none, &[(&IF_NONE_MATCH, "*")], Nm),
            ("no etag: IM", &none, &[(&IF_MATCH, "\"abc\"")], Failed),
            ("no etag: IM *", &none, &[(&IF_MATCH, "*")], Proceed),
            ("no LM: IMS", &none, &[(&IF_MODIFIED_SINCE, AFTER)], Proceed),
            ("no LM: IUS", &none, &[(&IF_UNMODIFIED_SINCE, BEFORE)], Proceed),
            ("weak current: INM strong", &weak, &[(&IF_NONE_MATCH, "\"abc\"")], Nm),
            ("weak current: IM", &weak, &[(&IF_MATCH, "W/\"abc\"")], Failed),
            ("unparsable current: INM", &garbage, &[(&IF_NONE_MATCH, "\"abc\"")], Proceed),
        ];
        for (name, v, pairs, want) in cases {
            assert_eq!(evaluate(&Method::GET, &headers(pairs), v), *want, "{name}");
        }
    }

    #[test]
    fn if_range_table() {
        let etag = HeaderValue::from_static("\"abc\"");
        let v = Validators { etag: Some(&etag), last_modified: Some(lm()) };
        let weak_tag = HeaderValue::from_static("W/\"abc\"");
        let weak = Validators { etag: Some(&weak_tag), last_modified: None };
        let cases: &[(&str, &Validators, Fields, bool)] = &[
            ("absent", &v, &[], true),
            ("strong match", &v, &[(&IF_RANGE, "\"abc\"")], true),
            ("strong mismatch", &v, &[(&IF_RANGE, "\"xyz\"")], false),
            ("weak tag never matches", &v, &[(&IF_RANGE, "W/\"abc\"")], false),
            ("weak current never matches", &weak, &[(&IF_RANGE, "\"abc\"")], false),
            ("date equal", &v, &[(&IF_RANGE, LM)], true),
            ("date later", &v, &[(&IF_RANGE, AFTER)], false),
            ("date earlier", &v, &[(&IF_RANGE, BEFORE)], false),
            ("date without LM", &weak, &[(&IF_RANGE, LM)], false),
            ("garbage", &v, &[(&IF_RANGE, "whenever")], false),
            ("two lines", &v, &[(&IF_RANGE, "\"abc\""), (&IF_RANGE, "\"abc\"")], false),
        ];
        for (name, v, pairs, want) in cases {
            assert_eq!(if_range_allows(&headers(pairs), v), *want, "{name}");
        }
    }

    #[test]
    fn validators_from_headers() {
        let stored = headers(&[(&ETAG, "\"abc\""), (&LAST_MODIFIED, LM)]);
        let v = Validators::from_headers(&stored);
        assert_eq!(v.etag, Some(&HeaderValue::from_static("\"abc\"")));
        assert_eq!(v.last_modified, Some(UNIX_EPOCH + Duration::from_secs(LM_SECS)));
        assert_eq!(Validators::from_headers(&HeaderMap::new()), Validators::default());
    }

    #[test]
    fn unix_secs_floors() {
        assert_eq!(unix_secs(lm()), i128::from(LM_SECS));
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(2)), -2);
    }

    fn arb_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..60),
            Just(LM.as_bytes().to_vec()),
            "(W/)?\"[a-c]{0,2}\"(, *(W/)?\"[a-c]{0,2}\"){0,3}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #[test]
        fn evaluate_never_panics(
            fields in proptest::collection::vec((0usize..5, arb_value()), 0..6),
            stored in arb_value(),
        ) {
            let names = [IF_MATCH, IF_NONE_MATCH, IF_MODIFIED_SINCE, IF_UNMODIFIED_SINCE, IF_RANGE];
            let mut map = HeaderMap::new();
            for (i, raw) in fields {
                if let (Some(name), Ok(value)) = (names.get(i), HeaderValue::from_bytes(&raw)) {
                    map.append(name.clone(), value);
                }
            }
            let etag = HeaderValue::from_bytes(&stored).ok();
            let v = Validators { etag: etag.as_ref(), last_modified: Some(lm()) };
            let _ = evaluate(&Method::GET, &map, &v);
            let _ = if_range_allows(&map, &v);
            let _ = revalidation_headers(&map);
            let _ = not_modified_headers(&map);
        }
    }
}
