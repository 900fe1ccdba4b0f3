#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine:
#   1. install missing dependencies (tools/deps.sh),
#   2. build and run every test (unit, integration, ...) in a normal build,
#   3. build and run them again with AddressSanitizer + UndefinedBehaviorSanitizer,
#      then run the libFuzzer harnesses (tools/fuzz.sh, 60 s each),
#   3b. build the unit tests whose code runs on several threads (reports read on two,
#      the group-commit writer, the store's connection lending) with ThreadSanitizer and
#      run them,
#   4. run the browser end-to-end tests when present (tests/e2e).
# Exits non-zero if anything fails.  Build trees: build/test, build/asan and build/tsan.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

e2e=0
[ -f tests/e2e/run.sh ] && e2e=1
if [ "$e2e" = 1 ]; then tools/deps.sh --e2e; else tools/deps.sh; fi

jobs=$(nproc 2>/dev/null || echo 2)
status=0

run_suite() {
  local dir=$1; shift
  echo "== configure $dir ($*)"
  cmake -S . -B "$dir" -DCOACHBOX_WERROR=ON "$@" >/dev/null
  echo "== build $dir"
  cmake --build "$dir" -j"$jobs"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 1200) || status=1
}

run_suite build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DCOACHBOX_SANITIZE=ON

# ThreadSanitizer: the unit tests of code that runs on several threads.
echo "== configure build/tsan (ThreadSanitizer)"
cmake -S . -B build/tsan -DCOACHBOX_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DCOACHBOX_TSAN=ON >/dev/null
tsan_tests="test_reports_pairs test_writer test_store test_jarena"
echo "== build build/tsan ($tsan_tests)"
cmake --build build/tsan -j"$jobs" --target $tsan_tests
echo "== test build/tsan"
(cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --output-on-failure -j"$jobs" --timeout 1200 -R "unit\.($(echo $tsan_tests | tr ' ' '|'))\$") \
  || status=1

# libFuzzer harnesses (tests/fuzz) under ASan + UBSan: 60 s each, 5 harnesses.
echo "== fuzz (tools/fuzz.sh, ${COACHBOX_FUZZ_SECONDS:-60} s per harness)"
tools/fuzz.sh "${COACHBOX_FUZZ_SECONDS:-60}" || status=1

if [ "$e2e" = 1 ]; then
  echo "== browser end-to-end tests"
  COACHBOX_BIN="$root/build/test/coachbox" tests/e2e/run.sh || status=1
fi

if [ "$status" = 0 ]; then echo "tools/test.sh: all suites passed"; else echo "tools/test.sh: FAILED"; fi
exit "$status"
