//! CLI: `twinning show users`, `twinning show user <user>`, `twinning set <user> <field>
//! <value>`, with completion of user and field names.

use std::ffi::{c_char, c_int, CStr};

use asterisk_sys as sys;
use twinning_core::{printable, Field};

use super::{cstr, guard, state};
use twinning_service::{report, Source};

/// The registered entries. Asterisk writes into them (parsed words, list links), so they
/// live on the heap, owned by the module from register to unregister.
pub struct Registration(*mut [sys::ast_cli_entry; 4]);

// SAFETY: only used on load/unload, which Asterisk serialises.
unsafe impl Send for Registration {}

pub fn register(module: *mut sys::ast_module) -> Result<Registration, String> {
    let handlers: [Handler; 4] = [show_users, show_user, set, show_calls];
    let entries = Box::into_raw(Box::new(
        handlers.map(|h| sys::ast_cli_entry { handler: Some(h), ..Default::default() }),
    ));
    for i in 0..4 {
        // SAFETY: `entries` is a live heap array; each entry stays valid until unregister.
        // Asterisk calls the handler with CLI_INIT during registration to learn its words.
        let rc = unsafe { sys::__ast_cli_register(&mut (*entries)[i], module) };
        if rc != 0 {
            Registration(entries).unregister_first(i);
            return Err("could not register the twinning CLI commands".into());
        }
    }
    Ok(Registration(entries))
}

impl Registration {
    pub fn unregister(self) {
        self.unregister_first(4);
    }

    fn unregister_first(self, count: usize) {
        // SAFETY: the first `count` entries were registered; after ast_cli_unregister
        // Asterisk holds no pointer to them, so the array can be freed.
        unsafe {
            for i in 0..count {
                sys::ast_cli_unregister(&mut (*self.0)[i]);
            }
            drop(Box::from_raw(self.0));
        }
    }
}

type Handler = unsafe extern "C" fn(*mut sys::ast_cli_entry, c_int, *mut sys::ast_cli_args) -> *mut c_char;

/// What a handler was asked to do, decoded from Asterisk's `cmd` and `ast_cli_args`.
enum Call {
    Init,
    Complete { pos: usize, word: String },
    Run { fd: c_int, argv: Vec<String> },
}

/// # Safety
/// `e` and `a` are the pointers Asterisk passed to a CLI handler.
unsafe fn decode(
    e: *mut sys::ast_cli_entry,
    cmd: c_int,
    a: *mut sys::ast_cli_args,
    words: &'static CStr,
    usage: &'static CStr,
) -> Call {
    // SAFETY: per the function contract, `e` is our live entry and `a` (when not INIT) the
    // live arguments, with `argc` valid strings in `argv`.
    unsafe {
        match cmd {
            sys::CLI_INIT => {
                (*e).command = words.as_ptr() as *mut c_char;
                (*e).usage = usage.as_ptr();
                Call::Init
            }
            sys::CLI_GENERATE => {
                Call::Complete { pos: (*a).pos.max(0) as usize, word: cstr::borrow((*a).word).into_owned() }
            }
            _ => {
                let argv = (0..(*a).argc.max(0) as usize)
                    .map(|i| cstr::borrow(*(*a).argv.add(i)).into_owned())
                    .collect();
                Call::Run { fd: (*a).fd, argv }
            }
        }
    }
}

fn print(fd: c_int, text: &str) {
    let text = cstr::owned(text);
    // SAFETY: `fd` is the CLI's output descriptor for this call; "%s" with one string.
    unsafe { sys::ast_cli(fd, c"%s".as_ptr(), text.as_ptr()) }
}

/// Offers each candidate that starts with `word` as a completion.
fn complete(word: &str, candidates: impl IntoIterator<Item = String>) {
    for c in candidates.into_iter().filter(|c| c.starts_with(word)) {
        let c = cstr::owned(&c);
        // SAFETY: __ast_strdup copies into Asterisk's allocator; ast_cli_completion_add
        // takes ownership of that copy (and frees it on failure).
        unsafe {
            let copy = sys::__ast_strdup(c.as_ptr(), c"app_twinning".as_ptr(), 0, c"complete".as_ptr());
            sys::ast_cli_completion_add(copy);
        }
    }
}

fn user_names() -> Vec<String> {
    state::lock()
        .as_ref()
        .map(|s| s.settings().users().map(|(id, _)| id.to_string()).collect())
        .unwrap_or_default()
}

fn finish(fd: c_int, result: Result<String, String>) -> *mut c_char {
    match result {
        Ok(text) => {
            print(fd, &text);
            sys::CLI_SUCCESS
        }
        Err(text) => {
            print(fd, &format!("{text}\n"));
            sys::CLI_FAILURE
        }
    }
}

