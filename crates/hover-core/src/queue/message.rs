//! A record as Laravel's `SqsJob` takes it: the message in the shape of SQS's
//! ReceiveMessage answer (`MessageId`, `ReceiptHandle`, `Body`, `Attributes`,
//! `MessageAttributes`), which is what `queue:work sqs` hands it.
//!
//! The event's system attributes are kept verbatim (their names are the API's already);
//! its message attributes differ from the API's in casing only (`stringValue`, `dataType`
//! where the API has `StringValue`, `DataType`), so their fields are renamed and their
//! values kept as the event gives them.

use serde_json::{Map, Value};

use crate::queue::event::SqsRecord;

/// One record, owned, for the job that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// `Attributes`, as the event has them.
    pub attributes: Map<String, Value>,
    /// `MessageAttributes`, with the API's field names.
    pub message_attributes: Map<String, Value>,
    /// `ApproximateReceiveCount`, read.
    pub receive_count: u32,
}

impl From<SqsRecord<'_>> for Message {
    fn from(record: SqsRecord<'_>) -> Self {
        let message_attributes = record
            .message_attributes
            .into_iter()
            .map(|(name, attribute)| (name, api_casing(attribute)))
            .collect();
        Self {
            message_id: record.message_id.into_owned(),
            receipt_handle: record.receipt_handle.into_owned(),
            body: record.body.into_owned(),
            attributes: record.attributes,
            message_attributes,
            receive_count: record.receive_count,
        }
    }
}

/// A binary message attribute's value as bytes: the event holds it in base64, where the
/// AWS SDK for PHP gives a job the bytes. Text that is not base64 is kept as it is.
pub fn binary_value(base64_text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(base64_text)
        .unwrap_or_else(|_| base64_text.as_bytes().to_vec())
}

/// A message attribute's fields renamed as the SQS API names them: the first letter upper
/// case (`stringValue` → `StringValue`, `binaryListValues` → `BinaryListValues`).
fn api_casing(attribute: Value) -> Value {
    let Value::Object(fields) = attribute else {
        return attribute;
    };
    fields
        .into_iter()
        .map(|(field, value)| {
            let mut letters = field.chars();
            let renamed = match letters.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + letters.as_str(),
                None => field,
            };
            (renamed, value)
        })
        .collect::<Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::event::parse_event;
    use serde_json::json;

    #[test]
    fn a_record_becomes_the_api_message() {
        let event = json!({"Records": [{
            "messageId": "m-1",
            "receiptHandle": "rh-1",
            "body": "{\"job\":\"x\"}",
            "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1523232000000",
                           "SenderId": "AID", "ApproximateFirstReceiveTimestamp": "1523232000001"},
            "messageAttributes": {
                "tenant": {"stringValue": "acme", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
                "blob": {"binaryValue": "AAEC", "dataType": "Binary"}
            },
            "md5OfBody": "x",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
            "awsRegion": "us-east-1"
        }]})
        .to_string();
        let parsed = parse_event(event.as_bytes()).unwrap();
        let message = Message::from(parsed.records.into_iter().next().unwrap());
        assert_eq!(message.message_id, "m-1");
        assert_eq!(message.receipt_handle, "rh-1");
        assert_eq!(message.body, "{\"job\":\"x\"}");
        assert_eq!(message.receive_count, 3);
        assert_eq!(
            Value::Object(message.attributes),
            json!({"ApproximateReceiveCount": "3", "SentTimestamp": "1523232000000",
                   "SenderId": "AID", "ApproximateFirstReceiveTimestamp": "1523232000001"})
        );
        assert_eq!(
            Value::Object(message.message_attributes),
            json!({
                "tenant": {"StringValue": "acme", "StringListValues": [], "BinaryListValues": [], "DataType": "String"},
                "blob": {"BinaryValue": "AAEC", "DataType": "Binary"}
            })
        );
    }

    #[test]
    fn the_aws_sample_keeps_its_attributes() {
        let sample = include_bytes!("../../tests/fixtures/events/example-sqs-event.json");
        let parsed = parse_event(sample).unwrap();
        let message = Message::from(parsed.records.into_iter().next().unwrap());
        let original: Value = serde_json::from_slice(sample).unwrap();
        assert_eq!(
            Value::Object(message.attributes.clone()),
            original["Records"][0]["attributes"]
        );
        for (name, attribute) in &message.message_attributes {
            let from_event = &original["Records"][0]["messageAttributes"][name];
            assert_eq!(attribute["DataType"], from_event["dataType"], "{name}");
            assert_eq!(attribute.get("dataType"), None, "{name}");
        }
    }

    #[test]
    fn binary_values_are_decoded_and_other_text_is_kept() {
        assert_eq!(binary_value("MTEwMA=="), b"1100");
        assert_eq!(binary_value("AAEC/w=="), [0, 1, 2, 255]);
        assert_eq!(binary_value("not base64!"), b"not base64!");
        assert_eq!(binary_value(""), b"");
    }

    #[test]
    fn odd_attribute_shapes_pass_through() {
        assert_eq!(api_casing(json!("text")), json!("text"));
        assert_eq!(api_casing(json!({"": 1, "é": 2})), json!({"": 1, "é": 2}));
    }
}
