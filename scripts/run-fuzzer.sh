#!/bin/sh
# Runs one libFuzzer driver for a bounded time on a copy of its seed corpora.
# Usage: run-fuzzer.sh BINARY SECONDS SEED_DIR...
# FUZZ_SEED (CTest sets 1): libFuzzer's random seed, so a `make test` run
# explores the same inputs each time; unset (`make fuzz`), a new one each run.
set -eu
bin=$1
secs=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
for seeds in "$@"; do
    if [ -d "$seeds" ]; then cp -r "$seeds"/. "$work/corpus/"; fi
done
cd "$work"
seed=${FUZZ_SEED:+-seed=$FUZZ_SEED}
# shellcheck disable=SC2086
ASAN_OPTIONS=detect_leaks=1 "$bin" $seed -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=1048576 -print_final_stats=1 "$work/corpus" 2>"$work/log" ||
    { tail -60 "$work/log"; exit 1; }
grep -E "stat::number_of_executed_units|Done" "$work/log" | tail -2
