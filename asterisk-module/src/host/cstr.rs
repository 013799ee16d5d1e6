//! Moving strings across the boundary.

use std::borrow::Cow;
use std::ffi::{c_char, CStr};

/// Borrows a C string Asterisk handed us; NULL reads as empty. Invalid UTF-8 is replaced
/// rather than refused here: validation, which knows what the text is for, refuses it.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the returned value.
pub unsafe fn borrow<'a>(p: *const c_char) -> Cow<'a, str> {
    if p.is_null() {
        return Cow::Borrowed("");
    }
    // SAFETY: the caller guarantees `p` is a live NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy()
}

pub use twinning_service::c_string as owned;
