//! The modules of job-spec import one way: each may name (`crate::x`, `super::x`) only
//! modules below it in [`LAYERS`], so the import graph has no cycles.
//!
//! The test reads `src/` as text: comments, string and char literals are blanked first
//! (doc links do not count, code in `#[cfg(test)]` modules does). A name re-exported at
//! the crate root (`crate::Operation`) counts as its module, read from lib.rs's `pub use`.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom to top; the same order as lib.rs's `//!` header.
const LAYERS: &[&str] = &[
    "problem",
    "limits",
    "values",
    "media",
    "formats",
    "kenburns",
    "timing",
    "ops",
    "request",
    "captions",
    "ass_sanitizer",
    "transcript",
    "youtube",
    "youtube_captions",
    "validate",
    "worker",
    "plan",
    "job",
    "openapi",
];

#[test]
fn modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = code_only(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let declared = declared_modules(&lib);
    let mut listed: Vec<&str> = LAYERS.to_vec();
    listed.sort_unstable();
    let mut violations = vec![];
    if declared != listed {
        violations.push(format!("lib.rs declares {declared:?}; LAYERS lists {listed:?}"));
    }
    let reexports = root_reexports(&lib);
    for (module, file, text) in module_files(&src) {
        let Some(rank) = layer(&module) else {
            violations.push(format!("{file}: module `{module}` is not in LAYERS"));
            continue;
        };
        for (line, target) in references(&code_only(&text)) {
            let target = if layer(&target).is_some() {
                target
            } else if let Some(m) = reexports.get(&target) {
                m.clone()
            } else {
                violations.push(format!("{file}:{line}: `crate::{target}` is neither a module nor a crate-root re-export"));
                continue;
            };
            if target != module && layer(&target).is_some_and(|r| r >= rank) {
                violations.push(format!("{file}:{line}: `{module}` imports `{target}`, which is not below it in LAYERS"));
            }
        }
    }
    assert!(violations.is_empty(), "imports against the layer order:\n{}", violations.join("\n"));
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

/// `(top-level module, path for messages, text)` of every `.rs` file under `src/` but lib.rs.
fn module_files(src: &Path) -> Vec<(String, String, String)> {
    let mut files = vec![];
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src/");
            if path.extension().is_none_or(|e| e != "rs") || rel == Path::new("lib.rs") {
                continue;
            }
            let first = rel.components().next().expect("a file name").as_os_str().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).expect("source file is readable");
            files.push((module, format!("src/{}", rel.display()), text));
        }
    }
    files.sort();
    files
}

/// Names after `mod` in lib.rs, sorted.
fn declared_modules(lib: &str) -> Vec<&str> {
    let mut modules: Vec<&str> = lib
        .split(';')
        .filter_map(|item| {
            let words: Vec<&str> = item.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "mod")?;
            words.get(at + 1).copied()
        })
        .collect();
    modules.sort_unstable();
    modules
}

/// `name → module` for lib.rs's `pub use module::{name, …};` and `pub use module::name;`.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for item in lib.split(';') {
        let Some(path) = item.trim().strip_prefix("pub use ") else { continue };
        let path = path.trim().trim_start_matches("crate::");
        let Some((module, rest)) = path.split_once("::") else { continue };
        for name in rest.trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace()).split(',') {
            let name = name.split(" as ").last().unwrap_or(name).trim();
            if !name.is_empty() {
                map.insert(name.to_string(), module.trim().to_string());
            }
        }
    }
    map
}

/// `(line, first name)` of every `crate::name` (each name of `crate::{a, b::c}`) and of
/// every `super::name` (after any number of `super::`) that names a module in [`LAYERS`].
fn references(code: &str) -> Vec<(usize, String)> {
    let mut found = vec![];
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]);
        if starts_word && code[i..].starts_with("crate::") {
            i += "crate::".len();
            let line = line_of(code, i);
            if code[i..].trim_start().starts_with('{') {
                let open = i + code[i..].find('{').expect("just seen");
                let close = matching_brace(code, open);
                for name in top_level_items(&code[open + 1..close]) {
                    found.push((line, name));
                }
                i = close;
            } else {
                let name = ident_at(code, i);
                i += name.len();
                found.push((line, name));
            }
        } else if starts_word && code[i..].starts_with("super::") {
            while code[i..].starts_with("super::") {
                i += "super::".len();
            }
            let name = ident_at(code, i);
            i += name.len().max(1);
            if layer(&name).is_some() {
                found.push((line_of(code, i), name));
            }
        } else {
            i += 1;
        }
    }
    found.retain(|(_, name)| !name.is_empty() && name != "self");
    found
}

/// The first identifier of each comma-separated item of a `{…}` group (nested groups skipped).
fn top_level_items(group: &str) -> Vec<String> {
    let mut items = vec![];
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(ident_at(group, start + leading_space(&group[start..])));
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(ident_at(group, start + leading_space(&group[start..])));
    items
}

fn leading_space(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn matching_brace(code: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    code.len()
}

fn ident_at(code: &str, at: usize) -> String {
    code[at..].bytes().take_while(|&b| is_ident(b)).map(char::from).collect()
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

/// `text` with comments, string literals and char literals replaced by spaces (newlines
/// kept, so line numbers still match).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    blank(&mut out, ' ');
                    i += 1;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    blank(&mut out, ' ');
                    i += 1;
                    if depth == 0 {
                        blank(&mut out, ' ');
                        i += 1;
                        break;
                    }
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br#"…"#: ends at a quote followed by as many `#`.
            let body = i + chars[i..].iter().position(|&c| c == '"').expect("raw string quote") + 1;
            let mut j = body;
            while j < chars.len() && !(chars[j] == '"' && chars[j + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes) {
                j += 1;
            }
            let end = (j + 1 + hashes).min(chars.len());
            chars[i..end].iter().for_each(|&c| blank(&mut out, c));
            i = end;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            if i < chars.len() {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '\'' && char_literal_len(&chars, i) > 0 {
            let len = char_literal_len(&chars, i);
            chars[i..i + len].iter().for_each(|&c| blank(&mut out, c));
            i += len;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string literal starting at `i` (`r"`, `r#"`, `br#"`), if one does.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let after_b = if chars[i] == 'b' { i + 1 } else { i };
    if chars.get(after_b) != Some(&'r') {
        return None;
    }
    let hashes = chars[after_b + 1..].iter().take_while(|&&c| c == '#').count();
    (chars.get(after_b + 1 + hashes) == Some(&'"')).then_some(hashes)
}

/// The length of a char literal (`'a'`, `'\n'`, `'\u{1F600}'`) at `i`, or 0 for a lifetime.
fn char_literal_len(chars: &[char], i: usize) -> usize {
    match chars.get(i + 1) {
        Some('\\') => chars[i + 2..].iter().position(|&c| c == '\'').map_or(0, |p| p + 3),
        Some(_) if chars.get(i + 2) == Some(&'\'') => 3,
        _ => 0,
    }
}
