//! The Debian package as admins use it: `apt install ./asterisk-twinning_….deb` into a
//! Debian root with Asterisk 22, an upgrade while a twinned call is up, remove and purge,
//! refusal by another Asterisk build, and lintian. Each test has a private overlay of the
//! provisioned root (see twinning_tests::package); the provisioned root itself is not changed.

use std::time::Duration;

use twinning_tests::package::{self, inode, mapped_module_inodes, PrivateRoot, JOURNAL, MODULE};

/// What Asterisk loads besides the module: the dialplan, its events, and the bridge the
/// twinned call uses (Local channels are part of Asterisk's core).
const MODULES: &[&str] = &["pbx_config.so", "app_userevent.so", "bridge_simple.so", "func_logic.so"];

const WAIT: Duration = Duration::from_secs(30);

/// User 1001's desk is a Local channel that answers after 0.3 s and hangs up after
/// `talk` seconds; the mobile rings and never answers. Calls need no phones outside Asterisk.
fn twinning_conf() -> &'static str {
    "[general]\nmobile_dial = Local/{number}@mobile\nanswer_guard = 0\n\n\
     [1001]\ndesk = Local/desk@phones\nmobile = 07700900123\nenabled = yes\n"
}

fn extensions_conf(talk: u32) -> String {
    format!(
        "[general]\n[default]\n\
         [phones]\nexten => desk,1,Wait(0.3)\n same => n,Answer()\n same => n,Wait({talk})\n same => n,Hangup()\n\
         [mobile]\nexten => _X.,1,Wait(120)\n\
         [twinning-calls]\nexten => 1001,1,Twinning(1001)\n same => n,Hangup()\n"
    )
}

fn root(test: &str) -> Option<PrivateRoot> {
    package::provisioned_root(test).map(|lower| PrivateRoot::new(&lower))
}

fn installed(root: &PrivateRoot, deb: &std::path::Path) -> String {
    let (ok, out) = root.install(deb);
    assert!(ok, "apt install failed:\n{out}");
    out
}

#[test]
fn apt_installs_it_and_the_module_loads_in_a_running_asterisk() {
    let Some(mut root) = root("package::apt_installs_it_and_the_module_loads_in_a_running_asterisk") else {
        return;
    };
    let packages = package::packages();
    root.start_asterisk(MODULES);
    let out = installed(&root, &packages.current);
    assert!(
        out.contains("asterisk -rx 'module load app_twinning.so'"),
        "the postinst says how to load it:\n{out}"
    );
    assert_eq!(root.status().as_deref(), Some(format!("install ok installed {}", packages.version).as_str()));
    for file in [
        MODULE,
        "/usr/share/asterisk/documentation/thirdparty/twinning-en_US.xml",
        "/usr/share/doc/asterisk-twinning/examples/twinning.conf.sample",
        "/usr/share/doc/asterisk-twinning/examples/extensions_twinning.conf.sample",
        "/usr/share/doc/asterisk-twinning/changelog.gz",
        "/usr/share/doc/asterisk-twinning/copyright",
    ] {
        assert!(root.path(file).is_file(), "{file} not installed");
    }
    let conf = root.run("stat", &["-c", "%U:%G %a", "/etc/asterisk/twinning.conf"]);
    assert_eq!(
        String::from_utf8_lossy(&conf.stdout).trim(),
        "asterisk:asterisk 640",
        "twinning.conf holds PINs"
    );
    let conffiles = root.run("dpkg-query", &["-W", "-f", "${Conffiles}", "asterisk-twinning"]);
    assert!(String::from_utf8_lossy(&conffiles.stdout).contains("/etc/asterisk/twinning.conf"));

    // The shipped twinning.conf loads as it is (no users until the admin adds them).
    let load = root.cli("module load app_twinning.so");
    assert!(load.contains("Loaded app_twinning.so"), "{load}");
    assert!(root.cli("module show like twinning").contains("Running"));
    assert!(root.cli("twinning show users").contains("0 twinning users"));

    // After a restart with the module in modules.conf, Asterisk finds its documentation
    // where the package put it.
    root.write_config("twinning.conf", twinning_conf());
    root.restart_asterisk(&[MODULES, &["app_twinning.so"]].concat());
    assert!(root.cli("twinning show users").contains("1 twinning user\n"));
    let app = root.cli("core show application Twinning");
    assert!(app.contains("Ring a user's desk phone and twinned mobile together"), "{app}");
    assert!(root.asterisk_is_up());
}

