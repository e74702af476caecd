//! The event of a queue function invocation: a batch of SQS records from Lambda's SQS
//! integration, read into typed records, and the queue they come from (its URL, its name,
//! whether it is FIFO), derived from the records' `eventSourceARN`.
//!
//! Each record becomes a Laravel `SqsJob`, which expects a message as SQS's
//! ReceiveMessage gives it: the record's `attributes` and `messageAttributes` are therefore
//! kept as the event has them, in its order, for [`crate::queue::message`] to hand over.
//!
//! The event is parsed in one pass into structs that borrow its strings (only strings with
//! JSON escapes are copied); only each record's attributes, small, are decoded into maps
//! (see [`SqsRecord::attributes`]). Nothing in it is
//! trusted: errors quote it cut short, and the queue URL is built only from an ARN whose
//! every part has the shape AWS gives it.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error_response::{ErrorResponse, ErrorType};
use crate::event_error::{capped, listed_fields, not_an_object};

/// The most records a batch may have: Lambda's largest batch size, for a standard queue
/// (a FIFO queue's is 10).
pub const MAX_RECORDS: usize = 10_000;
/// The `eventSource` of every record from SQS.
const SQS_EVENT_SOURCE: &str = "aws:sqs";
/// The longest queue name SQS allows, `.fifo` included.
const MAX_QUEUE_NAME_LENGTH: usize = 80;
/// The DNS suffix of each AWS partition's endpoints, from the partition table of AWS's
/// SDKs (the `aws-sdk-*` crates' `endpoint_lib`). SQS's endpoint in each is
/// `sqs.<region>.<suffix>`.
const PARTITION_DNS_SUFFIXES: [(&str, &str); 8] = [
    ("aws", "amazonaws.com"),
    ("aws-cn", "amazonaws.com.cn"),
    ("aws-us-gov", "amazonaws.com"),
    ("aws-iso", "c2s.ic.gov"),
    ("aws-iso-b", "sc2s.sgov.gov"),
    ("aws-iso-e", "cloud.adc-e.uk"),
    ("aws-iso-f", "csp.hci.ic.gov"),
    ("aws-eusc", "amazonaws.eu"),
];

/// A batch of SQS records, all from one queue.
#[derive(Debug, PartialEq, Eq)]
pub struct SqsEvent<'a> {
    pub queue: Queue,
    /// In the event's order, which on a FIFO queue is the order they must run in.
    pub records: Vec<SqsRecord<'a>>,
}

/// One SQS message, as the event gives it.
#[derive(Debug, PartialEq, Eq)]
pub struct SqsRecord<'a> {
    pub(crate) message_id: Cow<'a, str>,
    pub(crate) receipt_handle: Cow<'a, str>,
    pub(crate) body: Cow<'a, str>,
    pub(crate) attributes: Map<String, Value>,
    pub(crate) message_attributes: Map<String, Value>,
    pub(crate) receive_count: u32,
}

impl SqsRecord<'_> {
    /// The message's id: never empty. Lambda's partial-batch answer names records by it.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The handle that changes the message's visibility (a release): never empty.
    pub fn receipt_handle(&self) -> &str {
        &self.receipt_handle
    }

    /// The message's body: for Laravel, the job's JSON payload. Empty when the event has none.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The message's system attributes (`ApproximateReceiveCount`, `SentTimestamp`,
    /// `MessageGroupId`…) as the event has them, in its order; empty when it has none. A
    /// string that is no Unicode (a lone surrogate escape, `"\uD800"`) is refused with the
    /// event.
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.attributes
    }

    /// The message's own attributes as the event has them; empty when it has none.
    pub fn message_attributes(&self) -> &Map<String, Value> {
        &self.message_attributes
    }

    /// How many times SQS has handed the message out, this time included: the job's
    /// attempts. From the `ApproximateReceiveCount` attribute; 1 when it is missing or not a
    /// whole number from 1 up, and at most `u32::MAX`.
    pub fn receive_count(&self) -> u32 {
        self.receive_count
    }
}

