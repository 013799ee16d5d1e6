//! Generates the Asterisk bindings from the headers of the Asterisk the module will load
//! into, because struct layouts (ast_module_info, ast_custom_function, ast_cli_entry...)
//! drift between releases and a hand-copied layout fails silently at run time.
//!
//! Headers are found, in order, at `ASTERISK_INCLUDE_DIR`; in the root provisioned by
//! `scripts/provision-asterisk` (`TWINNING_ASTERISK_ROOT`, default
//! `$XDG_CACHE_HOME/twinning/asterisk-root`); or in `/usr/include` when an Asterisk is
//! installed on the host.

use std::env;
use std::path::{Path, PathBuf};

/// Exactly the API the module calls, so a header change elsewhere cannot break the build
/// and the bindings stay small enough to read.
const FUNCTIONS: &[&str] = &[
    "ast_module_register",
    "ast_module_unregister",
    "ast_module_name",
    "__ast_module_ref",
    "__ast_module_unref",
    "ast_log",
    "ast_verb_console_get",
    "__ast_custom_function_register",
    "__ast_custom_function_register_escalating",
    "ast_custom_function_unregister",
    "pbx_builtin_setvar_helper",
    "ast_channel_name",
    "__ast_cli_register",
    "ast_cli_unregister",
    "ast_cli",
    "ast_cli_completion_add",
    "ast_manager_register2",
    "ast_manager_unregister",
    "astman_get_header",
    "astman_send_error",
    "astman_send_ack",
    "astman_append",
    "astman_send_listack",
    "astman_send_list_complete_start",
    "astman_send_list_complete_end",
    "__ast_manager_event_multichan",
    "ast_db_put",
    "ast_db_get",
    "ast_db_del",
    "ast_db_gettree",
    "ast_db_freetree",
    "ast_db_deltree",
    "ast_config_load2",
    "ast_config_destroy",
    "ast_category_browse",
    "ast_category_browse_filtered",
    "ast_category_get_name",
    "ast_category_is_template",
    "ast_variable_browse",
    "ast_category_first",
    "ast_free_ptr",
    "__ast_strdup",
    // Calls: the application, its legs, frames, prompts and the bridge.
    "ast_register_application2",
    "ast_unregister_application",
    "ast_request",
    "ast_call",
    "ast_hangup",
    "ast_answer",
    "ast_indicate",
    "ast_waitfor_n",
    "ast_read",
    "ast_frame_free",
    "ast_check_hangup",
    "ast_channel_state",
    "ast_channel_inherit_variables",
    "ast_channel_exten",
    "ast_channel_nativeformats",
    "ast_channel_hangupcause",
    "ast_channel_uniqueid",
    "ast_streamfile",
    "ast_stopstream",
    "ast_bridge_basic_new",
    "ast_bridge_impart",
    "ast_bridge_join",
    "ast_bridge_destroy",
    "ast_bridge_features_new",
    "ast_bridge_features_destroy",
    // Mid-call control: DTMF hooks on legs, hold, blind transfer, references, stopping legs.
    "ast_bridge_dtmf_hook",
    "ast_bridge_channel_write_hold",
    "ast_bridge_channel_write_unhold",
    "ast_bridge_transfer_blind",
    "ast_readstring",
    "ast_softhangup",
    "__ao2_ref",
    // Holding the caller for the desk after the mobile hangs up.
    "ast_bridge_base_new",
    "ast_bridge_remove",
    "ast_channel_add_bridge_role",
    "ast_channel_set_bridge_role_option",
    "ast_channel_remove_bridge_role",
    // TwinningAuthenticate(): a prompt that reads the PIN, and the prompts around it.
    "ast_app_getdata",
    "ast_stream_and_wait",
    "localtime_r",
    "time",
    // Threads the module starts, through Asterisk's own wrapper (they show in `core show
    // threads`), joined at unload.
    "ast_pthread_create_stack",
    "pthread_join",
    "twinning_channel_caller",
    "twinning_set_outgoing_identity",
    "twinning_channel_language",
    "twinning_channel_dnid",
    "twinning_softhangup",
    // TwinningAccess: the call goes on in access_context as the user.
    "twinning_continue_as",
    // TwinningCallback: the call back to the mobile, and its PBX once the PIN is right.
    "twinning_originate",
    "ast_pbx_start",
    // One CDR row per leg, as Dial's: the dial's start and end, the accounts, the userfield,
    // and the modifier that bills a leg answered and dropped before it was bridged.
    "twinning_leg_accounts",
    "twinning_str_append",
    "twinning_publish_dial_begin",
    "twinning_dial_end_failed",
    "twinning_dial_end_answered",
    "ast_channel_publish_dial",
    "ast_func_write",
    "ast_cdr_modifier_register",
    "ast_cdr_modifier_unregister",
    "ast_devstate_prov_add",
    "ast_devstate_prov_del",
    "ast_devstate_changed_literal",
    // Consult from the mobile: its call as the user, relayed on the mobile's hook thread
    // until it joins the caller's bridge, and a leave hook for a conference of three.
    "ast_write",
    "ast_senddigit_begin",
    "ast_senddigit_end",
    "ast_channel_make_compatible",
    "ast_bridge_leave_hook",
    "twinning_set_peeraccount",
];

const TYPES: &[&str] = &[
    "ast_module_info",
    "ast_module_load_result",
    "ast_module_support_level",
    "ast_module_flags",
    "ast_module_load_priority",
    "ast_custom_function",
    "ast_cdr",
    "ast_cdr_disposition",
    "prometheus_callback",
    "ast_cli_entry",
    "ast_cli_args",
    "ast_cli_command",
    "ast_db_entry",
    "ast_variable",
    "ast_flags",
    "mansession",
    "message",
    "ast_frame",
    "ast_frame_type",
    "ast_control_frame_type",
    "ast_channel_state",
    "ast_bridge_impart_flags",
    "ast_bridge_join_flags",
    "tm",
    "ast_bridge_channel",
    "ast_transfer_result",
    "ast_bridge_hook_remove_flags",
    "ast_bridge_capability",
    "ast_bridge_feature_flags",
    "ast_device_state",
    "ast_devstate_cache",
];

