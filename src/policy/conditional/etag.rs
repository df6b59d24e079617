//! Entity tags (RFC 9110 §8.8.3) and the `If-Match` / `If-None-Match` list
//! syntax (§13.1.1, §13.1.2). Re-exported from [`super`].

use std::fmt;

use http::HeaderValue;

use super::trim_ows;

/// An entity tag: weak flag plus opaque tag (the quoted part, without the
/// quotes), RFC 9110 §8.8.3.
///
/// `==` means "identical" (same flag, same bytes); use [`Self::strong_eq`]
/// and [`Self::weak_eq`] for the RFC 9110 §8.8.3.2 comparison functions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    weak: bool,
    opaque: Vec<u8>,
}

impl EntityTag {
    /// Build a tag from its parts; `None` if `opaque` has a byte outside
    /// `etagc` (RFC 9110 §8.8.3: `%x21 / %x23-7E / obs-text`).
    pub fn new(weak: bool, opaque: impl Into<Vec<u8>>) -> Option<Self> {
        let opaque = opaque.into();
        opaque.iter().all(|&b| is_etagc(b)).then_some(Self { weak, opaque })
    }

    /// Parse exactly one `entity-tag` (surrounding whitespace allowed).
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_bytes(s.as_bytes())
    }

    /// Like [`Self::parse`] on raw bytes, e.g. [`HeaderValue::as_bytes`]
    /// (which may hold `obs-text` that is not UTF-8).
    pub fn parse_bytes(raw: &[u8]) -> Option<Self> {
        match scan_etag(trim_ows(raw)) {
            Some((tag, [])) => Some(tag),
            _ => None,
        }
    }

    /// Whether the tag carries the `W/` weakness indicator.
    pub fn is_weak(&self) -> bool {
        self.weak
    }

    /// The opaque tag, without quotes.
    pub fn opaque(&self) -> &[u8] {
        &self.opaque
    }

    /// Strong comparison (RFC 9110 §8.8.3.2): both strong and the opaque
    /// tags match character-by-character.
    pub fn strong_eq(&self, other: &Self) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison (RFC 9110 §8.8.3.2): the opaque tags match
    /// character-by-character, whether or not either is weak.
    pub fn weak_eq(&self, other: &Self) -> bool {
        self.opaque == other.opaque
    }

    /// The exact wire form as a header value (`W/"x"` or `"x"`).
    pub fn to_header_value(&self) -> HeaderValue {
        let mut wire = Vec::with_capacity(self.opaque.len().saturating_add(4));
        if self.weak {
            wire.extend_from_slice(b"W/");
        }
        wire.push(b'"');
        wire.extend_from_slice(&self.opaque);
        wire.push(b'"');
        // etagc bytes are all valid header-value bytes, so this cannot fail.
        HeaderValue::from_bytes(&wire).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
    }
}

/// The wire form. `obs-text` bytes that are not UTF-8 are shown lossily;
/// use [`EntityTag::to_header_value`] for an exact value.
impl fmt::Display for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weak = if self.weak { "W/" } else { "" };
        write!(f, "{weak}\"{}\"", String::from_utf8_lossy(&self.opaque))
    }
}

/// A parsed `If-Match` / `If-None-Match` field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagList {
    /// `*`.
    Any,
    /// One or more entity tags.
    Tags(Vec<EntityTag>),
    /// Not `"*" / #entity-tag` (including `*` mixed with tags, or no value).
    Invalid,
}

/// Parse `If-Match` / `If-None-Match` (RFC 9110 §13.1.1, §13.1.2:
/// `"*" / #entity-tag`), combining all field lines (§5.3). Tags may contain
/// commas, so this is a real scanner, not a split. Pass
/// `headers.get_all(IF_NONE_MATCH)`; an absent field gives
/// [`EtagList::Invalid`], so check presence first.
pub fn parse_etag_list<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> EtagList {
    let mut tags = Vec::new();
    let mut stars = 0usize;
    for value in values {
        let mut rest = value.as_bytes();
        loop {
            // RFC 9110 §5.6.1.2: OWS around commas; empty elements ignored.
            while let [b' ' | b'\t' | b',', tail @ ..] = rest {
                rest = tail;
            }
            if rest.is_empty() {
                break;
            }
            if let Some(tail) = rest.strip_prefix(b"*") {
                stars = stars.saturating_add(1);
                rest = tail;
            } else if let Some((tag, tail)) = scan_etag(rest) {
                tags.push(tag);
                rest = tail;
            } else {
                return EtagList::Invalid;
            }
            rest = trim_ows(rest);
            if !matches!(rest, [] | [b',', ..]) {
                return EtagList::Invalid;
            }
        }
    }
    match (stars, tags.is_empty()) {
        (0, false) => EtagList::Tags(tags),
        (1, true) => EtagList::Any,
        _ => EtagList::Invalid,
    }
}

/// Scan one `entity-tag = [ weak ] opaque-tag` at the start of `input`
/// (RFC 9110 §8.8.3; `weak = %s"W/"` is case-sensitive), returning it and
/// the unconsumed remainder.
fn scan_etag(input: &[u8]) -> Option<(EntityTag, &[u8])> {
    let (weak, rest) = match input.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    let rest = rest.strip_prefix(b"\"")?;
    let close = rest.iter().position(|&b| b == b'"')?;
    let (opaque, after) = rest.split_at_checked(close)?;
    let tag = EntityTag::new(weak, opaque)?;
    Some((tag, after.get(1..)?))
}

