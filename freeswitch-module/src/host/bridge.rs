//! The caller's bridge: `switch_ivr_multi_threaded_bridge` with a key filter on each side.
//!
//! FreeSWITCH hands every key of either side to the bridge's input callback; a side's
//! filter says whether a key goes on to the far end as it is, or is held (a code may be
//! starting) and which keys to send instead, in order. Keys held back are sent later
//! through the side's [`FarEnd`] (a lone `*` whose code can no longer complete).

use std::ffi::{c_uint, c_void};

use super::session::{LockedSession, Session};
use super::{ffi, guard};

/// What a side's filter does with a key.
pub enum Keys {
    /// Pass the key on unchanged.
    Pass,
    /// Hold it back, and send these keys to the far end instead (none while a code is
    /// being keyed; the held keys once they turn out to be no code).
    Send(String),
}

pub type KeyFilter = Box<dyn Fn(char, &FarEnd) -> Keys + Send + Sync>;

/// The far end of a side, for keys sent after the filter has returned (held keys let
/// through once their code timed out), from any thread: the session is found again by
/// uuid, read-locked, when they are sent, so a far end gone meanwhile gets nothing.
#[derive(Clone)]
pub struct FarEnd {
    uuid: String,
    /// The key the filter was given, whose duration and source the sent keys take.
    like: ffi::switch_dtmf_t,
}

impl FarEnd {
    /// Sends `keys` to the far end, in order; false if it is gone.
    pub fn send(&self, keys: &str) -> bool {
        let Some(locked) = LockedSession::locate(&self.uuid) else { return false };
        for k in keys.chars() {
            locked.session().send_dtmf(k, &self.like);
        }
        true
    }
}

struct Side {
    filter: Option<KeyFilter>,
    far: Session,
}

/// Bridges `caller` (the session running this thread) with `leg` until one side leaves
/// or the bridge is broken (the leg hung up for a swap, a transfer).
pub fn bridge(
    caller: Session,
    leg: &LockedSession,
    caller_keys: Option<KeyFilter>,
    leg_keys: Option<KeyFilter>,
) {
    let peer = leg.session();
    let caller_side = Box::new(Side { filter: caller_keys, far: peer });
    let leg_side = Box::new(Side { filter: leg_keys, far: caller });
    // SAFETY: the caller's session runs this application on this thread; the leg's
    // session is read-locked by `leg` for the whole bridge; the two sides' data outlive
    // the bridge, which returns before they are dropped.
    unsafe {
        ffi::switch_ivr_multi_threaded_bridge(
            caller.raw(),
            peer.raw(),
            Some(on_key),
            (&*caller_side as *const Side).cast_mut().cast(),
            (&*leg_side as *const Side).cast_mut().cast(),
        );
    }
}

/// The bridge's input callback (`switch_input_callback_function_t`): `buf` is the side.
unsafe extern "C" fn on_key(
    _session: *mut ffi::switch_core_session_t,
    input: *mut c_void,
    input_type: ffi::switch_input_type_t,
    buf: *mut c_void,
    _buflen: c_uint,
) -> ffi::switch_status_t {
    guard::catch("bridge DTMF", ffi::SWITCH_STATUS_SUCCESS, || {
        if input_type != ffi::SWITCH_INPUT_TYPE_DTMF || input.is_null() || buf.is_null() {
            return ffi::SWITCH_STATUS_SUCCESS;
        }
        // SAFETY: the bridge passes the key and the side data given to it, which `bridge`
        // keeps alive until the bridge has returned.
        let (dtmf, side) = unsafe { (*(input as *const ffi::switch_dtmf_t), &*(buf as *const Side)) };
        let Some(filter) = &side.filter else { return ffi::SWITCH_STATUS_SUCCESS };
        let far = FarEnd { uuid: side.far.uuid(), like: dtmf };
        match filter(dtmf.digit as u8 as char, &far) {
            Keys::Pass => ffi::SWITCH_STATUS_SUCCESS,
            Keys::Send(keys) => {
                for k in keys.chars() {
                    side.far.send_dtmf(k, &dtmf);
                }
                ffi::SWITCH_STATUS_IGNORE
            }
        }
    })
}
