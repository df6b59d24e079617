//! Human-readable sizes and durations for flags and config files.

use std::time::Duration;

/// Parses a byte size: `1048576`, `512KiB`, `256MiB`, `1GiB`, `100KB`,
/// `10MB`, `64m`. Units are case-insensitive; `KiB`/`MiB`/`GiB`/`TiB` and
/// the bare `K`/`M`/`G`/`T` are binary (1 G = 2^30 bytes, as nginx reads
/// `1g`), `KB`/`MB`/`GB`/`TB` are decimal (1 GB = 10^9 bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if number.is_empty() {
        return Err(format!("{text:?} is not a size (try 256MiB)"));
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!("unknown size unit {other:?} in {text:?} (use B, KiB, MiB, GiB, KB, MB, GB)"));
        }
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a size"))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// Parses a duration: `24h`, `0s`, `365d`, `1h 30m`, `250ms`, or bare
/// seconds. Units: `ms`, `s`, `m` (minutes), `h`, `d`, `w`; months and
/// years are refused (`1M` would be a month to one reader and a minute to
/// another: write `30d` or `365d`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<u64>().map(Duration::from_secs).map_err(|e| format!("{text:?}: {e}"));
    }
    if let Some(unit) = ambiguous_unit(t) {
        return Err(format!(
            "{text:?}: the unit {unit:?} is ambiguous or calendar-based; use m (minutes), h, d or w (30d for a month, 365d for a year)"
        ));
    }
    humantime::parse_duration(t).map_err(|e| format!("{text:?} is not a duration (try 24h, 90s, 365d): {e}"))
}

/// A month or year unit in a duration (`1M`, `2months`, `1y`, `1year`).
fn ambiguous_unit(t: &str) -> Option<String> {
    t.split(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == '.')
        .filter(|u| !u.is_empty())
        .find(|u| *u == "M" || u.starts_with("mon") || u.starts_with('y') || u.starts_with("Y"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100KB"), Ok(100_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("42"), Ok(42));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("365d"), Ok(Duration::from_secs(365 * 86_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        for ambiguous in ["1M", "2months", "1y", "1year", "1h 1M"] {
            let err = parse_duration(ambiguous).unwrap_err();
            assert!(err.contains("30d for a month"), "{ambiguous}: {err}");
        }
    }
}
