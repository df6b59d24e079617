//! `Cache-Control` parsing (RFC 9111 §5.2), for requests and responses.
//!
//! The parser is total: it accepts any bytes, never panics, and degrades
//! unknown or malformed input the way RFC 9111 asks a cache to:
//!
//! * directive names are case-insensitive (§5.2);
//! * both `token` and `quoted-string` argument forms are accepted (§5.2);
//! * a delta-seconds value beyond 2^31 is treated as 2^31 (§1.2.2);
//! * an invalid or duplicated (conflicting) freshness value makes the
//!   response stale rather than fresh (§4.2.1, "either the first occurrence
//!   should be used or the response should be considered stale"): we use 0;
//! * unknown extension directives are ignored (§5.2.3).

use http::header::{HeaderMap, HeaderName};

/// The largest delta-seconds value a cache has to represent (RFC 9111 §1.2.2).
pub const DELTA_SECONDS_MAX: u32 = 1 << 31;

/// Longest header value we look at; longer values are truncated (a
/// defence against hostile origins and clients, not an RFC rule).
const MAX_VALUE_LEN: usize = 16 * 1024;

/// A directive that may apply to the whole response or to named fields only
/// (`no-cache` and `private`, RFC 9111 §5.2.2.4 and §5.2.2.7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FieldScope {
    /// The directive is absent.
    #[default]
    Absent,
    /// The directive applies to the whole response.
    All,
    /// The directive names specific header fields (lower-case).
    Fields(Vec<HeaderName>),
}

impl FieldScope {
    /// `true` unless the directive is absent.
    pub fn is_present(&self) -> bool {
        !matches!(self, FieldScope::Absent)
    }

    /// `true` when the directive applies to the whole response.
    pub fn is_all(&self) -> bool {
        matches!(self, FieldScope::All)
    }
}

/// `max-stale` request directive (RFC 9111 §5.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxStale {
    /// `max-stale` without a value: any staleness is acceptable.
    Any,
    /// `max-stale=N`.
    Seconds(u32),
}

/// The parsed directives of one or more `Cache-Control` field lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `max-age` (§5.2.1.1, §5.2.2.1).
    pub max_age: Option<u32>,
    /// `s-maxage` (§5.2.2.10).
    pub s_maxage: Option<u32>,
    /// `max-stale` (request, §5.2.1.2).
    pub max_stale: Option<MaxStale>,
    /// `min-fresh` (request, §5.2.1.3).
    pub min_fresh: Option<u32>,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u32>,
    /// `stale-if-error` (RFC 5861 §4).
    pub stale_if_error: Option<u32>,
    /// `no-store` (§5.2.1.5, §5.2.2.5).
    pub no_store: bool,
    /// `no-cache` (§5.2.1.4, §5.2.2.4).
    pub no_cache: FieldScope,
    /// `private` (§5.2.2.7).
    pub private: FieldScope,
    /// `public` (§5.2.2.9).
    pub public: bool,
    /// `must-revalidate` (§5.2.2.2).
    pub must_revalidate: bool,
    /// `proxy-revalidate` (§5.2.2.8).
    pub proxy_revalidate: bool,
    /// `must-understand` (§5.2.2.3).
    pub must_understand: bool,
    /// `no-transform` (§5.2.1.6, §5.2.2.6).
    pub no_transform: bool,
    /// `only-if-cached` (request, §5.2.1.7).
    pub only_if_cached: bool,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
}

impl CacheControl {
    /// Parses every `name` field line in `headers` as one list (§5.2: a
    /// field may be split over several lines).
    pub fn from_headers(headers: &HeaderMap, name: &HeaderName) -> Self {
        let mut cc = CacheControl::default();
        let mut seen = Seen::default();
        for value in headers.get_all(name) {
            let bytes = value.as_bytes();
            let bytes = &bytes[..bytes.len().min(MAX_VALUE_LEN)];
            cc.parse_into(bytes, &mut seen);
        }
        cc
    }

    /// Parses one field value.
    pub fn parse(value: &[u8]) -> Self {
        let mut cc = CacheControl::default();
        let value = &value[..value.len().min(MAX_VALUE_LEN)];
        cc.parse_into(value, &mut Seen::default());
        cc
    }

    /// `true` when no directive at all was recognised.
    pub fn is_empty(&self) -> bool {
        *self == CacheControl::default()
    }

