//! The part of FreeSWITCH 1.10's C API this module uses, declared by hand: no FreeSWITCH
//! headers are packaged where this project builds. It is kept to real exported symbols
//! (the `*_detailed` / `*_perform_*` / `*_var_check` functions behind the header macros)
//! and to the leading fields of the structures the module writes or reads.
//!
//! `tests/ffi_matches_headers.rs` generates bindings from real headers with bindgen when
//! they are given (`FREESWITCH_INCLUDE_DIR` or `FREESWITCH_PREFIX`) and checks every size,
//! offset, constant and signature here against them.

#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_int, c_uint, c_void};

// Opaque types: only ever handled by pointer.
#[repr(C)]
pub struct switch_core_session_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct switch_channel_t {
    _private: [u8; 0],
}
/// FreeSWITCH's memory pool is its bundled APR's (`fspr_pool_t`).
#[repr(C)]
pub struct fspr_pool_t {
    _private: [u8; 0],
}
pub type switch_memory_pool_t = fspr_pool_t;
#[repr(C)]
pub struct switch_event_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct switch_file_handle_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct switch_loadable_module_interface_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct switch_state_handler_table_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct switch_caller_profile_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct switch_dial_handle_s {
    _private: [u8; 0],
}
pub type switch_dial_handle_t = switch_dial_handle_s;
#[repr(C)]
pub struct switch_thread_rwlock_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct switch_mutex_t {
    _private: [u8; 0],
}
#[repr(C)]
pub struct switch_input_args_t {
    _private: [u8; 0],
}

pub type switch_status_t = c_uint;
pub type switch_bool_t = c_uint;
pub type switch_size_t = usize;
pub type switch_call_cause_t = c_uint;
pub type switch_channel_state_t = c_uint;
pub type switch_channel_flag_t = c_uint;
pub type switch_event_types_t = c_uint;
pub type switch_stack_t = c_uint;
pub type switch_text_channel_t = c_uint;
/// Signed in the headers (its enum has a negative member).
pub type switch_log_level_t = c_int;
pub type switch_module_interface_name_t = c_uint;
pub type switch_input_type_t = c_uint;
pub type switch_ring_ready_t = c_uint;
pub type switch_dtmf_source_t = c_uint;
pub type switch_dtmf_direction_t = c_uint;
pub type switch_originate_flag_t = u32;
pub type switch_module_flag_t = u32;
pub type switch_media_flag_t = u32;
pub type switch_session_ctl_t = c_uint;

pub type switch_application_flag_t = u32;

pub const SAF_NONE: switch_application_flag_t = 0;
pub const SAF_SUPPORT_NOMEDIA: switch_application_flag_t = 1 << 0;

pub const SMF_ECHO_ALEG: switch_media_flag_t = 1 << 1;
pub const SMF_LOOP: switch_media_flag_t = 1 << 4;

pub const SWITCH_STATUS_SUCCESS: switch_status_t = 0;
pub const SWITCH_STATUS_FALSE: switch_status_t = 1;
pub const SWITCH_STATUS_TIMEOUT: switch_status_t = 2;
pub const SWITCH_STATUS_BREAK: switch_status_t = 11;
pub const SWITCH_STATUS_NOUNLOAD: switch_status_t = 16;
pub const SWITCH_STATUS_IGNORE: switch_status_t = 17;

pub const SWITCH_FALSE: switch_bool_t = 0;
pub const SWITCH_TRUE: switch_bool_t = 1;

pub const SWITCH_API_VERSION: c_int = 5;
pub const SMODF_NONE: switch_module_flag_t = 0;
pub const SOF_NONE: switch_originate_flag_t = 0;

pub const SWITCH_APPLICATION_INTERFACE: switch_module_interface_name_t = 4;
pub const SWITCH_API_INTERFACE: switch_module_interface_name_t = 5;

pub const SWITCH_CHANNEL_ID_LOG: switch_text_channel_t = 0;
pub const SWITCH_LOG_DEBUG: switch_log_level_t = 7;
pub const SWITCH_LOG_INFO: switch_log_level_t = 6;
pub const SWITCH_LOG_NOTICE: switch_log_level_t = 5;
pub const SWITCH_LOG_WARNING: switch_log_level_t = 4;
pub const SWITCH_LOG_ERROR: switch_log_level_t = 3;

