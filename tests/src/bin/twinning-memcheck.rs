//! The module under valgrind memcheck (`scripts/memcheck`): a private Asterisk runs in the
//! foreground under `valgrind --leak-check=full` (TWINNING_ASTERISK_WRAPPER, see
//! tests/src/asterisk.rs) through a set of twinned calls (desk answers, mobile answers, no
//! answer, the caller cancels, a push to the mobile and a pull to the desk by AMI, a push
//! by the desk's key code, the desk's pickup code *27, the mobile holding the caller, two
//! remote destinations with the second answering), the twinning key and the lamps read, a
//! settings write from each surface, a module reload and an unload; then Asterisk stops
//! and valgrind's report is read. Every error and leak is counted; errors and definite or
//! indirect leaks with a frame in app_twinning.so (the module's Rust code, asterisk-sys's C
//! shim) are printed in full. Exits non-zero if there is one, or if a step failed.
//!
//! Options: `--keep` keeps the instance directory (valgrind.log in it); `--only <text>` runs
//! only the steps whose name contains the text (and the unload).

use std::time::{Duration, Instant};

use twinning_tests::asterisk::slowdown;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::{dialplan, Ami, Instance};

const WAIT: Duration = Duration::from_secs(240);

/// Valgrind's options; `{dir}` is the instance directory, where the log goes.
const VALGRIND: &str =
    "valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
--errors-for-leak-kinds=definite,indirect --num-callers=30 --keep-debuginfo=yes --error-limit=no \
--log-file={dir}/valgrind.log";

fn ring(after_ms: u64) -> Answer {
    Answer::After { after_ms, dtmf: vec![] }
}

struct Run {
    /// `--only <text>`: run just the steps whose name contains it (and the unload).
    only: Option<String>,
    pbx: Instance,
    ami: Ami,
    ports: PhonePorts,
    steps: Vec<(String, Result<(), String>, Duration)>,
}

impl Run {
    fn step(&mut self, name: &str, f: impl FnOnce(&mut Run) -> Result<(), String>) {
        if self.only.as_ref().is_some_and(|o| !name.contains(o.as_str()) && name != "module unload") {
            return;
        }
        let started = Instant::now();
        println!("memcheck: {name} ...");
        let result = f(self);
        if let Err(e) = &result {
            println!("memcheck: {name}: FAILED: {e}");
        }
        self.steps.push((name.to_owned(), result, started.elapsed()));
    }

    /// One call to 1001: the desk and the mobile answer as given, the caller as given;
    /// waits for the call's end and checks its status.
    fn call(&mut self, desk: Answer, mobile: Answer, caller: Caller, status: &str) -> Result<(), String> {
        let mut desk = Phone::uas(&self.pbx, "desk", self.ports.desk, &desk);
        let mut mobile = Phone::uas(&self.pbx, "mobile", self.ports.mobile, &mobile);
        let mut caller = Phone::call(&self.pbx, "caller", "1001", &caller);
        let end = self.ami.event("TwinningEnd", &[], WAIT).ok_or("no TwinningEnd")?;
        caller.wait(WAIT);
        desk.wait(Duration::from_secs(30));
        mobile.wait(Duration::from_secs(30));
        expect(end.must("Status"), status)
    }

    /// A call answered by `first` (desk or mobile), moved to the other device, which
    /// answers; `how` starts the move (AMI, or nothing when the answering phone keys it).
    fn handover(&mut self, first: &str, answer: Answer, ami: bool) -> Result<(), String> {
        let (desk_answer, mobile_answer) =
            if first == "desk" { (answer, Answer::Never) } else { (Answer::Never, answer) };
        let mut desk = Phone::uas(&self.pbx, "desk", self.ports.desk, &desk_answer);
        let mut mobile = Phone::uas(&self.pbx, "mobile", self.ports.mobile, &mobile_answer);
        let mut caller = Phone::call(&self.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 25_000 });
        self.ami.event("TwinningBridged", &[("Leg", first)], WAIT).ok_or("never bridged")?;
        let (other, port) =
            if first == "desk" { (&mut mobile, self.ports.mobile) } else { (&mut desk, self.ports.desk) };
        other.wait(Duration::from_secs(60));
        let to = if first == "desk" { "mobile" } else { "desk" };
        let mut new = Phone::uas(&self.pbx, &format!("{to}-2"), port, &ring(800));
        if ami {
            let r = self.ami.action("TwinningHandover", &[("User", "1001"), ("To", to)]);
            expect(r.get("Response").unwrap_or(""), "Success")?;
        }
        let h = self
            .ami
            .event("TwinningHandover", &[("Result", "completed")], WAIT)
            .ok_or("the handover did not complete")?;
        expect(h.must("To"), to)?;
        let end = self.ami.event("TwinningEnd", &[], WAIT).ok_or("no TwinningEnd")?;
        caller.wait(WAIT);
        new.wait(Duration::from_secs(30));
        desk.wait(Duration::from_secs(30));
        mobile.wait(Duration::from_secs(30));
        expect(end.must("AnsweredBy"), to)
    }
}