/// An upgrade while a twinned call is up: dpkg renames the new module into place, so the
/// running Asterisk keeps the code the call runs on; once the call is over the new module
/// loads.
#[test]
fn an_upgrade_during_a_call_leaves_the_call_up_and_the_new_module_loads_after() {
    let Some(mut root) =
        root("package::an_upgrade_during_a_call_leaves_the_call_up_and_the_new_module_loads_after")
    else {
        return;
    };
    let packages = package::packages();
    installed(&root, &packages.current);
    root.write_config("twinning.conf", twinning_conf());
    root.write_config("extensions.conf", &extensions_conf(6));
    root.start_asterisk(&[MODULES, &["app_twinning.so"]].concat());
    let mut ami = root.ami();
    let r = ami.action(
        "Originate",
        &[
            ("Channel", "Local/1001@twinning-calls"),
            ("Application", "Wait"),
            ("Data", "30"),
            ("Async", "true"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    ami.event("TwinningBridged", &[], WAIT).expect("the desk answered and was bridged");

    let old = inode(&root.path(MODULE));
    let out = installed(&root, &packages.upgrade);
    assert!(
        out.contains(&format!("upgraded from {}", packages.version)),
        "the postinst says what to do:\n{out}"
    );
    assert!(out.contains("module unload app_twinning.so"), "{out}");
    assert_eq!(
        root.status().as_deref(),
        Some(format!("install ok installed {}", packages.upgrade_version).as_str())
    );
    let new = inode(&root.path(MODULE));
    assert_ne!(new, old, "the module was written in place");
    assert!(root.asterisk_is_up(), "Asterisk survived the upgrade:\n{}", root.console());
    let mapped = mapped_module_inodes(root.asterisk_pid());
    assert!(!mapped.is_empty() && mapped.iter().all(|&i| i == old), "the old code stays mapped: {mapped:?}");

    // While the call is up: a reload re-reads twinning.conf, an unload is refused.
    let reload = root.cli("module reload app_twinning.so");
    assert!(!reload.to_lowercase().contains("error"), "{reload}");
    assert!(root.cli("twinning show users").contains("1 twinning user\n"));
    let unload = root.cli("module unload app_twinning.so");
    assert!(!unload.contains("Unloaded app_twinning.so"), "unload during a call: {unload}");
    let channels = root.cli("core show channels");
    assert!(
        channels.contains("active call") && !channels.contains(" 0 active calls"),
        "the call is up: {channels}"
    );

    let end = ami.event("TwinningEnd", &[], WAIT).expect("the call ended as the desk hung up");
    assert_eq!(end.must("Status"), "ANSWERED", "{end:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(root.cli("module unload app_twinning.so").contains("Unloaded app_twinning.so"));
    assert!(root.cli("module load app_twinning.so").contains("Loaded app_twinning.so"));
    let mapped = mapped_module_inodes(root.asterisk_pid());
    assert!(!mapped.is_empty() && mapped.iter().all(|&i| i == new), "the new code runs now: {mapped:?}");
    assert!(root.cli("twinning show user 1001").contains("07700900123"));
    assert!(root.asterisk_is_up());
    let log = root.log();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR") && l.contains("twinning")).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// `apt remove` keeps the configuration and users' runtime changes (a reinstall brings them
/// back); `apt purge` removes both, the journal and its AstDB mirror.
#[test]
fn remove_keeps_the_settings_journal_and_purge_removes_it() {
    let Some(mut root) = root("package::remove_keeps_the_settings_journal_and_purge_removes_it") else {
        return;
    };
    let packages = package::packages();
    installed(&root, &packages.current);
    root.write_config("twinning.conf", twinning_conf());
    root.start_asterisk(&[MODULES, &["app_twinning.so"]].concat());
    let set = root.cli("twinning set 1001 dnd yes");
    assert!(!set.to_lowercase().contains("error"), "{set}");
    let journal = std::fs::read_to_string(root.path(JOURNAL)).expect("the change is journaled");
    assert!(journal.contains("dnd"), "{journal}");
    assert!(root.cli("database show twinning").contains("/twinning/1001/dnd"));

    let (ok, out) = root.apt(&["remove", "asterisk-twinning"]);
    assert!(ok, "{out}");
    assert!(out.contains("module unload app_twinning.so"), "the prerm says the module stays loaded:\n{out}");
    assert!(root.status().unwrap().starts_with("deinstall ok config-files"), "{:?}", root.status());
    assert!(!root.path(MODULE).exists(), "the module is removed");
    assert!(root.path("/etc/asterisk/twinning.conf").is_file(), "remove keeps the configuration");
    assert_eq!(
        std::fs::read_to_string(root.path(JOURNAL)).ok().as_deref(),
        Some(journal.as_str()),
        "remove keeps the journal"
    );
    assert!(root.asterisk_is_up(), "the module Asterisk has loaded survives its file's removal");
    assert!(root.cli("module unload app_twinning.so").contains("Unloaded app_twinning.so"));

    let (ok, out) = root.apt(&["purge", "asterisk-twinning"]);
    assert!(ok, "{out}");
    assert_eq!(root.status(), None, "purge leaves nothing in dpkg's database");
    assert!(!root.path("/etc/asterisk/twinning.conf").exists(), "purge removes the configuration");
    assert!(!root.path("/var/lib/asterisk/twinning").exists(), "purge removes the journal");
    let astdb = root.cli("database show twinning");
    assert!(astdb.contains("0 results found"), "purge removes the AstDB mirror: {astdb}");
    assert!(root.asterisk_is_up());
}

/// A package built for another Asterisk build (another AST_BUILDOPT_SUM) is refused by apt,
/// naming the ABI, and nothing of it is installed.
#[test]
fn apt_refuses_it_for_an_asterisk_with_another_abi() {
    let Some(root) = root("package::apt_refuses_it_for_an_asterisk_with_another_abi") else {
        return;
    };
    let other = package::packages().with_abi("0123456789abcdef0123456789abcdef");
    let (ok, out) = root.install(&other);
    assert!(!ok, "apt installed a package for another ABI:\n{out}");
    assert!(
        out.contains("asterisk-abi-0123456789abcdef0123456789abcdef"),
        "the refusal names the ABI:\n{out}"
    );
    assert_eq!(root.status(), None, "{out}");
    assert!(!root.path(MODULE).exists());
}

#[test]
fn lintian_finds_nothing_unexplained() {
    let test = "package::lintian_finds_nothing_unexplained";
    if std::process::Command::new("lintian").arg("--version").output().is_err() {
        twinning_tests::skip::report(
            test,
            "lintian is not installed (apt-get install lintian; .ci/run does)",
        );
        return;
    }
    let packages = package::packages();
    for deb in [&packages.current, &packages.upgrade] {
        let out = std::process::Command::new("lintian")
            .args(["--info", "--pedantic", "--fail-on", "error,warning,info,pedantic"])
            .arg(deb)
            .output()
            .expect("run lintian");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tags: Vec<&str> = stdout.lines().filter(|l| l.len() > 2 && &l[1..3] == ": ").collect();
        assert!(
            out.status.success() && tags.is_empty(),
            "lintian on {}:\n{stdout}{}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// twinctl's package as an admin uses it: apt installs it beside a running Asterisk with the
/// module, its configuration holds secrets so only root and the service's own user read it,
/// the shipped configuration is refused with a clear word until a node is added, then
/// twinctl, run as that user, reads the node; purge takes its configuration away.
#[test]
fn twinctl_installs_as_a_service_that_alone_reads_its_secrets_and_reaches_the_node() {
    let Some(mut root) =
        root("package::twinctl_installs_as_a_service_that_alone_reads_its_secrets_and_reaches_the_node")
    else {
        return;
    };
    let packages = package::packages();
    let twinctl = package::twinctl_package();
    installed(&root, &packages.current);
    root.write_config("twinning.conf", twinning_conf());
    let mut modules = MODULES.to_vec();
    modules.push("app_twinning.so");
    root.start_asterisk(&modules);
    assert!(root.cli("twinning show users").contains("1 twinning user\n"));

    let out = installed(&root, twinctl);
    assert!(out.contains("systemctl enable --now twinctl"), "the postinst says what to do next:\n{out}");
    let status = root.run("dpkg-query", &["-W", "-f", "${Status}", "twinctl"]);
    assert_eq!(String::from_utf8_lossy(&status.stdout), "install ok installed");
    for file in [
        "/usr/bin/twinctl",
        "/usr/lib/systemd/system/twinctl.service",
        "/usr/share/bash-completion/completions/twinctl",
        "/usr/share/doc/twinctl/copyright",
    ] {
        assert!(root.path(file).is_file(), "{file} not installed");
    }
    let unit = std::fs::read_to_string(root.path("/usr/lib/systemd/system/twinctl.service")).unwrap();
    assert!(unit.contains("User=twinctl") && unit.contains("serve"), "{unit}");
    let conf = root.run("stat", &["-c", "%U:%G %a", "/etc/twinctl/twinctl.toml"]);
    assert_eq!(String::from_utf8_lossy(&conf.stdout).trim(), "root:twinctl 640", "it holds secrets");
    let nobody = root.run("runuser", &["-u", "nobody", "--", "cat", "/etc/twinctl/twinctl.toml"]);
    assert!(!nobody.status.success(), "another user read twinctl's secrets");

    let as_twinctl = |args: &[&str]| {
        let mut all = vec!["-u", "twinctl", "--", "twinctl", "--config", "/etc/twinctl/twinctl.toml"];
        all.extend_from_slice(args);
        root.run("runuser", &all)
    };
    let shipped = as_twinctl(&["nodes"]);
    assert_eq!(shipped.status.code(), Some(2), "{shipped:?}");
    assert!(String::from_utf8_lossy(&shipped.stderr).contains("no [[node]] is configured"), "{shipped:?}");

    let shipped_text = std::fs::read_to_string(root.path("/etc/twinctl/twinctl.toml")).unwrap();
    std::fs::write(
        root.path("/etc/twinctl/twinctl.toml"),
        format!(
            "{shipped_text}\n[[node]]\nname = \"pbx1\"\nkind = \"asterisk\"\naddress = \"127.0.0.1:{}\"\nusername = \"{}\"\nsecret = \"{}\"\n",
            root.ami_port,
            package::AMI_USER,
            package::AMI_SECRET
        ),
    )
    .unwrap();
    let users = as_twinctl(&["--json", "users"]);
    assert!(users.status.success(), "{users:?}");
    assert!(String::from_utf8_lossy(&users.stdout).contains("\"1001\""), "{users:?}");

    let (ok, out) = root.apt(&["purge", "twinctl"]);
    assert!(ok, "{out}");
    assert!(!root.path("/usr/bin/twinctl").exists());
    assert!(!root.path("/etc/twinctl").exists(), "purge leaves the configuration behind");
}