pub const SWITCH_EVENT_CUSTOM: switch_event_types_t = 0;
pub const SWITCH_EVENT_CLONE: switch_event_types_t = 1;
pub const SWITCH_EVENT_CHANNEL_ANSWER: switch_event_types_t = 6;
pub const SWITCH_EVENT_CHANNEL_HANGUP: switch_event_types_t = 7;
pub const SWITCH_EVENT_CHANNEL_PROGRESS: switch_event_types_t = 15;
pub const SWITCH_EVENT_PRESENCE_IN: switch_event_types_t = 38;
pub const SWITCH_EVENT_PRESENCE_PROBE: switch_event_types_t = 41;
pub const SWITCH_STACK_BOTTOM: switch_stack_t = 1;

pub const SWITCH_INPUT_TYPE_DTMF: switch_input_type_t = 0;
pub const SWITCH_RING_READY_RINGING: switch_ring_ready_t = 1;
pub const SWITCH_DTMF_APP: switch_dtmf_source_t = 4;

pub const CF_ANSWERED: switch_channel_flag_t = 1;
pub const CF_BREAK: switch_channel_flag_t = 23;
pub const CF_BROADCAST: switch_channel_flag_t = 24;
pub const CF_STOP_BROADCAST: switch_channel_flag_t = 31;
pub const CF_VERBOSE_EVENTS: switch_channel_flag_t = 35;

pub const SCSC_VERBOSE_EVENTS: switch_session_ctl_t = 27;

pub const CS_EXECUTE: switch_channel_state_t = 4;
pub const CS_PARK: switch_channel_state_t = 6;
pub const CS_HANGUP: switch_channel_state_t = 10;

pub const SWITCH_CAUSE_NONE: switch_call_cause_t = 0;
pub const SWITCH_CAUSE_UNALLOCATED_NUMBER: switch_call_cause_t = 1;
pub const SWITCH_CAUSE_NORMAL_CLEARING: switch_call_cause_t = 16;
pub const SWITCH_CAUSE_USER_BUSY: switch_call_cause_t = 17;
pub const SWITCH_CAUSE_NO_USER_RESPONSE: switch_call_cause_t = 18;
pub const SWITCH_CAUSE_NO_ANSWER: switch_call_cause_t = 19;
pub const SWITCH_CAUSE_CALL_REJECTED: switch_call_cause_t = 21;
pub const SWITCH_CAUSE_NORMAL_CIRCUIT_CONGESTION: switch_call_cause_t = 34;
pub const SWITCH_CAUSE_ORIGINATOR_CANCEL: switch_call_cause_t = 487;
pub const SWITCH_CAUSE_SYSTEM_SHUTDOWN: switch_call_cause_t = 701;
pub const SWITCH_CAUSE_LOSE_RACE: switch_call_cause_t = 702;

pub type switch_module_load_t = Option<
    unsafe extern "C" fn(
        module_interface: *mut *mut switch_loadable_module_interface_t,
        pool: *mut switch_memory_pool_t,
    ) -> switch_status_t,
>;
pub type switch_module_runtime_t = Option<unsafe extern "C" fn() -> switch_status_t>;
pub type switch_module_shutdown_t = Option<unsafe extern "C" fn() -> switch_status_t>;
pub type switch_application_function_t =
    Option<unsafe extern "C" fn(arg1: *mut switch_core_session_t, arg2: *const c_char)>;
pub type switch_api_function_t = Option<
    unsafe extern "C" fn(
        cmd: *const c_char,
        session: *mut switch_core_session_t,
        stream: *mut switch_stream_handle_t,
    ) -> switch_status_t,
>;
pub type switch_stream_handle_read_function_t =
    Option<unsafe extern "C" fn(handle: *mut switch_stream_handle_t, len: *mut c_int) -> *mut u8>;
pub type switch_stream_handle_write_function_t = Option<
    unsafe extern "C" fn(handle: *mut switch_stream_handle_t, fmt: *const c_char, ...) -> switch_status_t,
