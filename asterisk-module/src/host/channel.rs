//! Asterisk channels as safe values.
//!
//! [`Channel`] is a counted reference (`ast_channel_ref`): its memory stays valid while any
//! clone is held, whatever another thread does to the call, so it can be kept across
//! threads. Operations that read media or block (`read`, `answer`, prompts) belong to the
//! thread servicing the channel, as everywhere in Asterisk: the application's thread for
//! the channel it runs on, the dialing thread for a leg it placed (a [`Leg`]).
//!
//! [`Leg`] is a channel this module requested and owns: dropping it hangs it up, so no leg
//! can outlive its call; handing it to a bridge (see `bridge`) gives it away.

use std::ffi::{c_char, c_int, CStr};
use std::ptr::NonNull;
use std::time::Duration;

use asterisk_sys as sys;
use twinning_core::call::LegFailure;

use super::cstr;

pub struct Channel(NonNull<sys::ast_channel>);

// SAFETY: a counted reference may be used and released from any thread; the channel API
// used through it locks the channel itself, and media operations are documented as the
// servicing thread's (module docs).
unsafe impl Send for Channel {}
unsafe impl Sync for Channel {}

pub(super) fn ao2_ref(obj: *mut std::ffi::c_void, delta: c_int) {
    // SAFETY: `obj` is a live ao2 object (channel or bridge) on which we hold or are taking
    // a reference; __ao2_ref is the function behind the ao2_ref() macro.
    unsafe {
        sys::__ao2_ref(obj, delta, c"twinning".as_ptr(), c"twinning".as_ptr(), 0, c"twinning".as_ptr());
    }
}

/// What reading a leg gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Ringing,
    /// Progress or proceeding: early media, not an answer.
    Progress,
    Answer,
    Busy,
    Congestion,
    Hangup,
    /// A key released (DTMF end).
    Dtmf(char),
    /// Anything else (voice, other control frames).
    Other,
    /// The channel is gone: how it failed, from its hangup cause; `None` for a plain
    /// hang-up.
    Gone(Option<LegFailure>),
}

/// How `wait_any` ended.
pub enum Ready {
    /// This one of the channels has a frame to read.
    Channel(usize),
    Timeout,
    /// Woken early with nothing to read (e.g. a soft hang-up).
    Interrupted,
}

impl Channel {
    /// Takes a reference to a channel Asterisk passed in.
    ///
    /// # Safety
    /// `chan` is NULL or a live channel.
    pub unsafe fn from_raw(chan: *mut sys::ast_channel) -> Option<Channel> {
        let chan = NonNull::new(chan)?;
        ao2_ref(chan.as_ptr().cast(), 1);
        Some(Channel(chan))
    }

    pub(super) fn raw(&self) -> *mut sys::ast_channel {
        self.0.as_ptr()
    }

    pub fn name(&self) -> String {
        // SAFETY: live channel (we hold a reference); the string belongs to it and is
        // copied at once.
        unsafe { cstr::borrow(sys::ast_channel_name(self.raw())) }.into_owned()
    }

    pub fn uniqueid(&self) -> String {
        // SAFETY: as in `name`.
        unsafe { cstr::borrow(sys::ast_channel_uniqueid(self.raw())) }.into_owned()
    }

    /// The caller's number and name (empty where unknown), and whether the caller
    /// withheld them (the presentation is restricted or unavailable).
    pub fn caller_id(&self) -> (String, String, bool) {
        let mut number = [0 as c_char; 128];
        let mut name = [0 as c_char; 128];
        // SAFETY: live channel; the helper copies under the channel lock into our buffers,
        // NUL-terminating within their length.
        unsafe {
            let withheld = sys::twinning_channel_caller(
                self.raw(),
                number.as_mut_ptr(),
                number.len(),
                name.as_mut_ptr(),
                name.len(),
            );
            (
                cstr::borrow(number.as_ptr()).into_owned(),
                cstr::borrow(name.as_ptr()).into_owned(),
                withheld != 0,
            )
        }
    }

