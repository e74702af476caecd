#!/usr/bin/env bash
# The main job, locally: sets everything up, starts AWS's Runtime Interface Emulator with
# the runtime and the example app as a CLI function, invokes one artisan command the way
# `hover command run` does, and prints its decoded output; then does the same as an HTTP
# function, with an HTTP API (v2) event for `GET /`, and prints the response.
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
