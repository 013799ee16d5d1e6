//! Raw bindings to the Asterisk module API, generated at build time from the headers of the
//! Asterisk being built against (see `build/main.rs`). Nothing here is safe to call without
//! reading the matching Asterisk header; the module's boundary code wraps what it uses.

#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code)]
#![allow(clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// `CLI_INIT`, `CLI_GENERATE`: what Asterisk passes a CLI handler as `cmd` when it wants
/// the command's words and usage, or completions, rather than a run.
pub const CLI_INIT: i32 = ast_cli_command::CLI_INIT as i32;
pub const CLI_GENERATE: i32 = ast_cli_command::CLI_GENERATE as i32;

/// A CLI handler returns these as `char *` (see `cli.h`: `(char *)RESULT_SUCCESS`).
pub const CLI_SUCCESS: *mut std::os::raw::c_char = RESULT_SUCCESS as usize as *mut _;
pub const CLI_SHOWUSAGE: *mut std::os::raw::c_char = RESULT_SHOWUSAGE as usize as *mut _;
pub const CLI_FAILURE: *mut std::os::raw::c_char = RESULT_FAILURE as usize as *mut _;
