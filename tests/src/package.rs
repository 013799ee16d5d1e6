//! The Debian package (scripts/package) installed as an admin installs it: with apt, into
//! a Debian root whose Asterisk runs with Debian's own layout (/etc/asterisk, the
//! multiarch module directory, /var/lib/asterisk).
//!
//! The provisioned root is shared by every test running at the same time, so it is never
//! changed: each test gets a private root, an overlay whose lower layer is the provisioned
//! root (read only) and whose upper layer is a scratch directory, removed afterwards.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;

use crate::ami::Ami;
use crate::module_build::workspace_root;

/// Where Debian's Asterisk loads modules from, as seen inside the root.
pub const MODULE_DIR: &str = "/usr/lib/x86_64-linux-gnu/asterisk/modules";
pub const MODULE: &str = "/usr/lib/x86_64-linux-gnu/asterisk/modules/app_twinning.so";
pub const JOURNAL: &str = "/var/lib/asterisk/twinning/overrides.journal";
pub const AMI_USER: &str = "test";
pub const AMI_SECRET: &str = "test-secret";

/// The packages the tests install: this source at its version, and the same at a higher
/// one (an upgrade).
#[derive(Debug)]
pub struct Packages {
    pub version: String,
    pub current: PathBuf,
    pub upgrade_version: String,
    pub upgrade: PathBuf,
    dir: PathBuf,
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

fn run_package_script(out: &Path, version: Option<&str>) -> PathBuf {
    let mut c = Command::new(workspace_root().join("scripts/package"));
    c.arg("--out").arg(out);
    if let Some(v) = version {
        c.args(["--version", v]);
    }
    let o = c.stdin(Stdio::null()).output().expect("run scripts/package");
    assert!(o.status.success(), "scripts/package failed:\n{}", text(&o));
    let path = PathBuf::from(String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or_default());
    assert!(path.is_file(), "scripts/package printed no package path:\n{}", text(&o));
    path
}

/// Builds both packages once per test run, with scripts/package.
pub fn packages() -> &'static Packages {
    static BUILT: OnceCell<Packages> = OnceCell::new();
    BUILT.get_or_init(|| {
        let dir = target_dir().join("tmp/package-test");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let current = run_package_script(&dir, None);
        let name = current.file_name().unwrap().to_string_lossy().into_owned();
        let version = name.split('_').nth(1).expect("asterisk-twinning_<version>_<arch>.deb").to_owned();
        let upgrade_version = format!("{version}+1");
        let upgrade = run_package_script(&dir, Some(&upgrade_version));
        Packages { version, current, upgrade_version, upgrade, dir }
    })
}

/// The twinctl package (scripts/package-twinctl), built once per test run.
pub fn twinctl_package() -> &'static Path {
    static BUILT: OnceCell<PathBuf> = OnceCell::new();
    BUILT.get_or_init(|| {
        let dir = target_dir().join("tmp/package-twinctl-test");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let o = Command::new(workspace_root().join("scripts/package-twinctl"))
            .arg("--out")
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/package-twinctl");
        assert!(o.status.success(), "scripts/package-twinctl failed:\n{}", text(&o));
        let path = PathBuf::from(String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or_default());
        assert!(path.is_file(), "scripts/package-twinctl printed no package path:\n{}", text(&o));
        path
    })
}

