//! Compares `freeswitch-module/src/host/ffi.rs` (declared by hand, because no FreeSWITCH
//! headers are packaged where the project builds) with bindings bindgen generates from
//! real FreeSWITCH 1.10 headers, when they are given:
//!
//! - `FREESWITCH_INCLUDE_DIR` (the directory holding `switch.h`), or
//! - `FREESWITCH_PREFIX` (an install prefix; `include/freeswitch` under it).
//!
//! Signatures and constants are compared here, item by item, and what differs is written
//! into the generated test; struct layouts are compared by the test itself (offsets and
//! sizes of both declarations compiled side by side).

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use quote::ToTokens;

const HAND: &str = "../../freeswitch-module/src/host/ffi.rs";

fn main() {
    println!("cargo:rerun-if-changed={HAND}");
    println!("cargo:rerun-if-env-changed=FREESWITCH_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=FREESWITCH_PREFIX");
    println!("cargo:rustc-check-cfg=cfg(freeswitch_headers)");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let Some(include) = include_dir() else {
        fs::write(out.join("checks.rs"), "").unwrap();
        fs::write(out.join("bindings.rs"), "").unwrap();
        return;
    };
    println!("cargo:rustc-cfg=freeswitch_headers");
    println!("cargo:rerun-if-changed={}", include.display());
    let hand_text = fs::read_to_string(HAND).expect("the module's ffi.rs");
    let hand = syn::parse_file(&hand_text).expect("ffi.rs parses");
    let items = Items::of(&hand);

    let mut builder = bindgen::Builder::default()
        .header(include.join("switch.h").to_string_lossy())
        .clang_arg(format!("-I{}", include.display()))
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(false)
        .derive_default(false);
    for f in items.functions.keys() {
        builder = builder.allowlist_function(f);
    }
    for t in items.types.iter().chain(items.structs.keys()) {
        builder = builder.allowlist_type(t);
        // Flag words are `typedef uint32_t x_t` with their values in `enum x_enum_t`.
        builder = builder.allowlist_type(format!("{}_enum_t", t.trim_end_matches("_t")));
    }
    for c in items.consts.keys() {
        builder = builder.allowlist_var(c);
    }
    let generated = builder.generate().expect("bindgen over the FreeSWITCH headers").to_string();
    fs::write(out.join("bindings.rs"), &generated).unwrap();
    let gen = syn::parse_file(&generated).expect("bindgen output parses");
    let gen_items = Items::of(&gen);

    let mut problems = Vec::new();
    let aliases = |items: &Items| items.aliases.clone();
    let (hand_aliases, gen_aliases) = (aliases(&items), aliases(&gen_items));
    for (name, sig) in &items.functions {
        match gen_items.functions.get(name) {
            None => problems.push(format!("function {name} is not exported by these headers")),
            Some(g) => {
                let (h, g) = (shape(sig, &hand_aliases), shape(g, &gen_aliases));
                if h != g {
                    problems.push(format!("function {name}: declared {h}, headers say {g}"));
                }
            }
        }
    }
    let mut checks = String::new();
    for name in items.consts.keys() {
        if gen_items.consts.contains_key(name) {
            checks.push_str(&format!(
                "    assert_eq!(hand::{name} as i128, generated::{name} as i128, \"constant {name}\");\n"
            ));
        } else {
            problems.push(format!("constant {name} is not in these headers"));
        }
    }
    for (name, fields) in &items.structs {
        let Some(gen_fields) = gen_items.structs.get(name) else {
            problems.push(format!("struct {name} is not in these headers"));
            continue;
        };
        if gen_fields.len() < fields.len() || gen_fields[..fields.len()] != fields[..] {
            problems
                .push(format!("struct {name}: fields {fields:?} are not the leading fields {gen_fields:?}"));
            continue;
        }
        for f in fields {
            checks.push_str(&format!(
                "    assert_eq!(std::mem::offset_of!(hand::{name}, {f}), std::mem::offset_of!(generated::{name}, {f}), \"offset of {name}.{f}\");\n"
            ));
        }
        if gen_fields.len() == fields.len() {
            checks.push_str(&format!(
                "    assert_eq!(std::mem::size_of::<hand::{name}>(), std::mem::size_of::<generated::{name}>(), \"size of {name}\");\n"
            ));
        }
    }
    let checked = items.functions.len() + items.consts.len() + items.structs.len();
    let test = format!(
        "pub const INCLUDE_DIR: &str = {include:?};\npub const ITEMS_CHECKED: usize = {checked};\npub const PROBLEMS: &[&str] = &{problems:?};\npub fn check_layouts() {{\n{checks}}}\n",
        include = include.display().to_string(),
    );
    fs::write(out.join("checks.rs"), test).unwrap();
}

