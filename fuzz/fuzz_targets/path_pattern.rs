//! CloudFront path patterns: any pattern text, any path, no panic and no
//! blow-up; a literal pattern matches exactly itself; `*` matches anything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_cdn::PathPattern;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // "pattern\npath"
    let (pattern, path) = text.split_once('\n').unwrap_or((text, text));
    if let Ok(p) = PathPattern::parse(pattern) {
        let _ = p.matches(path);
        let normalised = p.as_str();
        if !normalised.contains(['*', '?']) {
            assert!(p.matches(normalised), "a literal pattern matches itself: {normalised:?}");
            assert_eq!(p.matches(path), path == normalised, "{normalised:?} vs {path:?}");
        }
    }
    let star = PathPattern::parse("*").unwrap();
    assert!(star.matches(path));
});