impl Packages {
    /// A copy of the current package whose Depends names `abi` instead of the ABI it was
    /// built against, as a package built for another Asterisk would.
    pub fn with_abi(&self, abi: &str) -> PathBuf {
        let tree = self.dir.join(format!("abi-{abi}"));
        let _ = fs::remove_dir_all(&tree);
        must(Command::new("dpkg-deb").arg("-R").arg(&self.current).arg(&tree));
        let control = tree.join("DEBIAN/control");
        let fields = fs::read_to_string(&control).unwrap();
        let depends =
            fields.lines().find(|l| l.starts_with("Depends: ")).expect("a Depends field").to_owned();
        let ours = depends
            .split([' ', ','])
            .find(|w| w.starts_with("asterisk-abi-"))
            .unwrap_or_else(|| panic!("Depends names no asterisk-abi-: {depends}"))
            .to_owned();
        fs::write(&control, fields.replace(&ours, &format!("asterisk-abi-{abi}"))).unwrap();
        let deb = self.dir.join(format!("asterisk-twinning_{}_abi-{abi}.deb", self.version));
        must(Command::new("dpkg-deb").args(["--root-owner-group", "-b"]).arg(&tree).arg(&deb));
        deb
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn must(c: &mut Command) -> Output {
    let o = c.output().unwrap_or_else(|e| panic!("run {c:?}: {e}"));
    assert!(o.status.success(), "{c:?} failed:\n{}", text(&o));
    o
}

/// The provisioned root, or None (after reporting the test skipped) when this run uses an
/// Asterisk installed on the host (`ASTERISK_BIN`) and there is no Debian root to install into.
pub fn provisioned_root(test: &str) -> Option<PathBuf> {
    let root = std::env::var_os("TWINNING_ASTERISK_ROOT").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
        cache.join("twinning/asterisk-root")
    });
    if root.join("usr/sbin/asterisk").is_file() {
        return Some(root);
    }
    if std::env::var_os("ASTERISK_BIN").is_some() {
        crate::skip::report(test, "the package is installed into the provisioned Debian root, and this run has none (ASTERISK_BIN is set)");
        return None;
    }
    panic!("no provisioned root at {}: run scripts/provision-asterisk (as root) first", root.display());
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A private Debian root: the provisioned one under an overlay, with its own /proc and /tmp.
/// Everything written in it (packages, configuration, Asterisk's state) lands in the
/// scratch directory, which is unmounted and removed when this is dropped.
pub struct PrivateRoot {
    scratch: PathBuf,
    merged: PathBuf,
    asterisk: Option<Child>,
    pub ami_port: u16,
}

impl PrivateRoot {
    pub fn new(lower: &Path) -> PrivateRoot {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let scratch = std::env::temp_dir().join(format!("twinning-package-{}-{n}", std::process::id()));
        let merged = scratch.join("root");
        for d in ["upper", "work", "root"] {
            fs::create_dir_all(scratch.join(d)).unwrap();
        }
        let root = PrivateRoot { scratch, merged, asterisk: None, ami_port: 0 };
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            root.scratch.join("upper").display(),
            root.scratch.join("work").display()
        );
        let o = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(&root.merged)
            .output()
            .expect("run mount");
        assert!(
            o.status.success(),
            "could not mount an overlay over {} (the package tests need root rights and overlayfs):\n{}",
            lower.display(),
            text(&o)
        );
        // The lower root's /tmp holds other tests' instances, changing as they run: a
        // tmpfs of its own keeps this root out of them (and the overlay off files that change).
        must(Command::new("mount").args(["-t", "proc", "proc"]).arg(root.merged.join("proc")));
        must(Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(root.merged.join("tmp")));
        root
    }

    /// A path inside the root, as seen from the test.
    pub fn path(&self, inside: &str) -> PathBuf {
        self.merged.join(inside.trim_start_matches('/'))
    }

