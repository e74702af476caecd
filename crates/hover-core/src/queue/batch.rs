//! The state of one batch of SQS records as its jobs run, and the partial-batch answer it
//! gives Lambda: `{"batchItemFailures": [{"itemIdentifier": "<messageId>"}, …]}`.
//!
//! Lambda's SQS integration deletes every record the answer does not list, so the list
//! decides what is lost and what runs twice. A record is listed if and only if its job was
//! not deleted: a job that is released, that threw, that is running or was never run comes
//! back. On a FIFO queue, AWS's rule for partial batches adds every record after the first
//! one listed, so that a message group never runs out of order.
//!
//! Each outcome is recorded as it happens, so that the answer is right at any point: after
//! the last record, or when an `exit()`, a fatal error or the deadline cuts the batch short.

use std::collections::HashSet;

use serde::Serialize;

/// Where a record's job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not run yet.
    Pending,
    /// Started, without an outcome yet.
    Running,
    /// The job was deleted: it succeeded, called `delete()` or `fail()`, or had exceeded its
    /// attempts. The only outcome Lambda may delete the record for.
    Deleted,
    /// Released back to the queue, visible again in `delay` seconds.
    Released { delay: u32 },
    /// The job threw, or how it ended is unknown.
    Undetermined,
}

/// The records of one batch, in the event's order, and their outcomes.
#[derive(Debug)]
pub struct Batch {
    records: Vec<Record>,
    fifo: bool,
}

#[derive(Debug)]
struct Record {
    message_id: String,
    outcome: Outcome,
}

impl Batch {
    /// A batch of the records `message_ids`, in the event's order, none run yet; `fifo`: from
    /// a FIFO queue.
    pub fn new(message_ids: Vec<String>, fifo: bool) -> Self {
        let records = message_ids
            .into_iter()
            .map(|message_id| Record {
                message_id,
                outcome: Outcome::Pending,
            })
            .collect();
        Self { records, fifo }
    }

    /// Marks the record at `index` running.
    ///
    /// # Panics
    ///
    /// If the batch has no record at `index`.
    pub fn start(&mut self, index: usize) {
        self.record(index, Outcome::Running);
    }

    /// Sets the outcome of the record at `index`; the last one set counts, except that a
    /// deletion is final (the message is gone: a release after it changes nothing).
    ///
    /// # Panics
    ///
    /// If the batch has no record at `index`.
    pub fn record(&mut self, index: usize, outcome: Outcome) {
        let record = &mut self.records[index];
        if record.outcome != Outcome::Deleted {
            record.outcome = outcome;
        }
    }

    /// The record to run next: the first one not run yet. On a FIFO queue, none once a
    /// record before it has not been deleted: it comes back, so every later one comes back
    /// unrun.
    pub fn next_pending(&self) -> Option<usize> {
        if self.fifo {
            self.records
                .iter()
                .position(|record| record.outcome != Outcome::Deleted)
                .filter(|&index| self.records[index].outcome == Outcome::Pending)
        } else {
            self.records
                .iter()
                .position(|record| record.outcome == Outcome::Pending)
        }
    }

