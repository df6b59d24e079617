//! Configuration mistakes that are not errors (the layer works, but not as
//! the author meant): behaviors no request can reach because an earlier
//! pattern takes all their paths, the same pattern twice, origins nothing
//! uses. Logged as warnings when the layer is built, so `--check-config`
//! shows them too.

use super::distribution::Distribution;

/// The warnings for one distribution, each naming the settings as the file
/// spells them (`distributions[0].behaviors[2]`).
pub(crate) fn lint(d: &Distribution, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let patterns: Vec<&str> = d.behaviors.iter().map(|b| b.path_pattern.as_str()).collect();
    for (j, later) in patterns.iter().enumerate() {
        for (i, earlier) in patterns[..j].iter().enumerate() {
            if normal(earlier) == normal(later) {
                out.push(format!(
                    "{at}.behaviors[{j}]: the same path pattern as behaviors[{i}] ({earlier:?}); it is never used"
                ));
                break;
            }
            if takes_all_of(earlier, later) {
                out.push(format!(
                    "{at}.behaviors[{j}] ({later:?}) is shadowed: behaviors[{i}] ({earlier:?}) comes first and matches every path it would"
                ));
                break;
            }
        }
    }
    let used = |id: &str| {
        d.behaviors.iter().chain(d.default_behavior.iter()).any(|b| b.origin.as_deref() == Some(id))
            || d.groups.iter().any(|(_, g)| g.primary == id || g.secondary == id)
    };
    let origins = d.origins.iter().map(|(id, _)| ("origins", id));
    for (table, id) in origins.chain(d.groups.iter().map(|(id, _)| ("origin_groups", id))) {
        if !used(id) {
            out.push(format!("{at}.{table}.{id}: no behavior or origin group uses this origin"));
        }
    }
    out
}

/// A pattern without its optional leading `/`.
fn normal(p: &str) -> &str {
    p.strip_prefix('/').unwrap_or(p)
}

/// Whether every path `later` matches is matched by `earlier`: `earlier`
/// is `*`, or a literal prefix and a trailing `*` that `later`'s own
/// literal prefix starts with.
fn takes_all_of(earlier: &str, later: &str) -> bool {
    let (e, l) = (normal(earlier), normal(later));
    let Some(prefix) = e.strip_suffix('*') else { return false };
    if prefix.contains(['*', '?']) {
        return false;
    }
    let later_literal = &l[..l.find(['*', '?']).unwrap_or(l.len())];
    later_literal.starts_with(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CacheBehavior, Origin};

    #[test]
    fn shadowed_duplicated_and_unused_are_named() {
        let d = Distribution::new("d")
            .origin("web", Origin::http("http://127.0.0.1:9"))
            .origin("spare", Origin::http("http://127.0.0.1:9"))
            .behavior(CacheBehavior::new("/images/*").origin("web"))
            .behavior(CacheBehavior::new("/images/*.png").origin("web"))
            .behavior(CacheBehavior::new("images/*").origin("web"))
            .behavior(CacheBehavior::new("/img/*.png").origin("web"))
            .default_behavior(CacheBehavior::default_for("web"));
        let w = lint(&d, "distributions[0]");
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(w[0].starts_with("distributions[0].behaviors[1] (\"/images/*.png\") is shadowed: behaviors[0]"));
        assert!(w[1].starts_with("distributions[0].behaviors[2]: the same path pattern as behaviors[0]"));
        assert_eq!(w[2], "distributions[0].origins.spare: no behavior or origin group uses this origin");
        assert!(!takes_all_of("/a*b", "/a/x"));
        assert!(takes_all_of("*", "/anything"));
    }
}