/// The SQS queue a batch comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    url: String,
    /// Where the name starts in `url`: after the last `/`.
    name_start: usize,
}

impl Queue {
    /// The queue of an SQS ARN, `arn:<partition>:sqs:<region>:<account>:<name>`:
    /// `arn:aws:sqs:us-east-1:123456789012:orders` is
    /// `https://sqs.us-east-1.amazonaws.com/123456789012/orders`. Refused: an ARN that is
    /// not an SQS queue's, a partition whose DNS suffix is not known here, a region, an
    /// account or a name that does not have the shape AWS gives it.
    pub fn from_arn(arn: &str) -> Result<Self, ErrorResponse> {
        let parts: Vec<&str> = arn.split(':').collect();
        let [prefix, partition, service, region, account, name] = parts[..] else {
            return Err(not_an_sqs_arn(arn));
        };
        if prefix != "arn" || service != "sqs" {
            return Err(not_an_sqs_arn(arn));
        }
        let Some(&(_, dns_suffix)) = PARTITION_DNS_SUFFIXES
            .iter()
            .find(|(known, _)| *known == partition)
        else {
            let known: Vec<&str> = PARTITION_DNS_SUFFIXES.iter().map(|(id, _)| *id).collect();
            return Err(invalid(format!(
                "the queue's ARN `{}` is in the partition `{}`, whose SQS endpoint is not known \
                 here (known: {})",
                capped(arn),
                capped(partition),
                known.join(", ")
            )));
        };
        if !is_region(region) || !is_account_id(account) || !is_queue_name(name) {
            return Err(not_an_sqs_arn(arn));
        }
        let url = format!("https://sqs.{region}.{dns_suffix}/{account}/{name}");
        Ok(Self {
            name_start: url.len() - name.len(),
            url,
        })
    }

    /// The queue's URL, as the SQS API names the queue.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The queue's name: the ARN's last part.
    pub fn name(&self) -> &str {
        &self.url[self.name_start..]
    }

    /// A FIFO queue (its name ends with `.fifo`): its records must run in order.
    pub fn is_fifo(&self) -> bool {
        self.name().ends_with(".fifo")
    }
}

/// Reads an SQS event: 1 to [`MAX_RECORDS`] records, each from SQS (`eventSource`
/// `aws:sqs`) with a message id and a receipt handle, all from one queue.
pub fn parse_event(payload: &[u8]) -> Result<SqsEvent<'_>, ErrorResponse> {
    // serde would also take an array for the struct, its fields by position.
    if payload.trim_ascii_start().first() != Some(&b'{') {
        return Err(not_an_object(payload, "SQS events are"));
    }
    let event: RawEvent = serde_json::from_slice(payload).map_err(|error| {
        invalid(if error.is_data() {
            format!(
                "the event does not have the shape of an SQS event ({})",
                capped(&error.to_string())
            )
        } else {
            format!(
                "the event is not valid JSON ({})",
                capped(&error.to_string())
            )
        })
    })?;
    let Some(raw_records) = event.records else {
        return Err(not_an_sqs_event(payload));
    };
    let Some(first) = raw_records.first() else {
        return Err(invalid("the SQS event has no records".to_owned()));
    };
    if raw_records.len() > MAX_RECORDS {
        return Err(invalid(format!(
            "the SQS event has {} records, more than Lambda ever sends ({MAX_RECORDS})",
            raw_records.len()
        )));
    }
    let arn = first.0.event_source_arn.clone();
    let mut records = Vec::with_capacity(raw_records.len());
    for (index, Object(raw)) in raw_records.into_iter().enumerate() {
        records.push(record(index, raw, &arn)?);
    }
    Ok(SqsEvent {
        queue: Queue::from_arn(&arn)?,
        records,
    })
}

