//! What the module reads from FreeSWITCH's core: global variables and the local time.

use std::ffi::CStr;

use twinning_core::call::LocalTime;

use super::{cstr, ffi};

/// A FreeSWITCH core variable (`db_dir`, `conf_dir`...).
pub fn variable(name: &CStr) -> Option<String> {
    // SAFETY: returns a malloc'd copy (or NULL) that we free after copying.
    unsafe {
        let p = ffi::switch_core_get_variable_dup(name.as_ptr());
        if p.is_null() {
            return None;
        }
        let v = cstr::borrow(p).into_owned();
        libc::free(p.cast());
        Some(v)
    }
}

/// Local wall-clock time, for schedules.
pub fn local_time() -> LocalTime {
    // SAFETY: time(NULL) only reads the clock; localtime_r writes into our `tm` (the
    // thread-safe variant).
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    LocalTime { weekday: ((tm.tm_wday + 6) % 7) as u8, minute_of_day: (tm.tm_hour * 60 + tm.tm_min) as u16 }
}
