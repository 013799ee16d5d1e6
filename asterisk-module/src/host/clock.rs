//! Local wall-clock time, for schedules.

use asterisk_sys as sys;
use twinning_core::call::LocalTime;

pub fn local_time() -> LocalTime {
    let mut tm = sys::tm::default();
    // SAFETY: time(NULL) only returns the time; localtime_r writes into our `tm` and reads
    // the time zone, which is the thread-safe variant.
    unsafe {
        let now = sys::time(std::ptr::null_mut());
        sys::localtime_r(&now, &mut tm);
    }
    LocalTime { weekday: ((tm.tm_wday + 6) % 7) as u8, minute_of_day: (tm.tm_hour * 60 + tm.tm_min) as u16 }
}
