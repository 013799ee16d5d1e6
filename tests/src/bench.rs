//! What the two PBX benchmarks (`twinning-bench`, `twinning-bench-freeswitch`) share: their
//! options, one load step with its measurements, and the summary arithmetic.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::host_speed::{self, HostSpeed};
use crate::sipp::{Caller, Phone, SipSite};

/// The benchmarks' twinning.conf: no delay, no guard, a cap no load reaches; user 1001
/// rings desk and mobile, 1002 the desk and two remote destinations.
pub const TWINNING_CONF: &str = "\
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

[1002]
desk = PJSIP/desk1001
mobile = 07700900123
mobile2 = 07700900222
enabled = yes
";

pub struct Options {
    pub rounds: u32,
    /// `--warmup-rounds`: rounds of every variant run first and not counted (see
    /// [`warm_up`]).
    pub warmup_rounds: u32,
    pub calls: u64,
    pub rate: f64,
    pub answer_ms: u64,
    pub hold_ms: u64,
    pub memory_calls: u64,
    pub max_rate: u32,
    pub json: PathBuf,
    /// `--concurrent N`: instead of the rate rounds, ramp to N simultaneous calls per
    /// variant (see [`concurrent`]); 0 for the rate benchmark.
    pub concurrent: u64,
    /// `--max-concurrent`: where the search for the highest concurrency stops at the latest
    /// (0: no search).
    pub max_concurrent: u64,
}

impl Options {
    /// `defaults` overridden by `--rounds --warmup-rounds --calls --rate --answer-ms --hold-ms
    /// --memory-calls --max-rate --json --concurrent --max-concurrent` from the command
    /// line.
    pub fn from_args(mut o: Options, program: &str) -> Options {
        let args: Vec<String> = std::env::args().skip(1).collect();
        for pair in args.chunks(2) {
            let value = pair.get(1).map(String::as_str).unwrap_or("");
            let number = || {
                value.parse::<f64>().unwrap_or_else(|_| panic!("{} needs a number, not {value:?}", pair[0]))
            };
            match pair[0].as_str() {
                "--rounds" => o.rounds = number() as u32,
                "--warmup-rounds" => o.warmup_rounds = number() as u32,
                "--calls" => o.calls = number() as u64,
                "--rate" => o.rate = number(),
                "--answer-ms" => o.answer_ms = number() as u64,
                "--hold-ms" => o.hold_ms = number() as u64,
                "--memory-calls" => o.memory_calls = number() as u64,
                "--max-rate" => o.max_rate = number() as u32,
                "--json" => o.json = value.into(),
                "--concurrent" => o.concurrent = number() as u64,
                "--max-concurrent" => o.max_concurrent = number() as u64,
                other => panic!("unknown option {other}; see the comment at the top of {program}"),
            }
        }
        o
    }
}

#[derive(Default, Clone)]
pub struct Sample {
    pub completed: u64,
    pub failed: u64,
    /// The PBX's CPU time (user + system) spent during the step.
    pub cpu: Duration,
    /// Each completed call's INVITE-to-200 time at the caller.
    pub latencies_ms: Vec<f64>,
}

impl Sample {
    /// The PBX's CPU time per completed call, in ms.
    pub fn cpu_ms_per_call(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e3 / self.completed.max(1) as f64
    }

    /// One step's line: calls completed and failed, the PBX's CPU time for all of them.
    fn summary(&self) -> String {
        format!(
            "completed {:>5} failed {:>3} cpu {:>7.1} ms",
            self.completed,
            self.failed,
            self.cpu.as_secs_f64() * 1e3
        )
    }

    pub fn add(&mut self, other: Sample) {
        self.completed += other.completed;
        self.failed += other.failed;
        self.cpu += other.cpu;
        self.latencies_ms.extend(other.latencies_ms);
    }
}

