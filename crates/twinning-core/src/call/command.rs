use std::fmt;
use std::time::Duration;

use super::{LegFailure, LegId, LegKind};

/// What the engine asks the host to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Place a leg. The host reports its progress as events on `leg`; if it cannot even
    /// create the channel it reports `LegFailed(leg, Unavailable)`.
    Dial {
        leg: LegId,
        kind: LegKind,
        target: DialTarget,
        caller_id: CallerId,
        /// The account code the leg's CDR is billed to (remote legs, when the user has
        /// one); `None`: as the PBX bills any leg it places.
        account_code: Option<String>,
    },
    /// Hang up a leg (CANCEL before answer, BYE after). The host reports nothing more
    /// for it.
    Cancel {
        leg: LegId,
    },
    /// Play a prompt to an answered leg (the confirmation request).
    PlayPrompt {
        leg: LegId,
        prompt: Prompt,
    },
    /// Tell the caller the call is ringing.
    IndicateRinging,
    /// Answer the caller if needed and bridge it with `leg`; the host reports the end of
    /// the bridge as `CallerHungUp` or `LegHungUp(leg)`.
    Bridge {
        leg: LegId,
    },
    /// Give back the mobile slot taken from the host's [`super::ConcurrencyCap`].
    ReleaseMobileSlot,
    /// Put the answered leg `new` into the caller's bridge in place of `old`, in one step
    /// so the caller is never alone or dropped; the host hangs `old` up.
    SwapBridge {
        new: LegId,
        old: LegId,
    },
    /// Music on hold for the caller, or back to the conversation.
    HoldCaller,
    ResumeCaller,
    /// Send the caller to `exten` in `context`; the bridged leg is released.
    BlindTransfer {
        context: String,
        exten: String,
    },
    /// The mobile hung up: hold the caller (music on hold) while the desk is offered
    /// the call.
    Park,
    /// Bridge the held caller with the answered `leg` (the desk took the call).
    Unpark {
        leg: LegId,
    },
    /// Nobody took the held caller in time: let the caller go (the call is over).
    ReleaseCaller,
    /// Place the consult call the mobile asked for: `exten` in the dialplan `context`, as
    /// the user (`caller_id`, `account_code`), never a dial string. The host reports its
    /// progress as events on `leg`, like any leg's. The caller is already held.
    DialConsult {
        leg: LegId,
        context: String,
        exten: String,
        caller_id: CallerId,
        account_code: Option<String>,
    },
    /// The consult call answered: the mobile now talks to it; the caller stays held.
    ConnectConsult {
        consult: LegId,
        mobile: LegId,
    },
    /// The consult is over (dropped by the mobile, or the third party hung up or never
    /// answered): hang `consult` up if it is still there and put the mobile back with the
    /// caller, taking the caller off hold if `resume` (the consult was what held it).
    EndConsult {
        consult: LegId,
        mobile: LegId,
        resume: bool,
    },
    /// Attended transfer: `consult` takes the mobile's place with the caller in one step
    /// and the caller is taken off hold; the mobile's leg is hung up.
    AttendedTransfer {
        consult: LegId,
        mobile: LegId,
    },
    /// The caller, the mobile and `consult` in one conference (the host's own bridge); the
    /// caller is taken off hold.
    Conference {
        consult: LegId,
        mobile: LegId,
    },
    Notify(Notification),
    /// The call is over; no command follows.
    Finish {
        status: CallStatus,
        answered_by: Option<LegKind>,
    },
}

/// A channel to request: technology and resource, never a dial string to be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTarget {
    pub tech: String,
    pub resource: String,
}

impl fmt::Display for DialTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tech, self.resource)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerId {
    pub number: String,
    pub name: String,
    /// The caller withheld their identity (Asterisk's presentation is restricted, a SIP
    /// `Privacy: id`, an anonymous From). A leg that presents the caller keeps it
    /// withheld: showing it to the mobile over a public trunk would break the caller's
    /// privacy, and the regulator's rules.
    pub withheld: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// "Press 1 to accept the call, 2 to decline."
    Confirm,
}

