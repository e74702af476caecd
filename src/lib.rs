//! The `hover` PHP extension: registers the runtime's classes and its shutdown hook.
//!
//! The logic lives in the `hover-core` crate; the modules here only translate between it
//! and PHP. `php/stubs/hover.php` declares the same classes for IDEs, and a test holds it
//! to the extension.

mod cli_invocation;
mod context;
mod queue_batch;
mod runtime;
mod shutdown;

use std::any::Any;

use ext_php_rs::prelude::*;

#[php_module]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    module
        .class::<runtime::InitException>()
        .class::<runtime::RuntimeApiException>()
        .class::<runtime::PhpRuntime>()
        .class::<context::PhpContext>()
        .class::<cli_invocation::PhpCliInvocation>()
        .class::<queue_batch::PhpQueueBatch>()
        .request_shutdown_function(shutdown::request_shutdown)
}

/// The message a panic carried.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
