//! Running a private Asterisk for one test: its own directories, config files, AMI port
//! and control socket, so tests run side by side without touching each other or the host.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;

use crate::ami::Ami;
use crate::module_build;

/// Where the Asterisk under test lives.
#[derive(Debug)]
pub struct Installation {
    /// The provisioned root Asterisk runs in (via chroot), or None for a host install.
    root: Option<PathBuf>,
    /// Paths as Asterisk sees them (inside the root, when there is one).
    binary: PathBuf,
    module_dir: PathBuf,
    data_dir: PathBuf,
}

pub static INSTALLATION: Lazy<Installation> = Lazy::new(detect);

fn detect() -> Installation {
    if let Some(binary) = std::env::var_os("ASTERISK_BIN").map(PathBuf::from) {
        let module_dir = std::env::var_os("ASTERISK_MODULE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/x86_64-linux-gnu/asterisk/modules"));
        let data_dir = std::env::var_os("ASTERISK_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/share/asterisk"));
        assert!(binary.is_file(), "ASTERISK_BIN={} is not a file", binary.display());
        assert!(module_dir.is_dir(), "ASTERISK_MODULE_DIR={} is not a directory", module_dir.display());
        return Installation { root: None, binary, module_dir, data_dir };
    }
    let root = std::env::var_os("TWINNING_ASTERISK_ROOT").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
        cache.join("twinning/asterisk-root")
    });
    assert!(
        root.join("usr/sbin/asterisk").is_file(),
        "no Asterisk to test against: run scripts/provision-asterisk (as root) to provision Asterisk 22 into {}, \
         or set ASTERISK_BIN (and ASTERISK_MODULE_DIR, ASTERISK_DATA_DIR, ASTERISK_INCLUDE_DIR) to an installed one",
        root.display()
    );
    ensure_mounted(&root);
    Installation {
        root: Some(root),
        binary: "/usr/sbin/asterisk".into(),
        module_dir: "/usr/lib/x86_64-linux-gnu/asterisk/modules".into(),
        data_dir: "/usr/share/asterisk".into(),
    }
}

/// Asterisk needs /proc inside its root; its /dev nodes (null, urandom...) are the ones
/// debootstrap created. The host's /dev is never bind-mounted into the root: a cache
/// directory removed with a plain `rm -rf` would take the host's devices with it.
fn ensure_mounted(root: &Path) {
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mounted =
        |target: &Path| mounts.lines().any(|l| l.split_whitespace().nth(1) == Some(target.to_str().unwrap()));
    // Earlier versions bind-mounted /dev; undo that where it is still in place.
    let dev = root.join("dev");
    if mounted(&dev) {
        let _ = Command::new("umount").arg(&dev).status();
    }
    for node in ["null", "zero", "urandom", "random"] {
        assert!(
            dev.join(node).exists(),
            "{} lacks /dev/{node}; remove the root and run scripts/provision-asterisk again",
            root.display()
        );
    }
    let proc = root.join("proc");
    if !mounted(&proc) {
        let status =
            Command::new("mount").args(["-t", "proc", "proc"]).arg(&proc).status().expect("run mount");
        assert!(status.success(), "could not mount /proc into {} (tests need root rights)", root.display());
    }
}

impl Installation {
    /// A path as seen from the host, for a path as Asterisk sees it.
    pub fn outside(&self, inside: &Path) -> PathBuf {
        match &self.root {
            Some(root) => root.join(inside.strip_prefix("/").unwrap_or(inside)),
            None => inside.to_owned(),
        }
    }

    fn command(&self) -> Command {
        self.command_under(&[])
    }

