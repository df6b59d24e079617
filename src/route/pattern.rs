//! CloudFront cache-behaviour path patterns.
//!
//! A [`PathPattern`] is matched against the whole request path, case-sensitively:
//!
//! * `*` matches any run of characters, including `/` and the empty run;
//! * `?` matches exactly one character;
//! * every other character matches itself.
//!
//! Patterns may be written with or without a leading `/` (CloudFront treats both
//! the same); they are normalised to start with `/`, except the lone default
//! pattern `*`, which is kept as is and matches everything.
//!
//! Matching uses the classic two-pointer wildcard algorithm with single-star
//! backtracking: `O(len(pattern) * len(path))` in the worst case, no
//! recursion, no allocation.

use crate::policy::wildcard::wildcard_match;
use std::fmt;
use std::str::FromStr;

/// Maximum length of a path pattern in characters, as written (CloudFront's limit).
pub const MAX_PATTERN_LEN: usize = 255;

/// A parsed, validated CloudFront path pattern.
///
/// ```
/// use tower_cdn::PathPattern;
///
/// let p: PathPattern = "images/*.jpg".parse()?;
/// assert_eq!(p.as_str(), "/images/*.jpg");
/// assert!(p.matches("/images/a/b.jpg"));
/// assert!(!p.matches("/images/a.JPG"));
/// # Ok::<(), tower_cdn::PatternError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    /// Normalised pattern text (ASCII only, guaranteed by validation).
    pattern: String,
    /// Whether the pattern contains `*` or `?`.
    has_wildcards: bool,
}

/// Why a path pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    kind: PatternErrorKind,
}

/// The specific problem found in a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternErrorKind {
    /// The pattern is the empty string.
    Empty,
    /// The pattern is longer than 255 characters (CloudFront's limit).
    TooLong {
        /// Length of the rejected pattern, in characters.
        len: usize,
    },
    /// The pattern contains a character CloudFront does not allow.
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Zero-based character index of `ch` in the pattern as written.
        position: usize,
    },
}

impl PatternError {
    /// The specific problem.
    pub fn kind(&self) -> &PatternErrorKind {
        &self.kind
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PatternErrorKind::Empty => f.write_str("path pattern is empty"),
            PatternErrorKind::TooLong { len } => {
                write!(f, "path pattern is {len} characters long; the maximum is {MAX_PATTERN_LEN}")
            }
            PatternErrorKind::InvalidChar { ch, position } => write!(
                f,
                "path pattern has invalid character {ch:?} at position {position}; allowed are \
                 A-Z a-z 0-9 _ - . * ? $ / ~ \" ' @ : + &"
            ),
        }
    }
}

impl std::error::Error for PatternError {}

/// Whether CloudFront allows `c` in a path pattern (`*` and `?` included).
fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '-' | '.' | '*' | '?' | '$' | '/' | '~' | '"' | '\'' | '@' | ':' | '+' | '&')
}

impl PathPattern {
    /// Parses and validates a pattern, normalising it to start with `/`
    /// (except the lone default pattern `*`).
    pub fn parse(input: &str) -> Result<Self, PatternError> {
        if input.is_empty() {
            return Err(PatternError { kind: PatternErrorKind::Empty });
        }
        let mut len = 0usize;
        for (position, ch) in input.chars().enumerate() {
            if !is_allowed(ch) {
                return Err(PatternError { kind: PatternErrorKind::InvalidChar { ch, position } });
            }
            len = position + 1;
        }
        if len > MAX_PATTERN_LEN {
            return Err(PatternError { kind: PatternErrorKind::TooLong { len } });
        }
        let pattern = if input == "*" || input.starts_with('/') { input.to_owned() } else { format!("/{input}") };
        let has_wildcards = pattern.bytes().any(|b| b == b'*' || b == b'?');
        Ok(Self { pattern, has_wildcards })
    }

    /// Whether `path` matches the whole pattern.
    pub fn matches(&self, path: &str) -> bool {
        if self.has_wildcards { wildcard_match(&self.pattern, path) } else { self.pattern == path }
    }

    /// The catch-all pattern `*` of a default behavior.
    pub(crate) fn default_pattern() -> Self {
        Self { pattern: "*".to_owned(), has_wildcards: true }
    }

    /// The normalised pattern text.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether this is the catch-all default pattern `*`.
    pub fn is_default(&self) -> bool {
        self.pattern == "*"
    }
}

impl FromStr for PathPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PathPattern").field(&self.pattern).finish()
    }
}

#[cfg(test)]
mod tests;
