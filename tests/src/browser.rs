//! A real browser for the web pages' tests: Debian's `chromium`, headless, driven over
//! WebDriver through Debian's `chromium-driver` (`/usr/bin/chromedriver`). This starts the
//! driver on a free loopback port and says how to start chromium (a fresh profile each
//! time); the tests talk WebDriver to it (fantoccini). Without the packages a test fails,
//! naming them: it never passes without a browser.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The chromedriver process and chromium's profile directory, both gone on drop.
pub struct Browser {
    driver: Child,
    pub port: u16,
    pub profile: PathBuf,
}

impl Browser {
    pub fn start() -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).is_file(),
                "{path} is missing: the web pages' tests need Debian's `{package}` package \
                 (apt-get install -y chromium chromium-driver; scripts/lib/prerequisites.sh installs it)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile = std::env::temp_dir().join(format!("twinning-chromium-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Browser { driver, port, profile }
    }

    /// The WebDriver address.
    pub fn webdriver(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// chromium's arguments: headless, no sandbox (root in CI), nothing fetched from
    /// outside, the fresh profile.
    pub fn chromium_args(&self) -> Vec<String> {
        [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1100,1400",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once(format!("--user-data-dir={}", self.profile.display())))
        .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `target/web-screenshots/`, made if needed: the screenshots are the tests' artifacts.
pub fn screenshot_dir() -> PathBuf {
    let root = crate::module_build::workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let dir = target.join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
