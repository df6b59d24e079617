//! The levels of `ARCHITECTURE.md`, checked: every `crate::` path in the
//! library's non-test code names a module of its own level or a lower one,
//! and no two top-level modules (files or folders of `src/`) import each
//! other, directly or around a loop. A new import that breaks the house
//! fails here, with the file and the path that broke it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and its level (higher imports lower).
const LEVELS: &[(&str, u8)] = &[
    // surface
    ("lib.rs", 4),
    ("layer.rs", 4),
    ("service.rs", 4),
    ("future.rs", 4),
    ("handle.rs", 4),
    ("explain.rs", 4),
    ("report.rs", 4),
    ("reload.rs", 4),
    ("admin", 4),
    ("config", 4),
    ("cli", 4),
    ("fuzzing.rs", 4),
    // engine
    ("flow", 3),
    // context
    ("edge", 2),
    // parts
    ("cache", 1),
    ("fleet", 1),
    ("route", 1),
    ("origin", 1),
    ("observe", 1),
    ("body", 1),
    ("auth", 1),
    ("respond.rs", 1),
    // pure
    ("policy", 0),
    ("status.rs", 0),
    ("error.rs", 0),
    ("clock.rs", 0),
    ("conn.rs", 0),
    ("hint.rs", 0),
    ("hooks.rs", 0),
    ("nest.rs", 0),
];

const NAMES: [&str; 5] = ["pure", "parts", "context", "engine", "surface"];

fn level(unit: &str) -> Option<u8> {
    LEVELS.iter().find(|(u, _)| *u == unit).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `cache` for `src/cache/*.rs`,
/// `layer.rs` for `src/layer.rs`.
fn unit_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned()
}

/// The module a `crate::NAME` path reaches, as a unit.
fn unit_named(src: &Path, name: &str) -> Option<String> {
    if src.join(name).is_dir() {
        Some(name.to_owned())
    } else if src.join(format!("{name}.rs")).is_file() {
        Some(format!("{name}.rs"))
    } else {
        None // a re-export at the crate root (`crate::Clock`): lib.rs
    }
}

/// The file's text without its unit tests (test modules come last by
/// convention, and files that are tests only are skipped by the caller).
fn non_test_code(text: &str) -> &str {
    let cut = ["#[cfg(test)]\nmod tests", "#[cfg(all(test"].iter().filter_map(|m| text.find(m)).min();
    cut.map_or(text, |at| &text[..at])
}

/// `crate::NAME` paths in code (comments and doc comments skipped).
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `tower_cdn::crate::`-like, or `$crate`
            }
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push((n + 1, name));
            }
        }
        // `use crate::{a, b}`: each top-level name in the braces.
        if let Some(at) = line.find("crate::{") {
            let inner = &line[at + "crate::{".len()..];
            let inner = inner.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.push((n + 1, name));
                }
            }
        }
    }
    out
}

#[test]
fn imports_run_down_the_levels_and_no_cycle_spans_two_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut unknown = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let is_test = rel.components().any(|c| c.as_os_str() == "tests")
            || rel.file_name().is_some_and(|f| f == "tests.rs" || f == "test_util.rs");
        let unit = unit_of(&src, file);
        if is_test || unit == "bin" || unit == "test_util.rs" {
            continue;
        }
        let Some(from) = level(&unit) else {
            unknown.insert(unit);
            continue;
        };
        let text = fs::read_to_string(file).unwrap();
        for (line, name) in crate_paths(non_test_code(&text)) {
            let target = unit_named(&src, &name).unwrap_or_else(|| "lib.rs".to_owned());
            if target == unit {
                continue;
            }
            // Root re-exports (`crate::Clock`) name the type's own home;
            // the paths checked here are the module paths.
            if target == "lib.rs" {
                continue;
            }
            let Some(to) = level(&target) else {
                unknown.insert(target);
                continue;
            };
            if to > from {
                wrong.push(format!(
                    "{}:{line}: crate::{name} ({}, {}) from {} code",
                    rel.display(),
                    target,
                    NAMES[usize::from(to)],
                    NAMES[usize::from(from)]
                ));
            }
            graph.entry(unit.clone()).or_default().insert(target);
        }
    }
    assert!(unknown.is_empty(), "modules without a level (add them to LEVELS and ARCHITECTURE.md): {unknown:?}");
    assert!(wrong.is_empty(), "imports against the levels:\n{}", wrong.join("\n"));

    // No loop between two top-level modules: a depth-first search that
    // finds a unit on its own path reports the loop.
    fn visit<'a>(
        u: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| *p == u) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push(u.to_owned());
            return Some(cycle);
        }
        if !done.insert(u) {
            return None;
        }
        path.push(u);
        for next in graph.get(u).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    assert!(graph.len() > 10, "too few modules import others: is the path right?");
    let mut done = BTreeSet::new();
    for unit in graph.keys() {
        if let Some(cycle) = visit(unit, &graph, &mut Vec::new(), &mut done) {
            panic!("an import loop between modules: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_checker_sees_imports_and_skips_comments() {
    let code = "use crate::cache::Entry;\n// crate::flow is a comment\nuse crate::{edge::Edge, status};\n";
    let names: Vec<String> = crate_paths(code).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["cache", "edge", "status"]);
    let text = "fn a() {}\n#[cfg(test)]\nmod tests {\n use crate::flow;\n}\n";
    assert!(!non_test_code(text).contains("flow"));
}
