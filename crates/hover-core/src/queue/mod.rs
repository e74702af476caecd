//! The queue function type: SQS events from Lambda's SQS integration, each record a
//! Laravel job, answered with the records that must come back.
//!
//! The pure part, free of AWS calls and of PHP: the event read into typed records and the
//! queue they come from ([`event`]).

pub mod event;