fn expect(got: &str, want: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("expected {want}, got {got}"))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keep = args.iter().any(|a| a == "--keep");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    if std::env::var_os("TWINNING_ASTERISK_WRAPPER").is_none() {
        std::env::set_var("TWINNING_ASTERISK_WRAPPER", VALGRIND);
    }
    println!("memcheck: Asterisk runs under: {}", std::env::var("TWINNING_ASTERISK_WRAPPER").unwrap());
    let started = Instant::now();
    let ports = PhonePorts::new();
    let conf = pbx::TWINNING_CONF
        .replace("answer_guard = 0", "answer_guard = 0\nhandover_timeout = 10\nring_time = 6");
    let pbx = pbx::start(&conf, "", ports);
    println!("memcheck: Asterisk booted in {:.0} s", started.elapsed().as_secs_f64());
    let ami = pbx.ami();
    let mut run = Run { only, pbx, ami, ports, steps: Vec::new() };

    run.step("desk answers", |r| {
        r.call(ring(500), Answer::Never, Caller::HangUpAfter { hold_ms: 2000 }, "ANSWERED")
    });
    run.step("mobile answers", |r| {
        r.call(Answer::Never, ring(500), Caller::HangUpAfter { hold_ms: 2000 }, "ANSWERED")
    });
    run.step("nobody answers", |r| {
        r.call(Answer::Never, Answer::Never, Caller::HangUpAfter { hold_ms: 1000 }, "NOANSWER")
    });
    run.step("the desk is busy, the mobile hangs up", |r| {
        r.call(
            Answer::Busy,
            Answer::AnswerThenHangUp { after_ms: 500, hold_ms: 1500 },
            Caller::HangUpAfter { hold_ms: 20_000 },
            "ANSWERED",
        )
    });
    run.step("the caller cancels", |r| {
        r.call(Answer::Never, Answer::Never, Caller::CancelAfter { ms: 2000 }, "CANCEL")
    });
    run.step("AMI pushes a desk call to the mobile", |r| r.handover("desk", ring(500), true));
    run.step("AMI pulls a mobile call to the desk", |r| r.handover("mobile", ring(500), true));
    run.step("the desk pushes by key code", |r| {
        r.handover("desk", Answer::After { after_ms: 500, dtmf: vec![(3000, "*8")] }, false)
    });
    run.step("the desk picks a mobile call up by *27", |r| {
        let mut desk = Phone::uas(&r.pbx, "desk", r.ports.desk, &Answer::Never);
        let mut mobile = Phone::uas(&r.pbx, "mobile", r.ports.mobile, &ring(500));
        let mut caller = Phone::call(&r.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 15_000 });
        r.ami.event("TwinningBridged", &[("Leg", "mobile")], WAIT).ok_or("never bridged")?;
        desk.wait(Duration::from_secs(60));
        let keyin = Caller::KeyIn { digits: String::new() };
        let mut pickup = Phone::call_as(&r.pbx, "desk-pickup", "desk1001", "*27", &keyin);
        let h = r.ami.event("TwinningHandover", &[("Result", "completed")], WAIT).ok_or("no pickup")?;
        expect(h.must("Trigger"), "featurecode")?;
        r.ami.event("TwinningEnd", &[], WAIT).ok_or("no TwinningEnd")?;
        caller.wait(WAIT);
        pickup.wait(Duration::from_secs(60));
        mobile.wait(Duration::from_secs(30));
        Ok(())
    });
    run.step("the mobile holds and resumes the caller", |r| {
        let mobile = Answer::After { after_ms: 500, dtmf: vec![(2500, "**2"), (2500, "**2")] };
        let mut desk = Phone::uas(&r.pbx, "desk", r.ports.desk, &Answer::Never);
        let mut phone = Phone::uas(&r.pbx, "mobile", r.ports.mobile, &mobile);
        let mut caller = Phone::call(&r.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 15_000 });
        r.ami.event("TwinningHold", &[("State", "off")], WAIT).ok_or("no hold and resume")?;
        r.ami.event("TwinningEnd", &[], WAIT).ok_or("no TwinningEnd")?;
        caller.wait(WAIT);
        desk.wait(Duration::from_secs(30));
        phone.wait(Duration::from_secs(30));
        Ok(())
    });
    run.step("two remote destinations, the second answers", |r| {
        for (field, value) in [("mobile2", "07700900222"), ("mobile2_answer_guard", "0")] {
            let a = r.ami.action("TwinningSet", &[("User", "1001"), ("Field", field), ("Value", value)]);
            expect(a.get("Response").unwrap_or(""), "Success")?;
        }
        let mut desk = Phone::uas(&r.pbx, "desk", r.ports.desk, &Answer::Never);
        let mut trunk = Phone::trunk(&r.pbx, "trunk", r.ports.mobile, &[("07700900222", 500)], 2);
        let mut caller = Phone::call(&r.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 1000 });
        let end = r.ami.event("TwinningEnd", &[], WAIT).ok_or("no TwinningEnd")?;
        caller.wait(WAIT);
        desk.wait(Duration::from_secs(30));
        trunk.wait(Duration::from_secs(30));
        let a = r.ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile2"), ("Value", "")]);
        expect(a.get("Response").unwrap_or(""), "Success")?;
        expect(end.must("AnsweredBy"), "mobile2")
    });
    run.step("the twinning key toggles twinning and the lamps are read", |r| {
        for expected in ["OFF", "ON"] {
            let args = format!("TARGS64={}", dialplan::base64_encode(b"1001"));
            let r2 = r.ami.action(
                "Originate",
                &[
                    ("Channel", "Local/s@twinning-button-test"),
                    ("Application", "Wait"),
                    ("Data", "10"),
                    ("Async", "true"),
                    ("Variable", &args),
                    ("Variable", "TTAG=memcheck"),
                ],
            );
            expect(r2.get("Response").unwrap_or(""), "Success")?;
            let e = r
                .ami
                .event("UserEvent", &[("UserEvent", "TwinningButtonResult")], WAIT)
                .ok_or("TwinningButton gave no result")?;
            expect(e.must("Result"), expected)?;
        }
        let v = r.ami.action("Getvar", &[("Variable", "DEVICE_STATE(Twinning:1001)")]);
        expect(v.must("Value"), "INUSE")?;
        let v = r.ami.action("Getvar", &[("Variable", "DEVICE_STATE(TwinningCall:1001)")]);
        expect(v.must("Value"), "NOT_INUSE")
    });
    run.step("settings written from AMI, the CLI and TWINNING()", |r| {
        let a = r.ami.action("TwinningSet", &[("User", "1001"), ("Field", "dial_delay"), ("Value", "1")]);
        expect(a.get("Response").unwrap_or(""), "Success")?;
        let refused =
            r.ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "0770&PJSIP/x")]);
        expect(refused.get("Response").unwrap_or(""), "Error")?;
        let cli = r.pbx.cli("twinning set 1001 answer_guard 2");
        if cli.to_lowercase().contains("error") || cli.to_lowercase().contains("refused") {
            return Err(format!("CLI: {cli}"));
        }
        let d = dialplan::write(&mut r.ami, "1001", "ring_time", "9");
        expect(&d.error, "")?;
        let read = dialplan::read(&mut r.ami, "1001", "ring_time");
        expect(&read.value, "9")
    });
    run.step("module reload", |r| {
        let out = r.pbx.cli("module reload app_twinning.so");
        if out.to_lowercase().contains("error") {
            return Err(out);
        }
        Ok(())
    });
    run.step("module unload", |r| {
        std::thread::sleep(Duration::from_secs(2));
        let out = r.pbx.cli("module unload app_twinning.so");
        if out.contains("Unloaded app_twinning.so") {
            Ok(())
        } else {
            Err(out)
        }
    });

    let Run { mut pbx, steps, .. } = run;
    println!("memcheck: stopping Asterisk (valgrind then checks for leaks; up to {} s)", 15 * slowdown());
    pbx.stop();
    let log = std::fs::read_to_string(pbx.path("valgrind.log")).unwrap_or_default();
    let report = analyse(&log);
    println!("\n== steps");
    for (name, result, took) in &steps {
        println!(
            "   {:<55} {:>5.0} s  {}",
            name,
            took.as_secs_f64(),
            match result {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("FAILED: {e}"),
            }
        );
    }
    println!("\n== valgrind ({} records)", report.records.len());
    for (kind, (total, ours)) in &report.kinds {
        println!("   {kind:<48} {total:>6} in all, {ours:>4} with an app_twinning frame");
    }
    if let Some(s) = &report.summary {
        println!("   {s}");
    }
    // Errors and definite or indirect leaks with a module frame are the module's to fix.
    // "Possibly lost" blocks with a module frame are Asterisk objects created through its
    // API on the module's stack (stasis forwards of channels and bridges, which Asterisk
    // tears down asynchronously and not at all at shutdown); listed, not counted.
    let ours: Vec<&Record> =
        report.records.iter().filter(|r| r.ours && !r.kind.contains("possibly")).collect();
    for r in &ours {
        println!("\n-- {}\n{}", r.kind, r.text);
    }
    for r in report.records.iter().filter(|r| r.ours && r.kind.contains("possibly")) {
        let lines: Vec<&str> = r.text.lines().collect();
        let alloc = lines.iter().skip(1).find(|l| l.contains("ast_") || l.contains("stasis")).unwrap_or(&"");
        let frame = lines.iter().find(|l| module_frame(l)).unwrap_or(&"");
        println!("   (possibly lost) {} | {} | {}", lines[0], alloc.trim(), frame.trim());
    }
    println!(
        "\nmemcheck: {} errors and definite/indirect leaks attributable to the module ({} records in all); {:.0} s",
        ours.len(),
        report.records.len(),
        started.elapsed().as_secs_f64()
    );
    let failed = steps.iter().filter(|(_, r, _)| r.is_err()).count();
    if log.is_empty() {
        println!("memcheck: no valgrind log at {}", pbx.path("valgrind.log").display());
    }
    if keep {
        std::env::set_var("TWINNING_KEEP_INSTANCE", "1");
    }
    if !ours.is_empty() || failed > 0 || log.is_empty() {
        std::env::set_var("TWINNING_KEEP_INSTANCE", "1");
        drop(pbx);
        std::process::exit(1);
    }
}

