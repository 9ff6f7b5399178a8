#!/usr/bin/env bash
# Sets up like demo.sh, runs the default test suites, and ends with the
# line CI reads: "N passed, N failed" (counting every GoogleTest case).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

suites=(--suite unit --suite integration)
meson test -C build "${suites[@]}" --print-errorlogs --num-processes 2 "$@"
status=$?

python3 - build/meson-logs/testlog.junit.xml "$status" <<'PY'
import sys, xml.etree.ElementTree as ET
path, status = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
try:
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
except (OSError, ET.ParseError) as e:
    print(f"cannot read {path}: {e}")
if status != 0 and failed == 0:
    failed = 1  # a crash or timeout that left no failed case behind
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or status else 0)
PY
