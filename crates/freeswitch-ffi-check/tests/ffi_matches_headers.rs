#![allow(clashing_extern_declarations)]
//! mod_twinning's hand-declared FreeSWITCH FFI, checked against real headers (see
//! build.rs). Without headers this test says loudly that it was skipped.

#[cfg(freeswitch_headers)]
#[allow(dead_code, non_camel_case_types, non_upper_case_globals, non_snake_case, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

#[cfg(freeswitch_headers)]
#[path = "../../../freeswitch-module/src/host/ffi.rs"]
mod hand;

#[cfg(freeswitch_headers)]
mod checks {
    use super::{generated, hand};
    include!(concat!(env!("OUT_DIR"), "/checks.rs"));
}

#[test]
#[cfg(freeswitch_headers)]
fn hand_declared_ffi_matches_the_headers() {
    assert!(checks::PROBLEMS.is_empty(), "against {}:\n{}", checks::INCLUDE_DIR, checks::PROBLEMS.join("\n"));
    checks::check_layouts();
    eprintln!(
        "freeswitch ffi: {} functions, constants and structs match {}",
        checks::ITEMS_CHECKED,
        checks::INCLUDE_DIR
    );
}

#[test]
#[cfg(not(freeswitch_headers))]
fn hand_declared_ffi_matches_the_headers() {
    let line = "SKIPPED freeswitch-ffi-check: no FreeSWITCH headers (set FREESWITCH_PREFIX or FREESWITCH_INCLUDE_DIR)";
    eprintln!("{line}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        use std::io::Write;
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}