    /// Asterisk itself, run by `wrapper` (a program and its arguments, e.g. valgrind's)
    /// when it is not empty.
    fn command_under(&self, wrapper: &[String]) -> Command {
        let mut words: Vec<std::ffi::OsString> = wrapper.iter().map(Into::into).collect();
        words.push(self.binary.clone().into());
        match &self.root {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).args(words);
                c
            }
            None => {
                let mut c = Command::new(&words[0]);
                c.args(&words[1..]);
                c
            }
        }
    }

    /// Like [`Installation::command_for`], running in `dir` (a path as the program sees
    /// it), where it writes any files it names relative to its working directory.
    pub fn command_in(&self, program: &str, dir: &str) -> Command {
        match &self.root {
            Some(root) => {
                // chroot itself changes to the new root's "/", so change directory after it.
                let mut c = Command::new("chroot");
                c.arg(root)
                    .args(["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", dir])
                    .arg(format!("/usr/bin/{program}"));
                c
            }
            None => {
                let mut c = self.command_for(program);
                c.current_dir(dir);
                c
            }
        }
    }

    /// Runs another program of the installation (e.g. `sipp`): inside the root when
    /// there is one, else from the host's PATH (or `SIPP_BIN` for sipp).
    pub fn command_for(&self, program: &str) -> Command {
        match &self.root {
            Some(root) => {
                let mut c = Command::new("chroot");
                c.arg(root).arg(format!("/usr/bin/{program}"));
                c
            }
            None if program == "sipp" => {
                Command::new(std::env::var("SIPP_BIN").unwrap_or_else(|_| "sipp".into()))
            }
            None => Command::new(program),
        }
    }

    pub fn scratch_dir(&self) -> PathBuf {
        match &self.root {
            Some(_) => PathBuf::from("/tmp"),
            None => std::env::temp_dir(),
        }
    }
}

/// Files and modules for one instance. Every instance gets asterisk.conf, logger.conf,
/// manager.conf and modules.conf; tests add twinning.conf, extensions.conf and so on.
#[derive(Clone)]
pub struct InstanceConfig {
    pub files: Vec<(String, String)>,
    /// Modules to load besides app_twinning.so.
    pub modules: Vec<String>,
    pub load_twinning: bool,
    /// Extra environment for the Asterisk process.
    pub env: Vec<(String, String)>,
    /// The UDP port PJSIP listens on, when the test configures PJSIP.
    pub sip_port: u16,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            files: Vec::new(),
            modules: ["pbx_config.so", "app_userevent.so", "func_logic.so", "func_strings.so"]
                .map(String::from)
                .to_vec(),
            load_twinning: true,
            env: Vec::new(),
            sip_port: 0,
        }
    }
}

impl InstanceConfig {
    pub fn file(mut self, name: &str, content: &str) -> Self {
        self.files.retain(|(n, _)| n != name);
        self.files.push((name.to_owned(), content.to_owned()));
        self
    }
}

