//! The module in a real Asterisk: it loads, registers its surfaces with their
//! documentation, and unloads and loads again cleanly.

use twinning_tests::{dialplan, Instance, InstanceConfig};

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

#[test]
fn documentation_comes_from_the_xml() {
    let a = instance();
    let function = a.cli("core show function TWINNING");
    assert!(function.contains("Read or change a user's mobile twinning settings"), "{function}");
    assert!(function.contains("TWINNING(user,field)"), "{function}");
    assert!(function.contains("TWINNINGERROR"), "{function}");
    let set = a.cli("manager show command TwinningSet");
    assert!(set.contains("Change one twinning setting of a user"), "{set}");
    assert!(set.contains("config,all"), "privilege shown: {set}");
    let handover = a.cli("manager show command TwinningHandover");
    assert!(handover.contains("Move a user's answered twinned call"), "{handover}");
    for (app, synopsis) in [
        ("Twinning", "Ring a user's desk phone and twinned mobile together"),
        ("TwinningPickup", "Take a user's twinned call off the mobile onto this phone"),
    ] {
        let shown = a.cli(&format!("core show application {app}"));
        assert!(shown.contains(synopsis) && shown.contains("TWINNINGSTATUS"), "{shown}");
    }
    let status = a.cli("manager show command TwinningStatus");
    assert!(status.contains("List twinning users and their settings"), "{status}");
}

#[test]
fn unload_and_load_repeatedly() {
    let mut a = instance();
    for round in 0..5 {
        let out = a.cli("module unload app_twinning.so");
        assert!(out.contains("Unloaded app_twinning.so"), "round {round}: {out}");
        assert!(a.cli("twinning show users").contains("No such command"), "round {round}: CLI left behind");
        assert!(a.cli("core show function TWINNING").contains("No function by that name"), "round {round}");
        let out = a.cli("module load app_twinning.so");
        assert!(out.contains("Loaded app_twinning.so"), "round {round}: {out}");
        assert!(a.cli("twinning show users").contains("2 twinning users"), "round {round}");
    }
    assert!(a.is_running());
    let errors: Vec<_> =
        a.log().lines().filter(|l| l.contains("ERROR") && l.contains("twinning")).map(String::from).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn reload_applies_a_good_file_and_keeps_settings_on_a_broken_one() {
    let a = instance();
    a.write_file("twinning.conf", &format!("{TWINNING_CONF}\n[1003]\ndesk = PJSIP/1003\n"));
    a.cli("module reload app_twinning.so");
    assert!(a.cli("twinning show users").contains("3 twinning users"));

    // Line 6 holds an injection attempt: nothing of the file may apply.
    let broken = "[general]\nmobile_dial = PJSIP/{number}@mobile-trunk\n\n[1001]\ndesk = PJSIP/1001\nmobile = 0770&PJSIP/9999\n";
    a.write_file("twinning.conf", broken);
    a.cli("module reload app_twinning.so");
    let users = a.cli("twinning show users");
    assert!(
        users.contains("3 twinning users") && users.contains("07700900123"),
        "previous settings kept: {users}"
    );
    let log = a.log();
    assert!(
        log.lines()
            .any(|l| l.contains("twinning reload failed, previous settings kept") && l.contains("line 6")),
        "the log names the broken line: {log}"
    );
}

#[test]
fn a_missing_or_broken_file_declines_the_load_with_a_reason() {
    let a = Instance::start(InstanceConfig::default());
    let modules = a.cli("module show like twinning");
    assert!(modules.contains("Not Running"), "{modules}");
    assert!(a.log().contains("twinning.conf is missing"), "{}", a.log());
    assert!(a.is_running_asterisk());
}

#[test]
fn a_panic_in_a_callback_stays_in_the_module() {
    // TWINNING() is read on a channel: AMI's Getvar cannot reach an escalating function.
    let mut config = InstanceConfig::default()
        .file("twinning.conf", TWINNING_CONF)
        .file("extensions.conf", &format!("[general]\n[default]\n{}", dialplan::CONTEXT));
    config.modules.extend(dialplan::MODULES.iter().map(|m| m.to_string()));
    config.env.push((
        "TWINNING_INJECT_PANIC".into(),
        "AMI TwinningSet,AMI TwinningStatus,CLI twinning set,TWINNING() read,reload".into(),
    ));
    let a = Instance::start(config);
    let mut ami = a.ami();
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "enabled"), ("Value", "no")]);
    assert_eq!(r.get("Response"), Some("Error"));
    assert!(r.must("Message").contains("internal error"), "{r:?}");
    let r = ami.action("TwinningStatus", &[]);
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");
    a.cli("twinning set 1001 enabled no");
    let read = dialplan::read(&mut ami, "1001", "enabled");
    assert_ne!(read.value, "yes", "{read:?}");
    a.cli("module reload app_twinning.so");
    // Asterisk is still up, nothing changed, and every panic was logged.
    assert!(a.is_running_asterisk());
    assert!(a.cli("twinning show user 1001").contains("enabled          : yes"));
    let log = a.log();
    for callback in ["AMI TwinningSet", "AMI TwinningStatus", "CLI twinning set", "TWINNING() read", "reload"]
    {
        assert!(log.contains(&format!("internal error in {callback}: fault injected")), "{callback}: {log}");
    }
}