>;
pub type switch_stream_handle_raw_write_function_t = Option<
    unsafe extern "C" fn(
        handle: *mut switch_stream_handle_t,
        data: *mut u8,
        datalen: switch_size_t,
    ) -> switch_status_t,
>;
pub type switch_recv_dtmf_hook_t = Option<
    unsafe extern "C" fn(
        session: *mut switch_core_session_t,
        dtmf: *const switch_dtmf_t,
        direction: switch_dtmf_direction_t,
    ) -> switch_status_t,
>;
pub type switch_input_callback_function_t = Option<
    unsafe extern "C" fn(
        session: *mut switch_core_session_t,
        input: *mut c_void,
        input_type: switch_input_type_t,
        buf: *mut c_void,
        buflen: c_uint,
    ) -> switch_status_t,
>;
pub type switch_event_callback_t = Option<unsafe extern "C" fn(arg1: *mut switch_event_t)>;

/// What `SWITCH_MODULE_DEFINITION` exports as `<name>_module_interface`.
#[repr(C)]
pub struct switch_loadable_module_function_table {
    pub switch_api_version: c_int,
    pub load: switch_module_load_t,
    pub shutdown: switch_module_shutdown_t,
    pub runtime: switch_module_runtime_t,
    pub flags: switch_module_flag_t,
}

/// The fields `SWITCH_ADD_APP` fills in; the rest belong to FreeSWITCH.
#[repr(C)]
pub struct switch_application_interface {
    pub interface_name: *const c_char,
    pub application_function: switch_application_function_t,
    pub long_desc: *const c_char,
    pub short_desc: *const c_char,
    pub syntax: *const c_char,
    pub flags: switch_application_flag_t,
}

/// The fields `SWITCH_ADD_API` fills in; the rest belong to FreeSWITCH.
#[repr(C)]
pub struct switch_api_interface {
    pub interface_name: *const c_char,
    pub desc: *const c_char,
    pub function: switch_api_function_t,
    pub syntax: *const c_char,
}

/// An API command's output; the module writes with `raw_write_function`.
#[repr(C)]
pub struct switch_stream_handle {
    pub read_function: switch_stream_handle_read_function_t,
    pub write_function: switch_stream_handle_write_function_t,
    pub raw_write_function: switch_stream_handle_raw_write_function_t,
    pub data: *mut c_void,
    pub end: *mut c_void,
    pub data_size: switch_size_t,
    pub data_len: switch_size_t,
    pub alloc_len: switch_size_t,
    pub alloc_chunk: switch_size_t,
    pub param_event: *mut switch_event_t,
}
pub type switch_stream_handle_t = switch_stream_handle;

/// A node of the configuration tree. Only read, by the fields the `switch_xml_*` macros
/// use (`name`, `next` for the following element of the same name).
#[repr(C)]
pub struct switch_xml {
    pub name: *mut c_char,
    pub attr: *mut *mut c_char,
    pub txt: *mut c_char,
    pub free_path: *mut c_char,
    pub off: switch_size_t,
    pub next: switch_xml_t,
    pub sibling: switch_xml_t,
    pub ordered: switch_xml_t,
    pub child: switch_xml_t,
    pub parent: switch_xml_t,
}
pub type switch_xml_t = *mut switch_xml;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct switch_dtmf_t {
    pub digit: c_char,
    pub duration: u32,
    pub flags: i32,
    pub source: switch_dtmf_source_t,
}

