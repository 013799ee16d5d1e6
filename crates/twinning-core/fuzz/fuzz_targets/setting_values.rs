//! Any field name and value, as TWINNING(), the CLI, AMI or ESL would pass them: never a
//! panic; a refused value changes nothing; an accepted one round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinning_core::{Config, Field, RawConfig, Settings};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (field, value) = text.split_once('=').unwrap_or(("mobile", text));
    let conf = "[general]\nmobile_dial=PJSIP/{number}@t\nblocked_prefixes=09\n[1001]\ndesk=PJSIP/1001\n";
    let mut s = Settings::new(Config::from_raw(&RawConfig::parse_conf(conf).unwrap()).unwrap());
    let before: Vec<String> = Field::ALL.iter().map(|f| s.get("1001", f.name()).unwrap()).collect();
    match s.set("1001", field, value) {
        Ok(change) => {
            let again = s.set("1001", field, &change.new).expect("canonical text is accepted back");
            assert_eq!(again.new, change.new);
        }
        Err(_) => {
            let after: Vec<String> = Field::ALL.iter().map(|f| s.get("1001", f.name()).unwrap()).collect();
            assert_eq!(before, after);
        }
    }
});