/// A record, checked: from SQS, from the queue `arn`, with an id and a receipt handle.
fn record<'a>(index: usize, raw: RawRecord<'a>, arn: &str) -> Result<SqsRecord<'a>, ErrorResponse> {
    if raw.event_source.is_empty() {
        return Err(invalid(format!(
            "record {index} has no eventSource: the event is not from SQS"
        )));
    }
    if raw.event_source != SQS_EVENT_SOURCE {
        return Err(invalid(format!(
            "record {index}'s eventSource is `{}`, not `{SQS_EVENT_SOURCE}`: the event is not \
             from SQS",
            capped(&raw.event_source)
        )));
    }
    if raw.message_id.is_empty() {
        return Err(invalid(format!("record {index} has no messageId")));
    }
    if raw.receipt_handle.is_empty() {
        return Err(invalid(format!(
            "record {index} (messageId `{}`) has no receiptHandle",
            capped(&raw.message_id)
        )));
    }
    if raw.event_source_arn != arn {
        return Err(invalid(format!(
            "record {index} comes from the queue `{}`, record 0 from `{}`: Lambda sends one \
             queue's records in a batch",
            capped(&raw.event_source_arn),
            capped(arn)
        )));
    }
    let attributes = decodable_object(index, "attributes", raw.attributes)?;
    let message_attributes = decodable_object(index, "messageAttributes", raw.message_attributes)?;
    Ok(SqsRecord {
        message_id: raw.message_id,
        receipt_handle: raw.receipt_handle,
        body: raw.body,
        receive_count: receive_count(&attributes),
        attributes,
        message_attributes,
    })
}

/// The record `index`'s `field` (empty when it has none), decoded: an object. (Cheap:
/// attributes are a few short entries, message attributes at most 10.)
fn decodable_object(
    index: usize,
    field: &str,
    raw: Option<&RawValue>,
) -> Result<Map<String, Value>, ErrorResponse> {
    let text = raw.map_or("{}", RawValue::get);
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(invalid(format!(
            "record {index}'s {field} is not an object"
        ))),
        Err(error) => Err(invalid(format!(
            "record {index}'s {field} cannot be decoded ({})",
            capped(&error.to_string())
        ))),
    }
}

/// `ApproximateReceiveCount` of a record's attributes: a string of digits, at least 1,
/// saturated at `u32::MAX`; 1 otherwise.
fn receive_count(attributes: &Map<String, Value>) -> u32 {
    match attributes
        .get("ApproximateReceiveCount")
        .and_then(Value::as_str)
    {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<u32>().unwrap_or(u32::MAX).max(1)
        }
        _ => 1,
    }
}

