"""The trivial Lambda runtime for bench/http_latency.py's baseline (b): it answers every
invocation at once with a fixed response, so that a round trip through the RIE to it is
the floor any runtime's latency stands on."""

import http.client
import os

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
connection = http.client.HTTPConnection(api)
response = b'{"statusCode":200,"headers":{"content-type":"text/html; charset=UTF-8"},"body":"Hello from Hover","isBase64Encoded":false}'
while True:
    connection.request("GET", "/2018-06-01/runtime/invocation/next")
    invocation = connection.getresponse()
    invocation.read()
    request_id = invocation.headers["Lambda-Runtime-Aws-Request-Id"]
    connection.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body=response)
    connection.getresponse().read()
