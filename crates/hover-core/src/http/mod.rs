//! The HTTP function type: API Gateway (REST, HTTP API, Function URLs) and ALB events,
//! served by php-fpm.
//!
//! Everything around php-fpm is native: the event becomes a FastCGI request
//! ([`event`]), it goes to php-fpm on a connection of its own ([`crate::fastcgi`]), and
//! php-fpm's output becomes the response in the format of the event's source
//! ([`response`]). PHP userland never sees the event. php-fpm is started at init, while
//! the application boots, and supervised ([`crate::fpm`]); [`HttpFunction`] serves the
//! invocations.

pub mod event;
pub mod response;

#[cfg(feature = "aws")]
mod function;

pub use event::{Event, HttpRequest, Script};
#[cfg(feature = "aws")]
pub use function::HttpFunction;
