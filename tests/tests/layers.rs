//! Each PBX module's `src/host/` is a layer: the boundary with the PBX imports nothing from
//! the translation layer above it, so no import circle crosses it. What host calls back is
//! handed to it (the loader's entry points as a `host::module::Module` type named in lib.rs,
//! the tables of applications, functions, commands and actions at registration).
//!
//! Checked by reading the source: under `src/host/`, a `crate::` path (or a macro's
//! `$crate::`) must go to `crate::host`, `super::super` is refused everywhere, and
//! `host/mod.rs` may not name `super` at all (its parent is the crate root).

use std::fs;
use std::path::{Path, PathBuf};

use twinning_tests::module_build::workspace_root;

const MODULES: [&str; 2] = ["asterisk-module", "freeswitch-module"];

#[test]
fn host_imports_nothing_above_itself() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for module in MODULES {
        let host = root.join(module).join("src/host");
        let files = rust_files(&host);
        assert!(files.len() > 5, "{}: expected the host layer's files, found {files:?}", host.display());
        for file in files {
            let in_mod_rs = file == host.join("mod.rs");
            let text = fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for path in leaves_host(line, in_mod_rs) {
                    let shown = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
                    problems.push(format!("{shown}:{}: `{path}` leaves host/: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "host/ must import nothing above itself; hand it what it calls instead (a table or a \
         type implementing a host trait, given by lib.rs or at registration):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_a_path_that_leaves_host() {
    for bad in [
        "use crate::lifecycle;",
        "        if crate::lifecycle::load(handle()) {",
        "use crate::{host::cstr, pbx::DRIVER};",
        "static X: fn() = $crate::apps::run;",
        "use super::super::pbx;",
        "let d = &super::super::pbx::DRIVER;",
    ] {
        assert!(!leaves_host(bad, false).is_empty(), "missed {bad:?}");
    }
    assert!(!leaves_host("use super::lamps;", true).is_empty(), "missed super:: in host/mod.rs");
    for good in [
        "use crate::host::channel::Channel;",
        "use super::{cstr, guard};",
        "let _inside = super::module::THREADS.enter();",
        "        static R: extern \"C\" fn() = $crate::host::module::register_with_loader::<$module>;",
        "use twinning_driver::threads::Body;",
        "fn my_crate::thing() {}",
    ] {
        assert_eq!(leaves_host(good, false), Vec::<String>::new(), "{good:?}");
    }
}

/// The paths on `line` that leave `host`.
fn leaves_host(line: &str, in_mod_rs: bool) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        if line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &line[at + "crate::".len()..];
        let stays = rest
            .strip_prefix("host")
            .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'));
        if !stays {
            found.push(path_at(&line[at..]));
        }
    }
    for (at, _) in line.match_indices("super::") {
        if line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if in_mod_rs || line[at..].starts_with("super::super") {
            found.push(path_at(&line[at..]));
        }
    }
    found
}

/// The path that starts `text`, for the message.
fn path_at(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '{' | '$')).collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}
