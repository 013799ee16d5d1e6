//! `twinctl`: see `twinctl --help` and the book's chapter "twinctl and the web pages".

fn main() {
    twinning_console::cli::init_logging();
    std::process::exit(twinning_console::cli::main());
}