fn include_dir() -> Option<PathBuf> {
    if let Some(d) = env::var_os("FREESWITCH_INCLUDE_DIR") {
        return Some(PathBuf::from(d));
    }
    let prefix = PathBuf::from(env::var_os("FREESWITCH_PREFIX")?);
    let d = prefix.join("include").join("freeswitch");
    Path::new(&d).join("switch.h").exists().then_some(d)
}

#[derive(Default)]
struct Items {
    functions: BTreeMap<String, syn::Signature>,
    consts: BTreeMap<String, String>,
    /// Structs with named fields (in order); opaque ones are handled as types.
    structs: BTreeMap<String, Vec<String>>,
    types: Vec<String>,
    aliases: BTreeMap<String, syn::Type>,
}

impl Items {
    fn of(file: &syn::File) -> Items {
        let mut items = Items::default();
        for item in &file.items {
            match item {
                syn::Item::ForeignMod(m) => {
                    for f in &m.items {
                        if let syn::ForeignItem::Fn(f) = f {
                            items.functions.insert(f.sig.ident.to_string(), f.sig.clone());
                        }
                    }
                }
                syn::Item::Const(c) => {
                    items.consts.insert(c.ident.to_string(), c.expr.to_token_stream().to_string());
                }
                syn::Item::Struct(s) => {
                    let name = s.ident.to_string();
                    let fields: Vec<String> = s
                        .fields
                        .iter()
                        .filter_map(|f| f.ident.as_ref().map(|i| i.to_string()))
                        .filter(|f| !f.starts_with('_'))
                        .collect();
                    if fields.is_empty() {
                        items.types.push(name);
                    } else {
                        items.structs.insert(name, fields);
                    }
                }
                syn::Item::Type(t) => {
                    items.types.push(t.ident.to_string());
                    items.aliases.insert(t.ident.to_string(), (*t.ty).clone());
                }
                _ => {}
            }
        }
        items
    }
}

/// A signature reduced to what the ABI sees: each argument and the return value as a
/// primitive, a pointer (to a named thing, aliases resolved, a trailing `_t` dropped) or a
/// function pointer; plus whether it is variadic.
fn shape(sig: &syn::Signature, aliases: &BTreeMap<String, syn::Type>) -> String {
    let args: Vec<String> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            syn::FnArg::Typed(t) => Some(canonical(&t.ty, aliases, 0)),
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let ret = match &sig.output {
        syn::ReturnType::Default => "()".to_string(),
        syn::ReturnType::Type(_, t) => canonical(t, aliases, 0),
    };
    format!("({}{}) -> {ret}", args.join(", "), if sig.variadic.is_some() { ", ..." } else { "" })
}

fn canonical(ty: &syn::Type, aliases: &BTreeMap<String, syn::Type>, depth: u32) -> String {
    match ty {
        syn::Type::Ptr(p) => {
            let inner = canonical(&p.elem, aliases, depth + 1);
            format!("*{inner}")
        }
        syn::Type::Path(p) => {
            let last = p.path.segments.last().unwrap();
            let name = last.ident.to_string();
            if name == "Option" {
                return "fnptr".into();
            }
            let primitive = match name.as_str() {
                "c_char" | "i8" => Some("i8"),
                "c_uchar" | "u8" => Some("u8"),
                "c_int" | "i32" => Some("i32"),
                "c_uint" | "u32" => Some("u32"),
                "c_long" | "i64" | "isize" => Some("i64"),
                "c_ulong" | "u64" | "usize" => Some("u64"),
                "c_void" => Some("void"),
                _ => None,
            };
            if let Some(p) = primitive {
                return p.into();
            }
            match aliases.get(&name) {
                Some(t) if depth < 8 => canonical(t, aliases, depth + 1),
                // `typedef struct x_s x_t` and `typedef struct x x_t` name one struct.
                _ => name.trim_end_matches("_t").trim_end_matches("_s").to_string(),
            }
        }
        syn::Type::BareFn(_) => "fnptr".into(),
        syn::Type::Tuple(t) if t.elems.is_empty() => "()".into(),
        other => other.to_token_stream().to_string(),
    }
}
