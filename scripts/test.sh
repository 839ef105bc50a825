#!/usr/bin/env bash
# Installs the test dependencies, builds, and runs every test (unit and end to end).
# RELAY_INIT_TEST_TIME_SCALE=N stretches the tests' time bounds; RELAY_INIT_TEST_SEED replays
# a seeded test's random inputs (the tests print the seed they used).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
