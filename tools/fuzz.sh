#!/usr/bin/env bash
# Build the libFuzzer harnesses (tests/fuzz/) with clang, ASan and UBSan, and run
# each for SECONDS (default 60).  Exits non-zero if any harness crashes, leaks,
# hits undefined behaviour or breaks one of its invariants.
#
#   tools/fuzz.sh [SECONDS] [HARNESS...]
#   tools/fuzz.sh --coverage [HARNESS...]   replay the corpora in an llvm-cov build and
#                                            print line coverage per source file
#
# Build tree: build/fuzz (override with FUZZ_BUILD_DIR).  Each harness starts
# from its seed corpus (tests/fuzz/corpus/NAME, which also replays every past
# finding) plus what earlier runs found (build/fuzz/corpus/NAME, kept between
# runs), with a dictionary of the server's field names, codes and paths
# (tests/fuzz/dict/NAME.dict).  A failing input is saved as
# build/fuzz/artifacts/NAME-crash-... and printed; replay it with
# `build/fuzz/NAME FILE`.  Longer runs: tools/fuzz.sh 3600.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

coverage=0
secs=60
if [ "${1:-}" = "--coverage" ]; then
  coverage=1
  shift
elif [ $# -gt 0 ]; then
  secs=$1
  shift
fi
case "$secs" in '' | *[!0-9]*) echo "usage: tools/fuzz.sh [SECONDS] [HARNESS...]" >&2; exit 2 ;; esac
all=(fuzz_record fuzz_measures fuzz_sync fuzz_http fuzz_jload)
harnesses=("$@")
[ "${#harnesses[@]}" -gt 0 ] || harnesses=("${all[@]}")
build=${FUZZ_BUILD_DIR:-build/fuzz}

# clang and its sanitizer / libFuzzer runtimes (Debian: clang, libclang-rt-14-dev).
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  need+=(libclang-rt-14-dev)
fi
if [ "${#need[@]}" -gt 0 ]; then
  echo "fuzz.sh: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [ "$coverage" = 1 ]; then
  cov=${build}-cov
  echo "== configure and build $cov (coverage)"
  cmake -S tests/fuzz -B "$cov" -DCMAKE_C_COMPILER=clang -DCB_FUZZ_COVERAGE=ON >/dev/null
  cmake --build "$cov" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
  rm -f "$cov"/*.profraw
  objs=()
  for h in "${harnesses[@]}"; do
    mkdir -p "$build/corpus/$h"
    fztmp=$(mktemp -d /dev/shm/cbfuzz-run.XXXXXX 2>/dev/null || mktemp -d)
    TMPDIR=$fztmp LLVM_PROFILE_FILE="$cov/$h.profraw" ASAN_OPTIONS=detect_leaks=0 \
      "$cov/$h" -runs=0 "$build/corpus/$h" "tests/fuzz/corpus/$h" >/dev/null 2>&1 || true
    rm -rf "$fztmp"
    objs+=(-object "$cov/$h")
  done
  llvm-profdata-14 merge -sparse "$cov"/*.profraw -o "$cov/all.profdata"
  llvm-cov-14 report "${objs[@]:1}" -instr-profile="$cov/all.profdata" \
    -ignore-filename-regex='tests/fuzz/|/usr/' | sed "s#$root/##"
  exit 0
fi

echo "== configure and build $build (clang, -fsanitize=fuzzer,address,undefined)"
cmake -S tests/fuzz -B "$build" -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The harnesses that open a store put it under /dev/shm (cheap fsync) and remove it.
mkdir -p "$build/artifacts" "$build/logs"
status=0
summary=()
for h in "${harnesses[@]}"; do
  seeds=tests/fuzz/corpus/$h
  work=$build/corpus/$h
  log=$build/logs/$h.log
  if [ ! -x "$build/$h" ] || [ ! -d "$seeds" ]; then
    echo "fuzz.sh: unknown harness $h" >&2
    status=1
    continue
  fi
  mkdir -p "$work"
  dict=()
  [ -f "tests/fuzz/dict/$h.dict" ] && dict=(-dict="tests/fuzz/dict/$h.dict")
  echo "== $h: ${secs}s"
  # The stores a harness opens go to a directory of this run only, removed afterwards
  # (libFuzzer does not always run atexit handlers).
  fztmp=$(mktemp -d /dev/shm/cbfuzz-run.XXXXXX 2>/dev/null || mktemp -d)
  rc=0
  TMPDIR=$fztmp "$build/$h" -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$h-" "${dict[@]}" "$work" "$seeds" \
    >"$log" 2>&1 || rc=$?
  rm -rf "$fztmp"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
  cov=$( (grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" || true) | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz.sh: $h FAILED (exit $rc); the end of $log:"
    grep -E 'fuzz invariant|ERROR|SUMMARY|runtime error|Test unit written|^ *#[0-9]+ 0x' "$log" | head -40 || true
    summary+=("$h: FAILED after ${execs:-?} execs (${cov:-no coverage}); log $log")
  else
    summary+=("$h: ok, ${execs:-?} execs (${rate:-?}/s), ${cov:-?}, corpus $corpus, 0 crashes")
  fi
done
echo "== fuzz summary (${secs}s each)"
printf '  %s\n' "${summary[@]}"
if [ "$status" = 0 ]; then echo "tools/fuzz.sh: all harnesses passed"; else echo "tools/fuzz.sh: FAILED"; fi
exit "$status"
