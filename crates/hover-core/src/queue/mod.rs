//! The queue function type: SQS events from Lambda's SQS integration, each record a
//! Laravel job, answered with the records that must come back.
//!
//! Two pure parts, free of AWS calls and of PHP: the event read into typed records and
//! the queue they come from ([`event`]), and the state of one batch as its jobs run, which
//! gives the partial-batch answer Lambda takes ([`batch`]). And the one AWS call a batch
//! needs, behind the `aws` feature: a released job's message made invisible for the release
//! delay ([`visibility`]).

pub mod batch;
pub mod event;
#[cfg(feature = "aws")]
pub mod function;
pub mod message;
pub mod output;
pub mod settings;
#[cfg(feature = "aws")]
pub mod visibility;
pub mod watcher;
