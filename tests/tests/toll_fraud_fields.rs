//! The toll-fraud corpus against every field of remote destinations 2 … 10 and both caller
//! lists, straight through the settings service every surface uses (TWINNING(), the CLI,
//! AMI TwinningSet, the ESL `twinning set` and the configuration files all end in it):
//! each payload is refused with a reason and changes nothing. tests/tests/toll_fraud.rs
//! drives a sample of them through AMI into a real Asterisk, with calls after.

use twinning_core::{Config, DestinationField, Field, RawConfig, Settings};
use twinning_tests::toll_fraud::corpus;

/// The corpus's policy (as tests/tests/toll_fraud.rs has it): premium and directory numbers
/// blocked, international ones refused unless home.
const CONF: &str = "[general]\nmobile_dial=PJSIP/{number}@mobile-trunk\n\
blocked_prefixes=09,0871,118,1900,+449,00449,+1900\ninternational_prefixes=00,+,011\nhome_prefixes=+44,0044\n\
allow_international=no\nmin_digits=4\nmax_digits=15\n[1001]\ndesk=PJSIP/1001\nmobile=07700900123\nenabled=yes\n";

fn snapshot(s: &Settings) -> Vec<String> {
    Field::ALL.iter().map(|f| s.get("1001", f.name()).unwrap()).collect()
}

#[test]
fn every_destination_field_and_both_lists_refuse_the_corpus() {
    let mut s = Settings::new(Config::from_raw(&RawConfig::parse_conf(CONF).unwrap()).unwrap());
    let fields: Vec<Field> = Field::ALL
        .into_iter()
        .filter(|f| matches!(f, Field::Destination(..) | Field::BlockCallers | Field::AllowCallers))
        .collect();
    assert_eq!(fields.len(), 9 * 5 + 2);
    let before = snapshot(&s);
    let mut refused = 0;
    for field in &fields {
        for payload in corpus() {
            // A list never dials: plain numbers (and prefixes) are what it is for. Any other
            // text must be refused. A destination's enabled field is a yes/no, its timers
            // numbers of seconds: none of the corpus is one.
            let list = matches!(field, Field::BlockCallers | Field::AllowCallers);
            if list && payload.trim().chars().all(|c| c.is_ascii_digit() || "+*, ".contains(c)) {
                continue;
            }
            if matches!(
                field,
                Field::Destination(
                    _,
                    DestinationField::DialDelay | DestinationField::AnswerGuard | DestinationField::RingTime
                )
            ) && payload.trim().parse::<f64>().is_ok()
            {
                continue;
            }
            let e = s.set("1001", field.name(), &payload).expect_err(&format!("{field} took {payload:?}"));
            assert!(!e.to_string().is_empty());
            refused += 1;
        }
    }
    assert_eq!(snapshot(&s), before, "a refused value changed something");
    eprintln!("toll fraud, settings service: {refused} payloads refused over {} fields", fields.len());
}

/// The billing fields go through the same validation: no payload of the corpus becomes an
/// account code or a fallback caller ID unless it is a plain one (letters and digits for
/// the code, a plain number for the caller ID), and a refused one changes nothing.
#[test]
fn the_billing_fields_refuse_the_corpus() {
    let mut s = Settings::new(Config::from_raw(&RawConfig::parse_conf(CONF).unwrap()).unwrap());
    let mut refused = 0;
    for payload in corpus() {
        let plain_code =
            !payload.is_empty() && payload.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
        let plain_number = payload.trim_start_matches('+').chars().all(|c| c.is_ascii_digit());
        for (field, plain) in [("accountcode", plain_code), ("caller_id_fallback", plain_number)] {
            let before = snapshot(&s);
            match s.set("1001", field, &payload) {
                Ok(_) => assert!(plain, "{field} took {payload:?}"),
                Err(_) => {
                    assert_eq!(snapshot(&s), before, "a refused {field} changed something");
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 0);
    eprintln!("toll fraud, billing fields: {refused} payloads refused");
}

/// The mobile-access fields take only their own values: yes/no, or a whole number of
/// calls an hour from 1 to 100. No payload of the corpus becomes one unless it is plainly
/// such a value, and a refused one changes nothing.
#[test]
fn the_mobile_access_fields_refuse_the_corpus() {
    let mut s = Settings::new(Config::from_raw(&RawConfig::parse_conf(CONF).unwrap()).unwrap());
    let mut refused = 0;
    for payload in corpus() {
        let rate = payload.trim().parse::<u32>().is_ok_and(|n| (1..=100).contains(&n));
        let yes_no = matches!(
            payload.trim().to_ascii_lowercase().as_str(),
            "yes" | "no" | "true" | "false" | "y" | "n" | "t" | "f" | "1" | "0" | "on" | "off"
        );
        for (field, plain) in [("mobile_access", yes_no), ("mobile_callback", yes_no), ("access_rate", rate)]
        {
            let before = snapshot(&s);
            match s.set("1001", field, &payload) {
                Ok(_) => assert!(plain, "{field} took {payload:?}"),
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    assert_eq!(snapshot(&s), before, "a refused {field} changed something");
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 0);
    eprintln!("toll fraud, mobile-access fields: {refused} payloads refused");
}

/// The contexts access and consult calls are dialed in, and the country code, refuse the
/// corpus in the configuration file: the load fails and names the key.
#[test]
fn the_access_keys_refuse_the_corpus() {
    let mut refused = 0;
    for payload in corpus() {
        if payload.contains('\n') || payload.contains(';') || payload.trim().is_empty() {
            // Not one value on a configuration line (a comment or a new line would end it).
            continue;
        }
        let context_ok = payload.trim().len() <= 64
            && payload.trim().chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let cc_ok = payload.trim().len() <= 3
            && payload.trim().chars().all(|c| c.is_ascii_digit())
            && !payload.trim().starts_with('0');
        for (key, ok) in
            [("access_context", context_ok), ("consult_context", context_ok), ("country_code", cc_ok)]
        {
            let text = CONF.replacen("[1001]", &format!("{key}={payload}\n[1001]"), 1);
            let Ok(raw) = RawConfig::parse_conf(&text) else {
                refused += 1;
                continue;
            };
            match Config::from_raw(&raw) {
                Ok(_) => assert!(ok, "{key} took {payload:?}"),
                Err(e) => {
                    assert!(e.to_string().contains(key), "{key}: {e}");
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 0);
    eprintln!("toll fraud, access keys: {refused} payloads refused");
}

/// Mobile Direct Access and the callback dial only what the destination policy allows: the
/// corpus, as given and as a phone could key it (its digits, `*` and `#`), never becomes a
/// number to dial unless it is a plain number the policy lets through.
#[test]
fn access_numbers_refuse_the_corpus_typed_as_digits() {
    let s = Settings::new(Config::from_raw(&RawConfig::parse_conf(CONF).unwrap()).unwrap());
    let mut refused = 0;
    for payload in corpus() {
        let keyed: String =
            payload.chars().filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#').collect();
        for digits in [payload.clone(), keyed] {
            match twinning_core::access::number_to_dial(&s, &digits) {
                Ok(number) => {
                    assert!(
                        digits.trim().trim_start_matches('+').chars().all(|c| c.is_ascii_digit()),
                        "{digits:?} became {number}"
                    );
                    assert!(s.general().policy.check(&number).is_ok());
                }
                Err(_) => refused += 1,
            }
        }
    }
    assert!(refused > 0);
    eprintln!("toll fraud, access numbers: {refused} payloads refused");
}
