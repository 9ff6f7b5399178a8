#!/usr/bin/env bash
# Sets up like demo.sh, runs the default test suites and the fuzz suite,
# and ends with the line CI reads: "N passed, N failed" (counting every
# GoogleTest case, and each fuzz target as one).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

# The JavaScript SDK for integration-gateway and playwright-core for
# integration-dashboard, as the lockfile pins them:
# installed again only when node_modules is missing or the lock changed.
js=tests/clients/js
lock_sum=$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$js/node_modules/.troupe-lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
  if (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "$lock_sum" >"$js/node_modules/.troupe-lock-sha256"
  else
    echo "test.sh: npm ci in $js failed; integration-gateway's JavaScript case and integration-dashboard's Chromium case will fail"
  fi
fi

suites=(--suite unit --suite integration)
# Each GoogleTest run writes its report as build/<test name>.xml, read into
# the JUnit log below; one killed at its timeout writes none, and a report
# left by an earlier run must not stand in for it.
rm -f build/*.xml
meson test -C build "${suites[@]}" --print-errorlogs --num-processes 2 "$@"
status=$?

# The fuzz suite: its own clang build (build-fuzz/), each libFuzzer target
# run for a bounded time on its seeds, one case each (README, "Fuzzing").
rm -f build-fuzz/meson-logs/testlog.junit.xml build-fuzz/meson-logs/testlog.json
if bash scripts/fuzz.sh build; then
  meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 2
  fuzz_status=$?
else
  echo "test.sh: the fuzz build failed"
  fuzz_status=1
fi

python3 - build/meson-logs/testlog.junit.xml "$status" build-fuzz/meson-logs/testlog.junit.xml "$fuzz_status" <<'PY'
import json, os, sys, xml.etree.ElementTree as ET


def count(path, status):
    """Passed, failed and skipped cases in one build's JUnit log."""
    passed = failed = skipped = 0
    # A test that left no GoogleTest report (killed at its timeout, crashed)
    # is one case in the JUnit log, named as the test log names the test
    # ("troupe:integration / integration-dlq"); the JUnit log marks a
    # timeout with nothing, so read its result from the test log.
    broken = set()
    try:
        with open(os.path.join(os.path.dirname(path), "testlog.json")) as log:
            for line in log:
                t = json.loads(line)
                if t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL"):
                    broken.add(t.get("name"))
    except (OSError, ValueError) as e:
        print(f"cannot read the test log: {e}")
    try:
        root = ET.parse(path).getroot()
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.get("name") in broken:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    except (OSError, ET.ParseError) as e:
        print(f"cannot read {path}: {e}")
    if status != 0 and failed == 0:
        failed = 1  # a crash, a timeout or a failed build that left no failed case behind
    return passed, failed, skipped


# Pairs of arguments: a build's JUnit log and the exit status of its run.
passed = failed = skipped = 0
statuses = [int(s) for s in sys.argv[2::2]]
for path, status in zip(sys.argv[1::2], statuses):
    p, f, s = count(path, status)
    passed, failed, skipped = passed + p, failed + f, skipped + s
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or any(statuses) else 0)
PY
