#!/usr/bin/env bash
# Installs what the runtime, the demo and the tests need on Debian 12, then builds the
# extension. Safe to run again: it only does what is missing, then an incremental build.
#
#   - Debian packages: PHP 8.2 (cli, fpm, dev headers), Laravel 8.83, PHPUnit, clang
#   - .venv/: Python tools for the tests (pytest, moto)
#   - .tools/aws-lambda-rie: AWS's Lambda Runtime Interface Emulator, from the aws-sam-cli wheel
#   - cargo-fuzz, for scripts/fuzz.sh
#   - target/release/libhover.so: the extension; target/release/hover-secrets: the secrets tool
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    php8.2-dev php8.2-cli php8.2-fpm php-laravel-framework phpunit php-codesniffer
    php8.2-sqlite3 php-vlucas-phpdotenv libclang-dev clang libfcgi-bin unzip curl openssl python3-venv
    chromium chromium-driver
)
SAM_CLI_VERSION=1.170.0
CARGO_FUZZ_VERSION=0.13.2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/pytest ] || ! cmp -s tests/requirements.txt .venv/requirements.txt; then
    echo "setup: creating the Python venv (.venv)"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
    cp tests/requirements.txt .venv/requirements.txt
fi

if [ ! -x .tools/aws-lambda-rie ]; then
    echo "setup: extracting the Runtime Interface Emulator from aws-sam-cli $SAM_CLI_VERSION"
    mkdir -p .tools/wheel
    .venv/bin/pip download -q --disable-pip-version-check --no-deps -d .tools/wheel "aws-sam-cli==$SAM_CLI_VERSION"
    .venv/bin/python - <<'PY'
import glob, shutil, zipfile
wheel = glob.glob(".tools/wheel/aws_sam_cli-*.whl")[0]
with zipfile.ZipFile(wheel) as archive, archive.open("samcli/local/rapid/aws-lambda-rie-x86_64") as rie, open(".tools/aws-lambda-rie", "wb") as out:
    shutil.copyfileobj(rie, out)
PY
    chmod +x .tools/aws-lambda-rie
    rm -rf .tools/wheel
fi

# scripts/fuzz.sh runs cargo-fuzz on the stable toolchain (see there).
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "setup: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

echo "setup: building the extension and the secrets tool"
PHP_CONFIG=/usr/bin/php-config8.2 PHP=/usr/bin/php8.2 cargo build --release --quiet
# The tool on its own: built together, Cargo would unify its extra aws-config features
# (SSO, credential_process) into the extension's dependencies.
cargo build --release -p hover-secrets --quiet