    /// The extension the channel is executing now (after any Goto).
    pub fn exten(&self) -> String {
        // SAFETY: as in `name`.
        unsafe { cstr::borrow(sys::ast_channel_exten(self.raw())) }.into_owned()
    }

    /// The number the caller dialed (`CALLERID(dnid)`), kept across Goto and Local
    /// channels; empty where the channel driver set none.
    pub fn dnid(&self) -> String {
        let mut out = [0 as c_char; 128];
        // SAFETY: live channel; the helper copies under the channel lock into our buffer.
        unsafe {
            sys::twinning_channel_dnid(self.raw(), out.as_mut_ptr(), out.len());
            cstr::borrow(out.as_ptr()).into_owned()
        }
    }

    pub fn language(&self) -> String {
        let mut out = [0 as c_char; 32];
        // SAFETY: live channel; the helper copies the language under the channel lock.
        unsafe {
            sys::twinning_channel_language(self.raw(), out.as_mut_ptr(), out.len());
            cstr::borrow(out.as_ptr()).into_owned()
        }
    }

    pub fn set_variable(&self, name: &str, value: &str) {
        let (name, value) = (cstr::owned(name), cstr::owned(value));
        // SAFETY: live channel; both strings are copied by Asterisk before it returns.
        unsafe {
            sys::pbx_builtin_setvar_helper(self.raw(), name.as_ptr(), value.as_ptr());
        }
    }

    pub fn is_up(&self) -> bool {
        // SAFETY: live channel; reading its state.
        unsafe { sys::ast_channel_state(self.raw()) == sys::ast_channel_state::AST_STATE_UP }
    }

    /// Answers if not up yet; false if that failed (the channel hung up).
    pub fn answer(&self) -> bool {
        // SAFETY: live channel, on its servicing thread; answering an answered channel is a
        // no-op.
        self.is_up() || unsafe { sys::ast_answer(self.raw()) } == 0
    }

    /// Whether the channel has been asked to hang up (or has).
    pub fn hung_up(&self) -> bool {
        // SAFETY: live channel.
        unsafe { sys::ast_check_hangup(self.raw()) != 0 }
    }

    /// Asks whoever services the channel to hang it up (it reads a hangup next).
    pub fn soft_hangup(&self) {
        // SAFETY: live channel; ast_softhangup locks the channel itself.
        unsafe { sys::twinning_softhangup(self.raw()) }
    }

    pub fn indicate_ringing(&self) {
        // SAFETY: live channel, on its servicing thread.
        unsafe {
            sys::ast_indicate(self.raw(), sys::ast_control_frame_type::AST_CONTROL_RINGING as c_int);
        }
    }

    /// Starts playing `file` in the channel's language; playback advances as the channel is
    /// read. False if the file could not be opened.
    pub fn start_playback(&self, file: &CStr) -> bool {
        let language = cstr::owned(&self.language());
        // SAFETY: live channel on its servicing thread; both strings outlive the call.
        unsafe { sys::ast_streamfile(self.raw(), file.as_ptr(), language.as_ptr()) == 0 }
    }

    pub fn stop_playback(&self) {
        // SAFETY: live channel on its servicing thread.
        unsafe {
            sys::ast_stopstream(self.raw());
        }
    }

    /// Plays `file` to the end (no key interrupts it). A missing file only fails the
    /// playback.
    pub fn play(&self, file: &CStr) {
        // SAFETY: live channel on its servicing thread; "" means no digit interrupts it.
        unsafe {
            sys::ast_stream_and_wait(self.raw(), file.as_ptr(), c"".as_ptr());
        }
    }

