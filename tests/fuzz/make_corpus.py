#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses into tests/fuzz/corpus/<harness>/.

Seeds are small, realistic inputs: real request bodies, scoring inputs, sync
batches and pages, and HTTP requests for every route.  Run it again after
changing it; each seed file is named after what it holds.  The ids match
tests/fuzz/fuzz_common.h.
"""
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

P_A = "01890000-0000-7000-8000-00000000000a"
P_B = "01890000-0000-7000-8000-00000000000b"
ENC_A = "01890000-0000-7000-8000-0000000000ea"
CONF_A = "01890000-0000-7000-8000-0000000000ca"
PROG_A = "01890000-0000-7000-8000-0000000000aa"
NEW = "01890000-0000-7000-8000-0000000000f1"
NEW2 = "01890000-0000-7000-8000-0000000000f2"

TABLES = ["participants", "encounters", "consents", "measures", "goals", "goal_reviews",
          "referrals", "programmes", "group_sessions", "enrolments", "attendance", "checkins",
          "venues", "users", "teams", "conflicts"]


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def j(v):
    return json.dumps(v, separators=(",", ":"))


# ---------------------------------------------------------------- fuzz_record
def record():
    bodies = {
        "participants": [
            {"given_name": "Amelia", "family_name": "Smith", "date_of_birth": "1984-03-02",
             "nhs_number": "943 476 5919", "postcode": "bl9 0ej", "team": "bury-town"},
            {"id": NEW, "given_name": " Jo ", "family_name": "O'Neil", "date_of_birth": "1950-12-31",
             "sex": "female", "ethnic_group": "white_irish", "phone": "+44 7700 900123",
             "email": "jo@example.org", "contact_preferences": ["sms", "email"], "veteran": True,
             "topics": ["smoking", "weight"], "status": "active", "assigned_coach": NEW2},
            {"given_name": "X", "family_name": "Y", "date_of_birth": "2099-01-01",
             "nhs_number": "9999999999"},
            {"postcode": None, "discharge_date": "2026-01-01", "status": "discharged"},
        ],
        "encounters": [
            {"participant_id": P_A, "type": "drop_in", "occurred_at": "2026-11-26T10:30:00+01:00",
             "duration_minutes": 20, "topics": ["alcohol"], "brief_advice": ["alcohol"],
             "notes": "Talked about\nsleep", "next_follow_up": "2026-12-03"},
            {"participant_id": P_A, "type": "dna", "occurred_at": "2026-11-26T10:30:00.123456Z"},
            {"occurred_at": "+275760-09-13T00:00:00Z", "type": "phone", "participant_id": P_A},
        ],
        "consents": [{"participant_id": P_A, "kind": "service", "given": True,
                      "date": "2026-11-01", "notes": "verbal"}],
        "measures": [
            {"participant_id": P_A, "instrument": "phq9", "timepoint": "baseline",
             "taken_at": "2026-11-01T09:00:00Z",
             "responses": {"q1": 1, "q2": 2, "q3": 0, "q4": 1, "q5": 0, "q6": 0, "q7": 1, "q8": 0,
                           "q9": 1}},
            {"participant_id": P_A, "instrument": "bmi", "timepoint": "review",
             "taken_at": "2026-11-01T09:00:00Z", "responses": {"height_cm": 170.5, "weight_kg": "82"},
             "allow_incomplete": True},
        ],
        "goals": [{"participant_id": P_A, "text": "Walk 30 minutes a day", "topic": "physical_activity",
                   "agreed_date": "2026-11-01", "target_date": "2027-02-01", "status": "agreed"}],
        "goal_reviews": [{"goal_id": NEW, "reviewed_on": "2026-11-20", "status": "partly_achieved",
                          "note": "half way"}],
        "referrals": [{"participant_id": P_A, "destination": "stop_smoking", "sent_date": "2026-11-02",
                       "status": "sent", "destination_detail": "Bury stop smoking"}],
        "programmes": [{"name": "Walk and talk", "topic": "physical_activity", "team": "prestwich",
                        "start_date": "2026-11-02", "weeks": 12, "status": "planned"}],
        "group_sessions": [{"programme_id": PROG_A, "session_number": 1,
                            "starts_at": "2026-11-02T10:00:00Z", "notes": "room 2"}],
        "enrolments": [{"participant_id": P_A, "programme_id": PROG_A, "enrolled_on": "2026-11-01"}],
        "attendance": [{"participant_id": P_A, "session_id": NEW, "status": "attended"}],
        "checkins": [{"participant_id": P_A, "arrived_at": "2026-11-26T09:59:00Z", "reason": "weigh in",
                      "status": "waiting"}],
        "venues": [{"name": "Library", "team": "prestwich", "address": "1 High St",
                    "postcode": "M25 1AA"}],
        "users": [{"username": "coach.bury", "role": "coach", "team": "bury-town"}],
        "teams": [{"name": "Bury town"}],
        "conflicts": [{"status": "resolved", "resolution_note": "kept the newer"}],
    }
    for ti, t in enumerate(TABLES):
        for k, body in enumerate(bodies.get(t, [])):
            for mode, sel in (("create", 0x20 | 0x40), ("update", 0x00)):
                write("fuzz_record", f"{t}-{k}-{mode}", bytes([ti | sel]) + j(body).encode())
    write("fuzz_record", "malformed-dup", bytes([0x20]) + b'{"given_name":"a","given_name":"b"}')
    write("fuzz_record", "malformed-array", bytes([0x20]) + b'[1,2,3]')
    write("fuzz_record", "malformed-trunc", bytes([0x20]) + b'{"given_name":"\\ud83d')


# -------------------------------------------------------------- fuzz_measures
def measures():
    ids = ["swemwbs", "wemwbs", "ons4", "phq9", "gad7", "gppaq", "ipaq_short", "audit_c", "hsi",
           "smoking", "bmi", "whtr", "bp", "qrisk", "cfs", "tug", "bowel_screening"]
    q = lambda n, v: {f"q{i}": v(i) for i in range(1, n + 1)}
    inputs = {
        "swemwbs": [q(7, lambda i: 1 + i % 5), q(7, lambda i: "3")],
        "wemwbs": [q(14, lambda i: 1 + i % 5)],
        "ons4": [q(4, lambda i: i * 2)],
        "phq9": [q(9, lambda i: i % 4), dict(q(8, lambda i: 0), q9=None)],
        "gad7": [q(7, lambda i: 3)],
        "gppaq": [{"occupation": "sedentary", "exercise_hours": "lt1", "cycling_hours": 0,
                   "walking_hours": "1to3", "housework_hours": "none", "gardening_hours": "none",
                   "walking_pace": "brisk"}],
        "ipaq_short": [{"vigorous_days": 2, "vigorous_minutes": 30, "moderate_days": 3,
                        "moderate_minutes": 45, "walking_days": 7, "walking_minutes": 20}],
        "audit_c": [{"q1": 4, "q2": 2, "q3": 1}],
        "hsi": [{"minutes_to_first": 5, "cigarettes_per_day": 20}],
        "smoking": [{"status": "quit_attempt", "quit_date": "2026-10-01",
                     "followup_date": "2026-10-29", "self_reported_quit": True, "co_ppm": 4}],
        "bmi": [{"height_cm": 170, "weight_kg": 82.5, "ethnic_group": "asian_indian"},
                {"height_cm": "160.0", "weight_kg": "1e2"}],
        "whtr": [{"waist_cm": 90, "height_cm": 175}],
        "bp": [{"systolic": 182, "diastolic": 121, "standing_systolic": 150}],
        "qrisk": [{"score": 12.5, "date": "2026-01-01", "source": "GP letter"}],
        "cfs": [{"level": 6}],
        "tug": [{"seconds": 13.2}],
        "bowel_screening": [{"status": "kit_returned", "status_date": "2026-06-01",
                             "kit_received_date": "2026-05-01", "kit_returned_date": "2026-05-20",
                             "after_support": True}],
    }
    for i, inst in enumerate(ids):
        for k, body in enumerate(inputs.get(inst, [])):
            for flag in (0, 1):
                write("fuzz_measures", f"{inst}-{k}-f{flag}", bytes([i, flag]) + j(body).encode())
    write("fuzz_measures", "unknown-instrument", bytes([200, 0]) + b'PHQ9\n{"q1":1}')
    write("fuzz_measures", "text-value", bytes([200, 0]) + b'bmi\n{"height_cm":"  1.7e2 ","weight_kg":"NaN"}')


# ------------------------------------------------------------------ fuzz_sync
def sync():
    full_p = {"given_name": "Cara", "family_name": "New", "date_of_birth": "1990-05-05",
              "nhs_number": None, "postcode": "BL9 0EJ", "team": "prestwich",
              "created_at": "2026-11-26T10:00:00.000Z", "created_by": NEW2, "deleted": 0}
    pushes = {
        "push-create-participant": {"ops": [
            {"op_id": 1, "tbl": "participants", "row_id": NEW, "fields": full_p,
             "hlc": 117000000000000000, "base_seq": 0}], "pending": 1,
            "oldest_pending_at": "2026-11-26T10:00:00.000Z"},
        "push-edit-and-encounter": {"ops": [
            {"op_id": 1, "tbl": "participants", "row_id": P_A, "fields": {"given_name": "Adah"},
             "hlc": 117000000000000001, "base_seq": 0},
            {"op_id": 2, "tbl": "encounters", "row_id": NEW2,
             "fields": {"participant_id": P_A, "type": "phone", "occurred_at": "2026-11-26T10:00:00.000Z",
                        "team": "prestwich", "notes": "called", "created_at": "2026-11-26T10:00:00.000Z",
                        "deleted": 0}, "hlc": 117000000000000002, "base_seq": 0}]},
        "push-delete": {"ops": [{"op_id": 1, "tbl": "encounters", "row_id": ENC_A,
                                 "fields": {"deleted": 1}, "hlc": 117000000000000003, "base_seq": 0}]},
        "push-resolve-conflict": {"ops": [{"op_id": 1, "tbl": "conflicts", "row_id": CONF_A,
                                           "fields": {"status": "resolved", "resolution_note": "ok"},
                                           "hlc": 1, "base_seq": 5}]},
        "push-other-team": {"ops": [
            {"op_id": 1, "tbl": "participants", "row_id": P_B, "fields": {"given_name": "Mal"},
             "hlc": 2, "base_seq": 0},
            {"op_id": 2, "tbl": "encounters", "row_id": NEW,
             "fields": {"participant_id": P_B, "type": "phone", "occurred_at": "2026-11-26T10:00:00.000Z",
                        "team": "radcliffe", "deleted": 0}, "hlc": 3, "base_seq": 0}]},
        "push-users-teams": {"ops": [
            {"op_id": 1, "tbl": "users", "row_id": NEW, "fields": {"role": "admin"}, "hlc": 1,
             "base_seq": 0},
            {"op_id": 2, "tbl": "teams", "row_id": NEW2, "fields": {"name": "x"}, "hlc": 1,
             "base_seq": 0}]},
        "push-future-hlc": {"ops": [{"op_id": 1, "tbl": "participants", "row_id": P_A,
                                     "fields": {"family_name": "Later"}, "hlc": 9223372036854775807,
                                     "base_seq": -1}]},
        "push-gap-dup": {"ops": [{"op_id": 0}, {"op_id": 3, "tbl": "participants"}]},
        "push-move": {"ops": [{"op_id": 1, "tbl": "participants", "row_id": P_A,
                               "fields": {"team": "radcliffe"}, "hlc": 5, "base_seq": 0}]},
        # Finding F1 (docs/SECURITY.md): team A's site attaching a record to team B's participant.
        "push-attach-other-team-participant": {"ops": [
            {"op_id": 1, "tbl": "encounters", "row_id": NEW,
             "fields": {"participant_id": P_B, "type": "phone",
                        "occurred_at": "2026-11-26T10:00:00.000Z", "team": "prestwich",
                        "notes": "forged", "deleted": 0}, "hlc": 3, "base_seq": 0}]},
        "push-repoint-encounter-other-team": {"ops": [
            {"op_id": 1, "tbl": "encounters", "row_id": ENC_A, "fields": {"participant_id": P_B},
             "hlc": 3, "base_seq": 0}]},
    }
    for name, body in pushes.items():
        write("fuzz_sync", name, b"\x00" + j(body).encode())
    pulls = {
        "pull-page": {"changes": [
            {"seq": 1, "tbl": "participants", "row_id": NEW, "fields": full_p, "hlc": 117000000000000000,
             "site": "central"},
            {"seq": 2, "tbl": "participants", "row_id": P_A, "fields": {"given_name": "Ada", "family_name": "L"},
             "hlc": 117000000000000001, "site": "01890000-0000-7000-8000-00000000005e"}],
            "next": 2, "more": False, "teams": ["prestwich"]},
        "pull-scope-exit": {"changes": [
            {"seq": 3, "tbl": "participants", "row_id": P_A, "fields": {"team": "radcliffe"},
             "hlc": 5, "site": "central"},
            {"seq": 4, "tbl": "participants", "row_id": NEW, "fields": {"team": "bury-town"},
             "hlc": 6, "site": "central"}], "next": 4, "more": True},
        "pull-malformed": {"changes": [{"seq": 1, "tbl": "nope", "row_id": "x", "fields": [],
                                         "hlc": "1", "site": 3}], "next": -1},
        "pull-empty": {"changes": [], "next": 0, "more": False, "teams": []},
    }
    for name, body in pulls.items():
        write("fuzz_sync", name, b"\x01" + j(body).encode())


# ------------------------------------------------------------------ fuzz_http
def http():
    COACH, LEAD, MGR, ADM = 0, 1, 2, 3
    COOKIE, CSRF, TLS, CHUNKED = 4, 8, 16, 32

    def req(name, flags, method, target, body=None, headers=()):
        h = list(headers)
        if body is not None:
            h.append("Content-Type: application/json")
        text = f"{method} {target}\n" + "".join(x + "\n" for x in h) + "\n" + (body or "")
        write("fuzz_http", name, bytes([flags]) + text.encode())

    auth = COOKIE | CSRF
    req("healthz", 0, "GET", "/healthz")
    req("index", 0, "GET", "/", headers=["Accept-Encoding: gzip"])
    req("index-304", TLS, "GET", "/index.html", headers=['If-None-Match: "fz-index"'])
    req("asset-put", 0, "PUT", "/assets/app-FUZZ0001.js", body="{}")
    req("probe-dotdot", 0, "GET", "/%2e%2e/%2e%2e/etc/passwd")
    req("me", COACH | COOKIE, "GET", "/api/me")
    req("me-anon", 0, "GET", "/api/me")
    req("search", COACH | COOKIE, "GET", "/api/participants?q=ada+lov&limit=5")
    req("search-cursor", COACH | COOKIE, "GET", f"/api/participants?q=&cursor={P_A}&limit=100")
    req("search-nhs", MGR | COOKIE, "GET", "/api/participants?q=943%20476%205919")
    req("search-dob", MGR | COOKIE | TLS, "GET", "/api/participants?q=1980-01-02&limit=abc")
    req("create", COACH | auth, "POST", "/api/participants",
        j({"given_name": "Fuzz", "family_name": "Person", "date_of_birth": "1990-01-01"}))
    req("create-idem", COACH | auth, "POST", "/api/participants",
        j({"given_name": "Idem", "family_name": "Potent", "date_of_birth": "1990-01-01"}),
        headers=["Idempotency-Key: abcdefgh-1234"])
    req("create-chunked", LEAD | auth | CHUNKED, "POST", "/api/participants", j({"given_name": "C"}))
    req("create-nocsrf", COACH | COOKIE, "POST", "/api/participants", "{}")
    req("patch", COACH | auth, "PATCH", f"/api/participants/{P_A}", j({"postcode": "m25 1aa"}))
    req("patch-other", COACH | auth, "PATCH", f"/api/participants/{P_B}", j({"given_name": "x"}))
    req("get-other", COACH | COOKIE, "GET", f"/api/participants/{P_B}")
    req("admin-get", ADM | COOKIE, "GET", f"/api/participants/{P_A}")
    req("encounter", COACH | auth, "POST", "/api/encounters",
        j({"participant_id": P_A, "type": "drop_in", "occurred_at": "2026-01-01T10:00:00Z"}))
    req("measure", COACH | auth, "POST", "/api/measures",
        j({"participant_id": P_A, "instrument": "gad7", "timepoint": "baseline",
           "taken_at": "2026-01-01T10:00:00Z", "responses": {f"q{i}": 1 for i in range(1, 8)}}))
    req("timeline", COACH | COOKIE, "GET", f"/api/participants/{P_A}/timeline")
    req("list-kind", COACH | COOKIE, "GET", f"/api/participants/{P_A}/encounters")
    req("caseload", LEAD | COOKIE, "GET", "/api/caseload?coach=&team=prestwich")
    req("follow-ups", MGR | COOKIE, "GET", "/api/follow-ups?within_days=90&team=radcliffe")
    req("reviews", MGR | COOKIE, "GET", "/api/reviews-due?weeks=0")
    req("queue", COACH | COOKIE, "GET", "/api/queue?date=2026-02-30&venue=x")
    req("matches", COACH | auth, "POST", "/api/participants/matches",
        j({"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1980-01-02"}))
    req("merge", MGR | auth, "POST", f"/api/participants/{P_A}/merge", j({"into": P_B}))
    req("merges", MGR | COOKIE, "GET", f"/api/merges?participant_id={P_A}")
    req("audit", MGR | COOKIE, "GET", f"/api/participants/{P_A}/audit")
    req("programmes", COACH | COOKIE, "GET", "/api/programmes?team=radcliffe")
    req("schedule", COACH | auth, "POST", f"/api/programmes/{PROG_A}/schedule",
        j({"first_session_at": "2026-03-01T10:00:00Z", "count": 3}))
    req("register-put", COACH | auth, "PUT", f"/api/group-sessions/{NEW}/register",
        j({"entries": [{"participant_id": P_A, "status": "attended"}]}))
    req("conflicts", COACH | COOKIE, "GET", "/api/conflicts?status=resolved&participant_id=x")
    req("sync-status", ADM | COOKIE, "GET", "/api/sync/status")
    req("sites", MGR | COOKIE, "GET", "/api/sites")
    req("sync-pull", 0, "GET", "/sync/v1/pull?since=0&limit=10",
        headers=["X-CB-Site: x", "X-CB-Timestamp: 1", "X-CB-Nonce: 0123456789abcdef",
                 "X-CB-Signature: 00"])
    req("method-405", COACH | auth, "DELETE", "/api/participants")
    req("head", COACH | COOKIE, "HEAD", "/api/teams")
    req("bad-ctype", COACH | auth, "POST", "/api/goals", "{}", headers=["Content-Type: text/plain"])
    req("instruments", COACH | COOKIE, "GET", "/api/measures/instruments")


# ------------------------------------------------------------- dictionaries
def dictionaries():
    """Tokens from the server's own tables: field names, code values, route paths."""
    import re
    root = os.path.join(HERE, "..", "..")
    words = set()
    with open(os.path.join(root, "server", "schema.c")) as f:
        words |= set(re.findall(r'"([a-z][a-z0-9_]{1,40})"', f.read()))
    paths = set()
    for d in ("server", "sync"):
        for name in os.listdir(os.path.join(root, d)):
            if name.endswith(".c"):
                with open(os.path.join(root, d, name)) as f:
                    text = f.read()
                paths |= set(re.findall(r'"(/(?:api|sync|healthz)[^"]*)"', text))
    segs = set()
    for pth in paths:
        segs |= {x for x in pth.split("/") if x and "{" not in x}
    headers = ["Cookie: ", "X-CSRF-Token: ", "Content-Type: application/json",
               "Idempotency-Key: ", "If-None-Match: ", "Accept-Encoding: gzip",
               "Transfer-Encoding: chunked", "Content-Length: ", "X-CB-Site: ",
               "X-CB-Signature: ", "X-CB-Nonce: ", "X-CB-Timestamp: ", "X-CB-Schema: "]
    http_tokens = (sorted(words) + sorted(paths) + sorted(segs) + headers +
                   ["GET ", "POST ", "PATCH ", "PUT ", "DELETE ", "HEAD ", "?q=", "&limit=",
                    "&cursor=", "?team=", "&coach=", "?date=", "?participant_id=", P_A, P_B,
                    "%2e", "%00", "{\"", "\":", "null", "true", "false", "1980-01-02",
                    "2026-11-26T10:00:00Z"])
    sync_tokens = sorted(words) + TABLES + ["op_id", "tbl", "row_id", "fields", "hlc",
                                            "base_seq", "seq", "site", "next", "more", "teams",
                                            "changes", "ops", "deleted", "created_at",
                                            "created_by", P_A, P_B, ENC_A, CONF_A]
    d = os.path.join(HERE, "dict")
    os.makedirs(d, exist_ok=True)

    def esc(t):
        return t.replace("\\", "\\\\").replace('"', '\\"')

    for name, toks in (("fuzz_http", http_tokens), ("fuzz_record", sorted(words)),
                       ("fuzz_sync", sync_tokens)):
        with open(os.path.join(d, name + ".dict"), "w") as f:
            f.write("# generated by tests/fuzz/make_corpus.py: tokens from the server's tables\n")
            for t in dict.fromkeys(toks):
                f.write('"%s"\n' % esc(t))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    record()
    measures()
    sync()
    http()
    dictionaries()
    for h in sorted(os.listdir(OUT)):
        print(h, len(os.listdir(os.path.join(OUT, h))), "seeds")


if __name__ == "__main__":
    main()
