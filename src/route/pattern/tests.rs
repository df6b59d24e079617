use super::*;
use proptest::prelude::*;

fn pat(s: &str) -> PathPattern {
    match PathPattern::parse(s) {
        Ok(p) => p,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

/// Simple exponential reference matcher over chars; only for short inputs.
fn reference(p: &[char], t: &[char]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some('*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
        (Some(_), None) => false,
        (Some('?'), Some(_)) => reference(&p[1..], &t[1..]),
        (Some(a), Some(b)) => a == b && reference(&p[1..], &t[1..]),
    }
}

fn reference_str(p: &str, t: &str) -> bool {
    let p: Vec<char> = p.chars().collect();
    let t: Vec<char> = t.chars().collect();
    reference(&p, &t)
}

#[test]
fn normalises_leading_slash() {
    assert_eq!(pat("images/*.jpg").as_str(), "/images/*.jpg");
    assert_eq!(pat("/images/*.jpg").as_str(), "/images/*.jpg");
    assert_eq!(pat("*.jpg").as_str(), "/*.jpg");
    assert_eq!(pat("*").as_str(), "*");
    assert!(pat("*").is_default());
    assert!(!pat("/*").is_default());
    assert_eq!(pat("a").to_string(), "/a");
    assert_eq!(format!("{:?}", pat("a")), "PathPattern(\"/a\")");
    assert_eq!(pat("images/*"), "/images/*".parse().unwrap());
}

#[test]
fn star_and_question_mark() {
    let p = pat("/images/*.jpg");
    assert!(p.matches("/images/.jpg"));
    assert!(p.matches("/images/a.jpg"));
    assert!(p.matches("/images/a/b/c.jpg"));
    assert!(!p.matches("/images/a.jpeg"));
    assert!(!p.matches("/Images/a.jpg"), "case-sensitive");
    assert!(!p.matches("images/a.jpg"));

    let q = pat("/v?/file");
    assert!(q.matches("/v1/file"));
    assert!(q.matches("/vé/file"), "? matches one (multi-byte) character");
    assert!(!q.matches("/v/file"));
    assert!(!q.matches("/v12/file"));

    assert!(pat("*").matches(""));
    assert!(pat("*").matches("/anything/at/all?x=1"));
    assert!(pat("/*").matches("/"));
    assert!(!pat("/*").matches(""));
    assert!(pat("/a*b*c").matches("/abc"));
    assert!(pat("/a*b*c").matches("/aXXbYYc"));
    assert!(!pat("/a*b*c").matches("/aXXbYY"));
    assert!(pat("/**").matches("/x"));
    assert!(pat("/*?").matches("/x"));
    assert!(!pat("/*?").matches("/"));
}

#[test]
fn literal_pattern_is_exact() {
    let p = pat("/a/b.html");
    assert!(p.matches("/a/b.html"));
    assert!(!p.matches("/a/b.htm"));
    assert!(!p.matches("/a/b.html/"));
}

#[test]
fn allowed_characters() {
    let all = "/AZaz09_-.*?$/~\"'@:+&";
    assert_eq!(pat(all).as_str(), all);
}

#[test]
fn rejects_bad_patterns() {
    let e = PathPattern::parse("").unwrap_err();
    assert_eq!(e.kind(), &PatternErrorKind::Empty);
    assert_eq!(e.to_string(), "path pattern is empty");

    let e = PathPattern::parse("/a b").unwrap_err();
    assert_eq!(e.kind(), &PatternErrorKind::InvalidChar { ch: ' ', position: 2 });
    assert!(e.to_string().contains("' ' at position 2"), "{e}");

    for bad in ["/a%20", "/a#b", "/é", "/a\\b", "/a\0", "/{x}", "/a,b", "/a=b"] {
        assert!(PathPattern::parse(bad).is_err(), "{bad:?} should be rejected");
    }

    let max = "a".repeat(MAX_PATTERN_LEN);
    assert!(PathPattern::parse(&max).is_ok());
    let e = PathPattern::parse(&"a".repeat(MAX_PATTERN_LEN + 1)).unwrap_err();
    assert_eq!(e.kind(), &PatternErrorKind::TooLong { len: 256 });
    assert!(e.to_string().contains("256"), "{e}");
    // Invalid character reported even in an over-long pattern.
    let long_bad = format!("{}%", "a".repeat(300));
    assert!(matches!(
        PathPattern::parse(&long_bad).unwrap_err().kind(),
        PatternErrorKind::InvalidChar { position: 300, .. }
    ));
    let err: Box<dyn std::error::Error> = Box::new(e);
    assert!(!err.to_string().is_empty());
}

#[test]
fn pathological_pattern_finishes() {
    // Normalised to "/*a*a*a*a*a*a*b".
    let p = pat("*a*a*a*a*a*a*b");
    let text = "a".repeat(10_000);
    assert!(!p.matches(&text));
    assert!(!p.matches(&format!("/{text}")));
    assert!(p.matches(&format!("/{text}b")));
    let q = pat("/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*?b");
    assert!(!q.matches(&format!("/{text}")));
}

#[test]
fn reference_sanity() {
    assert!(reference_str("a*b", "aXb"));
    assert!(!reference_str("a?b", "ab"));
}

fn pattern_body() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.$~\"'@:+&/*?-]{0,12}"
}

proptest! {
    #[test]
    fn never_panics(body in "\\PC{0,40}", path in "\\PC{0,64}") {
        if let Ok(p) = PathPattern::parse(&body) {
            let _ = p.matches(&path);
        }
    }

    #[test]
    fn agrees_with_reference(body in pattern_body(), path in "[ab/.*?é]{0,14}") {
        let Ok(p) = PathPattern::parse(&body) else { return Ok(()) };
        prop_assert_eq!(p.matches(&path), reference_str(p.as_str(), &path));
        // Also against paths built from the pattern's own alphabet.
        let path2: String = body.chars().rev().collect();
        prop_assert_eq!(p.matches(&path2), reference_str(p.as_str(), &path2));
    }

    #[test]
    fn literal_matches_only_itself(body in "[A-Za-z0-9_./-]{1,20}", other in "[A-Za-z0-9_./-]{0,20}") {
        let p = PathPattern::parse(&body).unwrap();
        prop_assert!(p.matches(p.as_str()));
        if other != p.as_str() {
            prop_assert!(!p.matches(&other));
        }
    }

    #[test]
    fn star_matches_everything(path in "\\PC{0,64}") {
        prop_assert!(pat("*").matches(&path));
    }
}
