use super::*;
use proptest::prelude::*;

fn hp(s: &str) -> HostPattern {
    match HostPattern::parse(s) {
        Ok(p) => p,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

#[test]
fn parses_and_normalises() {
    assert_eq!(hp("Example.COM").to_string(), "example.com");
    assert_eq!(hp("example.com.").to_string(), "example.com");
    assert_eq!(hp("*.Example.com").to_string(), "*.example.com");
    assert!(hp("*.example.com").is_wildcard());
    assert!(!hp("example.com").is_wildcard());
    assert_eq!(hp("localhost").to_string(), "localhost");
    assert_eq!(hp("192.0.2.1").to_string(), "192.0.2.1");
    assert_eq!(hp("2001:DB8::1").to_string(), "[2001:db8::1]");
    assert_eq!(hp("[2001:db8:0::1]").to_string(), "[2001:db8::1]");
    assert_eq!(format!("{:?}", hp("a.b")), "HostPattern(a.b)");
    assert_eq!("xn--bcher-kva.example".parse::<HostPattern>(), Ok(hp("XN--BCHER-KVA.example")));
    let label63 = "a".repeat(63);
    assert!(HostPattern::parse(&format!("{label63}.com")).is_ok());
}

#[test]
fn rejects_invalid_hosts() {
    let cases = [
        ("", "empty"),
        (".", "empty"),
        ("a..b", "label 1 is empty"),
        (".example.com", "label 0 is empty"),
        ("exa mple.com", "invalid character ' '"),
        ("exa_mple.com", "invalid character '_'"),
        ("-a.com", "hyphen"),
        ("a-.com", "hyphen"),
        ("a.*.com", "wildcard"),
        ("*", "wildcard"),
        ("*example.com", "wildcard"),
        ("**.example.com", "wildcard"),
        ("*.*.example.com", "wildcard"),
        ("*.192.0.2.1", "IP address"),
        ("bücher.de", "ASCII"),
        ("example.com:80", "invalid character ':'"),
        ("[::1", "invalid character '['"),
    ];
    for (input, needle) in cases {
        match HostPattern::parse(input) {
            Ok(p) => panic!("{input:?} should be rejected, got {p}"),
            Err(e) => assert!(e.to_string().contains(needle), "{input:?}: {e}"),
        }
    }
    let long_label = format!("{}.com", "a".repeat(64));
    assert!(HostPattern::parse(&long_label).is_err());
    let long_host = vec!["abcdefghi"; 26].join("."); // 259 chars
    let e = HostPattern::parse(&long_host).unwrap_err();
    assert!(e.to_string().contains("maximum is 253"), "{e}");
    assert_eq!(e.input(), long_host);
}

#[test]
fn wildcard_matches_exactly_one_label() {
    let p = hp("*.example.com");
    assert!(p.matches("a.example.com"));
    assert!(p.matches("www.example.com"));
    assert!(!p.matches("example.com"));
    assert!(!p.matches("a.b.example.com"));
    assert!(!p.matches(".example.com"));
    assert!(!p.matches("a.example.org"));
    assert!(!p.matches("aexample.com"));
    assert!(hp("example.com").matches("example.com"));
    assert!(!hp("example.com").matches("a.example.com"));
    assert!(hp("[::1]").matches("[::1]"));
    assert!(hp("::1").matches("[0:0::1]"));
    assert!(!hp("*.2.3.4").matches("1.2.3.4"));
}

#[test]
fn table_exact_beats_wildcard() {
    let mut t = HostTable::new();
    assert!(t.is_empty());
    t.insert_str("*.example.com", "wild").unwrap();
    t.insert_str("www.example.com", "www").unwrap();
    t.insert_str("example.com", "apex").unwrap();
    t.insert_str("localhost", "local").unwrap();
    t.insert_str("127.0.0.1", "v4").unwrap();
    t.insert_str("[::1]", "v6").unwrap();
    assert_eq!(t.len(), 6);
    assert_eq!(t.lookup("www.example.com"), Some(&"www"));
    assert_eq!(t.lookup("img.example.com"), Some(&"wild"));
    assert_eq!(t.lookup("example.com"), Some(&"apex"));
    assert_eq!(t.lookup("a.b.example.com"), None);
    assert_eq!(t.lookup("localhost"), Some(&"local"));
    assert_eq!(t.lookup("127.0.0.1"), Some(&"v4"));
    assert_eq!(t.lookup("[::1]"), Some(&"v6"));
    assert_eq!(t.lookup("[0::1]"), Some(&"v6"));
    assert_eq!(t.lookup("::1"), Some(&"v6"));
    assert_eq!(t.lookup("127.0.0.2"), None);
    assert_eq!(t.lookup(""), None);
    assert_eq!(t.lookup("."), None);
    assert_eq!(t.get(&hp("*.example.com")), Some(&"wild"));
    assert!(format!("{t:?}").contains("*.example.com"));
}

#[test]
fn table_rejects_duplicates_naming_the_host() {
    let mut t = HostTable::new();
    t.insert_str("Example.com", 1).unwrap();
    let e = t.insert_str("example.COM.", 2).unwrap_err();
    assert_eq!(e, HostTableError::Duplicate { host: "example.com".into() });
    assert!(e.to_string().contains("example.com"), "{e}");
    t.insert_str("*.example.com", 3).unwrap();
    let e = t.insert_str("*.EXAMPLE.com", 4).unwrap_err();
    assert!(e.to_string().contains("*.example.com"), "{e}");
    t.insert_str("::1", 5).unwrap();
    let e = t.insert_str("[0:0::1]", 6).unwrap_err();
    assert!(e.to_string().contains("[::1]"), "{e}");
    let e = t.insert_str("bad host", 7).unwrap_err();
    assert!(matches!(e, HostTableError::Invalid(_)));
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(t.lookup("example.com"), Some(&1));
}

proptest! {
    #[test]
    fn lookup_never_panics(host in "\\PC{0,80}") {
        let mut t = HostTable::new();
        t.insert_str("*.example.com", 1).unwrap();
        t.insert_str("example.com", 2).unwrap();
        t.insert_str("::1", 3).unwrap();
        let _ = t.lookup(&host);
        let _ = HostPattern::parse(&host);
    }

    #[test]
    fn wildcard_lookup_matches_single_label(label in "[a-z0-9]{1,10}", extra in "[a-z0-9]{1,10}") {
        let mut t = HostTable::new();
        t.insert_str("*.example.com", ()).unwrap();
        let one = format!("{label}.example.com");
        let two = format!("{extra}.{label}.example.com");
        prop_assert!(t.lookup(&one).is_some());
        prop_assert!(t.lookup(&two).is_none());
    }
}

/// The parsers `parse_ip` skips for names, run on everything.
fn parse_ip_slowly(s: &str) -> Option<IpAddr> {
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    s.parse::<Ipv4Addr>().ok().map(IpAddr::V4).or_else(|| s.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
}

proptest! {
    #[test]
    fn ip_literals_are_told_apart_as_both_parsers_would(s in "[0-9a-fA-F.:\\[\\]%xg-]{0,45}") {
        prop_assert_eq!(parse_ip(&s), parse_ip_slowly(&s));
    }
}

#[test]
fn ip_literal_shapes() {
    for s in [
        "1.2.3.4",
        "::1",
        "[::1]",
        "::ffff:1.2.3.4",
        "2001:db8::1",
        "0.0.0.0",
        "1.2.3",
        "1.2.3.4.5",
        "a.b",
        "",
        ":",
        "1:2",
    ] {
        assert_eq!(parse_ip(s), parse_ip_slowly(s), "{s}");
    }
}
