//! The `twinctl` command line: tables for people, `--json` for scripts, and exit codes
//! that say what failed (see [`crate::exit`]).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::Config;
use crate::console::Console;
use crate::event::now_ms;
use crate::node::PinResult;
use crate::{auth, exit, metrics, server, OpError};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  another failure (output could not be written, the server could not start)
  2  usage or configuration error
  3  a node is down or unreachable (the message names it)
  4  refused by the module (unknown user, invalid value, no call to move), or a PIN not OK
  5  a PBX refused twinctl's AMI/ESL credentials";

#[derive(Debug, Parser)]
#[command(
    name = "twinctl",
    version,
    about = "One control plane over every twinning node (Asterisk over AMI, FreeSWITCH over ESL)",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The configuration file (nodes, [serve], admins, tokens).
    #[arg(long, short, global = true, env = "TWINCTL_CONFIG", default_value = "/etc/twinctl/twinctl.toml")]
    pub config: PathBuf,
    /// Print JSON instead of tables (one object per line for `watch`).
    #[arg(long, global = true)]
    pub json: bool,
    /// Act on this node (default: the first node that is up and has the user).
    #[arg(long, global = true)]
    pub node: Option<String>,
    /// The login changes are audited as (`console:<login>`); default: $SUDO_USER or $USER.
    #[arg(long = "as", global = true, env = "TWINCTL_LOGIN", value_name = "LOGIN")]
    pub login: Option<String>,
    /// Seconds to wait for the nodes to answer.
    #[arg(long, global = true, default_value_t = 10)]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every user of every node, with the main settings and lamps.
    Users,
    /// One user's settings and lamps, read now.
    Status {
        /// The twinning user.
        user: String,
    },
    /// Change one field; the module validates it and audits it as `console:<login>`.
    Set {
        /// The twinning user.
        user: String,
        /// The field (see the configuration reference), e.g. `mobile`, `dnd`, `schedule`.
        field: String,
        /// The new value ("" clears `mobile`, `mobile<n>` or `pin`).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Move the user's answered call to the desk or a remote destination.
    Handover {
        /// The twinning user.
        user: String,
        /// desk, mobile, or mobile2 ... mobile10.
        to: String,
    },
    /// Twinned calls in progress on every node, with each leg's state.
    Calls,
    /// Each node's settings store: backend, state, last sync.
    Store,
    /// The nodes: up or down (and why), users, calls.
    Nodes,
    /// Every node's module metrics, in Prometheus text format (or JSON).
    Metrics,
    /// Check a user's PIN (read from standard input) through the module's PIN guard and
    /// lockout, as a phone's entry would be.
    CheckPin {
        /// The twinning user.
        user: String,
    },
    /// Print every node's events as they happen, one line each, until interrupted.
    Watch,
    /// Serve the JSON API, its event stream and /metrics (see [serve] in the config).
    Serve,
    /// Hash an admin password (read from standard input) for the config, or make an API
    /// token with --token.
    HashPassword {
        /// Make a new API token of this name instead: prints the token (once) and the
        /// [[token]] entry holding its SHA-256.
        #[arg(long, value_name = "NAME")]
        token: Option<String>,
    },
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Log lines (node up and down, warnings) on stderr, never on stdout where the output
/// is; `TWINCTL_LOG=debug|info|warn|error|off` (default warn, info for `serve`).
pub fn init_logging() {
    struct Stderr(log::LevelFilter);
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= self.0 && m.target().starts_with("twinning_console")
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("twinctl: {}: {}", r.level().as_str().to_lowercase(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let serving = std::env::args().any(|a| a == "serve");
    let level = match std::env::var("TWINCTL_LOG").unwrap_or_default().as_str() {
        "debug" => log::LevelFilter::Debug,
        "info" => log::LevelFilter::Info,
        "error" => log::LevelFilter::Error,
        "off" => log::LevelFilter::Off,
        "warn" => log::LevelFilter::Warn,
        _ if serving => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    };
    if log::set_logger(Box::leak(Box::new(Stderr(level)))).is_ok() {
        log::set_max_level(level);
    }
}

/// Runs the command line; the process's exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    run(cli)
}

pub fn run(cli: Cli) -> i32 {
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "twinctl", &mut std::io::stdout());
            return exit::OK;
        }
        Command::HashPassword { token } => return hash_password(token.as_deref()),
        _ => {}
    }
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("twinctl: {e}");
            return exit::USAGE;
        }
    };
    if let Some(n) = &cli.node {
        if config.node(n).is_none() {
            eprintln!("twinctl: no node '{n}' in {}", cli.config.display());
            return exit::USAGE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("twinctl: {e}");
            return exit::FAILURE;
        }
    };
    runtime.block_on(async_run(cli, config))
}

