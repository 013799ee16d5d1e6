//! Several Asterisk nodes sharing their settings and the mobile cap in one PostgreSQL
//! database (`settings_store = postgresql`): a change on one node is in force on the
//! other within a second, the cap holds across the site under a burst, a database outage
//! costs refused changes (never calls, never an acknowledged change), a node killed with
//! -9 gives its leases back by expiry, the schema is created on an empty database, and a
//! DSN that cannot work fails the load with a clear error.

use std::time::{Duration, Instant};

use twinning_tests::pbx::CALL_MODULES;
use twinning_tests::postgres::PgServer;
use twinning_tests::{Ami, Instance, InstanceConfig, Message};

const WAIT: Duration = Duration::from_secs(20);

fn conf(dsn: &str, node: &str, max: u32) -> String {
    let mut text = format!(
        "[general]\nmobile_dial = Local/{{number}}@mobiles\nanswer_guard = 0\nring_time = 60\n\
         max_concurrent = {max}\nsettings_store = postgresql\nsettings_dsn = {dsn}\nnode_name = {node}\n"
    );
    for u in 1001..=1006 {
        text.push_str(&format!("\n[{u}]\ndesk = Local/{u}@desks\nmobile = 0770090{u}\nenabled = yes\n"));
    }
    text
}

/// Desks ring and are never answered; mobiles 077009009xx answer, the others ring.
const EXTENSIONS: &str = "\
[general]
[twinning-calls]
exten => _10XX,1,Twinning(${EXTEN})
 same => n,Hangup()
[desks]
exten => _X.,1,Wait(120)
[mobiles]
exten => _077009009XX,1,Answer()
 same => n,Wait(120)
exten => _X.,1,Wait(120)
";

fn instance(twinning_conf: &str) -> Instance {
    let mut config =
        InstanceConfig::default().file("twinning.conf", twinning_conf).file("extensions.conf", EXTENSIONS);
    config.modules.extend(CALL_MODULES.iter().map(|m| m.to_string()));
    Instance::start(config)
}

fn node(pg: &PgServer, db: &str, name: &str, max: u32) -> Instance {
    instance(&conf(&pg.dsn(db), name, max))
}

fn status(ami: &mut Ami, user: &str) -> Vec<Message> {
    ami.list("TwinningStatus", &[("User", user)], "TwinningStatusComplete").1
}

/// The user's field as TwinningStatus shows it.
fn shown(ami: &mut Ami, user: &str, field: &str) -> Option<String> {
    status(ami, user).first().and_then(|m| m.get(field)).map(str::to_owned)
}

fn set(ami: &mut Ami, user: &str, field: &str, value: &str) -> Message {
    ami.action("TwinningSet", &[("User", user), ("Field", field), ("Value", value)])
}

/// Waits until `f` holds; how long it took.
fn until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn store_line<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
        .unwrap_or_else(|| panic!("no {key} in: {report}"))
}

