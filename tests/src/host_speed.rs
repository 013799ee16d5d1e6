//! How fast the machine runs, read beside a benchmark: a fixed piece of work, timed by
//! its own thread's CPU time, once a second.
//!
//! On a shared VM the same work costs a different CPU time from one minute to the next
//! (on the 2-core VM of performance.md, 300,000 SHA-256 rounds took from 112.8 to 240.3 ms
//! of process CPU time, idle), so a PBX's CPU per call moves with the machine, not only with
//! what it runs: one `bridge` measured against itself read 1.082×. The yardstick's cost
//! during each round says how fast the machine was then, and a round's CPU per call divided
//! by it is what the round cost at one speed. The work is CPU time on a thread of its own,
//! so the PBX's load takes the yardstick's core from it (wall time) without changing its
//! CPU time; what does change it is the physical core's speed: its frequency, and whatever
//! shares its caches and execution units.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the work runs: about 1 % of one core.
const EVERY: Duration = Duration::from_secs(1);

/// The yardstick running: its readings so far.
pub struct HostSpeed {
    readings: Arc<Mutex<Vec<(Instant, f64)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostSpeed {
    /// Starts reading, on a thread of its own, until dropped.
    pub fn start() -> HostSpeed {
        let readings = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (readings.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("host-speed".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if let Some(ms) = unit_cpu_ms() {
                        r.lock().unwrap_or_else(PoisonError::into_inner).push((Instant::now(), ms));
                    }
                    std::thread::sleep(EVERY);
                }
            })
            .expect("start the host-speed thread");
        HostSpeed { readings, stop, thread: Some(thread) }
    }

    /// The work's mean CPU time, in ms, over the readings taken between `from` and `to`;
    /// `None` if none was.
    pub fn mean_ms(&self, from: Instant, to: Instant) -> Option<f64> {
        let readings = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        let during: Vec<f64> = readings.iter().filter(|(t, _)| *t >= from && *t <= to).map(|r| r.1).collect();
        (!during.is_empty()).then(|| during.iter().sum::<f64>() / during.len() as f64)
    }

    /// Runs `step`, and returns with it the work's mean CPU time while it ran.
    pub fn during<T>(&self, step: impl FnOnce() -> T) -> (T, Option<f64>) {
        let from = Instant::now();
        let result = step();
        (result, self.mean_ms(from, Instant::now()))
    }
}

impl Drop for HostSpeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The calling thread's CPU time so far, in ns, from the scheduler's own account (not the
/// 10 ms ticks of `/proc/<pid>/stat`).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// The fixed piece of work, in ms of this thread's CPU time: about 10 ms on the 2-core VM,
/// integer arithmetic through a 64 KiB table (within the core's own caches, as a PBX's hot
/// paths mostly are).
fn unit_cpu_ms() -> Option<f64> {
    let before = thread_cpu_ns()?;
    let mut table = [0u64; 8192];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..800 {
        for slot in table.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *slot = slot.wrapping_add(x).rotate_left(5);
        }
        x = x.wrapping_add(table[(x % 8192) as usize]);
    }
    std::hint::black_box(&table);
    let after = thread_cpu_ns()?;
    Some(after.saturating_sub(before) as f64 / 1e6)
}

/// Each round's CPU per call at one machine speed: `cpu_ms_per_call` × (the run's median
/// yardstick reading ÷ the round's). A round with no reading keeps its figure as measured.
pub fn at_one_speed(rounds: &[(f64, Option<f64>)]) -> Vec<f64> {
    let mut readings: Vec<f64> = rounds.iter().filter_map(|r| r.1).collect();
    readings.sort_by(f64::total_cmp);
    let Some(&median) = readings.get(readings.len() / 2) else {
        return rounds.iter().map(|r| r.0).collect();
    };
    rounds.iter().map(|&(cpu, host)| host.map_or(cpu, |h| cpu * median / h)).collect()
}

#[cfg(test)]
mod tests {
    use super::{at_one_speed, unit_cpu_ms};

    #[test]
    fn a_round_on_a_slower_machine_is_scaled_down_to_the_runs_median_speed() {
        // Three rounds of the same work; the second ran while the machine was half as fast.
        let rounds = [(20.0, Some(10.0)), (40.0, Some(20.0)), (21.0, Some(10.5))];
        let scaled = at_one_speed(&rounds);
        assert_eq!(scaled, vec![21.0, 21.0, 21.0]);
    }

    #[test]
    fn rounds_without_readings_keep_their_figures() {
        assert_eq!(at_one_speed(&[(20.0, None), (30.0, None)]), vec![20.0, 30.0]);
        assert_eq!(at_one_speed(&[(20.0, Some(10.0)), (30.0, None)]), vec![20.0, 30.0]);
    }

    #[test]
    fn the_work_takes_cpu_time_on_this_thread() {
        let ms = unit_cpu_ms().expect("/proc/thread-self/schedstat");
        assert!(ms > 0.1 && ms < 1000.0, "{ms} ms");
    }
}