    /// Runs a program inside the root.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new("chroot")
            .arg(&self.merged)
            .args(["/usr/bin/env", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run chroot")
    }

    /// `apt-get <args>` inside the root; returns whether it succeeded and all it printed.
    pub fn apt(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["-y", "-o", "Dpkg::Use-Pty=0"];
        all.extend_from_slice(args);
        let o = self.run("apt-get", &all);
        (o.status.success(), text(&o))
    }

    /// Copies a package into the root; returns its path there.
    pub fn copy_in(&self, deb: &Path) -> String {
        let inside = format!("/tmp/{}", deb.file_name().unwrap().to_string_lossy());
        fs::copy(deb, self.path(&inside)).unwrap();
        inside
    }

    /// `apt-get install ./<deb>`, as the README tells admins to.
    pub fn install(&self, deb: &Path) -> (bool, String) {
        let inside = self.copy_in(deb);
        self.apt(&["install", "--no-install-recommends", &inside])
    }

    /// The package's dpkg status line ("install ok installed", ...), or None when dpkg
    /// knows nothing of it.
    pub fn status(&self) -> Option<String> {
        let o = self.run("dpkg-query", &["-W", "-f", "${Status} ${Version}", "asterisk-twinning"]);
        o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Writes a file into /etc/asterisk.
    pub fn write_config(&self, name: &str, content: &str) {
        fs::write(self.path("/etc/asterisk").join(name), content).unwrap();
    }

    /// Starts Asterisk in the root as Debian lays it out (its own asterisk.conf), loading
    /// only `modules` (with autoload, Debian's modules.conf would load everything and
    /// listen on the standard ports), with AMI on a free loopback port.
    pub fn start_asterisk(&mut self, modules: &[&str]) {
        self.ami_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut list = String::from("[modules]\nautoload = no\n");
        for m in modules {
            list.push_str(&format!("load => {m}\n"));
        }
        self.write_config("modules.conf", &list);
        self.write_config(
            "manager.conf",
            &format!(
                "[general]\nenabled = yes\nport = {}\nbindaddr = 127.0.0.1\n\n[{AMI_USER}]\nsecret = {AMI_SECRET}\nread = all\nwrite = all\n",
                self.ami_port
            ),
        );
        self.write_config(
            "logger.conf",
            "[general]\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n",
        );
        self.boot();
    }

    fn boot(&mut self) {
        fs::create_dir_all(self.path("/run/asterisk")).unwrap();
        let log = fs::File::create(self.scratch.join("console.out")).unwrap();
        let child = Command::new("chroot")
            .arg(&self.merged)
            .args(["/usr/sbin/asterisk", "-f", "-n", "-g"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start asterisk");
        self.asterisk = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.asterisk.as_mut().unwrap().try_wait().unwrap() {
                panic!("asterisk exited during start-up ({status}):\n{}", self.console());
            }
            if self.cli("core waitfullybooted").contains("fully booted") {
                return;
            }
            assert!(Instant::now() < deadline, "asterisk did not boot in time:\n{}", self.console());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops Asterisk and starts it again loading `modules` (it reads third-party
    /// documentation only at start-up).
    pub fn restart_asterisk(&mut self, modules: &[&str]) {
        self.stop_asterisk();
        self.start_asterisk(modules);
    }

    pub fn console(&self) -> String {
        fs::read_to_string(self.scratch.join("console.out")).unwrap_or_default()
    }

    /// Asterisk's messages.log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.path("/var/log/asterisk/messages.log")).unwrap_or_default()
    }

    /// `asterisk -rx <command>` inside the root.
    pub fn cli(&self, command: &str) -> String {
        text(&self.run("/usr/sbin/asterisk", &["-rx", command]))
    }

    pub fn ami(&self) -> Ami {
        Ami::connect(self.ami_port, AMI_USER, AMI_SECRET)
    }

    /// Asterisk's process id (chroot execs it).
    pub fn asterisk_pid(&self) -> u32 {
        self.asterisk.as_ref().expect("asterisk started").id()
    }

    /// Whether the Asterisk started here is still running and answering its CLI.
    pub fn asterisk_is_up(&mut self) -> bool {
        self.asterisk.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
            && self.cli("core show uptime").contains("System uptime")
    }

    pub fn stop_asterisk(&mut self) {
        if let Some(mut child) = self.asterisk.take() {
            let _ = self.cli("core stop now");
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn mounted_below(&self) -> Vec<String> {
        let scratch = self.scratch.display().to_string();
        let mut mounts: Vec<String> = fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
            .filter(|m| m.starts_with(&scratch))
            .collect();
        mounts.sort_by(|a, b| b.cmp(a));
        mounts
    }
}

impl Drop for PrivateRoot {
    fn drop(&mut self) {
        self.stop_asterisk();
        for m in self.mounted_below() {
            let ok = Command::new("umount").arg(&m).status().is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").args(["-l", &m]).status();
            }
        }
        // Removed only once nothing is mounted below it: removing through a mount would
        // reach into whatever is mounted there.
        let left = self.mounted_below();
        if left.is_empty() && std::env::var_os("TWINNING_KEEP_INSTANCE").is_none() {
            let _ = fs::remove_dir_all(&self.scratch);
        } else {
            eprintln!("kept private root {} (still mounted: {left:?})", self.scratch.display());
        }
    }
}

/// The inode of a file inside the root.
pub fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(
        &fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
}

/// The inodes of app_twinning.so that a process has mapped (one per mapping).
pub fn mapped_module_inodes(pid: u32) -> Vec<u64> {
    fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("app_twinning.so"))
        .filter_map(|l| l.split_whitespace().nth(4).and_then(|i| i.parse().ok()))
        .collect()
}
