//! Benchmarks FreeSWITCH's `twinning` against FreeSWITCH's own way of ringing two phones,
//! in one run on one FreeSWITCH: `bridge` with both endpoints comma-separated (they ring
//! together, the first answer wins) and `twinning` with the same behaviour (no delay, no
//! guard). Rounds alternate the two so machine drift hits both alike.
//!
//! Needs a FreeSWITCH 1.10 (FREESWITCH_PREFIX). Run: scripts/bench-freeswitch [--rounds 3]
//! [--warmup-rounds 1] [--calls 300] [--rate 30] [--answer-ms 200] [--hold-ms 1000]
//! [--memory-calls 5000] [--max-rate 200] [--json FILE]
//!
//! With `--concurrent N` [--max-concurrent 2000] it ramps instead to N simultaneous calls
//! per variant ([--rounds] times, placed at --rate), then searches for the highest
//! concurrency with no failed call (see `twinning_tests::bench::concurrency`); FreeSWITCH
//! is restarted first with room for the calls (max-sessions, and RTP ports 26000-32766:
//! below them the test instances' ranges, above them the kernel's ephemeral ports).

use std::time::{Duration, Instant};

use twinning_tests::bench::{self, Options, Sample, PORTS_PER_HELD_CALL};
use twinning_tests::freeswitch::{FreeSwitch, FsPorts, FsSettings};
use twinning_tests::module_build::workspace_root;
use twinning_tests::sipp::{Answer, Phone};

fn options() -> Options {
    let o = Options {
        rounds: 3,
        warmup_rounds: 1,
        calls: 300,
        rate: 30.0,
        answer_ms: 200,
        hold_ms: 1000,
        memory_calls: 5000,
        max_rate: 200,
        json: workspace_root().join("target/bench/freeswitch.json"),
        concurrent: 0,
        max_concurrent: 2000,
    };
    Options::from_args(o, "twinning-bench-freeswitch.rs")
}

const VARIANTS: [(&str, &str); 2] = [("bridge", "2001"), ("twinning", "2003")];

/// The RTP ports of a concurrency run: clear of the test instances' (10000-25999) and of
/// the kernel's ephemeral ports (32768 up), where SIPp's sockets are.
const RTP_PORTS: (u16, u16) = (26000, 32766);

fn start(ports: FsPorts) -> Option<FreeSwitch> {
    let desk = FreeSwitch::sip_target(ports.desk, "desk1001");
    let mobile = FreeSwitch::sip_target(ports.mobile, "07700900123");
    let conf = FsSettings::new(ports.mobile)
        .param("max_concurrent", 5000)
        .param("dial_delay", 0)
        .param("ring_time", 30)
        .user("1001", ports.desk, "07700900123", true)
        .xml();
    // One condition decides for both variants, so each pays one regex (and its log line):
    // in extensions of their own, the second would be reached only after the first failed.
    let extensions = format!(
        r#"      <extension name="bridge-or-twinning">
        <condition field="destination_number" expression="^2001$">
          <action application="bridge" data="{desk},{mobile}"/>
          <action application="hangup"/>
          <anti-action application="twinning" data="1001"/>
          <anti-action application="hangup"/>
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
    let Some(mut fs) = start(ports) else {
        eprintln!("no FreeSWITCH to benchmark: set FREESWITCH_PREFIX to a FreeSWITCH 1.10 install");
        std::process::exit(2);
    };
    // Media as every earlier run of this benchmark had it: untimed (the tests time it, as
    // FreeSWITCH's sample profiles do, to exercise hold music against a silent phone; a
    // timer per session is what 2 cores cannot run for 1,500 calls). FreeSWITCH's log
    // level: the tests' `debug` unless TWINNING_BENCH_LOGLEVEL says otherwise.
    let loglevel = std::env::var("TWINNING_BENCH_LOGLEVEL").unwrap_or_else(|_| "debug".into());
    fs.set_params(&[("loglevel", loglevel), ("rtp-timer-name", "none".into())]);
    if o.concurrent > 0 {
        // Three sessions per call (caller, desk, mobile), each with its RTP port pair.
        let calls = o.concurrent.max(o.max_concurrent);
        fs.set_switch_params(&[
            ("max-sessions", calls * 3 + 100),
            ("rtp-start-port", RTP_PORTS.0.into()),
            ("rtp-end-port", RTP_PORTS.1.into()),
        ]);
    }
    let _desk =
        Phone::uas_all(&fs, "desk", ports.desk, &Answer::After { after_ms: o.answer_ms, dtmf: vec![] });
    let _mobile = Phone::uas_all(&fs, "mobile", ports.mobile, &Answer::Never);
    let started = Instant::now();
    if o.concurrent > 0 {
        let (cpu, rss, threads) = (|| fs.cpu_time(), || fs.rss_kib(), || fs.threads());
        let gauges = bench::Gauges { cpu: &cpu, rss_kib: &rss, threads: &threads };
        let load = |name: &str, exten: &str, calls: u64, rate: f64| {
            bench::concurrent(&fs, &gauges, name, exten, calls, rate)
        };
        let limits = bench::Limits { rtp_ports: fs.rtp_ports(), ports_per_call: PORTS_PER_HELD_CALL };
        let json = bench::concurrency(&o, &VARIANTS, &load, &limits);
        println!("Total bench time {:.0} s.", started.elapsed().as_secs_f64());
        let path = o.json.with_file_name("freeswitch-concurrency.json");
        bench::write_json(&path, &format!("{{\n  {json},\n  {}\n}}\n", bench::machine_json()));
        return;
    }
    let load = |name: &str, exten: &str, calls: u64, rate: f64, hold_ms: u64| {
        run_load(&fs, name, exten, calls, rate, hold_ms)
    };
    let measured = bench::rounds(&o, &VARIANTS, &load);
    let max_rate = bench::max_rates(&o, &VARIANTS, &load, |rate| rate + 25);

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

    let summary = bench::summarize(&VARIANTS, &measured.totals, &max_rate);
    let (per_call, p99s) = (&summary.cpu_ms_per_call, &summary.p99_ms);
    let ratio = per_call["twinning"] / per_call["bridge"];
    let one_speed = &measured.at_one_speed;
    let ratio_at_one_speed =
        one_speed.get("twinning").zip(one_speed.get("bridge")).map_or(f64::NAN, |(t, b)| t / b);
    println!(
        "\ntwinning CPU per call: {ratio:.3}x bridge ({ratio_at_one_speed:.3}x at one machine speed); p99 setup {:+.1} ms vs bridge",
        p99s["twinning"] - p99s["bridge"]
    );
    println!(
        "FreeSWITCH RSS over {} twinning calls: {:+} KiB. Total bench time {:.0} s.",
        memory.completed,
        rss_after as i64 - rss_before as i64,
        started.elapsed().as_secs_f64()
    );
    let json = format!(
        "{{\n  {},\n  \"twinning_cpu_vs_bridge\": {ratio:.4},\n  \"twinning_cpu_vs_bridge_at_one_speed\": {ratio_at_one_speed:.4},\n  \"twinning_p99_minus_bridge_ms\": {:.2},\n  \"memory\": {{\"calls\": {}, \"rss_before_kib\": {rss_before}, \"rss_after_kib\": {rss_after}}},\n  {}\n}}\n",
        summary.json_variants,
        p99s["twinning"] - p99s["bridge"],
        memory.completed,
        bench::machine_json()
    );
    bench::write_json(&o.json, &json);
}
