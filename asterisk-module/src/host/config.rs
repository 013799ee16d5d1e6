//! Reads twinning.conf through Asterisk's own config loader, so `#include`, `#exec` and
//! templates behave as everywhere else in Asterisk, and hands the core a [`RawConfig`]
//! with the line of every entry.

use asterisk_sys as sys;
use twinning_core::{RawConfig, RawEntry, RawSection};

use super::cstr;

pub const FILE_NAME: &str = "twinning.conf";

pub fn load() -> Result<RawConfig, String> {
    let file = cstr::owned(FILE_NAME);
    // SAFETY: constant NUL-terminated strings; flags by value. The result is NULL (missing),
    // one of two sentinel pointers, or a config we own and destroy below.
    let cfg =
        unsafe { sys::ast_config_load2(file.as_ptr(), c"app_twinning".as_ptr(), sys::ast_flags::default()) };
    // SAFETY: reading the sentinel constants defined by build/shim.c.
    let (unchanged, invalid) =
        unsafe { (sys::twinning_config_status_fileunchanged, sys::twinning_config_status_fileinvalid) };
    if cfg.is_null() {
        return Err(format!("{FILE_NAME} is missing from Asterisk's configuration directory"));
    }
    if cfg as *const _ == unchanged || cfg as *const _ == invalid {
        return Err(format!("{FILE_NAME} could not be parsed (see the config loader's message above)"));
    }
    let mut raw = RawConfig::default();
    // SAFETY: `cfg` is a valid config owned by this function until ast_config_destroy; the
    // categories and variables walked belong to it and are only read before it is freed.
    unsafe {
        let mut category = std::ptr::null_mut();
        loop {
            category = sys::ast_category_browse_filtered(cfg, std::ptr::null(), category, std::ptr::null());
            if category.is_null() {
                break;
            }
            // A template section `[name](!)` only lends its entries to the sections built
            // on it; it is not a user.
            if sys::ast_category_is_template(category) != 0 {
                continue;
            }
            let name = cstr::borrow(sys::ast_category_get_name(category)).into_owned();
            let mut entries = Vec::new();
            let mut v = sys::ast_category_first(category);
            while !v.is_null() {
                entries.push(RawEntry {
                    key: cstr::borrow((*v).name).into_owned(),
                    value: cstr::borrow((*v).value).into_owned(),
                    line: (*v).lineno.max(0) as u32,
                });
                v = (*v).next;
            }
            // Asterisk does not expose a category's own line; the first entry's is close.
            let line = entries.first().map_or(0, |e| e.line.saturating_sub(1));
            raw.sections.push(RawSection { name, line, entries });
        }
        sys::ast_config_destroy(cfg);
    }
    Ok(raw)
}
