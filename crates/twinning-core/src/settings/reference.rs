//! The settings reference, written once: what every per-user field and every `[general]`
//! key means, its values and its default. The book's configuration chapter, the
//! `TWINNING()` field list in Asterisk's XML documentation and the checks on the sample
//! configurations are produced from, or checked against, these tables
//! (`tests/src/bin/twinning-book.rs`); the tests below fail when a field or a key exists
//! in the code without an entry here, when an entry names nothing, and when a stated
//! default is not the one the code applies.
//!
//! Text is plain with `code` in backticks, so it renders as Markdown and converts to
//! Asterisk's XML `<literal>`.

use super::{DestinationField, Field};

/// One per-user field, or (for destinations 2 … 10) one pattern such as
/// `mobile<n>_ring_time` standing for `mobile2_ring_time` … `mobile10_ring_time`.
#[derive(Debug, Clone, Copy)]
pub struct FieldDoc {
    /// The field's name, or its pattern with `<n>`.
    pub name: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// The values it takes.
    pub values: &'static str,
    /// Its built-in default, as it reads back (`UserSettings::get`), or a phrase in
    /// parentheses where there is no single value: `(required)`, `(the user's ring_time)`.
    pub default: &'static str,
    /// More, where an admin needs it; may be empty.
    pub details: &'static str,
    /// A value the field accepts (checked by the tests).
    pub example: &'static str,
}

/// One `[general]` key (per-user defaults aside: any field with
/// [`Field::has_general_default`] may also be given there).
#[derive(Debug, Clone, Copy)]
pub struct GeneralDoc {
    pub name: &'static str,
    /// Which part of the chapter it belongs in.
    pub group: Group,
    pub summary: &'static str,
    pub values: &'static str,
    /// As the code applies it when the key is absent, or a phrase in parentheses.
    pub default: &'static str,
    pub details: &'static str,
    /// A value the key accepts (checked by the tests).
    pub example: &'static str,
}

/// The parts of `[general]`, in the order the chapter shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Dialing,
    Policy,
    Identity,
    Pin,
    CallControl,
    MobileAccess,
    Store,
}

impl Group {
    pub const ALL: [Group; 7] = [
        Group::Dialing,
        Group::Policy,
        Group::Identity,
        Group::Pin,
        Group::CallControl,
        Group::MobileAccess,
        Group::Store,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::Dialing => "Dialing the remote destinations and the cap",
            Group::Policy => "Destination policy",
            Group::Identity => "Who may ask: trusted gateways",
            Group::Pin => "PIN entry",
            Group::CallControl => "Mid-call control and handover",
            Group::MobileAccess => "Mobile Direct Access and Mobile Callback",
            Group::Store => "Where runtime changes are kept (several nodes)",
        }
    }
}