#[test]
fn a_change_on_one_node_is_in_force_on_the_other_within_a_second() {
    let pg = PgServer::start();
    pg.create_database("site");
    let a = node(&pg, "site", "a", 10);
    let b = node(&pg, "site", "b", 10);

    // The first node created the schema on the empty database; the second found it.
    assert_eq!(pg.count("site", "SELECT version::bigint FROM twinning_schema"), 1);
    for table in ["twinning_overrides", "twinning_audit", "twinning_leases", "twinning_nodes"] {
        assert_eq!(
            pg.count("site", &format!("SELECT count(*) FROM pg_tables WHERE tablename = '{table}'")),
            1
        );
    }
    assert_eq!(pg.count("site", "SELECT count(*) FROM twinning_nodes"), 2);
    let report = b.cli("twinning show store");
    assert_eq!(store_line(&report, "Backend"), "postgresql", "{report}");
    assert_eq!(store_line(&report, "Node"), "b");
    assert_eq!(store_line(&report, "State"), "connected");
    assert!(store_line(&report, "Last sync").contains("UTC"), "{report}");

    let mut ami_a = a.ami();
    let mut ami_b = b.ami();
    let mut slowest = Duration::ZERO;
    for (n, number) in ["07700900111", "07700900222", "07700900333"].iter().enumerate() {
        let r = set(&mut ami_a, "1001", "mobile", number);
        assert_eq!(r.get("Response"), Some("Success"), "change {n} on a: {r:?}");
        let took = until("the change on b", Duration::from_secs(1), || {
            shown(&mut ami_b, "1001", "Mobile").as_deref() == Some(number)
        });
        slowest = slowest.max(took);
        // B tells its own AMI clients, and mirrors it in its AstDB, as for a change of its own.
        let e = ami_b
            .event("TwinningSettingsChanged", &[("User", "1001"), ("Value", number)], WAIT)
            .expect("b announces a's change");
        assert_eq!((e.must("Source"), e.must("Node")), ("cluster", "a"), "{e:?}");
    }
    eprintln!("slowest propagation a -> b: {slowest:?}");
    assert!(b.cli("database get twinning 1001/mobile").contains("07700900333"));

    // The other way, through B's dialplan function and CLI.
    let out = b.cli("twinning set 1002 ring_time 44");
    assert!(out.contains("set to '44'"), "{out}");
    until("b's change on a", Duration::from_secs(1), || a.cli("twinning show user 1002").contains("44"));

    // The audit table: every change and refusal, the PIN masked.
    let r = set(&mut ami_a, "1001", "pin", "4321");
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let r = set(&mut ami_a, "1001", "mobile", "09098790000&PJSIP/evil");
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");
    let mut c = pg.client("site");
    let rows = c
        .query(
            "SELECT node, surface, user_id, field, coalesce(old_value, ''), coalesce(new_value, ''), outcome,
                    coalesce(reason, '') FROM twinning_audit ORDER BY id",
            &[],
        )
        .unwrap();
    let rows: Vec<Vec<String>> =
        rows.iter().map(|r| (0..8).map(|i| r.get::<_, String>(i)).collect()).collect();
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert_eq!(rows[0], ["a", "ami", "1001", "mobile", "07700901001", "07700900111", "changed", ""]);
    assert_eq!(&rows[3][..7], &["b", "cli", "1002", "ring_time", "60", "44", "changed"]);
    assert_eq!(&rows[4][..7], &["a", "ami", "1001", "pin", "", "****", "changed"]);
    assert_eq!(&rows[5][..3], &["a", "ami", "1001"]);
    assert_eq!(rows[5][6], "refused");
    assert!(!rows[5][7].is_empty() && !rows.iter().flatten().any(|v| v.contains("4321")), "{rows:?}");
    // The mobile-access fields travel the same way (a grant of access on one node is a
    // grant on every node).
    for (field, header, value) in
        [("mobile_access", "MobileAccess", "yes"), ("access_rate", "AccessRate", "3")]
    {
        let r = set(&mut ami_a, "1001", field, value);
        assert_eq!(r.get("Response"), Some("Success"), "{field} on a: {r:?}");
        until(&format!("{field} on b"), Duration::from_secs(1), || {
            shown(&mut ami_b, "1001", header).as_deref() == Some(value)
        });
    }
    // Calls read the settings from memory: a twinned call on b dials the number set on a.
    ami_b.action(
        "Originate",
        &[
            ("Channel", "Local/1001@twinning-calls"),
            ("Application", "Wait"),
            ("Data", "1"),
            ("Async", "true"),
        ],
    );
    let leg = ami_b
        .event("TwinningLeg", &[("User", "1001"), ("Leg", "mobile"), ("State", "dialing")], WAIT)
        .expect("the mobile is dialed on b");
    assert!(leg.must("Destination").contains("07700900333"), "{leg:?}");
}