    /// Plays `prompt` and reads up to `max` digits, ended by `#` or `timeout`.
    /// `None` when the channel hung up.
    pub fn prompt_digits(&self, prompt: &CStr, max: usize, timeout: Duration) -> Option<String> {
        let mut buf = vec![0 as c_char; max + 1];
        let timeout = timeout.as_millis().min(c_int::MAX as u128) as c_int;
        // SAFETY: live channel on its servicing thread; `buf` has room for `max` digits
        // and the NUL ast_app_getdata writes; the prompt outlives the call.
        let rc = unsafe {
            sys::ast_app_getdata(self.raw(), prompt.as_ptr(), buf.as_mut_ptr(), max as c_int, timeout)
        };
        // SAFETY: ast_app_getdata leaves a NUL-terminated string in `buf` (empty at worst).
        let digits = unsafe { cstr::borrow(buf.as_ptr()) }.into_owned();
        ((rc as c_int) >= 0 && !self.hung_up()).then_some(digits)
    }

    /// Sends the channel on in the dialplan, once its application returns: `exten` in
    /// `context`, priority 1, with `cid_number` as its caller ID number and billed to
    /// `account_code` where given, set only once the goto is done. False if Asterisk refused
    /// the goto: the channel is then left as it was.
    pub fn continue_as(
        &self,
        context: &str,
        exten: &str,
        cid_number: &str,
        account_code: Option<&str>,
    ) -> bool {
        let (context, exten) = (cstr::owned(context), cstr::owned(exten));
        let (cid, account) = (cstr::owned(cid_number), cstr::owned(account_code.unwrap_or_default()));
        // SAFETY: live channel on its servicing thread (running our application); the
        // strings outlive the call, and Asterisk copies them.
        let rc = unsafe {
            sys::twinning_continue_as(
                self.raw(),
                cid.as_ptr(),
                account.as_ptr(),
                context.as_ptr(),
                exten.as_ptr(),
            )
        };
        rc == 0
    }

    /// Reads digits already being keyed (no prompt), up to `max`, ended by `#`, the first
    /// within `first`, each next within `next`. `None` on timeout with nothing, or hang-up.
    pub fn read_digits(&self, max: usize, first: Duration, next: Duration) -> Option<String> {
        let mut buf = vec![0 as c_char; max + 4];
        let ms = |d: Duration| d.as_millis().min(c_int::MAX as u128) as c_int;
        // SAFETY: live channel on its servicing thread; `buf` has room for `max` digits and
        // the NUL; "#" is a mutable copy Asterisk reads.
        let rc = unsafe {
            let mut enders = *b"#\0";
            sys::ast_readstring(
                self.raw(),
                buf.as_mut_ptr(),
                max as c_int,
                ms(next),
                ms(first),
                enders.as_mut_ptr().cast(),
            )
        };
        // SAFETY: ast_readstring NUL-terminates the buffer.
        let digits = unsafe { cstr::borrow(buf.as_ptr()) }.into_owned();
        (rc == 0 && !digits.is_empty()).then_some(digits)
    }

    /// Reads one frame (on the servicing thread).
    pub fn read(&self) -> Frame {
        self.read_relaying(None)
    }

