//! CloudFront's wildcard patterns (`*` any run of characters, `?` exactly
//! one), shared by behavior path patterns and signed-URL policy resources.

/// Length in bytes of the UTF-8 sequence introduced by lead byte `b`.
fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Matches `text` against `pattern` where `*` matches any run of characters and
/// `?` exactly one character; everything else is literal.
///
/// Two-pointer algorithm with backtracking to the most recent `*` only, so the
/// worst case is `O(len(pattern) * len(text))`. Works on bytes but keeps both
/// cursors on character boundaries: `*` and `?` are ASCII, and UTF-8 is
/// self-synchronising, so literal runs compare byte-for-byte correctly.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pat = pattern.as_bytes();
    let txt = text.as_bytes();
    let (mut p, mut t) = (0usize, 0usize);
    // (pattern index just after the last `*`, text index that `*` currently extends to)
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tc) = txt.get(t) {
        match pat.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, t));
                continue;
            }
            Some(b'?') => {
                p += 1;
                t += utf8_len(tc);
                continue;
            }
            Some(&pc) if pc == tc => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((after_star, star_t)) => {
                // Let the last `*` swallow one more character and retry.
                let next = star_t + txt.get(star_t).map_or(1, |&b| utf8_len(b));
                star = Some((after_star, next));
                p = after_star;
                t = next;
            }
            None => return false,
        }
    }
    pat.iter().skip(p).all(|&b| b == b'*')
}
