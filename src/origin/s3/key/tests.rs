//! Unit tests of `key`.

use super::*;
use proptest::prelude::*;

#[test]
fn table() {
    let ok: &[(&str, &str, &str)] = &[
        ("", "/hello.txt", "hello.txt"),
        ("", "/dir/space%20key.txt", "dir/space key.txt"),
        ("", "/dir/space key.txt", "dir/space key.txt"),
        ("", "/dir/%C3%BCn%C3%AF%C2%A9%C3%B8d%C3%A9.txt", "dir/ünï©ødé.txt"),
        ("", "/dir/ünï©ødé.txt", "dir/ünï©ødé.txt"),
        ("", "/dir/a+b.txt", "dir/a+b.txt"),
        ("", "/dir/a%2Bb.txt", "dir/a+b.txt"),
        ("", "/dir/", "dir/"),
        ("", "/%252F", "%2F"), // decoded once only
        ("", "/a/.../b", "a/.../b"),
        ("", "/a/.hidden", "a/.hidden"),
        ("/", "/x", "x"),
        ("/static", "/x", "static/x"),
        ("static", "/x", "static/x"),
        ("/static/", "/x/y", "static/x/y"),
        ("//static//", "/x", "static/x"),
        ("/a/b", "/x", "a/b/x"),
        ("/prefix", "/inside.txt", "prefix/inside.txt"),
    ];
    for (origin, path, want) in ok {
        assert_eq!(object_key(origin, path).as_deref(), Ok(*want), "{origin:?} {path:?}");
    }
    let bad: &[(&str, &str, KeyError)] = &[
        ("", "/", KeyError::Empty),
        ("/static", "/", KeyError::Empty),
        ("", "", KeyError::NotAbsolute),
        ("", "x", KeyError::NotAbsolute),
        ("", "/a/../b", KeyError::DotSegment),
        ("", "/..", KeyError::DotSegment),
        ("", "/a/.", KeyError::DotSegment),
        ("", "/./a", KeyError::DotSegment),
        ("", "/a/%2e%2e/b", KeyError::DotSegment),
        ("", "/a/%2E./b", KeyError::DotSegment),
        ("", "/a/%2e/b", KeyError::DotSegment),
        ("", "/a%2Fb", KeyError::EncodedSlash),
        ("", "/a%2fb", KeyError::EncodedSlash),
        ("", "/..%2f..%2fetc", KeyError::EncodedSlash),
        ("", "/a\\b", KeyError::Backslash),
        ("", "/a%5cb", KeyError::Backslash),
        ("", "/a%00b", KeyError::ControlChar),
        ("", "/a%0Ab", KeyError::ControlChar),
        ("", "/a%7Fb", KeyError::ControlChar),
        ("", "/a%C2%85b", KeyError::ControlChar), // U+0085 NEL
        ("", "//a", KeyError::EmptySegment),
        ("", "/a//b", KeyError::EmptySegment),
        ("", "/a%", KeyError::BadPercentEncoding),
        ("", "/a%4", KeyError::BadPercentEncoding),
        ("", "/a%zz", KeyError::BadPercentEncoding),
        ("", "/a%FF", KeyError::InvalidUtf8),
        ("", "/a%C3", KeyError::InvalidUtf8),
        ("", "/a?b", KeyError::NotAPath),
        ("/../x", "/a", KeyError::InvalidOriginPath),
        ("/a//b", "/a", KeyError::InvalidOriginPath),
        ("/a\\b", "/a", KeyError::InvalidOriginPath),
    ];
    for (origin, path, want) in bad {
        assert_eq!(object_key(origin, path).as_ref(), Err(want), "{origin:?} {path:?}");
    }
}

#[test]
fn length_limit_counts_the_prefix() {
    let name = "a".repeat(1020);
    assert!(object_key("", &format!("/{name}")).is_ok());
    assert_eq!(object_key("/static", &format!("/{name}")), Err(KeyError::TooLong));
}

#[test]
fn origin_path_normalisation() {
    for (input, want) in [("", ""), ("/", ""), ("//", ""), ("a", "/a"), ("/a/b/", "/a/b")] {
        assert_eq!(normalize_origin_path(input).as_deref(), Ok(want));
    }
}

proptest! {
    /// Any key free of dot and empty segments survives a round trip through
    /// full percent-encoding.
    #[test]
    fn roundtrip(segs in proptest::collection::vec("[^/\\\\\\p{Cc}]{1,12}", 1..5)) {
        prop_assume!(segs.iter().all(|s| s != "." && s != ".."));
        let key = segs.join("/");
        prop_assume!(key.len() <= MAX_KEY_LEN);
        let path: String = key.bytes().map(|b| if b == b'/' { "/".into() } else { format!("%{b:02X}") }).collect();
        prop_assert_eq!(object_key("", &format!("/{path}")), Ok(key));
    }

    /// Whatever comes in, an accepted key never contains a dot segment, a backslash,
    /// a control character or an empty inner segment.
    #[test]
    fn accepted_keys_are_clean(path in "/[a-z./%25\\\\2eEfF5cC0+ ]{0,24}") {
        if let Ok(key) = object_key("/p", &path) {
            prop_assert!(key.starts_with("p/"));
            let segs: Vec<&str> = key.split('/').collect();
            let n = segs.len();
            for (i, s) in segs.iter().enumerate() {
                prop_assert!(*s != "." && *s != "..");
                prop_assert!(!s.is_empty() || i + 1 == n);
            }
            prop_assert!(!key.contains('\\') && !key.chars().any(char::is_control));
        }
    }
}