/// A region as AWS names them: lower-case letters, digits and `-` (`us-east-1`).
fn is_region(region: &str) -> bool {
    const LONGEST_REGION: usize = 32;
    !region.is_empty()
        && region.len() <= LONGEST_REGION
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An AWS account id: 12 digits.
fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

/// A queue name as SQS allows them: 1 to 80 letters, digits, `-` and `_`, a FIFO queue's
/// with `.fifo` at the end.
fn is_queue_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= MAX_QUEUE_NAME_LENGTH
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn invalid(message: String) -> ErrorResponse {
    ErrorResponse::new(ErrorType::InvalidEvent, message)
}

fn not_an_sqs_arn(arn: &str) -> ErrorResponse {
    invalid(format!(
        "the eventSourceARN `{}` is not an SQS queue's ARN \
         (arn:<partition>:sqs:<region>:<12-digit account>:<queue name>)",
        capped(arn)
    ))
}

/// The error for a JSON object without `Records`: names the fields it has instead, which
/// tells an HTTP or a CLI event apart at a glance.
fn not_an_sqs_event(payload: &[u8]) -> ErrorResponse {
    let fields = serde_json::from_slice::<FieldNames>(payload)
        .map(|names| names.0)
        .unwrap_or_default();
    invalid(format!(
        "the event is not an SQS event, which has `Records`; this one has {}",
        listed_fields(fields.iter().map(String::as_str))
    ))
}

// The event's JSON. Strings are `Cow`s borrowed from the payload (serde borrows a
// `Cow<str>` when it is a struct's own field and has no escapes); a missing string is
// empty, checked where it matters. Fields not read here (`md5OfBody`, `awsRegion`…) are
// skipped unparsed.

#[derive(Deserialize)]
#[serde(expecting = "an object")]
struct RawEvent<'a> {
    #[serde(rename = "Records", borrow)]
    records: Option<Vec<Object<RawRecord<'a>>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecord<'a> {
    #[serde(borrow, default)]
    message_id: Cow<'a, str>,
    #[serde(borrow, default)]
    receipt_handle: Cow<'a, str>,
    #[serde(borrow, default)]
    body: Cow<'a, str>,
    #[serde(borrow)]
    attributes: Option<&'a RawValue>,
    #[serde(borrow)]
    message_attributes: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event_source: Cow<'a, str>,
    #[serde(rename = "eventSourceARN", borrow, default)]
    event_source_arn: Cow<'a, str>,
}

/// A `T` read only from a JSON object: serde's derived structs would also take an array,
/// their fields by position, which no SQS record is.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

/// The field names of a JSON object, in its order, for an error.
struct FieldNames(Vec<String>);

impl<'de> Deserialize<'de> for FieldNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldNamesVisitor;
        impl<'de> Visitor<'de> for FieldNamesVisitor {
            type Value = FieldNames;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut names = Vec::new();
                while let Some((name, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    names.push(name);
                }
                Ok(FieldNames(names))
            }
        }
        deserializer.deserialize_map(FieldNamesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const ORDERS_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders";

    fn record_from(message_id: &str, arn: &str) -> Value {
        json!({
            "messageId": message_id,
            "receiptHandle": format!("handle-{message_id}"),
            "body": "{\"job\":\"App\\\\Jobs\\\\Ship\"}",
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1520621625029"},
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": "us-east-1"
        })
    }

    fn event_of(records: Vec<Value>) -> Vec<u8> {
        json!({ "Records": records }).to_string().into_bytes()
    }

    fn error(payload: &[u8]) -> String {
        let error = parse_event(payload).unwrap_err();
        assert_eq!(error.error_type, "Hover.InvalidEvent");
        error.error_message
    }

    fn arn_error(arn: &str) -> String {
        let error = Queue::from_arn(arn).unwrap_err();
        assert_eq!(error.error_type, "Hover.InvalidEvent");
        error.error_message
    }

    #[test]
    fn reads_aws_sample_event() {
        let payload = include_str!("../../tests/fixtures/events/example-sqs-event.json");
        let event = parse_event(payload.as_bytes()).unwrap();
        assert_eq!(
            event.queue.url(),
            "https://sqs.us-west-2.amazonaws.com/123456789012/SQSQueue"
        );
        assert_eq!(event.queue.name(), "SQSQueue");
        assert!(!event.queue.is_fifo());
        assert_eq!(event.records.len(), 1);
        let record = &event.records[0];
        assert_eq!(record.message_id(), "MessageID_1");
        assert_eq!(record.receipt_handle(), "MessageReceiptHandle");
        assert_eq!(record.body(), "Message Body");
        assert_eq!(record.receive_count(), 2);
        // As the event has them, in its order.
        assert_eq!(
            record.attributes().keys().collect::<Vec<_>>(),
            [
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp"
            ]
        );
        assert_eq!(
            Value::Object(record.attributes().clone()),
            json!({
                "ApproximateReceiveCount": "2",
                "SentTimestamp": "1520621625029",
                "SenderId": "AROAIWPX5BD2BHG722MW4:sender",
                "ApproximateFirstReceiveTimestamp": "1520621634884"
            })
        );
        let original: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(
            Value::Object(record.message_attributes().clone()),
            original["Records"][0]["messageAttributes"]
        );
    }

    #[test]
    fn reads_a_json_body_unescaped() {
        let event = parse_event(include_bytes!(
            "../../tests/fixtures/events/example-sqs-event-obj.json"
        ))
        .unwrap();
        assert_eq!(event.records[0].body(), r#"{"a":"Test","b":123}"#);
    }

    #[test]
    fn keeps_the_records_in_order() {
        let payload = event_of(vec![
            record_from("c", ORDERS_ARN),
            record_from("a", ORDERS_ARN),
            record_from("b", ORDERS_ARN),
        ]);
        let event = parse_event(&payload).unwrap();
        let ids: Vec<&str> = event.records.iter().map(SqsRecord::message_id).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        assert_eq!(event.records[1].receipt_handle(), "handle-a");
        assert_eq!(event.records[1].body(), r#"{"job":"App\\Jobs\\Ship"}"#);
    }

    #[test]
    fn queue_url_in_every_partition() {
        for (arn, url) in [
            (
                "arn:aws:sqs:us-east-1:123456789012:orders",
                "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
            ),
            (
                "arn:aws-cn:sqs:cn-north-1:123456789012:orders",
                "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders",
            ),
            (
                "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:orders",
                "https://sqs.us-gov-west-1.amazonaws.com/123456789012/orders",
            ),
            (
                "arn:aws-iso:sqs:us-iso-east-1:123456789012:orders",
                "https://sqs.us-iso-east-1.c2s.ic.gov/123456789012/orders",
            ),
            (
                "arn:aws-iso-b:sqs:us-isob-east-1:123456789012:orders",
                "https://sqs.us-isob-east-1.sc2s.sgov.gov/123456789012/orders",
            ),
            (
                "arn:aws-iso-e:sqs:eu-isoe-west-1:123456789012:orders",
                "https://sqs.eu-isoe-west-1.cloud.adc-e.uk/123456789012/orders",
            ),
            (
                "arn:aws-iso-f:sqs:us-isof-south-1:123456789012:orders",
                "https://sqs.us-isof-south-1.csp.hci.ic.gov/123456789012/orders",
            ),
            (
                "arn:aws-eusc:sqs:eusc-de-east-1:123456789012:orders",
                "https://sqs.eusc-de-east-1.amazonaws.eu/123456789012/orders",
            ),
        ] {
            let queue = Queue::from_arn(arn).unwrap();
            assert_eq!(queue.url(), url, "{arn}");
            assert_eq!(queue.name(), "orders", "{arn}");
        }
    }

    #[test]
    fn fifo_queues_by_their_name() {
        let queue = Queue::from_arn("arn:aws:sqs:eu-west-1:123456789012:orders_2-b.fifo").unwrap();
        assert!(queue.is_fifo());
        assert_eq!(queue.name(), "orders_2-b.fifo");
        assert_eq!(
            queue.url(),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders_2-b.fifo"
        );
        assert!(!Queue::from_arn(ORDERS_ARN).unwrap().is_fifo());
        // The longest names SQS allows: 80 characters, `.fifo` included.
        let longest = format!("arn:aws:sqs:us-east-1:123456789012:{}", "q".repeat(80));
        assert_eq!(Queue::from_arn(&longest).unwrap().name().len(), 80);
        let longest_fifo = format!("arn:aws:sqs:us-east-1:123456789012:{}.fifo", "q".repeat(75));
        assert!(Queue::from_arn(&longest_fifo).unwrap().is_fifo());
    }

    #[test]
    fn refuses_arns_that_are_not_sqs_queues() {
        for arn in [
            "",
            "orders",
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
            "arn:aws:sns:us-east-1:123456789012:orders",
            "arn:aws:sqs:us-east-1:123456789012",
            "arn:aws:sqs:us-east-1:123456789012:orders:extra",
            "xrn:aws:sqs:us-east-1:123456789012:orders",
            // Region, account and name not as AWS gives them.
            "arn:aws:sqs::123456789012:orders",
            "arn:aws:sqs:US-EAST-1:123456789012:orders",
            "arn:aws:sqs:us-east-1.evil.com:123456789012:orders",
            "arn:aws:sqs:us-east-1:12345678901:orders",
            "arn:aws:sqs:us-east-1:12345678901a:orders",
            "arn:aws:sqs:us-east-1:123456789012:",
            "arn:aws:sqs:us-east-1:123456789012:.fifo",
            "arn:aws:sqs:us-east-1:123456789012:my orders",
            "arn:aws:sqs:us-east-1:123456789012:../orders",
            "arn:aws:sqs:us-east-1:123456789012:orders.fifo.fifo",
        ] {
            let message = arn_error(arn);
            assert!(
                message.contains("is not an SQS queue's ARN"),
                "{arn}: {message}"
            );
        }
        let too_long = format!("arn:aws:sqs:us-east-1:123456789012:{}", "q".repeat(81));
        assert!(arn_error(&too_long).contains("is not an SQS queue's ARN"));
    }

    #[test]
    fn refuses_partitions_without_a_known_endpoint() {
        let message = arn_error("arn:aws-mars:sqs:mars-1:123456789012:orders");
        assert_eq!(
            message,
            "the queue's ARN `arn:aws-mars:sqs:mars-1:123456789012:orders` is in the partition \
             `aws-mars`, whose SQS endpoint is not known here (known: aws, aws-cn, aws-us-gov, \
             aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc)"
        );
    }

    #[test]
    fn receive_count_defaults_to_one() {
        let count_of = |attributes: Value| {
            let mut record = record_from("m", ORDERS_ARN);
            record["attributes"] = attributes;
            parse_event(&event_of(vec![record])).unwrap().records[0].receive_count()
        };
        assert_eq!(count_of(json!({"ApproximateReceiveCount": "7"})), 7);
        assert_eq!(
            count_of(json!({"ApproximateReceiveCount": "4294967295"})),
            u32::MAX
        );
        assert_eq!(
            count_of(json!({"ApproximateReceiveCount": "99999999999"})),
            u32::MAX
        );
        assert_eq!(count_of(json!({"ApproximateReceiveCount": "0"})), 1);
        assert_eq!(count_of(json!({"ApproximateReceiveCount": ""})), 1);
        assert_eq!(count_of(json!({"ApproximateReceiveCount": "-3"})), 1);
        assert_eq!(count_of(json!({"ApproximateReceiveCount": "2.5"})), 1);
        assert_eq!(count_of(json!({"ApproximateReceiveCount": 3})), 1);
        assert_eq!(count_of(json!({"SentTimestamp": "1520621625029"})), 1);
        assert_eq!(count_of(json!({})), 1);
        assert_eq!(count_of(Value::Null), 1);
    }

    #[test]
    fn missing_attributes_are_empty_objects() {
        let mut record = record_from("m", ORDERS_ARN);
        let fields = record.as_object_mut().unwrap();
        fields.remove("attributes");
        fields.insert("messageAttributes".to_owned(), Value::Null);
        let payload = event_of(vec![record]);
        let event = parse_event(&payload).unwrap();
        assert!(event.records[0].attributes().is_empty());
        assert!(event.records[0].message_attributes().is_empty());
    }

    #[test]
    fn refuses_attributes_that_are_not_objects() {
        let mut record = record_from("m", ORDERS_ARN);
        record["attributes"] = json!(["ApproximateReceiveCount", "2"]);
        assert_eq!(
            error(&event_of(vec![record])),
            "record 0's attributes is not an object"
        );
        let mut record = record_from("m", ORDERS_ARN);
        record["messageAttributes"] = json!("x");
        assert_eq!(
            error(&event_of(vec![record_from("a", ORDERS_ARN), record])),
            "record 1's messageAttributes is not an object"
        );
    }

    #[test]
    fn refuses_attributes_that_cannot_be_decoded() {
        // Valid JSON syntax, but a lone surrogate is no character: PHP's `json_decode`
        // refuses it too. (Found by the fuzz target.)
        let payload =
            br#"{"Records": [{"messageId": "m", "receiptHandle": "h", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {"name": {"stringValue": "\uD9DE", "dataType": "String"}}}]}"#;
        let message = error(payload);
        assert!(
            message.starts_with(
                "record 0's messageAttributes cannot be decoded (unexpected end of hex escape"
            ),
            "{message}"
        );
        let payload =
            br#"{"Records": [{"messageId": "m", "receiptHandle": "h", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
            "attributes": {"\uDDDD": "1"}}]}"#;
        let message = error(payload);
        assert!(
            message.starts_with("record 0's attributes cannot be decoded ("),
            "{message}"
        );
    }

    #[test]
    fn refuses_what_is_not_json() {
        let message = error(b"{\"Records\": [");
        assert!(
            message.starts_with("the event is not valid JSON ("),
            "{message}"
        );
        let message = error(b"Records");
        assert!(
            message.starts_with("the event is not valid JSON ("),
            "{message}"
        );
        let message = error(b"");
        assert!(
            message.starts_with("the event is not valid JSON ("),
            "{message}"
        );
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        assert_eq!(
            error(b" [{\"Records\": []}]"),
            "the event is an array, not an object such as SQS events are"
        );
        assert_eq!(
            error(b"\"Records\""),
            "the event is a string, not an object such as SQS events are"
        );
        assert_eq!(
            error(b"null"),
            "the event is null, not an object such as SQS events are"
        );
    }

    #[test]
    fn other_events_are_refused_naming_their_fields() {
        assert_eq!(
            error(br#"{"command": "migrate --force"}"#),
            "the event is not an SQS event, which has `Records`; this one has the fields `command`"
        );
        let message = error(include_bytes!(
            "../../tests/fixtures/events/example-apigw-request.json"
        ));
        assert!(
            message.starts_with(
                "the event is not an SQS event, which has `Records`; this one has the fields \
                 `resource`, `path`, `httpMethod`"
            ),
            "{message}"
        );
        assert_eq!(
            error(b"{}"),
            "the event is not an SQS event, which has `Records`; this one has no fields"
        );
        // A large object's fields: a few, each cut short.
        let many: serde_json::Map<String, Value> = (0..30)
            .map(|index| (format!("{}{index}", "f".repeat(5000)), json!(1)))
            .collect();
        let message = error(Value::Object(many).to_string().as_bytes());
        assert!(message.ends_with("and 20 more"), "{message}");
        assert!(message.len() < 4000, "{} bytes", message.len());
    }

    #[test]
    fn refuses_records_of_another_shape() {
        let message = error(br#"{"Records": {"messageId": "m"}}"#);
        assert!(
            message.starts_with("the event does not have the shape of an SQS event (invalid type: map, expected a sequence"),
            "{message}"
        );
        // A record as an array, its fields by position, is no SQS record.
        let positional = json!({"Records": [["m", "h", "body", {}, {}, "aws:sqs", ORDERS_ARN]]});
        let message = error(positional.to_string().as_bytes());
        assert!(
            message.starts_with("the event does not have the shape of an SQS event (invalid type: sequence, expected an object"),
            "{message}"
        );
        let mut record = record_from("m", ORDERS_ARN);
        record["body"] = json!(42);
        let message = error(&event_of(vec![record]));
        assert!(
            message.starts_with(
                "the event does not have the shape of an SQS event (invalid type: integer `42`"
            ),
            "{message}"
        );
    }

    #[test]
    fn refuses_an_event_without_records() {
        assert_eq!(error(br#"{"Records": []}"#), "the SQS event has no records");
    }

    #[test]
    fn refuses_more_records_than_lambda_sends() {
        let record = record_from("m", ORDERS_ARN);
        let largest = event_of(vec![record.clone(); MAX_RECORDS]);
        assert_eq!(parse_event(&largest).unwrap().records.len(), 10_000);
        assert_eq!(
            error(&event_of(vec![record; MAX_RECORDS + 1])),
            "the SQS event has 10001 records, more than Lambda ever sends (10000)"
        );
    }

    #[test]
    fn refuses_records_from_elsewhere() {
        let mut record = record_from("m", ORDERS_ARN);
        record["eventSource"] = json!("aws:s3");
        assert_eq!(
            error(&event_of(vec![record_from("a", ORDERS_ARN), record])),
            "record 1's eventSource is `aws:s3`, not `aws:sqs`: the event is not from SQS"
        );
        // SNS records spell it `EventSource`.
        let sns = json!({"Records": [{"EventSource": "aws:sns", "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:topic:sub"}]});
        assert_eq!(
            error(sns.to_string().as_bytes()),
            "record 0 has no eventSource: the event is not from SQS"
        );
        let mut record = record_from("m", ORDERS_ARN);
        record["eventSource"] = json!("x".repeat(10_000));
        let message = error(&event_of(vec![record]));
        assert!(
            message.contains("… (10000 bytes)`, not `aws:sqs`"),
            "{message}"
        );
        assert!(message.len() < 400, "{} bytes", message.len());
    }

    #[test]
    fn refuses_records_from_different_queues() {
        let other = "arn:aws:sqs:us-east-1:123456789012:invoices";
        assert_eq!(
            error(&event_of(vec![
                record_from("a", ORDERS_ARN),
                record_from("b", ORDERS_ARN),
                record_from("c", other),
            ])),
            "record 2 comes from the queue `arn:aws:sqs:us-east-1:123456789012:invoices`, record 0 \
             from `arn:aws:sqs:us-east-1:123456789012:orders`: Lambda sends one queue's records in \
             a batch"
        );
    }

    #[test]
    fn refuses_records_without_an_id_or_a_receipt_handle() {
        let mut record = record_from("m", ORDERS_ARN);
        record.as_object_mut().unwrap().remove("messageId");
        assert_eq!(error(&event_of(vec![record])), "record 0 has no messageId");
        assert_eq!(
            error(&event_of(vec![record_from("", ORDERS_ARN)])),
            "record 0 has no messageId"
        );
        let mut record = record_from("m-2", ORDERS_ARN);
        record.as_object_mut().unwrap().remove("receiptHandle");
        assert_eq!(
            error(&event_of(vec![record_from("m-1", ORDERS_ARN), record])),
            "record 1 (messageId `m-2`) has no receiptHandle"
        );
    }

    #[test]
    fn refuses_a_record_with_an_arn_that_is_no_sqs_queue() {
        let message = error(&event_of(vec![record_from(
            "m",
            "arn:aws:sns:us-east-1:123456789012:orders",
        )]));
        assert_eq!(
            message,
            "the eventSourceARN `arn:aws:sns:us-east-1:123456789012:orders` is not an SQS queue's \
             ARN (arn:<partition>:sqs:<region>:<12-digit account>:<queue name>)"
        );
        let mut record = record_from("m", ORDERS_ARN);
        record.as_object_mut().unwrap().remove("eventSourceARN");
        assert!(error(&event_of(vec![record])).starts_with("the eventSourceARN `` is not"));
    }

    #[test]
    fn a_record_without_a_body_has_an_empty_one() {
        // Laravel's own rules then deal with it, as with any body that is no job.
        let mut record = record_from("m", ORDERS_ARN);
        record.as_object_mut().unwrap().remove("body");
        let payload = event_of(vec![record]);
        assert_eq!(parse_event(&payload).unwrap().records[0].body(), "");
    }
}
