//! Helpers shared by the unit tests.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// A header map from `(name, value)` pairs, in order (repeated names append).
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        map.append(name, HeaderValue::from_str(value).expect("a valid header value"));
    }
    map
}
