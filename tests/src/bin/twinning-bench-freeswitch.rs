//! Benchmarks FreeSWITCH's `twinning` against FreeSWITCH's own way of ringing two phones,
//! in one run on one FreeSWITCH: `bridge` with both endpoints comma-separated (they ring
//! together, the first answer wins) and `twinning` with the same behaviour (no delay, no
//! guard). Rounds alternate the two so machine drift hits both alike.
//!
//! Needs a FreeSWITCH 1.10 (FREESWITCH_PREFIX). Run: scripts/bench-freeswitch [--rounds 3]
//! [--calls 300] [--rate 30] [--answer-ms 200] [--hold-ms 1000] [--memory-calls 5000]
//! [--max-rate 200] [--json FILE]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use twinning_tests::bench::{self, cpu_model, percentile, Options, Sample};
use twinning_tests::freeswitch::{FreeSwitch, FsPorts};
use twinning_tests::module_build::workspace_root;
use twinning_tests::sipp::{Answer, Phone};

fn options() -> Options {
    let o = Options {
        rounds: 3,
        calls: 300,
        rate: 30.0,
        answer_ms: 200,
        hold_ms: 1000,
        memory_calls: 5000,
        max_rate: 200,
        json: workspace_root().join("target/bench/freeswitch.json"),
    };
    Options::from_args(o, "twinning-bench-freeswitch.rs")
}

const VARIANTS: [(&str, &str); 2] = [("bridge", "2001"), ("twinning", "2003")];

fn start(ports: FsPorts) -> Option<FreeSwitch> {
    let desk = FreeSwitch::sip_target(ports.desk, "desk1001");
    let mobile = FreeSwitch::sip_target(ports.mobile, "07700900123");
    let conf = format!(
        r#"      <settings>
        <param name="mobile_dial" value="sofia/internal/{{number}}@127.0.0.1:{m}"/>
        <param name="max_concurrent" value="5000"/>
        <param name="answer_guard" value="0"/>
        <param name="dial_delay" value="0"/>
        <param name="ring_time" value="30"/>
      </settings>
      <users>
        <user id="1001">
          <param name="desk" value="{desk}"/>
          <param name="mobile" value="07700900123"/>
          <param name="enabled" value="yes"/>
        </user>
      </users>"#,
        m = ports.mobile
    );
    let extensions = format!(
        r#"      <extension name="bridge">
        <condition field="destination_number" expression="^2001$">
          <action application="bridge" data="{desk},{mobile}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="twinning">
        <condition field="destination_number" expression="^2003$">
          <action application="twinning" data="1001"/>
          <action application="hangup"/>
        </condition>
      </extension>
"#
    );
    FreeSwitch::start_with_dialplan("twinning-bench-freeswitch", &conf, &extensions, ports)
}

fn run_load(fs: &FreeSwitch, name: &str, exten: &str, calls: u64, rate: f64, hold_ms: u64) -> Sample {
    bench::run_load(fs, &|| fs.cpu_time(), name, exten, calls, rate, hold_ms)
}

fn main() {
    std::env::set_var("TWINNING_MODULE_PROFILE", "release");
    let o = options();
    let ports = FsPorts::new();
    let Some(fs) = start(ports) else {
        eprintln!("no FreeSWITCH to benchmark: set FREESWITCH_PREFIX to a FreeSWITCH 1.10 install");
        std::process::exit(2);
    };
    let _desk =
        Phone::uas_all(&fs, "desk", ports.desk, &Answer::After { after_ms: o.answer_ms, dtmf: vec![] });
    let _mobile = Phone::uas_all(&fs, "mobile", ports.mobile, &Answer::Never);
    let started = Instant::now();
    println!(
        "== {} rounds of {} calls at {}/s per variant (desk answers after {} ms, mobile rings, talk {} ms)",
        o.rounds, o.calls, o.rate, o.answer_ms, o.hold_ms
    );
    let mut totals: BTreeMap<&str, Sample> = BTreeMap::new();
    for round in 1..=o.rounds {
        for (variant, exten) in VARIANTS {
            let s = run_load(&fs, &format!("{variant}-r{round}"), exten, o.calls, o.rate, o.hold_ms);
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
                &fs,
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
            rate += 25;
        }
        println!("   {variant:<9} {best}/s");
        max_rate.insert(variant, best);
    }

    println!("== FreeSWITCH memory over {} twinning calls", o.memory_calls);
    run_load(&fs, "memory-warmup", "2003", 500, 50.0, 100);
    let rss_before = fs.rss_kib();
    let memory = run_load(&fs, "memory", "2003", o.memory_calls, 50.0, 100);
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = fs.rss_kib();
    println!(
        "   RSS {rss_before} KiB -> {rss_after} KiB after {} completed calls ({} failed)",
        memory.completed, memory.failed
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
    let ratio = per_call["twinning"] / per_call["bridge"];
    println!(
        "\ntwinning CPU per call: {ratio:.3}x bridge; p99 setup {:+.1} ms vs bridge",
        p99s["twinning"] - p99s["bridge"]
    );
    println!(
        "FreeSWITCH RSS over {} twinning calls: {:+} KiB. Total bench time {:.0} s.",
        memory.completed,
        rss_after as i64 - rss_before as i64,
        started.elapsed().as_secs_f64()
    );
    json.push_str(&format!(
        "  }},\n  \"twinning_cpu_vs_bridge\": {ratio:.4},\n  \"twinning_p99_minus_bridge_ms\": {:.2},\n  \"memory\": {{\"calls\": {}, \"rss_before_kib\": {rss_before}, \"rss_after_kib\": {rss_after}}},\n  \"machine\": {{\"cpus\": {}, \"model\": \"{}\"}}\n}}\n",
        p99s["twinning"] - p99s["bridge"],
        memory.completed,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    ));
    if let Some(dir) = o.json.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&o.json, json).unwrap();
    println!("Results written to {}", o.json.display());
}
