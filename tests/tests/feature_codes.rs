//! The sample dialplan's feature codes, dialed from a user's own phone over SIP with the
//! PIN keyed in as RFC 4733 DTMF.

use std::time::Duration;

use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Caller, Phone};
use twinning_tests::status::twinning_field;
use twinning_tests::Instance;

const CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
blocked_prefixes = 09

[1001]
desk = PJSIP/desk1001
mobile = 07700900123
pin = 4826

[1002]
desk = PJSIP/desk1002
";

fn dial(pbx: &Instance, from: &str, code: &str, keys: &str) {
    let mut phone = Phone::call_as(pbx, "phone", from, code, &Caller::KeyIn { digits: keys.into() });
    assert_eq!(phone.wait(Duration::from_secs(40)), Some(0), "{}", phone.summary());
}

#[test]
fn set_number_and_switch_on_with_the_pin() {
    let pbx = pbx::start(CONF, "", PhonePorts::new());
    let mut ami = pbx.ami();
    dial(&pbx, "desk1001", "*2107700900999", "4826#");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900999");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "yes");
    dial(&pbx, "desk1001", "*22", "4826#");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "no");
}

#[test]
fn a_wrong_pin_changes_nothing() {
    let pbx = pbx::start(CONF, "", PhonePorts::new());
    let mut ami = pbx.ami();
    dial(&pbx, "desk1001", "*2107700900999", "1111#1111#1111#");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900123");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "no");
    // Authenticate answers the first two wrong PINs with auth-incorrect and the third by
    // hanging up: the keys arrived and were refused.
    assert_eq!(pbx.log().matches("Playing 'auth-incorrect").count(), 2, "{}", pbx.log());
}

#[test]
fn without_a_pin_no_pin_is_asked_and_policy_still_applies() {
    let pbx = pbx::start(CONF, "", PhonePorts::new());
    let mut ami = pbx.ami();
    dial(&pbx, "desk1002", "*2107700900456", "");
    assert_eq!(twinning_field(&mut ami, "1002", "mobile"), "07700900456");
    assert_eq!(twinning_field(&mut ami, "1002", "enabled"), "yes");
    dial(&pbx, "desk1002", "*2109012345678", "");
    assert_eq!(twinning_field(&mut ami, "1002", "mobile"), "07700900456", "a premium number is refused");
}
