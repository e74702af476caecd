//! PHP's request shutdown hook: what PHP's end means for the runtime.
//!
//! PHP calls it after shutdown functions and destructors have run and output buffers have
//! been flushed. While the application boots, an end (`exit()`, a fatal error) is an init
//! error to report; during an invocation, the invocation is answered with the function
//! type's answer for it and the process restarts in place to keep serving. A CLI command's
//! process ends right here, with its status: what PHP would still do is free the memory it
//! inherited, page by page (see `process::exit_now`). Other extensions' request shutdown
//! hooks that PHP would call after this one are skipped with it (a command's PHP session,
//! if it opened one, is not written).

use std::panic::{catch_unwind, AssertUnwindSafe};

use ext_php_rs::ffi::E_FATAL_ERRORS;
use ext_php_rs::zend::{ExecutorGlobals, ProcessGlobals};
use hover_core::process;
use hover_core::runtime::AfterPhp;

use crate::runtime::booted;

pub extern "C" fn request_shutdown(_type: i32, _module_number: i32) -> i32 {
    // A panic must not unwind into PHP; there is nothing better to do with one here.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Some(runtime) = booted() else { return };
        let exit_status = ExecutorGlobals::get().exit_status;
        let fatal_error = last_fatal_error();
        match runtime.php_ended(i64::from(exit_status), fatal_error.as_deref()) {
            AfterPhp::Exit => {}
            AfterPhp::Restart => runtime.restart(),
            AfterPhp::ExitNow(status) => process::exit_now(status),
        }
    }));
    0
}

/// PHP's last error, as its CLI prints it, if it was fatal.
fn last_fatal_error() -> Option<String> {
    let globals = ProcessGlobals::get();
    if globals.last_error_type as u32 & E_FATAL_ERRORS == 0 {
        return None;
    }
    let text = |string: *mut ext_php_rs::types::ZendStr| {
        // SAFETY: PHP sets `last_error_message` and `last_error_file` to valid zend_strings
        // (or NULL) together with `last_error_type`, and frees them only at the start of
        // the next request or when the next error replaces them; this runs within the
        // request, under ext-php-rs's lock of the process globals.
        unsafe { string.as_ref() }
            .map(|string| String::from_utf8_lossy(string.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    Some(format!(
        "{} in {} on line {}",
        text(globals.last_error_message),
        text(globals.last_error_file),
        globals.last_error_lineno
    ))
}
