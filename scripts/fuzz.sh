#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of fuzz/ (README, "Fuzzing").
#
#   scripts/fuzz.sh build                            configure and build build-fuzz/ (clang)
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags]  a long run of one target
#   scripts/fuzz.sh all SECONDS                       each target in turn, SECONDS each
#   scripts/fuzz.sh --ci -C BUILD TARGET SECONDS      the meson test of suite 'fuzz'
#
# A long run builds first, runs at nice 10 on one core and keeps what it
# finds under build-fuzz/fuzz-runs/TARGET/: new inputs in corpus/ (the next
# run starts from them too), crashes, leaks, timeouts and out-of-memory
# inputs beside it. The CI mode builds nothing, starts from the seeds alone
# in a scratch directory it removes, and leaves only what it found wrong.
# Either way the committed seeds in fuzz/corpus/TARGET are only read.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-fuzz
ci=0
nice=(nice -n 10)
while (($#)); do
  case $1 in
    --ci) ci=1; nice=(); shift ;;
    -C) build=$2; shift 2 ;;
    *) break ;;
  esac
done
targets=(envelope control_request control_reply stream config pattern matcher json)

# The longest input each target is given: what its seeds need, and room to
# grow; a config is text, a few kilobytes.
max_len() {
  case $1 in
    config) echo 8192 ;;
    envelope | control_request | stream | json) echo 4096 ;;
    *) echo 2048 ;;
  esac
}

build_fuzz() {
  if [ ! -f "$build/build.ninja" ]; then
    CXX=clang++ meson setup "$build" -Dfuzz=true --buildtype=debugoptimized >/dev/null || return 1
  fi
  # A failed build fails, even with the targets of an earlier one in place.
  ninja -C "$build" -j2 | { grep -v '^\[' || true; }
  [ "${PIPESTATUS[0]}" -eq 0 ]
}

# run TARGET SECONDS WORK_CORPUS [flags]: libFuzzer on WORK_CORPUS (where it
# writes) and the seeds (read only); its exit status.
run() {
  local target=$1 seconds=$2 work=$3
  shift 3
  local exe=$build/fuzz/fuzz_$target
  [ -x "$exe" ] || { echo "fuzz.sh: no target '$target' in $build/fuzz" >&2; return 2; }
  mkdir -p "$work" "$build/fuzz-runs/$target"
  "${nice[@]}" "$exe" -max_total_time="$seconds" -max_len="$(max_len "$target")" -rss_limit_mb=2048 -timeout=10 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-runs/$target/" "$@" \
    "$work" "$root/fuzz/corpus/$target"
}

if ((ci)); then
  (($# == 2)) || { echo "usage: fuzz.sh --ci -C BUILD TARGET SECONDS" >&2; exit 2; }
  mkdir -p "$build/fuzz-runs"
  scratch=$(mktemp -d "$build/fuzz-runs/$1.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  run "$1" "$2" "$scratch"
  # Any failure is 1: libFuzzer's own codes include 77, which meson takes
  # for a skipped test.
  exit $(($? == 0 ? 0 : 1))
fi

case ${1:-} in
  build)
    build_fuzz
    exit $?
    ;;
  "" | -h | --help)
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
(($# >= 2)) || { echo "usage: fuzz.sh TARGET|all SECONDS [libFuzzer flags]" >&2; exit 2; }
build_fuzz || exit 1
which=$1 seconds=$2
shift 2
[ "$which" = all ] && list=("${targets[@]}") || list=("$which")
status=0
for t in "${list[@]}"; do
  echo "== $t: $seconds s"
  run "$t" "$seconds" "$build/fuzz-runs/$t/corpus" "$@" || status=1
  found=$(find "$build/fuzz-runs/$t" -maxdepth 1 -type f | sort)
  echo "== $t: ${found:-nothing found}"
done
exit $status
