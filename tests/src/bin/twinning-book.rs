//! Renders the book's reference parts from the code (`scripts/book --write`), or says where
//! the files differ from what the code renders (`scripts/book`, and without arguments).
//! The references: `crates/twinning-core/src/settings/reference.rs` (every setting) and
//! `tests/src/book/protocol.rs` (AMI and ESL).

use std::process::ExitCode;

use twinning_tests::book;

fn main() -> ExitCode {
    let write = match std::env::args().nth(1).as_deref() {
        None | Some("--check") => false,
        Some("--write") => true,
        Some(other) => {
            eprintln!("usage: twinning-book [--check | --write] (got {other})");
            return ExitCode::from(2);
        }
    };
    let mut problems = book::sync(write);
    if write {
        for p in &problems {
            println!("rewrote: {p}");
        }
        problems = book::sync(false);
    }
    problems.extend(book::check_sources());
    for p in &problems {
        eprintln!("book: {p}");
    }
    if problems.is_empty() {
        println!("book: the generated parts match the references; links, includes, snippets, scripts and figures check out");
        ExitCode::SUCCESS
    } else {
        eprintln!("book: {} problem(s)", problems.len());
        ExitCode::FAILURE
    }
}
