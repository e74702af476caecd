//! The Hover runtime's logic, kept free of the Zend API.
//!
//! Everything here is plain Rust so that `cargo test -p hover-core` links and runs without
//! PHP: the Lambda Runtime API client, the manifest, init, the CLI event format, log records
//! and the runtime that ties them together. The `hover` crate at the root of the workspace
//! only exposes these to PHP.

pub mod cli;
pub mod context;
pub mod dotenv;
pub mod error_response;
pub mod function_type;
pub mod init;
pub mod log;
pub mod manifest;
pub mod output;
pub mod restart;
pub mod runtime;
pub mod runtime_api;
pub mod secrets;
mod watchdog;
