//! PHP's request shutdown hook: the last chance to answer an invocation that `exit()` or a
//! fatal error cut short.
//!
//! PHP calls it after shutdown functions have run and output buffers have been flushed, so
//! the command's output is complete. The invocation is answered with PHP's exit status, as
//! the original runtime's `php artisan` subprocess would have been, and the process then
//! restarts itself in place to keep serving.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ext_php_rs::zend::ExecutorGlobals;

use crate::runtime::booted;

pub extern "C" fn request_shutdown(_type: i32, _module_number: i32) -> i32 {
    // A panic must not unwind into PHP; there is nothing better to do with one here.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Some(runtime) = booted() else { return };
        let exit_status = ExecutorGlobals::get().exit_status;
        if runtime.answer_abandoned(i64::from(exit_status)) {
            runtime.restart();
        }
    }));
    0
}