/// Every per-user field: the user's own, then destination 2 … 10's as patterns.
pub const FIELDS: &[FieldDoc] = &[
    FieldDoc {
        name: "desk",
        summary: "The user's desk phone: it rings on every twinned call, and it is the only device whose calls may act for the user.",
        values: "One device, `Tech/resource`: Asterisk `PJSIP/desk1001` (a contact URI may follow the endpoint, `PJSIP/desk1001/sip:desk@192.0.2.10`); FreeSWITCH `user/1001` or `user/1001@example.com` (a directory user), or `sofia/internal/desk@192.0.2.10:5060` (a phone known by its address). No dial-string separators (`&`, `,`, spaces).",
        default: "(required)",
        details: "Admin-only: set in the configuration file, read-only on every other surface. A change, a pickup (`*27`), the twinning key or a PIN entry from a phone acts for the user only when the phone is this device (or a `trusted_gateways` entry): in Asterisk the channel's device name (`PJSIP/<endpoint>`, never the caller ID; a Local channel counts as the dialplan's own); in FreeSWITCH the user the phone authenticated as (`user_name` after digest authentication) for `user/<id>[@domain]`, or for `sofia/<profile>/<user>@<address>[:port]` the address the signalling came from (profile and IP; the port is ignored).",
        example: "PJSIP/desk1001",
    },
    FieldDoc {
        name: "mobile",
        summary: "The user's first remote destination, usually the mobile, rung through `mobile_dial`.",
        values: "Digits with an optional leading `+` (at most 20 digits), checked against the destination policy when set and again before each call. Empty: no twin.",
        default: "",
        details: "Changing it from a phone needs the user's right PIN entered on the same call (`TwinningAuthenticate`, `twinning_authenticate`) whenever the user has a PIN.",
        example: "07700900123",
    },
    FieldDoc {
        name: "enabled",
        summary: "Whether `mobile` rings (twinning on or off). Destinations 2 … 10 follow it unless they set `mobile<n>_enabled`.",
        values: "`yes` or `no` (also `on`/`off`, `true`/`false`, `y`/`n`, `t`/`f`, `1`/`0`).",
        default: "no",
        details: "Twinning starts off, so adding a user rings nothing outside until the user or the admin turns it on.",
        example: "yes",
    },
    FieldDoc {
        name: "dial_delay",
        summary: "How long after the call starts `mobile` starts ringing.",
        values: "0 to 120 s. Seconds, with up to three decimals (`2.5`), or milliseconds (`2500ms`).",
        default: "0",
        details: "Destinations 2 … 10 use it unless they set `mobile<n>_dial_delay`; `Twinning()` option `d(s)` overrides it for one call.",
        example: "2.5",
    },
    FieldDoc {
        name: "answer_guard",
        summary: "A remote answer sooner than this after its leg started is taken for carrier voicemail: that leg is hung up and the others keep ringing.",
        values: "0 to 30 s (0: no guard). Seconds, with up to three decimals (`2.5`), or milliseconds (`2500ms`).",
        default: "1.5",
        details: "Reported as `TwinningLeg` `State: guarded` with `AnsweredAfter` in ms. Destinations 2 … 10 use it unless they set `mobile<n>_answer_guard`; `Twinning()` option `g(s)` overrides it for one call.",
        example: "2",
    },
    FieldDoc {
        name: "confirm",
        summary: "The answered mobile must press 1 to take the call (2 declines).",
        values: "`yes` or `no`.",
        default: "no",
        details: "Asterisk plays `followme/options`; FreeSWITCH plays the caller channel's `twinning_confirm_prompt` (default a tone). The mobile has 8 s; the desk keeps ringing meanwhile. `Twinning()` option `c` asks for it on one call.",
        example: "yes",
    },
    FieldDoc {
        name: "ring_time",
        summary: "How long the whole call rings before it is unanswered (`TWINNINGSTATUS=NOANSWER`); also how long `mobile` rings.",
        values: "5 to 600 s. Seconds, with up to three decimals (`2.5`), or milliseconds (`2500ms`).",
        default: "20",
        details: "Destinations 2 … 10 use it unless they set `mobile<n>_ring_time`; `Twinning()` option `r(s)` overrides it for one call.",
        example: "25",
    },
    FieldDoc {
        name: "caller_id",
        summary: "The caller ID the remote destinations are shown.",
        values: "`original` (the caller's own), `did` (the number the caller dialed), `extension` (the user's, so the mobile sees an internal call) or a fixed number (digits, optional leading `+`), typically the company's main number for a trunk that refuses numbers it does not own.",
        default: "original",
        details: "`did` is Asterisk's DNID, kept across `Goto` and Local channels; in FreeSWITCH it is `twinning_did` (set it in the inbound route before it transfers) or else `destination_number`, never the SIP To user, which the caller writes. In both PBXes the DID is used only when it is a valid number; otherwise the caller's own identity is shown. A withheld caller stays withheld on the remote leg whatever this says: Asterisk sends a restricted presentation (chan_pjsip sends an anonymous From, or a P-Asserted-Identity with `Privacy: id` when the trunk has `trust_id_outbound=yes`); FreeSWITCH sets `origination_privacy=hide_name:hide_number`.",
        example: "did",
    },
    FieldDoc {
        name: "dnd",
        summary: "Do not disturb: nothing rings, the desk included (`TWINNINGSTATUS=DND`).",
        values: "`yes` or `no`.",
        default: "no",
        details: "The key's lamp goes dark while it is on.",
        example: "yes",
    },
    FieldDoc {
        name: "schedule",
        summary: "When the remote destinations may ring; outside it only the desk rings (`TwinningRefused` `Reason: schedule`).",
        values: "`always`, or comma-separated rules such as `mon-fri 08:00-18:00, sat 09:00-12:00`: a rule is a day or day range, a time range, or both; a time range that ends before it starts runs past midnight (`fri 22:00-06:00`). At most 32 rules. The PBX's local time applies.",
        default: "always",
        details: "",
        example: "mon-fri 08:00-18:00, sat 09:00-12:00",
    },
    FieldDoc {
        name: "hunt_group_calls",
        summary: "Twin calls that reach the user through a hunt group (`Twinning()` option `h`); when off, only the desk rings for them.",
        values: "`yes` or `no`.",
        default: "no",
        details: "",
        example: "yes",
    },
    FieldDoc {
        name: "forwarded_calls",
        summary: "Twin calls forwarded to the user (`Twinning()` option `f`); when off, only the desk rings for them.",
        values: "`yes` or `no`.",
        default: "no",
        details: "",
        example: "yes",
    },
    FieldDoc {
        name: "pin",
        summary: "The PIN that guards changes made from a phone.",
        values: "4 to 12 digits, or an argon2id hash (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). Empty: no PIN.",
        default: "",
        details: "Every surface reads it as `****` (empty when there is none). A PIN set at run time is kept only as a salted argon2id hash (m=19456 KiB, t=2, p=1) in the journal, the AstDB mirror, PostgreSQL's `twinning_overrides` and the local cache; clear values from older versions are hashed at load. A PIN written in the configuration file stays as written (it may itself be a hash). With a PIN, the sample feature codes ask for it before every change, and the module refuses a number change from a phone without it. A user with no PIN is protected by the desk check alone. Setting a new PIN lifts a lockout.",
        example: "4826",
    },
    FieldDoc {
        name: "block_callers",
        summary: "Callers who never ring a remote destination (the desk still rings; `TwinningRefused` `Reason: caller`).",
        values: "Comma-separated numbers, prefixes written `0161*`, and `anonymous` (a caller with no number, or one that is not digits). At most 50 entries of at most 20 digits.",
        default: "",
        details: "",
        example: "anonymous, 0161*",
    },
    FieldDoc {
        name: "allow_callers",
        summary: "If set, only these callers reach the remote destinations; the desk rings for everyone.",
        values: "As `block_callers`. Empty: every caller not blocked.",
        default: "",
        details: "",
        example: "447700900123, 0161*",
    },
    FieldDoc {
        name: "accountcode",
        summary: "The account code the user's remote legs are billed to: the twinning user's, not the caller's.",
        values: "1 to 40 letters, digits, `.`, `_` or `-`. Empty: the legs keep the PBX's usual account code.",
        default: "",
        details: "",
        example: "sales-1001",
    },
    FieldDoc {
        name: "caller_id_fallback",
        summary: "The caller ID a remote leg is dialed with once more when the trunk refuses the first at once (`TwinningLeg` `State: retried`); never a second time.",
        values: "`extension`, `did` or a fixed number, as `caller_id` takes them, but not `original`: a fallback is a company number. Empty: off.",
        default: "",
        details: "",
        example: "extension",
    },
    FieldDoc {
        name: "mobile_access",
        summary: "Mobile Direct Access: a call from one of the user's remote destinations to `TwinningAccess` (FreeSWITCH `twinning_access`) may, after the user's PIN, dial a number as the user.",
        values: "`yes` or `no`.",
        default: "no",
        details: "The user must have a `pin`: access is never granted without one. The number dialed is checked by the destination policy, and dialed in `access_context` with the user's extension as caller ID number and the user's `accountcode`. The calling number must be digits with at most a leading `+`, and a destination switched off by its own `mobile<n>_enabled = no` is not matched.",
        example: "yes",
    },
    FieldDoc {
        name: "mobile_callback",
        summary: "Mobile Callback: a call from one of the user's remote destinations to `TwinningCallback` (FreeSWITCH `twinning_callback`) is not answered; if the caller hangs up within `callback_window`, that same number is called back and gets the access flow.",
        values: "`yes` or `no`.",
        default: "no",
        details: "Refused while the user has a twinned call or a callback pending. Only the number that called is ever called back, if the destination policy allows it, billed to the user's `accountcode`; all of it is checked again just before the call back.",
        example: "yes",
    },
    FieldDoc {
        name: "access_rate",
        summary: "The most access and callback calls the user may make in an hour; the next is refused with a `TwinningAccess` event.",
        values: "1 to 100.",
        default: "10",
        details: "",
        example: "4",
    },
    FieldDoc {
        name: "mobile<n>",
        summary: "Remote destination n (2 to 10): a second mobile, the home office. It rings alongside `mobile`, validated and policed exactly like it; the first real answer wins.",
        values: "As `mobile`. Empty: no destination n.",
        default: "",
        details: "Each destination takes one slot of `max_concurrent`. Changing it from a phone needs the user's PIN on the same call, as `mobile` does.",
        example: "01632960123",
    },
    FieldDoc {
        name: "mobile<n>_enabled",
        summary: "Whether destination n rings.",
        values: "`yes`, `no`, or empty for the user's `enabled`.",
        default: "(the user's enabled)",
        details: "Reads back the value in force: its own, or the user's.",
        example: "no",
    },
    FieldDoc {
        name: "mobile<n>_dial_delay",
        summary: "How long after the call starts destination n starts ringing.",
        values: "0 to 120 s, or empty for the user's `dial_delay`. Seconds, with up to three decimals (`2.5`), or milliseconds (`2500ms`).",
        default: "(the user's dial_delay)",
        details: "Reads back the value in force: its own, or the user's.",
        example: "4",
    },
    FieldDoc {
        name: "mobile<n>_answer_guard",
        summary: "Destination n's answer guard: an answer sooner than this is taken for voicemail and that leg dropped.",
        values: "0 to 30 s, or empty for the user's `answer_guard`. Seconds, with up to three decimals (`2.5`), or milliseconds (`2500ms`).",
        default: "(the user's answer_guard)",
        details: "A landline has no carrier voicemail to guard against: 0 suits it. Reads back the value in force.",
        example: "0",
    },
    FieldDoc {
        name: "mobile<n>_ring_time",
        summary: "How long destination n rings before its own leg ends (`TwinningLeg` `State: noanswer`) while the others ring on.",
        values: "5 to 600 s, or empty for the user's `ring_time`. Seconds, with up to three decimals (`2.5`), or milliseconds (`2500ms`).",
        default: "(the user's ring_time)",
        details: "The user's `ring_time` still ends the whole call, so a longer value here has no effect past it. Reads back the value in force.",
        example: "12",
    },
];

