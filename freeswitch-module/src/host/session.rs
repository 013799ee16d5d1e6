//! Sessions and their channels, as the module uses them.

use std::ffi::CStr;

use super::{cstr, ffi};

const FILE: &CStr = c"mod_twinning.rs";
const FUNC: &CStr = c"twinning";

/// A FreeSWITCH session the module may act on. Validity is the holder's business: the
/// session running an application is valid for the application's run; a session from
/// `switch_ivr_originate` or a locate is valid while its read lock is held
/// ([`LockedSession`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Session(*mut ffi::switch_core_session_t);

// SAFETY: FreeSWITCH sessions are shared between threads by design (the channel's state
// and variables are behind its own mutexes); the functions used here are thread-safe.
unsafe impl Send for Session {}
unsafe impl Sync for Session {}

impl Session {
    /// # Safety
    /// `p` is NULL or a session that stays valid as long as the result is used.
    pub unsafe fn from_raw(p: *mut ffi::switch_core_session_t) -> Option<Session> {
        (!p.is_null()).then_some(Session(p))
    }

    pub fn raw(self) -> *mut ffi::switch_core_session_t {
        self.0
    }

    fn channel(self) -> *mut ffi::switch_channel_t {
        // SAFETY: a valid session always has its channel.
        unsafe { ffi::switch_core_session_get_channel(self.0) }
    }

    pub fn uuid(self) -> String {
        // SAFETY: the uuid is stored in the session for its whole life.
        unsafe { cstr::borrow(ffi::switch_core_session_get_uuid(self.0)) }.into_owned()
    }

    pub fn name(self) -> String {
        // SAFETY: the channel name lives as long as the channel.
        unsafe { cstr::borrow(ffi::switch_channel_get_name(self.channel())) }.into_owned()
    }

    /// A channel variable (or caller-profile field such as `caller_id_number`), copied.
    pub fn variable(self, name: &str) -> Option<String> {
        let name = cstr::owned(name);
        // SAFETY: without `dup` the value points into the channel's variables; it is copied
        // before anything else can run on this thread.
        unsafe {
            let v =
                ffi::switch_channel_get_variable_dup(self.channel(), name.as_ptr(), ffi::SWITCH_FALSE, -1);
            (!v.is_null()).then(|| cstr::borrow(v).into_owned())
        }
    }

    /// Sets a channel variable. FreeSWITCH's variable check refuses values that would
    /// expand (`${...}`), so text that came from outside can never run as a variable.
    pub fn set_variable(self, name: &str, value: &str) {
        let (name, value) = (cstr::owned(name), cstr::owned(value));
        // SAFETY: valid channel; both strings are copied by FreeSWITCH.
        unsafe {
            ffi::switch_channel_set_variable_var_check(
                self.channel(),
                name.as_ptr(),
                value.as_ptr(),
                ffi::SWITCH_TRUE,
            );
        }
    }

    /// Not hung up (nor hanging up).
    pub fn is_ready(self) -> bool {
        // SAFETY: valid channel.
        unsafe { ffi::switch_channel_test_ready(self.channel(), ffi::SWITCH_TRUE, ffi::SWITCH_FALSE) != 0 }
    }

    pub fn is_answered(self) -> bool {
        // SAFETY: valid channel.
        unsafe { ffi::switch_channel_test_flag(self.channel(), ffi::CF_ANSWERED) != 0 }
    }

    pub fn state(self) -> ffi::switch_channel_state_t {
        // SAFETY: valid channel.
        unsafe { ffi::switch_channel_get_state(self.channel()) }
    }

    pub fn cause(self) -> ffi::switch_call_cause_t {
        // SAFETY: valid channel.
        unsafe { ffi::switch_channel_get_cause(self.channel()) }
    }

    pub fn answer(self) {
        // SAFETY: valid channel; answering is queued to the session's own thread.
        unsafe {
            ffi::switch_channel_perform_answer(self.channel(), FILE.as_ptr(), FUNC.as_ptr(), line!() as i32);
        }
    }

