#!/usr/bin/env bash
# Install what is missing, build coachbox, seed demo data and run the demo:
#   central record store   http://127.0.0.1:8090  (managers; the sync hub)
#   field site "Bury town library"  http://127.0.0.1:8080  (team bury-town)
#   field site "Prestwich hub"      http://127.0.0.1:8081  (team prestwich)
# The sites enroll with central and sync in the background (2 s after a change,
# every minute otherwise).  Ctrl-C stops all three.  Data lives in ./demo-data
# (delete it to start afresh).  All data is synthetic; NHS numbers are 999 test
# numbers.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tools/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCOACHBOX_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)"
bin=$root/build/release/coachbox
data=${COACHBOX_DEMO_DATA:-$root/demo-data}
mkdir -p "$data"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_up() { # URL
  for _ in $(seq 1 100); do
    curl -fsS "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "demo.sh: $1 did not start" >&2
  return 1
}

if [ ! -f "$data/central/coachbox.db" ]; then
  build/release/coachbox-demo-seed --central "$data/central" 300
fi
"$bin" central --data "$data/central" --listen 127.0.0.1:8090 --allow-test-nhs &
pids+=($!)
wait_up http://127.0.0.1:8090

enroll() { # DIR NAME TEAM
  if [ ! -f "$1/coachbox.db" ] || ! sqlite3 "$1/coachbox.db" \
      "SELECT 1 FROM settings WHERE key='site_id'" 2>/dev/null | grep -q 1; then
    code=$("$bin" site add --data "$data/central" --name "$2" --team "$3" \
      | grep -o '[A-Z0-9]\{4\}-[A-Z0-9]\{4\}-[A-Z0-9]\{4\}')
    "$bin" enroll --data "$1" --central http://127.0.0.1:8090 --code "$code"
  fi
  echo "== first sync of $2"
  "$bin" sync --data "$1"
}
# Central must not be asked to add a site while it holds the database busy:
# the CLI and the server share it safely (SQLite WAL).
enroll "$data/bury" "Bury town library" bury-town
enroll "$data/prestwich" "Prestwich hub" prestwich

"$bin" serve --data "$data/bury" --listen 127.0.0.1:8080 --allow-test-nhs &
pids+=($!)
"$bin" serve --data "$data/prestwich" --listen 127.0.0.1:8081 --allow-test-nhs &
pids+=($!)
wait_up http://127.0.0.1:8080
wait_up http://127.0.0.1:8081

cat <<MSG

  coachbox demo is running (password for every account: livewell-demo)

  Bury town library (field)  http://127.0.0.1:8080   sign in as coach.bury or lead.bury
  Prestwich hub (field)      http://127.0.0.1:8081   sign in as coach.prestwich
  Central record store       http://127.0.0.1:8090   sign in as manager

  Record something at a site: it reaches central within seconds (GET /api/sync/status
  on the site shows it). Other accounts: coach.whitefield, coach.radcliffe,
  coach.ramsbottom, admin.  Ctrl-C stops the demo.

MSG
wait