    /// Reads one frame (on the servicing thread) and writes it to `to` if it is voice: the
    /// two talk while this thread services both (a consult before it joins a bridge).
    pub fn read_relaying(&self, to: Option<&Channel>) -> Frame {
        use sys::ast_control_frame_type as ctl;
        // SAFETY: live channel on its servicing thread; the frame is freed below; `to` is
        // live (we hold a reference) and serviced by this thread too, and ast_write copies
        // what it keeps of the frame.
        unsafe {
            let f = sys::ast_read(self.raw());
            if f.is_null() {
                return Frame::Gone(failure_for_cause(sys::ast_channel_hangupcause(self.raw())));
            }
            if let (Some(to), sys::ast_frame_type::AST_FRAME_VOICE) = (to, (*f).frametype) {
                sys::ast_write(to.raw(), f);
            }
            let frame = match (*f).frametype {
                sys::ast_frame_type::AST_FRAME_CONTROL => match (*f).subclass.integer as u32 {
                    ctl::AST_CONTROL_RINGING => Frame::Ringing,
                    ctl::AST_CONTROL_PROGRESS | ctl::AST_CONTROL_PROCEEDING => Frame::Progress,
                    ctl::AST_CONTROL_ANSWER => Frame::Answer,
                    ctl::AST_CONTROL_BUSY => Frame::Busy,
                    ctl::AST_CONTROL_CONGESTION => Frame::Congestion,
                    ctl::AST_CONTROL_HANGUP => Frame::Hangup,
                    _ => Frame::Other,
                },
                sys::ast_frame_type::AST_FRAME_DTMF_END => {
                    char::from_u32((*f).subclass.integer as u32).map_or(Frame::Other, Frame::Dtmf)
                }
                _ => Frame::Other,
            };
            sys::ast_frame_free(f, 1);
            frame
        }
    }

    /// Sends `key` to the far end as a 100 ms DTMF digit, without waiting: `ast_senddigit`
    /// would sleep out the digit reading this channel, and throw away the voice and the
    /// keys that came meanwhile (a consult code keyed then would be lost).
    pub fn send_digit(&self, key: char) {
        let Ok(digit) = u8::try_from(key) else { return };
        // SAFETY: live channel on its servicing thread; begin and end with a duration send
        // the whole digit (RFC 4733 or INFO) and return at once.
        unsafe {
            sys::ast_senddigit_begin(self.raw(), digit as c_char);
            sys::ast_senddigit_end(self.raw(), digit as c_char, 100);
        }
    }

    /// Stops an indication's tones (the ringing played to an answered channel).
    pub fn stop_indications(&self) {
        // SAFETY: live channel, on its servicing thread; -1 stops any indication.
        unsafe {
            sys::ast_indicate(self.raw(), -1);
        }
    }

    /// Sets both channels' formats so that voice read from one can be written to the other.
    pub fn make_compatible(&self, peer: &Channel) -> bool {
        // SAFETY: both live (we hold references); Asterisk locks them itself.
        unsafe { sys::ast_channel_make_compatible(self.raw(), peer.raw()) == 0 }
    }

    /// Whether both are the same channel.
    pub fn is(&self, other: &Channel) -> bool {
        self.0 == other.0
    }

    /// Waits until one of `chans` has a frame, or `timeout` (on the thread servicing them
    /// all).
    pub fn wait_any(chans: &[&Channel], timeout: Duration) -> Ready {
        let mut raw: Vec<*mut sys::ast_channel> = chans.iter().map(|c| c.raw()).collect();
        let mut ms = timeout.as_millis().min(c_int::MAX as u128) as c_int;
        // SAFETY: every pointer is a live channel we hold a reference to; the array outlives
        // the call.
        let ready = unsafe { sys::ast_waitfor_n(raw.as_mut_ptr(), raw.len() as c_int, &mut ms) };
        if ready.is_null() {
            return if ms != 0 { Ready::Interrupted } else { Ready::Timeout };
        }
        raw.iter().position(|&c| c == ready).map_or(Ready::Interrupted, Ready::Channel)
    }
}

impl Clone for Channel {
    fn clone(&self) -> Channel {
        ao2_ref(self.raw().cast(), 1);
        Channel(self.0)
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        ao2_ref(self.raw().cast(), -1);
    }
}

/// A channel this module requested: hung up when dropped, unless given to a bridge. Its
/// dial is published as app_dial publishes it, so the leg has its own CDR row: the start
/// when it is called, the end when it is given to the caller's bridge (ANSWER) or hung up
/// (its cause's status, or CANCEL), and a leg answered and dropped unbridged is billed by
/// the CDR modifier (see [`super::cdr`]).
pub struct Leg {
    chan: Option<Channel>,
    caller: Channel,
    answered: Option<std::time::SystemTime>,
    failure: Option<LegFailure>,
    /// The dial's end was published (it is in the caller's bridge, or gone).
    ended: bool,
    /// A failure's cause is the caller's too, as with Dial; not for a call the user places
    /// from the mobile mid-call (a consult), whose failure says nothing of the mobile's end.
    cause_to_caller: bool,
}

