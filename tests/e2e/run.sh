#!/usr/bin/env bash
# Browser end-to-end tests of the coachbox web UI.
#
#   COACHBOX_BIN=build/test/coachbox tests/e2e/run.sh [TEST FILE...]
#
# COACHBOX_BIN       a built coachbox (required)
# COACHBOX_SEED_BIN  the demo seeder (default: coachbox-demo-seed next to COACHBOX_BIN)
# CHROMIUM           the browser (default: /usr/bin/chromium; tools/deps.sh --e2e installs it)
#
# Installs playwright-core and axe-core (npm ci, from the committed lock) when
# missing, seeds fresh demo data, starts a server on a free loopback port, runs
# the *.test.mjs files with Node's test runner (one at a time: one test stops
# and restarts the server), stops the server and exits non-zero on failure.
# Screenshots go to tests/e2e/artifacts/ (not committed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ -z "${COACHBOX_BIN:-}" ]; then
  echo "run.sh: set COACHBOX_BIN to a built coachbox binary" >&2
  exit 2
fi
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
bin=$(abspath "$COACHBOX_BIN")
seed=$(abspath "${COACHBOX_SEED_BIN:-$(dirname "$bin")/coachbox-demo-seed}")
chromium=${CHROMIUM:-/usr/bin/chromium}
# Test files named on the command line, relative to where run.sh was started.
args=()
for a in "$@"; do
  if [ -f "$a" ]; then args+=("$(abspath "$a")"); else args+=("$here/$a"); fi
done
cd "$here"
for f in "$bin" "$seed"; do
  if [ ! -x "$f" ]; then
    echo "run.sh: $f is missing or not executable (build the coachbox and coachbox-demo-seed targets)" >&2
    exit 2
  fi
done
if [ ! -x "$chromium" ]; then
  echo "run.sh: no browser at $chromium (tools/deps.sh --e2e installs chromium, or set CHROMIUM)" >&2
  exit 2
fi
for tool in node npm sqlite3 curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool is needed" >&2; exit 2; }
done

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "run.sh: installing test dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --ignore-scripts
  touch node_modules/.package-lock.json
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/coachbox-e2e.XXXXXX")
pidfile="$work/server.pid"
stop_server() {
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
data="$work/data"
echo "run.sh: seeding demo data" >&2
"$seed" "$data" 150 >/dev/null

# The server command line, shared with the tests (which stop and restart it).
export E2E_BIN="$bin"
export E2E_SEED="$seed"
export E2E_DATA="$data"
export E2E_PORT="$port"
export E2E_PIDFILE="$pidfile"
export E2E_LOG="$work/server.log"
export E2E_BASE="http://127.0.0.1:$port"
export E2E_CHROMIUM="$chromium"
export E2E_ARTIFACTS="$here/artifacts"
mkdir -p "$E2E_ARTIFACTS"

"$bin" serve --data "$data" --listen "127.0.0.1:$port" --allow-test-nhs >>"$E2E_LOG" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 100); do
  curl -sf "$E2E_BASE/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -sf "$E2E_BASE/healthz" >/dev/null; then
  echo "run.sh: the server did not start:" >&2
  cat "$E2E_LOG" >&2
  exit 1
fi

if [ "${#args[@]}" -gt 0 ]; then files=("${args[@]}"); else files=(*.test.mjs); fi
status=0
node --test --test-concurrency=1 --test-timeout=240000 "${files[@]}" || status=$?
if [ "$status" != 0 ]; then
  echo "run.sh: FAILED (server log: last lines follow)" >&2
  tail -n 30 "$E2E_LOG" >&2 || true
fi
exit "$status"
