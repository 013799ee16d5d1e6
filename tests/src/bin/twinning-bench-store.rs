//! Benchmarks call setup with `settings_store = postgresql` against `file`, in one run:
//! two Asterisk instances, identical but for the store, take the same SIPp load (caller →
//! desk + mobile over PJSIP on loopback; the desk answers, the mobile rings and is
//! cancelled), rounds alternating. With the shared store each mobile leg takes a lease in
//! the database before it is dialed, and gives it back after; settings are read from
//! memory in both. Reports each Asterisk's CPU per call, INVITE-to-200 latency, and the
//! database server's CPU per call.
//!
//! Run: scripts/bench-store [--rounds 3] [--calls 300] [--rate 30] [--answer-ms 200]
//!      [--hold-ms 1000] [--json FILE]

use std::collections::BTreeMap;
use std::time::Duration;

use twinning_tests::asterisk::{Instance, InstanceConfig};
use twinning_tests::bench::{self, Options, Sample};
use twinning_tests::module_build::workspace_root;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::postgres::PgServer;
use twinning_tests::sipp::{free_udp_port, Answer, Phone};

fn options() -> Options {
    let o = Options {
        rounds: 3,
        warmup_rounds: 0,
        calls: 300,
        rate: 30.0,
        answer_ms: 200,
        hold_ms: 1000,
        memory_calls: 0,
        max_rate: 0,
        json: workspace_root().join("target/bench/store.json"),
        concurrent: 0,
        max_concurrent: 0,
    };
    let o = Options::from_args(o, "twinning-bench-store.rs");
    assert!(
        o.concurrent == 0 && o.max_concurrent == 0 && o.warmup_rounds == 0,
        "scripts/bench-store has no concurrency benchmark nor warm-up: --concurrent and --warmup-rounds are for scripts/bench and scripts/bench-freeswitch"
    );
    o
}

fn twinning_conf(store: &str) -> String {
    format!(
        "[general]\nmobile_dial = PJSIP/{{number}}@mobile-trunk\nmax_concurrent = 5000\nanswer_guard = 0\n\
         dial_delay = 0\nring_time = 30\n{store}\n[1001]\ndesk = PJSIP/desk1001\nmobile = 07700900123\nenabled = yes\n"
    )
}

fn start(store: &str, ports: PhonePorts) -> Instance {
    let sip_port = free_udp_port();
    let extensions =
        "[general]\n[default]\n[twinning-calls]\nexten => 2003,1,Twinning(1001)\n same => n,Hangup()\n";
    let mut config = InstanceConfig::default()
        .file("twinning.conf", &twinning_conf(store))
        .file("pjsip.conf", &pbx::pjsip_conf(sip_port, ports))
        .file("extensions.conf", extensions)
        .file("rtp.conf", "[general]\nrtpstart=20000\nrtpend=40000\nicesupport=no\n");
    config.modules.extend(pbx::CALL_MODULES.iter().map(|m| m.to_string()));
    config.sip_port = sip_port;
    Instance::start(config)
}

fn main() {
    std::env::set_var("TWINNING_MODULE_PROFILE", "release");
    let o = options();
    let pg = PgServer::start();
    pg.create_database("bench");
    let store =
        format!("settings_store = postgresql\nsettings_dsn = {}\nnode_name = bench\n", pg.dsn("bench"));
    let (file_ports, pg_ports) = (PhonePorts::new(), PhonePorts::new());
    let file_pbx = start("settings_store = file", file_ports);
    let pg_pbx = start(&store, pg_ports);
    let answer = Answer::After { after_ms: o.answer_ms, dtmf: vec![] };
    let _phones = [
        Phone::uas_all(&file_pbx, "desk-file", file_ports.desk, &answer),
        Phone::uas_all(&file_pbx, "mobile-file", file_ports.mobile, &Answer::Never),
        Phone::uas_all(&pg_pbx, "desk-pg", pg_ports.desk, &answer),
        Phone::uas_all(&pg_pbx, "mobile-pg", pg_ports.mobile, &Answer::Never),
    ];
    println!(
        "== {} rounds of {} calls at {}/s per store (desk answers after {} ms, mobile rings, talk {} ms)",
        o.rounds, o.calls, o.rate, o.answer_ms, o.hold_ms
    );
    let mut totals: BTreeMap<&str, Sample> = BTreeMap::new();
    let mut db_cpu = Duration::ZERO;
    for round in 1..=o.rounds {
        for (variant, pbx) in [("file", &file_pbx), ("postgresql", &pg_pbx)] {
            let db_before = pg.cpu_time();
            let s = bench::run_load(
                pbx,
                &|| pbx.cpu_time(),
                &format!("{variant}-r{round}"),
                "2003",
                o.calls,
                o.rate,
                o.hold_ms,
            );
            let db = pg.cpu_time().saturating_sub(db_before);
            if variant == "postgresql" {
                db_cpu += db;
            }
            println!(
                "   round {round} {variant:<10} completed {:>5} failed {:>3} asterisk cpu {:>7.1} ms  database cpu {:>6.1} ms",
                s.completed,
                s.failed,
                s.cpu.as_secs_f64() * 1e3,
                db.as_secs_f64() * 1e3
            );
            totals.entry(variant).or_default().add(s);
        }
    }
    let leases = pg.count("bench", "SELECT count(*) FROM twinning_leases");
    let variants = [("file", "2003"), ("postgresql", "2003")];
    let summary = bench::summarize(&variants, &totals, &BTreeMap::new());
    let per_call = &summary.cpu_ms_per_call;
    let p99 = &summary.p99_ms;
    let db_per_call = db_cpu.as_secs_f64() * 1e3 / totals["postgresql"].completed.max(1) as f64;
    println!(
        "\npostgresql store: Asterisk CPU per call {:.3}x the file store ({:.3} vs {:.3} ms); p99 setup {:+.1} ms; \
         database server {db_per_call:.3} ms CPU per call; {leases} lease(s) left after the run",
        per_call["postgresql"] / per_call["file"],
        per_call["postgresql"],
        per_call["file"],
        p99["postgresql"] - p99["file"],
    );
    let json = format!(
        "{{\n  {},\n  \"postgresql_cpu_vs_file\": {:.4},\n  \"postgresql_p99_minus_file_ms\": {:.2},\n  \"database_cpu_ms_per_call\": {db_per_call:.4},\n  \"leases_left\": {leases},\n  {}\n}}\n",
        summary.json_variants,
        per_call["postgresql"] / per_call["file"],
        p99["postgresql"] - p99["file"],
        bench::machine_json()
    );
    bench::write_json(&o.json, &json);
}