/// What the engine reports for the audit trail and monitoring (AMI events, ESL events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    Start {
        mobile: Option<String>,
    },
    Leg {
        leg: LegId,
        kind: LegKind,
        notice: LegNotice,
    },
    /// A remote destination was not rung (`leg` names which; a DND call names `mobile`).
    Refused {
        leg: LegKind,
        reason: RefusalReason,
        detail: String,
    },
    Bridged {
        leg: LegId,
        kind: LegKind,
    },
    End {
        status: CallStatus,
        answered_by: Option<LegKind>,
        duration: Duration,
    },
    Handover {
        from: LegKind,
        to: LegKind,
        trigger: HandoverTrigger,
        result: HandoverResult,
        detail: String,
    },
    /// The caller was put on hold or taken off it from the mobile.
    Hold {
        on: bool,
    },
    Transfer {
        kind: TransferKind,
        context: String,
        exten: String,
    },
    /// A consult from the mobile: the number, the context it was placed in, and how far it
    /// got.
    Consult {
        result: ConsultResult,
        context: String,
        exten: String,
        detail: String,
    },
    /// A three-party conference from the mobile began or ended.
    Conference {
        result: ConferenceResult,
        detail: String,
    },
}

/// How the mobile transferred the caller. Names are public interface (`Kind:` in
/// `TwinningTransfer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// The transfer code and an extension: the caller is sent on unannounced.
    Blind,
    /// After a consult: the attended code, or the mobile hanging up while consulting.
    Attended,
}

impl TransferKind {
    pub fn name(self) -> &'static str {
        match self {
            TransferKind::Blind => "blind",
            TransferKind::Attended => "attended",
        }
    }
}

/// How far a consult from the mobile got. Names are public interface (`Result:` in
/// `TwinningConsult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsultResult {
    /// The caller is held and the number is being dialed.
    Started,
    Answered,
    /// Not placed: no `consult_context`, the policy refused the number, or the call could
    /// not consult now (see `Detail:`).
    Refused,
    /// The third party was busy, unreachable or rejected the call.
    Failed,
    /// The mobile dropped it (the drop code); back to the caller.
    Dropped,
    /// The third party hung up; back to the caller.
    Ended,
    /// The call ended, or the mobile hung up before the third party answered.
    Cancelled,
}

impl ConsultResult {
    pub fn name(self) -> &'static str {
        match self {
            ConsultResult::Started => "started",
            ConsultResult::Answered => "answered",
            ConsultResult::Refused => "refused",
            ConsultResult::Failed => "failed",
            ConsultResult::Dropped => "dropped",
            ConsultResult::Ended => "ended",
            ConsultResult::Cancelled => "cancelled",
        }
    }
}

/// A conference's progress. Names are public interface (`Result:` in `TwinningConference`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConferenceResult {
    /// All three are in one bridge.
    Started,
    /// Not joined (no consult answered; see `Detail:`).
    Refused,
    /// Someone left; the other two talk on (or the call ended).
    Ended,
}

impl ConferenceResult {
    pub fn name(self) -> &'static str {
        match self {
            ConferenceResult::Started => "started",
            ConferenceResult::Refused => "refused",
            ConferenceResult::Ended => "ended",
        }
    }
}

/// What asked for a handover. Names are public interface (`Trigger:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverTrigger {
    /// A DTMF code pressed during the call (on the desk to push, on the mobile to pull).
    Dtmf,
    Ami,
    /// `TwinningPickup` run from the desk (a feature code).
    FeatureCode,
    /// The mobile hung up and the desk is offered the held caller (desk_pickup_time).
    MobileHangup,
    /// The twinning button pressed on the desk (`TwinningButton`, `twinning_button`).
    Button,
}

impl HandoverTrigger {
    pub fn name(self) -> &'static str {
        match self {
            HandoverTrigger::Dtmf => "dtmf",
            HandoverTrigger::Ami => "ami",
            HandoverTrigger::FeatureCode => "featurecode",
            HandoverTrigger::MobileHangup => "hangup",
            HandoverTrigger::Button => "button",
        }
    }
}

