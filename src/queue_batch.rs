//! `Hover\QueueBatch`: one SQS batch in flight, for the PHP worker that runs its jobs.
//!
//! The PHP side asks which record to run next, builds Laravel's `SqsJob` from its message,
//! and reports what became of the job as it happens (started, deleted, released); the
//! answer to Lambda is built here from those reports. Records are given to PHP in the
//! shape of SQS's ReceiveMessage answer, which `SqsJob` reads.

// PHP's named arguments use the parameters' names: camelCase, as PHP names them.
#![allow(non_snake_case)]

use ext_php_rs::boxed::ZBox;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, Zval};
use hover_core::invocation::Finish;
use hover_core::queue::function::BatchInFlight;
use hover_core::queue::message::binary_value;
use hover_core::runtime::Runtime;
use serde_json::{Map, Value};

use crate::context::PhpContext;

#[php_class]
#[php(name = "Hover\\QueueBatch")]
#[php(flags = ClassFlags::Final)]
pub struct PhpQueueBatch {
    runtime: &'static Runtime,
    /// `None` once answered.
    batch: Option<BatchInFlight>,
}

impl PhpQueueBatch {
    pub(crate) fn new(runtime: &'static Runtime, batch: BatchInFlight) -> Self {
        Self {
            runtime,
            batch: Some(batch),
        }
    }

    fn batch(&self) -> PhpResult<&BatchInFlight> {
        self.batch
            .as_ref()
            .ok_or_else(|| "the batch was answered already".into())
    }

    /// The record at `index`, checked.
    fn index(&self, index: i64) -> PhpResult<usize> {
        let count = self.batch()?.messages.len();
        usize::try_from(index)
            .ok()
            .filter(|&index| index < count)
            .ok_or_else(|| format!("the batch has no record {index} (it has {count})").into())
    }
}

#[php_impl]
impl PhpQueueBatch {
    pub fn context(&self) -> PhpResult<PhpContext> {
        Ok(PhpContext::new(self.batch()?.context.clone()))
    }

    /// The queue's URL, derived from the records' `eventSourceARN`: what `SqsJob` calls
    /// its queue.
    pub fn queue_url(&self) -> PhpResult<String> {
        Ok(self.batch()?.queue.url().to_owned())
    }

    /// The message of record `index` as SQS's ReceiveMessage gives it: `MessageId`,
    /// `ReceiptHandle`, `Body`, `Attributes`, `MessageAttributes`.
    pub fn message(&self, index: i64) -> PhpResult<ZBox<ZendHashTable>> {
        let message = &self.batch()?.messages[self.index(index)?];
        let mut array = ZendHashTable::new();
        array.insert("MessageId", message.message_id.as_str())?;
        array.insert("ReceiptHandle", message.receipt_handle.as_str())?;
        array.insert("Body", message.body.as_str())?;
        array.insert("Attributes", object(&message.attributes)?)?;
        let mut attributes = ZendHashTable::new();
        for (name, attribute) in &message.message_attributes {
            attributes.insert(name.as_str(), message_attribute(attribute)?)?;
        }
        array.insert("MessageAttributes", attributes)?;
        Ok(array)
    }

    /// Takes the record to run next, marked running; null when the batch is done: every record run, the rest
    /// of a FIFO batch held back after a record that comes back, less than a second left
    /// before the stop point, or this process is not the runtime (a job's fork).
    pub fn next(&self) -> PhpResult<Option<i64>> {
        let invocations = self.runtime.invocations();
        if !invocations.is_runtime_process() {
            return Ok(None);
        }
        Ok(self.batch()?.next(invocations).map(|index| index as i64))
    }

    /// Milliseconds left before the stop point (0 once it has passed).
    pub fn milliseconds_left(&self) -> PhpResult<i64> {
        Ok(i64::try_from(self.batch()?.time_left().as_millis()).unwrap_or(i64::MAX))
    }

    /// Whole seconds left before the stop point, at least 1: the longest a job may run.
    pub fn seconds_left(&self) -> PhpResult<i64> {
        Ok(i64::try_from(self.batch()?.seconds_left()).unwrap_or(i64::MAX))
    }

