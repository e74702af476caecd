# Sourced by the scripts: where the runtime's pieces are in this checkout.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HOVER_EXTENSION="$ROOT/target/release/libhover.so"
export HOVER_BOOTSTRAP="$ROOT/php/bootstrap.php"
export HOVER_PHP=/usr/bin/php8.2
export HOVER_RIE="$ROOT/.tools/aws-lambda-rie"
export HOVER_EXAMPLE_APP="$ROOT/example-app"
