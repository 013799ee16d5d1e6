//! Which call each channel of ours belongs to, so that a channel answering or hanging up
//! (see `host::channel_events`) wakes the threads waiting on that call at once: a ringing
//! leg's thread and the caller's thread sleep until something happens, the engine's next
//! timer is due, or a command comes, rather than looking at their channels every 20 ms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::pbx::TwinnedCall;

static WATCHED: Mutex<Option<HashMap<String, Weak<TwinnedCall>>>> = Mutex::new(None);

/// A channel watched for `call` until this is dropped.
pub struct Watch {
    uuid: String,
}

/// Wakes `call`'s waiting threads whenever the channel `uuid` answers or hangs up.
pub fn watch(uuid: String, call: &Arc<TwinnedCall>) -> Watch {
    let mut watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
    watched.get_or_insert_with(HashMap::new).insert(uuid.clone(), Arc::downgrade(call));
    Watch { uuid }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(map) = watched.as_mut() {
            map.remove(&self.uuid);
        }
    }
}

/// A channel answered or hung up (FreeSWITCH's event dispatch thread).
pub fn channel_moved(uuid: &str) {
    let call = {
        let watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
        watched.as_ref().and_then(|m| m.get(uuid)).and_then(Weak::upgrade)
    };
    if let Some(call) = call {
        call.changed();
    }
}
