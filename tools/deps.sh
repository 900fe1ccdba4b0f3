#!/usr/bin/env bash
# Install whatever coachbox needs to build, test and run that is missing on a
# Debian (12) machine.  Safe to run any number of times: it installs only the
# packages that are absent, and runs `apt-get update` only when it must.
#   tools/deps.sh            build + test dependencies
#   tools/deps.sh --e2e      also the browser-test dependencies (chromium)
set -euo pipefail

pkgs=(build-essential cmake pkg-config git ca-certificates curl
      libcivetweb-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev libmbedtls-dev
      libcmocka-dev libjansson-dev libyajl-dev sqlite3 openssl clang libclang-rt-14-dev)
if [ "${1:-}" = "--e2e" ]; then
  pkgs+=(chromium fonts-dejavu-core)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs)
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps.sh: installing: ${missing[*]}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's own nodejs package ships without npm; add it when absent.
if ! command -v npm >/dev/null 2>&1; then
  echo "deps.sh: installing npm"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm
fi
echo "deps.sh: all build dependencies present"
