//! The threads a module starts (legs rung on threads of their own), started so that the
//! module's code can really go when the PBX unloads it, and accounted for so that it does
//! not go while they run.
//!
//! Starting a thread registers a thread-local destructor of the starting library on the
//! starting thread, and glibc keeps a library mapped while any thread holding one lives
//! (`dlclose` then unmaps nothing, and loading the upgraded file gives back the old code).
//! A PBX's own threads live on (FreeSWITCH pools its session threads; an AMI connection's
//! thread lives as long as the connection), so threads are never started from them: the
//! module's own spawner thread starts every one, and it is joined when the module stops,
//! like every thread it started. The spawner itself is started with the host's native
//! thread API ([`StartNative`]), which leaves nothing of the module's behind on the thread
//! that asked.
//!
//! A thread whose body is done waits a while for the next ([`LINGER`]): calls come in
//! bursts, and a leg taken up by a waiting thread costs a wake-up instead of a thread's
//! start and exit (its stack mapped, faulted in and unmapped again).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub type Body = Box<dyn FnOnce() + Send>;

/// A thread started with the host's own API; `join` waits for it to have exited.
pub struct NativeThread {
    join: Box<dyn FnOnce() + Send>,
}

impl NativeThread {
    pub fn new(join: impl FnOnce() + Send + 'static) -> NativeThread {
        NativeThread { join: Box::new(join) }
    }

    fn join(self) {
        (self.join)()
    }
}

/// Starts `body` on a new thread with the host's native API (pthreads, the PBX's wrapper).
pub type StartNative = fn(Body) -> Result<NativeThread, String>;

/// A thread asked for: its name, its body, and what to do if it cannot be started.
type Request = (String, Body, Body);

/// How long a thread of the module waits for another body once its own is done.
pub const LINGER: Duration = Duration::from_secs(30);

/// What the threads of the module are called: each runs one body after another.
const THREAD_NAME: &str = "twinning";

#[derive(Default)]
struct Queue {
    requests: VecDeque<Request>,
    stop: bool,
    /// Threads waiting for a body.
    idle: usize,
    /// Threads the spawner is to start: more bodies are queued than threads wait.
    to_start: usize,
}

pub struct ModuleThreads {
    queue: Mutex<Queue>,
    /// Wakes the spawner: a thread to start, or the stop.
    requested: Condvar,
    /// Wakes a waiting thread: a body queued, or the stop.
    work: Condvar,
    spawner: Mutex<Option<NativeThread>>,
    start_native: StartNative,
    running: Mutex<Vec<JoinHandle<()>>>,
    /// Host callbacks (applications, API calls) running module code now.
    inside: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Held while a host callback runs module code (see [`ModuleThreads::enter`]).
pub struct Inside<'a>(&'a ModuleThreads);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ModuleThreads {
    pub const fn new(start_native: StartNative) -> ModuleThreads {
        ModuleThreads {
            queue: Mutex::new(Queue { requests: VecDeque::new(), stop: false, idle: 0, to_start: 0 }),
            requested: Condvar::new(),
            work: Condvar::new(),
            spawner: Mutex::new(None),
            start_native,
            running: Mutex::new(Vec::new()),
            inside: AtomicUsize::new(0),
        }
    }

