//! Tests that need a component this machine may not have (FreeSWITCH) say so loudly:
//! on stderr at once, and in `target/tmp/skipped.txt`, which `scripts/test` prints in its
//! closing summary. A skipped test never reads as a pass.

use std::io::Write;

pub fn report(test: &str, why: &str) {
    let line = format!("SKIPPED {test}: {why}");
    eprintln!("{line}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::module_build::workspace_root().join("target"));
    let _ = std::fs::create_dir_all(target.join("tmp"));
    let path = target.join("tmp").join("skipped.txt");
    // One write per line: tests run in parallel and O_APPEND keeps each write whole.
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}
