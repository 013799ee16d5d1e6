//! Events per second through the twinned-call engine for a typical call, and heap
//! allocations per call (counted by a wrapping allocator, printed once).
//!
//! Run: `cargo bench -p twinning-core --bench engine`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use twinning_core::call::*;
use twinning_core::{Config, RawConfig, Settings};

struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn setup() -> CallSetup {
    let conf = "[general]\nmobile_dial=PJSIP/{number}@mobile-trunk\n[1001]\ndesk=PJSIP/1001\nmobile=07700900123\nenabled=yes\n";
    let s = Settings::new(Config::from_raw(&RawConfig::parse_conf(conf).unwrap()).unwrap());
    CallSetup {
        user: twinning_core::UserId::parse("1001").unwrap(),
        settings: s.user("1001").unwrap().clone(),
        mobile_dial: s.general().mobile_dial.clone(),
        policy: s.general().policy.clone(),
        caller: CallerId { number: "442071234567".into(), name: "Alice".into(), withheld: false },
        dialed: None,
        options: CallOptions::default(),
        local_time: LocalTime { weekday: 0, minute_of_day: 600 },
        call_control: s.general().call_control.clone(),
    }
}

/// One typical call: both legs ring, the desk answers, the caller hangs up later.
/// Returns how many inputs (events and timeouts) the engine handled.
fn typical_call(setup: &CallSetup, cap: &mut ConcurrencyCap, t0: Instant) -> u64 {
    let mut call = TwinnedCall::start(setup.clone(), cap, t0);
    let events = [
        (5, Event::LegRinging(LegId(0))),
        (7, Event::LegRinging(LegId(1))),
        (3000, Event::LegAnswered(LegId(0))),
        (60_000, Event::CallerHungUp),
    ];
    let mut handled = 0;
    for (ms, e) in events {
        call.handle_event(e, t0 + Duration::from_millis(ms));
        handled += 1;
        while let Some(c) = call.poll_command() {
            if c == Command::ReleaseMobileSlot {
                cap.release();
            }
            black_box(c);
        }
    }
    handled
}

fn engine(c: &mut Criterion) {
    let setup = setup();
    let mut cap = ConcurrencyCap::new(1000);
    let t0 = Instant::now();

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let calls = 1000;
    for _ in 0..calls {
        typical_call(&setup, &mut cap, t0);
    }
    let per_call = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / calls as f64;
    println!("allocations per typical call (including the setup clone): {per_call:.1}");

    let mut group = c.benchmark_group("twinned_call");
    group.throughput(Throughput::Elements(4));
    // A whole call as a host drives it: build the setup, start, four events.
    group.bench_function("typical_call_4_events", |b| {
        b.iter(|| typical_call(black_box(&setup), &mut cap, t0))
    });
    // The events alone, on calls started outside the measurement.
    group.bench_function("events_only_4_events", |b| {
        b.iter_batched(
            || {
                let mut cap = ConcurrencyCap::new(10);
                let mut call = TwinnedCall::start(setup.clone(), &mut cap, t0);
                while call.poll_command().is_some() {}
                (call, cap)
            },
            |(mut call, mut cap)| {
                for (ms, e) in [
                    (5, Event::LegRinging(LegId(0))),
                    (7, Event::LegRinging(LegId(1))),
                    (3000, Event::LegAnswered(LegId(0))),
                    (60_000, Event::CallerHungUp),
                ] {
                    call.handle_event(e, t0 + Duration::from_millis(ms));
                    while let Some(c) = call.poll_command() {
                        if c == Command::ReleaseMobileSlot {
                            cap.release();
                        }
                        black_box(c);
                    }
                }
                call
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
