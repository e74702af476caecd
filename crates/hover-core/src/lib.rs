//! The Hover runtime's logic, kept free of the Zend API so that `cargo test -p hover-core`
//! links and runs without PHP. The `hover` crate at the root of the workspace only exposes
//! it to PHP. A map:

// The Lambda side: the Runtime API, what it says of an invocation, how it is answered, and
// the core that answers each invocation exactly once.
pub mod context;
pub mod error_response;
pub mod event_error;
pub mod invocation;
pub mod log;
pub mod runtime_api;

// Init: settings, the manifest, storage and the environment, settled once per process.
// (Init and the runtime call KMS: without the `aws` feature, only the parsers and the
// protocol are built, as the fuzz targets need them.)
pub mod function_type;
#[cfg(feature = "aws")]
pub mod init;
pub mod manifest;
#[cfg(feature = "aws")]
pub mod runtime;

// Secrets: the encrypted dotenv file, opened with KMS and AES.
pub mod dotenv;
pub mod secrets;

// Function types: what each does with an invocation.
pub mod cli;
pub mod http;
pub mod queue;

// HTTP: php-fpm, supervised, and the FastCGI client that talks to it.
pub mod fastcgi;
pub mod fpm;

// HTTP: the warmer, which keeps containers warm by invoking its own function.
#[cfg(feature = "aws")]
pub mod warmer;

// Process control: commands in forks of the runtime, and restarts in place.
pub mod process;
pub mod restart;
