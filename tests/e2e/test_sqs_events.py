"""The queue tests' own footing: the SQS events they build from moto's messages have the shape
of AWS's sample, and the receive counts and visibilities they rely on are moto's."""

import base64
import hashlib
import json
import time

import pytest

from sqs_events import AWS_SAMPLE_EVENT, Queue, lambda_record, queue_url_of, sqs_client, unique_name


@pytest.fixture
def sqs(moto):
    return sqs_client(moto)


def shape(record):
    """A record's keys, its attributes' names, and each message attribute's keys by data type."""
    return (
        set(record),
        set(record["attributes"]),
        {value["dataType"]: set(value) for value in record["messageAttributes"].values()},
    )


def test_an_event_made_from_moto_has_the_shape_of_awss_sample(sqs):
    queue = Queue(sqs, unique_name("shape"))
    message_id = queue.send(
        "Message Body",
        attributes={
            "Attribute1": {"DataType": "String", "StringValue": "AttributeValue1"},
            "Attribute2": {"DataType": "Number", "StringValue": "123"},
            "Attribute3": {"DataType": "Binary", "BinaryValue": b"1100"},
        },
    )
    (message,) = queue.receive([message_id])
    event = queue.event([message])
    (sample,) = json.loads(AWS_SAMPLE_EVENT.read_text())["Records"]
    (record,) = event["Records"]
    record_keys, attribute_names, attribute_keys = shape(record)
    sample_keys, sample_attribute_names, sample_attribute_keys = shape(sample)
    assert record_keys == sample_keys
    assert attribute_names == sample_attribute_names
    # The sample gives its Binary attribute list values too (Lambda's are empty); the keys match.
    assert attribute_keys == sample_attribute_keys
    assert record["messageAttributes"]["Attribute3"]["binaryValue"] == sample["messageAttributes"]["Attribute3"]["binaryValue"] == "MTEwMA=="
    assert record["messageAttributes"]["Attribute1"] == sample["messageAttributes"]["Attribute1"]
    assert record["body"] == "Message Body"
    assert record["md5OfBody"] == hashlib.md5(b"Message Body").hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:123456789012:{queue.name}" == queue.arn
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_a_fifo_record_has_its_group_sequence_and_deduplication_id(sqs):
    queue = Queue(sqs, unique_name("shape", fifo=True))
    messages = queue.deliver(["first", "second"])
    event = queue.event(messages)
    first, second = event["Records"]
    assert [first["body"], second["body"]] == ["first", "second"], "in the group's order"
    assert list(first["attributes"]) == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SequenceNumber",
        "MessageGroupId",
        "SenderId",
        "MessageDeduplicationId",
        "ApproximateFirstReceiveTimestamp",
    ], "the order of AWS's FIFO sample"
    assert first["attributes"]["MessageGroupId"] == "orders"
    assert first["attributes"]["MessageDeduplicationId"] != second["attributes"]["MessageDeduplicationId"]
    assert first["eventSourceARN"].endswith(".fifo")
    assert first["messageAttributes"] == {} and "md5OfMessageAttributes" not in first


def test_deliver_gives_each_message_the_receive_count_asked_for(sqs):
    queue = Queue(sqs, unique_name("counts"))
    messages = queue.deliver(["a", ("b", 3), ("c", 2), "d", ("e", 4)])
    assert [m["Body"] for m in messages] == ["a", "b", "c", "d", "e"]
    records = queue.event(messages)["Records"]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in records] == ["1", "3", "2", "1", "4"]
    assert queue.visible() == {}, "the whole batch is in flight"


def test_a_message_made_invisible_comes_back_after_the_delay_with_its_count_raised(sqs):
    queue = Queue(sqs, unique_name("visibility"))
    kept, released = queue.deliver(["kept", "released"])
    started = time.monotonic()
    sqs.change_message_visibility(QueueUrl=queue.url, ReceiptHandle=released["ReceiptHandle"], VisibilityTimeout=2)
    assert queue.visible() == {}
    seen = queue.wait_until_visible([released["MessageId"]], timeout=5)
    when, count = seen[released["MessageId"]]
    assert 1.8 < when - started < 3.5
    assert count == 2
    assert kept["MessageId"] not in queue.visible(), "still in flight for the batch's 30 s"


@pytest.mark.parametrize(
    "arn, url",
    [
        ("arn:aws:sqs:us-east-1:123456789012:jobs", "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"),
        ("arn:aws-cn:sqs:cn-north-1:123456789012:jobs", "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/jobs"),
        ("arn:aws:sqs:eu-west-1:123456789012:orders.fifo", "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"),
    ],
)
def test_the_queue_url_of_an_arn(arn, url):
    assert queue_url_of(arn) == url


def test_binary_message_attributes_are_base64_in_the_event():
    message = {
        "MessageId": "id",
        "ReceiptHandle": "handle",
        "Body": "b",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "1", "Unknown": "dropped"},
        "MessageAttributes": {"raw": {"DataType": "Binary.gzip", "BinaryValue": b"\x00\xff"}},
    }
    record = lambda_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert record["attributes"] == {"ApproximateReceiveCount": "1"}
    assert record["messageAttributes"]["raw"] == {
        "binaryValue": base64.b64encode(b"\x00\xff").decode(),
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Binary.gzip",
    }
