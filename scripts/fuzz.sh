#!/usr/bin/env bash
# Builds the libFuzzer targets of Tests/Fuzz (chunk decoder, CONNECT head parser) with
# -sanitize=fuzzer,address and runs each for SECONDS_PER_TARGET seconds (default 60), starting
# from a copy of the committed seed corpus (the committed one is never written to).
# Exits non-zero when a target crashes or breaks an invariant, after printing the reproducer.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [chunk|connect ...]
#
# Reproduce a finding:  SWIFT_BACKTRACE=enable=no .build-fuzz/release/ChunkDecoderFuzzer path/to/crash-…
# Full libFuzzer output: .build-fuzz/fuzz/<target>.log
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(chunk connect)
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET] [chunk|connect ...]" >&2; exit 2; }

command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:/opt/swift/bin:$PATH"
command -v swift >/dev/null || { echo "swift toolchain not found (expected on PATH or in /opt/swift)" >&2; exit 1; }

# Release: about ten times the executions per second of a debug build; overflow checks and
# preconditions stay on. lld, from the toolchain, links the sanitizer runtimes without gold's
# thousands of warnings.
scratch=.build-fuzz
echo "== building the fuzzers (release, -sanitize=fuzzer,address) in $scratch"
build_start=$SECONDS
swift build -c release --package-path Tests/Fuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
echo "== built in $((SECONDS - build_start)) s"

work="$scratch/fuzz"
# The Swift runtime's own crash backtracer trips AddressSanitizer (a false stack-buffer-underflow
# that buries the real report); libFuzzer's handler prints the stack instead.
export SWIFT_BACKTRACE=enable=no
status=0
for target in "${targets[@]}"; do
    case $target in
        chunk) binary=ChunkDecoderFuzzer max_len=4096 ;;
        connect) binary=ConnectHeadFuzzer max_len=9000 ;;  # room for SPEC §6.1's 8,192-byte limit
        *) echo "unknown target $target (chunk, connect)" >&2; exit 2 ;;
    esac
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target"
    log="$work/$target.log"
    rm -rf "$corpus" "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    cp Tests/Fuzz/corpus/"$target"/* "$corpus"/

    echo "== $binary for $seconds s (log: $log)"
    run_status=0
    "$scratch/release/$binary" "$corpus" \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
        -dict="Tests/Fuzz/$target.dict" -artifact_prefix="$artifacts/" \
        -print_final_stats=1 >"$log" 2>&1 || run_status=$?

    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec)' "$log" || true
    findings=("$artifacts"/*)
    if ((run_status != 0)) || [[ -e ${findings[0]} ]]; then
        status=1
        echo "!! $binary failed (exit $run_status); the end of its output:"
        grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$log" | tail -40
        for finding in "${findings[@]}"; do
            [[ -e $finding ]] || continue
            echo "!! reproducer: $finding  ($(stat -c %s "$finding") bytes, base64: $(base64 -w0 "$finding"))"
            echo "!! replay with: SWIFT_BACKTRACE=enable=no $scratch/release/$binary $finding"
        done
    fi
done
exit $status
