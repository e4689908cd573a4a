#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets and runs each for a bounded time.
#   FUZZ_SECONDS   per target (default 60)     FUZZ_TARGETS  subset (default all)
#   FUZZ_RSS_MB    memory cap (default 2048)    FUZZ_TIMEOUT  per-input seconds (default 10)
# Fails (exit 1) on any crash, sanitizer report, leak, timeout or out-of-memory;
# reproducers are kept in fuzz/artifacts/<target>/. The committed seed corpus
# (fuzz/corpus/<target>) is read-only; new inputs go to .build-fuzz/corpus.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
RSS_MB=${FUZZ_RSS_MB:-2048}
PER_INPUT=${FUZZ_TIMEOUT:-10}
TARGETS=${FUZZ_TARGETS:-"garbage process exit_record exit_status"}
OUT=${FUZZ_OUT:-.build-fuzz/fuzzers}
export FUZZ_OUT=$OUT

# Largest input per target: above the reader's documented size limit the
# file is refused before parsing (garbage.json 64 MiB, process.json 4 MiB,
# exit.json 4 KiB, the FIFO status reads at most 4 bytes); the fuzzers keep
# inputs smaller so that each run explores structure, not size.
declare -A MAXLEN=([garbage]=65536 [process]=65536 [exit_record]=4096 [exit_status]=64)

bash fuzz/build.sh all >/dev/null || { echo "fuzz: build failed" >&2; exit 1; }

failed=()
for t in $TARGETS; do
    work=.build-fuzz/corpus/$t
    art=fuzz/artifacts/$t
    mkdir -p "$work" "$art"
    echo "fuzz: $t for ${SECONDS_EACH}s (max_len ${MAXLEN[$t]}, rss ${RSS_MB} MB)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    "$OUT/fuzz_$t" "$work" "fuzz/corpus/$t" \
        -max_total_time="$SECONDS_EACH" -max_len="${MAXLEN[$t]}" -rss_limit_mb="$RSS_MB" \
        -malloc_limit_mb="$RSS_MB" -timeout="$PER_INPUT" -artifact_prefix="$art/" \
        -print_final_stats=1 >".build-fuzz/$t.log" 2>&1
    rc=$?
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^stat::new_units_added' ".build-fuzz/$t.log" | tr '\n' ' '
    echo
    if [ $rc -ne 0 ]; then
        echo "fuzz: $t FAILED (exit $rc); log .build-fuzz/$t.log, reproducer in $art/" >&2
        tail -40 ".build-fuzz/$t.log" >&2
        failed+=("$t")
    else
        rmdir "$art" 2>/dev/null || true
    fi
done
rmdir fuzz/artifacts 2>/dev/null || true
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: failures in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: all targets ran clean"