    /// The records not run yet, in order.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.records.len())
            .filter(|&index| self.records[index].outcome == Outcome::Pending)
            .collect()
    }

    /// The message ids of the records that must come back, in order, each once: every
    /// record whose job was not deleted (pending, running, released, undetermined); on a
    /// FIFO queue, every record after the first one listed too.
    pub fn item_failures(&self) -> Vec<&str> {
        let mut listed = HashSet::new();
        let mut listing_the_rest = false;
        let mut failures = Vec::new();
        for record in &self.records {
            if !listing_the_rest && record.outcome == Outcome::Deleted {
                continue;
            }
            listing_the_rest = self.fifo;
            if listed.insert(record.message_id.as_str()) {
                failures.push(record.message_id.as_str());
            }
        }
        failures
    }

    /// The answer Lambda takes: `{"batchItemFailures":[{"itemIdentifier":"<messageId>"},…]}`
    /// with [`Self::item_failures`]; the list is empty when every job was deleted.
    pub fn response(&self) -> Vec<u8> {
        let response = BatchResponse {
            batch_item_failures: self
                .item_failures()
                .into_iter()
                .map(|item_identifier| ItemFailure { item_identifier })
                .collect(),
        };
        serde_json::to_vec(&response).expect("a struct of strings always serializes")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchResponse<'a> {
    batch_item_failures: Vec<ItemFailure<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemFailure<'a> {
    item_identifier: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(message_ids: &[&str], fifo: bool) -> Batch {
        Batch::new(message_ids.iter().map(|id| id.to_string()).collect(), fifo)
    }

    /// A batch of `outcomes`, its records named `m0`, `m1`…
    fn batch_with(outcomes: &[Outcome], fifo: bool) -> Batch {
        let ids: Vec<String> = (0..outcomes.len())
            .map(|index| format!("m{index}"))
            .collect();
        let mut batch = Batch::new(ids, fifo);
        for (index, &outcome) in outcomes.iter().enumerate() {
            batch.record(index, outcome);
        }
        batch
    }

    #[test]
    fn lists_every_record_whose_job_was_not_deleted() {
        let batch = batch_with(
            &[
                Outcome::Deleted,
                Outcome::Released { delay: 30 },
                Outcome::Undetermined,
                Outcome::Deleted,
                Outcome::Running,
                Outcome::Pending,
                Outcome::Released { delay: 0 },
            ],
            false,
        );
        assert_eq!(batch.item_failures(), ["m1", "m2", "m4", "m5", "m6"]);
        assert_eq!(
            batch.response(),
            br#"{"batchItemFailures":[{"itemIdentifier":"m1"},{"itemIdentifier":"m2"},{"itemIdentifier":"m4"},{"itemIdentifier":"m5"},{"itemIdentifier":"m6"}]}"#
        );
    }

    #[test]
    fn all_done_lists_nothing() {
        let batch = batch_with(&[Outcome::Deleted, Outcome::Deleted], false);
        assert!(batch.item_failures().is_empty());
        assert_eq!(batch.response(), br#"{"batchItemFailures":[]}"#);
        assert_eq!(batch.next_pending(), None);
    }

    #[test]
    fn none_done_lists_everything() {
        let batch = batch_of(&["a", "b", "c"], false);
        assert_eq!(batch.item_failures(), ["a", "b", "c"]);
        assert_eq!(
            batch_of(&["a", "b", "c"], true).item_failures(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn keeps_the_events_order() {
        let mut batch = batch_of(&["zulu", "alpha", "mike", "bravo"], false);
        batch.record(0, Outcome::Undetermined);
        batch.record(3, Outcome::Released { delay: 5 });
        batch.record(1, Outcome::Undetermined);
        assert_eq!(batch.item_failures(), ["zulu", "alpha", "mike", "bravo"]);
        batch.record(2, Outcome::Deleted);
        assert_eq!(batch.item_failures(), ["zulu", "alpha", "bravo"]);
    }

    #[test]
    fn fifo_lists_everything_after_the_first_failure() {
        let batch = batch_with(
            &[
                Outcome::Deleted,
                Outcome::Deleted,
                Outcome::Released { delay: 10 },
                Outcome::Pending,
                Outcome::Pending,
            ],
            true,
        );
        assert_eq!(batch.item_failures(), ["m2", "m3", "m4"]);
        // Even a later record that was deleted: AWS's rule for FIFO partial batches.
        let batch = batch_with(
            &[Outcome::Deleted, Outcome::Undetermined, Outcome::Deleted],
            true,
        );
        assert_eq!(batch.item_failures(), ["m1", "m2"]);
        // The same outcomes on a standard queue.
        let batch = batch_with(
            &[Outcome::Deleted, Outcome::Undetermined, Outcome::Deleted],
            false,
        );
        assert_eq!(batch.item_failures(), ["m1"]);
    }

    #[test]
    fn fifo_all_done_lists_nothing() {
        let batch = batch_with(&[Outcome::Deleted; 3], true);
        assert!(batch.item_failures().is_empty());
        assert_eq!(batch.response(), br#"{"batchItemFailures":[]}"#);
    }

    #[test]
    fn lists_each_message_once() {
        // SQS may deliver a message twice in one batch; Lambda takes an id once.
        let batch = batch_of(&["a", "b", "a", "c", "b"], false);
        assert_eq!(batch.item_failures(), ["a", "b", "c"]);
        let mut batch = batch_of(&["a", "b", "a"], false);
        batch.record(0, Outcome::Deleted);
        assert_eq!(batch.item_failures(), ["b", "a"]);
        // Outcomes set again replace the earlier one.
        let mut batch = batch_of(&["a", "b"], false);
        batch.start(0);
        batch.record(0, Outcome::Undetermined);
        batch.record(0, Outcome::Released { delay: 60 });
        assert_eq!(batch.item_failures(), ["a", "b"]);
        batch.record(0, Outcome::Deleted);
        assert_eq!(batch.item_failures(), ["b"]);
    }

    #[test]
    fn a_running_record_comes_back() {
        // The batch cut short mid-job (exit(), a fatal error, the deadline).
        let mut batch = batch_of(&["a", "b", "c"], false);
        batch.record(0, Outcome::Deleted);
        batch.start(1);
        assert_eq!(batch.item_failures(), ["b", "c"]);
    }

    #[test]
    fn next_pending_is_the_first_not_run() {
        let mut batch = batch_of(&["a", "b", "c"], false);
        assert_eq!(batch.next_pending(), Some(0));
        batch.start(0);
        assert_eq!(batch.next_pending(), Some(1));
        batch.record(0, Outcome::Undetermined);
        batch.record(1, Outcome::Released { delay: 0 });
        // A failure does not stop a standard queue's batch.
        assert_eq!(batch.next_pending(), Some(2));
        batch.record(2, Outcome::Deleted);
        assert_eq!(batch.next_pending(), None);
    }

    #[test]
    fn fifo_runs_nothing_after_a_record_that_comes_back() {
        let mut batch = batch_of(&["a", "b", "c"], true);
        assert_eq!(batch.next_pending(), Some(0));
        batch.start(0);
        assert_eq!(batch.next_pending(), None);
        batch.record(0, Outcome::Deleted);
        assert_eq!(batch.next_pending(), Some(1));
        batch.record(1, Outcome::Released { delay: 0 });
        assert_eq!(batch.next_pending(), None);

        let mut batch = batch_of(&["a", "b"], true);
        batch.record(0, Outcome::Undetermined);
        assert_eq!(batch.next_pending(), None);
    }

    #[test]
    fn response_is_the_shape_lambda_takes() {
        let mut batch = batch_of(&["id1", "id2", "id3", "id4"], false);
        batch.record(0, Outcome::Deleted);
        batch.record(1, Outcome::Undetermined);
        batch.record(2, Outcome::Deleted);
        batch.record(3, Outcome::Released { delay: 30 });
        let response: serde_json::Value = serde_json::from_slice(&batch.response()).unwrap();
        let sample: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/events/example-sqs-batch-response.json"
        ))
        .unwrap();
        assert_eq!(response, sample);
        // Ids are JSON-escaped.
        assert_eq!(
            batch_of(&["a\"b\\c"], false).response(),
            br#"{"batchItemFailures":[{"itemIdentifier":"a\"b\\c"}]}"#
        );
    }

    #[test]
    #[should_panic]
    fn an_index_outside_the_batch_is_a_bug() {
        batch_of(&["a"], false).record(1, Outcome::Deleted);
    }
}
