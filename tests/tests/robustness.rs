//! Robustness of the module in a live Asterisk: answers racing each other, and unloading or
//! reloading the module while calls are up.

use std::time::Duration;

use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};

const WAIT: Duration = Duration::from_secs(40);

fn ring(after_ms: u64) -> Answer {
    Answer::After { after_ms, dtmf: vec![] }
}

#[test]
fn simultaneous_answers_never_bridge_two_legs_over_many_calls() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(pbx::TWINNING_CONF, "", ports);
    let mut ami = pbx.ami();
    // Both phones answer every call after the same delay.
    let _desk = Phone::uas_all(&pbx, "desk", ports.desk, &ring(700));
    let _mobile = Phone::uas_all(&pbx, "mobile", ports.mobile, &ring(700));
    let calls = 12;
    let mut caller =
        Phone::load(&pbx, "callers", "1001", &Caller::HangUpAfter { hold_ms: 300 }, calls, 4.0, 4);
    caller.wait(WAIT);
    let ends = ami.drain_events("TwinningEnd", Duration::from_secs(2));
    let bridged = ami.drain_events("TwinningBridged", Duration::from_millis(200));
    assert_eq!(ends.len() as u64, calls, "one TwinningEnd per call");
    assert_eq!(bridged.len() as u64, calls, "exactly one leg bridged per call");
    assert!(ends.iter().all(|e| e.get("Status") == Some("ANSWERED")), "{ends:?}");
    let (ok, failed) = caller.call_counts();
    assert_eq!((ok, failed), (calls, 0));
    assert!(pbx.cli("core show channels").contains("0 active channels"), "{}", pbx.cli("core show channels"));
}

#[test]
fn unload_is_refused_while_a_call_is_up_and_reload_keeps_it() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(pbx::TWINNING_CONF, "", ports);
    let mut ami = pbx.ami();
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &ring(300));
    let _mobile = Phone::uas(&pbx, "mobile", ports.mobile, &Answer::Never);
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 4000 });
    ami.event("TwinningBridged", &[], WAIT).expect("answered");
    let unload = pbx.cli("module unload app_twinning.so");
    assert!(!unload.contains("Unloaded app_twinning.so"), "unload during a call: {unload}");
    let reload = pbx.cli("module reload app_twinning.so");
    assert!(!reload.to_lowercase().contains("error"), "{reload}");
    let end = ami.event("TwinningEnd", &[], WAIT).expect("the call ended normally");
    assert_eq!(end.must("Status"), "ANSWERED");
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    assert!(caller.received("BYE").is_empty(), "the call was not cut: {}", caller.summary());
    // With the call gone, the module unloads cleanly.
    std::thread::sleep(Duration::from_millis(500));
    assert!(pbx.cli("module unload app_twinning.so").contains("Unloaded app_twinning.so"));
}

/// An upgrade as the README tells admins to do it: scripts/install-module while a call is
/// up (the call goes on, on the code it has), then unload and load once it has ended.
#[test]
fn installing_a_new_module_during_a_call_and_loading_it_after() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(pbx::TWINNING_CONF, "", ports);
    let mut ami = pbx.ami();
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &ring(300));
    let _mobile = Phone::uas(&pbx, "mobile", ports.mobile, &Answer::Never);
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 4000 });
    ami.event("TwinningBridged", &[], WAIT).expect("answered");
    // A push from this AMI connection starts a leg thread: the connection's own thread
    // must hold nothing that keeps the old code mapped.
    let r = ami.action("TwinningHandover", &[("User", "1001"), ("To", "mobile")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let module = pbx.path("modules").join("app_twinning.so");
    let old = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&module).unwrap());
    let scratch = pbx.path("install-scratch");
    std::fs::create_dir_all(scratch.join("etc")).unwrap();
    std::fs::write(scratch.join("etc/twinning.conf"), pbx::TWINNING_CONF).unwrap();
    let installed = std::process::Command::new(
        twinning_tests::module_build::workspace_root().join("scripts/install-module"),
    )
    .env("ASTERISK_MODULE_DIR", pbx.path("modules"))
    .env("ASTERISK_DATA_DIR", scratch.join("data"))
    .env("ASTERISK_CONFIG_DIR", scratch.join("etc"))
    .env("TWINNING_MODULE", twinning_tests::module_build::module_path())
    .output()
    .expect("run scripts/install-module");
    assert!(installed.status.success(), "{}", String::from_utf8_lossy(&installed.stderr));
    let new = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&module).unwrap());
    assert_ne!(new, old, "the module was written in place");
    let unload = pbx.cli("module unload app_twinning.so");
    assert!(!unload.contains("Unloaded app_twinning.so"), "unload during a call: {unload}");
    let end = ami.event("TwinningEnd", &[], WAIT).expect("the call ended normally");
    assert_eq!(end.must("Status"), "ANSWERED");
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    assert!(caller.received("BYE").is_empty(), "the call was not cut: {}", caller.summary());
    std::thread::sleep(Duration::from_millis(500));
    assert!(pbx.cli("module unload app_twinning.so").contains("Unloaded app_twinning.so"));
    assert!(pbx.cli("module load app_twinning.so").contains("Loaded app_twinning.so"));
    // The new file is the code that runs now (glibc unmapped the old image).
    let mapped = std::fs::read_to_string(format!("/proc/{}/maps", pbx.pid().unwrap())).unwrap();
    let mapped: Vec<&str> = mapped.lines().filter(|l| l.contains("app_twinning.so")).collect();
    assert!(
        !mapped.is_empty()
            && mapped.iter().all(|l| l.split_whitespace().nth(4) == Some(new.to_string().as_str())),
        "{mapped:?}"
    );
    assert!(pbx.cli("twinning show user 1001").contains("07700900123"));
    assert!(pbx.is_running_asterisk());
}

#[test]
fn the_concurrent_cap_holds_under_a_burst() {
    let conf = pbx::TWINNING_CONF.replace("answer_guard = 0", "answer_guard = 0\nmax_concurrent = 2");
    let ports = PhonePorts::new();
    let pbx = pbx::start(&conf, "r(5)", ports);
    let mut ami = pbx.ami();
    let _desk = Phone::uas_all(&pbx, "desk", ports.desk, &Answer::Never);
    let _mobile = Phone::uas_all(&pbx, "mobile", ports.mobile, &Answer::Never);
    // Ten calls for the same user within a quarter of a second.
    let calls = 10;
    let mut burst =
        Phone::load(&pbx, "burst", "1001", &Caller::HangUpAfter { hold_ms: 100 }, calls, 40.0, 10);
    burst.wait(WAIT);
    let ends = ami.drain_events("TwinningEnd", Duration::from_secs(3));
    assert_eq!(ends.len() as u64, calls, "every call ended");
    let mobiles = ami.drain_events("TwinningLeg", Duration::from_millis(200));
    let dialed = mobiles
        .iter()
        .filter(|e| e.get("Leg") == Some("mobile") && e.get("State") == Some("dialing"))
        .count();
    let refused = ami.drain_events("TwinningRefused", Duration::from_millis(200));
    assert_eq!(dialed, 2, "only max_concurrent mobile legs were placed");
    assert_eq!(refused.iter().filter(|e| e.get("Reason") == Some("cap")).count(), 8, "{refused:?}");
}