/// How a handover ended. Names are public interface (`Result:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverResult {
    /// Ringing the other device (the first `TwinningHandover` of a handover).
    Started,
    Completed,
    /// The other device did not answer in time; the call stayed where it was.
    NoAnswer,
    /// The mobile answered inside the answer guard (voicemail); the call stayed.
    Guarded,
    Failed,
    /// Not attempted (not answered yet, already there, in progress, policy, cap...).
    Refused,
}

impl HandoverResult {
    pub fn name(self) -> &'static str {
        match self {
            HandoverResult::Started => "started",
            HandoverResult::Completed => "completed",
            HandoverResult::NoAnswer => "noanswer",
            HandoverResult::Guarded => "guarded",
            HandoverResult::Failed => "failed",
            HandoverResult::Refused => "refused",
        }
    }
}

/// A leg's state change. Names are public interface (`State:` in `TwinningLeg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegNotice {
    Dialing {
        target: String,
    },
    Ringing,
    Answered,
    /// Answered sooner than the answer guard: taken for carrier voicemail and dropped.
    Guarded {
        after: Duration,
    },
    Confirmed,
    /// Pressed 2, or did not press 1 in time.
    Declined {
        timeout: bool,
    },
    Cancelled,
    Failed {
        cause: LegFailure,
    },
    /// Hung up after answering but before being bridged (e.g. during confirmation).
    HungUp,
    /// Left the call because the call moved to the other device.
    Released,
    /// Rang for its destination's own ring time without an answer, while others ring on.
    NoAnswer,
    /// Refused at once by the trunk (`cause`), and dialed once more as a new leg with the
    /// fallback caller ID `caller_id`.
    Retried {
        cause: LegFailure,
        caller_id: String,
    },
}

impl LegNotice {
    pub fn state(&self) -> &'static str {
        match self {
            LegNotice::Dialing { .. } => "dialing",
            LegNotice::Ringing => "ringing",
            LegNotice::Answered => "answered",
            LegNotice::Guarded { .. } => "guarded",
            LegNotice::Confirmed => "confirmed",
            LegNotice::Declined { .. } => "declined",
            LegNotice::Cancelled => "cancelled",
            LegNotice::Failed { .. } => "failed",
            LegNotice::HungUp => "hungup",
            LegNotice::Released => "released",
            LegNotice::NoAnswer => "noanswer",
            LegNotice::Retried { .. } => "retried",
        }
    }
}

/// Why the mobile was not rung. Names are public interface (`Reason:` in `TwinningRefused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    Dnd,
    Disabled,
    Schedule,
    Eligibility,
    Policy,
    Cap,
    /// The caller is on `block_callers`, or not on `allow_callers`.
    Caller,
}

impl RefusalReason {
    pub fn name(self) -> &'static str {
        match self {
            RefusalReason::Dnd => "dnd",
            RefusalReason::Disabled => "disabled",
            RefusalReason::Schedule => "schedule",
            RefusalReason::Eligibility => "eligibility",
            RefusalReason::Policy => "policy",
            RefusalReason::Cap => "cap",
            RefusalReason::Caller => "caller",
        }
    }
}

/// How the call ended. Names are public interface (`TWINNINGSTATUS`, `Status:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    Answered,
    NoAnswer,
    Busy,
    ChanUnavail,
    Dnd,
    /// The caller hung up before anyone answered.
    Cancel,
    Failed,
}

impl CallStatus {
    pub fn name(self) -> &'static str {
        match self {
            CallStatus::Answered => "ANSWERED",
            CallStatus::NoAnswer => "NOANSWER",
            CallStatus::Busy => "BUSY",
            CallStatus::ChanUnavail => "CHANUNAVAIL",
            CallStatus::Dnd => "DND",
            CallStatus::Cancel => "CANCEL",
            CallStatus::Failed => "FAILED",
        }
    }
}