    /// Record `index`'s job was deleted (it succeeded, was deleted, failed, or had used up
    /// its attempts): Lambda may delete the record. (Nothing in a job's fork.)
    pub fn deleted(&self, index: i64) -> PhpResult<()> {
        let index = self.index(index)?;
        if self.runtime.invocations().is_runtime_process() {
            self.batch()?.deleted(self.runtime.invocations(), index);
        }
        Ok(())
    }

    /// Releases record `index` for `delay` seconds (SQS ChangeMessageVisibility, at most 12
    /// hours); the record comes back. Returns false if the visibility could not be set
    /// (logged): the record still comes back, when the queue's visibility timeout ends.
    pub fn release(&self, index: i64, delay: i64) -> PhpResult<bool> {
        let index = self.index(index)?;
        if !self.runtime.invocations().is_runtime_process() {
            return Ok(false); // A job's fork: the runtime's job releases, if anything.
        }
        let delay = u64::try_from(delay).unwrap_or(0);
        Ok(self.runtime.release(self.batch()?, index, delay))
    }

    /// The records not run: the ones the answer hands back unrun. None in a job's fork,
    /// which hands nothing back.
    pub fn unrun(&self) -> PhpResult<Vec<i64>> {
        let batch = self.batch()?;
        if !self.runtime.invocations().is_runtime_process() {
            return Ok(Vec::new());
        }
        Ok(batch
            .unrun(self.runtime.invocations())
            .into_iter()
            .map(|index| index as i64)
            .collect())
    }

    /// Answers the batch (the records whose jobs were not deleted come back). With
    /// `thenRestart`, the runtime then restarts in place and this never returns. Returns
    /// false in a process that is not the runtime (a job's fork), which must end.
    pub fn answer(&mut self, thenRestart: bool) -> PhpResult<bool> {
        let batch = self.batch.take().ok_or("the batch was answered already")?;
        match self.runtime.answer_batch(batch, thenRestart) {
            Finish::NotTheRuntime => Ok(false),
            Finish::AlreadyAnswered {
                restart_pending: true,
            } => loop {
                // The watcher answered and is replacing the process.
                std::thread::park();
            },
            Finish::Answered | Finish::AlreadyAnswered { .. } => Ok(true),
        }
    }
}

/// A message attribute as the AWS SDK for PHP gives it: binary values as bytes.
fn message_attribute(attribute: &Value) -> PhpResult<Zval> {
    let Value::Object(fields) = attribute else {
        return zval(attribute);
    };
    let bytes = |text: &str| -> PhpResult<Zval> {
        let mut php = Zval::new();
        php.set_binary(binary_value(text));
        Ok(php)
    };
    let mut array = ZendHashTable::new();
    for (field, value) in fields {
        let value = match (field.as_str(), value) {
            ("BinaryValue", Value::String(text)) => bytes(text)?,
            ("BinaryListValues", Value::Array(items)) => {
                let mut list = ZendHashTable::new();
                for item in items {
                    list.push(match item {
                        Value::String(text) => bytes(text)?,
                        other => zval(other)?,
                    })?;
                }
                let mut php = Zval::new();
                php.set_hashtable(list);
                php
            }
            _ => zval(value)?,
        };
        array.insert(field.as_str(), value)?;
    }
    let mut php = Zval::new();
    php.set_hashtable(array);
    Ok(php)
}

/// A JSON object as a PHP array.
fn object(map: &Map<String, Value>) -> PhpResult<ZBox<ZendHashTable>> {
    let mut array = ZendHashTable::new();
    for (key, value) in map {
        array.insert(key.as_str(), zval(value)?)?;
    }
    Ok(array)
}

/// A JSON value as a PHP value.
fn zval(value: &Value) -> PhpResult<Zval> {
    let mut php = Zval::new();
    match value {
        Value::Null => php.set_null(),
        Value::Bool(flag) => php.set_bool(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => php.set_long(integer),
            None => php.set_double(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => php.set_string(text, false)?,
        Value::Array(items) => {
            let mut array = ZendHashTable::new();
            for item in items {
                array.push(zval(item)?)?;
            }
            php.set_hashtable(array);
        }
        Value::Object(map) => php.set_hashtable(object(map)?),
    }
    Ok(php)
}
