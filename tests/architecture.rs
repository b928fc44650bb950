//! Architecture rules checked on the source text, so that a change which breaks them fails CI
//! instead of waiting for a reviewer:
//! - the pure policy core (`src/policy/`) names no I/O or presentation module and no `anyhow`;
//! - the money module depends on nothing else in the crate;
//! - the snapshot does not write into the plan (no `plan` <-> `snapshot` circle).

use std::fs;
use std::path::{Path, PathBuf};

/// Modules the policies must not reach: I/O edges, presentation, the run's glue and the CLI.
const FORBIDDEN_IN_POLICY: &[&str] = &[
    "crate::notices",
    "crate::execute",
    "crate::enforce",
    "crate::ledger::store",
    "crate::observe",
    "crate::planning",
    "crate::collect",
    "crate::config",
    "crate::secrets",
    "crate::credentials",
    "crate::digest",
    "crate::cli",
    "crate::app",
    "crate::commands",
    "crate::pc::client",
    "crate::pc::transport",
    "crate::pc::auth",
    "anyhow",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Every `(file:line, needle)` where a file mentions one of `needles`.
fn mentions(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in files {
        let text = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (n, line) in text.lines().enumerate() {
            for needle in needles {
                if line.contains(needle) {
                    hits.push(format!("{}:{}: {needle}", f.display(), n + 1));
                }
            }
        }
    }
    hits
}

#[test]
fn the_policy_core_imports_no_io_or_presentation_module() {
    let mut files = Vec::new();
    rust_files(&src().join("policy"), &mut files);
    assert!(
        files.len() > 5,
        "src/policy/ should hold the policies: {files:?}"
    );
    let hits = mentions(&files, FORBIDDEN_IN_POLICY);
    assert!(
        hits.is_empty(),
        "src/policy/ must stay pure (format money with crate::money, read the ledger through \
         LedgerView):\n{}",
        hits.join("\n")
    );
}

#[test]
fn money_depends_on_nothing_else_in_the_crate() {
    let files = vec![src().join("money.rs")];
    let hits = mentions(&files, &["crate::", "super::super"]);
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}

#[test]
fn the_snapshot_does_not_write_into_the_plan() {
    let files = vec![src().join("snapshot.rs")];
    let hits = mentions(&files, &["crate::plan"]);
    assert!(
        hits.is_empty(),
        "snapshot.rs must not use the plan (plan's rendering reads the snapshot):\n{}",
        hits.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// No import circles: the modules of `src/` form a directed acyclic graph, at the top level
// (`config`, `pc`, `policy`, ...) and among the files of each folder (`pc/auth`, `pc/error`, ...).
// The graph is read from the source text: `use crate::…` / `use super::…` / `use cspguard::…`
// declarations (with `{…}` groups) and inline `crate::a::b` paths, outside `#[cfg(test)]` code.

use std::collections::{BTreeMap, BTreeSet};

type ModPath = Vec<String>;

/// The module path of a source file: `src/pc/auth.rs` is `pc::auth`, `src/pc/mod.rs` is `pc`.
fn module_of(file: &Path) -> ModPath {
    let rel = file.strip_prefix(src()).expect("under src/");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The text without comments and without `#[cfg(test)] mod name { … }` blocks; also the names
/// of test-only child modules declared as `#[cfg(test)] mod name;`.
fn production_text(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    let mut test_children = Vec::new();
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at + "#[cfg(test)]".len()..];
        let trimmed = rest.trim_start();
        let skipped_ws = rest.len() - trimmed.len();
        let Some(after_mod) = trimmed
            .strip_prefix("mod ")
            .or_else(|| trimmed.strip_prefix("pub mod "))
        else {
            // `#[cfg(test)]` on something else (a fn, an impl, a use): drop that item's line.
            let end = at + "#[cfg(test)]".len() + skipped_ws + trimmed.find('\n').unwrap_or(0);
            out.replace_range(at..end, "");
            continue;
        };
        let name: String = after_mod
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let body_start =
            at + "#[cfg(test)]".len() + skipped_ws + (trimmed.len() - after_mod.len()) + name.len();
        let tail = out[body_start..].trim_start();
        if tail.starts_with(';') {
            test_children.push(name);
            let end = body_start + out[body_start..].find(';').unwrap() + 1;
            out.replace_range(at..end, "");
            continue;
        }
        let open = body_start + out[body_start..].find('{').expect("a module body");
        let mut depth = 0usize;
        let mut end = open;
        for (i, ch) in out[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
    (out, test_children)
}

/// Split a `use` tree body (`a::{b, c::d}, e`) into full paths.
fn expand_use(prefix: &[String], body: &str, out: &mut Vec<ModPath>) {
    let mut items = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for ch in body.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    items.push(cur);
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if let Some(open) = item.find('{') {
            let head = item[..open].trim_end_matches("::");
            let mut p = prefix.to_vec();
            p.extend(
                head.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            expand_use(&p, &item[open + 1..item.rfind('}').unwrap()], out);
        } else {
            let name = item.split(" as ").next().unwrap_or(item);
            let mut p = prefix.to_vec();
            p.extend(
                name.split("::")
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
            );
            out.push(p);
        }
    }
}

/// Every module path a file refers to, made absolute.
fn references(me: &ModPath, is_mod_file: bool, text: &str) -> Vec<ModPath> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("use ") {
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = &rest[i + 4..];
        let end = after.find(';').unwrap_or(after.len());
        let tree = after[..end].trim();
        if before_ok {
            for (root, base) in [
                ("crate::", None),
                ("cspguard::", None),
                ("super::", Some(())),
            ] {
                if let Some(body) = tree.strip_prefix(root) {
                    let mut prefix: Vec<String> = Vec::new();
                    if base.is_some() {
                        // `super` of `a/b.rs` (module a::b) is `a`; of `a/mod.rs` (module a) too,
                        // relative to the parent's parent. Both: drop the last component.
                        let _ = is_mod_file;
                        prefix = me[..me.len().saturating_sub(1)].to_vec();
                    }
                    let body = body.trim();
                    let body = body
                        .strip_prefix('{')
                        .and_then(|b| b.strip_suffix('}'))
                        .unwrap_or(body);
                    expand_use(&prefix, body, &mut paths);
                }
            }
        }
        rest = &after[end.min(after.len())..];
    }
    for root in ["crate::", "cspguard::"] {
        let mut rest = text;
        while let Some(i) = rest.find(root) {
            let tail = &rest[i + root.len()..];
            let path: String = tail
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
            rest = tail;
        }
    }
    paths
}

/// The modules' dependency graph (each edge to the longest existing module prefix).
fn module_graph() -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut texts = Vec::new();
    let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
    for f in &files {
        let me = module_of(f);
        let raw = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let (text, children) = production_text(&raw);
        for c in children {
            let mut p = me.clone();
            p.push(c);
            test_only.insert(p);
        }
        texts.push((me, f.ends_with("mod.rs"), text));
    }
    let modules: BTreeSet<ModPath> = texts.iter().map(|(m, _, _)| m.clone()).collect();
    let mut graph: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (me, is_mod, text) in &texts {
        if test_only.iter().any(|t| me.starts_with(t)) {
            continue;
        }
        for mut target in references(me, *is_mod, text) {
            while !target.is_empty() && !modules.contains(&target) {
                target.pop();
            }
            if !target.is_empty() && &target != me {
                graph.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

/// Strongly connected components with more than one member (Tarjan).
fn circles<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    struct State<N> {
        index: BTreeMap<N, usize>,
        low: BTreeMap<N, usize>,
        stack: Vec<N>,
        on: BTreeSet<N>,
        out: Vec<Vec<N>>,
    }
    fn visit<N: Ord + Clone>(v: &N, g: &BTreeMap<N, BTreeSet<N>>, s: &mut State<N>) {
        let i = s.index.len();
        s.index.insert(v.clone(), i);
        s.low.insert(v.clone(), i);
        s.stack.push(v.clone());
        s.on.insert(v.clone());
        for w in g.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(w, g, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(&w);
                let done = &w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(v, graph, &mut s);
        }
    }
    s.out
}

/// The graph seen at one level: edges between the children of `folder` (the top level for `[]`).
fn level(
    graph: &BTreeMap<ModPath, BTreeSet<ModPath>>,
    folder: &[String],
) -> BTreeMap<String, BTreeSet<String>> {
    let child = |m: &ModPath| -> Option<String> {
        (m.len() > folder.len() && m.starts_with(folder)).then(|| m[folder.len()].clone())
    };
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, targets) in graph {
        for b in targets {
            if let (Some(ca), Some(cb)) = (child(a), child(b))
                && ca != cb
            {
                out.entry(ca).or_default().insert(cb);
            }
        }
    }
    out
}

#[test]
fn no_import_circles_among_the_modules_of_src() {
    let graph = module_graph();
    assert!(graph.len() > 20, "the module graph looks empty: {graph:?}");
    let mut folders: BTreeSet<ModPath> = BTreeSet::new();
    folders.insert(Vec::new());
    for m in graph.keys().chain(graph.values().flatten()) {
        for n in 1..m.len() {
            folders.insert(m[..n].to_vec());
        }
    }
    let mut found = Vec::new();
    for folder in &folders {
        let g = level(&graph, folder);
        for comp in circles(&g) {
            let edges: Vec<String> = comp
                .iter()
                .flat_map(|a| {
                    g[a].iter()
                        .filter(|b| comp.contains(b))
                        .map(move |b| format!("{a} -> {b}"))
                })
                .collect();
            found.push(format!(
                "in src/{}: {} ({})",
                folder.join("/"),
                comp.join(" <-> "),
                edges.join(", ")
            ));
        }
    }
    assert!(
        found.is_empty(),
        "import circles (move the shared piece into a leaf module both can import):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let mut g: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    g.entry("a").or_default().insert("b");
    g.entry("b").or_default().insert("c");
    g.entry("c").or_default().insert("a");
    g.entry("c").or_default().insert("d");
    assert_eq!(circles(&g), vec![vec!["a", "b", "c"]]);
}
