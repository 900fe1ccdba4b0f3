#!/usr/bin/env bash
# tests/security/testssl.sh - run Debian's testssl.sh against `coachbox serve --cert` and
# fail on any finding rated HIGH or CRITICAL.
#
#   tests/security/testssl.sh            (COACHBOX_BIN=... to test another binary)
#
# Needs a coachbox with finding F0 fixed (docs/SECURITY.md): before that, serve --cert does
# not start, or dies at the first HTTPS request.
#
# Makes a throwaway test CA and a P-256 server certificate for 127.0.0.1 with the openssl
# CLI (the CA is passed to testssl with --add-ca, so chain-of-trust is judged like a real
# deployment's), starts a field server on 127.0.0.1:0 with it, runs testssl (about 3-4
# minutes on 2 cores), keeps the JSON and text reports in build/security/, prints every
# finding of severity MEDIUM and above, and checks that the server is still up afterwards.
# Not part of tools/test.sh (too slow); see docs/SECURITY.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

need=()
command -v testssl >/dev/null 2>&1 || need+=(testssl.sh)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ "${#need[@]}" -gt 0 ]; then
  echo "testssl.sh: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

out=$sec_root/build/security
mkdir -p "$out"
sec_make_cert
data=$sec_tmp/data
sec_start "$data" --cert "$sec_pem"
case "$sec_url" in https://*) ;; *) echo "serve --cert printed $sec_url" >&2; exit 1 ;; esac
hostport=${sec_url#https://}
echo "== testssl against $sec_url ($(sec_bin))"
rm -f "$out/testssl.json" "$out/testssl.txt"
rc=0
timeout 1200 testssl --quiet --color 0 --warnings batch --add-ca "$sec_ca" \
  --jsonfile "$out/testssl.json" --logfile "$out/testssl.txt" "$hostport" >/dev/null 2>&1 || rc=$?
if ! sec_alive; then
  echo "testssl.sh: FAILED: the server died during the scan (see $data.log)" >&2
  tail -5 "$data.log" >&2
  exit 1
fi
if [ ! -s "$out/testssl.json" ]; then
  echo "testssl.sh: FAILED: testssl wrote no report (exit $rc)" >&2
  exit 1
fi
echo "== findings rated MEDIUM or worse (all findings: $out/testssl.json, $out/testssl.txt)"
jq -r '.[] | select(.severity=="MEDIUM" or .severity=="HIGH" or .severity=="CRITICAL")
       | "  \(.severity)\t\(.id)\t\(.finding)"' "$out/testssl.json" || true
echo "== protocols and key facts"
jq -r '.[] | select(.id|test("^(SSLv2|SSLv3|TLS1|TLS1_1|TLS1_2|TLS1_3|HSTS|cert_chain_of_trust|cipher_order|FS|secure_renego|secure_client_renego|overall_grade)$"))
       | "  \(.id): \(.finding) [\(.severity)]"' "$out/testssl.json" || true
bad=$(jq '[.[] | select(.severity=="HIGH" or .severity=="CRITICAL")] | length' "$out/testssl.json")
# The server answered plain requests throughout.
curl -fsS --cacert "$sec_ca" "$sec_url/healthz" >/dev/null
if [ "$bad" != 0 ]; then
  echo "testssl.sh: FAILED: $bad finding(s) rated HIGH or CRITICAL"
  exit 1
fi
echo "testssl.sh: passed (no HIGH or CRITICAL findings; testssl exit $rc)"
