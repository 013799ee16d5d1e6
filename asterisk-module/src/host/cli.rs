//! CLI commands: registration, and trampolines that decode Asterisk's handler protocol
//! (init, completion, run) into safe Rust bodies, under the panic guard.

use std::ffi::{c_char, c_int, CStr};

use asterisk_sys as sys;

use super::module::ModuleHandle;
use super::{cstr, guard};

/// How a command ended.
pub enum Output {
    Success(String),
    Failure(String),
    /// The words were wrong: Asterisk prints the usage.
    ShowUsage,
}

pub struct Command {
    /// The command's words (`twinning show users`); also its name in the panic guard.
    pub words: &'static CStr,
    pub usage: &'static CStr,
    /// Completions for the word at `pos` (0-based, counting the command's words), given
    /// what is typed of it; filtered by prefix here.
    pub complete: fn(usize) -> Vec<String>,
    /// Runs with every word typed, the command's own included.
    pub run: fn(&[String]) -> Output,
}

pub const COUNT: usize = 5;

static COMMANDS: std::sync::OnceLock<&'static [Command; COUNT]> = std::sync::OnceLock::new();

type Handler = unsafe extern "C" fn(*mut sys::ast_cli_entry, c_int, *mut sys::ast_cli_args) -> *mut c_char;
const HANDLERS: [Handler; COUNT] = [handler::<0>, handler::<1>, handler::<2>, handler::<3>, handler::<4>];

/// The registered entries. Asterisk writes into them (parsed words, list links), so they
/// live on the heap, owned by the module from register to unregister.
struct Registration(*mut [sys::ast_cli_entry; COUNT]);

// SAFETY: only used on load/unload, which Asterisk serialises.
unsafe impl Send for Registration {}

static REGISTERED: std::sync::Mutex<Option<Registration>> = std::sync::Mutex::new(None);

pub fn register(module: ModuleHandle, commands: &'static [Command; COUNT]) -> Result<(), String> {
    COMMANDS.get_or_init(|| commands);
    let entries = Box::into_raw(Box::new(
        HANDLERS.map(|h| sys::ast_cli_entry { handler: Some(h), ..Default::default() }),
    ));
    for i in 0..COUNT {
        // SAFETY: `entries` is a live heap array; each entry stays valid until unregister.
        // Asterisk calls the handler with CLI_INIT during registration to learn its words.
        let rc = unsafe { sys::__ast_cli_register(&mut (*entries)[i], module.raw()) };
        if rc != 0 {
            Registration(entries).unregister_first(i);
            return Err("could not register the twinning CLI commands".into());
        }
    }
    *REGISTERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Registration(entries));
    Ok(())
}

pub fn unregister() {
    if let Some(r) = REGISTERED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        r.unregister_first(COUNT);
    }
}

impl Registration {
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

unsafe extern "C" fn handler<const I: usize>(
    e: *mut sys::ast_cli_entry,
    cmd: c_int,
    a: *mut sys::ast_cli_args,
) -> *mut c_char {
    let Some(command) = COMMANDS.get().map(|c| &c[I]) else { return sys::CLI_FAILURE };
    let name = format!("CLI {}", command.words.to_string_lossy());
    guard::catch(&name, sys::CLI_FAILURE, || {
        // SAFETY: `e` is our live entry and `a` (when not INIT) the live arguments, with
        // `argc` valid strings in `argv`, as Asterisk calls a handler.
        unsafe {
            match cmd {
                sys::CLI_INIT => {
                    (*e).command = command.words.as_ptr() as *mut c_char;
                    (*e).usage = command.usage.as_ptr();
                    std::ptr::null_mut()
                }
                sys::CLI_GENERATE => {
                    let word = cstr::borrow((*a).word).into_owned();
                    for c in (command.complete)((*a).pos.max(0) as usize)
                        .into_iter()
                        .filter(|c| c.starts_with(&word))
                    {
                        let c = cstr::owned(&c);
                        // __ast_strdup copies into Asterisk's allocator; the completion
                        // list takes ownership of that copy (and frees it on failure).
                        let copy =
                            sys::__ast_strdup(c.as_ptr(), c"app_twinning".as_ptr(), 0, c"complete".as_ptr());
                        sys::ast_cli_completion_add(copy);
                    }
                    std::ptr::null_mut()
                }
                _ => {
                    let argv: Vec<String> = (0..(*a).argc.max(0) as usize)
                        .map(|i| cstr::borrow(*(*a).argv.add(i)).into_owned())
                        .collect();
                    let fd = (*a).fd;
                    let print = |text: &str| {
                        let text = cstr::owned(text);
                        // `fd` is the CLI's output for this call; "%s" with one string.
                        sys::ast_cli(fd, c"%s".as_ptr(), text.as_ptr());
                    };
                    match (command.run)(&argv) {
                        Output::Success(text) => {
                            print(&text);
                            sys::CLI_SUCCESS
                        }
                        Output::Failure(text) => {
                            print(&format!("{text}\n"));
                            sys::CLI_FAILURE
                        }
                        Output::ShowUsage => sys::CLI_SHOWUSAGE,
                    }
                }
            }
        }
    })
}
