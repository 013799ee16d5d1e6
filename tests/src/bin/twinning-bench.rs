//! Benchmarks Twinning() against Asterisk's own ways of ringing two phones, in one run on
//! one Asterisk: native `Dial(desk&mobile)` (the floor), `FollowMe()` with both numbers in
//! one step (the built-in peer), and `Twinning()` with the same behaviour (no delay, no
//! guard); then with two remote destinations, `Dial(desk&m1&m2)` against `Twinning()`.
//! Rounds alternate the variants so machine drift hits all alike.
//!
//! Run: scripts/bench [--rounds 3] [--warmup-rounds 1] [--calls 300] [--rate 30]
//!      [--answer-ms 200] [--hold-ms 1000] [--memory-calls 10000] [--max-rate 300] [--json FILE]
//!
//! With `--concurrent N` [--max-concurrent 3000] it ramps instead to N simultaneous calls of
//! `Dial(desk&mobile)` and `Twinning()` ([--rounds] times, placed at --rate), then searches
//! for the highest concurrency with no failed call (see `twinning_tests::bench::concurrency`).

use std::time::{Duration, Instant};

use twinning_tests::asterisk::{Instance, InstanceConfig};
use twinning_tests::bench::{self, Options, Sample, PORTS_PER_HELD_CALL};
use twinning_tests::module_build::workspace_root;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::procfs;
use twinning_tests::sipp::{free_udp_port, Answer, Phone};

fn options() -> Options {
    let o = Options {
        rounds: 3,
        warmup_rounds: 1,
        calls: 300,
        rate: 30.0,
        answer_ms: 200,
        hold_ms: 1000,
        memory_calls: 10_000,
        max_rate: 300,
        json: workspace_root().join("target/bench/asterisk.json"),
        concurrent: 0,
        max_concurrent: 3000,
    };
    Options::from_args(o, "twinning-bench.rs")
}

/// The three ways to ring desk and mobile, and two ways to ring the desk and two remote
/// destinations, as dialplan extensions.
const VARIANTS: [(&str, &str); 5] =
    [("dial", "2001"), ("followme", "2002"), ("twinning", "2003"), ("dial2", "2004"), ("twinning2", "2005")];

fn start(ports: PhonePorts, rtp: (u16, u16)) -> Instance {
    let sip_port = free_udp_port();
    let extensions = "[general]\n[default]\n\
        [twinning-calls]\n\
        exten => 2001,1,Dial(PJSIP/desk1001&PJSIP/07700900123@mobile-trunk,30)\n same => n,Hangup()\n\
        exten => 2002,1,FollowMe(bench,d)\n same => n,Hangup()\n\
        exten => 2003,1,Twinning(1001)\n same => n,Hangup()\n\
        exten => 2004,1,Dial(PJSIP/desk1001&PJSIP/07700900123@mobile-trunk&PJSIP/07700900222@mobile-trunk,30)\n same => n,Hangup()\n\
        exten => 2005,1,Twinning(1002)\n same => n,Hangup()\n\
        [bench-out]\n\
        exten => desk,1,Dial(PJSIP/desk1001,30)\n\
        exten => mobile,1,Dial(PJSIP/07700900123@mobile-trunk,30)\n";
    let followme = "[general]\n\n[bench]\ncontext => bench-out\nnumber => desk&mobile,30\nenable_callee_prompt => false\n";
    let mut config = InstanceConfig::default()
        .file("twinning.conf", bench::TWINNING_CONF)
        .file("pjsip.conf", &pbx::pjsip_conf(sip_port, ports))
        .file("extensions.conf", extensions)
        .file("followme.conf", followme)
        .file("rtp.conf", &format!("[general]\nrtpstart={}\nrtpend={}\nicesupport=no\n", rtp.0, rtp.1));
    config.modules.extend(pbx::CALL_MODULES.iter().map(|m| m.to_string()));
    config.modules.push("app_followme.so".into());
    config.sip_port = sip_port;
    Instance::start(config)
}

fn run_load(pbx: &Instance, name: &str, exten: &str, calls: u64, rate: f64, hold_ms: u64) -> Sample {
    bench::run_load(pbx, &|| pbx.cpu_time(), name, exten, calls, rate, hold_ms)
}

