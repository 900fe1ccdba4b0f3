# lib.sh - shared by tests/security/*.sh: find or build coachbox, make a test CA and a
# server certificate with the openssl CLI, start and stop a throwaway server on 127.0.0.1.
# Sourced, not run.  Every server started here is stopped by the EXIT trap.

sec_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
sec_tmp=$(mktemp -d "${TMPDIR:-/tmp}/coachbox-sec-XXXXXX")
sec_pids=()

sec_cleanup() {
  local p
  for p in "${sec_pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ "${SEC_KEEP:-0}" = 1 ]; then
    echo "kept $sec_tmp"
  else
    rm -rf "$sec_tmp"
  fi
}
trap sec_cleanup EXIT

# The coachbox binary: $COACHBOX_BIN, else build/test/coachbox (built when missing).
sec_bin() {
  if [ -n "${COACHBOX_BIN:-}" ]; then
    echo "$COACHBOX_BIN"
    return
  fi
  local b=$sec_root/build/test/coachbox
  if [ ! -x "$b" ]; then
    echo "== building $b" >&2
    cmake -S "$sec_root" -B "$sec_root/build/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$sec_root/build/test" -j"$(nproc 2>/dev/null || echo 2)" --target coachbox >&2
  fi
  echo "$b"
}

# A test CA and a P-256 server certificate for localhost / 127.0.0.1, signed by it, shaped
# like a real one (397 days, a CRL distribution point) so that testssl judges the server's
# configuration rather than a throwaway certificate's shortcomings.
# Sets sec_ca (CA certificate) and sec_pem (server certificate + key in one PEM).
sec_make_cert() {
  local d=$sec_tmp/pki
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 800 \
    -subj "/CN=coachbox test CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "crlDistributionPoints=URI:http://127.0.0.1/coachbox-test-ca.crl" >"$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 397 -sha256 -extfile "$d/ext.cnf" -out "$d/server.crt" >/dev/null 2>&1
  cat "$d/server.crt" "$d/server.key" >"$d/server.pem"
  chmod 600 "$d/server.pem"
  sec_ca=$d/ca.pem
  sec_pem=$d/server.pem
}

# sec_start DATA [ARGS...]: start `coachbox serve` on 127.0.0.1:0; sets sec_url, sec_pid.
sec_start() {
  local data=$1
  shift
  local log=$data.log
  "$(sec_bin)" serve --data "$data" --listen 127.0.0.1:0 --allow-test-nhs "$@" >"$log" 2>&1 &
  sec_pid=$!
  sec_pids+=("$sec_pid")
  local i
  for i in $(seq 1 300); do
    sec_url=$(grep -o 'https\?://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)
    [ -n "$sec_url" ] && return 0
    if ! kill -0 "$sec_pid" 2>/dev/null; then
      echo "coachbox serve exited:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "coachbox serve did not print its URL" >&2
  return 1
}

sec_alive() {
  kill -0 "$sec_pid" 2>/dev/null
}

# sec_user DATA NAME ROLE [TEAM]: add an account with password $SEC_PW.
SEC_PW=${SEC_PW:-correct-horse-battery-1}
sec_user() {
  local args=(user add --data "$1" --username "$2" --role "$3")
  [ -n "${4:-}" ] && args+=(--team "$4")
  printf '%s\n' "$SEC_PW" | "$(sec_bin)" "${args[@]}" >/dev/null
}
