//! Key derivation: any `Host` value, any path and query. No panic; the host
//! is normalised (lower case, no trailing dot); path normalisation is
//! idempotent and leaves no dot segment; and two different (host, path,
//! query) triples never share a key (a collision would be cache poisoning).
#![no_main]

use std::borrow::Cow;

use http::Request;
use libfuzzer_sys::fuzz_target;
use tower_cdn::fuzzing::{cache_key, request_host};
use tower_cdn::policy::target::normalize_path;

/// Splits on 0xff: Host, path, query (absent when the part is missing).
fn parts(data: &[u8]) -> (&[u8], &[u8], Option<&[u8]>) {
    let mut it = data.splitn(3, |&b| b == 0xff);
    (it.next().unwrap_or_default(), it.next().unwrap_or_default(), it.next())
}

fn host_of(host: &[u8]) -> Option<String> {
    let req = Request::builder().uri("/").header("host", host).body(()).ok()?;
    let (parts, ()) = req.into_parts();
    let h = request_host(&parts).ok()??;
    assert!(!h.bytes().any(|b| b.is_ascii_uppercase()), "{h}");
    Some(h.into_owned())
}

fuzz_target!(|data: &[u8]| {
    let (host, path, query) = parts(data);
    let host = host_of(host);
    let Ok(path) = std::str::from_utf8(path) else { return };
    let path = format!("/{path}");
    if let Ok(once) = normalize_path(&path).map(Cow::into_owned) {
        let twice = normalize_path(&once).expect("a normal path stays valid").into_owned();
        assert_eq!(once, twice, "normalisation is idempotent");
        assert!(!once.split('/').any(|s| s == "." || s == ".."), "{once}");
    }
    // Keys of valid URI parts are injective.
    let query = query.and_then(|q| std::str::from_utf8(q).ok());
    let target = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let Ok(uri) = target.parse::<http::Uri>() else { return };
    let (p, q) = (uri.path(), uri.query());
    let h = host.as_deref().unwrap_or("");
    let key = cache_key(h, p, q);
    let other_query = match q {
        Some(q) => cache_key(h, p, Some(&format!("{q}&"))),
        None => cache_key(h, p, Some("")),
    };
    assert_ne!(key, other_query);
    let other_path = cache_key(h, &format!("{p}/"), q);
    assert_ne!(key, other_path);
    if let Some((last, _)) = h.char_indices().last() {
        assert_ne!(key, cache_key(&format!("{h}x"), p, q));
        // Moving a character from the host to the path must change the key.
        assert_ne!(key, cache_key(&h[..last], &format!("{}{p}", &h[last..]), q));
    }
});
