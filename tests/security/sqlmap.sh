#!/usr/bin/env bash
# tests/security/sqlmap.sh - run Debian's sqlmap against the authenticated API of a
# throwaway `coachbox serve` and fail if it reports any injection.
#
#   tests/security/sqlmap.sh             (SQLMAP_LEVEL=5 SQLMAP_RISK=3 by default: the most thorough)
#
# Signs in as a coach (session cookie + X-CSRF-Token header on every request) and tests:
#   GET   /api/participants?q=&limit=&cursor=        (the search: q, limit, cursor)
#   POST  /api/participants            JSON body      (every field)
#   POST  /api/participants/matches    JSON body      (every field)
#   PATCH /api/participants/{id}       JSON body      (every field)
#   GET   /api/caseload?coach=&team=   and  GET /api/queue?date=&venue=
# with every technique (boolean, error, union, stacked, time-based) against SQLite.
# Reports go to build/security/sqlmap/.  Takes about 5-15 minutes on 2 cores; not part of
# tools/test.sh.  See docs/SECURITY.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

need=()
command -v sqlmap >/dev/null 2>&1 || need+=(sqlmap)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ "${#need[@]}" -gt 0 ]; then
  echo "sqlmap.sh: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

level=${SQLMAP_LEVEL:-5}
risk=${SQLMAP_RISK:-3}
out=$sec_root/build/security/sqlmap
rm -rf "$out"
mkdir -p "$out"
data=$sec_tmp/data
sec_user "$data" sql.coach coach prestwich
sec_start "$data"
echo "== sqlmap (level $level, risk $risk) against $sec_url ($(sec_bin))"

# Sign in: the session cookie and the CSRF token go on every sqlmap request.
login=$(curl -fsS -c "$sec_tmp/jar" -H 'Content-Type: application/json' \
  -d "{\"username\":\"sql.coach\",\"password\":\"$SEC_PW\"}" "$sec_url/api/login")
csrf=$(jq -r .csrf_token <<<"$login")
uid=$(jq -r .user.id <<<"$login")
cookie=$(awk '$6=="cb_session"{print "cb_session=" $7}' "$sec_tmp/jar")
[ -n "$csrf" ] && [ -n "$cookie" ] || { echo "sqlmap.sh: login failed: $login" >&2; exit 1; }
api() {
  curl -fsS -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' "$@"
}
# Some people to find, so true and false conditions give different pages.
for n in "Amelia Smith 1984-03-02" "Amir Smithson 1990-07-01" "Bea Jones 1975-11-30"; do
  set -- $n
  api -d "{\"given_name\":\"$1\",\"family_name\":\"$2\",\"date_of_birth\":\"$3\"}" \
    "$sec_url/api/participants" >/dev/null
done
pid=$(api "$sec_url/api/participants?q=amelia" | jq -r '.items[0].id')

common=(--batch --disable-coloring --dbms=SQLite --level="$level" --risk="$risk"
  --technique=BEUST --time-sec=2 --threads=1 --flush-session --output-dir="$out"
  --answers="follow=N"
  -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf")
targets=(
  "search|-u|$sec_url/api/participants?q=ami&limit=5&cursor=$pid|-p|q,limit,cursor"
  "create|-u|$sec_url/api/participants|--method=POST|--data={\"given_name\":\"Cara\",\"family_name\":\"New\",\"date_of_birth\":\"1990-05-05\",\"postcode\":\"BL9 0EJ\",\"nhs_number\":\"9434765919\"}|-H|Content-Type: application/json"
  "matches|-u|$sec_url/api/participants/matches|--method=POST|--data={\"given_name\":\"Amelia\",\"family_name\":\"Smith\",\"date_of_birth\":\"1984-03-02\",\"postcode\":\"BL9 0EJ\"}|-H|Content-Type: application/json"
  "patch|-u|$sec_url/api/participants/$pid|--method=PATCH|--data={\"given_name\":\"Amelia\",\"postcode\":\"M25 1AA\"}|-H|Content-Type: application/json"
  "caseload|-u|$sec_url/api/caseload?coach=$uid&team=prestwich|-p|coach,team"
  "queue|-u|$sec_url/api/queue?date=2026-01-01&venue=$pid|-p|date,venue"
)
status=0
for t in "${targets[@]}"; do
  IFS='|' read -r -a parts <<<"$t"
  name=${parts[0]}
  echo "== $name"
  log=$out/$name.log
  timeout 1800 sqlmap "${common[@]}" "${parts[@]:1}" >"$log" 2>&1 || true
  if grep -qE "is vulnerable|appears to be injectable|sqlmap identified the following injection point" "$log"; then
    echo "sqlmap.sh: INJECTION FOUND in $name:"
    grep -E "Parameter:|Type:|Title:|Payload:" "$log" | head -20
    status=1
  elif grep -q "all tested parameters do not appear to be injectable" "$log"; then
    echo "  no injection: $(grep -c "\] \[INFO\] testing '" "$log") payload families over" \
      "$(grep -c 'testing for SQL injection on' "$log") parameters"
  else
    echo "sqlmap.sh: $name did not finish normally; the end of $log:"
    tail -8 "$log"
    status=1
  fi
  if ! sec_alive; then
    echo "sqlmap.sh: the server died during $name" >&2
    status=1
    break
  fi
done
# Sanity: the session was valid throughout (a 401 would make every test meaningless).
api "$sec_url/api/me" >/dev/null || { echo "sqlmap.sh: the session ended during the run" >&2; status=1; }
n=$(api "$sec_url/api/participants?limit=100" | jq '.items | length')
echo "== $n participants in the database after the run (sqlmap's creates included)"
if [ "$status" = 0 ]; then echo "sqlmap.sh: passed (no injection found)"; else echo "sqlmap.sh: FAILED"; fi
exit "$status"
