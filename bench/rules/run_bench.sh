#!/bin/sh
# Runs the rules bench on its data set (bench/rules/data), on one core.
# usage: run_bench.sh <rules_bench binary> <data dir> [rules_bench options...]
# The events are gzip'd; decompress them into the bench's stdin rather than
# linking zlib into the project for one benchmark.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 <rules_bench binary> <data dir> [options]" >&2
  exit 2
fi
bench=$1
dir=$2
shift 2
for f in bench_events.jsonl.gz bench_rules.jsonl event_ruler_bench.txt; do
  if [ ! -r "$dir/$f" ]; then
    echo "$0: missing $dir/$f" >&2
    exit 2
  fi
done
# Pin the matcher to one core when taskset is there (gzip runs elsewhere).
pin=""
if command -v taskset >/dev/null 2>&1; then
  pin="taskset -c 1"
fi
gzip -dc "$dir/bench_events.jsonl.gz" |
  $pin "$bench" --rules "$dir/bench_rules.jsonl" --expected "$dir/event_ruler_bench.txt" --events - "$@"
