//! Placing a leg and reading what happens to it: shared by the caller's thread (while the
//! call rings) and handover threads (a device rung mid-call).

use std::ffi::c_int;

use asterisk_sys as sys;
use twinning_core::call::{CallerId, DialTarget, Event, LegFailure, LegId};

use crate::host::channel::ChannelRef;
use crate::host::cstr;

/// Requests and calls one leg. The leg inherits the caller's variables and is linked to it
/// (so CDR/CEL see one call), and presents `caller_id` to the far end.
pub fn dial(
    caller: ChannelRef,
    target: &DialTarget,
    caller_id: &CallerId,
) -> Result<*mut sys::ast_channel, LegFailure> {
    let (tech, resource) = (cstr::owned(&target.tech), cstr::owned(&target.resource));
    let (number, name) = (cstr::owned(&caller_id.number), cstr::owned(&caller_id.name));
    let mut cause: c_int = 0;
    let caller = caller.raw();
    // SAFETY: the caller is live for the whole call; ast_request returns a new channel we
    // own, or NULL; the strings outlive the calls, which copy them.
    unsafe {
        let chan = sys::ast_request(
            tech.as_ptr(),
            sys::ast_channel_nativeformats(caller),
            std::ptr::null(),
            caller,
            resource.as_ptr(),
            &mut cause,
        );
        if chan.is_null() {
            return Err(failure_for_cause(cause).unwrap_or(LegFailure::Unavailable));
        }
        sys::ast_channel_inherit_variables(caller, chan);
        sys::twinning_set_outgoing_identity(chan, number.as_ptr(), name.as_ptr());
        if sys::ast_call(chan, resource.as_ptr(), 0) != 0 {
            sys::ast_hangup(chan);
            return Err(LegFailure::Unavailable);
        }
        Ok(chan)
    }
}

/// Reads one frame from a leg this thread services and turns it into an engine event.
/// `Err(event)` means the leg is finished with (hung up, busy, congested): the caller of
/// this function must hang it up.
///
/// # Safety
/// `chan` is a live leg owned and serviced by the calling thread.
pub unsafe fn read(leg: LegId, chan: *mut sys::ast_channel) -> Result<Option<Event>, Event> {
    use sys::ast_control_frame_type as ctl;
    // SAFETY: per the contract; the frame is freed below.
    unsafe {
        let f = sys::ast_read(chan);
        if f.is_null() {
            let cause = sys::ast_channel_hangupcause(chan);
            return Err(match failure_for_cause(cause) {
                Some(failure) => Event::LegFailed(leg, failure),
                None => Event::LegHungUp(leg),
            });
        }
        let event = match (*f).frametype {
            sys::ast_frame_type::AST_FRAME_CONTROL => match (*f).subclass.integer as u32 {
                ctl::AST_CONTROL_RINGING => Some(Event::LegRinging(leg)),
                ctl::AST_CONTROL_PROGRESS | ctl::AST_CONTROL_PROCEEDING => Some(Event::LegProgress(leg)),
                ctl::AST_CONTROL_ANSWER => Some(Event::LegAnswered(leg)),
                ctl::AST_CONTROL_BUSY => Some(Event::LegFailed(leg, LegFailure::Busy)),
                ctl::AST_CONTROL_CONGESTION => Some(Event::LegFailed(leg, LegFailure::Congestion)),
                ctl::AST_CONTROL_HANGUP => Some(Event::LegHungUp(leg)),
                _ => None,
            },
            sys::ast_frame_type::AST_FRAME_DTMF_END => {
                char::from_u32((*f).subclass.integer as u32).map(|d| Event::LegDtmf(leg, d))
            }
            _ => None,
        };
        sys::ast_frame_free(f, 1);
        match event {
            Some(e @ (Event::LegFailed(..) | Event::LegHungUp(_))) => Err(e),
            other => Ok(other),
        }
    }
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
