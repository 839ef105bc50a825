#!/usr/bin/env bash
# Runs the whole test suite under ThreadSanitizer and/or AddressSanitizer, and fails if any
# process (the test runner, or a relay-init / relay-gateway it started) reported a finding.
#
#   scripts/sanitize.sh [thread] [address] [-- SWIFT-TEST-ARGS...]
#
# Default: thread, then address. Each sanitizer builds into its own scratch directory
# (.build-thread, .build-address), so the normal .build stays as it is. Reports go to
# files (TSAN_OPTIONS/ASAN_OPTIONS log_path) instead of stderr, so that the binaries the
# tests start are checked too, and a finding never changes an exit status a test asserts
# on; the script prints each report file and exits 1 if there is any.
#
# Leak detection is off for ASan: the suite's processes keep NIO's and Foundation's
# process-wide singletons until exit, which LeakSanitizer lists without being leaks. Under
# ASan the tests that bound RSS (BoundedMemoryTests, LoadTests) are skipped: its quarantine
# keeps freed memory resident by design, so their figures mean nothing there; they run in the
# normal suite and under TSan. ImageRootfsTests is skipped under both: it runs the release
# binaries in the images' root filesystems, which no sanitizer instruments.
#
# Instrumented programs are slower: the tests' time bounds are stretched through
# RELAY_INIT_TEST_TIME_SCALE (TestSupport's TestTime), 10 under TSan and 3 under ASan unless
# the variable is already set.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"

sanitizers=()
while (($#)); do
    case $1 in
        thread | address) sanitizers+=("$1"); shift ;;
        --) shift; break ;;
        -h | --help) sed -n '2,23s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "sanitize.sh: unknown argument '$1' (thread, address, or -- then swift test arguments)" >&2; exit 64 ;;
    esac
done
((${#sanitizers[@]})) || sanitizers=(thread address)

reports=$(mktemp -d "${TMPDIR:-/tmp}/relay-sanitize.XXXXXX")
# Some tests run relay-init as another user (nobody): it must be able to write its report too.
chmod 755 "$reports"
status=0
for sanitizer in "${sanitizers[@]}"; do
    scratch=.build-$sanitizer
    mkdir -p "$reports/$sanitizer"
    chmod 1777 "$reports/$sanitizer"
    echo "== $sanitizer: building into $scratch" >&2
    swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
    echo "== $sanitizer: testing (reports in $reports/$sanitizer)" >&2
    test_status=0
    case $sanitizer in
        thread)
            RELAY_INIT_TEST_TIME_SCALE=${RELAY_INIT_TEST_TIME_SCALE:-10} \
                TSAN_OPTIONS="log_path=$reports/$sanitizer/report halt_on_error=0 exitcode=0 second_deadlock_stack=1" \
                swift test --skip-build --sanitize=thread --scratch-path "$scratch" \
                --skip 'ImageRootfsTests' "$@" || test_status=$?
            ;;
        address)
            RELAY_INIT_TEST_TIME_SCALE=${RELAY_INIT_TEST_TIME_SCALE:-3} \
                ASAN_OPTIONS="log_path=$reports/$sanitizer/report halt_on_error=0 detect_leaks=0" \
                swift test --skip-build --sanitize=address --scratch-path "$scratch" \
                --skip 'BoundedMemoryTests|LoadTests|ImageRootfsTests' "$@" || test_status=$?
            ;;
    esac
    found=$(find "$reports/$sanitizer" -type f | sort)
    if [ -n "$found" ]; then
        echo "== $sanitizer: FINDINGS" >&2
        for file in $found; do
            echo "--- $file" >&2
            cat "$file" >&2
        done
        status=1
    else
        echo "== $sanitizer: no findings" >&2
    fi
    if ((test_status != 0)); then
        echo "== $sanitizer: swift test exited $test_status" >&2
        status=1
    fi
done
exit "$status"