    fn parse_into(&mut self, mut input: &[u8], seen: &mut Seen) {
        while !input.is_empty() {
            let (directive, rest) = next_directive(input);
            input = rest;
            if let Some((name, arg)) = directive {
                self.apply(name, arg, seen);
            }
        }
    }

    fn apply(&mut self, name: &[u8], arg: Option<Arg<'_>>, seen: &mut Seen) {
        let lower = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        if lower("max-age") {
            set_delta(&mut self.max_age, &mut seen.max_age, arg);
        } else if lower("s-maxage") {
            set_delta(&mut self.s_maxage, &mut seen.s_maxage, arg);
        } else if lower("max-stale") {
            self.max_stale = Some(match arg {
                None => MaxStale::Any,
                Some(a) => MaxStale::Seconds(parse_delta(a.text()).unwrap_or(0)),
            });
        } else if lower("min-fresh") {
            // An invalid min-fresh is ignored: being stricter than asked
            // for would be as wrong as being laxer.
            if let Some(v) = arg.and_then(|a| parse_delta(a.text())) {
                self.min_fresh = Some(v);
            }
        } else if lower("stale-while-revalidate") {
            if let Some(v) = arg.and_then(|a| parse_delta(a.text())) {
                self.stale_while_revalidate = Some(v);
            }
        } else if lower("stale-if-error") {
            if let Some(v) = arg.and_then(|a| parse_delta(a.text())) {
                self.stale_if_error = Some(v);
            }
        } else if lower("no-store") {
            self.no_store = true;
        } else if lower("no-cache") {
            merge_scope(&mut self.no_cache, arg);
        } else if lower("private") {
            merge_scope(&mut self.private, arg);
        } else if lower("public") {
            self.public = true;
        } else if lower("must-revalidate") {
            self.must_revalidate = true;
        } else if lower("proxy-revalidate") {
            self.proxy_revalidate = true;
        } else if lower("must-understand") {
            self.must_understand = true;
        } else if lower("no-transform") {
            self.no_transform = true;
        } else if lower("only-if-cached") {
            self.only_if_cached = true;
        } else if lower("immutable") {
            self.immutable = true;
        }
    }
}

#[derive(Default)]
struct Seen {
    max_age: bool,
    s_maxage: bool,
}

/// Sets a freshness delta. A missing or invalid value yields 0 (stale);
/// when the directive appears more than once, the first occurrence is used
/// (RFC 9111 §4.2.1 allows either that or treating the response as stale;
/// Squid and Traffic Server use the first occurrence too).
fn set_delta(slot: &mut Option<u32>, seen: &mut bool, arg: Option<Arg<'_>>) {
    if *seen {
        return;
    }
    *slot = Some(arg.and_then(|a| parse_delta(a.text())).unwrap_or(0));
    *seen = true;
}

/// A field-name list argument widens to the whole response only when the
/// directive also appears without arguments.
fn merge_scope(scope: &mut FieldScope, arg: Option<Arg<'_>>) {
    let fields = match arg {
        None => {
            *scope = FieldScope::All;
            return;
        }
        Some(a) => a.text(),
    };
    let names: Vec<HeaderName> =
        fields.split(|b| *b == b',').filter_map(|f| HeaderName::from_bytes(trim(f)).ok()).collect();
    match scope {
        FieldScope::All => {}
        // `no-cache=""` or garbage: treat as the unqualified form, the
        // safer reading for a shared cache.
        _ if names.is_empty() => *scope = FieldScope::All,
        FieldScope::Fields(existing) => existing.extend(names),
        FieldScope::Absent => *scope = FieldScope::Fields(names),
    }
}

/// Parses delta-seconds (§1.2.2): 1*DIGIT, saturating at 2^31.
pub(crate) fn parse_delta(text: &[u8]) -> Option<u32> {
    let text = trim(text);
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for digit in text {
        value = value * 10 + u64::from(digit - b'0');
        if value >= u64::from(DELTA_SECONDS_MAX) {
            return Some(DELTA_SECONDS_MAX);
        }
    }
    u32::try_from(value).ok()
}

/// A directive argument: a token, or the inside of a quoted-string with
/// escapes still in place (we only need to split on commas and compare
/// digits, so unescaping is not needed except for `\"`, handled by the
/// scanner).
#[derive(Clone, Copy)]
struct Arg<'a>(&'a [u8]);

