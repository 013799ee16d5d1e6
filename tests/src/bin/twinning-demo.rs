//! The README's run command: app_twinning.so in the provisioned Asterisk 22, loaded with
//! the sample configuration and driven the way an admin would, with a timeline of what
//! Asterisk reported.

use std::time::{Duration, Instant};

use twinning_tests::module_build::workspace_root;
use twinning_tests::{Instance, InstanceConfig, Message};

fn main() {
    let sample = std::fs::read_to_string(workspace_root().join("asterisk-module/conf/twinning.conf.sample"))
        .expect("read the sample twinning.conf");
    println!("== Starting Asterisk with app_twinning.so and the sample twinning.conf");
    let a = Instance::start(InstanceConfig::default().file("twinning.conf", &sample));
    let started = Instant::now();
    let mut ami = a.ami();

    section("asterisk -rx 'module show like twinning'");
    print!("{}", a.cli("module show like twinning"));
    section("asterisk -rx 'twinning show users'");
    print!("{}", a.cli("twinning show users"));

    section("AMI TwinningSet: user 1002 switches twinning on");
    show_response(&ami.action("TwinningSet", &[("User", "1002"), ("Field", "enabled"), ("Value", "yes")]));
    section("AMI TwinningSet: someone tries to twin 1001 to a premium-rate number");
    show_response(
        &ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "09012345678")]),
    );
    section("AMI TwinningSet: ...and to inject a second dial target");
    show_response(&ami.action(
        "TwinningSet",
        &[("User", "1001"), ("Field", "mobile"), ("Value", "07700900123&PJSIP/9999")],
    ));
    section("asterisk -rx 'twinning set 1001 schedule mon-fri 08:00-18:00'");
    print!("{}", a.cli("twinning set 1001 schedule mon-fri 08:00-18:00"));
    section("AMI Getvar TWINNING(1001,schedule)");
    show_response(&ami.action("Getvar", &[("Variable", "TWINNING(1001,schedule)")]));
    section("asterisk -rx 'twinning show user 1001'");
    print!("{}", a.cli("twinning show user 1001"));

    section("Timeline of AMI events");
    let mut events: Vec<Message> = Vec::new();
    for name in ["TwinningSettingsChanged", "TwinningSettingsRefused"] {
        events.extend(ami.drain_events(name, Duration::from_millis(300)));
    }
    let stamp = |e: &Message| e.get("Timestamp").and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
    events.sort_by(|a, b| stamp(a).total_cmp(&stamp(b)));
    let first = events.first().map(stamp).unwrap_or(0.0);
    for e in &events {
        let what = e.must("Event");
        let detail = match what {
            "TwinningSettingsChanged" => format!(
                "{}.{}: '{}' -> '{}' (by {})",
                e.must("User"),
                e.must("Field"),
                e.must("OldValue"),
                e.must("Value"),
                e.must("Source")
            ),
            _ => format!(
                "{}.{} refused (by {}): {}",
                e.must("User"),
                e.must("Field"),
                e.must("Source"),
                e.must("Reason")
            ),
        };
        println!("  +{:>6.3}s  {:<24} {detail}", stamp(e) - first, what);
    }
    println!(
        "\nDemo finished in {:.1} s; Asterisk is stopped and its scratch directory removed.",
        started.elapsed().as_secs_f64()
    );
}

fn section(title: &str) {
    println!("\n-- {title}");
}

fn show_response(m: &Message) {
    for (k, v) in &m.headers {
        if k != "ActionID" {
            println!("  {k}: {v}");
        }
    }
}
