#!/usr/bin/env bash
# Installs the test dependencies, builds, and runs every test (unit and end to end).
# RELAY_INIT_TEST_TIME_SCALE=N stretches the tests' time bounds; RELAY_INIT_TEST_SEED replays
# a seeded test's random inputs (the tests print the seed they used).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
# The images' binaries, for scripts/image-rootfs.sh check (ImageRootfsTests), built as the
# Dockerfiles build them, in a scratch path of their own so the debug build stays untouched.
for product in relay-init relay-gateway; do
    swift build -c release --static-swift-stdlib --scratch-path .build-release --product "$product"
done
swift test --skip-build "$@"
