#!/usr/bin/env bash
# The main job, locally: sets everything up, starts AWS's Runtime Interface Emulator with
# the runtime and the example app as a CLI function, invokes one artisan command the way
# `hover command run` does, and prints its decoded output; then does the same as an HTTP
# function, with an HTTP API (v2) event for `GET /`, and prints the response; then as a
# queue function, with an SQS event of two jobs (payloads made by the app's own Laravel,
# through the CLI function), and prints the partial-batch answer.
#
#   scripts/demo.sh                          # runs: hover:greet World --times=2
#   scripts/demo.sh 'hover:env APP_NAME'     # any artisan command line
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

COMMAND="${1:-hover:greet World --times=2}"
PORT="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
API_PORT="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
STORAGE="$(mktemp -d)"
LOG="$STORAGE/runtime.log"
RIE_PID=
trap 'kill $RIE_PID 2>/dev/null; wait $RIE_PID 2>/dev/null; rm -rf "$STORAGE"' EXIT

# Starts the RIE with the runtime as function $1 (storage and log under $STORAGE/$1).
start_function() {
    LAMBDA_TASK_ROOT="$HOVER_EXAMPLE_APP" AWS_LAMBDA_FUNCTION_NAME="$1" \
        HOVER_STORAGE_PATH="$STORAGE/$1" AWS_LAMBDA_FUNCTION_TIMEOUT=60 \
        "$HOVER_RIE" --runtime-interface-emulator-address "127.0.0.1:$PORT" \
        --runtime-api-address "127.0.0.1:$API_PORT" "$ROOT/docker/bootstrap" >"$LOG" 2>&1 &
    RIE_PID=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
}

start_function example-production-cli

echo "demo: invoking {\"command\": \"$COMMAND\"}"
EVENT="$(.venv/bin/python -c 'import json, sys; print(json.dumps({"command": sys.argv[1]}))' "$COMMAND")"
RESPONSE="$(curl -s -d "$EVENT" "http://127.0.0.1:$PORT/2015-03-31/functions/function/invocations")"
echo "demo: response $RESPONSE"
echo "demo: decoded output:"
.venv/bin/python -c '
import base64, json, sys
response = json.loads(sys.argv[1])
if "exit_code" not in response:
    sys.exit("the invocation failed: %s" % response)
sys.stdout.write(base64.b64decode(response["output"]).decode(errors="replace"))
print("(exit code %d)" % response["exit_code"])
' "$RESPONSE"

# Job payloads as Laravel puts them on SQS, made by the CLI function: a job that succeeds,
# and one that fails itself (`$this->fail()`), so that its failed() handler runs.
payload() {
    local event response
    event="$(.venv/bin/python -c 'import json, sys; print(json.dumps({"command": sys.argv[1]}))' "example:queue-payload $1")"
    response="$(curl -s -d "$event" "http://127.0.0.1:$PORT/2015-03-31/functions/function/invocations")"
    .venv/bin/python -c 'import base64, json, sys; print(base64.b64decode(json.loads(sys.argv[1])["output"]).decode().strip())' "$response"
}
SUCCEEDS="$(payload "Succeeds demo")"
FAILS="$(payload "Fails demo")"

kill $RIE_PID; wait $RIE_PID 2>/dev/null || true
start_function example-production-http
echo
echo "demo: invoking an HTTP API (v2) event for GET /"
EVENT='{"version":"2.0","rawPath":"/","rawQueryString":"","headers":{"host":"localhost"},"requestContext":{"http":{"method":"GET","sourceIp":"127.0.0.1"}},"isBase64Encoded":false}'
RESPONSE="$(curl -s -d "$EVENT" "http://127.0.0.1:$PORT/2015-03-31/functions/function/invocations")"
echo "demo: response $RESPONSE"
.venv/bin/python -c '
import json, sys
response = json.loads(sys.argv[1])
if response.get("statusCode") != 200:
    sys.exit("the invocation failed: %s" % response)
' "$RESPONSE"

kill $RIE_PID; wait $RIE_PID 2>/dev/null || true
start_function example-default-queue
echo
echo "demo: invoking an SQS event of two jobs (App\\Jobs\\Succeeds, App\\Jobs\\Fails) on the queue function"
EVENT="$(.venv/bin/python -c '
import json, sys
records = [
    {"messageId": "demo-%d" % number, "receiptHandle": "demo-receipt-%d" % number, "body": body,
     "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs",
     "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:default", "awsRegion": "us-east-1"}
    for number, body in enumerate(sys.argv[1:], 1)
]
print(json.dumps({"Records": records}))
' "$SUCCEEDS" "$FAILS")"
RESPONSE="$(curl -s -d "$EVENT" "http://127.0.0.1:$PORT/2015-03-31/functions/function/invocations")"
echo "demo: response $RESPONSE (both jobs deleted: one done, one failed the Laravel way, so none comes back)"
.venv/bin/python -c '
import json, sys
if json.loads(sys.argv[1]) != {"batchItemFailures": []}:
    sys.exit("the invocation failed: %s" % sys.argv[1])
' "$RESPONSE"