/// Places `calls` calls to `exten` at `rate`, each talking `hold_ms`, and measures them;
/// `cpu` reads the PBX's CPU time.
pub fn run_load(
    site: &dyn SipSite,
    cpu: &dyn Fn() -> Duration,
    name: &str,
    exten: &str,
    calls: u64,
    rate: f64,
    hold_ms: u64,
) -> Sample {
    let cpu_before = cpu();
    let mut caller = Phone::load(site, name, exten, &Caller::HangUpAfter { hold_ms }, calls, rate, 2000);
    let budget = Duration::from_secs_f64(calls as f64 / rate + 60.0 + hold_ms as f64 / 1000.0);
    caller.wait(budget);
    // Let the PBX finish tearing the last calls down before reading its CPU time.
    std::thread::sleep(Duration::from_millis(500));
    let (completed, failed) = caller.call_counts();
    Sample { completed, failed, cpu: cpu().saturating_sub(cpu_before), latencies_ms: caller.response_times() }
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_default()
        .replace('"', "'")
}

/// One load step: `(name, exten, calls, rate, hold_ms)`.
pub type Load<'a> = dyn Fn(&str, &str, u64, f64, u64) -> Sample + 'a;

/// The variants in round `round`'s order: as given in odd rounds, reversed in even ones.
/// The PBX's CPU per call drifts up through a run (FreeSWITCH's by several per cent per
/// 1,000 calls), so a variant always run second would always pay more; in this order (ABBA)
/// a linear drift cancels over each pair of rounds.
pub fn round_order<T>(variants: &[T], round: u32) -> Vec<&T> {
    let mut order: Vec<&T> = variants.iter().collect();
    if round % 2 == 0 {
        order.reverse();
    }
    order
}

/// Runs `o.warmup_rounds` rounds of every variant, `step` being one variant's load (it
/// says how it went), before anything is counted. A PBX's CPU per call rises over its first
/// few thousand calls and then levels off (FreeSWITCH's: one `bridge` measured against
/// itself, four slots of 1,500 simultaneous calls read 37.6, 39.6, 41.4, 41.5 ms per call),
/// and ABBA cancels only a linear drift: the first slot, always the first variant's, would
/// stay the cheapest.
pub fn warm_up(o: &Options, variants: &[(&str, &str)], step: &dyn Fn(&str, &str) -> String) {
    for round in 1..=o.warmup_rounds {
        for &&(variant, exten) in &round_order(variants, round) {
            println!("   warm-up {variant:<9} {} (not counted)", step(variant, exten));
        }
    }
}

/// What the rounds measured per variant.
pub struct Rounds<'v> {
    /// Every round of the variant summed.
    pub totals: BTreeMap<&'v str, Sample>,
    /// The mean of the variant's rounds' CPU per call at one machine speed (see
    /// [`host_speed`]), in ms.
    pub at_one_speed: BTreeMap<&'v str, f64>,
}

/// `o.rounds` rounds of every variant in turn (so drift hits all alike, see
/// [`round_order`]), summed per variant, with the machine's speed read beside them.
pub fn rounds<'v>(o: &Options, variants: &[(&'v str, &'v str)], load: &Load) -> Rounds<'v> {
    println!(
        "== {} rounds of {} calls at {}/s per variant (desk answers after {} ms, mobile rings, talk {} ms)",
        o.rounds, o.calls, o.rate, o.answer_ms, o.hold_ms
    );
    warm_up(o, variants, &|variant, exten| {
        load(&format!("{variant}-warmup"), exten, o.calls, o.rate, o.hold_ms).summary()
    });
    let speed = HostSpeed::start();
    let mut totals: BTreeMap<&str, Sample> = BTreeMap::new();
    let mut per_round = PerRound::default();
    for round in 1..=o.rounds {
        for &&(variant, exten) in &round_order(variants, round) {
            let (s, host) =
                speed.during(|| load(&format!("{variant}-r{round}"), exten, o.calls, o.rate, o.hold_ms));
            println!("   round {round} {variant:<9} {}{}", s.summary(), host_reading(host));
            per_round.push(variant, s.cpu_ms_per_call(), host);
            totals.entry(variant).or_default().add(s);
        }
    }
    let at_one_speed = report_rounds(variants, &per_round);
    Rounds { totals, at_one_speed }
}

