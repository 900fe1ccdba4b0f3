#!/usr/bin/env bash
# Coach UI benchmark (tools/ui_bench.mjs): Today time-to-interactive cold and
# warm, the actions and time of a 15-person register, and the bundle size.
#   tools/ui_bench.sh [--participants N] [--runs N]
# COACHBOX_BIN  a built coachbox (default build/test/coachbox); the demo seeder
#               is taken from beside it.  CHROMIUM: the browser (/usr/bin/chromium).
# Installs playwright-core in tests/e2e (npm ci, from its lock) when missing.
# Starts one server on a free 127.0.0.1 port and stops it when done.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${COACHBOX_BIN:-$root/build/test/coachbox}
if [ ! -x "$bin" ]; then
  echo "ui_bench.sh: no coachbox at $bin (build it, or set COACHBOX_BIN)" >&2
  exit 2
fi
e2e=$root/tests/e2e
if [ ! -f "$e2e/node_modules/.package-lock.json" ] || [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; then
  (cd "$e2e" && npm ci --no-audit --no-fund --ignore-scripts && touch node_modules/.package-lock.json)
fi
exec node "$root/tools/ui_bench.mjs" --bin "$bin" "$@"
