#!/usr/bin/env bash
# Builds smartinf-fuzz and runs each fuzz target for FUZZ_SECONDS (default 600), one after the
# other, then prints the executions per target. `make fuzz` runs this.
#
#   fuzz/run.sh [TARGET...]          (default: every target, see `smartinf-fuzz list`)
#
# Environment: FUZZ_SECONDS (per target), FUZZ_ENGINE (libfuzzer or mutation; default libfuzzer
# when the toolchain ships libFuzzer's runtime and lld, else mutation), FUZZ_OUT (default
# out/fuzz), SWIFT (default swift).
#
# Exit status 1 when a target crashed or a check failed; the input is then in
# $FUZZ_OUT/TARGET/ (libFuzzer: crash-*, timeout-*, oom-*; mutation engine: crash-input,
# hang-input) and the log in $FUZZ_OUT/TARGET.log. Reproduce with
#   smartinf-fuzz replay TARGET FILE
set -u -o pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-600}
OUT=${FUZZ_OUT:-out/fuzz}
NATIVE=(-Xswiftc -target-cpu -Xswiftc native -Xcc -march=native)

swiftc_path=$(command -v swiftc || true)
toolchain=$(dirname "$(readlink -f "${swiftc_path:-/nonexistent}")")/..
runtime=$(ls "$toolchain"/lib/clang/*/lib/linux/libclang_rt.fuzzer-"$(uname -m)".a 2>/dev/null | head -1)
if [[ -z "${FUZZ_ENGINE:-}" ]]; then
    if [[ -n "$runtime" && -x "$toolchain/bin/ld.lld" ]]; then FUZZ_ENGINE=libfuzzer; else FUZZ_ENGINE=mutation; fi
fi

case "$FUZZ_ENGINE" in
libfuzzer)
    SCRATCH=.build-libfuzzer
    echo "fuzz: building smartinf-fuzz with libFuzzer and AddressSanitizer ($SCRATCH)"
    SMARTINF_FUZZ=1 "$SWIFT" build -c release --scratch-path "$SCRATCH" --product smartinf-fuzz "${NATIVE[@]}" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld 2>&1 | grep -v "Cannot export local symbol" || exit 2
    ;;
mutation)
    SCRATCH=.build-fuzz-mutation
    echo "fuzz: libFuzzer is not available here; building smartinf-fuzz with the mutation engine ($SCRATCH)"
    SMARTINF_FUZZ=1 "$SWIFT" build -c release --scratch-path "$SCRATCH" --product smartinf-fuzz "${NATIVE[@]}" || exit 2
    ;;
*)
    echo "fuzz: FUZZ_ENGINE=$FUZZ_ENGINE: expected libfuzzer or mutation" >&2
    exit 2
    ;;
esac
BIN="$SCRATCH/release/smartinf-fuzz"

if [[ $# -gt 0 ]]; then targets=("$@"); else mapfile -t targets < <("$BIN" list); fi
mkdir -p "$OUT"
echo "fuzz: ${targets[*]}, $SECONDS_PER_TARGET s each, engine $FUZZ_ENGINE, logs and inputs in $OUT/"

failed=0
report=()
for target in "${targets[@]}"; do
    log="$OUT/$target.log"
    # The working corpus is kept between runs (each run goes on from the last); old findings are not.
    mkdir -p "$OUT/$target"
    rm -f "$OUT/$target"/crash-* "$OUT/$target"/timeout-* "$OUT/$target"/oom-* "$OUT/$target"/hang-*
    echo "fuzz: $target ..."
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
        "$BIN" run "$target" --engine "$FUZZ_ENGINE" --seconds "$SECONDS_PER_TARGET" --out "$OUT/$target" >"$log" 2>&1
    status=$?
    summary=$(grep -a "^smartinf-fuzz: $target: .* execs in" "$log" | tail -1)
    if [[ $status -eq 0 && -n "$summary" ]]; then
        report+=("${summary#smartinf-fuzz: }")
    else
        failed=1
        # libFuzzer prints no summary after a crash: its last status line has the count.
        execs=$(grep -ao "^#[0-9]*" "$log" | tail -1 | tr -d '#')
        inputs=$(ls "$OUT/$target"/crash-* "$OUT/$target"/timeout-* "$OUT/$target"/oom-* "$OUT/$target"/hang-* 2>/dev/null | tr '\n' ' ')
        report+=("$target: FAILED (exit status $status) after ${execs:-the first} execs; input: ${inputs:-none saved}; log: $log")
        grep -a -m3 -E "Fatal error|check failed|ERROR: |SUMMARY|CRASH" "$log" | sed 's/^/    /'
    fi
done

echo
echo "fuzz results ($SECONDS_PER_TARGET s per target):"
printf '  %s\n' "${report[@]}"
exit $failed
