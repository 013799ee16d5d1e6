//! mod_twinning nodes sharing settings and the cap in PostgreSQL: two FreeSWITCH nodes,
//! and a FreeSWITCH node beside an Asterisk node, on one database. Driven over ESL and
//! AMI, with real SIP calls from SIPp on the FreeSWITCH side.
//!
//! FreeSWITCH is used when one is given (`FREESWITCH_PREFIX`); without it every test here
//! reports itself SKIPPED, never as a pass.

use std::time::{Duration, Instant};

use twinning_tests::esl::Esl;
use twinning_tests::freeswitch::{FreeSwitch, FsPorts, FsSettings};
use twinning_tests::pbx::CALL_MODULES;
use twinning_tests::postgres::PgServer;
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::{Instance, InstanceConfig};

const WAIT: Duration = Duration::from_secs(40);

fn conf(ports: FsPorts, dsn: &str, node: &str, max: u32) -> String {
    FsSettings::new(ports.mobile)
        .param("max_concurrent", max)
        .param("settings_store", "postgresql")
        .param("settings_dsn", dsn)
        .param("node_name", node)
        .user("1001", ports.desk, "07700900123", true)
        .xml()
}

struct Node {
    fs: FreeSwitch,
    esl: Esl,
    ports: FsPorts,
}

fn node(test: &str, pg: &PgServer, name: &str, max: u32) -> Option<Node> {
    let ports = FsPorts::new();
    let fs = FreeSwitch::start(test, &conf(ports, &pg.dsn("site"), name, max), "", ports)?;
    let mut esl = fs.esl();
    esl.subscribe(&[
        "twinning::settings",
        "twinning::leg",
        "twinning::refused",
        "twinning::bridged",
        "twinning::end",
    ]);
    Some(Node { fs, esl, ports })
}

fn until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn store_state(esl: &mut Esl) -> String {
    let report = esl.api("twinning store");
    report
        .lines()
        .find_map(|l| l.strip_prefix("State: "))
        .unwrap_or_else(|| panic!("no State in: {report}"))
        .to_owned()
}

fn live_leases(pg: &PgServer, node: &str) -> i64 {
    pg.count(
        "site",
        &format!("SELECT count(*) FROM twinning_leases WHERE expires_at > now() AND node = '{node}'"),
    )
}

#[test]
fn two_freeswitch_nodes_share_settings_through_an_outage() {
    let test = "freeswitch_shared_store::two_nodes";
    let mut pg = PgServer::start();
    pg.create_database("site");
    let Some(mut a) = node(test, &pg, "fs-a", 10) else { return };
    let Some(mut b) = node(test, &pg, "fs-b", 10) else { return };

    let ok = a.esl.api("twinning set 1001 mobile 07700900999");
    assert!(ok.starts_with("+OK"), "{ok}");
    let took = until("a's change on b", Duration::from_secs(1), || {
        b.esl.api("twinning status 1001").contains("07700900999")
    });
    eprintln!("propagation fs-a -> fs-b: {took:?}");
    let e = b.esl.event("twinning::settings", &[("Value", "07700900999")], WAIT).expect("b's event");
    assert_eq!((e.must("Source"), e.must("Node")), ("cluster", "fs-a"));
    let report = b.esl.api("twinning store");
    assert!(report.contains("Backend: postgresql") && report.contains("Node: fs-b"), "{report}");
    assert_eq!(store_state(&mut b.esl), "connected");

    pg.stop();
    until("b to see the outage", WAIT, || {
        let r = b.esl.api("twinning set 1001 ring_time 31");
        r.starts_with("-ERR") && r.contains("settings store unavailable")
    });
    let r = a.esl.api("twinning set 1001 mobile 07700900888");
    assert!(r.starts_with("-ERR") && r.contains("settings store unavailable"), "{r}");
    assert_eq!(store_state(&mut a.esl), "unavailable");
    assert!(b.esl.api("twinning status 1001").contains("07700900999"));

    // A call on b goes on with the last known settings: the mobile set on a answers.
    let _desk = Phone::uas(&b.fs, "desk", b.ports.desk, &Answer::Never);
    let mut mobile =
        Phone::uas(&b.fs, "mobile", b.ports.mobile, &Answer::After { after_ms: 300, dtmf: vec![] });
    let mut caller = Phone::call(&b.fs, "caller", "1001", &Caller::HangUpAfter { hold_ms: 1000 });
    let bridged = b.esl.event("twinning::bridged", &[], WAIT).expect("answered on the mobile");
    assert_eq!(bridged.must("Leg"), "mobile");
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    mobile.wait(Duration::from_secs(5));
    let invite = &mobile.received("INVITE")[0];
    assert!(invite.text.starts_with("INVITE sip:07700900999@"), "{}", invite.text);

    // A node restarted during the outage starts on its cache.
    a.fs.kill_and_restart();
    a.esl = a.fs.esl();
    assert!(a.esl.api("twinning status 1001").contains("07700900999"));

    pg.start_again();
    until("a to reconnect", WAIT, || store_state(&mut a.esl) == "connected");
    until("b to reconnect", WAIT, || store_state(&mut b.esl) == "connected");
    assert!(b.esl.api("twinning set 1001 ring_time 29").starts_with("+OK"));
    until("b's change on a", Duration::from_secs(1), || {
        a.esl.api("twinning status 1001").contains("ring_time        : 29")
    });
    assert_eq!(
        pg.count("site", "SELECT count(*) FROM twinning_overrides"),
        2,
        "mobile and ring_time, once each"
    );
    assert_eq!(pg.count("site", "SELECT count(*) FROM twinning_audit WHERE outcome = 'changed'"), 2);
    assert!(
        pg.count(
            "site",
            "SELECT count(*) FROM twinning_audit WHERE reason LIKE 'settings store unavailable%'"
        ) >= 1
    );

    // The module unloads with its store running, and its code goes (nothing of the store's
    // thread or its client keeps it mapped); loaded again, it is in sync at once.
    let unload = b.esl.api("unload mod_twinning");
    assert!(unload.starts_with("+OK"), "{unload}");
    until("mod_twinning to be unmapped", WAIT, || b.fs.mapped_inodes("mod_twinning.so").is_empty());
    assert!(b.esl.api("load mod_twinning").starts_with("+OK"));
    assert_eq!(store_state(&mut b.esl), "connected");
    assert!(b.esl.api("twinning status 1001").contains("ring_time        : 29"));
}

