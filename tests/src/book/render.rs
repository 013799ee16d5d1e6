//! What the references render to: the book's configuration, AMI and ESL sections, and the
//! parts of Asterisk's XML documentation that list the fields.

use std::fmt::Write;

use twinning_core::settings::reference::{self, FieldDoc, GeneralDoc, Group, FIELDS, GENERAL};
use twinning_core::settings::FIRST_EXTRA_DESTINATION;
use twinning_core::{DestinationField, Field};
use twinning_service::report::ami_header;

use super::protocol::{ACTIONS, API, EVENTS};

/// The concrete names a field entry stands for: one, or `mobile2_ring_time` …
/// `mobile10_ring_time`.
fn names(doc: &FieldDoc) -> Vec<&'static str> {
    reference::fields_of(doc).into_iter().map(Field::name).collect()
}

fn is_pattern(doc: &FieldDoc) -> bool {
    doc.name.contains("<n>")
}

fn default_md(default: &str) -> String {
    match default {
        "" => "empty".into(),
        "(required)" => "none: required".into(),
        d if d.starts_with("(the user's ") => {
            let field = d.trim_start_matches("(the user's ").trim_end_matches(')');
            format!("the user's [`{field}`](#{field})")
        }
        d if d.starts_with('(') => d.trim_matches(|c| c == '(' || c == ')').into(),
        d => format!("`{d}`"),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The configuration reference: an index, then every `[general]` key by group, then every
/// per-user field.
pub fn settings_markdown() -> String {
    let mut out = String::new();
    out.push_str("## Index\n\n");
    out.push_str("| name | where | what it does | default |\n|---|---|---|---|\n");
    for doc in FIELDS {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | user | {} | {} |",
            doc.name,
            anchor(doc.name),
            cell(doc.summary),
            default_md(doc.default)
        );
    }
    for group in Group::ALL {
        for doc in GENERAL.iter().filter(|d| d.group == group) {
            let _ = writeln!(
                out,
                "| [`{}`](#{}) | `[general]` | {} | {} |",
                doc.name,
                doc.name,
                cell(doc.summary),
                default_md(doc.default)
            );
        }
    }

    out.push_str("\n## Per-user fields\n\n");
    out.push_str(
        "Each is set in the user's section of `twinning.conf` (FreeSWITCH: a `<param>` of the \
         `<user id=\"...\">`), and read or changed at run time as the field of `TWINNING(user,field)`, \
         the CLI's `twinning set`, AMI `TwinningSet` and FreeSWITCH's `twinning set`. Every change \
         is validated, made durable before it is acknowledged, audited (`TwinningSettingsChanged`) \
         and overrides the file until changed again. Names are matched without regard to case.\n\n",
    );
    for doc in FIELDS {
        field_section(&mut out, doc);
    }

    out.push_str("## `[general]`\n\n");
    out.push_str(
        "System-wide keys (FreeSWITCH: `<param>`s of `<settings>`). Besides these, `[general]` may \
         give any per-user field marked so above as the default for every user.\n\n",
    );
    for group in Group::ALL {
        let _ = writeln!(out, "### {}\n", group.title());
        for doc in GENERAL.iter().filter(|d| d.group == group) {
            general_section(&mut out, doc);
        }
    }
    out
}

/// An anchor for an entry: its name (patterns get `mobile-n`-style anchors that mdBook
/// also gives the heading).
fn anchor(name: &str) -> String {
    super::checks::heading_id(&format!("`{name}`"))
}

fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

fn field_section(out: &mut String, doc: &FieldDoc) {
    let fields = reference::fields_of(doc);
    let first = fields[0];
    if is_pattern(doc) {
        // Every concrete name is an anchor too, so `configuration.md#mobile3_ring_time` lands here.
        for n in names(doc) {
            let _ = write!(out, "<a id=\"{n}\"></a>");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "### `{}`\n", doc.name);
    let _ = writeln!(out, "{}\n", one_line(doc.summary));
    if is_pattern(doc) {
        let all = names(doc);
        let _ = writeln!(
            out,
            "- **Names:** {}",
            all.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        );
    }
    let _ = writeln!(out, "- **Values:** {}", one_line(doc.values));
    let _ = writeln!(out, "- **Default:** {}", default_md(doc.default));
    let mut set_in = vec!["the user's section".to_string()];
    if first.has_general_default() {
        set_in.push("`[general]`, as every user's default".into());
    }
    let _ = writeln!(out, "- **Set in:** {}", set_in.join("; "));
    if first.runtime_writable() {
        let pin = if matches!(first, Field::Mobile | Field::Destination(_, DestinationField::Number)) {
            "; from a phone only after the user's PIN on the same call, when the user has one"
        } else {
            ""
        };
        let _ = writeln!(out, "- **At run time:** read and changed on every surface{pin}");
    } else {
        let _ = writeln!(out, "- **At run time:** read-only (admin-only)");
    }
    let headers: Vec<String> = fields.iter().map(|f| ami_header(*f)).collect();
    let shown = if headers.len() == 1 {
        format!("`{}`", headers[0])
    } else {
        format!("`{}` … `{}` (only for a destination in use)", headers[0], headers[headers.len() - 1])
    };
    let masked = if first.is_secret() { ", as `****` when set" } else { "" };
    let _ = writeln!(out, "- **`TwinningStatus` header:** {shown}{masked}");
    if !doc.details.is_empty() {
        let _ = writeln!(out, "\n{}", one_line(doc.details));
    }
    out.push('\n');
}

fn general_section(out: &mut String, doc: &GeneralDoc) {
    let _ = writeln!(out, "#### `{}`\n", doc.name);
    let _ = writeln!(out, "{}\n", one_line(doc.summary));
    let _ = writeln!(out, "- **Values:** {}", one_line(doc.values));
    let _ = writeln!(out, "- **Default:** {}", default_md(doc.default));
    let _ = writeln!(out, "- **Example:** `{} = {}`", doc.name, doc.example);
    if !doc.details.is_empty() {
        let _ = writeln!(out, "\n{}", one_line(doc.details));
    }
    out.push('\n');
}

/// Text with `code` spans as Asterisk's XML documentation writes it.
pub fn xml_text(text: &str) -> String {
    let escaped = one_line(text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut out = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<literal>{part}</literal>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// The `<enumlist>` of `TWINNING()`'s `field` parameter, one `<enum>` per entry.
pub fn xml_field_enumlist(indent: &str) -> String {
    let mut out = String::new();
    for doc in FIELDS {
        let name = doc.name.replace('<', "&lt;").replace('>', "&gt;");
        let mut text = format!("{} {}", doc.summary, doc.values);
        if is_pattern(doc) {
            let n = names(doc);
            text = format!("`{}` … `{}`: {text}", n[0], n[n.len() - 1]);
        }
        let default = match doc.default {
            "" => " Default: empty.".to_string(),
            "(required)" => String::new(),
            d if d.starts_with('(') => format!(" Default: {}.", d.trim_matches(|c| c == '(' || c == ')')),
            d => format!(" Default: `{d}`."),
        };
        text.push_str(&default);
        if !reference::fields_of(doc)[0].runtime_writable() {
            text.push_str(" Admin-only: read-only here; set it in twinning.conf.");
        }
        if doc.name == "pin" {
            text.push_str(" Reads back as `****` (empty when there is none).");
        }
        let _ = writeln!(out, "{indent}<enum name=\"{name}\"><para>{}</para></enum>", xml_text(&text));
    }
    out
}

/// The parameters of the `TwinningUser` event: `User`, then one per field (destinations
/// 2 … 10 as a pattern).
pub fn xml_twinning_user_parameters(indent: &str) -> String {
    let mut out = format!("{indent}<parameter name=\"User\"><para>The user.</para></parameter>\n");
    for doc in FIELDS {
        let fields = reference::fields_of(doc);
        let header = if is_pattern(doc) {
            ami_header(fields[0]).replacen(&FIRST_EXTRA_DESTINATION.to_string(), "&lt;n&gt;", 1)
        } else {
            ami_header(fields[0])
        };
        let mut text = format!("`{}`: {}", doc.name, doc.summary);
        if is_pattern(doc) {
            text.push_str(" Listed only for a destination in use.");
        }
        if doc.name == "pin" {
            text.push_str(" `****` when a PIN is set, else empty.");
        }
        let _ = writeln!(
            out,
            "{indent}<parameter name=\"{header}\"><para>{}</para></parameter>",
            xml_text(&text)
        );
    }
    let _ = writeln!(
        out,
        "{indent}<parameter name=\"RuntimeFields\"><para>{}</para></parameter>",
        xml_text(
            "Where the values come from: the fields (by their names, `ring_time,mobile2`) whose value a runtime \
             change set; every other value is twinning.conf's. Empty when all are."
        )
    );
    out
}

/// The AMI reference: actions, then events by class.
pub fn ami_markdown() -> String {
    let mut out = String::from("## Actions\n\n| action | write class | what it does |\n|---|---|---|\n");
    for a in ACTIONS {
        let _ = writeln!(
            out,
            "| [`{}`](#{}-action) | `{}` | {} |",
            a.name,
            a.name.to_lowercase(),
            a.class,
            cell(a.summary)
        );
    }
    out.push('\n');
    for a in ACTIONS {
        let _ = writeln!(out, "### `{}` action\n", a.name);
        let _ = writeln!(out, "{} Needs the `{}` write class.\n", a.summary, a.class);
        out.push_str("| header | required | meaning |\n|---|---|---|\n");
        for (h, required, meaning) in a.headers {
            let _ = writeln!(out, "| `{h}` | {} | {} |", if *required { "yes" } else { "no" }, cell(meaning));
        }
        let _ = writeln!(out, "\n**Response:** {}\n", one_line(a.response));
    }
    out.push_str("## Events\n\n| event | read class | FreeSWITCH subclass | when |\n|---|---|---|---|\n");
    for e in EVENTS {
        let _ = writeln!(
            out,
            "| [`{}`](#{}-event) | `{}` | {} | {} |",
            e.ami,
            e.ami.to_lowercase(),
            e.class,
            e.subclass.map_or("(AMI only)".into(), |s| format!("`{s}`")),
            cell(e.summary)
        );
    }
    out.push('\n');
    for e in EVENTS {
        let _ = writeln!(out, "### `{}` event\n", e.ami);
        let also = e.subclass.map_or(String::new(), |s| format!(" FreeSWITCH: `CUSTOM` `{s}`."));
        let _ = writeln!(out, "{} Class `{}`.{also}\n", one_line(e.summary), e.class);
        out.push_str("| field | meaning |\n|---|---|\n");
        for (f, meaning) in e.fields {
            let _ = writeln!(out, "| `{f}` | {} |", cell(meaning));
        }
        out.push('\n');
    }
    out
}

/// The ESL reference: the `twinning` API and the `CUSTOM` events.
pub fn esl_markdown() -> String {
    let mut out = String::from("## The `twinning` API\n\n| command | what it does |\n|---|---|\n");
    for f in API {
        let _ = writeln!(out, "| `twinning {}` | {} |", f.usage.replace('|', "\\|"), cell(f.summary));
    }
    out.push_str(
        "\n## Events\n\nEach is `Event-Name: CUSTOM` with this `Event-Subclass`, the fields of the AMI \
         event of the same meaning, and the caller's `Channel` and `Uniqueid`, with FreeSWITCH's \
         `Unique-ID`, `Channel-Name` and `Channel-Call-UUID` for clients that follow a call by them \
         (`myevents`, filters). FreeSWITCH's whole channel data (states, the caller profile, codecs) \
         and the channel variables (`variable_*`) are added only when FreeSWITCH is asked for verbose \
         events, globally (`fsctl verbose_events on`) or on the caller's channel (the \
         `verbose_events` application): building them into every event was the largest part of what \
         `twinning` cost more than `bridge` (see [Performance](performance.md)).\n\n\
         | subclass | AMI event | fields |\n|---|---|---|\n",
    );
    for e in EVENTS {
        let Some(subclass) = e.subclass else { continue };
        let fields: Vec<String> = e.fields.iter().map(|(f, _)| format!("`{f}`")).collect();
        let _ = writeln!(
            out,
            "| `{subclass}` | [`{}`](ami.md#{}-event) | {} |",
            e.ami,
            e.ami.to_lowercase(),
            fields.join(", ")
        );
    }
    let subclasses: Vec<&str> = EVENTS.iter().filter_map(|e| e.subclass).collect();
    let _ = writeln!(
        out,
        "\nSubscribe to all of them:\n\n```text\nevent plain CUSTOM {}\n```",
        subclasses.join(" ")
    );
    out
}