unsafe extern "C" fn show_users(
    e: *mut sys::ast_cli_entry,
    cmd: c_int,
    a: *mut sys::ast_cli_args,
) -> *mut c_char {
    guard::catch("CLI twinning show users", sys::CLI_FAILURE, || {
        // SAFETY: the arguments are exactly what Asterisk passed this handler.
        let call = unsafe {
            decode(e, cmd, a, c"twinning show users", c"Usage: twinning show users\n       Lists every twinning user with the main settings in force.\n")
        };
        match call {
            Call::Init | Call::Complete { .. } => std::ptr::null_mut(),
            Call::Run { argv, .. } if argv.len() != 3 => sys::CLI_SHOWUSAGE,
            Call::Run { fd, .. } => {
                let text = state::lock().as_ref().map(|s| report::users_table(s.settings()));
                finish(fd, text.ok_or_else(|| "app_twinning is not loaded".into()))
            }
        }
    })
}

unsafe extern "C" fn show_user(
    e: *mut sys::ast_cli_entry,
    cmd: c_int,
    a: *mut sys::ast_cli_args,
) -> *mut c_char {
    guard::catch("CLI twinning show user", sys::CLI_FAILURE, || {
        // SAFETY: the arguments are exactly what Asterisk passed this handler.
        let call = unsafe {
            decode(e, cmd, a, c"twinning show user", c"Usage: twinning show user <user>\n       Shows every twinning setting of <user>; (runtime) marks values changed since twinning.conf.\n")
        };
        match call {
            Call::Init => std::ptr::null_mut(),
            Call::Complete { pos: 3, word } => {
                complete(&word, user_names());
                std::ptr::null_mut()
            }
            Call::Complete { .. } => std::ptr::null_mut(),
            Call::Run { argv, .. } if argv.len() != 4 => sys::CLI_SHOWUSAGE,
            Call::Run { fd, argv } => {
                let guard = state::lock();
                let text = match guard.as_ref() {
                    None => Err("app_twinning is not loaded".into()),
                    Some(s) => match s.settings().users().find(|(id, _)| id.as_str() == argv[3]) {
                        Some((id, u)) => Ok(report::user_detail(s.settings(), id, u)),
                        None => Err(format!("unknown twinning user '{}'", printable(&argv[3]))),
                    },
                };
                drop(guard);
                finish(fd, text)
            }
        }
    })
}

unsafe extern "C" fn set(e: *mut sys::ast_cli_entry, cmd: c_int, a: *mut sys::ast_cli_args) -> *mut c_char {
    guard::catch("CLI twinning set", sys::CLI_FAILURE, || {
        // SAFETY: the arguments are exactly what Asterisk passed this handler.
        let call = unsafe {
            decode(e, cmd, a, c"twinning set", c"Usage: twinning set <user> <field> <value>\n       Changes one twinning setting of <user> at run time. The change is\n       validated against the destination policy, saved durably (it survives a\n       restart) and announced with the AMI event TwinningSettingsChanged.\n       Use \"\" as <value> to clear mobile or pin.\n")
        };
        match call {
            Call::Init => std::ptr::null_mut(),
            Call::Complete { pos: 2, word } => {
                complete(&word, user_names());
                std::ptr::null_mut()
            }
            Call::Complete { pos: 3, word } => {
                complete(
                    &word,
                    Field::ALL.iter().filter(|f| f.runtime_writable()).map(|f| f.name().to_owned()),
                );
                std::ptr::null_mut()
            }
            Call::Complete { .. } => std::ptr::null_mut(),
            Call::Run { argv, .. } if argv.len() < 5 => sys::CLI_SHOWUSAGE,
            Call::Run { fd, argv } => {
                let value = argv[4..].join(" ");
                let result = state::apply_change(&Source::Cli, &argv[2], &argv[3], &value)
                    .map(|c| {
                        format!("{}.{} set to '{}' (was '{}')\n", c.user, c.field, c.shown().1, c.shown().0)
                    })
                    .map_err(|e| e.to_string());
                finish(fd, result)
            }
        }
    })
}

unsafe extern "C" fn show_calls(
    e: *mut sys::ast_cli_entry,
    cmd: c_int,
    a: *mut sys::ast_cli_args,
) -> *mut c_char {
    guard::catch("CLI twinning show calls", sys::CLI_FAILURE, || {
        // SAFETY: the arguments are exactly what Asterisk passed this handler.
        let call = unsafe {
            decode(
                e,
                cmd,
                a,
                c"twinning show calls",
                c"Usage: twinning show calls\n       Lists twinned calls in progress with the state of each leg.\n",
            )
        };
        match call {
            Call::Init | Call::Complete { .. } => std::ptr::null_mut(),
            Call::Run { argv, .. } if argv.len() != 3 => sys::CLI_SHOWUSAGE,
            Call::Run { fd, .. } => {
                let text = state::calls().render(std::time::Instant::now());
                finish(fd, Ok(text))
            }
        }
    })
}