impl<'a> Arg<'a> {
    fn text(self) -> &'a [u8] {
        self.0
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Splits the next comma-separated directive off `input`, honouring quoted
/// strings (which may contain commas). Returns the directive (if it had a
/// name) and the remaining input.
/// A directive name and its argument.
type Directive<'a> = (&'a [u8], Option<Arg<'a>>);

fn next_directive(input: &[u8]) -> (Option<Directive<'_>>, &[u8]) {
    // Name: up to '=', ',' or end.
    let name_end = input.iter().position(|b| *b == b'=' || *b == b',').unwrap_or(input.len());
    let name = trim(&input[..name_end]);
    let rest = &input[name_end..];
    match rest.first() {
        Some(b'=') => {
            let after = &rest[1..];
            let lead = after.len() - trim_start_len(after);
            let value_start = &after[lead..];
            if value_start.first() == Some(&b'"') {
                // quoted-string: find the closing quote, skipping escapes.
                let body = &value_start[1..];
                let mut i = 0;
                while i < body.len() {
                    match body[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                let end = i.min(body.len());
                // Unterminated: nothing says where the argument ends, so it
                // counts as empty, the strict reading for every directive
                // (`private="a, max-age=60` is not private to `a` only: it is
                // `private`; `max-age="60` is 0).
                let arg = if i < body.len() { &body[..end] } else { &[][..] };
                let after_quote = body.get(end + 1..).unwrap_or(&[]);
                let next = after_quote.iter().position(|b| *b == b',').map_or(&[][..], |p| &after_quote[p + 1..]);
                (named(name, Some(Arg(arg))), next)
            } else {
                let end = value_start.iter().position(|b| *b == b',').unwrap_or(value_start.len());
                let next = value_start.get(end + 1..).unwrap_or(&[]);
                (named(name, Some(Arg(trim(&value_start[..end])))), next)
            }
        }
        Some(_) => (named(name, None), &rest[1..]),
        None => (named(name, None), rest),
    }
}

fn trim_start_len(s: &[u8]) -> usize {
    s.iter().position(|b| !b.is_ascii_whitespace()).map_or(0, |p| s.len() - p)
}

fn named<'a>(name: &'a [u8], arg: Option<Arg<'a>>) -> Option<Directive<'a>> {
    if name.is_empty() { None } else { Some((name, arg)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, header};
    use proptest::prelude::*;

    fn cc(s: &str) -> CacheControl {
        CacheControl::parse(s.as_bytes())
    }

    #[test]
    fn parses_common_response_directives() {
        let c = cc("public, max-age=60, s-maxage=120, must-revalidate");
        assert!(c.public && c.must_revalidate);
        assert_eq!((c.max_age, c.s_maxage), (Some(60), Some(120)));
    }

    #[test]
    fn names_are_case_insensitive() {
        let c = cc("MAX-AGE=5, No-Store, PRIVATE");
        assert_eq!(c.max_age, Some(5));
        assert!(c.no_store && c.private.is_all());
    }

    #[test]
    fn quoted_arguments_are_accepted_and_may_hold_commas() {
        let c = cc(r#"max-age="30", private="set-cookie, x-user", no-cache"#);
        assert_eq!(c.max_age, Some(30));
        assert_eq!(
            c.private,
            FieldScope::Fields(vec![HeaderName::from_static("set-cookie"), HeaderName::from_static("x-user")])
        );
        assert!(c.no_cache.is_all());
    }

    #[test]
    fn huge_delta_seconds_saturate_at_2_pow_31() {
        assert_eq!(cc("max-age=99999999999999999999999").max_age, Some(DELTA_SECONDS_MAX));
        assert_eq!(cc("s-maxage=2147483648").s_maxage, Some(DELTA_SECONDS_MAX));
        assert_eq!(cc("max-age=2147483647").max_age, Some(2_147_483_647));
    }

    #[test]
    fn invalid_max_age_means_stale_and_the_first_of_duplicates_wins() {
        assert_eq!(cc("max-age=abc").max_age, Some(0));
        assert_eq!(cc("max-age=-1").max_age, Some(0));
        assert_eq!(cc("max-age").max_age, Some(0));
        assert_eq!(cc("max-age=10, max-age=20").max_age, Some(10));
        assert_eq!(cc("max-age=1, max-age=1800").max_age, Some(1));
        assert_eq!(cc("max-age=10, max-age=10").max_age, Some(10));
    }

    #[test]
    fn request_directives() {
        let c = cc("max-stale, min-fresh=5, only-if-cached, no-cache");
        assert_eq!(c.max_stale, Some(MaxStale::Any));
        assert_eq!(c.min_fresh, Some(5));
        assert!(c.only_if_cached && c.no_cache.is_all());
        assert_eq!(cc("max-stale=10").max_stale, Some(MaxStale::Seconds(10)));
    }

    #[test]
    fn stale_extensions_and_unknown_directives() {
        let c = cc("max-age=1, stale-while-revalidate=30, stale-if-error=600, foo=bar, baz");
        assert_eq!(c.stale_while_revalidate, Some(30));
        assert_eq!(c.stale_if_error, Some(600));
        assert_eq!(c.max_age, Some(1));
    }

    #[test]
    fn empty_and_junk_values() {
        assert!(cc("").is_empty());
        assert!(cc(",,, ,").is_empty());
        assert!(cc("=5").is_empty());
        assert!(cc("no-cache=\"").no_cache.is_all());
        assert!(cc("private=\"\"").private.is_all());
    }

    #[test]
    fn multiple_field_lines_form_one_list() {
        let mut h = HeaderMap::new();
        h.append("cache-control", HeaderValue::from_static("max-age=5"));
        h.append("cache-control", HeaderValue::from_static("no-transform, s-maxage=9"));
        let c = CacheControl::from_headers(&h, &http::header::CACHE_CONTROL);
        assert_eq!((c.max_age, c.s_maxage), (Some(5), Some(9)));
        assert!(c.no_transform);
    }

    #[test]
    fn an_unterminated_quoted_string_is_read_strictly() {
        let c = cc(r#"private="set-cookie, max-age=60"#);
        assert_eq!(c.private, FieldScope::All);
        assert_eq!(c.max_age, None);
        assert_eq!(cc(r#"no-cache="x"#).no_cache, FieldScope::All);
        assert_eq!(cc(r#"max-age="60"#).max_age, Some(0));
        assert_eq!(cc(r#"stale-while-revalidate="60"#).stale_while_revalidate, None);
        // Terminated ones are unchanged.
        assert_eq!(cc(r#"max-age="60", no-store"#).max_age, Some(60));
    }

    proptest! {
        /// The `cache_control` fuzz target's properties: `parse` and
        /// `from_headers` agree, and a list split over two field lines
        /// after its first directive means the same (RFC 9111 §5.2).
        #[test]
        fn split_lines_mean_the_same(
            first in prop_oneof![
                "[a-z-]{1,16}",
                "[a-z-]{1,16}=[0-9a-z]{0,6}",
                "[a-z-]{1,16}=\"[a-z, -]{0,16}\"",
                Just("private=\"set-cookie, x-a\"".to_owned()),
                Just("max-age=60".to_owned()),
            ],
            rest in "[a-z0-9=,\" -]{0,40}",
        ) {
            let whole = format!("{first},{rest}");
            let parsed = CacheControl::parse(whole.as_bytes());
            let mut one = HeaderMap::new();
            one.insert(header::CACHE_CONTROL, HeaderValue::from_str(&whole).unwrap());
            prop_assert_eq!(&CacheControl::from_headers(&one, &header::CACHE_CONTROL), &parsed);
            let mut two = HeaderMap::new();
            two.append(header::CACHE_CONTROL, HeaderValue::from_str(&first).unwrap());
            two.append(header::CACHE_CONTROL, HeaderValue::from_str(&rest).unwrap());
            prop_assert_eq!(CacheControl::from_headers(&two, &header::CACHE_CONTROL), parsed);
        }

        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = CacheControl::parse(&bytes);
        }

        #[test]
        fn case_does_not_matter(age in 0u32..1_000_000, upper in any::<bool>()) {
            let s = format!("max-age={age}, no-store");
            let s = if upper { s.to_ascii_uppercase() } else { s };
            let c = cc(&s);
            prop_assert_eq!(c.max_age, Some(age));
            prop_assert!(c.no_store);
        }

        #[test]
        fn quoted_commas_never_leak_directives(inner in "[a-z, -]{0,40}") {
            let c = cc(&format!("private=\"{inner}\", max-age=7"));
            prop_assert_eq!(c.max_age, Some(7));
            prop_assert!(!c.no_store);
        }
    }
}