extern "C" {
    pub fn switch_loadable_module_create_module_interface(
        pool: *mut switch_memory_pool_t,
        name: *const c_char,
    ) -> *mut switch_loadable_module_interface_t;
    pub fn switch_loadable_module_create_interface(
        mod_: *mut switch_loadable_module_interface_t,
        iname: switch_module_interface_name_t,
    ) -> *mut c_void;

    pub fn switch_log_printf(
        channel: switch_text_channel_t,
        file: *const c_char,
        func: *const c_char,
        line: c_int,
        userdata: *const c_char,
        level: switch_log_level_t,
        fmt: *const c_char,
        ...
    );

    pub fn switch_event_reserve_subclass_detailed(
        owner: *const c_char,
        subclass_name: *const c_char,
    ) -> switch_status_t;
    pub fn switch_event_free_subclass_detailed(
        owner: *const c_char,
        subclass_name: *const c_char,
    ) -> switch_status_t;
    pub fn switch_event_create_subclass_detailed(
        file: *const c_char,
        func: *const c_char,
        line: c_int,
        event: *mut *mut switch_event_t,
        event_id: switch_event_types_t,
        subclass_name: *const c_char,
    ) -> switch_status_t;
    pub fn switch_event_add_header_string(
        event: *mut switch_event_t,
        stack: switch_stack_t,
        header_name: *const c_char,
        data: *const c_char,
    ) -> switch_status_t;
    pub fn switch_event_get_header_idx(
        event: *mut switch_event_t,
        header_name: *const c_char,
        idx: c_int,
    ) -> *mut c_char;
    pub fn switch_event_fire_detailed(
        file: *const c_char,
        func: *const c_char,
        line: c_int,
        event: *mut *mut switch_event_t,
        user_data: *mut c_void,
    ) -> switch_status_t;
    pub fn switch_event_destroy(event: *mut *mut switch_event_t);
    pub fn switch_event_bind(
        id: *const c_char,
        event: switch_event_types_t,
        subclass_name: *const c_char,
        callback: switch_event_callback_t,
        user_data: *mut c_void,
    ) -> switch_status_t;
    pub fn switch_event_unbind_callback(callback: switch_event_callback_t) -> switch_status_t;
    pub fn switch_channel_event_set_data(channel: *mut switch_channel_t, event: *mut switch_event_t);
    pub fn switch_channel_event_set_basic_data(channel: *mut switch_channel_t, event: *mut switch_event_t);
    pub fn switch_core_session_ctl(cmd: switch_session_ctl_t, val: *mut c_void) -> i32;

    pub fn switch_core_session_get_channel(session: *mut switch_core_session_t) -> *mut switch_channel_t;
    pub fn switch_core_session_get_uuid(session: *mut switch_core_session_t) -> *mut c_char;
    pub fn switch_core_session_perform_locate(
        uuid_str: *const c_char,
        file: *const c_char,
        func: *const c_char,
        line: c_int,
    ) -> *mut switch_core_session_t;
    pub fn switch_core_session_rwunlock(session: *mut switch_core_session_t);
    pub fn switch_core_session_send_dtmf(
        session: *mut switch_core_session_t,
        dtmf: *const switch_dtmf_t,
    ) -> switch_status_t;
    pub fn switch_core_get_variable_dup(varname: *const c_char) -> *mut c_char;

    pub fn switch_channel_get_name(channel: *mut switch_channel_t) -> *mut c_char;
    pub fn switch_channel_set_variable_var_check(
        channel: *mut switch_channel_t,
        varname: *const c_char,
        value: *const c_char,
        var_check: switch_bool_t,
    ) -> switch_status_t;
    pub fn switch_channel_set_profile_var(
        channel: *mut switch_channel_t,
        name: *const c_char,
        val: *const c_char,
    ) -> switch_status_t;
    pub fn switch_channel_get_variable_dup(
        channel: *mut switch_channel_t,
        varname: *const c_char,
        dup: switch_bool_t,
        idx: c_int,
    ) -> *const c_char;
    pub fn switch_channel_test_flag(channel: *mut switch_channel_t, flag: switch_channel_flag_t) -> u32;
    pub fn switch_channel_test_ready(
        channel: *mut switch_channel_t,
        check_ready: switch_bool_t,
        check_media: switch_bool_t,
    ) -> c_int;
    pub fn switch_channel_get_state(channel: *mut switch_channel_t) -> switch_channel_state_t;
    pub fn switch_channel_get_running_state(channel: *mut switch_channel_t) -> switch_channel_state_t;
    pub fn switch_channel_get_cause(channel: *mut switch_channel_t) -> switch_call_cause_t;
    pub fn switch_channel_cause2str(cause: switch_call_cause_t) -> *const c_char;
    pub fn switch_channel_perform_answer(
        channel: *mut switch_channel_t,
        file: *const c_char,
        func: *const c_char,
        line: c_int,
    ) -> switch_status_t;
    pub fn switch_channel_perform_ring_ready_value(
        channel: *mut switch_channel_t,
        rv: switch_ring_ready_t,
        file: *const c_char,
        func: *const c_char,
        line: c_int,
    ) -> switch_status_t;
    pub fn switch_channel_perform_hangup(
        channel: *mut switch_channel_t,
        file: *const c_char,
        func: *const c_char,
        line: c_int,
        hangup_cause: switch_call_cause_t,
    ) -> switch_channel_state_t;

    pub fn switch_ivr_originate(
        session: *mut switch_core_session_t,
        bleg: *mut *mut switch_core_session_t,
        cause: *mut switch_call_cause_t,
        bridgeto: *const c_char,
        timelimit_sec: u32,
        table: *const switch_state_handler_table_t,
        cid_name_override: *const c_char,
        cid_num_override: *const c_char,
        caller_profile_override: *mut switch_caller_profile_t,
        ovars: *mut switch_event_t,
        flags: switch_originate_flag_t,
        cancel_cause: *mut switch_call_cause_t,
        dh: *mut switch_dial_handle_t,
    ) -> switch_status_t;
    pub fn switch_ivr_multi_threaded_bridge(
        session: *mut switch_core_session_t,
        peer_session: *mut switch_core_session_t,
        dtmf_callback: switch_input_callback_function_t,
        session_data: *mut c_void,
        peer_session_data: *mut c_void,
    ) -> switch_status_t;
    pub fn switch_ivr_sleep(
        session: *mut switch_core_session_t,
        ms: u32,
        sync: switch_bool_t,
        args: *mut switch_input_args_t,
    ) -> switch_status_t;
    pub fn switch_ivr_read(
        session: *mut switch_core_session_t,
        min_digits: u32,
        max_digits: u32,
        prompt_audio_file: *const c_char,
        var_name: *const c_char,
        digit_buffer: *mut c_char,
        digit_buffer_length: switch_size_t,
        timeout: u32,
        valid_terminators: *const c_char,
        digit_timeout: u32,
    ) -> switch_status_t;
    pub fn switch_ivr_play_file(
        session: *mut switch_core_session_t,
        fh: *mut switch_file_handle_t,
        file: *const c_char,
        args: *mut switch_input_args_t,
    ) -> switch_status_t;
    pub fn switch_ivr_session_transfer(
        session: *mut switch_core_session_t,
        extension: *const c_char,
        dialplan: *const c_char,
        context: *const c_char,
    ) -> switch_status_t;
    pub fn switch_ivr_broadcast(
        uuid: *const c_char,
        path: *const c_char,
        flags: switch_media_flag_t,
    ) -> switch_status_t;
    pub fn switch_channel_set_flag_value(
        channel: *mut switch_channel_t,
        flag: switch_channel_flag_t,
        value: u32,
    );
    pub fn switch_channel_get_hold_music(channel: *mut switch_channel_t) -> *const c_char;
    pub fn switch_channel_perform_set_state(
        channel: *mut switch_channel_t,
        file: *const c_char,
        func: *const c_char,
        line: c_int,
        state: switch_channel_state_t,
    ) -> switch_channel_state_t;
    pub fn switch_core_session_private_event_count(session: *mut switch_core_session_t) -> u32;
    pub fn switch_core_session_flush_private_events(session: *mut switch_core_session_t) -> u32;
    pub fn switch_core_event_hook_add_recv_dtmf(
        session: *mut switch_core_session_t,
        recv_dtmf: switch_recv_dtmf_hook_t,
    ) -> switch_status_t;
    pub fn switch_ivr_displace_session(
        session: *mut switch_core_session_t,
        file: *const c_char,
        limit: u32,
        flags: *const c_char,
    ) -> switch_status_t;
    pub fn switch_ivr_stop_displace_session(
        session: *mut switch_core_session_t,
        file: *const c_char,
    ) -> switch_status_t;

    pub fn switch_xml_open_cfg(
        file_path: *const c_char,
        node: *mut switch_xml_t,
        params: *mut switch_event_t,
    ) -> switch_xml_t;
    pub fn switch_xml_child(xml: switch_xml_t, name: *const c_char) -> switch_xml_t;
    pub fn switch_xml_attr_soft(xml: switch_xml_t, attr: *const c_char) -> *const c_char;
    pub fn switch_xml_free(xml: switch_xml_t);
}
