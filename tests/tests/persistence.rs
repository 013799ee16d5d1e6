//! Runtime changes survive Asterisk restarts, including a kill -9 straight after the
//! change was acknowledged; damaged stored state is reported and ignored, never fatal.

use std::time::Duration;

use twinning_tests::{Instance, InstanceConfig};

const TWINNING_CONF: &str = "\
[general]
mobile_dial = Local/{number}@twinning-out

[1001]
desk = PJSIP/1001
mobile = 07700900123
";

fn instance() -> Instance {
    Instance::start(InstanceConfig::default().file("twinning.conf", TWINNING_CONF))
}

fn value(a: &Instance, field: &str) -> String {
    let out = a.cli("twinning show user 1001");
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{field} ")))
        .and_then(|l| l.split_once(": "))
        .map(|(_, v)| v.trim_end_matches("  (runtime)").trim().to_owned())
        .unwrap_or_else(|| panic!("{field} not shown: {out}"))
}

#[test]
fn acknowledged_changes_survive_kill_9() {
    let mut a = instance();
    let mut ami = a.ami();
    let changes = [
        ("mobile", "07700900777"),
        ("enabled", "yes"),
        ("ring_time", "33"),
        ("schedule", "mon-fri 07:30-19:00"),
    ];
    for (field, v) in changes {
        let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", field), ("Value", v)]);
        assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    }
    // No pause: AstDB would still hold these in an uncommitted transaction.
    drop(ami);
    a.kill9();
    a.restart();
    for (field, v) in changes {
        assert_eq!(value(&a, field), v, "{field} after kill -9");
    }
    // The AstDB mirror is rebuilt from the journal at start-up.
    assert_eq!(a.cli("database get twinning 1001/ring_time").trim(), "Value: 33");
}

#[test]
fn changes_survive_a_clean_restart_and_reload() {
    let mut a = instance();
    a.cli("twinning set 1001 dnd yes");
    a.cli("module reload app_twinning.so");
    assert_eq!(value(&a, "dnd"), "yes");
    a.restart();
    assert_eq!(value(&a, "dnd").trim(), "yes");
    let shown = a.cli("twinning show user 1001");
    assert!(shown.contains("dnd              : yes  (runtime)"), "{shown}");
}

#[test]
fn corrupt_stored_entries_are_reported_and_ignored() {
    let mut a = instance();
    // An admin (or a bad script) seeds AstDB by hand; the module has no journal yet.
    for (key, v) in [
        ("1001/enabled", "yes"),
        ("1001/ring_time", "forever"),
        ("1001/desk", "PJSIP/evil"),
        ("junk", "x"),
        ("1001/mobile", "0770&PJSIP/9"),
    ] {
        a.cli(&format!("database put twinning {key} \"{v}\""));
    }
    a.stop();
    std::fs::remove_file(a.path("varlib/twinning/overrides.journal")).unwrap();
    a.restart();
    assert_eq!(value(&a, "enabled").trim(), "yes", "a valid entry applies");
    assert_eq!(value(&a, "ring_time").trim(), "20", "an invalid one is ignored");
    assert_eq!(value(&a, "desk").trim(), "PJSIP/1001", "desk cannot be overridden");
    assert_eq!(value(&a, "mobile").trim(), "07700900123");
    let log = a.log();
    for needle in ["1001.ring_time ignored", "1001.desk ignored", "twinning/junk", "1001.mobile ignored"] {
        assert!(log.contains(needle), "{needle} not reported: {log}");
    }
    // The mirror now holds only what is in force.
    let db = a.cli("database show twinning");
    assert!(db.contains("/twinning/1001/enabled") && !db.contains("forever") && !db.contains("evil"), "{db}");
}

#[test]
fn a_damaged_journal_line_is_reported_and_skipped() {
    let mut a = instance();
    a.cli("twinning set 1001 ring_time 40");
    a.stop();
    let journal = a.path("varlib/twinning/overrides.journal");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str("set\t1001\tdnd"); // torn: a crash mid-write
    std::fs::write(&journal, text).unwrap();
    a.restart();
    assert_eq!(value(&a, "ring_time").trim(), "40");
    assert!(a.log().contains("line 2 is damaged"), "{}", a.log());
    // Compacted: the next change is not glued onto the torn line.
    a.cli("twinning set 1001 dnd yes");
    a.kill9();
    std::thread::sleep(Duration::from_millis(50));
    a.restart();
    assert_eq!(value(&a, "dnd").trim(), "yes");
}

#[test]
fn a_tightened_policy_stops_a_stored_number_at_reload() {
    let a = instance();
    a.cli("twinning set 1001 mobile 09012345678");
    assert_eq!(value(&a, "mobile").trim(), "09012345678");
    a.write_file("twinning.conf", &TWINNING_CONF.replace("[1001]", "blocked_prefixes = 090\n\n[1001]"));
    a.cli("module reload app_twinning.so");
    assert_eq!(value(&a, "mobile").trim(), "07700900123", "the configured number applies again");
    assert!(a.log().contains("1001.mobile ignored"), "{}", a.log());
}