fn login(cli: &Cli) -> String {
    cli.login
        .clone()
        .or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// `console:<login>`, the source the module audits; a login it would not take is a
/// usage error.
fn source(cli: &Cli) -> Result<String, i32> {
    let l = login(cli);
    if (1..=64).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)) {
        Ok(format!("console:{l}"))
    } else {
        eprintln!(
            "twinctl: the login '{}' is not letters, digits and . _ - @; give one with --as",
            l.escape_debug()
        );
        Err(exit::USAGE)
    }
}

fn fail(e: &OpError) -> i32 {
    eprintln!("twinctl: {e}");
    e.exit_code()
}

fn print_json<T: serde::Serialize>(value: &T) -> i32 {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            println!("{s}");
            exit::OK
        }
        Err(e) => {
            eprintln!("twinctl: {e}");
            exit::FAILURE
        }
    }
}

/// Warns about nodes that are down; exit 3 (or 5) if any, else `code`.
fn with_down(console: &Console, code: i32) -> i32 {
    match console.down() {
        Some(e) if code == exit::OK => fail(&e),
        Some(e) => {
            eprintln!("twinctl: {e}");
            code
        }
        None => code,
    }
}

async fn async_run(cli: Cli, config: Config) -> i32 {
    let node = cli.node.as_deref();
    let timeout = Duration::from_secs(cli.timeout.max(1));
    if let Command::Watch = cli.command {
        let (console, rx) = Console::start_watching(&config);
        return watch(console, rx, cli.json).await;
    }
    let console = Console::start(&config);
    if let Command::Serve = cli.command {
        let console = Arc::new(console);
        return match server::serve(&config, console).await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("twinctl: {e}");
                exit::FAILURE
            }
        };
    }
    console.ready(timeout).await;
    match &cli.command {
        Command::Users => {
            let users = console.users();
            let code = if cli.json { print_json(&users) } else { print_users(&users) };
            with_down(&console, code)
        }
        Command::Status { user } => match console.status(user, node).await {
            Ok(u) if cli.json => print_json(&u),
            Ok(u) => {
                println!("{} on {}", u.user.user, u.node);
                for (k, v) in &u.user.settings {
                    println!("  {k:<17}: {}", if v.is_empty() { "-" } else { v });
                }
                for (k, v) in &u.user.lamps {
                    println!("  lamp {k:<12}: {v}");
                }
                exit::OK
            }
            Err(e) => fail(&e),
        },
        Command::Set { user, field, value } => {
            let source = match source(&cli) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match console.set(user, field, value, &source, node).await {
                Ok(d) if cli.json => print_json(&d),
                Ok(d) => {
                    println!("{}: {}", d.node, d.message);
                    exit::OK
                }
                Err(e) => fail(&e),
            }
        }
        Command::Handover { user, to } => match source(&cli) {
            Err(code) => code,
            Ok(source) => match console.handover(user, to, &source, node).await {
                Ok(d) if cli.json => print_json(&d),
                Ok(d) => {
                    println!("{}: {}", d.node, d.message);
                    exit::OK
                }
                Err(e) => fail(&e),
            },
        },
        Command::Calls => {
            let calls = console.calls();
            let code = if cli.json {
                print_json(&calls)
            } else {
                let now = now_ms();
                let rows: Vec<Vec<String>> = calls
                    .iter()
                    .map(|c| {
                        vec![
                            c.node.clone(),
                            c.call.user.clone(),
                            c.call.channel.clone(),
                            (now.saturating_sub(c.call.started_ms) / 1000).to_string(),
                            c.call.state.clone(),
                            c.call.legs.iter().map(|(l, s)| format!("{l}:{s}")).collect::<Vec<_>>().join(" "),
                        ]
                    })
                    .collect();
                table(&["NODE", "USER", "CALLER", "SECONDS", "STATE", "LEGS"], &rows);
                println!("{} twinned call{}", calls.len(), if calls.len() == 1 { "" } else { "s" });
                exit::OK
            };
            with_down(&console, code)
        }
        Command::Store => {
            let stores = console.store().await;
            let mut worst: Option<OpError> = None;
            let mut out = serde_json::Map::new();
            for (name, result) in &stores {
                match result {
                    Ok(s) => {
                        if !cli.json {
                            println!("{name}:");
                            for (k, v) in s {
                                println!("  {k}: {v}");
                            }
                        }
                        out.insert(name.clone(), serde_json::json!(s));
                    }
                    Err(e) => {
                        out.insert(name.clone(), serde_json::json!({ "error": e.to_string() }));
                        eprintln!("twinctl: {e}");
                        worst.get_or_insert(e.clone());
                    }
                }
            }
            if cli.json {
                print_json(&out);
            }
            worst.map_or(exit::OK, |e| e.exit_code())
        }
        Command::Nodes => {
            let nodes = console.nodes();
            let code = if cli.json {
                print_json(&nodes)
            } else {
                let rows: Vec<Vec<String>> = nodes
                    .iter()
                    .map(|n| {
                        vec![
                            n.name.clone(),
                            n.pbx.to_string(),
                            n.address.clone(),
                            format!("{:?}", n.state).to_lowercase(),
                            n.users.to_string(),
                            n.calls.to_string(),
                            n.store.get("State").cloned().unwrap_or_default(),
                            n.error.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(&["NODE", "PBX", "ADDRESS", "STATE", "USERS", "CALLS", "STORE", "ERROR"], &rows);
                exit::OK
            };
            match console.down() {
                Some(e) if code == exit::OK => e.exit_code(),
                _ => code,
            }
        }
        Command::Metrics => {
            let read = console.metrics().await;
            let mut worst = None;
            for (_, e) in &read {
                if let Some(e) = e {
                    eprintln!("twinctl: {e}");
                    worst.get_or_insert(e.exit_code());
                }
            }
            let nodes: Vec<metrics::NodeMetrics> = read.into_iter().map(|(m, _)| m).collect();
            if cli.json {
                let out: serde_json::Map<String, serde_json::Value> =
                    nodes.iter().map(|n| (n.node.clone(), serde_json::json!(n.samples))).collect();
                print_json(&out);
            } else {
                print!("{}", metrics::render(&nodes));
            }
            worst.unwrap_or(exit::OK)
        }
        Command::CheckPin { user } => {
            let pin = read_secret("PIN");
            let source = match source(&cli) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match console.check_pin(user, pin.trim(), &source, node).await {
                Ok(r) => {
                    if cli.json {
                        print_json(&serde_json::json!({ "result": r }));
                    } else {
                        println!(
                            "{}",
                            serde_json::to_value(r)
                                .ok()
                                .and_then(|v| v.as_str().map(String::from))
                                .unwrap_or_default()
                        );
                    }
                    if r == PinResult::Ok {
                        exit::OK
                    } else {
                        exit::REFUSED
                    }
                }
                Err(e) => fail(&e),
            }
        }
        Command::Watch | Command::Serve | Command::HashPassword { .. } | Command::Completions { .. } => {
            unreachable!("handled above")
        }
    }
}

async fn watch(
    console: Console,
    mut rx: tokio::sync::broadcast::Receiver<crate::event::Event>,
    json: bool,
) -> i32 {
    let _console = console;
    let mut stdout = std::io::stdout();
    let stop = server::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return exit::OK,
            item = rx.recv() => {
                let line = match item {
                    Ok(e) if json => serde_json::to_string(&e).unwrap_or_default(),
                    Ok(e) => e.line(),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        eprintln!("twinctl: {n} event(s) dropped: the output is too slow");
                        continue;
                    }
                    Err(_) => return exit::FAILURE,
                };
                if writeln!(stdout, "{line}").and_then(|_| stdout.flush()).is_err() {
                    // The reader went away (a closed pipe): done.
                    return exit::OK;
                }
            }
        }
    }
}

