//! AstDB, Asterisk's key/value store, where the module mirrors runtime overrides under the
//! family `twinning` (key `user/field`) so `database show twinning` shows them.

use std::ffi::CStr;

use asterisk_sys as sys;

use super::cstr;

pub const FAMILY: &CStr = c"twinning";

pub fn put(key: &str, value: &str) -> Result<(), String> {
    let (key, value) = (cstr::owned(key), cstr::owned(value));
    // SAFETY: NUL-terminated strings alive for the call; astdb copies them.
    let rc = unsafe { sys::ast_db_put(FAMILY.as_ptr(), key.as_ptr(), value.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("astdb put of {}/{} failed", FAMILY.to_string_lossy(), key.to_string_lossy()))
    }
}

/// Removes the whole family, before writing it again from the journal.
pub fn clear_family() {
    // SAFETY: constant family name; a NULL keytree means the whole family.
    unsafe {
        sys::ast_db_deltree(FAMILY.as_ptr(), std::ptr::null());
    }
}

/// Every `(key, value)` in the family, keys relative to it (`1001/mobile`).
pub fn entries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    // SAFETY: constant family name, NULL keytree; the tree returned is ours to read and
    // must be freed with ast_db_freetree, which happens below exactly once.
    unsafe {
        let tree = sys::ast_db_gettree(FAMILY.as_ptr(), std::ptr::null());
        let mut e = tree;
        while !e.is_null() {
            let key = cstr::borrow((*e).key);
            let value = cstr::borrow((*e).data.as_ptr());
            // Keys come back as /family/key.
            let prefix = format!("/{}/", FAMILY.to_string_lossy());
            let key = key.strip_prefix(&prefix).unwrap_or(&key).to_owned();
            out.push((key, value.into_owned()));
            e = (*e).next;
        }
        sys::ast_db_freetree(tree);
    }
    out
}