    /// Counts a host callback in until the returned value drops.
    pub fn enter(&self) -> Inside<'_> {
        self.inside.fetch_add(1, Ordering::SeqCst);
        Inside(self)
    }

    /// Runs `body` on a thread of the module's: one waiting for work, or a new one the
    /// spawner starts; if none can be started, `on_failure` runs instead.
    pub fn spawn(
        &'static self,
        name: String,
        body: impl FnOnce() + Send + 'static,
        on_failure: impl FnOnce() + Send + 'static,
    ) {
        let mut spawner = lock(&self.spawner);
        if spawner.is_none() {
            lock(&self.queue).stop = false;
            match (self.start_native)(Box::new(move || self.serve())) {
                Ok(handle) => *spawner = Some(handle),
                Err(e) => {
                    drop(spawner);
                    log::error!("twinning: could not start the spawner thread: {e}");
                    return on_failure();
                }
            }
        }
        drop(spawner);
        let mut queue = lock(&self.queue);
        queue.requests.push_back((name, Box::new(body), Box::new(on_failure)));
        if queue.requests.len() > queue.idle {
            queue.to_start += 1;
            drop(queue);
            self.requested.notify_one();
        } else {
            drop(queue);
            self.work.notify_one();
        }
    }

    /// The spawner: starts the threads asked for until the stop.
    fn serve(&'static self) {
        loop {
            {
                let mut queue = lock(&self.queue);
                loop {
                    if queue.to_start > 0 {
                        queue.to_start -= 1;
                        break;
                    }
                    if queue.stop {
                        return;
                    }
                    queue = self.requested.wait(queue).unwrap_or_else(PoisonError::into_inner);
                }
            }
            match std::thread::Builder::new().name(THREAD_NAME.into()).spawn(move || self.work()) {
                Ok(handle) => {
                    let mut running = lock(&self.running);
                    // Those that are done are reaped as new ones start: the list stays short.
                    running.retain(|t| !t.is_finished());
                    running.push(handle);
                }
                Err(e) => {
                    let request = lock(&self.queue).requests.pop_front();
                    if let Some((name, _, on_failure)) = request {
                        log::error!("twinning: could not start a thread for {name}: {e}");
                        on_failure();
                    }
                }
            }
        }
    }

    /// A thread of the module: runs the bodies queued, one after another, until none has
    /// come for [`LINGER`] or the module stops.
    fn work(&self) {
        loop {
            let request = {
                let mut queue = lock(&self.queue);
                loop {
                    if let Some(r) = queue.requests.pop_front() {
                        break Some(r);
                    }
                    if queue.stop {
                        break None;
                    }
                    queue.idle += 1;
                    let (q, waited) =
                        self.work.wait_timeout(queue, LINGER).unwrap_or_else(PoisonError::into_inner);
                    queue = q;
                    queue.idle -= 1;
                    if waited.timed_out() && queue.requests.is_empty() {
                        break None;
                    }
                }
            };
            let Some((_, body, _)) = request else { return };
            body();
        }
    }

    /// Waits until no host callback runs module code but `allowed` of them, the spawner
    /// has stopped and every thread it started has been joined, for `timeout` at most.
    /// True when the module's code may be unmapped.
    pub fn wait_until_idle(&self, allowed: usize, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            let callbacks = self.inside.load(Ordering::SeqCst).saturating_sub(allowed);
            // Once no callback runs, nothing can ask for a new thread.
            if callbacks == 0 && lock(&self.queue).requests.is_empty() {
                lock(&self.queue).stop = true;
                self.requested.notify_all();
                self.work.notify_all();
                if let Some(spawner) = lock(&self.spawner).take() {
                    spawner.join();
                }
            }
            let done: Vec<JoinHandle<()>> = {
                let mut running = lock(&self.running);
                let (done, still): (Vec<_>, Vec<_>) = running.drain(..).partition(|t| t.is_finished());
                *running = still;
                done
            };
            for t in done {
                let _ = t.join();
            }
            let threads = lock(&self.running).len() + usize::from(lock(&self.spawner).is_some());
            if threads == 0 && callbacks == 0 {
                // The buffers go too: statics of an unmapped module are never freed.
                lock(&self.queue).requests = VecDeque::new();
                *lock(&self.running) = Vec::new();
                return true;
            }
            if Instant::now() > until {
                log::warn!("twinning: {threads} thread(s) and {callbacks} callback(s) still running");
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// The host's native start, as a test stands in for it: a std thread.
    fn start(body: Body) -> Result<NativeThread, String> {
        let handle = std::thread::spawn(body);
        Ok(NativeThread::new(move || drop(handle.join())))
    }

    #[test]
    fn every_thread_is_joined_before_idle_and_none_starts_on_the_callers_thread() {
        static THREADS: ModuleThreads = ModuleThreads::new(start);
        static RAN: AtomicUsize = AtomicUsize::new(0);
        static FAILED: AtomicBool = AtomicBool::new(false);
        let caller = std::thread::current().id();
        for i in 0..20 {
            THREADS.spawn(
                format!("t{i}"),
                move || {
                    assert_ne!(std::thread::current().id(), caller);
                    std::thread::sleep(Duration::from_millis(20));
                    RAN.fetch_add(1, Ordering::SeqCst);
                },
                || FAILED.store(true, Ordering::SeqCst),
            );
        }
        let busy = THREADS.enter();
        assert!(!THREADS.wait_until_idle(0, Duration::from_millis(50)), "a callback is still running");
        drop(busy);
        assert!(
            THREADS.wait_until_idle(0, Duration::from_secs(10)),
            "threads waiting for work go at the stop"
        );
        assert_eq!(RAN.load(Ordering::SeqCst), 20, "idle only once every thread has run to its end");
        assert!(!FAILED.load(Ordering::SeqCst));
        // Usable again after a stop (a module loaded again).
        THREADS.spawn("again".into(), || {}, || {});
        assert!(THREADS.wait_until_idle(0, Duration::from_secs(10)));
    }

    #[test]
    fn a_thread_done_with_its_body_takes_the_next() {
        static THREADS: ModuleThreads = ModuleThreads::new(start);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut first = None;
        for i in 0..3 {
            let tx = tx.clone();
            THREADS.spawn(format!("t{i}"), move || tx.send(std::thread::current().id()).unwrap(), || {});
            let ran_on = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            // Sent at the very end of the body: give the thread time to wait again.
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(*first.get_or_insert(ran_on), ran_on, "body {i} ran on the thread waiting for work");
        }
        assert!(THREADS.wait_until_idle(0, Duration::from_secs(10)), "the waiting thread goes at the stop");
    }
}