/// One error or leak record of valgrind's report.
struct Record {
    kind: String,
    text: String,
    ours: bool,
}

struct Analysis {
    records: Vec<Record>,
    /// Per kind: (records, records with a module frame).
    kinds: std::collections::BTreeMap<String, (u64, u64)>,
    summary: Option<String>,
}

/// Whether a stack frame is the module's: its shared object, its Rust crates or the C shim.
fn module_frame(line: &str) -> bool {
    line.contains("app_twinning")
        || line.contains("asterisk_module")
        || line.contains("twinning_core")
        || line.contains("twinning_service")
        || line.contains("asterisk_sys")
        || line.contains("shim.c")
        || line.contains("twinning_")
}

fn analyse(log: &str) -> Analysis {
    let mut records = Vec::new();
    let mut summary = None;
    // Records are separated by lines holding only the "==pid==" prefix.
    let mut block: Vec<&str> = Vec::new();
    let flush = |block: &mut Vec<&str>, records: &mut Vec<Record>| {
        if let Some(first) = block.first() {
            let kind = classify(first);
            if let Some(kind) = kind {
                let ours = block.iter().skip(1).any(|l| module_frame(l));
                records.push(Record { kind, text: block.join("\n"), ours });
            }
        }
        block.clear();
    };
    for raw in log.lines() {
        let line = match raw.strip_prefix("==").and_then(|r| r.split_once("== ")) {
            Some((_, rest)) => rest,
            None if raw.starts_with("==") => "",
            None => raw,
        };
        if line.trim().is_empty() {
            flush(&mut block, &mut records);
            continue;
        }
        if line.starts_with("ERROR SUMMARY:") {
            summary = Some(line.to_owned());
        }
        block.push(line);
    }
    flush(&mut block, &mut records);
    let mut kinds = std::collections::BTreeMap::new();
    for r in &records {
        let e: &mut (u64, u64) = kinds.entry(r.kind.clone()).or_default();
        e.0 += 1;
        e.1 += u64::from(r.ours);
    }
    Analysis { records, kinds, summary }
}