/// What a leg is dialed as and billed to.
pub struct Dialing<'a> {
    pub tech: &'a str,
    pub resource: &'a str,
    pub number: &'a str,
    pub name: &'a str,
    pub withheld: bool,
    /// The account code the leg is billed to (the row's peeraccount); `None`: the caller's,
    /// as Dial bills.
    pub account_code: Option<&'a str>,
    /// What the admin reads in the row's userfield: the leg's name (`desk`, `mobile2`).
    pub userfield: &'a str,
    /// The leg is a call the user places (a consult through a Local channel): the account
    /// code is also the peer account, which Local hands its dialplan half as its own.
    pub placed_by_user: bool,
}

/// How a leg that ended unanswered failed, from its hangup cause; `None` for a plain
/// hang-up.
pub fn failure_for_cause(cause: c_int) -> Option<LegFailure> {
    match cause as u32 {
        sys::AST_CAUSE_BUSY => Some(LegFailure::Busy),
        sys::AST_CAUSE_CALL_REJECTED => Some(LegFailure::Rejected),
        sys::AST_CAUSE_NORMAL_CIRCUIT_CONGESTION
        | sys::AST_CAUSE_SWITCH_CONGESTION
        | sys::AST_CAUSE_NETWORK_OUT_OF_ORDER
        | sys::AST_CAUSE_NORMAL_TEMPORARY_FAILURE
        | sys::AST_CAUSE_REQUESTED_CHAN_UNAVAIL => Some(LegFailure::Congestion),
        sys::AST_CAUSE_UNALLOCATED
        | sys::AST_CAUSE_NO_ROUTE_TRANSIT_NET
        | sys::AST_CAUSE_NO_ROUTE_DESTINATION
        | sys::AST_CAUSE_SUBSCRIBER_ABSENT
        | sys::AST_CAUSE_DESTINATION_OUT_OF_ORDER
        | sys::AST_CAUSE_INVALID_NUMBER_FORMAT
        | sys::AST_CAUSE_NO_USER_RESPONSE
        | sys::AST_CAUSE_CHANNEL_UNACCEPTABLE
        | sys::AST_CAUSE_FACILITY_NOT_SUBSCRIBED => Some(LegFailure::Unavailable),
        _ => None,
    }
}

