//! A one-shot answer from the store's thread to a thread that waits a bounded time.
//! Mutex and condition variable only: the waiting thread may be the PBX's own, which must
//! not be left holding thread-local state of the module (a channel's waker would be).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct Reply<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

struct Slot<T> {
    answer: Option<T>,
    /// The waiter gave up: an answer now is nobody's.
    abandoned: bool,
}

impl<T> Reply<T> {
    pub fn new() -> Arc<Reply<T>> {
        Arc::new(Reply { slot: Mutex::new(Slot { answer: None, abandoned: false }), ready: Condvar::new() })
    }

    /// The answer, or `None` after `timeout` (the reply is then abandoned).
    pub fn wait(&self, timeout: Duration) -> Option<T> {
        let until = Instant::now() + timeout;
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(a) = slot.answer.take() {
                return Some(a);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                slot.abandoned = true;
                return None;
            }
            slot = self.ready.wait_timeout(slot, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Whether the waiter has given up already (the work need not be done).
    pub fn is_abandoned(&self) -> bool {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner).abandoned
    }

    /// Answers; false if the waiter had given up.
    pub fn send(&self, answer: T) -> bool {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.abandoned {
            return false;
        }
        slot.answer = Some(answer);
        self.ready.notify_all();
        true
    }
}
