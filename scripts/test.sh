#!/usr/bin/env bash
# Runs every test, after scripts/setup.sh: formatting and lints (cargo fmt, clippy, PSR-12),
# the Rust unit tests, a short fuzzing run of each parser of outside input, PHPUnit against
# the loaded extension, and the end-to-end tests of the runtime under AWS's Runtime
# Interface Emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
export PHP_CONFIG=/usr/bin/php-config8.2 PHP=/usr/bin/php8.2

echo "== lints: cargo fmt, clippy, PSR-12"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The stubs file declares the extension's classes side by side, as stub files do.
phpcs --standard=PSR12 -q --ignore=php/stubs php tests/phpunit example-app/app bench

echo "== the extension's dependencies: no CLI parser, no SSO client (those are the tool's)"
if cargo tree -p hover -e normal --prefix none | grep -E '^(clap|aws-sdk-sso|aws-sdk-ssooidc) '; then
    echo "the hover extension depends on the crates above; they belong to crates/hover-secrets only" >&2
    exit 1
fi

echo "== Rust unit tests (hover-core, hover-secrets)"
cargo test -p hover-core -p hover-secrets --quiet

echo "== fuzzing every parser of outside input, 20 s each"
scripts/fuzz.sh 20

echo "== PHPUnit, with the extension loaded"
mkdir -p target/php-ini
echo "extension=$HOVER_EXTENSION" > target/php-ini/hover.ini
PHP_INI_SCAN_DIR=":$ROOT/target/php-ini" phpunit -c tests/phpunit/phpunit.xml

echo "== end to end, under the Runtime Interface Emulator"
.venv/bin/pytest -q tests/e2e
