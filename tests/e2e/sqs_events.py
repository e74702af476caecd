"""SQS on moto for the queue function's end-to-end tests: queues, messages received as
Lambda's SQS integration receives them, and the event Lambda makes of them.

Lambda's integration receives up to 10 messages with every attribute, invokes the function
with them as `Records`, then deletes the records the answer does not list; a listed record
comes back when its visibility ends. The tests play Lambda's part against moto: the runtime
sees real receipt handles, and its releases (ChangeMessageVisibility) are seen in moto.
"""

import base64
import time
import uuid

import boto3

from conftest import ROOT

ACCOUNT = "123456789012"
"""moto's default account, the one its queues' ARNs name."""

AWS_SAMPLE_EVENT = ROOT / "crates" / "hover-core" / "tests" / "fixtures" / "events" / "example-sqs-event.json"
"""AWS's sample SQS event, from the aws_lambda_events crate (copied unchanged)."""

# The system attributes Lambda puts in a record, in the order its events list them; FIFO
# queues add the last three.
RECORD_ATTRIBUTES = [
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
]

# Partitions the tests use, with the DNS suffix of their SQS endpoints.
DNS_SUFFIXES = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn"}


def sqs_client(aws_environment):
    """A boto3 SQS client on moto."""
    return boto3.client(
        "sqs",
        endpoint_url=aws_environment["AWS_ENDPOINT_URL_SQS"],
        region_name=aws_environment["AWS_REGION"],
        aws_access_key_id=aws_environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_environment["AWS_SECRET_ACCESS_KEY"],
    )


def unique_name(prefix, fifo=False):
    """A queue name no other test uses (moto runs for the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")


def queue_url_of(arn):
    """The queue URL a Lambda event's eventSourceARN stands for, as the runtime derives it:
    `arn:aws:sqs:us-east-1:123456789012:jobs` is `https://sqs.us-east-1.amazonaws.com/123456789012/jobs`."""
    _, partition, _, region, account, name = arn.split(":")
    return f"https://sqs.{region}.{DNS_SUFFIXES[partition]}/{account}/{name}"


class Queue:
    """One SQS queue in moto: a standard queue, or a FIFO queue when its name ends in `.fifo`."""

    def __init__(self, client, name, visibility_timeout=30):
        self.client = client
        self.name = name
        self.fifo = name.endswith(".fifo")
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if self.fifo:
            attributes["FifoQueue"] = "true"
        self.url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.arn = client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.region = self.arn.split(":")[3]

    def send(self, body, group="orders", attributes=None):
        """Sends a message (on a FIFO queue, in message group `group`, with a deduplication
        id of its own); returns its message id. `attributes`: SQS message attributes, in the
        SQS API's form (`{"name": {"DataType": "String", "StringValue": "v"}}`)."""
        options = {}
        if self.fifo:
            options = {"MessageGroupId": group, "MessageDeduplicationId": uuid.uuid4().hex}
        if attributes:
            options["MessageAttributes"] = attributes
        return self.client.send_message(QueueUrl=self.url, MessageBody=body, **options)["MessageId"]

    def _receive(self, expected, visibility_timeout):
        """Receives the messages `expected` (ids), which must be all the queue holds visible;
        returns them by id."""
        received = {}
        deadline = time.monotonic() + 10
        while set(received) != expected:
            response = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=visibility_timeout,
            )
            for message in response.get("Messages", []):
                assert message["MessageId"] in expected, f"{self.name} holds a message no test sent: {message}"
                assert message["MessageId"] not in received, "received twice: a receive count would be off"
                received[message["MessageId"]] = message
            assert time.monotonic() < deadline, f"{self.name}: {len(received)} of {len(expected)} messages received"
        return received

    def deliver(self, messages, visibility_timeout=30):
        """Sends `messages`, each a body or a (body, receive count) pair, and receives them so
        that each comes out with that ApproximateReceiveCount (1 by default): a message that
        must have been received n times is sent earlier and received n - 1 times before, with
        a visibility of 0. Returns the received messages, in the order given, invisible for
        `visibility_timeout` seconds: a batch as Lambda's integration has it. At most 10
        messages, on a queue that holds no others."""
        wanted = [(item, 1) if isinstance(item, str) else item for item in messages]
        assert 1 <= len(wanted) <= 10, "Lambda's batches have 1 to 10 records"
        assert not (self.fifo and any(count > 1 for _, count in wanted)), "receive counts above 1 are made on standard queues"
        ids = [None] * len(wanted)
        sent = set()
        received = {}
        for rounds_left in range(max(count for _, count in wanted), 0, -1):
            for index, (body, count) in enumerate(wanted):
                if count == rounds_left:
                    ids[index] = self.send(body)
                    sent.add(ids[index])
            received = self._receive(sent, visibility_timeout if rounds_left == 1 else 0)
        delivered = [received[message_id] for message_id in ids]
        for message, (_, count) in zip(delivered, wanted):
            assert message["Attributes"]["ApproximateReceiveCount"] == str(count), message
        return delivered

    def event(self, messages, partition="aws", region=None):
        """The event Lambda invokes the function with for `messages` (received from this
        queue), in their order. `partition` and `region` put the queue's ARN elsewhere (moto
        knows queues by account and name only, so the messages stay reachable)."""
        region = region or self.region
        arn = f"arn:{partition}:sqs:{region}:{ACCOUNT}:{self.name}"
        return {"Records": [lambda_record(message, arn, region) for message in messages]}

    def visible(self):
        """The messages receivable now, by id, with their ApproximateReceiveCount once
        received by this look (which leaves them visible: a visibility of 0)."""
        response = self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
        )
        return {m["MessageId"]: int(m["Attributes"]["ApproximateReceiveCount"]) for m in response.get("Messages", [])}

    def wait_until_visible(self, message_ids, timeout):
        """Looks at the queue until each of `message_ids` has been receivable; returns, by
        id, when it was first seen (time.monotonic()) and its receive count then. Fails
        after `timeout` seconds."""
        seen = {}
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            for message_id, count in self.visible().items():
                if message_id in message_ids and message_id not in seen:
                    seen[message_id] = (now, count)
            if set(message_ids) <= set(seen):
                return seen
            assert now < deadline, f"not receivable within {timeout} s: {sorted(set(message_ids) - set(seen))}"
            time.sleep(0.1)

    def make_visible(self, message):
        """Ends a received message's visibility now, as its visibility timeout running out
        would: the next receive gets it, its receive count raised."""
        self.client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

    def receive(self, message_ids, visibility_timeout=30):
        """Receives the messages `message_ids` (all the queue holds visible) as Lambda's next
        batch, in the order given."""
        received = self._receive(set(message_ids), visibility_timeout)
        return [received[message_id] for message_id in message_ids]


def lambda_record(message, arn, region):
    """One record of Lambda's SQS event for a message as ReceiveMessage gave it (with
    AttributeNames and MessageAttributeNames All)."""
    attributes = message.get("Attributes", {})
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: attributes[name] for name in RECORD_ATTRIBUTES if name in attributes},
        "messageAttributes": {
            name: lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": region})
    return record


def lambda_message_attribute(value):
    """A message attribute as Lambda's events spell it: camel-cased, binary as base64, with
    the (always empty in practice) list values."""
    attribute = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def message_ids(event):
    return [record["messageId"] for record in event["Records"]]


def failures(*ids):
    """The answer listing `ids`, in that order."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in ids]}