pub struct Instance {
    /// The instance's directory as Asterisk sees it.
    inside: PathBuf,
    outside: PathBuf,
    pub ami_port: u16,
    pub sip_port: u16,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

/// `TWINNING_ASTERISK_WRAPPER`: a command that runs Asterisk (e.g. `valgrind --leak-check=full`),
/// split at spaces, with `{dir}` standing for the instance's directory as Asterisk sees it.
/// Asterisk is then given ten times as long to start and to stop (see scripts/memcheck).
fn wrapper(inside: &Path) -> Vec<String> {
    let line = std::env::var("TWINNING_ASTERISK_WRAPPER").unwrap_or_default();
    line.split_whitespace().map(|w| w.replace("{dir}", &inside.display().to_string())).collect()
}

/// How much longer than usual Asterisk takes to start and stop (10 under a wrapper).
pub fn slowdown() -> u32 {
    if std::env::var("TWINNING_ASTERISK_WRAPPER").is_ok_and(|w| !w.trim().is_empty()) {
        10
    } else {
        1
    }
}

pub const AMI_USER: &str = "test";
pub const AMI_SECRET: &str = "test-secret";
/// An AMI account that may read everything but change nothing.
pub const AMI_READER: &str = "reader";
/// What a CTI panel gets: call control and reporting, nothing of the configuration.
pub const AMI_CTI: &str = "cti";
/// A provisioning system's account: configuration and reporting, no call control.
pub const AMI_CONFIG: &str = "configurer";

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Instance {
    pub fn start(config: InstanceConfig) -> Instance {
        let install = &*INSTALLATION;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let inside = install.scratch_dir().join(format!("twinning-test-{}-{n}", std::process::id()));
        let outside = install.outside(&inside);
        let _ = fs::remove_dir_all(&outside);
        for d in ["etc", "modules", "varlib", "spool", "run", "log", "data/documentation/thirdparty", "cache"]
        {
            fs::create_dir_all(outside.join(d)).unwrap();
        }
        stage_modules(install, &outside.join("modules"));
        stage_data(install, &outside.join("data"));
        let ami_port = free_port();
        let mut instance = Instance {
            inside,
            outside,
            ami_port,
            sip_port: config.sip_port,
            child: None,
            env: config.env.clone(),
        };
        instance.write_base_config(&config);
        for (name, content) in &config.files {
            instance.write_file(name, content);
        }
        instance.boot();
        instance
    }

    fn write_base_config(&self, config: &InstanceConfig) {
        let d = self.inside.display();
        self.write_file(
            "asterisk.conf",
            &format!(
                "[directories]\nastetcdir => {d}/etc\nastmoddir => {d}/modules\nastvarlibdir => {d}/varlib\n\
                 astdbdir => {d}/varlib\nastkeydir => {d}/varlib\nastdatadir => {d}/data\nastagidir => {d}/data/agi-bin\n\
                 astspooldir => {d}/spool\nastrundir => {d}/run\nastlogdir => {d}/log\nastcachedir => {d}/cache\n\
                 astsbindir => /usr/sbin\n\n[options]\nverbose = 3\ndebug = 0\nlanguageprefix = yes\n"
            ),
        );
        self.write_file(
            "logger.conf",
            "[general]\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n",
        );
        self.write_file(
            "manager.conf",
            &format!(
                "[general]\nenabled = yes\nport = {}\nbindaddr = 127.0.0.1\ntimestampevents = yes\n\n[{AMI_USER}]\nsecret = {AMI_SECRET}\n\
                 read = all\nwrite = all\n\n[{AMI_READER}]\nsecret = {AMI_SECRET}\nread = all\nwrite = reporting\n\n\
                 [{AMI_CTI}]\nsecret = {AMI_SECRET}\nread = call,reporting\nwrite = call\n\n\
                 [{AMI_CONFIG}]\nsecret = {AMI_SECRET}\nread = reporting\nwrite = config,reporting\n",
                self.ami_port
            ),
        );
        let mut modules = String::from("[modules]\nautoload = no\n");
        for m in &config.modules {
            modules.push_str(&format!("load => {m}\n"));
        }
        if config.load_twinning {
            modules.push_str("load => app_twinning.so\n");
        }
        self.write_file("modules.conf", &modules);
        if !config.files.iter().any(|(n, _)| n == "extensions.conf") {
            self.write_file("extensions.conf", "[general]\n[default]\n");
        }
    }

    /// Writes (or replaces) a file in the instance's configuration directory.
    pub fn write_file(&self, name: &str, content: &str) {
        fs::write(self.outside.join("etc").join(name), content).unwrap();
    }

    /// A path inside the instance directory, as Asterisk (and programs run beside it) see it.
    pub fn inside_path(&self, relative: &str) -> String {
        self.inside.join(relative).display().to_string()
    }

    /// A path inside the instance directory, as seen from the test.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.outside.join(relative)
    }

    fn conf(&self) -> String {
        self.inside.join("etc/asterisk.conf").display().to_string()
    }