/// Every `[general]` key but the per-user defaults.
pub const GENERAL: &[GeneralDoc] = &[
    GeneralDoc {
        name: "mobile_dial",
        group: Group::Dialing,
        summary: "How a remote destination is dialed.",
        values: "A dial string with `{number}` exactly once after `Tech/`: `PJSIP/{number}@mobile-trunk`, `Local/{number}@twinning-out`; FreeSWITCH `sofia/gateway/mobile-trunk/{number}`.",
        default: "(required)",
        details: "Only a validated number (digits and a leading `+`) is ever put in `{number}`, so nothing a user sets can alter this dial string.",
        example: "PJSIP/{number}@mobile-trunk",
    },
    GeneralDoc {
        name: "max_concurrent",
        group: Group::Dialing,
        summary: "Most remote legs ringing or up at once, all users together; each destination counts. Beyond it a destination is not rung (`TwinningRefused` `Reason: cap`).",
        values: "1 to 100000.",
        default: "20",
        details: "With a shared store (`settings_store = postgresql`) it holds for the site: set the same value on every node. A lease request the database does not answer within 2 s refuses that remote leg (the desk still rings) rather than counting alone; while the database is down, each node counts alone.",
        example: "20",
    },
    GeneralDoc {
        name: "allowed_prefixes",
        group: Group::Policy,
        summary: "If set, a number must start with one of these.",
        values: "Comma-separated prefixes (digits, optional leading `+`).",
        default: "",
        details: "",
        example: "07, +447, 00447",
    },
    GeneralDoc {
        name: "blocked_prefixes",
        group: Group::Policy,
        summary: "A number starting with one of these is never dialed (premium rate and the like). A block always wins.",
        values: "Comma-separated prefixes.",
        default: "",
        details: "",
        example: "09, 0871, +449",
    },
    GeneralDoc {
        name: "international_prefixes",
        group: Group::Policy,
        summary: "How an international number starts.",
        values: "Comma-separated prefixes.",
        default: "00, +",
        details: "",
        example: "00, +",
    },
    GeneralDoc {
        name: "home_prefixes",
        group: Group::Policy,
        summary: "Numbers starting with these are domestic even if they look international.",
        values: "Comma-separated prefixes.",
        default: "",
        details: "",
        example: "+44, 0044",
    },
    GeneralDoc {
        name: "allow_international",
        group: Group::Policy,
        summary: "Whether international numbers may be rung.",
        values: "`yes` or `no`.",
        default: "no",
        details: "",
        example: "no",
    },
    GeneralDoc {
        name: "min_digits",
        group: Group::Policy,
        summary: "The fewest digits a number may have.",
        values: "1 to 20, at most `max_digits`.",
        default: "3",
        details: "",
        example: "4",
    },
    GeneralDoc {
        name: "max_digits",
        group: Group::Policy,
        summary: "The most digits a number may have.",
        values: "1 to 20.",
        default: "15",
        details: "",
        example: "15",
    },
    GeneralDoc {
        name: "trusted_gateways",
        group: Group::Identity,
        summary: "Devices whose calls may act for users the dialplan identifies by caller ID.",
        values: "Comma-separated devices in the forms `desk` takes: `PJSIP/<endpoint>`, `user/<id>[@domain]`, `sofia/<profile>/<address>[:port]`; e.g. `PJSIP/sbc1, sofia/external/192.0.2.7`.",
        default: "",
        details: "Normally a change, a pickup, the twinning key or a PIN entry acts for a user only from that user's `desk`. A call from a listed device may act for whichever user the dialplan names. List only a gateway that authenticates its own phones (an SBC, another PBX): anyone who can send a call through it with a forged caller ID can otherwise act for any user.",
        example: "PJSIP/sbc1, sofia/external/192.0.2.7",
    },
    GeneralDoc {
        name: "pin_max_attempts",
        group: Group::Pin,
        summary: "Wrong PINs within `pin_window` that lock the user out.",
        values: "1 to 20.",
        default: "3",
        details: "Counted per user across calls, in memory: a reload keeps the counts; a restart or a module unload clears them.",
        example: "3",
    },
    GeneralDoc {
        name: "pin_lockout",
        group: Group::Pin,
        summary: "How long the first lockout lasts; during it every PIN is refused, the right one included.",
        values: "1 to 86400 s.",
        default: "300",
        details: "Each further lockout before a right PIN doubles it, up to 24 h. A right PIN clears the count; setting a new PIN lifts a lockout.",
        example: "300",
    },
    GeneralDoc {
        name: "pin_window",
        group: Group::Pin,
        summary: "How long a wrong PIN counts towards a lockout.",
        values: "1 to 86400 s.",
        default: "3600",
        details: "",
        example: "3600",
    },
    GeneralDoc {
        name: "handover_timeout",
        group: Group::CallControl,
        summary: "How long the other device rings when a call is pushed or pulled; unanswered, the call stays where it was.",
        values: "5 to 120 s.",
        default: "15",
        details: "",
        example: "15",
    },
    GeneralDoc {
        name: "push_code",
        group: Group::CallControl,
        summary: "Keyed on the desk during a call: send the call to the mobile.",
        values: "Up to 8 of `0-9`, `*`, `#`; empty switches it off.",
        default: "*8",
        details: "",
        example: "*8",
    },
    GeneralDoc {
        name: "desk_code",
        group: Group::CallControl,
        summary: "Keyed on the mobile during a call: move the call to the desk.",
        values: "Up to 8 of `0-9`, `*`, `#`; empty switches it off. The mobile's codes may not be prefixes of one another.",
        default: "**1",
        details: "",
        example: "**1",
    },
    GeneralDoc {
        name: "hold_code",
        group: Group::CallControl,
        summary: "Keyed on the mobile: put the caller on hold (music), or take them off it.",
        values: "As `desk_code`.",
        default: "**2",
        details: "",
        example: "**2",
    },
    GeneralDoc {
        name: "transfer_code",
        group: Group::CallControl,
        summary: "Keyed on the mobile, then an extension and `#`: blind-transfer the caller to that extension in `transfer_context`.",
        values: "As `desk_code`.",
        default: "**3",
        details: "Whoever holds the mobile can reach any extension of `transfer_context`: the digits are sent unchecked, with no destination policy applied, so that context must hold internal extensions only.",
        example: "**3",
    },
    GeneralDoc {
        name: "transfer_context",
        group: Group::CallControl,
        summary: "The dialplan context a blind transfer from the mobile dials the extension in.",
        values: "1 to 64 letters, digits, `_` or `-`.",
        default: "default",
        details: "The digits keyed after `transfer_code` are sent to this context unchecked: no destination policy applies. It must hold internal extensions only, never a context that includes outside routes or the desks' contexts; the default, `default`, is safe only if that context holds nothing else. Consults never use it: `consult_context` has no fallback to it.",
        example: "twinning-transfer",
    },
    GeneralDoc {
        name: "desk_pickup_time",
        group: Group::CallControl,
        summary: "When the mobile hangs up, hold the caller (music on hold) this long and ring the desk, which can take the call back.",
        values: "0 to 120 s; 0 switches it off.",
        default: "0",
        details: "After the time the caller is let go and the dialplan continues.",
        example: "10",
    },
    GeneralDoc {
        name: "consult_code",
        group: Group::CallControl,
        summary: "Keyed on the mobile, then a number and `#`: hold the caller (music on hold) and call the number as the user, in `consult_context`.",
        values: "As `desk_code`.",
        default: "**4",
        details: "The consult call presents the user's extension (the user's section name) as its caller ID number and is billed to the user's `accountcode`. The number must pass the destination policy, and `consult_context` must be set, or the consult is refused (`TwinningConsult` `Result: refused`) and the caller is never held. While consulting the mobile has `attended_code`, `conference_code` and `drop_code`; the third party hanging up brings it back to the caller, and the mobile hanging up after the answer completes the transfer.",
        example: "**4",
    },
    GeneralDoc {
        name: "attended_code",
        group: Group::CallControl,
        summary: "Keyed on the mobile while consulting: the caller and the third party talk, and the mobile leaves (attended transfer).",
        values: "As `desk_code`.",
        default: "**5",
        details: "Only once the third party answered. In a conference, the same code lets the mobile leave the other two talking. Reported as `TwinningTransfer` with `Kind: attended`.",
        example: "**5",
    },
    GeneralDoc {
        name: "conference_code",
        group: Group::CallControl,
        summary: "Keyed on the mobile while consulting: the caller, the third party and the mobile in one conference.",
        values: "As `desk_code`.",
        default: "**6",
        details: "Only once the third party answered; the PBX's own bridge mixes the three (Asterisk's bridge, FreeSWITCH's). Whoever leaves, the other two talk on; the caller hanging up ends the call. Reported as `TwinningConference`.",
        example: "**6",
    },
    GeneralDoc {
        name: "drop_code",
        group: Group::CallControl,
        summary: "Keyed on the mobile while consulting: drop the third party and return to the caller.",
        values: "As `desk_code`.",
        default: "**7",
        details: "Also while the third party still rings. In a conference, it drops the third party from it. The caller is taken off hold unless the hold code had held them before the consult.",
        example: "**7",
    },
    GeneralDoc {
        name: "consult_context",
        group: Group::CallControl,
        summary: "The dialplan context a consult call from the mobile is placed in.",
        values: "1 to 64 letters, digits, `_` or `-`, or empty.",
        default: "",
        details: "Not built yet: the setting is validated so a configuration can carry it, but consulting from the mobile does not exist in this version, and the codes keyed today are no code. It must be set explicitly: empty (the default) means a consult is refused, and it never falls back to `transfer_context`, which holds internal extensions only. Point it at a context of its own whose route dials the number unchanged, as the destination policy checked it (see the book's *Mobile Direct Access*).",
        example: "twinning-consult",
    },
    GeneralDoc {
        name: "country_code",
        group: Group::MobileAccess,
        summary: "The site's country code, which makes `+44…`, `0044…` and the national `0…` one number when a calling mobile is matched to a user.",
        values: "1 to 3 digits not starting with 0, or empty.",
        default: "",
        details: "Empty: an international form is matched only with an international form, a national one only with a national one.",
        example: "44",
    },
    GeneralDoc {
        name: "access_context",
        group: Group::MobileAccess,
        summary: "The dialplan context Mobile Direct Access and Mobile Callback dial the number in, as the user.",
        values: "1 to 64 letters, digits, `_` or `-`, or empty.",
        default: "",
        details: "Empty: access and callback calls are refused. The number has passed the destination policy first; the call carries the user's extension as caller ID number and the user's `accountcode`.",
        example: "twinning-access",
    },
    GeneralDoc {
        name: "callback_window",
        group: Group::MobileAccess,
        summary: "A callback request counts only if the caller hangs up within this time of the call starting.",
        values: "5 to 120 s.",
        default: "30",
        details: "",
        example: "30",
    },
    GeneralDoc {
        name: "callback_delay",
        group: Group::MobileAccess,
        summary: "How long after the caller hung up the callback is placed.",
        values: "1 to 60 s.",
        default: "5",
        details: "",
        example: "5",
    },
    GeneralDoc {
        name: "settings_store",
        group: Group::Store,
        summary: "Where runtime changes are kept.",
        values: "`file` (this node's own journal) or `postgresql` (one database shared by every node of the site).",
        default: "file",
        details: "Takes effect when the module is loaded; a reload that changes it is refused and changes nothing. While the database is down the node runs on its last known settings, changes are refused, and the cap is counted by each node alone.",
        example: "file",
    },
    GeneralDoc {
        name: "settings_dsn",
        group: Group::Store,
        summary: "The PostgreSQL database of a shared store.",
        values: "A URL, `postgresql://user:password@host:port/database`. Needed with, and only with, `settings_store = postgresql`. No TLS: `sslmode=require` is refused at load.",
        default: "",
        details: "A password is never shown (`****`). A DSN that can never work (malformed, a wrong password, no such database, insufficient privilege, a newer schema) fails the load; a database that is only down does not. Takes effect at load.",
        example: "postgresql://twinning:secret@db.example.com:5432/twinning",
    },
    GeneralDoc {
        name: "node_name",
        group: Group::Store,
        summary: "This node's name in a shared store's leases, audit rows and events; must differ between nodes.",
        values: "1 to 63 letters, digits, `-`, `_` or `.`.",
        default: "(the host name)",
        details: "Takes effect at load.",
        example: "pbx-a",
    },
];