impl Leg {
    /// Requests the leg and calls it, linked to `caller` (it inherits the caller's
    /// variables, and CDR/CEL see one call), presenting its caller ID, billed as `d` says;
    /// then publishes the dial's start. On failure, how (unavailable when Asterisk gave no
    /// cause); a leg that could not be called has no row, as with Dial.
    pub fn dial(caller: &Channel, d: &Dialing) -> Result<Leg, LegFailure> {
        let (tech, resource) = (cstr::owned(d.tech), cstr::owned(d.resource));
        let (number, name) = (cstr::owned(d.number), cstr::owned(d.name));
        let dialstring = cstr::owned(&format!("{}/{}", d.tech, d.resource));
        let account = cstr::owned(d.account_code.unwrap_or_default());
        let mut cause: c_int = 0;
        // SAFETY: the caller is live (we hold a reference); ast_request returns a new
        // channel we own, or NULL; the strings outlive the calls, which copy them (the
        // dial string is borrowed as the caller's data only inside the publish).
        unsafe {
            let chan = sys::ast_request(
                tech.as_ptr(),
                sys::ast_channel_nativeformats(caller.raw()),
                std::ptr::null(),
                caller.raw(),
                resource.as_ptr(),
                &mut cause,
            );
            let Some(chan) = NonNull::new(chan) else {
                return Err(failure_for_cause(cause).unwrap_or(LegFailure::Unavailable));
            };
            // The request's own reference becomes the Leg's; hung up (and released) by
            // ast_hangup when dropped. Not published yet: no end until it is.
            let mut leg = Leg {
                chan: Some(Channel(chan)),
                caller: caller.clone(),
                answered: None,
                failure: None,
                ended: true,
                cause_to_caller: !d.placed_by_user,
            };
            sys::ast_channel_inherit_variables(caller.raw(), chan.as_ptr());
            sys::twinning_set_outgoing_identity(
                chan.as_ptr(),
                number.as_ptr(),
                name.as_ptr(),
                c_int::from(d.withheld),
            );
            sys::twinning_leg_accounts(chan.as_ptr(), caller.raw(), account.as_ptr());
            if d.placed_by_user && d.account_code.is_some() {
                sys::twinning_set_peeraccount(chan.as_ptr(), account.as_ptr());
            }
            if sys::ast_call(chan.as_ptr(), resource.as_ptr(), 0) != 0 {
                return Err(LegFailure::Unavailable);
            }
            sys::twinning_publish_dial_begin(caller.raw(), chan.as_ptr(), dialstring.as_ptr());
            leg.ended = false;
            if let Some(code) = d.account_code {
                super::cdr::bill_to(&caller.uniqueid(), &leg.channel().name(), code);
            }
            // Through the CDR() function, which waits for the CDR engine to have the row.
            let userfield = cstr::owned(d.userfield);
            if sys::ast_func_write(chan.as_ptr(), c"CDR(userfield)".as_ptr(), userfield.as_ptr()) != 0 {
                log::debug!("twinning: no CDR(userfield) for the leg (func_cdr not loaded?)");
            }
            Ok(leg)
        }
    }

    pub fn channel(&self) -> &Channel {
        self.chan.as_ref().expect("a leg has its channel until given away")
    }

    /// The leg answered (its row is ANSWERED from then on, bridged or not).
    pub fn mark_answered(&mut self) {
        self.answered.get_or_insert_with(std::time::SystemTime::now);
    }

    /// The leg failed on its own, as the engine was told.
    pub fn mark_failed(&mut self, failure: LegFailure) {
        self.failure = Some(failure);
    }

    /// The leg joins the caller: its dial ends as answered (before the caller is answered,
    /// as app_dial does it, so the losers' rows bill nothing).
    pub fn won(&mut self) {
        let Some(chan) = &self.chan else { return };
        if !std::mem::replace(&mut self.ended, true) {
            // SAFETY: both channels are live (we hold references).
            unsafe { sys::twinning_dial_end_answered(self.caller.raw(), chan.raw()) };
        }
    }

    /// Ends the dial of a leg being hung up without joining the caller: answered and
    /// dropped (billed by the CDR modifier), failed on its own (its status, and its cause
    /// for the caller, as Dial), or cancelled by the engine.
    fn end_unbridged(&mut self) {
        let Some(chan) = &self.chan else { return };
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let (caller, peer) = (self.caller.raw(), chan.raw());
        if let Some(answered) = self.answered {
            super::cdr::bill_dropped(
                &self.caller.uniqueid(),
                &chan.name(),
                answered,
                std::time::SystemTime::now(),
            );
            // SAFETY: both channels are live; the status is static.
            unsafe { sys::ast_channel_publish_dial(caller, peer, std::ptr::null(), c"CANCEL".as_ptr()) };
            return;
        }
        let status: Option<&CStr> = match self.failure {
            Some(LegFailure::Busy) => Some(c"BUSY"),
            Some(LegFailure::Congestion) => Some(c"CONGESTION"),
            Some(LegFailure::Unavailable) => Some(c"CHANUNAVAIL"),
            Some(LegFailure::Rejected) => None,
            // Still up: the engine is cancelling it.
            None if !chan.hung_up() => Some(c"CANCEL"),
            None => None,
        };
        let status = status.map_or(std::ptr::null(), CStr::as_ptr);
        // SAFETY: both channels are live; the status is static or NULL.
        unsafe { sys::twinning_dial_end_failed(caller, peer, status, c_int::from(self.cause_to_caller)) };
    }

