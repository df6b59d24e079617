//! CloudFront's URL-safe base64: standard base64, then `+`→`-`, `=`→`_`, `/`→`~`.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

/// Standard alphabet, padding optional on decode (some signers strip it).
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes `data` in CloudFront's base64 variant.
pub(crate) fn encode(data: &[u8]) -> String {
    STANDARD
        .encode(data)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            other => other,
        })
        .collect()
}

/// Decodes CloudFront base64, refusing inputs that would decode to more than
/// `max_len` bytes (checked before decoding) and the standard-alphabet
/// characters `+`, `=`, `/` (CloudFront never emits them).
pub(crate) fn decode(s: &str, max_len: usize) -> Option<Vec<u8>> {
    if s.len() > max_len.div_ceil(3).saturating_mul(4) {
        return None;
    }
    let mut translated = Vec::with_capacity(s.len());
    for b in s.bytes() {
        translated.push(match b {
            b'-' => b'+',
            b'_' => b'=',
            b'~' => b'/',
            b'+' | b'=' | b'/' => return None,
            other => other,
        });
    }
    let decoded = DECODER.decode(translated).ok()?;
    (decoded.len() <= max_len).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_uses_cloudfront_alphabet() {
        // 0xfb 0xff 0xbf encodes to "+/+/" in standard base64.
        let data = [0xfb, 0xff, 0xbf, 0x01];
        let enc = encode(&data);
        assert_eq!(enc, "-~-~AQ__");
        assert_eq!(decode(&enc, 16).as_deref(), Some(&data[..]));
        assert_eq!(decode("-~-~AQ", 16).as_deref(), Some(&data[..]));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode("+/+/", 16), None);
        assert_eq!(decode("ab=_", 16), None);
        assert_eq!(decode("a", 16), None);
        assert_eq!(decode("!!!!", 16), None);
        assert_eq!(decode("AAAAAAAA", 5), None);
        assert_eq!(decode(&"A".repeat(10_000), 16), None);
        assert_eq!(decode("", 16), Some(Vec::new()));
    }
}