const VARS: &[&str] = &[
    "AST_MODFLAG_.*",
    "AST_MODPRI_.*",
    "__LOG_.*",
    "EVENT_FLAG_.*",
    "RESULT_.*",
    "CONFIG_FLAG_.*",
    "ast_config_AST_.*",
    "twinning_.*",
    "AST_CAUSE_.*",
    "AST_SOFTHANGUP_.*",
];

fn main() {
    let include = find_include_dir();
    println!("cargo:rerun-if-env-changed=ASTERISK_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=TWINNING_ASTERISK_ROOT");
    println!("cargo:rerun-if-env-changed=XDG_CACHE_HOME");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=build/shim.c");
    println!("cargo:rerun-if-changed={}", include.join("asterisk/buildopts.h").display());
    println!("cargo:rerun-if-changed={}", include.join("asterisk/version.h").display());
    // Lets dependants (the module's build script, tests) know which Asterisk this is.
    println!("cargo:include={}", include.display());

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let include = asterisk_only_include_dir(&include, &out_dir);
    cc::Build::new()
        .file(manifest.join("build/shim.c"))
        .include(&include)
        .include(&manifest)
        .define("_GNU_SOURCE", None)
        .warnings(false)
        // Asterisk's headers warn by the dozen, but a function used without its declaration
        // is a bug: C would take its pointer result for an int (found by the CDR shim).
        .flag("-Werror=implicit-function-declaration")
        .compile("twinning_asterisk_shim");

    let mut builder = bindgen::Builder::default()
        .header(manifest.join("wrapper.h").to_string_lossy())
        .clang_arg(format!("-I{}", include.display()))
        .clang_arg("-D_GNU_SOURCE")
        // Asterisk builds its cleanup helpers on clang blocks when the compiler is clang.
        .clang_arg("-fblocks")
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .default_enum_style(bindgen::EnumVariation::ModuleConsts)
        .derive_default(true)
        .layout_tests(true)
        .generate_comments(false)
        .allowlist_recursively(true)
        // Opaque where Rust never looks inside, so unrelated layout changes stay harmless.
        .opaque_type("mansession")
        .opaque_type("message")
        .opaque_type("ast_channel")
        .opaque_type("ast_module")
        .opaque_type("ast_str")
        .opaque_type("ast_config")
        .opaque_type("ast_bridge")
        .opaque_type("ast_bridge_channel_.*")
        .opaque_type("ast_bridge_technology")
        .opaque_type("ast_bridge_tech_optimizations")
        .opaque_type("ast_format_cap")
        .opaque_type("ast_format")
        .opaque_type("ast_bridge_features")
        .opaque_type("ast_bridge_tech_optimizations")
        .opaque_type("ast_assigned_ids")
        .opaque_type("ast_category")
        .opaque_type("ast_string_field_mgr")
        .opaque_type("ast_string_field_pool")
        .opaque_type("ast_rwlock_info")
        .opaque_type("pthread_rwlock_t")
        .opaque_type("pthread_mutex_t");
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    builder = builder
        .allowlist_var("twinning_ast_buildopt_sum")
        .allowlist_var("twinning_ast_gpl_key")
        .clang_arg(format!("-include{}", manifest.join("build/shim_decls.h").display()));

    let bindings = builder.generate().unwrap_or_else(|e| {
        panic!("bindgen could not read the Asterisk headers in {}: {e}", include.display())
    });
    let out = out_dir.join("bindings.rs");
    bindings.write_to_file(&out).expect("write bindings");
}

/// A directory holding only Asterisk's own headers, linked from `include`. When the headers
/// come from a provisioned root, its `usr/include` also holds that distribution's libc
/// headers, which must not shadow the build host's own.
fn asterisk_only_include_dir(include: &Path, out_dir: &Path) -> PathBuf {
    let dir = out_dir.join("asterisk-include");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create include dir");
    for name in ["asterisk.h", "asterisk"] {
        std::os::unix::fs::symlink(include.join(name), dir.join(name)).expect("link Asterisk headers");
    }
    dir
}

fn find_include_dir() -> PathBuf {
    let has_headers =
        |dir: &Path| dir.join("asterisk.h").is_file() && dir.join("asterisk/buildopts.h").is_file();
    if let Some(dir) = env::var_os("ASTERISK_INCLUDE_DIR").map(PathBuf::from) {
        if has_headers(&dir) {
            return dir;
        }
        panic!(
            "ASTERISK_INCLUDE_DIR={} does not hold Asterisk's headers (asterisk.h and asterisk/buildopts.h); \
             point it at the directory that has them, e.g. /usr/include after installing asterisk-dev",
            dir.display()
        );
    }
    let root = env::var_os("TWINNING_ASTERISK_ROOT").map(PathBuf::from).unwrap_or_else(|| {
        let cache = env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from("/nonexistent"));
        cache.join("twinning/asterisk-root")
    });
    for candidate in [root.join("usr/include"), PathBuf::from("/usr/include")] {
        if has_headers(&candidate) {
            return candidate;
        }
    }
    panic!(
        "no Asterisk headers found. Run scripts/provision-asterisk (as root) to provision Asterisk 22 \
         into {}, or set ASTERISK_INCLUDE_DIR to the headers of an installed Asterisk (asterisk-dev)",
        root.display()
    );
}