/// Each round of a run in the order run: its variant, its CPU per call, and the machine's
/// speed during it (the yardstick's mean reading, ms).
#[derive(Default)]
struct PerRound<'v>(Vec<(&'v str, f64, Option<f64>)>);

impl<'v> PerRound<'v> {
    fn push(&mut self, variant: &'v str, cpu_ms_per_call: f64, host_ms: Option<f64>) {
        self.0.push((variant, cpu_ms_per_call, host_ms));
    }
}

/// A round line's note of the machine's speed during it.
fn host_reading(host_ms: Option<f64>) -> String {
    host_ms.map_or_else(|| " host not read".into(), |h| format!(" host {h:.2} ms"))
}

/// Prints each variant's spread, as measured and at one machine speed, and returns the
/// mean of each variant's rounds at one speed.
fn report_rounds<'v>(variants: &[(&'v str, &'v str)], per_round: &PerRound) -> BTreeMap<&'v str, f64> {
    // One speed for every variant's rounds: the run's median reading.
    let all_scaled = host_speed::at_one_speed(&per_round.0.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>());
    let mut means = BTreeMap::new();
    for &(variant, _) in variants {
        let (measured, scaled): (Vec<f64>, Vec<f64>) = per_round
            .0
            .iter()
            .zip(&all_scaled)
            .filter(|(r, _)| r.0 == variant)
            .map(|(r, s)| (r.1, *s))
            .unzip();
        print_spread(variant, "", &measured);
        print_spread(variant, " at one machine speed", &scaled);
        if !scaled.is_empty() {
            means.insert(variant, scaled.iter().sum::<f64>() / scaled.len() as f64);
        }
    }
    if let Some((&(first, _), rest)) = variants.split_first() {
        for &(variant, _) in rest {
            if let (Some(a), Some(b)) = (means.get(variant), means.get(first)) {
                println!("   {variant} at one machine speed: {a:.3} ms per call, {:.3}x {first}", a / b);
            }
        }
    }
    means
}

/// How far one variant's rounds lie apart: `(lowest, highest)` CPU per call, `None` with
/// fewer than two rounds.
pub fn spread(per_round: &[f64]) -> Option<(f64, f64)> {
    if per_round.len() < 2 {
        return None;
    }
    let lowest = per_round.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lowest, highest))
}

/// Prints a variant's spread between its own rounds: the same load on the same build,
/// so how much the run's machine moved. A difference between variants inside it is not
/// one the run can tell from noise (one `bridge` measured against itself at 1,500
/// simultaneous calls read 1.082×).
fn print_spread(variant: &str, how: &str, per_round: &[f64]) {
    let Some((lowest, highest)) = spread(per_round) else { return };
    println!(
        "   {variant:<9} rounds{how} {lowest:.3} to {highest:.3} ms per call: {:.1} % apart",
        (highest / lowest - 1.0) * 100.0
    );
}

/// The highest rate each variant sustains for 10 s with no failed call, stepping from
/// 25/s by `next` up to `o.max_rate`.
pub fn max_rates<'v>(
    o: &Options,
    variants: &[(&'v str, &'v str)],
    load: &Load,
    next: impl Fn(u32) -> u32,
) -> BTreeMap<&'v str, u32> {
    println!("== highest call rate with no failed call (10 s steps up to {}/s)", o.max_rate);
    let mut max_rate = BTreeMap::new();
    for &(variant, exten) in variants {
        let mut best = 0;
        let mut rate = 25;
        while rate <= o.max_rate {
            let calls = u64::from(rate) * 10;
            let s = load(&format!("{variant}-rate{rate}"), exten, calls, f64::from(rate), 500);
            if s.failed > 0 || s.completed < calls {
                break;
            }
            best = rate;
            rate = next(rate);
        }
        println!("   {variant:<9} {best}/s");
        max_rate.insert(variant, best);
    }
    max_rate
}

/// Per variant, as the table shows them.
pub struct Summary<'v> {
    pub cpu_ms_per_call: BTreeMap<&'v str, f64>,
    pub p99_ms: BTreeMap<&'v str, f64>,
    /// The `"variants": {...}` member of the JSON report.
    pub json_variants: String,
}

