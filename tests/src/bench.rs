//! What the two PBX benchmarks (`twinning-bench`, `twinning-bench-freeswitch`) share: their
//! options, one load step with its measurements, and the summary arithmetic.

use std::path::PathBuf;
use std::time::Duration;

use crate::sipp::{Caller, Phone, SipSite};

pub struct Options {
    pub rounds: u32,
    pub calls: u64,
    pub rate: f64,
    pub answer_ms: u64,
    pub hold_ms: u64,
    pub memory_calls: u64,
    pub max_rate: u32,
    pub json: PathBuf,
}

impl Options {
    /// `defaults` overridden by `--rounds --calls --rate --answer-ms --hold-ms
    /// --memory-calls --max-rate --json` from the command line.
    pub fn from_args(mut o: Options, program: &str) -> Options {
        let args: Vec<String> = std::env::args().skip(1).collect();
        for pair in args.chunks(2) {
            let value = pair.get(1).map(String::as_str).unwrap_or("");
            let number = || {
                value.parse::<f64>().unwrap_or_else(|_| panic!("{} needs a number, not {value:?}", pair[0]))
            };
            match pair[0].as_str() {
                "--rounds" => o.rounds = number() as u32,
                "--calls" => o.calls = number() as u64,
                "--rate" => o.rate = number(),
                "--answer-ms" => o.answer_ms = number() as u64,
                "--hold-ms" => o.hold_ms = number() as u64,
                "--memory-calls" => o.memory_calls = number() as u64,
                "--max-rate" => o.max_rate = number() as u32,
                "--json" => o.json = value.into(),
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

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_default()
        .replace('"', "'")
}
