//! Benchmarks `twinctl serve` against a live Asterisk: what the console costs while a
//! site's events flow (twinned calls at `--rate`, 100 a second by default, each giving
//! the console about ten events), and how fast its API answers meanwhile. One run on one
//! Asterisk, the load alternating between rounds without a console and rounds with one,
//! so the PBX's own cost of feeding a console (AMI events, the resync actions) is measured
//! beside the console's.
//!
//! Reported: the console's CPU per call and as a share of one core, its memory (resident,
//! and its peak), the events it delivered on `/api/v1/events` against the calls' events,
//! the API's p50 and p99 latency (`GET /api/v1/calls` and `GET /api/v1/users/1001` from a
//! poller at `--api-rps`), and Asterisk's CPU per call with and without the console.
//!
//! Run: scripts/bench-console [--rounds 2] [--calls 3000] [--rate 100] [--hold-ms 1000]
//!      [--api-rps 20] [--json FILE]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use twinning_tests::asterisk::Instance;
use twinning_tests::bench::{self, percentile, Sample};
use twinning_tests::console::{api_token, ConsoleConfig, NodeSpec, Serve};
use twinning_tests::module_build::workspace_root;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::procfs;
use twinning_tests::sipp::{Answer, Phone};

#[derive(Clone)]
struct Options {
    rounds: u32,
    calls: u64,
    rate: f64,
    hold_ms: u64,
    api_rps: f64,
    json: std::path::PathBuf,
}