fn print_users(users: &[crate::console::UserEntry]) -> i32 {
    let get = |u: &crate::console::UserEntry, k: &str| u.user.settings.get(k).cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.node.clone(),
                u.user.user.clone(),
                get(u, "enabled"),
                get(u, "dnd"),
                get(u, "mobile"),
                get(u, "desk"),
                u.user.lamps.iter().map(|(l, s)| format!("{l}:{s}")).collect::<Vec<_>>().join(" "),
            ]
        })
        .collect();
    table(&["NODE", "USER", "ENABLED", "DND", "MOBILE", "DESK", "LAMPS"], &rows);
    println!("{} user{}", users.len(), if users.len() == 1 { "" } else { "s" });
    exit::OK
}

/// A table with columns as wide as their widest cell; `-` for an empty cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    print!("{}", render_table(headers, rows));
}

pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| if s.is_empty() { "-".to_owned() } else { s.to_owned() };
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell(c).chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.iter().map(|c| cell(c)).collect()));
    }
    out
}

/// A line from standard input (with a prompt on stderr when it is a terminal).
fn read_secret(what: &str) -> String {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what} (it will be shown as typed; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    let _ = stdin.lock().read_line(&mut line);
    line.trim_end_matches(['\r', '\n']).to_owned()
}