/// RFC 9110 §8.8.3: `etagc = %x21 / %x23-7E / obs-text`.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tag(weak: bool, opaque: &str) -> EntityTag {
        EntityTag::new(weak, opaque).expect("valid etagc")
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<EntityTag>)] = &[
            ("\"abc\"", Some(tag(false, "abc"))),
            ("W/\"abc\"", Some(tag(true, "abc"))),
            ("\"\"", Some(tag(false, ""))),
            ("  \"a,b\"\t", Some(tag(false, "a,b"))),
            ("\"xyzzy/!#\"", Some(tag(false, "xyzzy/!#"))),
            ("\"caf\u{e9}\"", Some(tag(false, "caf\u{e9}"))), // obs-text
            ("w/\"abc\"", None),                              // %s"W/" is case-sensitive
            ("W/ \"abc\"", None),
            ("abc", None),
            ("\"abc", None),
            ("\"a\"b\"", None),
            ("\"a b\"", None),
            ("\"a\"\"b\"", None),
            ("\"a\" x", None),
            ("*", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(&EntityTag::parse(raw), want, "ETag {raw:?}");
        }
        assert_eq!(EntityTag::new(false, "a\"b"), None);
        assert_eq!(EntityTag::parse_bytes(b"\"\xff\xfe\"").map(|t| t.opaque().len()), Some(2));
    }

    #[test]
    fn comparison_table_from_rfc_9110_8_8_3_2() {
        // (a, b, strong, weak) — the example table of RFC 9110 §8.8.3.2.
        let cases = [
            ("W/\"1\"", "W/\"1\"", false, true),
            ("W/\"1\"", "W/\"2\"", false, false),
            ("W/\"1\"", "\"1\"", false, true),
            ("\"1\"", "\"1\"", true, true),
            ("\"1\"", "\"2\"", false, false),
        ];
        for (a, b, strong, weak) in cases {
            let (a, b) = (EntityTag::parse(a).expect("a"), EntityTag::parse(b).expect("b"));
            assert_eq!(a.strong_eq(&b), strong, "{a} vs {b} strong");
            assert_eq!(b.strong_eq(&a), strong, "{b} vs {a} strong");
            assert_eq!(a.weak_eq(&b), weak, "{a} vs {b} weak");
        }
    }

    #[test]
    fn display_and_header_value_are_the_wire_form() {
        assert_eq!(tag(true, "x/y").to_string(), "W/\"x/y\"");
        assert_eq!(tag(false, "abc").to_string(), "\"abc\"");
        assert_eq!(tag(true, "abc").to_header_value(), "W/\"abc\"");
        let odd = EntityTag::parse_bytes(b"W/\"\xff\"").expect("obs-text");
        assert_eq!(odd.to_header_value().as_bytes(), b"W/\"\xff\"");
    }

    fn list(lines: &[&[u8]]) -> EtagList {
        let values: Vec<HeaderValue> = lines.iter().map(|l| HeaderValue::from_bytes(l).expect("valid")).collect();
        parse_etag_list(&values)
    }

    #[test]
    fn list_table() {
        let tags = |t: &[(bool, &str)]| EtagList::Tags(t.iter().map(|&(w, o)| tag(w, o)).collect());
        let cases: &[(&[&[u8]], EtagList)] = &[
            (&[b"*"], EtagList::Any),
            (&[b" * "], EtagList::Any),
            (&[b"\"a\""], tags(&[(false, "a")])),
            (&[b"\"a\", W/\"b\""], tags(&[(false, "a"), (true, "b")])),
            (&[b"\"a\" ,\tW/\"b\" , \"c\""], tags(&[(false, "a"), (true, "b"), (false, "c")])),
            (&[b"\"a,b\""], tags(&[(false, "a,b")])),
            (&[b", \"a\" ,, "], tags(&[(false, "a")])),
            (&[b"\"a\"", b"\"b\""], tags(&[(false, "a"), (false, "b")])),
            (&[b"*, \"a\""], EtagList::Invalid),
            (&[b"*", b"\"a\""], EtagList::Invalid),
            (&[b"*, *"], EtagList::Invalid),
            (&[b"\"a\" \"b\""], EtagList::Invalid),
            (&[b"\"a\"x"], EtagList::Invalid),
            (&[b"a"], EtagList::Invalid),
            (&[b"\"a"], EtagList::Invalid),
            (&[b""], EtagList::Invalid),
            (&[], EtagList::Invalid),
        ];
        for (lines, want) in cases {
            assert_eq!(&list(lines), want, "lines {lines:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>(), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = EntityTag::parse(&s);
            if let Some(t) = EntityTag::parse_bytes(&raw) {
                prop_assert_eq!(EntityTag::parse_bytes(t.to_header_value().as_bytes()), Some(t));
            }
            if let Ok(v) = HeaderValue::from_bytes(&raw) {
                let _ = parse_etag_list([&v]);
            }
        }

        #[test]
        fn display_round_trips(weak in any::<bool>(), opaque in "[!#-~]{0,20}") {
            let t = tag(weak, &opaque);
            prop_assert_eq!(EntityTag::parse(&t.to_string()), Some(t));
        }
    }
}
