//! The admin guide in `docs/` (an mdBook) and what keeps it true: the parts rendered from
//! the code's references (the settings in `twinning_core::settings::reference`, the
//! protocol lists in [`protocol`]), where they go, and the checks on the rest
//! ([`checks`]). `scripts/book` runs them; `tests/tests/book.rs` runs them with every test.

pub mod checks;
pub mod protocol;
pub mod render;

use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// The book's sources.
pub fn src() -> PathBuf {
    root().join("docs/src")
}

/// One part of a file that is rendered from a reference rather than written by hand.
pub struct Generated {
    /// The file, relative to the workspace root.
    pub file: &'static str,
    /// Where in it: between `<!-- generated: NAME ... -->` and `<!-- end generated: NAME -->`
    /// in a chapter, or a located XML element.
    pub region: Region,
    pub content: String,
}

pub enum Region {
    /// Between marker comments in a Markdown chapter.
    Markers(&'static str),
    /// The body of the first `open ... close` after `within` then `after` in an XML file.
    Xml { within: &'static str, after: &'static str, open: &'static str, close: &'static str },
}

/// Everything rendered from the references, and where it belongs.
pub fn generated() -> Vec<Generated> {
    vec![
        Generated {
            file: "docs/src/configuration.md",
            region: Region::Markers("settings"),
            content: render::settings_markdown(),
        },
        Generated {
            file: "docs/src/ami.md",
            region: Region::Markers("ami"),
            content: render::ami_markdown(),
        },
        Generated {
            file: "docs/src/esl.md",
            region: Region::Markers("esl"),
            content: render::esl_markdown(),
        },
        Generated {
            file: "asterisk-module/docs/twinning-en_US.xml",
            region: Region::Xml {
                within: "<function name=\"TWINNING\"",
                after: "<parameter name=\"field\"",
                open: "<enumlist>\n",
                close: "\t\t\t\t</enumlist>",
            },
            content: render::xml_field_enumlist("\t\t\t\t\t"),
        },
        Generated {
            file: "asterisk-module/docs/twinning-en_US.xml",
            region: Region::Xml {
                within: "<managerEvent name=\"TwinningUser\"",
                after: "<synopsis>",
                open: "<syntax>\n",
                close: "\t\t\t\t\t\t</syntax>",
            },
            content: render::xml_twinning_user_parameters("\t\t\t\t\t\t\t"),
        },
    ]
}

/// Where the region is in `text`: the byte range of its body.
fn locate(text: &str, region: &Region) -> Result<(usize, usize), String> {
    match region {
        Region::Markers(name) => {
            let begin = format!("<!-- generated: {name} ");
            let end = format!("<!-- end generated: {name} -->");
            let b = text.find(&begin).ok_or_else(|| format!("no '{begin}...-->' marker"))?;
            let body = b + text[b..].find("-->\n").ok_or("the begin marker is not closed")? + 4;
            let e = text[body..].find(&end).ok_or_else(|| format!("no '{end}' marker"))? + body;
            Ok((body, e))
        }
        Region::Xml { within, after, open, close } => {
            let w = text.find(within).ok_or_else(|| format!("no {within}"))?;
            let a = w + text[w..].find(after).ok_or_else(|| format!("no {after} in {within}"))?;
            let body =
                a + text[a..].find(open).ok_or_else(|| format!("no {open:?} after {after}"))? + open.len();
            let e = body + text[body..].find(close).ok_or_else(|| format!("no {close:?} after {open:?}"))?;
            Ok((body, e))
        }
    }
}

/// Compares every generated part with its file; with `write`, rewrites the parts that
/// differ. Returns what differed (or could not be found).
pub fn sync(write: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let root = root();
    for g in generated() {
        let path = root.join(g.file);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{}: {e}", g.file));
                continue;
            }
        };
        let (b, e) = match locate(&text, &g.region) {
            Ok(r) => r,
            Err(m) => {
                problems.push(format!("{}: {m}", g.file));
                continue;
            }
        };
        if text[b..e] != g.content {
            let what = match g.region {
                Region::Markers(n) => format!("the generated part '{n}'"),
                Region::Xml { within, .. } => {
                    format!("the part of {within}> rendered from the settings reference")
                }
            };
            problems.push(format!(
                "{}: {what} differs from what the reference renders (run scripts/book --write)",
                g.file
            ));
            if write {
                let updated = format!("{}{}{}", &text[..b], g.content, &text[e..]);
                fs::write(&path, updated).unwrap_or_else(|e| panic!("{}: {e}", g.file));
            }
        }
    }
    problems
}

/// Every check on the book's sources, the README and the samples, in one list.
pub fn check_sources() -> Vec<String> {
    let root = root();
    let src = src();
    let mut problems = Vec::new();
    problems.extend(checks::check_links(&src));
    problems.extend(checks::check_includes(&src));
    problems.extend(checks::check_no_copied_samples(&root, &src));
    problems.extend(checks::check_ini_snippets(&src));
    let mut named = checks::chapters(&src);
    named.push(root.join("README.md"));
    problems.extend(checks::check_scripts(&root, &named));
    problems.extend(checks::check_figures(&src));
    problems.extend(checks::check_readme(&root));
    problems.extend(checks::check_samples_mention_every_setting(&root));
    problems.extend(checks::check_samples_load(&root));
    problems
}