/// The kind of a record from its first line, or None for lines that start no record.
fn classify(first: &str) -> Option<String> {
    for leak in ["definitely lost", "indirectly lost", "possibly lost"] {
        if first.contains(&format!("are {leak} in loss record")) {
            return Some(format!("leak: {leak}"));
        }
    }
    let errors = [
        "Invalid read",
        "Invalid write",
        "Invalid free",
        "Mismatched free",
        "Conditional jump or move depends on uninitialised",
        "Use of uninitialised value",
        "Syscall param",
        "Source and destination overlap",
        "Argument 'size' of function",
        "Invalid alignment",
        "Process terminating",
    ];
    errors.iter().find(|e| first.starts_with(**e)).map(|e| format!("error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_split_and_attributed() {
        let log = "==12== Memcheck, a memory error detector\n==12== \n\
==12== Invalid read of size 8\n==12==    at 0x1: ast_foo (in /usr/sbin/asterisk)\n\
==12==    by 0x2: asterisk_module::host::call::run (mod.rs:30)\n==12== \n\
==12== 16 bytes in 1 blocks are definitely lost in loss record 3 of 9\n==12==    at 0x3: malloc\n\
==12==    by 0x4: ast_strdup (in /usr/sbin/asterisk)\n==12== \n\
==12== ERROR SUMMARY: 2 errors from 2 contexts (suppressed: 0 from 0)\n";
        let a = analyse(log);
        assert_eq!(a.records.len(), 2);
        assert!(a.records[0].ours && !a.records[1].ours);
        assert_eq!(a.kinds["leak: definitely lost"], (1, 0));
        assert!(a.summary.unwrap().contains("2 errors"));
    }
}