/// The entry for `field`; `None` only if a field was added without one (a test fails).
pub fn field_doc(field: Field) -> Option<&'static FieldDoc> {
    let name = pattern_name(field);
    FIELDS.iter().find(|d| d.name == name)
}

/// The entry for a `[general]` key, per-user defaults aside.
pub fn general_doc(key: &str) -> Option<&'static GeneralDoc> {
    GENERAL.iter().find(|d| d.name.eq_ignore_ascii_case(key))
}

/// A field's name, or for destinations 2 … 10 its pattern (`mobile<n>_ring_time`).
pub fn pattern_name(field: Field) -> &'static str {
    match field {
        Field::Destination(_, f) => match f {
            DestinationField::Number => "mobile<n>",
            DestinationField::Enabled => "mobile<n>_enabled",
            DestinationField::DialDelay => "mobile<n>_dial_delay",
            DestinationField::AnswerGuard => "mobile<n>_answer_guard",
            DestinationField::RingTime => "mobile<n>_ring_time",
        },
        f => f.name(),
    }
}

/// The concrete fields a pattern (or a plain name) stands for, in order.
pub fn fields_of(doc: &FieldDoc) -> Vec<Field> {
    Field::ALL.iter().copied().filter(|&f| pattern_name(f) == doc.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Config, DeskDevice, RawConfig, UserSettings};

    const MINIMAL: &str = "[general]\nmobile_dial = PJSIP/{number}@mobile-trunk\n";

    #[test]
    fn every_field_has_an_entry_and_every_entry_a_field() {
        for f in Field::ALL {
            let doc =
                field_doc(f).unwrap_or_else(|| panic!("field {f} has no entry in settings/reference.rs"));
            assert!(!doc.summary.is_empty() && !doc.values.is_empty(), "{f}: empty description");
        }
        for doc in FIELDS {
            assert!(!fields_of(doc).is_empty(), "reference entry '{}' names no field", doc.name);
        }
    }

    /// Every key the `[general]` parsers match on, read from their source, so a key added
    /// there without an entry here fails this test.
    fn keys_in_parsers() -> Vec<String> {
        keys_in(&[
            include_str!("config.rs"),
            include_str!("call_control.rs"),
            include_str!("access.rs"),
            include_str!("store_config.rs"),
            include_str!("../pin_guard.rs"),
        ])
    }

    fn keys_in(sources: &[&str]) -> Vec<String> {
        let mut keys = Vec::new();
        for source in sources {
            // Only the code, not the tests module, whose literals are sample values.
            let code = source.split("#[cfg(test)]").next().unwrap_or(source);
            for line in code.lines() {
                let t = line.trim_start();
                // Match arms: `"key" => …` or `"a" | "b" => …`.
                let Some(arm) = t.split("=>").next().filter(|_| t.contains("=>")) else { continue };
                for alt in arm.split('|') {
                    let alt = alt.trim();
                    if let Some(k) = alt.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
                        if !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                            keys.push(k.to_owned());
                        }
                    }
                }
            }
        }
        // Values matched in the same way, not keys.
        keys.retain(|k| !matches!(k.as_str(), "file" | "postgresql" | "general"));
        keys.sort();
        keys.dedup();
        keys
    }

    #[test]
    fn the_scan_finds_match_arms() {
        let source = "match key {\n    \"alpha\" => 1,\n    \"beta\" | \"gamma_x\" => 2,\n    other => 3,\n}\n#[cfg(test)]\n\"delta\" => 4\n";
        assert_eq!(keys_in(&[source]), ["alpha", "beta", "gamma_x"]);
        assert!(general_doc("alpha").is_none(), "so a new key like it fails every_general_key_has_an_entry");
    }

    #[test]
    fn every_general_key_has_an_entry() {
        let keys = keys_in_parsers();
        assert!(keys.len() >= GENERAL.len(), "the parser scan found too few keys: {keys:?}");
        for k in &keys {
            assert!(general_doc(k).is_some(), "[general] key '{k}' has no entry in settings/reference.rs");
        }
        for doc in GENERAL {
            assert!(!doc.summary.is_empty() && !doc.values.is_empty(), "{}: empty description", doc.name);
            assert!(
                keys.contains(&doc.name.to_string()),
                "reference entry '{}' is no [general] key",
                doc.name
            );
        }
    }

    #[test]
    fn every_example_is_accepted() {
        for doc in GENERAL {
            let mut text = MINIMAL.to_string();
            if doc.name == "settings_dsn" {
                text.push_str("settings_store = postgresql\n");
            }
            if doc.name != "mobile_dial" {
                text.push_str(&format!("{} = {}\n", doc.name, doc.example));
            }
            let raw = RawConfig::parse_conf(&text).unwrap();
            Config::from_raw(&raw).unwrap_or_else(|e| panic!("{} = {}: {e}", doc.name, doc.example));
        }
        let policy = crate::DestinationPolicy::default();
        for f in Field::ALL {
            let doc = field_doc(f).unwrap();
            let mut user = UserSettings::builtin(DeskDevice::parse("PJSIP/x").unwrap());
            user.set(f, doc.example, &policy).unwrap_or_else(|e| panic!("{f} = {}: {e}", doc.example));
        }
    }

    #[test]
    fn stated_defaults_are_the_code_s() {
        let user = UserSettings::builtin(DeskDevice::parse("PJSIP/x").unwrap());
        for f in Field::ALL {
            let doc = field_doc(f).unwrap();
            if doc.default.starts_with('(') {
                continue;
            }
            assert_eq!(user.get(f), doc.default, "{f}: the reference says its default is '{}'", doc.default);
        }
        // A destination's own value defaults to the user's field its phrase names.
        for f in Field::ALL {
            if let Field::Destination(_, d) = f {
                if d != DestinationField::Number {
                    let doc = field_doc(f).unwrap();
                    assert_eq!(doc.default, format!("(the user's {})", d.user_field().name()), "{f}");
                }
            }
        }

        let config = Config::from_raw(&RawConfig::parse_conf(MINIMAL).unwrap()).unwrap();
        let g = &config.general;
        for doc in GENERAL {
            let actual: String = match doc.name {
                "mobile_dial" | "node_name" => continue, // required; the host name
                "max_concurrent" => g.max_concurrent.to_string(),
                "allowed_prefixes" => g.policy.allowed_prefixes.join(", "),
                "blocked_prefixes" => g.policy.blocked_prefixes.join(", "),
                "international_prefixes" => g.policy.international_prefixes.join(", "),
                "home_prefixes" => g.policy.home_prefixes.join(", "),
                "allow_international" => if g.policy.allow_international { "yes" } else { "no" }.into(),
                "min_digits" => g.policy.min_digits.to_string(),
                "max_digits" => g.policy.max_digits.to_string(),
                "trusted_gateways" => g.trusted_gateways.join(", "),
                "pin_max_attempts" => g.pin.max_attempts.to_string(),
                "pin_lockout" => g.pin.lockout.to_string(),
                "pin_window" => g.pin.window.to_string(),
                "handover_timeout" => g.call_control.handover_timeout.to_string(),
                "push_code" => g.call_control.push_code.to_string(),
                "desk_code" => g.call_control.desk_code.to_string(),
                "hold_code" => g.call_control.hold_code.to_string(),
                "transfer_code" => g.call_control.transfer_code.to_string(),
                "transfer_context" => g.call_control.transfer_context.clone(),
                "desk_pickup_time" => g.call_control.desk_pickup_time.to_string(),
                "consult_code" => g.call_control.consult_code.to_string(),
                "attended_code" => g.call_control.attended_code.to_string(),
                "conference_code" => g.call_control.conference_code.to_string(),
                "drop_code" => g.call_control.drop_code.to_string(),
                "consult_context" => g.call_control.consult_context.clone().unwrap_or_default(),
                "country_code" => g.access.country_code.clone(),
                "access_context" => g.access.access_context.clone().unwrap_or_default(),
                "callback_window" => g.access.callback_window.to_string(),
                "callback_delay" => g.access.callback_delay.to_string(),
                "settings_store" => g.store.store.name().into(),
                "settings_dsn" => match &g.store.store {
                    crate::SettingsStore::Postgresql { dsn } => dsn.clone(),
                    crate::SettingsStore::File => String::new(),
                },
                other => panic!("no default check for [general] key '{other}': add it here"),
            };
            assert_eq!(
                actual, doc.default,
                "[general] {}: the reference says its default is '{}'",
                doc.name, doc.default
            );
        }
        assert_eq!(g.store.node_name, None, "node_name defaults to the host name");
        assert!(
            Config::from_raw(&RawConfig::parse_conf("[general]\n").unwrap()).is_err(),
            "mobile_dial is required"
        );
    }

    #[test]
    fn admin_only_is_said_where_the_code_says_it() {
        for f in Field::ALL {
            let doc = field_doc(f).unwrap();
            assert_eq!(
                doc.details.contains("Admin-only"),
                !f.runtime_writable(),
                "{f}: the reference and Field::runtime_writable disagree"
            );
        }
    }
}