const ASTERISK_CONF: &str = "\
[general]
mobile_dial = Local/{number}@mobiles
answer_guard = 0
ring_time = 60
max_concurrent = 1
settings_store = postgresql
settings_dsn = DSN
node_name = ast

[1001]
desk = Local/1001@desks
mobile = 07700901001
enabled = yes
";

const ASTERISK_EXTENSIONS: &str = "\
[general]
[twinning-calls]
exten => _10XX,1,Twinning(${EXTEN})
 same => n,Hangup()
[desks]
exten => _X.,1,Wait(120)
[mobiles]
exten => _X.,1,Wait(120)
";

#[test]
fn freeswitch_and_asterisk_share_settings_and_the_cap() {
    let test = "freeswitch_shared_store::with_asterisk";
    let pg = PgServer::start();
    pg.create_database("site");
    let Some(mut f) = node(test, &pg, "fs", 1) else { return };
    let mut config = InstanceConfig::default()
        .file("twinning.conf", &ASTERISK_CONF.replace("DSN", &pg.dsn("site")))
        .file("extensions.conf", ASTERISK_EXTENSIONS);
    config.modules.extend(CALL_MODULES.iter().map(|m| m.to_string()));
    let ast = Instance::start(config);
    let mut ami = ast.ami();

    // Settings, both ways.
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "ring_time"), ("Value", "33")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    until("asterisk's change on freeswitch", Duration::from_secs(1), || {
        f.esl.api("twinning status 1001").contains("ring_time        : 33")
    });
    assert!(f.esl.api("twinning set 1001 ring_time 44").starts_with("+OK"));
    until("freeswitch's change on asterisk", Duration::from_secs(1), || {
        ast.cli("twinning show user 1001").lines().any(|l| l.contains("ring_time") && l.contains("44"))
    });

    // The cap of one, across both PBXes: Asterisk's ringing mobile holds it.
    ami.action(
        "Originate",
        &[
            ("Channel", "Local/1001@twinning-calls"),
            ("Application", "Wait"),
            ("Data", "60"),
            ("Async", "true"),
        ],
    );
    ami.event("TwinningLeg", &[("User", "1001"), ("Leg", "mobile"), ("State", "dialing")], WAIT)
        .expect("asterisk rings its mobile");
    assert_eq!(live_leases(&pg, "ast"), 1);
    let mut desk = Phone::uas(&f.fs, "desk", f.ports.desk, &Answer::After { after_ms: 800, dtmf: vec![] });
    let mut mobile = Phone::uas(&f.fs, "mobile", f.ports.mobile, &Answer::Never);
    let mut caller = Phone::call(&f.fs, "caller", "1001", &Caller::HangUpAfter { hold_ms: 500 });
    let refused =
        f.esl.event("twinning::refused", &[("Reason", "cap")], WAIT).expect("the site's cap is full");
    assert_eq!(refused.must("Leg"), "mobile");
    assert_eq!(f.esl.event("twinning::bridged", &[], WAIT).expect("the desk answers").must("Leg"), "desk");
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    desk.stop();
    mobile.stop();
    assert!(mobile.received("INVITE").is_empty(), "no mobile leg beyond the cap");

    // Asterisk's call ends: FreeSWITCH may ring its mobile, and holds the lease.
    ami.action("Command", &[("Command", "channel request hangup all")]);
    until("asterisk's lease to go", WAIT, || live_leases(&pg, "ast") == 0);
    let _desk = Phone::uas(&f.fs, "desk", f.ports.desk, &Answer::Never);
    let mut mobile = Phone::uas(&f.fs, "mobile", f.ports.mobile, &Answer::Never);
    let _caller = Phone::call(&f.fs, "caller", "1001", &Caller::HangUpAfter { hold_ms: 30_000 });
    f.esl
        .event("twinning::leg", &[("Leg", "mobile"), ("State", "dialing")], WAIT)
        .expect("freeswitch rings its mobile now");
    until("freeswitch's lease", Duration::from_secs(5), || live_leases(&pg, "fs") == 1);

    // FreeSWITCH is killed with the call up: its lease stops counting within 30 s, and
    // Asterisk may ring a mobile again.
    f.fs.kill9();
    let gone = until("freeswitch's lease to expire", Duration::from_secs(30), || live_leases(&pg, "fs") == 0);
    eprintln!("freeswitch's lease gone {gone:?} after kill -9");
    mobile.stop();
    ami.action(
        "Originate",
        &[
            ("Channel", "Local/1001@twinning-calls"),
            ("Application", "Wait"),
            ("Data", "2"),
            ("Async", "true"),
        ],
    );
    ami.event("TwinningLeg", &[("User", "1001"), ("Leg", "mobile"), ("State", "dialing")], WAIT)
        .expect("the freed slot is asterisk's");
}
