//! The event of a queue function invocation (SQS records), and the partial-batch answer
//! of a batch built from it with outcomes the input picks.

#![no_main]

use hover_core::queue::batch::{Batch, Outcome};
use hover_core::queue::event::{MAX_RECORDS, parse_event};
use hover_core::queue::message::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let event = match parse_event(data) {
        Ok(event) => event,
        Err(error) => {
            assert_eq!(error.error_type, "Hover.InvalidEvent");
            // Quoted, never copied whole.
            assert!(
                error.error_message.len() < 4096,
                "{} bytes",
                error.error_message.len()
            );
            return;
        }
    };
    let queue = &event.queue;
    assert!(queue.url().starts_with("https://sqs."), "{}", queue.url());
    assert!(queue.url().ends_with(&format!("/{}", queue.name())));
    assert!((1..=80).contains(&queue.name().len()), "{}", queue.name());
    assert_eq!(queue.is_fifo(), queue.name().ends_with(".fifo"));
    assert!((1..=MAX_RECORDS).contains(&event.records.len()));
    for record in &event.records {
        assert!(!record.message_id().is_empty());
        assert!(!record.receipt_handle().is_empty());
        assert!(record.receive_count() >= 1);
    }
    // Each record as Laravel's SqsJob takes it: the same message, attributes and receive count.
    let records: Vec<(String, usize, usize, u32)> = event
        .records
        .iter()
        .map(|r| {
            let sizes = (r.attributes().len(), r.message_attributes().len());
            (r.message_id().to_owned(), sizes.0, sizes.1, r.receive_count())
        })
        .collect();
    for (record, (id, attributes, message_attributes, count)) in
        event.records.into_iter().zip(&records)
    {
        let message = Message::from(record);
        assert_eq!(&message.message_id, id);
        assert_eq!(message.attributes.len(), *attributes);
        assert_eq!(message.message_attributes.len(), *message_attributes);
        assert_eq!(message.receive_count, *count);
    }

    // Each record's outcome picked by the last byte of its message id.
    let ids: Vec<String> = records.into_iter().map(|(id, ..)| id).collect();
    let mut batch = Batch::new(ids.clone(), queue.is_fifo());
    let mut deleted = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        let byte = id.bytes().last().unwrap();
        let outcome = match byte % 5 {
            0 => Outcome::Pending,
            1 => Outcome::Running,
            2 => Outcome::Deleted,
            3 => Outcome::Released {
                delay: u32::from(byte),
            },
            _ => Outcome::Undetermined,
        };
        deleted.push(outcome == Outcome::Deleted);
        batch.record(index, outcome);
    }
    let failures = batch.item_failures();
    let mut unique = failures.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), failures.len(), "an id is listed twice");
    // Listed iff not deleted, or (FIFO) after one listed; an id repeated in the batch is
    // listed if any of its records is.
    let first_listed = ids.iter().zip(&deleted).position(|(_, deleted)| !deleted);
    for (index, id) in ids.iter().enumerate() {
        let must_come_back =
            ids.iter()
                .zip(&deleted)
                .enumerate()
                .any(|(other, (other_id, deleted))| {
                    other_id == id
                        && (!deleted
                            || (queue.is_fifo() && first_listed.is_some_and(|first| other > first)))
                });
        assert_eq!(
            failures.contains(&id.as_str()),
            must_come_back,
            "record {index}"
        );
    }
    let response: serde_json::Value = serde_json::from_slice(&batch.response()).unwrap();
    let listed: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|failure| failure["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(listed, failures);
});
