//! The cache key policy as a pure function (the key settings of
//! CloudFront's cache policy). What reaches the origin is in
//! [`forward_policy`](super::forward_policy).
//!
//! # The cache key
//!
//! `host SEP path ['?' query] {SEP 'h' name ':' value} {SEP 'c' name '=' value}`
//! where `SEP` is U+001F. The query strings, headers and cookies in it are
//! the ones the [`KeyPolicy`] selects:
//!
//! | part | order | matching |
//! |---|---|---|
//! | query strings | as in the request | names case-sensitive, as written (still percent-encoded) |
//! | headers | by name (policy order, sorted) | names case-insensitive; several field lines joined by U+001E |
//! | cookies | allow-list: by name, sorted; all / all-except: as in the request | names case-sensitive |
//!
//! Header and cookie values are escaped (`%` and every byte outside
//! `0x20..=0x7E` become `%XX`), so no value can contain the separators or
//! fake another component. A header that is absent adds nothing; one that is
//! present but empty adds `name:`, so the two stay distinct.
//!
//! Building a key counts its exact length first, then writes it once: one
//! allocation for keys up to [`INLINE_KEY_BYTES`] (written on the stack, then
//! copied into the shared `Arc<str>`), two beyond.
//!
use std::sync::Arc;

use http::header::{self, HeaderMap};

/// Separates the key's components (the same separator as host and path).
const SEP: char = '\u{1f}';
/// Separates several field lines of one header in the key.
const VALUE_SEP: char = '\u{1e}';

/// Keys up to this length are built on the stack and allocated once.
pub const INLINE_KEY_BYTES: usize = 512;

/// Which query strings, headers or cookies a policy selects (CloudFront's
/// `none`, `all`, `whitelist` and `allExcept`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Select {
    /// None of them.
    #[default]
    None,
    /// All of them.
    All,
    /// Only these names.
    Only(Vec<String>),
    /// All but these names.
    AllExcept(Vec<String>),
}

impl Select {
    /// Only these names (an allow-list).
    pub fn only<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Select::Only(names.into_iter().map(Into::into).collect())
    }

    /// Every name except these (a deny-list).
    pub fn all_except<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Select::AllExcept(names.into_iter().map(Into::into).collect())
    }

    /// Whether `name` is selected; `eq` compares names.
    fn selects_by(&self, name: &str, eq: impl Fn(&str, &str) -> bool) -> bool {
        match self {
            Select::None => false,
            Select::All => true,
            Select::Only(names) => names.iter().any(|n| eq(n, name)),
            Select::AllExcept(names) => !names.iter().any(|n| eq(n, name)),
        }
    }

    /// Whether the case-sensitive `name` (query string or cookie) is selected.
    pub fn selects(&self, name: &str) -> bool {
        self.selects_by(name, |a, b| a == b)
    }

    /// Whether the header `name` is selected (case-insensitive).
    pub fn selects_header(&self, name: &str) -> bool {
        self.selects_by(name, |a, b| a.eq_ignore_ascii_case(b))
    }

    pub(crate) fn is_none(&self) -> bool {
        matches!(self, Select::None)
    }
}

/// The part of a cache policy that decides what is in the cache key.
///
/// The default is CloudFront's CachingOptimized, except that every query
/// string stays in the key (as a plain HTTP cache does): all query strings,
/// no headers, no cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Query strings in the key.
    pub query_strings: Select,
    /// Request headers in the key: [`Select::None`] or [`Select::Only`]
    /// (CloudFront allows nothing else in a cache policy). Names are
    /// lower-case and sorted once the policy is validated.
    pub headers: Select,
    /// Cookies in the key.
    pub cookies: Select,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        KeyPolicy { query_strings: Select::All, headers: Select::None, cookies: Select::None }
    }
}

impl KeyPolicy {
    /// `true` for the default policy, whose key is host + path + query.
    pub fn is_default(&self) -> bool {
        *self == KeyPolicy::default()
    }
}

/// Where key bytes go: a counter (first pass) or a buffer (second pass).
trait Out {
    fn push_str(&mut self, s: &str);
    fn push(&mut self, c: char);
}

struct Count(usize);

impl Out for Count {
    fn push_str(&mut self, s: &str) {
        self.0 += s.len();
    }
    fn push(&mut self, c: char) {
        self.0 += c.len_utf8();
    }
}

impl Out for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
    fn push(&mut self, c: char) {
        String::push(self, c);
    }
}

/// A fixed stack buffer; the caller sized it from the first pass.
struct Stack {
    buf: [u8; INLINE_KEY_BYTES],
    len: usize,
}

impl Out for Stack {
    fn push_str(&mut self, s: &str) {
        let end = (self.len + s.len()).min(INLINE_KEY_BYTES);
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..n]);
        self.len = end;
    }
    fn push(&mut self, c: char) {
        let mut tmp = [0u8; 4];
        self.push_str(c.encode_utf8(&mut tmp));
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Writes `bytes` with `%` and everything outside `0x20..=0x7E` as `%XX`.
fn push_escaped(out: &mut impl Out, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' || !(0x20..=0x7e).contains(&b) {
            if let Ok(plain) = std::str::from_utf8(&bytes[start..i]) {
                out.push_str(plain);
            }
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
            start = i + 1;
        }
    }
    // Everything left is printable ASCII, hence valid UTF-8.
    if let Ok(plain) = std::str::from_utf8(&bytes[start..]) {
        out.push_str(plain);
    }
}

/// The `name` of a `name=value` query parameter.
pub(crate) fn param_name(param: &str) -> &str {
    param.split_once('=').map_or(param, |(name, _)| name)
}

