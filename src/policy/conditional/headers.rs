//! Header sets derived from a stored response: a 304's (RFC 9110 §15.4.5)
//! and a revalidation request's (RFC 9111 §4.3.1). Re-exported from
//! [`super`].

use http::header::{
    CACHE_CONTROL, CONTENT_LOCATION, DATE, ETAG, EXPIRES, HeaderMap, HeaderName, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, VARY,
};

use super::{EntityTag, parse_date, single};

/// Fields a 304 MUST carry if a 200 would have (RFC 9110 §15.4.5).
const NOT_MODIFIED_FIELDS: [HeaderName; 6] = [CACHE_CONTROL, CONTENT_LOCATION, DATE, ETAG, EXPIRES, VARY];

/// Headers for a 304 built from the stored response's headers
/// (RFC 9110 §15.4.5): Cache-Control, Content-Location, Date, ETag, Expires
/// and Vary (all lines of each), nothing else, except `Last-Modified` when
/// there is no `ETag` ("Last-Modified might be useful if the response does
/// not have an ETag field"). The caller may replace `Date` and add `Age`.
pub fn not_modified_headers(stored: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let copy = |out: &mut HeaderMap, name: &HeaderName| {
        for value in stored.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    };
    for name in &NOT_MODIFIED_FIELDS {
        copy(&mut out, name);
    }
    if !stored.contains_key(ETAG) {
        copy(&mut out, &LAST_MODIFIED);
    }
    out
}

/// Validating request headers for revalidating a stale stored response
/// (RFC 9111 §4.3.1): `If-None-Match` with the stored `ETag` (MUST send
/// entity tags when present) and `If-Modified-Since` with the stored
/// `Last-Modified` verbatim (SHOULD, for a non-subrange request; RFC 9110
/// §13.1.3 recommends the exact stored value). A repeated or unparsable
/// validator is skipped; with neither, the map is empty.
pub fn revalidation_headers(stored: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    if let Some(etag) = single(stored, &ETAG)
        && let Some(tag) = EntityTag::parse_bytes(etag.as_bytes())
    {
        out.insert(IF_NONE_MATCH, tag.to_header_value());
    }
    if let Some(modified) = single(stored, &LAST_MODIFIED)
        && parse_date(modified).is_some()
    {
        out.insert(IF_MODIFIED_SINCE, modified.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append((*name).clone(), HeaderValue::from_str(value).expect("valid"));
        }
        map
    }

    fn names(map: &HeaderMap) -> Vec<&str> {
        let mut n: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        n.sort_unstable();
        n
    }

    #[test]
    fn not_modified_headers_follow_15_4_5() {
        let stored = headers(&[
            (&http::header::CONTENT_TYPE, "text/html"),
            (&http::header::CONTENT_LENGTH, "1234"),
            (&http::header::SET_COOKIE, "a=b"),
            (&http::header::AGE, "3"),
            (&CACHE_CONTROL, "max-age=60"),
            (&CACHE_CONTROL, "public"),
            (&CONTENT_LOCATION, "/x.html"),
            (&DATE, LM),
            (&ETAG, "\"abc\""),
            (&EXPIRES, AFTER),
            (&VARY, "Accept-Encoding"),
            (&LAST_MODIFIED, LM),
        ]);
        let out = not_modified_headers(&stored);
        let want = ["cache-control", "content-location", "date", "etag", "expires", "vary"];
        assert_eq!(names(&out), want);
        assert_eq!(out.get_all(CACHE_CONTROL).iter().count(), 2);

        // no ETag → Last-Modified is kept to guide cache updates
        let out = not_modified_headers(&headers(&[(&DATE, LM), (&LAST_MODIFIED, LM)]));
        assert_eq!(names(&out), ["date", "last-modified"]);
        assert!(not_modified_headers(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn revalidation_headers_follow_9111_4_3_1() {
        let both = revalidation_headers(&headers(&[(&ETAG, "W/\"v1\""), (&LAST_MODIFIED, LM)]));
        assert_eq!(both.get(IF_NONE_MATCH), Some(&HeaderValue::from_static("W/\"v1\"")));
        assert_eq!(both.get(IF_MODIFIED_SINCE), Some(&HeaderValue::from_static(LM)));
        assert_eq!(both.len(), 2);

        let lm_only = revalidation_headers(&headers(&[(&LAST_MODIFIED, LM), (&DATE, AFTER)]));
        assert_eq!(names(&lm_only), ["if-modified-since"]);
        let tag_only = revalidation_headers(&headers(&[(&ETAG, " \"v1\" "), (&DATE, AFTER)]));
        assert_eq!(tag_only.get(IF_NONE_MATCH), Some(&HeaderValue::from_static("\"v1\"")));
        assert_eq!(tag_only.len(), 1);
        let bad = revalidation_headers(&headers(&[(&ETAG, "v1"), (&LAST_MODIFIED, "soon")]));
        assert!(bad.is_empty());
        let twice = revalidation_headers(&headers(&[(&ETAG, "\"a\""), (&ETAG, "\"b\"")]));
        assert!(twice.is_empty());
    }
}
