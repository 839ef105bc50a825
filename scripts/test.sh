#!/usr/bin/env bash
# Installs the test dependencies, builds, and runs every test (unit and end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
