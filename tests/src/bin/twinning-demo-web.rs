//! `scripts/demo --web`: the demo PBX with `twinctl serve` and its web pages. A demo user
//! (1001, PIN 1234) and an admin (admin / demo-admin) log in; each press of Enter places
//! a SIPp call to 1001 that the desk answers after 2 s and that lasts two minutes, so the
//! page's "Send to mobile" and "Take back to desk" can move it while SIPp phones answer:
//! the desk answers every call it gets (the pull rings it again), the trunk answers the
//! mobile after 4 s (so the desk wins the first ringing, and a push is answered).

use std::io::BufRead;

use twinning_tests::console::{ConsoleConfig, NodeSpec};
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};

const CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
blocked_prefixes = 09, 0871, +449
answer_guard = 0

[1001]
desk = PJSIP/desk1001
mobile = 07700900123
enabled = yes
pin = 1234
";

fn main() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(CONF, "", ports);
    let hash = ConsoleConfig::new(&[], "").run_with_input(&["hash-password"], "demo-admin\n");
    assert_eq!(hash.code, 0, "twinctl hash-password: {}", hash.stderr);
    let config = ConsoleConfig::new(
        &[NodeSpec::asterisk("demo", pbx.ami_port)],
        &format!("[[admin]]\nlogin = \"admin\"\npassword_hash = \"{}\"\n", hash.stdout.trim()),
    );
    let serve = config.serve();
    println!("\n== twinctl serve: the web pages of the demo PBX\n");
    println!("  user page:  http://127.0.0.1:{}/login      extension 1001, PIN 1234", serve.port);
    println!("  admin:      http://127.0.0.1:{}/admin/login  admin / demo-admin", serve.port);
    println!("\nPress Enter to place a call to 1001 (the desk answers after 2 s, the mobile after 4 s;");
    println!("the call lasts 2 min), then push and pull it from the page. Ctrl-D or Ctrl-C stops.\n");
    let mut phones = Vec::new();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
        phones.clear();
        phones.push(Phone::uas_all(
            &pbx,
            "desk",
            ports.desk,
            &Answer::After { after_ms: 2000, dtmf: vec![] },
        ));
        phones.push(Phone::trunk(&pbx, "trunk", ports.mobile, &[("07700900123", 4000)], 10));
        phones.push(Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 120_000 }));
        println!("calling 1001: watch the page");
    }
}