    /// Gives the channel away to Asterisk (a bridge took it over): not hung up here.
    pub(super) fn into_raw(mut self) -> *mut sys::ast_channel {
        self.won();
        let chan = self.chan.take().expect("a leg has its channel until given away");
        let raw = chan.raw();
        // The request's reference goes with the channel.
        std::mem::forget(chan);
        raw
    }
}

/// A call this module placed on its own (a Mobile Callback), answered: hung up when
/// dropped, unless handed to a PBX of its own.
pub struct Placed(Option<Channel>);

impl Placed {
    /// Calls `tech`/`resource` presenting `cid_number`, billed to `account_code` where
    /// given, and waits up to `timeout` for the answer: the answered call, and how long
    /// after dialing it answered; otherwise how it failed.
    pub fn originate(
        tech: &str,
        resource: &str,
        cid_number: &str,
        account_code: Option<&str>,
        timeout: Duration,
    ) -> Result<(Placed, Duration), LegFailure> {
        let (tech, resource, cid) = (cstr::owned(tech), cstr::owned(resource), cstr::owned(cid_number));
        let account = cstr::owned(account_code.unwrap_or_default());
        let (mut after, mut cause): (c_int, c_int) = (0, 0);
        let timeout = timeout.as_millis().min(c_int::MAX as u128) as c_int;
        // SAFETY: the strings outlive the call; the shim returns a channel whose request
        // reference becomes ours (released by ast_hangup on drop), or NULL.
        let chan = unsafe {
            sys::twinning_originate(
                tech.as_ptr(),
                resource.as_ptr(),
                cid.as_ptr(),
                account.as_ptr(),
                timeout,
                &mut after,
                &mut cause,
            )
        };
        match NonNull::new(chan) {
            Some(chan) => Ok((Placed(Some(Channel(chan))), Duration::from_millis(after.max(0) as u64))),
            None => Err(failure_for_cause(cause).unwrap_or(LegFailure::Unavailable)),
        }
    }

    pub fn channel(&self) -> &Channel {
        self.0.as_ref().expect("held until handed over")
    }

    /// Starts a PBX on the call at the location it was sent to (see
    /// [`Channel::continue_as`]); Asterisk owns it from then on. False (and hung up) if
    /// Asterisk could not.
    pub fn start_pbx(mut self) -> bool {
        let Some(chan) = self.0.take() else { return false };
        let raw = chan.raw();
        std::mem::forget(chan);
        // SAFETY: we own this channel; on success the PBX thread takes our reference over
        // and hangs it up at the end; on failure it is still ours to hang up.
        unsafe {
            if sys::ast_pbx_start(raw) == sys::ast_pbx_result::AST_PBX_SUCCESS {
                return true;
            }
            sys::ast_hangup(raw);
        }
        false
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        if let Some(chan) = self.0.take() {
            let raw = chan.raw();
            std::mem::forget(chan);
            // SAFETY: we own this channel (from the shim's ast_request, never given away);
            // ast_hangup releases the request's reference.
            unsafe {
                sys::ast_hangup(raw);
            }
        }
    }
}

impl Drop for Leg {
    fn drop(&mut self) {
        self.end_unbridged();
        if let Some(chan) = self.chan.take() {
            let raw = chan.raw();
            std::mem::forget(chan);
            // SAFETY: we own this channel (from ast_request, never given away); ast_hangup
            // releases the request's reference.
            unsafe {
                sys::ast_hangup(raw);
            }
        }
    }
}
