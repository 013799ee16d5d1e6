//! Twinning() option strings, schedules and DTMF codes: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinning_core::call::CallOptions;
use twinning_core::{DtmfCode, Schedule};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = CallOptions::parse(text);
    if let Ok(schedule) = Schedule::parse(text) {
        // The canonical form parses back to the same schedule.
        assert_eq!(Schedule::parse(&schedule.to_string()).unwrap(), schedule);
        for day in 0..7 {
            let _ = schedule.covers(day, 0);
            let _ = schedule.covers(day, 1439);
        }
    }
    let _ = DtmfCode::parse(text);
});