/// Prints the results table and returns its figures.
pub fn summarize<'v>(
    variants: &[(&'v str, &'v str)],
    totals: &BTreeMap<&'v str, Sample>,
    max_rate: &BTreeMap<&'v str, u32>,
) -> Summary<'v> {
    println!(
        "\n| variant | completed | failed | CPU per call | setup p50 | setup p99 | max rate, 0 failed |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut json = String::from("\"variants\": {\n");
    let mut cpu_ms_per_call = BTreeMap::new();
    let mut p99_ms = BTreeMap::new();
    for (i, &(variant, _)) in variants.iter().enumerate() {
        let t = &totals[variant];
        let mut lat = t.latencies_ms.clone();
        lat.sort_by(f64::total_cmp);
        let cpu_ms = t.cpu_ms_per_call();
        let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
        cpu_ms_per_call.insert(variant, cpu_ms);
        p99_ms.insert(variant, p99);
        // A benchmark that runs no rate search leaves the column unmeasured.
        let rate = max_rate.get(variant);
        println!(
            "| {variant} | {} | {} | {cpu_ms:.3} ms | {p50:.1} ms | {p99:.1} ms | {} |",
            t.completed,
            t.failed,
            rate.map_or("not measured".into(), |r| format!("{r}/s"))
        );
        json.push_str(&format!(
            "    \"{variant}\": {{\"completed\": {}, \"failed\": {}, \"cpu_ms_per_call\": {cpu_ms:.4}, \"setup_p50_ms\": {p50:.2}, \"setup_p99_ms\": {p99:.2}, \"max_rate_no_failures\": {}}}{}\n",
            t.completed,
            t.failed,
            rate.map_or("null".into(), |r| r.to_string()),
            if i + 1 < variants.len() { "," } else { "" }
        ));
    }
    json.push_str("  }");
    Summary { cpu_ms_per_call, p99_ms, json_variants: json }
}

/// The `"machine": {...}` member of the JSON report.
pub fn machine_json() -> String {
    format!(
        "\"machine\": {{\"cpus\": {}, \"model\": \"{}\"}}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    )
}

/// Writes the JSON report, its directory first.
pub fn write_json(path: &std::path::Path, json: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, json).unwrap();
    println!("Results written to {}", path.display());
}

/// How a concurrency step reads the PBX: its CPU time, resident memory and threads.
pub struct Gauges<'a> {
    pub cpu: &'a dyn Fn() -> Duration,
    pub rss_kib: &'a dyn Fn() -> u64,
    pub threads: &'a dyn Fn() -> u64,
}

/// One concurrency step of one variant.
#[derive(Default, Clone)]
pub struct Concurrent {
    pub calls: u64,
    pub sample: Sample,
    /// The PBX's resident memory and threads with every call up, less before the step,
    /// per call.
    pub rss_kib_per_call: f64,
    pub threads_per_call: f64,
}

/// Seconds every call of a concurrency step stays up after the last one is placed.
const PLATEAU_S: f64 = 10.0;

/// Ramps to `calls` simultaneous calls to `exten` at `rate`, each held until `PLATEAU_S`
/// after the last is placed (so all are up together), reads the PBX's memory and threads
/// in the middle of that plateau, and measures the step as [`run_load`] does.
pub fn concurrent(
    site: &dyn SipSite,
    g: &Gauges,
    name: &str,
    exten: &str,
    calls: u64,
    rate: f64,
) -> Concurrent {
    let ramp = calls as f64 / rate;
    let hold_ms = ((ramp + PLATEAU_S) * 1000.0) as u64;
    let (rss_before, threads_before, cpu_before) = ((g.rss_kib)(), (g.threads)(), (g.cpu)());
    let mut caller =
        Phone::load(site, name, exten, &Caller::HangUpAfter { hold_ms }, calls, rate, calls as u32 + 100);
    std::thread::sleep(Duration::from_secs_f64(ramp + PLATEAU_S / 2.0));
    let (rss_up, threads_up) = ((g.rss_kib)(), (g.threads)());
    caller.wait(Duration::from_secs_f64(ramp + PLATEAU_S + 120.0));
    std::thread::sleep(Duration::from_millis(500));
    let (completed, failed) = caller.call_counts();
    let sample = Sample {
        completed,
        failed,
        cpu: (g.cpu)().saturating_sub(cpu_before),
        latencies_ms: caller.response_times(),
    };
    let per_call = |up: u64, before: u64| (up as f64 - before as f64) / calls.max(1) as f64;
    Concurrent {
        calls,
        sample,
        rss_kib_per_call: per_call(rss_up, rss_before),
        threads_per_call: per_call(threads_up, threads_before),
    }
}