/// Originates a twinned call to `user` on a node; the caller waits `secs`.
fn call(ami: &mut Ami, user: &str, secs: u32) {
    let r = ami.action(
        "Originate",
        &[
            ("Channel", &format!("Local/{user}@twinning-calls")),
            ("Application", "Wait"),
            ("Data", &secs.to_string()),
            ("Async", "true"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
}

fn live_leases(pg: &PgServer, node: Option<&str>) -> i64 {
    let filter = node.map_or(String::new(), |n| format!(" AND node = '{n}'"));
    pg.count("site", &format!("SELECT count(*) FROM twinning_leases WHERE expires_at > now(){filter}"))
}

#[test]
fn the_cap_holds_across_the_nodes_and_a_killed_node_gives_its_leases_back() {
    let pg = PgServer::start();
    pg.create_database("site");
    let mut a = node(&pg, "site", "a", 3);
    let b = node(&pg, "site", "b", 3);
    let mut ami_a = a.ami();
    let mut ami_b = b.ami();
    // A burst: six calls on each node at once, every one wanting a mobile leg; the site
    // may have three up.
    for u in 1001..=1006 {
        call(&mut ami_a, &u.to_string(), 40);
        call(&mut ami_b, &u.to_string(), 40);
    }
    let mut dialed = 0;
    let mut refused = 0;
    for ami in [&mut ami_a, &mut ami_b] {
        let until = Instant::now() + WAIT;
        let mut seen = 0;
        while seen < 6 && Instant::now() < until {
            let Some(m) = ami.wait(Duration::from_secs(1), |m| {
                (m.is_event("TwinningLeg")
                    && m.get("Leg") == Some("mobile")
                    && m.get("State") == Some("dialing"))
                    || (m.is_event("TwinningRefused") && m.get("Reason") == Some("cap"))
            }) else {
                continue;
            };
            seen += 1;
            if m.is_event("TwinningLeg") {
                dialed += 1;
            } else {
                refused += 1;
            }
        }
    }
    assert_eq!((dialed, refused), (3, 9), "the site's cap of 3 across two nodes");
    assert_eq!(live_leases(&pg, None), 3);
    let held_a = live_leases(&pg, Some("a"));
    let held_b = live_leases(&pg, Some("b"));
    let report = b.cli("twinning show store");
    assert!(
        store_line(&report, "Leases").starts_with(&format!("{held_b} held here ({held_b} in the database)")),
        "{report}"
    );

    // A is killed with its calls up: its leases stop counting within 30 s (renewals stop).
    a.kill9();
    let gone = until("a's leases to expire", Duration::from_secs(30), || live_leases(&pg, Some("a")) == 0);
    eprintln!("a held {held_a} lease(s); gone {gone:?} after kill -9");
    // B's calls still hold theirs; a new call on B may use what A held.
    assert_eq!(live_leases(&pg, Some("b")), 3 - held_a);
    if held_a > 0 {
        ami_b.action("Command", &[("Command", "channel request hangup all")]);
        until("b's calls to end", WAIT, || live_leases(&pg, Some("b")) == 0);
        call(&mut ami_b, "1003", 5);
        ami_b
            .event("TwinningLeg", &[("User", "1003"), ("Leg", "mobile"), ("State", "dialing")], WAIT)
            .expect("a slot freed by a's death is b's");
    }
    // A comes back: nothing of its old leases is left, and it takes part again.
    a.restart();
    let report = a.cli("twinning show store");
    assert_eq!(store_line(&report, "State"), "connected", "{report}");
    assert_eq!(live_leases(&pg, Some("a")), 0);
}

#[test]
fn a_database_outage_refuses_changes_but_not_calls_and_loses_nothing() {
    let mut pg = PgServer::start();
    pg.create_database("site");
    let mut a = node(&pg, "site", "a", 10);
    let b = node(&pg, "site", "b", 10);
    let mut ami_a = a.ami();
    let mut ami_b = b.ami();
    let r = set(&mut ami_a, "1005", "mobile", "07700900995");
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    until("the change on b", Duration::from_secs(1), || {
        shown(&mut ami_b, "1005", "Mobile").as_deref() == Some("07700900995")
    });

    pg.stop();
    // A node restarted during the outage starts on its cached settings.
    a.restart();
    let mut ami_a = a.ami();
    assert_eq!(shown(&mut ami_a, "1005", "Mobile").as_deref(), Some("07700900995"));
    assert!(a.log().contains("starting on the last known settings"));
    // Changes are refused on both nodes, with the reason, and nothing changes.
    until("a to see the outage", WAIT, || {
        let r = set(&mut ami_a, "1005", "ring_time", "31");
        r.get("Response") == Some("Error")
            && r.get("Message").is_some_and(|m| m.contains("settings store unavailable"))
    });
    let r = set(&mut ami_b, "1005", "mobile", "07700900885");
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");
    assert!(r.must("Message").contains("settings store unavailable"), "{r:?}");
    assert_eq!(shown(&mut ami_b, "1005", "Mobile").as_deref(), Some("07700900995"));
    let out = a.cli("twinning set 1005 enabled no");
    assert!(out.contains("settings store unavailable"), "{out}");
    let report = a.cli("twinning show store");
    assert_eq!(store_line(&report, "State"), "unavailable", "{report}");

    // Calls go on, with the settings last known: the mobile set before the outage answers.
    call(&mut ami_b, "1005", 3);
    let leg = ami_b
        .event("TwinningBridged", &[("User", "1005"), ("Leg", "mobile")], WAIT)
        .expect("a twinned call is answered on the mobile during the outage");
    drop(leg);

    pg.start_again();
    // Both reconnect, resync, and take changes again; the refusals of the outage reached
    // the audit table, the refused changes did not reach the overrides.
    until("a to reconnect", WAIT, || store_line(&a.cli("twinning show store"), "State") == "connected");
    until("b to reconnect", WAIT, || store_line(&b.cli("twinning show store"), "State") == "connected");
    let r = set(&mut ami_b, "1005", "ring_time", "29");
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    until("the change on a", Duration::from_secs(1), || {
        shown(&mut ami_a, "1005", "RingTime").as_deref() == Some("29")
    });
    assert_eq!(
        pg.count("site", "SELECT count(*) FROM twinning_overrides WHERE user_id = '1005'"),
        2,
        "mobile and ring_time, once each"
    );
    until("the outage's refusals in the audit table", WAIT, || {
        pg.count(
            "site",
            "SELECT count(*) FROM twinning_audit WHERE outcome = 'refused' AND reason LIKE 'settings store unavailable%'",
        ) >= 3
    });
    assert_eq!(pg.count("site", "SELECT count(*) FROM twinning_audit WHERE outcome = 'changed'"), 2);
}

#[test]
fn a_dsn_that_cannot_work_fails_the_load_with_a_clear_error() {
    let pg = PgServer::start();
    for (dsn, expected) in [
        ("postgresql://twinning@127.0.0.1:notaport/site".to_string(), "not a usable PostgreSQL URL"),
        ("mysql://root:secret@127.0.0.1/site".to_string(), "a PostgreSQL URL"),
        (pg.dsn("no_such_db"), "does not exist"),
    ] {
        let a = instance(&conf(&dsn, "a", 10));
        let shown = a.cli("module show like app_twinning");
        assert!(shown.contains("Not Running"), "{dsn}: {shown}");
        let log = a.log();
        let line = log
            .lines()
            .find(|l| l.contains("app_twinning not loaded"))
            .unwrap_or_else(|| panic!("{dsn}: {log}"));
        assert!(line.contains(expected), "{dsn}: {line}");
        assert!(!line.contains("secret"), "{line}");
    }
}

#[test]
fn the_module_unloads_with_the_store_running_and_its_code_goes() {
    let pg = PgServer::start();
    pg.create_database("site");
    let a = node(&pg, "site", "a", 10);
    let mut ami = a.ami();
    assert_eq!(set(&mut ami, "1001", "mobile", "07700900444").get("Response"), Some("Success"));
    let pid = a.pid().unwrap();
    assert!(!twinning_tests::package::mapped_module_inodes(pid).is_empty());
    let out = a.cli("module unload app_twinning.so");
    assert!(out.contains("Unloaded"), "{out}");
    // The store's thread (and its client's runtime) left nothing behind that would keep the
    // library mapped: an upgrade would load the new file.
    until("the module to be unmapped", WAIT, || {
        twinning_tests::package::mapped_module_inodes(pid).is_empty()
    });
    let out = a.cli("module load app_twinning.so");
    assert!(out.contains("Loaded"), "{out}");
    assert_eq!(store_line(&a.cli("twinning show store"), "State"), "connected");
    assert!(a.cli("twinning show user 1001").contains("07700900444"));
}

/// A PIN is in the database, on every node's AstDB mirror and in its local cache only as
/// an argon2id hash; a PIN an older version stored in clear is hashed over at the next
/// resync.
#[test]
fn pins_are_kept_hashed_in_the_database_and_each_node() {
    let pg = PgServer::start();
    pg.create_database("site");
    let a = node(&pg, "site", "a", 10);
    let mut b = node(&pg, "site", "b", 10);
    let mut ami_a = a.ami();
    let r = set(&mut ami_a, "1001", "pin", "975310");
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let stored = || -> String {
        pg.client("site")
            .query_one("SELECT value FROM twinning_overrides WHERE user_id = '1001' AND field = 'pin'", &[])
            .unwrap()
            .get(0)
    };
    assert!(stored().starts_with("$argon2id$"), "{}", stored());
    let mut ami_b = b.ami();
    until("the PIN on b", Duration::from_secs(2), || {
        shown(&mut ami_b, "1001", "Pin").as_deref() == Some("****")
    });
    for (n, node) in [("a", &a), ("b", &b)] {
        let cache = node.path("varlib/twinning/cluster-cache.journal");
        let text =
            std::fs::read_to_string(&cache).unwrap_or_else(|e| panic!("{n}: {}: {e}", cache.display()));
        assert!(!text.contains("975310") && text.contains("$argon2id$"), "{n}: {text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o600, "{n}");
        assert!(!node.cli("database show twinning").contains("975310"), "{n}");
    }

    // An older node wrote the PIN in clear: b's next resync hashes it over.
    pg.client("site")
        .execute(
            "UPDATE twinning_overrides SET value = '975310' WHERE user_id = '1001' AND field = 'pin'",
            &[],
        )
        .unwrap();
    b.restart();
    until("the clear PIN hashed over", Duration::from_secs(10), || stored().starts_with("$argon2id$"));
    let mut ami_b = b.ami();
    assert_eq!(shown(&mut ami_b, "1001", "Pin").as_deref(), Some("****"));
    let audit = pg.count("site", "SELECT count(*) FROM twinning_audit WHERE new_value LIKE '%975310%'");
    assert_eq!(audit, 0);
}

/// The lock every lease request takes, held by another client: what a stuck write or a
/// stalled server does. A call that needs a lease meanwhile is refused its remote leg
/// (the cap is never lifted), and nothing else waits for it: a call that needs no lease
/// rings at once, while the request is still stuck.
#[test]
fn a_stalled_database_never_lifts_the_cap_and_holds_up_no_other_call() {
    const LEASE_LOCK: i64 = 128_056_218_746_882;
    let pg = PgServer::start();
    pg.create_database("site");
    let a = node(&pg, "site", "a", 2);
    let mut ami = a.ami();
    // 1003 rings its desk only: its calls need no lease.
    assert_eq!(set(&mut ami, "1003", "mobile", "").get("Response"), Some("Success"));
    call(&mut ami, "1001", 60);
    ami.event("TwinningLeg", &[("User", "1001"), ("Leg", "mobile"), ("State", "dialing")], WAIT)
        .expect("1001's mobile rings");
    assert_eq!(live_leases(&pg, Some("a")), 1);

    let mut holder = pg.client("site");
    holder.execute("SELECT pg_advisory_lock($1)", &[&LEASE_LOCK]).unwrap();
    call(&mut ami, "1002", 60);
    // 1002's lease request is stuck on the lock now; 1003 is called meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    call(&mut ami, "1003", 60);
    let mut order = Vec::new();
    let deadline = Instant::now() + WAIT;
    while order.len() < 2 && Instant::now() < deadline {
        let relevant = |m: &Message| {
            (m.is_event("TwinningLeg") && m.get("User") == Some("1003"))
                || (m.get("User") == Some("1002")
                    && (m.is_event("TwinningRefused") || m.is_event("TwinningLeg")))
        };
        let Some(e) = ami.wait(Duration::from_millis(200), relevant) else { continue };
        match (e.get("Event"), e.get("User"), e.get("Leg")) {
            (Some("TwinningLeg"), Some("1003"), Some("desk"))
                if order.is_empty() || order[0] != "1003 rang" =>
            {
                order.push("1003 rang".to_string())
            }
            (Some("TwinningRefused"), Some("1002"), _) => {
                assert_eq!(e.must("Reason"), "cap", "{e:?}");
                order.push("1002 refused".to_string());
            }
            (Some("TwinningLeg"), Some("1002"), Some(leg)) if leg != "desk" => {
                panic!("1002's remote leg was placed while the database was stalled: {e:?}")
            }
            _ => {}
        }
    }
    assert_eq!(order, ["1003 rang", "1002 refused"], "1003's call waited for 1002's stuck lease request");
    assert!(live_leases(&pg, None) <= 2);
    holder.execute("SELECT pg_advisory_unlock($1)", &[&LEASE_LOCK]).unwrap();

    // The lock is free again: the next call is leased as usual.
    call(&mut ami, "1004", 60);
    ami.event("TwinningLeg", &[("User", "1004"), ("Leg", "mobile"), ("State", "dialing")], WAIT)
        .expect("1004's mobile rings");
    until("1004's lease", Duration::from_secs(5), || live_leases(&pg, Some("a")) == 2);
}