    /// Ringback for the caller (180).
    pub fn ring_ready(self) {
        // SAFETY: valid channel.
        unsafe {
            ffi::switch_channel_perform_ring_ready_value(
                self.channel(),
                ffi::SWITCH_RING_READY_RINGING,
                FILE.as_ptr(),
                FUNC.as_ptr(),
                line!() as i32,
            );
        }
    }

    /// Hangs the channel up; thread-safe, the session's own thread does the signalling.
    pub fn hangup(self, cause: ffi::switch_call_cause_t) {
        // SAFETY: valid channel.
        unsafe {
            ffi::switch_channel_perform_hangup(
                self.channel(),
                FILE.as_ptr(),
                FUNC.as_ptr(),
                line!() as i32,
                cause,
            );
        }
    }

    /// The channel's hold music (`hold_music`, else FreeSWITCH's default), if any.
    pub fn hold_music(self) -> Option<String> {
        // SAFETY: valid channel; the value is copied at once.
        unsafe {
            let p = ffi::switch_channel_get_hold_music(self.channel());
            (!p.is_null()).then(|| cstr::borrow(p).into_owned()).filter(|m| !m.is_empty())
        }
    }

    /// Plays `path` to this channel, looping, even while it is bridged (its far end then
    /// hears nothing from it): hold, with no signalling to either phone.
    pub fn broadcast_loop(self, path: &str) -> bool {
        let (uuid, path) = (cstr::owned(&self.uuid()), cstr::owned(path));
        // SAFETY: broadcast finds the session by uuid itself and copies both strings.
        let status = unsafe {
            ffi::switch_ivr_broadcast(uuid.as_ptr(), path.as_ptr(), ffi::SMF_ECHO_ALEG | ffi::SMF_LOOP)
        };
        status == ffi::SWITCH_STATUS_SUCCESS
    }

    /// Stops a broadcast (what `switch_channel_stop_broadcast` does).
    pub fn stop_broadcast(self) {
        // SAFETY: valid channel; setting flags is thread-safe.
        unsafe {
            if ffi::switch_channel_test_flag(self.channel(), ffi::CF_BROADCAST) != 0 {
                ffi::switch_channel_set_flag_value(self.channel(), ffi::CF_BREAK, 1);
                ffi::switch_channel_set_flag_value(self.channel(), ffi::CF_STOP_BROADCAST, 1);
            }
        }
    }

    pub fn channel_ptr(self) -> *mut ffi::switch_channel_t {
        self.channel()
    }
}

/// A session this module holds a read lock on (from `switch_ivr_originate`, which returns
/// the new leg locked); the lock is released when this is dropped, so the session cannot
/// be destroyed while in use.
pub struct LockedSession(Session);

impl LockedSession {
    /// # Safety
    /// `p` is a session on which the caller holds one read lock, handed over to this value.
    pub unsafe fn adopt(p: *mut ffi::switch_core_session_t) -> Option<LockedSession> {
        // SAFETY: per the contract.
        unsafe { Session::from_raw(p) }.map(LockedSession)
    }

    /// Finds a session by uuid, read-locked; `None` once it is gone. This is how threads
    /// other than a session's owner act on it: a bare pointer could outlive the session.
    pub fn locate(uuid: &str) -> Option<LockedSession> {
        let uuid = cstr::owned(uuid);
        // SAFETY: locate looks the uuid up under the session table's lock and returns the
        // session read-locked (the lock we adopt), or NULL.
        unsafe {
            let p = ffi::switch_core_session_perform_locate(uuid.as_ptr(), FILE.as_ptr(), FUNC.as_ptr(), 0);
            Self::adopt(p)
        }
    }

    pub fn session(&self) -> Session {
        self.0
    }
}

impl Drop for LockedSession {
    fn drop(&mut self) {
        // SAFETY: this value owns one read lock on the session.
        unsafe { ffi::switch_core_session_rwunlock(self.0 .0) }
    }
}