/// One concurrency step: `(name, exten, calls, rate)`.
pub type ConcurrentLoad<'a> = dyn Fn(&str, &str, u64, f64) -> Concurrent + 'a;

/// One concurrency step's line; `note` ends it (the machine's speed during a round).
fn print_concurrent(variant: &str, c: &Concurrent, note: &str) {
    let mut lat = c.sample.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    println!(
        "   {variant:<9} {:>5} calls: completed {:>5} failed {:>3} cpu/call {:>7.3} ms setup p99 {:>7.1} ms RSS/call {:>6.1} KiB threads/call {:>5.2}{}",
        c.calls,
        c.sample.completed,
        c.sample.failed,
        c.sample.cpu_ms_per_call(),
        percentile(&lat, 0.99),
        c.rss_kib_per_call,
        c.threads_per_call,
        note
    );
}

/// RTP ports a held call keeps: an RTP and an RTCP port for the caller's leg and for the
/// desk's. The mobile's pair goes when the desk's answer cancels it, so only the calls
/// still ringing (a rate's worth of them in a 200 ms ring) hold a third pair.
pub const PORTS_PER_HELD_CALL: u64 = 4;

/// What stops the concurrency search besides a failed call: the calls the PBX's RTP
/// ports allow (`ports_per_call` of the range per call), and those the machine's
/// available memory allows at the memory per call measured.
pub struct Limits {
    pub rtp_ports: (u16, u16),
    pub ports_per_call: u64,
}

