//! Threads started with Asterisk's own wrapper (`ast_pthread_create_stack`: they show in
//! `core show threads`), for the module's spawner (see `twinning_driver::threads`).

use asterisk_sys as sys;
use twinning_driver::threads::{Body, NativeThread};

use super::guard;

pub fn start(body: Body) -> Result<NativeThread, String> {
    let data = Box::into_raw(Box::new(body));
    let mut thread: sys::pthread_t = 0;
    // SAFETY: `run` receives `data` and takes ownership of it exactly once; on failure no
    // thread got it and it is freed here. Default attributes make the thread joinable.
    let rc = unsafe {
        sys::ast_pthread_create_stack(
            &mut thread,
            std::ptr::null_mut(),
            Some(run),
            data.cast(),
            0,
            c"app_twinning".as_ptr(),
            c"twinning".as_ptr(),
            0,
            c"twinning-spawner".as_ptr(),
        )
    };
    if rc != 0 {
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(data) });
        return Err(format!("ast_pthread_create_stack failed ({rc})"));
    }
    Ok(NativeThread::new(move || {
        // SAFETY: a joinable thread we created, joined once.
        unsafe {
            sys::pthread_join(thread, std::ptr::null_mut());
        }
    }))
}

unsafe extern "C" fn run(data: *mut std::ffi::c_void) -> *mut std::ffi::c_void {
    // SAFETY: `data` is the boxed body from `start`, handed to this thread alone.
    let body = unsafe { Box::from_raw(data.cast::<Body>()) };
    guard::catch("module thread", (), body);
    std::ptr::null_mut()
}
