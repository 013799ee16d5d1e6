//! The module in a real Asterisk: it loads, registers its surfaces with their
//! documentation, and unloads and loads again cleanly.

use twinning_tests::{Instance, InstanceConfig};

const TWINNING_CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk

[1001]
desk = PJSIP/1001
mobile = 07700900123
enabled = yes

[1002]
desk = PJSIP/1002
";

fn instance() -> Instance {
    Instance::start(InstanceConfig::default().file("twinning.conf", TWINNING_CONF))
}

#[test]
fn loads_and_lists_users() {
    let a = instance();
    let modules = a.cli("module show like twinning");
    assert!(modules.contains("app_twinning.so"), "{modules}");
    assert!(modules.contains("Running"), "{modules}");
    let users = a.cli("twinning show users");
    assert!(
        users.contains("1001") && users.contains("07700900123") && users.contains("2 twinning users"),
        "{users}"
    );
}