fn main() {
    std::env::set_var("TWINNING_MODULE_PROFILE", "release");
    let o = options();
    let ports = PhonePorts::new();
    // A concurrency run holds many ports at once: clear then of the FreeSWITCH test
    // instances' ranges (10000-25999) and of the kernel's ephemeral ports (32768 up).
    let rtp = if o.concurrent > 0 { (26000, 32766) } else { (20000, 40000) };
    let pbx = start(ports, rtp);
    let _desk =
        Phone::uas_all(&pbx, "desk", ports.desk, &Answer::After { after_ms: o.answer_ms, dtmf: vec![] });
    let _mobile = Phone::uas_all(&pbx, "mobile", ports.mobile, &Answer::Never);
    let started = Instant::now();
    if o.concurrent > 0 {
        let pid = pbx.pid().unwrap_or(0);
        let (cpu, rss, threads) = (|| pbx.cpu_time(), || pbx.rss_kib(), || procfs::threads(pid));
        let gauges = bench::Gauges { cpu: &cpu, rss_kib: &rss, threads: &threads };
        let load = |name: &str, exten: &str, calls: u64, rate: f64| {
            bench::concurrent(&pbx, &gauges, name, exten, calls, rate)
        };
        // Three channels per call, each with its RTP and RTCP ports (rtp.conf below).
        let limits = bench::Limits { rtp_ports: rtp, ports_per_call: PORTS_PER_HELD_CALL };
        let variants = [VARIANTS[0], VARIANTS[2]];
        let json = bench::concurrency(&o, &variants, &load, &limits);
        println!("Total bench time {:.0} s.", started.elapsed().as_secs_f64());
        let path = o.json.with_file_name("asterisk-concurrency.json");
        bench::write_json(&path, &format!("{{\n  {json},\n  {}\n}}\n", bench::machine_json()));
        return;
    }
    let load = |name: &str, exten: &str, calls: u64, rate: f64, hold_ms: u64| {
        run_load(&pbx, name, exten, calls, rate, hold_ms)
    };
    let measured = bench::rounds(&o, &VARIANTS, &load);
    let max_rate = bench::max_rates(&o, &VARIANTS, &load, |rate| rate + if rate < 100 { 25 } else { 50 });

    println!("== Asterisk memory over {} Twinning() calls", o.memory_calls);
    // Warm up first so one-time allocations (caches, thread pools) are not counted as growth.
    run_load(&pbx, "memory-warmup", "2003", 500, 100.0, 100);
    let rss_before = pbx.rss_kib();
    let memory = run_load(&pbx, "memory", "2003", o.memory_calls, 100.0, 100);
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = pbx.rss_kib();
    println!(
        "   RSS {rss_before} KiB -> {rss_after} KiB after {} completed calls ({} failed)",
        memory.completed, memory.failed
    );

    println!("== handover media gap");
    let gap = twinning_tests::media::handover_gap(
        &pbx::TWINNING_CONF.replace("answer_guard = 0", "answer_guard = 0\nhandover_timeout = 5"),
    );
    println!(
        "   {} ms from the desk's last audio packet to the mobile's first at the caller",
        gap.as_millis()
    );

    let summary = bench::summarize(&VARIANTS, &measured.totals, &max_rate);
    let (per_call, p99s) = (&summary.cpu_ms_per_call, &summary.p99_ms);
    let ratio = |a: &str, b: &str| per_call[a] / per_call[b];
    let one_speed = &measured.at_one_speed;
    let ratio_at_one_speed =
        |a: &str, b: &str| one_speed.get(a).zip(one_speed.get(b)).map_or(f64::NAN, |(a, b)| a / b);
    println!(
        "\nTwinning() CPU per call: {:.3}x native Dial ({:.3}x at one machine speed), {:.3}x FollowMe; p99 setup {:+.1} ms vs Dial",
        ratio("twinning", "dial"),
        ratio_at_one_speed("twinning", "dial"),
        ratio("twinning", "followme"),
        p99s["twinning"] - p99s["dial"]
    );
    println!(
        "Two remote destinations: Twinning() CPU per call {:.3}x Dial(desk&m1&m2); p99 setup {:+.1} ms",
        ratio("twinning2", "dial2"),
        p99s["twinning2"] - p99s["dial2"]
    );
    println!(
        "Asterisk RSS over {} Twinning() calls: {:+} KiB",
        memory.completed,
        rss_after as i64 - rss_before as i64
    );
    println!(
        "Handover media gap: {} ms. Total bench time {:.0} s.",
        gap.as_millis(),
        started.elapsed().as_secs_f64()
    );
    let json = format!(
        "{{\n  {},\n  \"twinning2_cpu_vs_dial2\": {:.4},\n  \"twinning_cpu_vs_dial\": {:.4},\n  \"twinning_cpu_vs_dial_at_one_speed\": {:.4},\n  \"twinning_cpu_vs_followme\": {:.4},\n  \"twinning_p99_minus_dial_ms\": {:.2},\n  \"memory\": {{\"calls\": {}, \"rss_before_kib\": {rss_before}, \"rss_after_kib\": {rss_after}}},\n  \"handover_gap_ms\": {},\n  {}\n}}\n",
        summary.json_variants,
        ratio("twinning2", "dial2"),
        ratio("twinning", "dial"),
        ratio_at_one_speed("twinning", "dial"),
        ratio("twinning", "followme"),
        p99s["twinning"] - p99s["dial"],
        memory.completed,
        gap.as_millis(),
        bench::machine_json()
    );
    bench::write_json(&o.json, &json);
}
