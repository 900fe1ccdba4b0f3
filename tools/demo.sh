#!/usr/bin/env bash
# Install what is missing, build coachbox, seed demo data and run the demo:
# a field server on http://127.0.0.1:8080 with demo accounts and synthetic
# participants.  Ctrl-C stops it.  Demo data lives in ./demo-data (delete it
# to start afresh).  All data is synthetic; NHS numbers are 999 test numbers.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tools/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCOACHBOX_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)"
bin=build/release/coachbox
data=${COACHBOX_DEMO_DATA:-demo-data}
mkdir -p "$data"
build/release/coachbox-demo-seed "$data/field" 300
cat <<MSG

  coachbox demo: open http://127.0.0.1:8080 in a browser.
  Sign in as coach.bury (or coach.prestwich, coach.whitefield, coach.radcliffe,
  coach.ramsbottom, lead.bury, manager, admin) with password: livewell-demo

MSG
exec "$bin" serve --data "$data/field" --listen "${COACHBOX_DEMO_LISTEN:-127.0.0.1:8080}" --allow-test-nhs
