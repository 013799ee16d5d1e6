//! Properties of the settings model over arbitrary input: whatever a surface is handed,
//! an accepted value round-trips, a refused one changes nothing, and nothing that can alter
//! a dial string ever gets into a number.

use proptest::prelude::*;
use twinning_core::{Config, Field, RawConfig, Settings};

fn settings() -> Settings {
    let text = "[general]\nmobile_dial=PJSIP/{number}@trunk\nblocked_prefixes=09\n[1001]\ndesk=PJSIP/1001\n";
    Settings::new(Config::from_raw(&RawConfig::parse_conf(text).unwrap()).unwrap())
}

fn field() -> impl Strategy<Value = Field> {
    proptest::sample::select(Field::ALL.to_vec())
}

/// Values near the accepted forms, plus arbitrary text, so both branches are exercised.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+]?[0-9]{0,22}",
        "[0-9]{1,4}(\\.[0-9]{0,4})?(s|ms)?",
        "(yes|no|on|off|maybe)",
        "(mon|tue|sat|daily)(-(fri|sun))? [0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]",
        ".{0,40}",
        "[0-9&,/@()${} \\x00-\\x1f]{1,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn accepted_values_round_trip_and_refused_change_nothing(field in field(), raw in value()) {
        let mut s = settings();
        let before: Vec<String> = Field::ALL.iter().map(|f| s.get("1001", f.name()).unwrap()).collect();
        match s.set("1001", field.name(), &raw) {
            Ok(change) => {
                // The kept text (a PIN's hash); surfaces read it masked.
                let stored = s.user("1001").unwrap().get(field);
                prop_assert_eq!(&stored, &change.new);
                prop_assert_eq!(s.get("1001", field.name()).unwrap(), change.shown().1);
                // The canonical text is accepted back unchanged.
                let again = s.set("1001", field.name(), &stored).unwrap();
                prop_assert_eq!(again.new, stored);
            }
            Err(_) => {
                let after: Vec<String> = Field::ALL.iter().map(|f| s.get("1001", f.name()).unwrap()).collect();
                prop_assert_eq!(before, after);
            }
        }
    }

    #[test]
    fn an_accepted_mobile_number_cannot_alter_a_dial_string(raw in value()) {
        let mut s = settings();
        if s.set("1001", "mobile", &raw).is_ok() {
            let stored = s.get("1001", "mobile").unwrap();
            let digits = stored.strip_prefix('+').unwrap_or(&stored);
            prop_assert!(digits.chars().all(|c| c.is_ascii_digit()), "{:?}", stored);
            prop_assert!(!stored.starts_with("09"));
        }
    }

    #[test]
    fn conf_parser_never_panics(text in "(\\[[a-z0-9 ]{0,6}\\]\n|[a-z_]{0,8} ?=>? ?[^\n]{0,20}\n|;[^\n]{0,10}\n|[^\n]{0,12}\n){0,12}") {
        if let Ok(raw) = RawConfig::parse_conf(&text) {
            let _ = Config::from_raw(&raw);
        }
    }
}
