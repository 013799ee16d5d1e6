//! CLI: `twinning show users`, `twinning show user <user>`, `twinning set <user> <field>
//! <value>`, `twinning show calls` and `twinning show store`, with completion of user and field names.

use twinning_core::Field;
use twinning_service::Source;

use crate::host::cli::{Command, Output, COUNT};
use crate::pbx::DRIVER;

pub static COMMANDS: [Command; COUNT] = [
    Command {
        words: c"twinning show users",
        usage: c"Usage: twinning show users\n       Lists every twinning user with the main settings in force.\n",
        complete: |_| Vec::new(),
        run: show_users,
    },
    Command {
        words: c"twinning show user",
        usage: c"Usage: twinning show user <user>\n       Shows every twinning setting of <user>; (runtime) marks values changed since twinning.conf.\n",
        complete: |pos| if pos == 3 { user_names() } else { Vec::new() },
        run: show_user,
    },
    Command {
        words: c"twinning set",
        usage: c"Usage: twinning set <user> <field> <value>\n       Changes one twinning setting of <user> at run time. The change is\n       validated against the destination policy, saved durably (it survives a\n       restart) and announced with the AMI event TwinningSettingsChanged.\n       Use \"\" as <value> to clear mobile or pin.\n",
        complete: |pos| match pos {
            2 => user_names(),
            3 => Field::ALL.iter().filter(|f| f.runtime_writable()).map(|f| f.name().to_owned()).collect(),
            _ => Vec::new(),
        },
        run: set,
    },
    Command {
        words: c"twinning show calls",
        usage: c"Usage: twinning show calls\n       Lists twinned calls in progress with the state of each leg.\n",
        complete: |_| Vec::new(),
        run: |argv| if argv.len() != 3 { Output::ShowUsage } else { Output::Success(DRIVER.calls_report()) },
    },
    Command {
        words: c"twinning show store",
        usage: c"Usage: twinning show store\n       Shows where runtime changes are kept (settings_store): the journal file, or\n       the shared PostgreSQL database with its connection state, last sync and\n       the cap's leases.\n",
        complete: |_| Vec::new(),
        run: |argv| if argv.len() != 3 { Output::ShowUsage } else { output(DRIVER.store_report()) },
    },
];

fn user_names() -> Vec<String> {
    DRIVER.user_names()
}

fn output(result: Result<String, String>) -> Output {
    match result {
        Ok(text) => Output::Success(text),
        Err(text) => Output::Failure(text),
    }
}

fn show_users(argv: &[String]) -> Output {
    if argv.len() != 3 {
        return Output::ShowUsage;
    }
    output(DRIVER.users_report())
}

fn show_user(argv: &[String]) -> Output {
    if argv.len() != 4 {
        return Output::ShowUsage;
    }
    output(DRIVER.user_report(&argv[3]))
}

fn set(argv: &[String]) -> Output {
    if argv.len() < 5 {
        return Output::ShowUsage;
    }
    let value = argv[4..].join(" ");
    output(
        DRIVER
            .apply_change(&Source::Cli, &argv[2], &argv[3], &value)
            .map(|c| format!("{}.{} set to '{}' (was '{}')\n", c.user, c.field, c.shown().1, c.shown().0))
            .map_err(|e| e.to_string()),
    )
}
