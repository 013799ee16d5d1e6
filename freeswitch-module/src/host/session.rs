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

    pub(super) fn raw(self) -> *mut ffi::switch_core_session_t {
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

    /// Sets a field of the channel's caller profile (`caller_id_number`, ...), as the
    /// `set_profile_var` application does: what `${caller_id_number}` reads afterwards.
    pub fn set_profile_var(self, name: &str, value: &str) -> bool {
        let (name, value) = (cstr::owned(name), cstr::owned(value));
        // SAFETY: valid channel; FreeSWITCH copies both strings into the profile's pool.
        let status =
            unsafe { ffi::switch_channel_set_profile_var(self.channel(), name.as_ptr(), value.as_ptr()) };
        status == ffi::SWITCH_STATUS_SUCCESS
    }

    /// Not hung up (nor hanging up).
    pub fn is_ready(self) -> bool {
        // SAFETY: valid channel.
        unsafe { ffi::switch_channel_test_ready(self.channel(), ffi::SWITCH_TRUE, ffi::SWITCH_FALSE) != 0 }
    }

    /// Not hung up. Unlike [`Session::is_ready`], true while the channel changes state (a
    /// bridge ending, a park starting): a leg moved between bridges is still there.
    pub fn is_up(self) -> bool {
        self.state() < ffi::CS_HANGUP
    }

    /// Takes the channel out of the bridge it is in, without hanging it up: its own thread
    /// parks it (and reads its media) until it is bridged again. The bridge's other side
    /// ends too. Only for a leg whose session thread runs the bridge's far side (a leg
    /// this module originated), never the caller running `twinning`.
    pub fn park(self) {
        // SAFETY: valid channel; the state change is taken up by the session's own thread.
        unsafe {
            ffi::switch_channel_perform_set_state(
                self.channel(),
                FILE.as_ptr(),
                FUNC.as_ptr(),
                line!() as i32,
                ffi::CS_PARK,
            );
        }
    }

    /// Parked, and the park running (its thread takes up what is queued for it). Not
    /// `is_ready`, which sees a state change pending only on the session's own thread.
    pub fn is_parked(self) -> bool {
        // SAFETY: valid channel.
        let running = unsafe { ffi::switch_channel_get_running_state(self.channel()) };
        self.state() == ffi::CS_PARK && running == ffi::CS_PARK
    }

    /// Whether a broadcast (music, a conference) is playing to the channel now.
    pub fn is_broadcasting(self) -> bool {
        // SAFETY: valid channel.
        unsafe { ffi::switch_channel_test_flag(self.channel(), ffi::CF_BROADCAST) != 0 }
    }

    /// Whether something (a broadcast) is queued for the session's own thread to run.
    pub fn has_queued_work(self) -> bool {
        // SAFETY: valid session; the count is read under the session's own lock.
        unsafe { ffi::switch_core_session_private_event_count(self.0) > 0 }
    }

    /// Drops what is queued for the session's own thread to run (a broadcast not started
    /// yet); returns how many there were.
    pub fn drop_queued_work(self) -> u32 {
        // SAFETY: valid session; the queues are FreeSWITCH's own, popped under their lock.
        unsafe { ffi::switch_core_session_flush_private_events(self.0) }
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

    /// Replaces what the channel hears with `file` (looping), or with `read` what is heard
    /// from it, without touching its bridge: a media bug, as `displace_session` adds it.
    /// One per file.
    pub fn displace(self, file: &str, read: bool) -> bool {
        let file = cstr::owned(file);
        let flags = if read { c"rl" } else { c"l" };
        // SAFETY: valid session; the media bug is added under the session's own bug lock,
        // from any thread; the strings are copied.
        let status = unsafe { ffi::switch_ivr_displace_session(self.0, file.as_ptr(), 0, flags.as_ptr()) };
        status == ffi::SWITCH_STATUS_SUCCESS
    }

    /// Removes the displacement of `file` added by [`Session::displace`], if any.
    pub fn stop_displace(self, file: &str) {
        let file = cstr::owned(file);
        // SAFETY: valid session; the bug is looked up by name under the session's locks.
        unsafe {
            ffi::switch_ivr_stop_displace_session(self.0, file.as_ptr());
        }
    }

    /// Has the session's own thread run application `app` with `arg` when it next looks at
    /// what is queued for it (a parked leg, the caller's thread waiting): a broadcast of
    /// `app::arg`.
    pub fn run_app(self, app: &str, arg: &str) -> bool {
        let (uuid, path) = (cstr::owned(&self.uuid()), cstr::owned(&format!("{app}::{arg}")));
        // SAFETY: broadcast finds the session by uuid itself and copies both strings.
        let status = unsafe { ffi::switch_ivr_broadcast(uuid.as_ptr(), path.as_ptr(), ffi::SMF_ECHO_ALEG) };
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

    pub(super) fn channel_ptr(self) -> *mut ffi::switch_channel_t {
        self.channel()
    }

    /// Keeps the session's media flowing for `ms` (on its own thread).
    pub fn sleep(self, ms: u32) {
        // SAFETY: the session runs the calling application on this thread.
        unsafe {
            ffi::switch_ivr_sleep(self.0, ms, ffi::SWITCH_TRUE, std::ptr::null_mut());
        }
    }

    /// Plays `file` (a sound path or any FreeSWITCH file string, e.g. `tone_stream://`) to
    /// the end, on the session's own thread; a file that cannot be played is logged by
    /// FreeSWITCH and skipped.
    pub fn play(self, file: &str) {
        let file = cstr::owned(file);
        // SAFETY: the session's own thread drives its media; the path is copied.
        unsafe {
            ffi::switch_ivr_play_file(self.0, std::ptr::null_mut(), file.as_ptr(), std::ptr::null_mut());
        }
    }

    /// Plays `prompt` and reads between `min` and `max` keys, ended by one of
    /// `terminators`, `timeout_ms` at most (on the session's own thread). The keys read (a
    /// terminator is not kept), and whether the read itself worked (a prompt that cannot
    /// be played makes it give up at once).
    pub fn read(
        self,
        prompt: &str,
        min: u32,
        max: u32,
        timeout_ms: u64,
        terminators: &str,
    ) -> (ReadStatus, String) {
        let (prompt, terminators) = (cstr::owned(prompt), cstr::owned(terminators));
        let mut buf = vec![0 as std::ffi::c_char; max as usize + 2];
        // SAFETY: the session's own thread drives its media; `buf` has room for `max`
        // keys, the terminator and the NUL.
        let status = unsafe {
            ffi::switch_ivr_read(
                self.0,
                min,
                max,
                prompt.as_ptr(),
                std::ptr::null(),
                buf.as_mut_ptr(),
                buf.len(),
                timeout_ms.min(u32::MAX as u64) as u32,
                terminators.as_ptr(),
                0,
            )
        };
        // SAFETY: switch_ivr_read leaves a NUL-terminated string in `buf`.
        let keys = unsafe { cstr::borrow(buf.as_ptr()) };
        let keys = keys.trim_end_matches(|c| terminators.to_bytes().contains(&(c as u8))).to_owned();
        let status = match status {
            ffi::SWITCH_STATUS_SUCCESS => ReadStatus::Read,
            ffi::SWITCH_STATUS_TIMEOUT => ReadStatus::Timeout,
            _ => ReadStatus::Failed,
        };
        (status, keys)
    }

    /// Sends a key to this session's far end (it is in a bridge).
    pub fn send_dtmf(self, key: char, like: &ffi::switch_dtmf_t) {
        let out = ffi::switch_dtmf_t { digit: key as u8 as std::ffi::c_char, ..*like };
        // SAFETY: the session is in a bridge, read-locked by it, while keys flow.
        unsafe {
            ffi::switch_core_session_send_dtmf(self.0, &out);
        }
    }

    /// Sends the session through the XML dialplan to `exten` in `context`, ending its
    /// bridge.
    pub fn transfer(self, exten: &str, context: &str) -> bool {
        let (exten, context) = (cstr::owned(exten), cstr::owned(context));
        // SAFETY: valid session; the strings are copied.
        let status = unsafe {
            ffi::switch_ivr_session_transfer(self.0, exten.as_ptr(), c"XML".as_ptr(), context.as_ptr())
        };
        status == ffi::SWITCH_STATUS_SUCCESS
    }
}

/// How [`Session::read`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    Read,
    Timeout,
    Failed,
}

/// Places a call to `dial` (one endpoint) with the given caller id and channel variables,
/// and returns the new session once it rings or answers (`return_ring_ready` among
/// `vars`); a non-zero `cancel` stops the attempt. On failure, the hangup cause.
pub fn originate(
    dial: &str,
    cid_name: &str,
    cid_number: &str,
    vars: &[(&str, &str)],
    cancel: &std::sync::atomic::AtomicU32,
) -> Result<LockedSession, ffi::switch_call_cause_t> {
    let dial = cstr::owned(dial);
    let (cid_name, cid_number) = (cstr::owned(cid_name), cstr::owned(cid_number));
    let ovars = super::events::OwnedEvent::variables(vars);
    let mut bleg: *mut ffi::switch_core_session_t = std::ptr::null_mut();
    let mut cause: ffi::switch_call_cause_t = ffi::SWITCH_CAUSE_NONE;
    // SAFETY: every string outlives the call; `cancel` is an AtomicU32 (same layout as
    // the u32 cause) that outlives the call, which originate polls while ringing; on
    // success `bleg` is returned read-locked and adopted below.
    let status = unsafe {
        ffi::switch_ivr_originate(
            std::ptr::null_mut(),
            &mut bleg,
            &mut cause,
            dial.as_ptr(),
            600,
            std::ptr::null(),
            cid_name.as_ptr(),
            cid_number.as_ptr(),
            std::ptr::null_mut(),
            ovars.raw(),
            ffi::SOF_NONE,
            cancel.as_ptr(),
            std::ptr::null_mut(),
        )
    };
    drop(ovars);
    if status != ffi::SWITCH_STATUS_SUCCESS || bleg.is_null() {
        return Err(cause);
    }
    // SAFETY: originate returned the session with one read lock, which we now own.
    unsafe { LockedSession::adopt(bleg) }.ok_or(cause)
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
