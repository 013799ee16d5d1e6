use super::LegId;

/// What happened, as the host saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The leg's far end is alerting (SIP 180).
    LegRinging(LegId),
    /// Early media or progress (SIP 183); not an answer.
    LegProgress(LegId),
    LegAnswered(LegId),
    /// The leg ended before being answered, or could not be placed at all.
    LegFailed(LegId, LegFailure),
    /// The leg hung up after answering (or the bridged leg left the bridge).
    LegHungUp(LegId),
    /// A DTMF digit from the leg (end of the key press).
    LegDtmf(LegId, char),
    /// The caller hung up, or left the bridge.
    CallerHungUp,
    /// A mid-call code pressed on the bridged mobile.
    MobileFeature(MobileFeature),
}

/// What the mobile's DTMF codes ask for during a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MobileFeature {
    /// Move the call to the desk (ring it; the call moves when it answers).
    ToDesk,
    /// Hold the caller, or resume if on hold.
    HoldToggle,
    /// Blind-transfer the caller to this extension.
    Transfer(String),
    /// Hold the caller and call this number as the user (the consult code and digits).
    Consult(String),
    /// While consulting: the caller and the third party talk, the mobile leaves.
    AttendedTransfer,
    /// While consulting: the caller, the mobile and the third party in one conference.
    Conference,
    /// While consulting: drop the third party and go back to the caller; in a
    /// conference, drop the third party from it.
    DropConsult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegFailure {
    Busy,
    /// No route, endpoint unreachable, channel could not be created.
    Unavailable,
    /// Network congestion or an error answer.
    Congestion,
    /// The far end ended the attempt without answering (e.g. rejected it).
    Rejected,
}

impl LegFailure {
    pub fn name(self) -> &'static str {
        match self {
            LegFailure::Busy => "busy",
            LegFailure::Unavailable => "unavailable",
            LegFailure::Congestion => "congestion",
            LegFailure::Rejected => "rejected",
        }
    }
}