fn hash_password(token: Option<&str>) -> i32 {
    if let Some(name) = token {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            eprintln!("twinctl: a token name is letters, digits and . _ -");
            return exit::USAGE;
        }
        let t = auth::new_token();
        println!("# The token, shown this once: give it to the client as 'Authorization: Bearer {t}'");
        println!("[[token]]\nname = \"{name}\"\nsha256 = \"{}\"", auth::hex(&auth::sha256(t.as_bytes())));
        return exit::OK;
    }
    let password = read_secret("Password");
    if password.is_empty() {
        eprintln!("twinctl: an empty password");
        return exit::USAGE;
    }
    println!("{}", auth::hash_password(&password));
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help() {
        Cli::command().debug_assert();
        let mut cmd = Cli::command();
        for sub in cmd.get_subcommands_mut() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
        }
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:") && help.contains("3  a node is down"), "{help}");
    }

    #[test]
    fn parses_the_commands() {
        let c = Cli::try_parse_from(["twinctl", "--json", "set", "1001", "schedule", "mon-fri 09:00-17:00"])
            .unwrap();
        assert!(c.json);
        assert!(matches!(c.command, Command::Set { ref value, .. } if value == "mon-fri 09:00-17:00"));
        let c = Cli::try_parse_from(["twinctl", "set", "1001", "mobile", ""]).unwrap();
        assert!(matches!(c.command, Command::Set { ref value, .. } if value.is_empty()));
        let c = Cli::try_parse_from(["twinctl", "watch", "--json"]).unwrap();
        assert!(c.json && matches!(c.command, Command::Watch));
        assert!(Cli::try_parse_from(["twinctl", "handover", "1001"]).is_err());
        let e = Cli::try_parse_from(["twinctl", "frobnicate"]).unwrap_err();
        assert_eq!(e.exit_code(), exit::USAGE);
    }

    #[test]
    fn tables_align() {
        let t = render_table(
            &["NODE", "USER"],
            &[vec!["pbx1".into(), "1001".into()], vec!["freeswitch-2".into(), String::new()]],
        );
        assert_eq!(t, "NODE          USER\npbx1          1001\nfreeswitch-2  -\n");
    }
}