fn options() -> Options {
    let mut o = Options {
        rounds: 2,
        calls: 3000,
        rate: 100.0,
        hold_ms: 1000,
        api_rps: 20.0,
        json: workspace_root().join("target/bench/console.json"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        let number =
            || value.parse::<f64>().unwrap_or_else(|_| panic!("{} needs a number, not {value:?}", pair[0]));
        match pair[0].as_str() {
            "--rounds" => o.rounds = number() as u32,
            "--calls" => o.calls = number() as u64,
            "--rate" => o.rate = number(),
            "--hold-ms" => o.hold_ms = number() as u64,
            "--api-rps" => o.api_rps = number(),
            "--json" => o.json = value.into(),
            other => {
                panic!("unknown option {other}; see the comment at the top of twinning-bench-console.rs")
            }
        }
    }
    o
}

/// What one round with the console measured of it.
#[derive(Default)]
struct ConsoleSample {
    cpu: Duration,
    seconds: f64,
    rss_max_kib: u64,
    events: u64,
    /// Times the console told the reader it had dropped events for it.
    lagged: u64,
    api_ms: Vec<f64>,
    api_errors: u64,
}

/// Reads the console's event stream, counting the calls' events, until `stop`.
/// `ready` is told once the stream's headers came: the console has subscribed the reader.
fn count_events(
    port: u16,
    token: &str,
    count: Arc<AtomicU64>,
    lagged: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<()>,
) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to twinctl serve");
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    write!(s, "GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let _ = ready.send(());
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) if line.starts_with("data:") && line.contains("\"call\"") => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            // The console tells a reader too slow for the stream what it dropped.
            Ok(_) if line.starts_with("event: lagged") => {
                lagged.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Asks the API at `rps` until `stop`, keeping each answer's latency.
fn poll_api(api: &Serve, token: &str, rps: f64, stop: &AtomicBool, out: &Mutex<(Vec<f64>, u64)>) {
    let every = Duration::from_secs_f64(1.0 / rps);
    let mut next = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let path = if n % 2 == 0 { "/api/v1/calls" } else { "/api/v1/users/1001" };
        n += 1;
        let at = Instant::now();
        let (status, _) = api.request("GET", path, Some(token), None);
        let ms = at.elapsed().as_secs_f64() * 1000.0;
        let mut o = out.lock().unwrap();
        if status == 200 {
            o.0.push(ms);
        } else {
            o.1 += 1;
        }
        drop(o);
        next += every;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

fn load(pbx: &Instance, name: &str, o: &Options) -> Sample {
    bench::run_load(pbx, &|| pbx.cpu_time(), name, "1001", o.calls, o.rate, o.hold_ms)
}

fn with_console(
    pbx: &Instance,
    config: &ConsoleConfig,
    token: &str,
    o: &Options,
    round: u32,
) -> (Sample, ConsoleSample) {
    let api = config.serve();
    let pid = api.pid();
    // The node is up (its resync done) before the load starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !api.request("GET", "/api/v1/nodes", Some(token), None).1.contains("\"up\"") {
        assert!(Instant::now() < deadline, "twinctl never saw the node up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let lagged = Arc::new(AtomicU64::new(0));
    let reader = {
        let (port, token, events, lagged, stop) =
            (api.port, token.to_owned(), events.clone(), lagged.clone(), stop.clone());
        let (ready, is_ready) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || count_events(port, &token, events, lagged, stop, ready));
        is_ready.recv_timeout(Duration::from_secs(30)).expect("the event stream never opened");
        reader
    };
    let rss_max = Arc::new(AtomicU64::new(0));
    let api_out = Mutex::new((Vec::new(), 0u64));
    let (cpu_before, at) = (procfs::cpu_time(pid), Instant::now());
    let sample = std::thread::scope(|scope| {
        scope.spawn(|| poll_api(&api, token, o.api_rps, &stop, &api_out));
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                rss_max.fetch_max(procfs::rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let sample = load(pbx, &format!("console-{round}"), o);
        // The last events reach the console a moment after the calls end: wait until
        // none has come for a second.
        let mut seen = events.load(Ordering::Relaxed);
        for _ in 0..15 {
            std::thread::sleep(Duration::from_secs(1));
            let now = events.load(Ordering::Relaxed);
            if now == seen {
                break;
            }
            seen = now;
        }
        stop.store(true, Ordering::Relaxed);
        sample
    });
    let (api_ms, api_errors) = std::mem::take(&mut *api_out.lock().unwrap());
    let console = ConsoleSample {
        cpu: procfs::cpu_time(pid).saturating_sub(cpu_before),
        seconds: at.elapsed().as_secs_f64(),
        rss_max_kib: rss_max.load(Ordering::Relaxed),
        events: events.load(Ordering::Relaxed),
        lagged: lagged.load(Ordering::Relaxed),
        api_ms,
        api_errors,
    };
    let _ = reader.join();
    (sample, console)
}

fn main() {
    std::env::set_var("TWINNING_MODULE_PROFILE", "release");
    let o = options();
    let ports = PhonePorts::new();
    let pbx = pbx::start(bench::TWINNING_CONF, "", ports);
    let _desk = Phone::uas_all(&pbx, "desk", ports.desk, &Answer::After { after_ms: 200, dtmf: vec![] });
    let _mobile = Phone::uas_all(&pbx, "mobile", ports.mobile, &Answer::Never);
    let (token, entry) = api_token("bench");
    let config = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port)], &entry);
    // Warm-up: Asterisk's first calls pay one-time costs that neither variant should.
    load(&pbx, "warmup", &Options { calls: 300, ..o.clone() });

    let (mut alone, mut fed, mut console) = (Sample::default(), Sample::default(), ConsoleSample::default());
    for round in 1..=o.rounds {
        println!("== round {round}: {} calls at {}/s without a console", o.calls, o.rate);
        alone.add(load(&pbx, &format!("alone-{round}"), &o));
        println!("== round {round}: {} calls at {}/s with twinctl serve", o.calls, o.rate);
        let (sample, c) = with_console(&pbx, &config, &token, &o, round);
        fed.add(sample);
        console.cpu += c.cpu;
        console.seconds += c.seconds;
        console.rss_max_kib = console.rss_max_kib.max(c.rss_max_kib);
        console.events += c.events;
        console.lagged += c.lagged;
        console.api_ms.extend(c.api_ms);
        console.api_errors += c.api_errors;
    }

    let per_call = |cpu: Duration, s: &Sample| cpu.as_secs_f64() * 1000.0 / s.completed.max(1) as f64;
    console.api_ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&console.api_ms, 0.50), percentile(&console.api_ms, 0.99));
    let asterisk_alone = per_call(alone.cpu, &alone);
    let asterisk_fed = per_call(fed.cpu, &fed);
    println!();
    println!(
        "Calls: {} without a console ({} failed), {} with one ({} failed)",
        alone.completed, alone.failed, fed.completed, fed.failed
    );
    println!(
        "twinctl serve: {:.3} ms CPU per call, {:.1}% of one core at {}/s; resident peak {} KiB",
        per_call(console.cpu, &fed),
        console.cpu.as_secs_f64() * 100.0 / console.seconds.max(1e-9),
        o.rate,
        console.rss_max_kib
    );
    println!(
        "Events delivered on /api/v1/events: {} ({:.1} per call); drops reported to the reader: {}",
        console.events,
        console.events as f64 / fed.completed.max(1) as f64,
        console.lagged
    );
    println!(
        "API under load: {} answers, p50 {p50:.2} ms, p99 {p99:.2} ms, {} errors",
        console.api_ms.len(),
        console.api_errors
    );
    println!(
        "Asterisk CPU per call: {asterisk_alone:.3} ms without a console, {asterisk_fed:.3} ms with one ({:.3}x)",
        asterisk_fed / asterisk_alone
    );
    let json = format!(
        "{{\n  \"rate\": {},\n  \"calls\": {{\"alone\": {}, \"alone_failed\": {}, \"with_console\": {}, \"with_console_failed\": {}}},\n  \"console_cpu_ms_per_call\": {:.4},\n  \"console_cpu_share\": {:.4},\n  \"console_rss_peak_kib\": {},\n  \"events_delivered\": {},\n  \"events_lagged\": {},\n  \"api_p50_ms\": {p50:.3},\n  \"api_p99_ms\": {p99:.3},\n  \"api_errors\": {},\n  \"asterisk_cpu_ms_per_call\": {{\"alone\": {asterisk_alone:.4}, \"with_console\": {asterisk_fed:.4}}},\n  {}\n}}\n",
        o.rate,
        alone.completed,
        alone.failed,
        fed.completed,
        fed.failed,
        per_call(console.cpu, &fed),
        console.cpu.as_secs_f64() / console.seconds.max(1e-9),
        console.rss_max_kib,
        console.events,
        console.lagged,
        console.api_errors,
        bench::machine_json()
    );
    bench::write_json(&o.json, &json);
}
