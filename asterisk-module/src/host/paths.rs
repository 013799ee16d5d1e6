//! Asterisk's configured directories (asterisk.conf `[directories]`).

use std::path::PathBuf;

use asterisk_sys as sys;

use super::cstr;

/// `astvarlibdir`, where Asterisk keeps durable state such as astdb.
pub fn var_dir() -> PathBuf {
    // SAFETY: Asterisk sets these path globals once at start-up, before loading modules,
    // and never frees them; reading the pointer and the string it points to is sound.
    PathBuf::from(unsafe { cstr::borrow(sys::ast_config_AST_VAR_DIR) }.into_owned())
}