/// Iterates the `name=value` pairs of every `Cookie` field line
/// (RFC 6265 §5.4; HTTP/2 sends one field line per cookie).
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &[u8])> {
    headers.get_all(header::COOKIE).iter().flat_map(|v| v.as_bytes().split(|&b| b == b';')).filter_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        let name = std::str::from_utf8(pair[..eq].trim_ascii()).ok()?;
        if name.is_empty() {
            return None;
        }
        Some((name, pair[eq + 1..].trim_ascii()))
    })
}

/// Whether the request carries a cookie the key does not hold: a pair
/// whose name the key's cookie selection leaves out, or a fragment that is
/// not a `name=value` pair (the key ignores it; an app reading the raw
/// header would not). An origin that sees every cookie (the app) may
/// personalise its answer on one of these, so that answer is not shared
/// unless it says `public` or `s-maxage`.
pub fn has_unkeyed_cookies(key: &KeyPolicy, headers: &HeaderMap) -> bool {
    headers.get_all(header::COOKIE).iter().flat_map(|v| v.as_bytes().split(|&b| b == b';')).any(|pair| {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            return false;
        }
        let Some(eq) = pair.iter().position(|&b| b == b'=') else { return true };
        match std::str::from_utf8(pair[..eq].trim_ascii()) {
            Ok(name) if !name.is_empty() => !key.cookies.selects(name),
            _ => true,
        }
    })
}

/// What a request carries that could make an origin's answer personal
/// without the key saying so, for an origin that sees the request as the
/// viewer sent it (the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing: the key names everything personal the request carries.
    None,
    /// `Authorization` outside the key.
    Authorization,
    /// A cookie outside the key ([`has_unkeyed_cookies`]).
    Cookie,
}

/// See [`Credentials`].
pub fn unkeyed_credentials(key: &KeyPolicy, headers: &HeaderMap) -> Credentials {
    if headers.contains_key(header::AUTHORIZATION) && !key.headers.selects_header("authorization") {
        Credentials::Authorization
    } else if has_unkeyed_cookies(key, headers) {
        Credentials::Cookie
    } else {
        Credentials::None
    }
}

/// `key` with a typed request extension's value as one more component
/// (`None`: the request has none, which is a value of its own).
pub fn with_extension(key: &str, value: Option<&str>) -> Arc<str> {
    let mut out = String::with_capacity(key.len() + 3 + value.map_or(0, str::len));
    out.push_str(key);
    out.push(SEP);
    out.push('x');
    match value {
        Some(v) => {
            out.push('=');
            push_escaped(&mut out, v.as_bytes());
        }
        None => out.push('-'),
    }
    Arc::from(out)
}

fn write_key(out: &mut impl Out, policy: &KeyPolicy, host: &str, path: &str, query: Option<&str>, headers: &HeaderMap) {
    out.push_str(host);
    out.push(SEP);
    out.push_str(path);
    write_query(out, &policy.query_strings, query);
    if let Select::Only(names) = &policy.headers {
        for name in names {
            let mut values = headers.get_all(name.as_str()).iter().peekable();
            if values.peek().is_none() {
                continue;
            }
            out.push(SEP);
            out.push('h');
            out.push_str(name);
            out.push(':');
            let mut first = true;
            for v in values {
                if !first {
                    out.push(VALUE_SEP);
                }
                first = false;
                push_escaped(out, v.as_bytes());
            }
        }
    }
    match &policy.cookies {
        Select::None => {}
        Select::Only(names) => {
            for name in names {
                for (_, value) in cookies(headers).filter(|(n, _)| n == name) {
                    push_cookie(out, name, value);
                }
            }
        }
        select => {
            for (name, value) in cookies(headers).filter(|(n, _)| select.selects(n)) {
                push_cookie(out, name, value);
            }
        }
    }
}

fn push_cookie(out: &mut impl Out, name: &str, value: &[u8]) {
    out.push(SEP);
    out.push('c');
    push_escaped(out, name.as_bytes());
    out.push('=');
    push_escaped(out, value);
}

fn write_query(out: &mut impl Out, select: &Select, query: Option<&str>) {
    let Some(query) = query else {
        return;
    };
    match select {
        Select::None => {}
        Select::All => {
            out.push('?');
            out.push_str(query);
        }
        select => {
            let mut first = true;
            for param in query.split('&').filter(|p| !p.is_empty()) {
                if select.selects(param_name(param)) {
                    out.push(if first { '?' } else { '&' });
                    out.push_str(param);
                    first = false;
                }
            }
        }
    }
}

/// The cache key of a request under `policy`; `path` is the effective path
/// (after the default root object, normalised for S3 origins).
pub fn cache_key(policy: &KeyPolicy, host: &str, path: &str, query: Option<&str>, headers: &HeaderMap) -> Arc<str> {
    let mut count = Count(0);
    write_key(&mut count, policy, host, path, query, headers);
    if count.0 <= INLINE_KEY_BYTES {
        let mut stack = Stack { buf: [0; INLINE_KEY_BYTES], len: 0 };
        write_key(&mut stack, policy, host, path, query, headers);
        // Only whole `&str`s were copied in, so this is valid UTF-8.
        return match std::str::from_utf8(&stack.buf[..stack.len]) {
            Ok(key) => Arc::from(key),
            Err(_) => Arc::from(String::from_utf8_lossy(&stack.buf[..stack.len]).as_ref()),
        };
    }
    let mut key = String::with_capacity(count.0);
    write_key(&mut key, policy, host, path, query, headers);
    Arc::from(key)
}

#[cfg(test)]
mod tests;