    fn boot(&mut self) {
        let log = fs::File::create(self.outside.join("log/console.out")).unwrap();
        let child = INSTALLATION
            .command_under(&wrapper(&self.inside))
            .args(["-C", &self.conf(), "-f", "-n", "-g"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start asterisk");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60) * slowdown();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("asterisk exited during start-up ({status}):\n{}", self.console_output());
            }
            let out = self.cli_output("core waitfullybooted");
            if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("fully booted") {
                break;
            }
            assert!(Instant::now() < deadline, "asterisk did not boot in time:\n{}", self.console_output());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn cli_output(&self, command: &str) -> Output {
        INSTALLATION.command().args(["-C", &self.conf(), "-rx", command]).output().expect("run asterisk -rx")
    }

    /// Runs a CLI command as an admin would (`asterisk -rx`) and returns what it printed.
    pub fn cli(&self, command: &str) -> String {
        let out = self.cli_output(command);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    pub fn ami(&self) -> Ami {
        Ami::connect(self.ami_port, AMI_USER, AMI_SECRET)
    }

    pub fn ami_as(&self, user: &str) -> Ami {
        Ami::connect(self.ami_port, user, AMI_SECRET)
    }

    /// Asterisk's own log (messages.log) so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.outside.join("log/messages.log")).unwrap_or_default()
    }

    pub fn console_output(&self) -> String {
        fs::read_to_string(self.outside.join("log/console.out")).unwrap_or_default()
    }

    /// Kills Asterisk with SIGKILL, as a crash or an impatient admin would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // chroot execs asterisk, so the child is Asterisk itself.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops Asterisk cleanly (`core stop now`).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self.cli_output("core stop now");
            // Under a wrapper, 150 s: valgrind checks for leaks after Asterisk exits.
            let deadline = Instant::now() + Duration::from_secs(15) * slowdown();
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

    /// Starts Asterisk again on the same directories (state, config, port).
    pub fn restart(&mut self) {
        self.stop();
        self.boot();
    }

    /// Asterisk's process id (chroot execs it, so it is the child's).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Asterisk's CPU time so far (user + system), from /proc.
    pub fn cpu_time(&self) -> Duration {
        crate::procfs::cpu_time(self.pid().unwrap_or(0))
    }

    /// Asterisk's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        crate::procfs::rss_kib(self.pid().unwrap_or(0))
    }

    pub fn is_running_asterisk(&self) -> bool {
        self.cli("core show uptime").contains("System uptime")
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
        // TWINNING_KEEP_INSTANCE=1 keeps every instance's files (logs, SIPp traces) to look at.
        if !std::thread::panicking() && std::env::var_os("TWINNING_KEEP_INSTANCE").is_none() {
            let _ = fs::remove_dir_all(&self.outside);
        } else {
            eprintln!("kept instance directory for inspection: {}", self.outside.display());
        }
    }
}

/// Every system module, linked, plus this build of app_twinning.so, copied (a link would
/// point outside the root).
fn stage_modules(install: &Installation, dir: &Path) {
    for entry in fs::read_dir(install.outside(&install.module_dir)).unwrap() {
        let name = entry.unwrap().file_name();
        if name != "app_twinning.so" {
            symlink(install.module_dir.join(&name), dir.join(&name)).unwrap();
        }
    }
    module_build::install_file(module_build::module_path(), &dir.join("app_twinning.so")).unwrap();
}

/// Asterisk's data directory, linked, with the module's documentation among the
/// third-party docs (Asterisk reads them at start-up).
fn stage_data(install: &Installation, dir: &Path) {
    for entry in fs::read_dir(install.outside(&install.data_dir)).unwrap() {
        let name = entry.unwrap().file_name();
        if name != "documentation" {
            symlink(install.data_dir.join(&name), dir.join(&name)).unwrap();
        }
    }
    let docs = install.data_dir.join("documentation");
    for entry in fs::read_dir(install.outside(&docs)).unwrap() {
        let name = entry.unwrap().file_name();
        if name != "thirdparty" {
            symlink(docs.join(&name), dir.join("documentation").join(&name)).unwrap();
        }
    }
    fs::copy(module_build::docs_path(), dir.join("documentation/thirdparty/twinning-en_US.xml")).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
