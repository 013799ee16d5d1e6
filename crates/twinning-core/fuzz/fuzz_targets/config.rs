//! twinning.conf text through the parser and the validator: never a panic, and a config
//! that validates only ever holds mobile numbers made of digits and a leading '+'.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinning_core::{Config, RawConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(raw) = RawConfig::parse_conf(text) else { return };
    if let Ok(config) = Config::from_raw(&raw) {
        for user in config.users.values() {
            if let Some(m) = &user.mobile {
                let digits = m.as_str().strip_prefix('+').unwrap_or(m.as_str());
                assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{m}");
            }
        }
    }
});
