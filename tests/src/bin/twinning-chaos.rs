//! The chaos run (`scripts/chaos [calls] [--seed N] [--rate R] [--limit L] [--reloads K]
//! [--pickups P] [--freeswitch]`):
//! thousands of twinned calls where every party answers, declines, never answers or hangs
//! up at random moments, handovers included, then checks the PBX is clean. See
//! tests/src/chaos.rs. Exits non-zero if a check failed. `--seed` repeats a run's plan.
//! `--freeswitch` runs it through the FreeSWITCH named by FREESWITCH_PREFIX instead of
//! Asterisk (without one it fails, it never passes).

use twinning_tests::chaos::{self, Options, PbxKind};

fn main() {
    let mut o = Options::new(2000, chaos::random_seed());
    let mut pickups = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> u64 {
            args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--seed" => o.seed = value("--seed"),
            "--rate" => o.rate = value("--rate") as u32,
            "--limit" => o.limit = value("--limit") as u32,
            "--reloads" => o.reloads = value("--reloads") as u32,
            "--pickups" => pickups = Some(value("--pickups")),
            "--freeswitch" => o.pbx = PbxKind::FreeSwitch,
            "-h" | "--help" => {
                println!(
                    "usage: twinning-chaos [calls] [--seed N] [--rate calls/s] [--limit calls] [--reloads N] \
                     [--pickups N] [--freeswitch]"
                );
                return;
            }
            n => o.calls = n.parse().unwrap_or_else(|_| panic!("unknown argument {n}; see --help")),
        }
    }
    o.pickups = pickups.unwrap_or(o.calls / 10);
    if o.pbx == PbxKind::FreeSwitch && std::env::var_os("FREESWITCH_PREFIX").is_none() {
        eprintln!(
            "chaos --freeswitch: no FreeSWITCH given: set FREESWITCH_PREFIX to a FreeSWITCH 1.10 install \
             (holding bin/freeswitch and lib/freeswitch/mod)"
        );
        std::process::exit(2);
    }
    let on = if o.pbx == PbxKind::FreeSwitch { " on FreeSWITCH" } else { "" };
    println!("chaos{on}: seed {} ({} calls); repeat this plan with --seed {}", o.seed, o.calls, o.seed);
    let report = chaos::run(&o);
    print!("{}", report.summary);
    if !report.failures.is_empty() {
        for f in &report.failures {
            println!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}
