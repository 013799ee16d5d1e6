//! A private PostgreSQL server for one test, from the Debian package's binaries
//! (`.ci/run` installs `postgresql`): its own data directory, a free port on 127.0.0.1,
//! trust authentication, fsync off (an immediate stop loses nothing committed; only
//! a power cut would). A test may stop and start it, as an outage would.
//! Without the binaries the test fails and says how to get them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    running: bool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The newest installed server's binaries (`TWINNING_PG_BIN` overrides).
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TWINNING_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: install the Debian package \
             'postgresql' (as .ci/run does) or set TWINNING_PG_BIN"
        )
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

impl PgServer {
    /// A fresh, empty server, running.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("twinning-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            // The server refuses to run as root: the package's own user runs it.
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap();
            assert!(ok.success(), "chown of {} to postgres failed", dir.display());
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut pg = PgServer { bin, dir, port, running: false };
        let out = pg
            .tool("initdb")
            .args(["-D"])
            .arg(pg.data())
            .args(["-U", "twinning", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        pg.start_again();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        c.stdin(Stdio::null());
        c
    }

    /// Starts the server (again, after [`PgServer::stop`]), waiting until it accepts.
    pub fn start_again(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            self.dir.display()
        );
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
        self.running = true;
    }

    /// Stops the server as an outage would (clients are cut off at once).
    pub fn stop(&mut self) {
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
        self.running = false;
    }

    /// The DSN of database `db` on this server.
    pub fn dsn(&self, db: &str) -> String {
        format!("postgresql://twinning@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database.
    pub fn create_database(&self, db: &str) {
        let mut c = self.client("postgres");
        c.batch_execute(&format!("CREATE DATABASE \"{db}\"")).unwrap();
    }

    pub fn client(&self, db: &str) -> postgres::Client {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            match postgres::Client::connect(&self.dsn(db), postgres::NoTls) {
                Ok(c) => return c,
                Err(e) if Instant::now() > until => panic!("cannot connect to {}: {e}", self.dsn(db)),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// One number from a query (`SELECT count(*) ...`).
    pub fn count(&self, db: &str, sql: &str) -> i64 {
        self.client(db).query_one(sql, &[]).unwrap().get(0)
    }

    /// CPU time (user + system) of the server and every process it runs (a backend per
    /// connection), for the benchmarks.
    pub fn cpu_time(&self) -> Duration {
        let pid: u32 = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            .unwrap_or(0);
        let mut total = crate::procfs::cpu_time(pid);
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let ppid =
                stat.rsplit_once(") ").and_then(|(_, r)| r.split(' ').nth(1)).and_then(|p| p.parse().ok());
            if ppid == Some(pid) {
                total += crate::procfs::cpu_time(child);
            }
        }
        total
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .tool("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