/// `o.rounds` rounds of `o.concurrent` simultaneous calls per variant (alternating), then
/// per variant the highest concurrency with no failed call: doubling from 100 until a call
/// fails, or the next step would pass `o.max_concurrent`, the RTP ports or half the
/// machine's available memory. Prints everything and returns the JSON members.
pub fn concurrency<'v>(
    o: &Options,
    variants: &[(&'v str, &'v str)],
    load: &ConcurrentLoad,
    limits: &Limits,
) -> String {
    let rate = o.rate;
    println!(
        "== {} rounds of {} simultaneous calls per variant (placed at {rate}/s, all up for {PLATEAU_S} s; desk answers after {} ms, mobile rings)",
        o.rounds, o.concurrent, o.answer_ms
    );
    warm_up(o, variants, &|variant, exten| {
        let c = load(&format!("{variant}-cwarmup"), exten, o.concurrent, rate);
        let per_call = c.sample.cpu_ms_per_call();
        format!(
            "completed {:>5} failed {:>3} cpu/call {per_call:>7.3} ms",
            c.sample.completed, c.sample.failed
        )
    });
    let speed = HostSpeed::start();
    let mut totals: BTreeMap<&str, Vec<Concurrent>> = BTreeMap::new();
    let mut per_round = PerRound::default();
    for round in 1..=o.rounds {
        for &&(variant, exten) in &round_order(variants, round) {
            let (c, host) = speed.during(|| load(&format!("{variant}-c{round}"), exten, o.concurrent, rate));
            print_concurrent(variant, &c, &host_reading(host));
            per_round.push(variant, c.sample.cpu_ms_per_call(), host);
            totals.entry(variant).or_default().push(c);
        }
    }
    drop(speed);
    let at_one_speed = report_rounds(variants, &per_round);
    let port_cap = u64::from(limits.rtp_ports.1.saturating_sub(limits.rtp_ports.0)) / limits.ports_per_call;
    let mut json = String::from("\"concurrency\": {\n");
    println!(
        "\n| variant | simultaneous calls | completed | failed | CPU per call | setup p99 | RSS per call | threads per call |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (i, &(variant, _)) in variants.iter().enumerate() {
        let runs = &totals[variant];
        let mut all = Sample::default();
        for c in runs {
            all.add(c.sample.clone());
        }
        let mut lat = all.latencies_ms.clone();
        lat.sort_by(f64::total_cmp);
        let cpu = all.cpu_ms_per_call();
        let p99 = percentile(&lat, 0.99);
        let rss = runs.iter().map(|c| c.rss_kib_per_call).sum::<f64>() / runs.len().max(1) as f64;
        let threads = runs.iter().map(|c| c.threads_per_call).sum::<f64>() / runs.len().max(1) as f64;
        println!(
            "| {variant} | {} | {} | {} | {cpu:.3} ms | {p99:.1} ms | {rss:.1} KiB | {threads:.2} |",
            o.concurrent, all.completed, all.failed
        );
        let one_speed = at_one_speed.get(variant).map_or("null".into(), |c| format!("{c:.4}"));
        json.push_str(&format!(
            "    \"{variant}\": {{\"calls\": {}, \"completed\": {}, \"failed\": {}, \"cpu_ms_per_call\": {cpu:.4}, \"cpu_ms_per_call_at_one_speed\": {one_speed}, \"setup_p99_ms\": {p99:.2}, \"rss_kib_per_call\": {rss:.2}, \"threads_per_call\": {threads:.3}}}{}\n",
            o.concurrent,
            all.completed,
            all.failed,
            if i + 1 < variants.len() { "," } else { "" }
        ));
    }
    json.push_str("  },\n  \"max_concurrency\": {\n");
    if o.max_concurrent > 0 {
        println!(
            "\n== highest concurrency with no failed call (doubling from 100; ceiling {} calls, RTP ports {}-{} allow {port_cap})",
            o.max_concurrent, limits.rtp_ports.0, limits.rtp_ports.1
        );
    }
    for (i, &(variant, exten)) in variants.iter().enumerate() {
        if o.max_concurrent == 0 {
            break;
        }
        let mut best = 0;
        let mut n = 100;
        let stop = loop {
            let c = load(&format!("{variant}-max{n}"), exten, n, rate);
            print_concurrent(variant, &c, "");
            if c.sample.failed > 0 || c.sample.completed < n {
                break format!("a failed call at {n}");
            }
            best = n;
            let next = n * 2;
            let memory_cap =
                (crate::procfs::mem_available_kib() as f64 / 2.0 / c.rss_kib_per_call.max(1.0)) as u64;
            if next > port_cap {
                break format!("the RTP ports ({next} calls need more than the {port_cap} the range allows)");
            }
            if next > memory_cap {
                break format!("memory ({next} calls would take more than half the available memory)");
            }
            if next > o.max_concurrent {
                break format!("the ceiling of {} calls (--max-concurrent)", o.max_concurrent);
            }
            n = next;
        };
        println!("   {variant:<9} {best} simultaneous calls with no failed call; stopped by {stop}");
        json.push_str(&format!(
            "    \"{variant}\": {{\"calls\": {best}, \"stopped_by\": \"{stop}\"}}{}\n",
            if i + 1 < variants.len() { "," } else { "" }
        ));
    }
    json.push_str("  }");
    json
}

#[cfg(test)]
mod tests {
    use super::{round_order, spread};

    #[test]
    fn each_variant_goes_first_in_every_other_round() {
        let variants = ["bridge", "twinning"];
        let order: Vec<Vec<&&str>> = (1..=4).map(|r| round_order(&variants, r)).collect();
        assert_eq!(order[0], [&"bridge", &"twinning"]);
        assert_eq!(order[1], [&"twinning", &"bridge"]);
        assert_eq!(order[2], order[0]);
        assert_eq!(order[3], order[1]);
    }

    #[test]
    fn a_spread_needs_two_rounds_and_spans_them_all() {
        assert_eq!(spread(&[18.0]), None);
        assert_eq!(spread(&[19.5, 18.0, 21.0, 20.0]), Some((18.0, 21.0)));
    }
}
