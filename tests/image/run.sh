#!/usr/bin/env bash
# The runtime image tested as Lambda runs it, in one command: builds the images
# (docker/build.sh: idempotent, seconds when nothing changed), then runs tests/image with
# pytest: the example application's image under AWS's RIE as user 993 on a read-only root,
# invoked as a CLI, an HTTP and a queue function (moto's SQS on the host). Prints the image
# sizes, the cold start and the invocation times measured. Needs scripts/setup.sh's .venv
# (pytest, moto) and .tools/aws-lambda-rie; run as root (it may start dockerd).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/pytest ] && [ -x .tools/aws-lambda-rie ] || scripts/setup.sh
echo "== building the images (docker/build.sh)"
docker/build.sh
echo "== the image under the Runtime Interface Emulator (tests/image)"
exec .venv/bin/pytest -v -p no:cacheprovider tests/image "$@"
