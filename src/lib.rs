//! The `hover` PHP extension: registers the runtime's classes and its shutdown hook.
//!
//! The logic lives in the `hover-core` crate; the modules here only translate between it
//! and PHP. See `php/stubs/hover.php` for the PHP-side signatures.

mod cli_invocation;
mod context;
mod runtime;
mod shutdown;

use ext_php_rs::prelude::*;

#[php_module]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    module
        .class::<runtime::InitException>()
        .class::<runtime::RuntimeApiException>()
        .class::<runtime::PhpRuntime>()
        .class::<context::PhpContext>()
        .class::<cli_invocation::PhpCliInvocation>()
        .request_shutdown_function(shutdown::request_shutdown)
}
