#!/usr/bin/env bash
# Build the web UI and write the embedded-asset C source.
#   tools/build-web.sh OUTFILE        (OUTFILE: e.g. build/generated/assets_data.c)
# Works from any directory.  Installs web/node_modules from the committed
# package-lock.json (npm ci) only when it is missing or older than the lock.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUTFILE" >&2
  exit 2
fi

out=$1
case "$out" in
  /*) ;;
  *) out="$PWD/$out" ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
web="$root/web"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "build-web.sh: node and npm (Node.js 20 or later) are needed to build the web UI" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "build-web.sh: Node.js 20 or later is needed (found $(node --version))" >&2
  exit 1
fi

cd "$web"

# Serialise concurrent builds (e.g. two build trees) sharing web/node_modules.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$web/.build-lock"
  flock 9
fi

# npm ci rewrites node_modules/.package-lock.json, so it is the install stamp.
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
   [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "build-web.sh: installing web dependencies (npm ci)" >&2
  # --ignore-scripts: no dependency needs an install script (esbuild finds its
  # platform binary through its optional dependency), and newer npm skips them anyway.
  npm ci --no-audit --no-fund --include=dev --ignore-scripts
  touch node_modules/.package-lock.json
fi

node build.mjs --out "$out"
