//! Builds `app_twinning.so` once per test run, with the same cargo that runs the tests, so
//! a plain `cargo test` always loads the module built from the current source.

use std::path::{Path, PathBuf};
use std::process::Command;

use once_cell::sync::OnceCell;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_owned()
}

/// The module's shared object, built if needed.
pub fn module_path() -> &'static Path {
    static BUILT: OnceCell<PathBuf> = OnceCell::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Benchmarks measure the optimised module (TWINNING_MODULE_PROFILE=release); tests use
        // the debug build, which also carries the fault-injection hook.
        let release = std::env::var("TWINNING_MODULE_PROFILE").is_ok_and(|p| p == "release");
        let mut args = vec!["build", "--quiet", "-p", "asterisk-module"];
        if release {
            args.push("--release");
        }
        let status = Command::new(cargo)
            .args(&args)
            .current_dir(&root)
            .status()
            .expect("run cargo build for the module");
        assert!(status.success(), "building app_twinning.so failed");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        let so = target.join(if release { "release" } else { "debug" }).join("libapp_twinning.so");
        assert!(so.is_file(), "{} was not produced", so.display());
        so
    })
}

/// The module's XML documentation, installed beside Asterisk's own.
pub fn docs_path() -> PathBuf {
    workspace_root().join("asterisk-module/docs/twinning-en_US.xml")
}

/// Puts a copy of `source` at `dest` the way a module must be installed: written beside it
/// and renamed into place, never written through `dest`. A PBX that has the old file
/// mapped keeps its inode; writing into it (or through a link to an installed module)
/// rewrites code a running PBX executes, and it crashes.
pub fn install_file(source: &Path, dest: &Path) -> std::io::Result<()> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::copy(source, &staging)?;
    std::fs::rename(&staging, dest)
}
