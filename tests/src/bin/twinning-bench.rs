//! Benchmarks Twinning() against Asterisk's own ways of ringing two phones, in one run on
//! one Asterisk: native `Dial(desk&mobile)` (the floor), `FollowMe()` with both numbers in
//! one step (the built-in peer), and `Twinning()` with the same behaviour (no delay, no
//! guard). Rounds alternate the three so machine drift hits all alike.
//!
//! Run: scripts/bench [--rounds 3] [--calls 300] [--rate 30] [--answer-ms 200]
//!      [--hold-ms 1000] [--memory-calls 10000] [--max-rate 300] [--json FILE]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use twinning_tests::asterisk::{Instance, InstanceConfig};
use twinning_tests::bench::{self, cpu_model, percentile, Options, Sample};
use twinning_tests::module_build::workspace_root;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{free_udp_port, Answer, Phone};

fn options() -> Options {
    let o = Options {
        rounds: 3,
        calls: 300,
        rate: 30.0,
        answer_ms: 200,
        hold_ms: 1000,
        memory_calls: 10_000,
        max_rate: 300,
        json: workspace_root().join("target/bench/asterisk.json"),
    };
    Options::from_args(o, "twinning-bench.rs")
}

/// The three ways to ring desk and mobile, as dialplan extensions.
const VARIANTS: [(&str, &str); 3] = [("dial", "2001"), ("followme", "2002"), ("twinning", "2003")];

const TWINNING_CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
max_concurrent = 5000
answer_guard = 0
dial_delay = 0
ring_time = 30

[1001]
desk = PJSIP/desk1001
mobile = 07700900123
enabled = yes
";

fn start(ports: PhonePorts) -> Instance {
    let sip_port = free_udp_port();
    let extensions = "[general]\n[default]\n\
        [twinning-calls]\n\
        exten => 2001,1,Dial(PJSIP/desk1001&PJSIP/07700900123@mobile-trunk,30)\n same => n,Hangup()\n\
        exten => 2002,1,FollowMe(bench,d)\n same => n,Hangup()\n\
        exten => 2003,1,Twinning(1001)\n same => n,Hangup()\n\
        [bench-out]\n\
        exten => desk,1,Dial(PJSIP/desk1001,30)\n\
        exten => mobile,1,Dial(PJSIP/07700900123@mobile-trunk,30)\n";
    let followme = "[general]\n\n[bench]\ncontext => bench-out\nnumber => desk&mobile,30\nenable_callee_prompt => false\n";
    let mut config = InstanceConfig::default()
        .file("twinning.conf", TWINNING_CONF)
        .file("pjsip.conf", &pbx::pjsip_conf(sip_port, ports))
        .file("extensions.conf", extensions)
        .file("followme.conf", followme)
        .file("rtp.conf", "[general]\nrtpstart=20000\nrtpend=40000\nicesupport=no\n");
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
    let pbx = start(ports);
    let _desk =
        Phone::uas_all(&pbx, "desk", ports.desk, &Answer::After { after_ms: o.answer_ms, dtmf: vec![] });
    let _mobile = Phone::uas_all(&pbx, "mobile", ports.mobile, &Answer::Never);
    let started = Instant::now();

    println!(
        "== {} rounds of {} calls at {}/s per variant (desk answers after {} ms, mobile rings, talk {} ms)",
        o.rounds, o.calls, o.rate, o.answer_ms, o.hold_ms
    );
    let mut totals: BTreeMap<&str, Sample> = BTreeMap::new();
    for round in 1..=o.rounds {
        for (variant, exten) in VARIANTS {
            let s = run_load(&pbx, &format!("{variant}-r{round}"), exten, o.calls, o.rate, o.hold_ms);
            println!(
                "   round {round} {variant:<9} completed {:>5} failed {:>3} cpu {:>7.1} ms",
                s.completed,
                s.failed,
                s.cpu.as_secs_f64() * 1e3
            );
            let t = totals.entry(variant).or_default();
            t.completed += s.completed;
            t.failed += s.failed;
            t.cpu += s.cpu;
            t.latencies_ms.extend(s.latencies_ms);
        }
    }

    println!("== highest call rate with no failed call (10 s steps up to {}/s)", o.max_rate);
    let mut max_rate: BTreeMap<&str, u32> = BTreeMap::new();
    for (variant, exten) in VARIANTS {
        let mut best = 0;
        let mut rate = 25;
        while rate <= o.max_rate {
            let s = run_load(
                &pbx,
                &format!("{variant}-rate{rate}"),
                exten,
                u64::from(rate) * 10,
                f64::from(rate),
                500,
            );
            if s.failed > 0 || s.completed < u64::from(rate) * 10 {
                break;
            }
            best = rate;
            rate += if rate < 100 { 25 } else { 50 };
        }
        println!("   {variant:<9} {best}/s");
        max_rate.insert(variant, best);
    }

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

    println!(
        "\n| variant | completed | failed | CPU per call | setup p50 | setup p99 | max rate, 0 failed |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut json = String::from("{\n  \"variants\": {\n");
    let mut per_call: BTreeMap<&str, f64> = BTreeMap::new();
    let mut p99s: BTreeMap<&str, f64> = BTreeMap::new();
    for (i, (variant, _)) in VARIANTS.iter().enumerate() {
        let t = &totals[variant];
        let mut lat = t.latencies_ms.clone();
        lat.sort_by(f64::total_cmp);
        let cpu_ms = t.cpu.as_secs_f64() * 1e3 / t.completed.max(1) as f64;
        let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
        per_call.insert(variant, cpu_ms);
        p99s.insert(variant, p99);
        println!(
            "| {variant} | {} | {} | {cpu_ms:.3} ms | {p50:.1} ms | {p99:.1} ms | {}/s |",
            t.completed, t.failed, max_rate[variant]
        );
        json.push_str(&format!(
            "    \"{variant}\": {{\"completed\": {}, \"failed\": {}, \"cpu_ms_per_call\": {cpu_ms:.4}, \"setup_p50_ms\": {p50:.2}, \"setup_p99_ms\": {p99:.2}, \"max_rate_no_failures\": {}}}{}\n",
            t.completed, t.failed, max_rate[variant], if i + 1 < VARIANTS.len() { "," } else { "" }
        ));
    }
    let ratio = |a: &str, b: &str| per_call[a] / per_call[b];
    println!(
        "\nTwinning() CPU per call: {:.3}x native Dial, {:.3}x FollowMe; p99 setup {:+.1} ms vs Dial",
        ratio("twinning", "dial"),
        ratio("twinning", "followme"),
        p99s["twinning"] - p99s["dial"]
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
    json.push_str(&format!(
        "  }},\n  \"twinning_cpu_vs_dial\": {:.4},\n  \"twinning_cpu_vs_followme\": {:.4},\n  \"twinning_p99_minus_dial_ms\": {:.2},\n  \"memory\": {{\"calls\": {}, \"rss_before_kib\": {rss_before}, \"rss_after_kib\": {rss_after}}},\n  \"handover_gap_ms\": {},\n  \"machine\": {{\"cpus\": {}, \"model\": \"{}\"}}\n}}\n",
        ratio("twinning", "dial"),
        ratio("twinning", "followme"),
        p99s["twinning"] - p99s["dial"],
        memory.completed,
        gap.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    ));
    if let Some(dir) = o.json.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&o.json, json).unwrap();
    println!("Results written to {}", o.json.display());
}
