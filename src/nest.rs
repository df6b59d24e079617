//! A layer inside a nested axum router (`Router::nest("/assets", assets.layer(cdn))`)
//! sees the path with the nest's prefix removed. The cache routes, keys and
//! invalidates on the path the viewer asked for (axum's `OriginalUri`, set by
//! the outer router), so two nested routers behind one layer never share an
//! entry; the app is handed the path it expects, prefix removed again.

use http::Uri;
use http::request::Parts;
use http::uri::PathAndQuery;

/// The prefix a nesting router removed, kept for the call to the app.
#[derive(Debug, Clone)]
pub(crate) struct NestPrefix(String);

/// Puts the viewer's own path back when a nesting router shortened it.
pub(crate) fn adopt_original(parts: &mut Parts) {
    let Some(axum::extract::OriginalUri(original)) = parts.extensions.get() else { return };
    let (full, nested) = (original.path(), parts.uri.path());
    if full == nested {
        return;
    }
    let prefix = match full.strip_suffix(nested) {
        Some(p) => p,
        // `/assets` nested at `/assets` is `/` inside.
        None if nested == "/" => full,
        None => return,
    };
    if prefix.is_empty() || !prefix.starts_with('/') || prefix.ends_with('/') {
        return;
    }
    let prefix = NestPrefix(prefix.to_owned());
    parts.uri = original.clone();
    parts.extensions.insert(prefix);
}

/// The path the nested app expects: the viewer's, as the edge forwards it,
/// without the nest's prefix.
pub(crate) fn restore_nested(parts: &mut Parts) {
    let Some(NestPrefix(prefix)) = parts.extensions.remove::<NestPrefix>() else { return };
    let Some(rest) = parts.uri.path().strip_prefix(prefix.as_str()) else { return };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let pq = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let Ok(pq) = pq.parse::<PathAndQuery>() else { return };
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    uri.path_and_query = Some(pq);
    if let Ok(uri) = Uri::from_parts(uri) {
        parts.uri = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::OriginalUri;

    fn nested(original: &str, inside: &str) -> Parts {
        let mut parts = http::Request::get(inside).body(()).unwrap().into_parts().0;
        parts.extensions.insert(OriginalUri(original.parse().unwrap()));
        parts
    }

    #[test]
    fn the_viewers_path_is_used_and_the_apps_restored() {
        for (original, inside) in
            [("/assets/logo.svg?v=1", "/logo.svg?v=1"), ("/assets", "/"), ("/assets/", "/"), ("/a/b/c", "/c")]
        {
            let mut parts = nested(original, inside);
            adopt_original(&mut parts);
            assert_eq!(parts.uri, original);
            restore_nested(&mut parts);
            assert_eq!(parts.uri.path_and_query().unwrap().as_str(), inside, "{original}");
        }
    }

    #[test]
    fn an_unnested_or_unrelated_path_is_left_alone() {
        let mut parts = nested("/same", "/same");
        adopt_original(&mut parts);
        assert!(parts.extensions.get::<NestPrefix>().is_none());
        let mut parts = nested("/x/y", "/other");
        adopt_original(&mut parts);
        assert_eq!(parts.uri, "/other");
        let mut parts = http::Request::get("/p").body(()).unwrap().into_parts().0;
        restore_nested(&mut parts);
        assert_eq!(parts.uri, "/p");
    }
}
