//! `Hover\Context`: the invocation's context (request id, deadline, …), read-only.

use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use hover_core::context::Context;

#[php_class]
#[php(name = "Hover\\Context")]
#[php(flags = ClassFlags::Final)]
pub struct PhpContext {
    context: Context,
}

impl PhpContext {
    pub(crate) fn new(context: Context) -> Self {
        Self { context }
    }
}

#[php_impl]
impl PhpContext {
    pub fn request_id(&self) -> String {
        self.context.request_id.clone()
    }

    /// The deadline, in milliseconds since the epoch.
    pub fn deadline_ms(&self) -> i64 {
        i64::try_from(self.context.deadline_ms).unwrap_or(i64::MAX)
    }

    /// Milliseconds left before Lambda stops the invocation.
    pub fn remaining_time_ms(&self) -> i64 {
        i64::try_from(self.context.remaining_time_ms()).unwrap_or(i64::MAX)
    }

    pub fn invoked_function_arn(&self) -> String {
        self.context.invoked_function_arn.clone()
    }

    pub fn trace_id(&self) -> Option<String> {
        self.context.trace_id.clone()
    }

    /// The client context JSON that a mobile SDK caller sent, if any.
    pub fn client_context(&self) -> Option<String> {
        self.context.client_context.clone()
    }

    /// The Cognito identity JSON that a mobile SDK caller sent, if any.
    pub fn cognito_identity(&self) -> Option<String> {
        self.context.cognito_identity.clone()
    }
}
