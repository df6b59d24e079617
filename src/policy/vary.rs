//! `Vary` (RFC 9110 §12.5.5, RFC 9111 §4.1): secondary cache keys.
//!
//! A stored response with `Vary` can only be reused for requests whose
//! nominated header fields match the original request's. We build a
//! secondary key from the normalised values of those fields: field lines
//! are combined, whitespace around commas is removed, and for fields
//! whose values are case-insensitive tokens (`Accept-Encoding`, `Accept`,
//! `Accept-Language`, `Accept-Charset`) the value is lower-cased and its
//! members sorted and de-duplicated with their parameters (RFC 9111 §4.1
//! allows normalising values whose semantics are unchanged). `Vary: *`
//! never matches (§4.1).

use http::header::{self, HeaderMap, HeaderName};

/// What a response's `Vary` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vary {
    /// No `Vary`: one response serves every request for the URI.
    None,
    /// `Vary: *`: no request can be matched; never reused.
    Any,
    /// The request fields the response depends on (lower-case, sorted, unique).
    Fields(Vec<HeaderName>),
}

/// Parses the response's `Vary` field lines.
pub fn parse(headers: &HeaderMap) -> Vary {
    let mut fields = Vec::new();
    for value in headers.get_all(header::VARY) {
        let Ok(text) = value.to_str() else {
            return Vary::Any;
        };
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                return Vary::Any;
            }
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) => fields.push(n),
                // A field name we cannot even parse cannot be matched.
                Err(_) => return Vary::Any,
            }
        }
    }
    if fields.is_empty() {
        return Vary::None;
    }
    fields.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    fields.dedup();
    Vary::Fields(fields)
}

fn is_token_list(name: &HeaderName) -> bool {
    *name == header::ACCEPT_ENCODING
        || *name == header::ACCEPT
        || *name == header::ACCEPT_LANGUAGE
        || *name == header::ACCEPT_CHARSET
}

/// The secondary key of a request for the nominated fields. Each field
/// contributes `name:value`, or just `name` when the request lacks it (an
/// absent field matches only an absent one, RFC 9111 §4.1: an empty
/// `Accept-Encoding` means "identity only", a missing one "anything"), and
/// fields are separated by a byte that cannot occur in a field value, so
/// different requests cannot collide.
pub fn secondary_key(fields: &[HeaderName], request: &HeaderMap) -> String {
    let mut key = String::new();
    for name in fields {
        key.push_str(name.as_str());
        if !request.contains_key(name) {
            key.push('\u{1e}');
            continue;
        }
        key.push(':');
        let mut members: Vec<String> = request
            .get_all(name)
            .iter()
            .flat_map(|v| escape(v.as_bytes()).split(',').map(normalise_member).collect::<Vec<_>>())
            .filter(|m| !m.is_empty())
            .collect();
        if is_token_list(name) {
            for m in &mut members {
                m.make_ascii_lowercase();
            }
            members.sort();
            members.dedup();
        }
        key.push_str(&members.join(","));
        key.push('\u{1e}');
    }
    key
}

/// Field values as text, injectively: bytes outside printable ASCII and
/// `%` itself are percent-escaped (obs-text must not collide after a lossy
/// conversion).
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Trims a list member and removes whitespace around `;` and `=`.
fn normalise_member(member: &str) -> String {
    member
        .split(';')
        .map(|p| {
            let p = p.trim();
            match p.split_once('=') {
                Some((k, v)) => format!("{}={}", k.trim(), v.trim()),
                None => p.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_util::headers as h;

    #[test]
    fn parses_vary() {
        assert_eq!(parse(&h(&[])), Vary::None);
        assert_eq!(parse(&h(&[("vary", "*")])), Vary::Any);
        assert_eq!(parse(&h(&[("vary", "Accept-Encoding, *")])), Vary::Any);
        assert_eq!(
            parse(&h(&[("vary", "User-Agent, accept-encoding"), ("vary", "Accept-Encoding")])),
            Vary::Fields(vec![header::ACCEPT_ENCODING, header::USER_AGENT])
        );
    }

    #[test]
    fn equivalent_requests_share_a_secondary_key() {
        let f = vec![header::ACCEPT_ENCODING];
        let a = secondary_key(&f, &h(&[("accept-encoding", "gzip, br")]));
        let b = secondary_key(&f, &h(&[("accept-encoding", "BR,gzip")]));
        let c = secondary_key(&f, &h(&[("accept-encoding", "br"), ("accept-encoding", "gzip")]));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_ne!(a, secondary_key(&f, &h(&[("accept-encoding", "gzip")])));
        assert_ne!(a, secondary_key(&f, &h(&[])));
        // q-values are semantic: kept.
        assert_ne!(
            secondary_key(&f, &h(&[("accept-encoding", "gzip;q=0")])),
            secondary_key(&f, &h(&[("accept-encoding", "gzip")]))
        );
    }

    #[test]
    fn absent_and_empty_differ_from_present_values_and_cannot_collide() {
        let f = vec![HeaderName::from_static("x-a"), HeaderName::from_static("x-b")];
        let one = secondary_key(&f, &h(&[("x-a", "1"), ("x-b", "2")]));
        let two = secondary_key(&f, &h(&[("x-a", "1,x-b:2")]));
        assert_ne!(one, two);
        // Absent only matches absent; empty (or only commas) is present.
        let ae = vec![header::ACCEPT_ENCODING];
        let absent = secondary_key(&ae, &h(&[]));
        let empty = secondary_key(&ae, &h(&[("accept-encoding", "")]));
        assert_ne!(absent, empty);
        assert_eq!(empty, secondary_key(&ae, &h(&[("accept-encoding", " , ")])));
        assert_eq!(absent, secondary_key(&ae, &h(&[("x-other", "1")])));
    }
}
