//! The toll-fraud corpus: numbers a user, a script or an attacker might try to twin, fed
//! through every surface of both modules (tests/tests/toll_fraud.rs for Asterisk,
//! tests/tests/freeswitch.rs for FreeSWITCH). Policy used with it: premium and directory
//! numbers blocked, international numbers (00, +, 011) refused unless home (+44, 0044).

/// An Asterisk twinning.conf with the corpus's policy: premium and directory numbers
/// blocked, international numbers (00, +, and the North American 011) refused unless they
/// are home numbers; user 1001 twinned to `mobile`, and 1002.
pub fn policy_conf(mobile: &str) -> String {
    format!(
        "\
[general]
mobile_dial = PJSIP/{{number}}@mobile-trunk
answer_guard = 0
blocked_prefixes = 09, 0871, 118, 1900, +449, 00449, +1900
international_prefixes = 00, +, 011
home_prefixes = +44, 0044
allow_international = no
min_digits = 4
max_digits = 15

[1001]
desk = PJSIP/desk1001
mobile = {mobile}
enabled = yes

[1002]
desk = PJSIP/desk1002
mobile = 07700900456
enabled = yes
"
    )
}

/// Numbers a user, a script or an attacker might try to twin. Each either carries
/// something that could alter a dial string or an expression, is not plain ASCII digits,
/// is too long, or is a destination the policy forbids; each also names another
/// destination, so a payload that got through would show at the trunk.
pub fn corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        // Dial-string and application-argument separators.
        "07700900999&PJSIP/desk1002",
        "07700900999&Local/0900123456@default",
        "07700900999,30,D(1)",
        "07700900999@evil-trunk",
        "PJSIP/0900123456@mobile-trunk",
        "07700900999/n",
        "0770(0900999)",
        "07700900999)",
        "07700900999|0900123456",
        "07700900999;0900123456",
        "07700900999:_:user/0900123456",
        "<sip:0900123456@evil>",
        "07700900999#",
        "*2107700900999",
        "0770%260900999",
        "\"07700900999\"",
        "'07700900999'",
        "07700900999\\",
        "0770`id`",
        // Expressions, which must never be evaluated again.
        "${EXTEN}",
        "${SHELL(touch /tmp/twinning-pwned)}",
        "0${TWINNING(1002,mobile)}",
        "$[07700900999+1]",
        "$[${EXTEN}]",
        // White space and control characters inside the number.
        "0770 0900999",
        "0770\t0900999",
        "0770\r0900999",
        "0770\n0900999",
        "07700900999\r\nAction: Originate",
        "+\u{0}07700900999",
        "0770\u{7}0900999",
        "\u{1b}[2J07700900999",
        "0770\u{7f}0900999",
        // Digits that are not ASCII digits, and invisible characters.
        "０７７００９００９９９",
        "٠٧٧٠٠٩٠٠٩٩٩",
        "۰۷۷۰۰۹۰۰۹۹۹",
        "०७७००९००९९९",
        "07700900999\u{200b}",
        "\u{202e}99900900770",
        "0770\u{a0}0900999",
        // Too long, or malformed.
        "++447700900999",
        "+",
        "0770090099912345",
        "12",
        // Destinations the policy forbids.
        "09001234567",
        "08712345678",
        "118118",
        "1900555012",
        "+449001234567",
        "00449001234567",
        "+33612345678",
        "0033612345678",
        "01133612345678",
        "+19005550123",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    c.push("1".repeat(40));
    c.push(format!("+{}", "4".repeat(25)));
    c
}
