/*
 * hub.c - central's sync endpoints (design.md section 4, docs/SYNC.md):
 *   POST /sync/v1/enroll   redeem a one-time code (no signature)
 *   POST /sync/v1/push     apply a site's outbox batch
 *   GET  /sync/v1/pull     keyset pages of changes in the site's scope
 *   GET  /sync/v1/digest   hashes of the scope's current state
 * Every request but enroll is HMAC-signed (sign.h) with a fresh timestamp and
 * nonce, and carries the schema version.  Only a central serves these.
 */
#include "coachbox/api.h"

#include <civetweb.h>
#include "coachbox/audit.h"
#include "coachbox/buf.h"
#include "coachbox/capture.h"
#include "coachbox/hlc.h"
#include "coachbox/json.h"
#include "coachbox/record.h"
#include "coachbox/sign.h"
#include "coachbox/sites.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TIME_SKEW_MS (5 * 60 * 1000)
/* A nonce is kept for as long as a request bearing it can be accepted: its
 * timestamp's window (twice the skew) plus the longest a push may then wait
 * for its turn before recording it (PUSH_TURN_WAIT_S and the gap waits),
 * with a margin. */
#define NONCE_TTL_MS    (2 * MAX_TIME_SKEW_MS + 60 * 1000)
#define MAX_OPS         10000
#define PULL_DEFAULT    2000
#define PULL_MAX        10000
#define PULL_PAGE_BYTES (8 * 1024 * 1024)  /* a page stops after the change crossing this */
#define PULL_PAGE_CAP   (64 * 1024 * 1024) /* hard cap on a page's text (CB_ETOOLARGE) */
_Static_assert(CB_CHANGE_TEXT_MAX + 1024 * 1024 <= PULL_PAGE_CAP,
               "a change must fit in a pull page on its own (with its seq, table, row, hlc, site)");

static int is_central(const struct cb_req *r)
{
    return strcmp(r->app->role, "central") == 0;
}

static int not_central(struct cb_req *r)
{
    return cb_reply_problem(r, 404, "not_found", "this server is not a central record store", NULL,
                            NULL);
}

/* Central's store could not fsync its WAL (cb_store_wal_failed): 503, nothing
 * acknowledged; the operator restarts central (docs/OPERATIONS.md). */
static int storage_failed(struct cb_req *r)
{
    cb_reply_problem(r, 503, "storage_failed",
                     "central could not write to its disk: nothing more is accepted until it is "
                     "restarted",
                     NULL, NULL);
    return CB_EIO;
}

/* Check schema header; reply 409 when it differs. */
static int check_schema(struct cb_req *r)
{
    const char *v = cb_req_header(r, "X-CB-Schema");
    char msg[160];
    if (v && strtol(v, NULL, 10) == cb_store_schema_version()) {
        return CB_OK;
    }
    snprintf(msg, sizeof(msg), "central runs schema %d; this site runs %s: upgrade to match",
             cb_store_schema_version(), v ? v : "an unknown schema");
    cb_reply_problem(r, 409, "schema_mismatch", msg, "X-CB-Schema", NULL);
    return CB_ESCHEMA;
}

/*
 * The part of verify_site that needs no body: the signature headers present,
 * an enrolled site (into *site; the caller clears it either way), not revoked
 * (403, audited), a timestamp within MAX_TIME_SKEW_MS.  Reads only.  On
 * failure it replies and returns an error.
 */
static int verify_site_headers(struct cb_req *r, struct cb_site *site)
{
    const char *id = cb_req_header(r, "X-CB-Site");
    const char *ts = cb_req_header(r, "X-CB-Timestamp");
    const char *nonce = cb_req_header(r, "X-CB-Nonce");
    const char *sig = cb_req_header(r, "X-CB-Signature");
    memset(site, 0, sizeof(*site));
    if (!id || !ts || !nonce || !sig || strlen(nonce) < 16 || strlen(nonce) > 64) {
        cb_reply_problem(r, 401, "unauthenticated", "missing or malformed signature headers",
                         "X-CB-Signature", NULL);
        return CB_EUNAUTH;
    }
    if (!cb_uuid_valid(id) || cb_site_get(r->db, id, site) != CB_OK) {
        cb_reply_problem(r, 401, "unauthenticated", "unknown site", "X-CB-Site", NULL);
        return CB_EUNAUTH;
    }
    if (site->revoked) {
        cb_reply_json(r, 403,
                      json_pack("{s:{s:s, s:s}, s:b}", "error", "code", "revoked", "message",
                                "this site has been revoked: wipe the synced data", "wipe", 1),
                      NULL);
        struct cb_audit_event e = {NULL,    "sync.refused", "sites",   id,
                                   r->addr, "denied",       "revoked", NULL};
        cb_audit(r->db, &e);
        return CB_EFORBIDDEN;
    }
    char *end;
    errno = 0;
    long long t = strtoll(ts, &end, 10);
    int64_t now = cb_now_ms();
    if (errno || *end || t < now - MAX_TIME_SKEW_MS || t > now + MAX_TIME_SKEW_MS) {
        cb_reply_problem(r, 401, "stale_request",
                         "the request timestamp is more than 5 minutes from central's clock",
                         "X-CB-Timestamp", NULL);
        return CB_EUNAUTH;
    }
    return CB_OK;
}

/*
 * The gate of POST /sync/v1/push (struct cb_route), before its body (up to
 * 64 MiB) is read: the signature headers present, an enrolled site, not
 * revoked, a fresh timestamp (verify_site_headers), so that a request that
 * cannot verify never makes central read and parse a body.  Non-zero: refused
 * and answered.
 */
static int push_gate(struct cb_req *r)
{
    struct cb_site site;
    int rc = verify_site_headers(r, &site);
    cb_site_clear(&site);
    return rc != CB_OK;
}

/*
 * Verify the signature headers (site, revocation, timestamp, HMAC of the
 * body); reads only, so it runs before a push waits for its turn.  On failure
 * reply (401/403) and return an error.  On success *site is loaded (caller
 * clears it either way); the nonce is not recorded yet (record_nonce).
 */
static int verify_site(struct cb_req *r, struct cb_site *site)
{
    int hrc = verify_site_headers(r, site);
    if (hrc) {
        return hrc;
    }
    const char *id = cb_req_header(r, "X-CB-Site");
    const char *ts = cb_req_header(r, "X-CB-Timestamp");
    const char *nonce = cb_req_header(r, "X-CB-Nonce");
    const char *sig = cb_req_header(r, "X-CB-Signature");
    char path[2048], want[CB_SIG_HEXLEN];
    const char *qs = r->ri->query_string;
    snprintf(path, sizeof(path), "%s%s%s", r->ri->local_uri, qs && qs[0] ? "?" : "", qs ? qs : "");
    if (cb_sign(site->secret, r->ri->request_method, path, ts, nonce, r->raw_body, r->raw_len,
                want) != CB_OK ||
        !cb_secure_streq(want, sig)) {
        const char *schema = cb_req_header(r, "X-CB-Schema");
        int other = schema && strtol(schema, NULL, 10) != cb_store_schema_version();
        struct cb_audit_event e = {NULL,
                                   "sync.refused",
                                   "sites",
                                   id,
                                   r->addr,
                                   "denied",
                                   other ? "bad signature from a site of another schema"
                                         : "bad signature",
                                   NULL};
        cb_audit(r->db, &e);
        if (other) {
            /* A site of another version signs as that version does (schema 20 hashes
             * the body with SHA-384): what it must hear is to upgrade. */
            (void)check_schema(r);
            return CB_ESCHEMA;
        }
        cb_reply_problem(r, 401, "bad_signature", "the request signature does not verify",
                         "X-CB-Signature", NULL);
        return CB_EUNAUTH;
    }
    return CB_OK;
}

/*
 * Replay protection: record the request's nonce (verified by verify_site) on
 * c, in c's transaction when one is open, else on its own; expired nonces are
 * dropped first.  CB_ECONFLICT: the nonce was seen within NONCE_TTL_MS (the
 * primary key decides, so of two requests racing with one nonce only one is
 * accepted).  No reply.
 */
static int record_nonce(struct cb_conn *c, const struct cb_req *r)
{
    const char *id = cb_req_header(r, "X-CB-Site");
    const char *nonce = cb_req_header(r, "X-CB-Nonce");
    int64_t now = cb_now_ms();
    sqlite3_stmt *st;
    assert(id && nonce);
    int rc = cb_conn_prepare(c, "DELETE FROM nonces WHERE at_ms < ?1", &st);
    if (rc == CB_OK) {
        sqlite3_bind_int64(st, 1, now - NONCE_TTL_MS);
        sqlite3_step(st);
        cb_stmt_done(st);
        rc = cb_conn_prepare(c, "INSERT INTO nonces(site_id, nonce, at_ms) VALUES (?1, ?2, ?3)",
                             &st);
    }
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, nonce, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    return rc;
}

/*
 * Answer a failed record_nonce (rc): 401 replayed, audited on r->db (which
 * must not wait on a write transaction the caller holds), or the error.
 */
static int refuse_nonce(struct cb_req *r, int rc)
{
    if (rc == CB_ECONFLICT) {
        struct cb_audit_event e = {
            NULL,    "sync.refused", "sites",          cb_req_header(r, "X-CB-Site"),
            r->addr, "denied",       "replayed nonce", NULL};
        cb_audit(r->db, &e);
        cb_reply_problem(r, 401, "replayed", "this request was already received (nonce reused)",
                         "X-CB-Nonce", NULL);
        return CB_EUNAUTH;
    }
    cb_reply_error(r, rc, NULL);
    return rc;
}

/*
 * Verify the signature headers and record the nonce on r->db (pull, digest);
 * on failure reply (401/403/409) and return an error.  On success *site is
 * loaded (caller clears it).
 */
static int authenticate_site(struct cb_req *r, struct cb_site *site)
{
    int rc = verify_site(r, site);
    if (rc) {
        return rc;
    }
    rc = record_nonce(r->db, r);
    if (rc) {
        return refuse_nonce(r, rc);
    }
    return check_schema(r);
}

/* ------------------------------------------------------------------ enroll */

static int sync_enroll(struct cb_req *r)
{
    static const char *const keys[] = {"code", "first_op_id", "schema", NULL};
    struct cb_field_error fe = {"", ""};
    struct cb_site site;
    if (!is_central(r)) {
        return not_central(r);
    }
    int rc = cb_json_only_keys(r->body, keys, &fe);
    if (rc) {
        return cb_reply_error(r, rc, &fe);
    }
    json_t *schema = json_object_get(r->body, "schema");
    if (!json_is_integer(schema) || json_integer_value(schema) != cb_store_schema_version()) {
        char msg[128];
        snprintf(msg, sizeof(msg), "central runs schema %d: upgrade this site to match",
                 cb_store_schema_version());
        return cb_reply_problem(r, 409, "schema_mismatch", msg, "schema", NULL);
    }
    json_t *first = json_object_get(r->body, "first_op_id");
    if (!json_is_integer(first) || json_integer_value(first) < 1) {
        return cb_reply_problem(r, 400, "invalid", "first_op_id must be a positive integer",
                                "first_op_id", NULL);
    }
    rc = cb_site_enroll(r->db, cb_json_str(r->body, "code"), json_integer_value(first), &site);
    if (rc == CB_EUNAUTH) {
        struct cb_audit_event e = {NULL,    "site.enroll", "sites",    NULL,
                                   r->addr, "failed",      "bad code", NULL};
        cb_audit(r->db, &e);
        return cb_reply_problem(r, 401, "bad_code",
                                "the enrollment code is unknown, used, expired or revoked", "code",
                                NULL);
    }
    if (rc) {
        return cb_reply_error(r, rc, NULL);
    }
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:O, s:i}", "site_id", site.id, "name", site.name, "secret",
                  site.secret, "teams", site.teams, "schema", cb_store_schema_version());
    cb_site_clear(&site);
    return cb_reply_json(r, 200, out, NULL);
}

/* ------------------------------------------------------------------ push */

/* Is team one of the site's teams? */
static int site_has_team(const struct cb_site *s, const char *team)
{
    size_t i;
    json_t *t;
    if (!team) {
        return 0;
    }
    json_array_foreach(s->teams, i, t)
    {
        if (json_is_string(t) && strcmp(json_string_value(t), team) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Did participant pid leave one of the site's teams after base_seq (a change
 * logged with scope2 = that team)?  Then an op based on base_seq was made while
 * the person was still in the site's scope.
 */
static int moved_out_after(struct cb_conn *c, const struct cb_site *s, const char *pid,
                           int64_t base_seq)
{
    sqlite3_stmt *st;
    char *teams = cb_json_dump(s->teams);
    int found = 0;
    if (teams && pid &&
        cb_conn_prepare(c,
                        "SELECT 1 FROM changes WHERE tbl = 'participants' AND row_id = ?1 AND "
                        "seq > ?2 AND scope2 IN (SELECT value FROM json_each(?3)) LIMIT 1",
                        &st) == CB_OK) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, base_seq);
        sqlite3_bind_text(st, 3, teams, -1, SQLITE_TRANSIENT);
        found = sqlite3_step(st) == SQLITE_ROW;
        cb_stmt_done(st);
    }
    free(teams);
    return found;
}

/*
 * The teams of participants central has read or written in the current push
 * turn: most records of a batch are about people met a few ops before (their
 * own row, or an earlier record), and every new record looks its person's team
 * up.  Direct-mapped on the id; an entry holds a team as read inside the
 * turn's write transaction, and every op on a participants row drops that
 * person's entry before it is applied (person_cache_forget), so an entry is
 * always the team the database holds.  Owned by the turn, one per batch.
 */
#define PERSON_CACHE_SLOTS 512 /* a power of two (~60 KiB) */
struct person_cache {
    struct {
        char pid[40]; /* "" when empty */
        char team[80];
    } e[PERSON_CACHE_SLOTS];
};

static size_t person_slot(const char *pid)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = pid; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    return (size_t)(h & (PERSON_CACHE_SLOTS - 1));
}

/* Drop pid's entry (a participants op is about to change, or not, its row). */
static void person_cache_forget(struct person_cache *pc, const char *pid)
{
    if (pc && pid) {
        size_t i = person_slot(pid);
        if (strcmp(pc->e[i].pid, pid) == 0) {
            pc->e[i].pid[0] = '\0';
        }
    }
}

/* Remember that pid's team is team (both as the database now holds them);
 * ids or teams too long for an entry are not kept. */
static void person_cache_put(struct person_cache *pc, const char *pid, const char *team)
{
    if (pc && pid && team && strlen(pid) < sizeof(pc->e[0].pid) &&
        strlen(team) < sizeof(pc->e[0].team)) {
        size_t i = person_slot(pid);
        memcpy(pc->e[i].pid, pid, strlen(pid) + 1);
        memcpy(pc->e[i].team, team, strlen(team) + 1);
    }
}

/*
 * The current team of participant pid at central into out (CB_ENOTFOUND when
 * there is no such person or they have no team).  Reads one column, not the
 * whole row, and only when pc (NULL: none) has no entry for pid: this runs for
 * every new record a site pushes.  A person not found is not remembered (they
 * may arrive later in the batch).
 */
static int person_team(struct cb_conn *c, struct person_cache *pc, const char *pid, char *out,
                       size_t len)
{
    if (pc) {
        size_t i = person_slot(pid);
        if (strcmp(pc->e[i].pid, pid) == 0) {
            snprintf(out, len, "%s", pc->e[i].team);
            return CB_OK;
        }
    }
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT team FROM participants WHERE id = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, pid, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        const char *team = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, len, "%s", team);
        person_cache_put(pc, pid, team);
        rc = CB_OK;
    } else {
        rc = s == SQLITE_ROW || s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/*
 * May this site write this op?  Rows of its teams' participants, programmes
 * and sessions; conflicts only to resolve them; never accounts or teams.
 */
static int op_allowed(struct cb_conn *c, struct person_cache *pc, const struct cb_site *s,
                      const char *tbl, const char *row_id, const json_t *fields,
                      const json_t *current, int64_t base_seq, const char **why, char *pteam,
                      size_t pteam_len)
{
    static const char *const forbidden[] = {"users", "teams", NULL};
    for (const char *const *f = forbidden; *f; f++) {
        if (strcmp(tbl, *f) == 0) {
            *why = "accounts and teams are managed on central";
            return 0;
        }
    }
    if (strcmp(tbl, "venues") == 0) {
        const char *team = cb_json_str(current ? current : fields, "team");
        if (!site_has_team(s, team) || (current && cb_json_str(fields, "team") &&
                                        !site_has_team(s, cb_json_str(fields, "team")))) {
            *why = "venue outside the site's teams";
            return 0;
        }
        return 1;
    }
    if (strcmp(tbl, "conflicts") == 0) {
        const char *key;
        json_t *v;
        if (!current) {
            *why = "conflicts are created by central";
            return 0;
        }
        json_object_foreach((json_t *)(uintptr_t)fields, key, v)
        {
            (void)v;
            if (strcmp(key, "status") && strcmp(key, "resolution_note") &&
                strcmp(key, "resolved_by") && strcmp(key, "resolved_at")) {
                *why = "only a conflict's resolution can be changed";
                return 0;
            }
        }
    }
    /* The row's team now (at central), and after this write. */
    const char *team_now = current ? cb_json_str(current, "team") : NULL;
    const char *team_new = cb_json_str(fields, "team");
    if (current && !site_has_team(s, team_now)) {
        /* An edit made before the site learnt that the person moved away is still
         * the site's to send (the old site keeps them until its push). */
        const char *pid =
            strcmp(tbl, "participants") == 0 ? row_id : cb_json_str(current, "participant_id");
        if (moved_out_after(c, s, pid, base_seq)) {
            return 1;
        }
        *why = "record outside the site's teams";
        return 0;
    }
    const char *pid =
        strcmp(tbl, "participants") == 0 ? NULL : cb_json_str(fields, "participant_id");
    const char *cur_pid = current ? cb_json_str(current, "participant_id") : NULL;
    if (current && pid && (!cur_pid || strcmp(cur_pid, pid) != 0)) {
        /* Re-pointing a record at another person (a merge does): the new person must be
         * the site's too, or a site could move its records onto anyone whose id it knows. */
        char team[80];
        int ok = person_team(c, pc, pid, team, sizeof(team)) == CB_OK && site_has_team(s, team);
        if (!ok) {
            *why = "record about a person outside the site's teams";
            return 0;
        }
    }
    if (!current && pid) {
        /* A new record about a person: the person's team decides (the row's team is
         * copied from them), whatever team the row claims.  The team read is handed
         * back in pteam, so the caller does not read it again. */
        char team[80];
        int found = person_team(c, pc, pid, team, sizeof(team)) == CB_OK;
        if (found) {
            snprintf(pteam, pteam_len, "%s", team);
        }
        int ok = found && (site_has_team(s, team) || moved_out_after(c, s, pid, base_seq));
        *why = "record about a person outside the site's teams";
        return ok;
    }
    if (!current && !site_has_team(s, team_new)) {
        *why = "record outside the site's teams";
        return 0;
    }
    (void)row_id;
    return 1;
}

/*
 * Was anything logged for row_id of tbl after base_seq, other than the site's
 * own exact writes (which it is never sent)?  Then the site will pull that
 * change after pushing this op, and needs this op's change after it too, or it
 * would keep the older value.  Uses index changes_row.  Errors count as yes.
 */
static int row_changed_since(struct cb_conn *c, const char *tbl, const char *row_id,
                             int64_t base_seq, const char *site_id)
{
    sqlite3_stmt *st;
    int found = 1;
    if (cb_conn_prepare(c,
                        "SELECT 1 FROM changes WHERE row_id = ?1 AND seq > ?2 AND tbl = ?3 AND "
                        "NOT (exact = 1 AND site = ?4) LIMIT 1",
                        &st) == CB_OK) {
        sqlite3_bind_text(st, 1, row_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, base_seq);
        sqlite3_bind_text(st, 3, tbl, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, site_id, -1, SQLITE_TRANSIENT);
        found = sqlite3_step(st) != SQLITE_DONE;
        cb_stmt_done(st);
    }
    return found;
}

/* Version triple of field in versions: returns 1 when present. */
static int version_of(const json_t *versions, const char *field, int64_t *seq, uint64_t *hlc,
                      const char **site)
{
    json_t *v = cb_capture_version(versions, field);
    if (!json_is_array(v) || json_array_size(v) != 3) {
        return 0;
    }
    *seq = json_integer_value(json_array_get(v, 0));
    *hlc = (uint64_t)json_integer_value(json_array_get(v, 1));
    *site = json_string_value(json_array_get(v, 2));
    if (!*site) {
        *site = "";
    }
    return 1;
}

/* (hlc, site) ordering: 1 if a wins over b. */
static int wins(uint64_t ha, const char *sa, uint64_t hb, const char *sb)
{
    if (ha != hb) {
        return ha > hb;
    }
    return strcmp(sa, sb) > 0;
}

/* Record a conflict (both values kept) as a synced conflicts row. */
static int record_conflict(struct cb_conn *c, const char *tbl, const char *row_id,
                           const char *field, int64_t base_seq, const json_t *winner, uint64_t whlc,
                           const char *wsite, const json_t *loser, uint64_t lhlc, const char *lsite,
                           const json_t *row)
{
    char id[CB_UUID_STRLEN], now[CB_TIME_STRLEN];
    int rc = cb_uuid7(id);
    if (rc) {
        return rc;
    }
    char *wv = winner ? cb_json_dump(winner) : NULL;
    char *lv = loser ? cb_json_dump(loser) : NULL;
    const char *pid =
        strcmp(tbl, "participants") == 0 ? row_id : cb_json_str(row, "participant_id");
    const char *team = cb_json_str(row, "team");
    cb_time_format(cb_now_ms(), now);
    json_t *f = json_pack("{s:s, s:s, s:s, s:I, s:s?, s:I, s:s, s:s?, s:I, s:s, s:s, s:s?, "
                          "s:s?, s:s, s:n, s:i}",
                          "tbl", tbl, "row_id", row_id, "field", field, "base_seq",
                          (json_int_t)base_seq, "winner_value", wv, "winner_hlc", (json_int_t)whlc,
                          "winner_site", wsite, "loser_value", lv, "loser_hlc", (json_int_t)lhlc,
                          "loser_site", lsite, "status", "open", "participant_id", pid, "team",
                          team, "created_at", now, "created_by", "deleted", 0);
    free(wv);
    free(lv);
    if (!f) {
        return CB_ENOMEM;
    }
    rc = cb_record_apply(c, &cb_table_conflicts, id, f, now);
    if (rc == CB_OK) {
        uint64_t h = cb_hlc_tick(cb_store_hlc(cb_conn_store(c)), cb_now_ms());
        rc = cb_capture_append(c, "conflicts", id, f, h, CB_SITE_CENTRAL, 0, 0,
                               team ? team : CB_SCOPE_NOWHERE, NULL, 1, NULL);
    }
    json_decref(f);
    return rc;
}

struct push_stats {
    int applied, conflicts, rejected, restamped, duplicates;
};

/*
 * Field by field: a value whose current version is newer than the op's base
 * and from another site is concurrent: the higher (hlc, site) wins, both
 * values are kept in a conflict, and a losing value is re-asserted.
 */
static int merge_fields(struct cb_conn *c, const struct cb_site *s, const char *tbl,
                        const char *row_id, const json_t *fields, const json_t *current,
                        const json_t *versions, int64_t base, uint64_t hlc, json_t *apply,
                        json_t *reassert, struct push_stats *stats)
{
    int rc = CB_OK;
    const char *key;
    json_t *v;
    int64_t vseq;
    uint64_t vhlc;
    const char *vsite;
    json_object_foreach((json_t *)(uintptr_t)fields, key, v)
    {
        if (rc) {
            break;
        }
        if (current && version_of(versions, key, &vseq, &vhlc, &vsite) && vseq > base &&
            strcmp(vsite, s->id) != 0) {
            json_t *cur = json_object_get(current, key);
            if (json_equal(cur, v)) {
                rc = json_object_set(apply, key, v) ? CB_ENOMEM : CB_OK; /* no conflict */
                continue;
            }
            stats->conflicts++;
            if (wins(hlc, s->id, vhlc, vsite)) {
                rc = record_conflict(c, tbl, row_id, key, base, v, hlc, s->id, cur, vhlc, vsite,
                                     current);
                if (rc == CB_OK && json_object_set(apply, key, v)) {
                    rc = CB_ENOMEM;
                }
            } else {
                rc = record_conflict(c, tbl, row_id, key, base, cur, vhlc, vsite, v, hlc, s->id,
                                     current);
                if (rc == CB_OK && json_object_set(reassert, key, cur ? cur : json_null())) {
                    rc = CB_ENOMEM;
                }
            }
        } else if (json_object_set(apply, key, v)) {
            rc = CB_ENOMEM; /* never an op consumed with a value left out */
        }
    }
    return rc;
}

/* Caps on one pushed value (docs/SYNC.md, "Sizes"): a row, and so any change
 * central logs for it (a row re-logged whole included), stays far below what
 * one change and one pull page may hold (CB_CHANGE_TEXT_MAX, PULL_PAGE_CAP). */
#define VALUE_JSON_MAX  ((size_t)1024 * 1024) /* the text of a JSON-typed value */
#define VALUE_OTHER_MAX ((size_t)4096)        /* a value of a column of another type */

/*
 * Is value v of synced column key within its size cap?  f: its declared
 * field, NULL for created_at, created_by and deleted.  Text fields may take 4
 * bytes (UTF-8's most) per character they allow; a JSON-typed value is
 * measured by its text (dumped: the op's map of those texts, struct push_pre;
 * else written here, up to the cap); any other value VALUE_OTHER_MAX, by its
 * text when it is no string.  Sizes only: central does not re-validate what a
 * site validated.  CB_OK, CB_ETOOLARGE, or CB_ENOMEM.
 */
static int value_fits(const struct cb_field *f, const char *key, const json_t *v,
                      const json_t *dumped)
{
    size_t cap = VALUE_OTHER_MAX;
    if (f && (f->type == CB_F_LINE || f->type == CB_F_TEXT) && f->max_chars * 4 > cap) {
        cap = f->max_chars * 4;
    } else if (f && (f->type == CB_F_JSON || f->type == CB_F_STRSET)) {
        const json_t *text = dumped ? json_object_get(dumped, key) : NULL;
        if (json_is_string(text)) {
            return json_string_length(text) <= VALUE_JSON_MAX ? CB_OK : CB_ETOOLARGE;
        }
        cap = VALUE_JSON_MAX;
    }
    if (json_is_string(v)) {
        return json_string_length(v) <= cap ? CB_OK : CB_ETOOLARGE;
    }
    if (!json_is_object(v) && !json_is_array(v)) {
        return CB_OK; /* a number, true, false or null */
    }
    struct cb_buf b;
    cb_buf_init(&b, cap);
    int rc = cb_json_buf_add_value(&b, v);
    cb_buf_free(&b);
    return rc;
}

/*
 * Apply one op at central (caller holds the transaction).  Field by field:
 * a value whose current version is newer than the op's base and from another
 * site is concurrent: the higher (hlc, site) wins and both values are kept in
 * a conflict.  A delete racing edits, or an edit of a row deleted
 * concurrently, is a conflict on the "deleted" field.  Lost values are
 * re-asserted so every replica converges on the winner.  fields_text: NULL,
 * or the op's fields as cb_json_buf_add_value writes them (fields_len bytes),
 * taken before the turn (struct push_pre); dumped: NULL, or the op's map of
 * the texts of its JSON-typed values (struct push_pre), which holds for the
 * row written too: every JSON-typed value it writes is the op's own (central
 * only changes a record's team and deleted, which are not JSON-typed).
 */
static int apply_op(struct cb_conn *c, struct person_cache *pc, const struct cb_site *s,
                    const json_t *op, const char *fields_text, size_t fields_len,
                    const json_t *dumped, struct push_stats *stats, json_t *rejected)
{
    const char *tbl = cb_json_str(op, "tbl");
    const char *row_id = cb_json_str(op, "row_id");
    json_t *fields = json_object_get(op, "fields");
    json_int_t op_id = json_integer_value(json_object_get(op, "op_id"));
    int64_t base = json_integer_value(json_object_get(op, "base_seq"));
    uint64_t hlc = (uint64_t)json_integer_value(json_object_get(op, "hlc"));
    const struct cb_table *t = tbl ? cb_table_find(tbl) : NULL;
    const char *why = NULL;
    int restamped = 0;
    int altered = 0; /* central changed a value the site sent */

    char why_buf[96];
    if (!t || !cb_capture_synced(tbl) || !row_id || !cb_uuid_valid(row_id) ||
        !json_is_object(fields) || json_object_size(fields) == 0) {
        why = "malformed change";
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(fields, key, v)
        {
            const struct cb_field *f = cb_table_field(t, key);
            if (!f && !cb_record_synced_column(t, key)) {
                why = "unknown field";
                break;
            }
            int frc = value_fits(f, key, v, dumped);
            if (frc == CB_ENOMEM) {
                return frc;
            }
            if (frc) {
                /* the key is a column's name (checked above) */
                snprintf(why_buf, sizeof(why_buf), "value too long: %s", key);
                why = why_buf;
                break;
            }
        }
    }
    json_t *current = NULL;
    char pteam[80] = ""; /* the person's team, when op_allowed read it */
    if (!why && t == &cb_table_participants) {
        person_cache_forget(pc, row_id); /* whatever this op does to the person's team */
    }
    if (!why) {
        int rc = cb_record_get_synced(c, t, row_id, &current);
        if (rc && rc != CB_ENOTFOUND) {
            return rc;
        }
        if (op_allowed(c, pc, s, tbl, row_id, fields, current, base, &why, pteam, sizeof(pteam))) {
            why = NULL;
        }
    }
    if (!why && t != &cb_table_participants && cb_table_field(t, "team")) {
        /* A record follows its person: its team is the person's current team (a
         * site may have written it before it learnt of a move) whenever the op
         * writes the team, creates the row, or points the row at another person
         * (a merge, or its undo: the new person's team, never the old one's). */
        const char *new_pid = cb_json_str(fields, "participant_id");
        const char *cur_pid = current ? cb_json_str(current, "participant_id") : NULL;
        int repoint = current && new_pid && (!cur_pid || strcmp(cur_pid, new_pid) != 0);
        const char *pid = new_pid ? new_pid : cur_pid;
        const char *sent = cb_json_str(fields, "team");
        char team[80];
        if (pid && (json_object_get(fields, "team") || repoint || !current) &&
            (pteam[0] ? snprintf(team, sizeof(team), "%s", pteam) >= 0
                      : person_team(c, pc, pid, team, sizeof(team)) == CB_OK) &&
            (!sent || strcmp(team, sent) != 0)) {
            json_object_set_new(fields, "team", json_string(team));
            altered = 1;
        }
    }
    if (why) {
        json_array_append_new(rejected, json_pack("{s:I, s:s}", "op_id", op_id, "reason", why));
        stats->rejected++;
        json_decref(current);
        return CB_OK;
    }
    int64_t now = cb_now_ms();
    struct cb_hlc *clock = cb_store_hlc(cb_conn_store(c));
    if (cb_hlc_too_far_ahead(hlc, now)) {
        hlc = cb_hlc_tick(clock, now); /* a wrong clock cannot win every conflict */
        restamped = 1;
        stats->restamped++;
    } else {
        cb_hlc_observe(clock, hlc, now);
    }
    json_t *versions = NULL;
    /* A row central does not have has no versions either (central never removes
     * a row; its row_meta goes with it): no read for a new row. */
    int rc = current ? cb_capture_versions(c, tbl, row_id, &versions)
                     : ((versions = json_object()) ? CB_OK : CB_ENOMEM);
    if (rc) {
        json_decref(current);
        return rc;
    }
    json_t *apply = json_object();
    json_t *reassert = json_object();
    if (!apply || !reassert) {
        json_decref(apply);
        json_decref(reassert);
        json_decref(versions);
        json_decref(current);
        return CB_ENOMEM; /* the batch rolls back: an op is never consumed unapplied */
    }
    int64_t vseq;
    uint64_t vhlc;
    const char *vsite;
    int is_delete = json_integer_value(json_object_get(fields, "deleted")) == 1 ||
                    json_is_true(json_object_get(fields, "deleted"));
    int row_deleted = current && json_integer_value(json_object_get(current, "deleted")) == 1;

    if (current && row_deleted && !is_delete &&
        version_of(versions, "deleted", &vseq, &vhlc, &vsite) && vseq > base &&
        strcmp(vsite, s->id) != 0) {
        /* An edit racing a delete. */
        int edit_wins = wins(hlc, s->id, vhlc, vsite);
        json_t *del = json_integer(1);
        rc = edit_wins ? record_conflict(c, tbl, row_id, "deleted", base, fields, hlc, s->id, del,
                                         vhlc, vsite, current)
                       : record_conflict(c, tbl, row_id, "deleted", base, del, vhlc, vsite, fields,
                                         hlc, s->id, current);
        json_decref(del);
        stats->conflicts++;
        if (edit_wins) {
            /* Resurrected, but the edit's fields are still decided one by one: a
             * value written concurrently before the delete is kept in a conflict too. */
            if (rc == CB_OK) {
                rc = merge_fields(c, s, tbl, row_id, fields, current, versions, base, hlc, apply,
                                  reassert, stats);
            }
            if (rc == CB_OK && json_object_set_new(apply, "deleted", json_integer(0))) {
                rc = CB_ENOMEM;
            }
        } else {
            /* The losing site holds its edit locally: re-send the current values of
             * the fields it edited, not just the tombstone, so that it converges. */
            const char *key;
            json_t *v;
            json_object_foreach(fields, key, v)
            {
                json_t *cur = json_object_get(current, key);
                if (json_object_set(reassert, key, cur ? cur : json_null())) {
                    rc = CB_ENOMEM;
                }
            }
            if (json_object_set_new(reassert, "deleted", json_integer(1))) {
                rc = CB_ENOMEM;
            }
        }
    } else if (current && is_delete && !row_deleted) {
        /* A delete racing edits: the newest concurrent edit decides. */
        const char *key;
        json_t *v;
        uint64_t best_h = 0;
        const char *best_site = NULL;
        json_object_foreach(versions, key, v)
        {
            if (version_of(versions, key, &vseq, &vhlc, &vsite) && vseq > base &&
                strcmp(vsite, s->id) != 0 && (!best_site || wins(vhlc, vsite, best_h, best_site))) {
                best_h = vhlc;
                best_site = vsite;
            }
        }
        if (best_site) {
            int del_wins = wins(hlc, s->id, best_h, best_site);
            stats->conflicts++;
            json_t *del = json_integer(1);
            rc = del_wins ? record_conflict(c, tbl, row_id, "deleted", base, del, hlc, s->id,
                                            current, best_h, best_site, current)
                          : record_conflict(c, tbl, row_id, "deleted", base, current, best_h,
                                            best_site, del, hlc, s->id, current);
            json_decref(del);
            if (rc == CB_OK &&
                (del_wins ? json_object_update(apply, fields)
                          : json_object_set_new(reassert, "deleted", json_integer(0)))) {
                rc = CB_ENOMEM;
            }
        } else if (json_object_update(apply, fields)) {
            rc = CB_ENOMEM;
        }
    } else if (!current) {
        /* A new row: every field is applied as sent (nothing to merge with), so
         * apply is the op's own object rather than a copy of it. */
        json_decref(apply);
        apply = json_incref(fields);
    } else {
        rc = merge_fields(c, s, tbl, row_id, fields, current, versions, base, hlc, apply, reassert,
                          stats);
    }
    char scope[80], old_team[80] = "";
    int shared = 0, clashed = 0;
    int moving = current && json_is_string(json_object_get(apply, "team")) &&
                 cb_json_str(current, "team") &&
                 strcmp(cb_json_str(current, "team"), cb_json_str(apply, "team")) != 0;
    if (moving) {
        snprintf(old_team, sizeof(old_team), "%s", cb_json_str(current, "team"));
    }
    if (rc == CB_OK && json_object_size(apply) > 0) {
        char iso[CB_TIME_STRLEN];
        cb_time_format(now, iso);
        int existed = current != NULL;
        rc = cb_record_apply_dumped(c, t, row_id, apply, json_is_object(dumped) ? dumped : NULL,
                                    iso, 0, &existed);
        if (rc == CB_OK && !current && t == &cb_table_participants) {
            /* A new person, inserted with exactly apply's team: their records are
             * usually next in the batch. */
            person_cache_put(pc, row_id, cb_json_str(apply, "team"));
        }
        if (rc == CB_ECONFLICT) {
            /* The row clashes with another on a unique key: keep the site's values in a
             * conflict for a person, rather than block the site's queue.  A row central
             * has stays as it is, and its values of the fields the op wrote are sent
             * back (below), so the site converges on them; of a new row central has
             * nothing to send. */
            stats->conflicts++;
            clashed = 1;
            rc = record_conflict(c, tbl, row_id, "*", base, NULL, 0, CB_SITE_CENTRAL, fields, hlc,
                                 s->id, current ? current : fields);
            const char *key;
            json_t *v;
            json_object_clear(reassert);
            json_object_foreach(current && rc == CB_OK ? fields : NULL, key, v)
            {
                json_t *cur = json_object_get(current, key);
                if (json_object_set(reassert, key, cur ? cur : json_null())) {
                    rc = CB_ENOMEM;
                }
            }
        }
        if (rc == CB_OK && !clashed) {
            /* A new row was just inserted with exactly apply's columns. */
            rc = current ? CB_ENOTFOUND
                         : cb_capture_scope_values(tbl, apply, scope, sizeof(scope), &shared);
            if (rc == CB_ENOTFOUND) {
                rc = cb_capture_scope(c, tbl, row_id, scope, sizeof(scope), &shared);
            }
        }
        if (rc == CB_OK) {
            /* A move goes to the old team's sites only (scope2): the new team's sites
             * receive the whole row from the re-log below, never a partial row they
             * cannot insert. */
            /* Exactly the site's op (nothing dropped, added or changed, no move, its
             * own HLC) and nothing else logged for the row since the op's base (which
             * the site would pull after its push and apply over its value): the site
             * already holds the result, so it is not sent back. */
            unsigned flags = restamped ? CB_CHANGE_RESTAMPED : 0;
            /* Nothing is logged for a row central does not have (it never removes
             * rows), so a new row needs no look at the log. */
            if (!restamped && !altered && !moving && json_equal(apply, fields) &&
                (!current || !row_changed_since(c, tbl, row_id, base, s->id))) {
                flags |= CB_CHANGE_EXACT;
            }
            /* A new row's change is the op's own fields (apply is that object),
             * whose text was taken before the turn, unless central changed them. */
            int as_sent = apply == fields && !altered && fields_text;
            rc = cb_capture_append_stamp(c, tbl, row_id, apply, as_sent ? fields_text : NULL,
                                         as_sent ? fields_len : 0, hlc, s->id, op_id, flags,
                                         moving   ? old_team
                                         : shared ? NULL
                                                  : scope,
                                         moving ? old_team : NULL, versions);
        }
        if (rc == CB_OK && moving && !clashed) {
            rc = cb_capture_relog_moved(c, tbl, row_id);
        }
        stats->applied += !clashed;
    }
    if (rc == CB_OK && json_object_size(reassert) > 0) {
        /* Re-send the winning values so the losing site converges too. */
        const char *key;
        json_t *v;
        json_object_foreach(reassert, key, v)
        {
            if (rc) {
                break;
            }
            json_t *one = json_pack("{s:O}", key, v);
            int64_t s2;
            uint64_t h2;
            const char *site2;
            if (!version_of(versions, key, &s2, &h2, &site2)) {
                h2 = hlc;
                site2 = CB_SITE_CENTRAL;
            }
            rc = cb_capture_scope(c, tbl, row_id, scope, sizeof(scope), &shared);
            if (rc == CB_OK) {
                rc = cb_capture_append(c, tbl, row_id, one, h2, site2, 0, 0, shared ? NULL : scope,
                                       NULL, 0, NULL);
            }
            json_decref(one);
        }
    }
    json_decref(apply);
    json_decref(reassert);
    json_decref(versions);
    json_decref(current);
    return rc;
}

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME  1099511628211ULL

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * FNV_PRIME;
    }
    return h;
}

/*
 * Fold a JSON value into h: type tags, strings with their lengths, numbers as
 * their bytes; object members in their order (a resent op is the same stored
 * text, so the same order).  No allocation: this runs for every pushed op.
 */
static uint64_t hash_json(uint64_t h, const json_t *v, int depth)
{
    char tag = v ? (char)('0' + (int)json_typeof(v)) : 'x';
    h = fnv(h, &tag, 1);
    if (!v || depth > 16) {
        return h;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)(uintptr_t)v, key, m)
        {
            size_t n = strlen(key);
            h = fnv(h, &n, sizeof(n));
            h = fnv(h, key, n);
            h = hash_json(h, m, depth + 1);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            h = hash_json(h, m, depth + 1);
        }
        break;
    }
    case JSON_STRING: {
        size_t n = json_string_length(v);
        h = fnv(h, &n, sizeof(n));
        h = fnv(h, json_string_value(v), n);
        break;
    }
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        h = fnv(h, &i, sizeof(i));
        break;
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        h = fnv(h, &d, sizeof(d));
        break;
    }
    default: /* true, false, null: the tag says it all */
        break;
    }
    return h;
}

/*
 * The digest of an op kept in site_ops (ops consumed before migration 19): a
 * walk of the op's table, row, HLC and fields.  Only computed to compare with
 * one of those.
 */
static int64_t op_digest_v1(const json_t *op)
{
    uint64_t h = FNV_OFFSET;
    static const char *const keys[] = {"tbl", "row_id", "hlc", "fields", NULL};
    for (const char *const *k = keys; *k; k++) {
        h = hash_json(h, json_object_get(op, *k), 0);
    }
    return (int64_t)h;
}

/* Cap on one op's fields text written for its digest (a push body is at most
 * 32 MiB); past it the fields are walked instead. */
#define OP_TEXT_MAX ((size_t)32 * 1024 * 1024)

/*
 * A 64-bit digest of an op as the site sent it (table, row, HLC and fields;
 * taken before central changes anything) into *out: a resend of the op has the
 * same one.  Fields that are an object are hashed as their text, as
 * cb_json_buf_add_value writes it (which the change log takes anyway: text,
 * len; text NULL: written here); fields too long for a change are walked
 * instead (either way a function of the op alone).  Kept in site_op_runs
 * (migration 19 on).  CB_OK, or CB_ENOMEM.
 */
static int op_digest(const json_t *op, const char *text, size_t len, int64_t *out)
{
    uint64_t h = FNV_OFFSET;
    static const char *const keys[] = {"tbl", "row_id", "hlc", NULL};
    for (const char *const *k = keys; *k; k++) {
        h = hash_json(h, json_object_get(op, *k), 0);
    }
    const json_t *fields = json_object_get(op, "fields");
    struct cb_buf own;
    cb_buf_init(&own, OP_TEXT_MAX);
    int rc = CB_OK;
    if (json_is_object(fields) && !text) {
        rc = cb_json_buf_add_value(&own, fields);
        text = own.data;
        len = own.len;
    }
    if (rc == CB_ENOMEM) {
        cb_buf_free(&own);
        return rc;
    }
    if (json_is_object(fields) && rc == CB_OK && text) {
        h = fnv(h, "t", 1);
        h = fnv(h, &len, sizeof(len));
        h = fnv(h, text, len);
    } else {
        h = hash_json(h, fields, 0); /* not an object, or too long a text */
    }
    cb_buf_free(&own);
    *out = (int64_t)h;
    return CB_OK;
}

/*
 * The digests of the ops a push turn consumes: ops first .. first + n - 1 (a
 * turn consumes contiguous ids), n <= cap, written as one site_op_runs row at
 * the end of the turn (op_run_write) rather than a row per op.  Owned by the
 * turn; digests is malloc'd with room for every op of the batch.
 */
struct op_run {
    int64_t first;
    size_t n, cap;
    int64_t *digests;
};

#define RUN_DIGEST_BYTES 8 /* each digest big-endian in site_op_runs.digests */

static int64_t run_digest_at(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < RUN_DIGEST_BYTES; i++) {
        v = (v << 8) | b[i];
    }
    return (int64_t)v;
}

/*
 * The digest central stored for op op_id of site into *digest: 1 when it has
 * one.  Looks in run (this turn's ops, not yet written), then site_op_runs
 * (migration 19: a row per batch), then site_ops (migration 9: a row per op,
 * consumed before 19).  Caller's transaction.
 */
static int op_stored_digest(struct cb_conn *c, const struct op_run *run, const char *site,
                            int64_t op_id, int64_t *digest, int *v1)
{
    *v1 = 0;
    if (run->n > 0 && op_id >= run->first && op_id - run->first < (int64_t)run->n) {
        *digest = run->digests[op_id - run->first];
        return 1;
    }
    sqlite3_stmt *st;
    int found = 0;
    if (cb_conn_prepare(c,
                        "SELECT first_op, last_op, digests FROM site_op_runs WHERE site = ?1 AND "
                        "first_op <= ?2 ORDER BY first_op DESC LIMIT 1",
                        &st) == CB_OK) {
        sqlite3_bind_text(st, 1, site, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, op_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            int64_t first = sqlite3_column_int64(st, 0), last = sqlite3_column_int64(st, 1);
            const unsigned char *b = sqlite3_column_blob(st, 2);
            int len = sqlite3_column_bytes(st, 2);
            if (op_id <= last && b && last - first >= 0 &&
                (int64_t)len == (last - first + 1) * RUN_DIGEST_BYTES) {
                *digest = run_digest_at(b + (op_id - first) * RUN_DIGEST_BYTES);
                found = 1;
            }
        }
        cb_stmt_done(st);
    }
    if (!found && cb_conn_prepare(c, "SELECT digest FROM site_ops WHERE site = ?1 AND op_id = ?2",
                                  &st) == CB_OK) {
        sqlite3_bind_text(st, 1, site, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, op_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *digest = sqlite3_column_int64(st, 0);
            *v1 = 1; /* op_digest_v1's */
            found = 1;
        }
        cb_stmt_done(st);
    }
    return found;
}

/*
 * Is op op_id of site, with this digest, a different write from the op central
 * consumed under that id?  0 when it is the same op (a resend) or central has
 * no digest for that id (consumed before migration 9: taken for a resend).
 */
static int op_reused(struct cb_conn *c, const struct op_run *run, const char *site, int64_t op_id,
                     const json_t *op, int64_t digest)
{
    int64_t stored;
    int v1;
    return op_stored_digest(c, run, site, op_id, &stored, &v1) &&
           stored != (v1 ? op_digest_v1(op) : digest);
}

/* Remember the digest of op op_id, just consumed: the next of run. */
static void op_consumed(struct op_run *run, int64_t op_id, int64_t digest)
{
    assert(run->n < run->cap);
    assert(run->n == 0 || op_id == run->first + (int64_t)run->n);
    if (run->n == 0) {
        run->first = op_id;
    }
    run->digests[run->n++] = digest;
}

/* Write run (if it holds any op) as site's row of site_op_runs (caller's
 * transaction).  CB_ENOMEM, or the store's error. */
static int op_run_write(struct cb_conn *c, const struct op_run *run, const char *site)
{
    if (run->n == 0) {
        return CB_OK;
    }
    unsigned char *b = malloc(run->n * RUN_DIGEST_BYTES);
    if (!b) {
        return CB_ENOMEM;
    }
    for (size_t i = 0; i < run->n; i++) {
        uint64_t v = (uint64_t)run->digests[i];
        for (int k = RUN_DIGEST_BYTES - 1; k >= 0; k--) {
            b[i * RUN_DIGEST_BYTES + (size_t)k] = (unsigned char)(v & 0xff);
            v >>= 8;
        }
    }
    sqlite3_stmt *st;
    int rc =
        cb_conn_prepare(c,
                        "INSERT OR REPLACE INTO site_op_runs(site, first_op, last_op, digests) "
                        "VALUES (?1, ?2, ?3, ?4)",
                        &st);
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, site, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, run->first);
        sqlite3_bind_int64(st, 3, run->first + (int64_t)run->n - 1);
        sqlite3_bind_blob(st, 4, b, (int)(run->n * RUN_DIGEST_BYTES), SQLITE_STATIC);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    free(b);
    return rc;
}

/*
 * Pushes are applied one at a time (they would be anyway: each is one write
 * transaction): a push waiting for its turn sleeps on this mutex, and wakes
 * as soon as the one before it is done, rather than on SQLite's busy handler,
 * which retries after growing sleeps (up to 100 ms).  A site pipelines its
 * batches (site.c): the next one arrives, is parsed and its signature
 * checked (a SHA-256 of the body) while this one is applied, then waits here.
 * Taken for the nonce insert (a write: it goes into the batch's transaction),
 * the batch and the answer.
 */
static pthread_mutex_t push_turn = PTHREAD_MUTEX_INITIALIZER;
/* Pushes committed but not yet fsynced (cb_conn_begin_unsynced): raised
 * before a batch's COMMIT, lowered once its worker's fsync succeeded.  A pull
 * that finds it above 0 fsyncs before it answers, so no site is ever sent a
 * change that a power loss could take back (and whose seq central could
 * then give another change). */
static atomic_long push_unsynced;
static pthread_cond_t push_done = PTHREAD_COND_INITIALIZER; /* a push finished */
#define PUSH_TURN_WAIT_S 10 /* as SQLite's busy_timeout: then 503 busy */
#define PUSH_GAP_WAITS   10 /* times a batch after a gap lets others go first */
#define PUSH_GAP_WAIT_MS 50
_Static_assert(NONCE_TTL_MS >= 2 * MAX_TIME_SKEW_MS + PUSH_TURN_WAIT_S * 1000 +
                                   PUSH_GAP_WAITS * PUSH_GAP_WAIT_MS,
               "a nonce must outlive every request that can still record it");

/*
 * What is taken of a push body before the turn, as a function of the body
 * alone: each op's digest (op_digest), and the text of each op's fields as the
 * change log writes it (cb_json_buf_add_value), which the turn logs as it is
 * for an op applied exactly as sent (a new row).  Either part may be missing
 * (NULL: no list of at most MAX_OPS ops, memory, or the texts' cap): the turn
 * then takes it op by op.
 */
struct push_pre {
    size_t n;         /* ops in the body */
    int64_t *digests; /* n digests, or NULL */
    size_t *text_at;  /* n + 1 offsets into texts (op i: [text_at[i], text_at[i + 1])), or NULL */
    struct cb_buf texts; /* the texts back to back; an op whose fields are no object: none */
    /* n entries: op i's dumped map for cb_record_apply_dumped (the text of each
     * value of a JSON-typed column, cb_record_dump_json_fields), or null; or
     * NULL (no memory, or past PUSH_TEXTS_MAX with texts: dumped when applied) */
    json_t *dumped;
};
/* Cap on a push's fields texts, held while the batch waits for its turn: a
 * site's batches are at most 32 MiB (site.c), their texts smaller; past it
 * (a larger body, or escapes longer than their source) the turn writes them
 * itself, so a waiting push holds at most this much more than its body. */
#define PUSH_TEXTS_MAX ((size_t)32 * 1024 * 1024)

static int sync_push_turn(struct cb_req *r, struct cb_site *site, const struct push_pre *pre,
                          json_t **answer, struct cb_conn **held);
static void push_pre_text(const struct push_pre *pre, size_t i, const char **text, size_t *len);

/* Fill *pre from body (see struct push_pre); touches only body.  The caller
 * frees it with push_pre_free whatever was filled. */
static void push_pre_take(const json_t *body, struct push_pre *pre)
{
    const json_t *ops = json_object_get(body, "ops");
    size_t n = json_array_size(ops);
    memset(pre, 0, sizeof(*pre));
    cb_buf_init(&pre->texts, PUSH_TEXTS_MAX);
    if (!json_is_array(ops) || n == 0 || n > MAX_OPS) {
        return;
    }
    pre->n = n;
    pre->digests = malloc(n * sizeof(*pre->digests));
    pre->text_at = malloc((n + 1) * sizeof(*pre->text_at));
    int rc = pre->text_at ? CB_OK : CB_ENOMEM;
    for (size_t i = 0; rc == CB_OK && i < n; i++) {
        const json_t *fields = json_object_get(json_array_get(ops, i), "fields");
        pre->text_at[i] = pre->texts.len;
        if (json_is_object(fields)) {
            rc = cb_json_buf_add_value(&pre->texts, fields);
        }
    }
    if (rc == CB_OK) {
        pre->text_at[n] = pre->texts.len;
    } else {
        free(pre->text_at);
        pre->text_at = NULL;
        cb_buf_free(&pre->texts);
    }
    /* The texts of JSON-typed values, bound as they are applied (apply_op: the
     * values an op writes are its own).  Within the texts' cap too. */
    struct cb_buf scratch;
    cb_buf_init(&scratch, PUSH_TEXTS_MAX);
    size_t budget = PUSH_TEXTS_MAX;
    pre->dumped = json_array();
    for (size_t i = 0; pre->dumped && i < n; i++) {
        const json_t *op = json_array_get(ops, i);
        const char *tbl = cb_json_str(op, "tbl");
        const struct cb_table *t = tbl ? cb_table_find(tbl) : NULL;
        json_t *texts = NULL;
        if (t && cb_record_dump_json_fields(t, json_object_get(op, "fields"), &scratch, &texts)) {
            texts = NULL;
        }
        const char *key;
        json_t *v;
        json_object_foreach(texts, key, v)
        {
            size_t len = json_string_length(v);
            budget = len < budget ? budget - len : 0;
        }
        if (budget == 0) {
            json_decref(texts);
            texts = NULL;
        }
        if (budget == 0 || json_array_append_new(pre->dumped, texts ? texts : json_null())) {
            json_decref(pre->dumped);
            pre->dumped = NULL;
        }
    }
    cb_buf_free(&scratch);
    /* The digests after the texts: an op's fields are hashed as their text. */
    for (size_t i = 0; pre->digests && i < n; i++) {
        const char *text;
        size_t len;
        push_pre_text(pre, i, &text, &len);
        if (op_digest(json_array_get(ops, i), text, len, &pre->digests[i]) != CB_OK) {
            free(pre->digests);
            pre->digests = NULL; /* the turn takes them op by op */
        }
    }
}

static void push_pre_free(struct push_pre *pre)
{
    json_decref(pre->dumped);
    free(pre->digests);
    free(pre->text_at);
    cb_buf_free(&pre->texts);
}

/* The fields text of op i taken before the turn into *text, *len (NULL, 0:
 * none). */
static void push_pre_text(const struct push_pre *pre, size_t i, const char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    if (pre && pre->text_at && i < pre->n && pre->text_at[i] != pre->text_at[i + 1]) {
        assert(pre->text_at[i + 1] <= pre->texts.len);
        *text = pre->texts.data + pre->text_at[i];
        *len = pre->text_at[i + 1] - pre->text_at[i];
    }
}

/*
 * Does this push start past the site's mark (its first op is not
 * last_op_id + 1)?  Then, pipelined, it has overtaken the batch before it,
 * which should go first.  Read on r->db (the mark only moves with a push,
 * which holds push_turn like the caller); unknown site or no ops: 0 (the push
 * itself answers).
 */
static int push_after_gap(struct cb_req *r)
{
    const char *id = cb_req_header(r, "X-CB-Site");
    json_int_t first = json_integer_value(
        json_object_get(json_array_get(json_object_get(r->body, "ops"), 0), "op_id"));
    sqlite3_stmt *st;
    int gap = 0;
    if (id && first > 0 &&
        cb_conn_prepare(r->db, "SELECT last_op_id FROM sites WHERE id = ?1", &st) == CB_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        gap = sqlite3_step(st) == SQLITE_ROW && first > sqlite3_column_int64(st, 0) + 1;
        cb_stmt_done(st);
    }
    return gap;
}

static int sync_push(struct cb_req *r)
{
    struct timespec until;
    struct cb_site site;
    if (!is_central(r)) {
        return not_central(r);
    }
    if (cb_store_wal_failed(r->app->store)) {
        return storage_failed(r);
    }
    /* The signature is checked before the turn (it only reads), so hashing this
     * batch overlaps the apply of the one before; its nonce is recorded in the
     * turn, in the batch's transaction. */
    if (verify_site(r, &site) != CB_OK) {
        cb_site_clear(&site);
        return CB_OK;
    }
    /* Each op's digest and fields text too: functions of the body alone, taken
     * here rather than in the turn (struct push_pre). */
    struct push_pre pre;
    push_pre_take(r->body, &pre);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PUSH_TURN_WAIT_S;
    if (pthread_mutex_timedlock(&push_turn, &until) != 0) {
        push_pre_free(&pre);
        cb_site_clear(&site);
        return cb_reply_error(r, CB_EBUSY, NULL);
    }
    /* A pipelined batch that arrived before the one it follows lets it go first
     * (briefly: a batch that really follows a gap is answered as one). */
    for (int i = 0; i < PUSH_GAP_WAITS && push_after_gap(r); i++) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PUSH_GAP_WAIT_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&push_done, &push_turn, &until);
    }
    json_t *answer = NULL;
    struct cb_conn *held = NULL;
    int rc = sync_push_turn(r, &site, &pre, &answer, &held);
    pthread_cond_broadcast(&push_done);
    pthread_mutex_unlock(&push_turn);
    push_pre_free(&pre);
    cb_site_clear(&site);
    if (answer) {
        /* The batch was committed without waiting for the disk, so the next one is
         * applied while its WAL frames are synced here; only then is it
         * acknowledged (a failed sync is answered as an error: the site resends,
         * and what central has is taken as a resend). */
        int src = cb_conn_sync_wal(held);
        cb_store_sync_conn_put(r->app->store, held);
        if (src) {
            json_decref(answer);
            rc = storage_failed(r); /* push_unsynced stays raised: pulls fsync */
        } else {
            atomic_fetch_sub(&push_unsynced, 1);
            rc = cb_reply_json(r, 200, answer, NULL);
        }
    }
    /* The WAL pages the batch wrote are copied into the database here, on this
     * worker, while the next batch is applied (store.h: lent sync connections
     * do not checkpoint at commit). */
    cb_store_checkpoint(r->db);
    return rc;
}

/*
 * End the push transaction on db without applying it, keeping the request's
 * nonce: rolled back, the nonce is recorded again on its own, so a replay of
 * a refused push is refused as one, as when the nonce was recorded before the
 * batch.  Best effort (the request's answer is already decided).
 */
static void push_abandon(struct cb_conn *db, const struct cb_req *r)
{
    cb_conn_rollback(db);
    (void)record_nonce(db, r);
}

/*
 * POST /sync/v1/push, holding push_turn; site was verified by verify_site
 * (the caller clears it).  The request's nonce is recorded first in the
 * batch's transaction: committed with the batch, or on its own when the push
 * is refused (schema, malformed body, reused op ids, errors).  pre: what
 * push_pre_take took of the body.  The batch's transaction is unsynced
 * (cb_conn_begin_unsynced).  Every refusal is answered here, after the
 * connection is given back (which syncs); an applied batch is not answered:
 * *answer is its 200 body and *held the lent connection, both the caller's
 * (it syncs the WAL, gives the connection back and answers, after the turn).
 */
static int sync_push_turn(struct cb_req *r, struct cb_site *site_in, const struct push_pre *pre,
                          json_t **answer, struct cb_conn **held)
{
    static const char *const keys[] = {"ops", "pending", "oldest_pending_at", NULL};
    struct cb_field_error fe = {"", ""};
    struct cb_site site = *site_in; /* a shallow copy: site_in keeps ownership */
    struct push_stats stats = {0, 0, 0, 0, 0};
    /* The batch is applied on a lent sync connection: foreign keys are
     * checked by the sites that wrote the data, and rows may arrive in scope
     * order, not dependency order (store.h).  r->db holds no transaction. */
    struct cb_conn *db = NULL;
    int rc = cb_store_sync_conn_take(r->app->store, &db);
    if (rc == CB_OK) {
        rc = cb_conn_begin_unsynced(db); /* every refusal below is synced by put */
    }
    if (rc) {
        /* No transaction: the nonce is recorded on its own (best effort), and a
         * replay is answered as one. */
        int nrc = record_nonce(db ? db : r->db, r);
        cb_store_sync_conn_put(r->app->store, db);
        return nrc == CB_ECONFLICT ? refuse_nonce(r, nrc) : cb_reply_error(r, rc, NULL);
    }
    rc = record_nonce(db, r);
    if (rc) {
        cb_conn_rollback(db);
        cb_store_sync_conn_put(r->app->store, db);
        return refuse_nonce(r, rc);
    }
    /* The site as of this write transaction: verify_site read it before the
     * wait for the turn, and a revocation or a change of teams may have
     * committed since (neither takes the turn; both wait for this lock now). */
    struct cb_site fresh;
    rc = cb_site_get(db, site_in->id, &fresh);
    if (rc == CB_OK) {
        cb_site_clear(site_in);
        *site_in = fresh;
        site = fresh;
    }
    if (rc || site.revoked) {
        int crc = cb_conn_commit(db); /* the nonce alone */
        if (crc) {
            (void)record_nonce(db, r);
        }
        cb_store_sync_conn_put(r->app->store, db);
        if (rc) {
            return cb_reply_error(r, rc, NULL);
        }
        struct cb_audit_event e = {NULL,    "sync.refused", "sites",   site.id,
                                   r->addr, "denied",       "revoked", NULL};
        cb_audit(r->db, &e);
        return cb_reply_json(r, 403,
                             json_pack("{s:{s:s, s:s}, s:b}", "error", "code", "revoked", "message",
                                       "this site has been revoked: wipe the synced data", "wipe",
                                       1),
                             NULL);
    }
    const char *schema = cb_req_header(r, "X-CB-Schema");
    if (!schema || strtol(schema, NULL, 10) != cb_store_schema_version()) {
        rc = cb_conn_commit(db); /* the nonce alone */
        if (rc) {
            (void)record_nonce(db, r); /* the commit failed and rolled back */
        }
        cb_store_sync_conn_put(r->app->store, db);
        return rc ? cb_reply_error(r, rc, NULL) : check_schema(r);
    }
    rc = cb_json_only_keys(r->body, keys, &fe);
    json_t *ops = json_object_get(r->body, "ops");
    if (rc == CB_OK && (!json_is_array(ops) || json_array_size(ops) > MAX_OPS)) {
        rc = cb_field_fail(&fe, "ops", "must be a list of at most %d changes", MAX_OPS);
    }
    if (rc) {
        if (cb_conn_commit(db) != CB_OK) {
            push_abandon(db, r);
        }
        cb_store_sync_conn_put(r->app->store, db);
        return cb_reply_error(r, rc, &fe);
    }
    json_t *rejected = json_array();
    /* NULL (no memory): every lookup reads the database. */
    struct person_cache *persons = calloc(1, sizeof(*persons));
    struct op_run run = {0, 0, json_array_size(ops), NULL};
    int64_t last = site.last_op_id;
    /* An op id at or below `last` whose content differs from the op central consumed
     * under that id is not a resend but a new write under a reused id: the site was
     * restored from a backup (docs/SYNC.md, "Restored sites"). */
    json_int_t reused = 0;
    {
        /* The acknowledgement point as of this write transaction: the same batch may
         * be pushed twice at once (a retry, or `coachbox sync` racing the background
         * syncer), and the second must skip what the first applied. */
        sqlite3_stmt *ls;
        rc = cb_conn_prepare(db, "SELECT last_op_id FROM sites WHERE id = ?1", &ls);
        if (rc == CB_OK) {
            sqlite3_bind_text(ls, 1, site.id, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(ls) == SQLITE_ROW) {
                last = site.last_op_id = sqlite3_column_int64(ls, 0);
            }
            cb_stmt_done(ls);
        }
    }
    run.digests = malloc((run.cap ? run.cap : 1) * sizeof(*run.digests));
    if (rc == CB_OK && !run.digests) {
        rc = CB_ENOMEM;
    }
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        if (rc) {
            break;
        }
        json_int_t id = json_integer_value(json_object_get(op, "op_id"));
        if (!json_is_object(op) || id <= 0) {
            rc = cb_field_fail(&fe, "ops", "change %zu has no op_id", i);
            break;
        }
        const char *text;
        size_t text_len;
        push_pre_text(pre, i, &text, &text_len);
        int64_t digest = pre->digests ? pre->digests[i] : 0;
        if (!pre->digests) {
            rc = op_digest(op, text, text_len, &digest);
            if (rc) {
                break;
            }
        }
        if (id <= last) {
            if (op_reused(db, &run, site.id, id, op, digest)) {
                reused = id; /* a new write under an id already used: stop, apply nothing */
                break;
            }
            stats.duplicates++;
            continue; /* already applied: idempotent */
        }
        if (id != last + 1) {
            break; /* a gap: apply nothing past it; the site resends from the ack */
        }
        rc = apply_op(db, persons, &site, op, text, text_len,
                      pre->dumped ? json_array_get(pre->dumped, i) : NULL, &stats, rejected);
        if (rc == CB_OK) {
            op_consumed(&run, id, digest);
            last = id;
        }
    }
    free(persons);
    if (rc == CB_OK && !reused) {
        rc = op_run_write(db, &run, site.id);
    }
    free(run.digests);
    if (rc == CB_OK && reused) {
        /* Nothing was applied (every op before the reused one was a resend): answer
         * with central's mark so the site moves its waiting ops past it and resends. */
        push_abandon(db, r);
        cb_store_sync_conn_put(r->app->store, db);
        if (cb_store_wal_failed(r->app->store)) {
            json_decref(rejected);
            return storage_failed(r); /* the mark below may not be on disk */
        }
        char detail[160];
        snprintf(detail, sizeof(detail),
                 "op %lld reused (central has up to %lld): site restored from a backup",
                 (long long)reused, (long long)last);
        struct cb_audit_event e = {NULL,    "sync.restored", "sites", site.id,
                                   r->addr, "denied",        detail,  NULL};
        cb_audit(r->db, &e);
        fprintf(stderr, "coachbox: sync: site %s (%s): %s\n", site.name, site.id, detail);
        json_decref(rejected);
        return cb_reply_json(
            r, 409,
            json_pack("{s:{s:s, s:s}, s:I, s:I}", "error", "code", "op_ids_reused", "message",
                      "these op ids were already used by writes central has accepted: the site "
                      "was restored from a backup; renumber the waiting ops after last_op_id "
                      "and push again",
                      "last_op_id", (json_int_t)last, "first_reused", reused),
            NULL);
    }
    if (rc == CB_OK) {
        char now[CB_TIME_STRLEN];
        sqlite3_stmt *st;
        cb_time_format(cb_now_ms(), now);
        rc = cb_conn_prepare(db,
                             "UPDATE sites SET last_op_id = ?1, last_seen_at = ?2, "
                             "pending_reported = ?3, oldest_pending_at = ?4 WHERE id = ?5",
                             &st);
        if (rc == CB_OK) {
            json_int_t pending = json_integer_value(json_object_get(r->body, "pending"));
            pending -= (json_int_t)(last - site.last_op_id);
            sqlite3_bind_int64(st, 1, last);
            sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 3, pending > 0 ? pending : 0);
            const char *oldest = cb_json_str(r->body, "oldest_pending_at");
            if (oldest && pending > 0) {
                sqlite3_bind_text(st, 4, oldest, -1, SQLITE_TRANSIENT);
            }
            sqlite3_bind_text(st, 5, site.id, -1, SQLITE_TRANSIENT);
            rc = cb_store_rc(sqlite3_step(st));
            cb_stmt_done(st);
        }
    }
    if (rc == CB_OK) {
        /* Persist the clock with the batch: it observed the site's HLCs (hlc.h: never
         * backwards, not across restarts). */
        char hb[32];
        snprintf(hb, sizeof(hb), "%llu",
                 (unsigned long long)cb_hlc_peek(cb_store_hlc(cb_conn_store(db))));
        rc = cb_setting_set(db, "hlc", hb);
    }
    if (rc == CB_OK && stats.restamped) {
        struct cb_audit_event e = {NULL,
                                   "sync.restamped",
                                   "sites",
                                   site.id,
                                   r->addr,
                                   "ok",
                                   "site clock more than 5 minutes ahead",
                                   NULL};
        rc = cb_audit(db, &e);
    }
    if (rc == CB_OK) {
        atomic_fetch_add(&push_unsynced, 1); /* before the batch can be seen */
        rc = cb_conn_commit(db);
        if (rc) {
            atomic_fetch_sub(&push_unsynced, 1);
            (void)record_nonce(db, r); /* the commit failed and rolled back */
        }
    } else {
        push_abandon(db, r);
    }
    if (rc) {
        cb_store_sync_conn_put(r->app->store, db);
        json_decref(rejected);
        return cb_reply_error(r, rc, &fe);
    }
    *answer = json_pack("{s:I, s:i, s:i, s:i, s:i, s:o}", "ack", (json_int_t)last, "applied",
                        stats.applied, "conflicts", stats.conflicts, "duplicates", stats.duplicates,
                        "restamped", stats.restamped, "rejected", rejected);
    if (!*answer) {
        /* Committed, but no answer can be built: synced, and answered as an error
         * (the site resends; central takes the batch for a resend). */
        if (cb_conn_sync_wal(db) == CB_OK) {
            atomic_fetch_sub(&push_unsynced, 1); /* else it stays raised: pulls fsync */
        }
        cb_store_sync_conn_put(r->app->store, db);
        return cb_reply_error(r, CB_ENOMEM, NULL);
    }
    *held = db;
    return CB_OK;
}

/* ------------------------------------------------------------------ pull */

static int query_int(const struct cb_req *r, const char *name, long long def, long long lo,
                     long long hi, long long *out)
{
    char buf[32];
    int has = cb_req_query(r, name, buf, sizeof(buf));
    if (has == 0) {
        *out = def;
        return CB_OK;
    }
    char *end;
    errno = 0;
    long long v = has > 0 ? strtoll(buf, &end, 10) : -1;
    if (has < 0 || errno || *end || end == buf || v < lo || v > hi) {
        return CB_EINVAL;
    }
    *out = v;
    return CB_OK;
}

/*
 * Append one change of a pull page to b: {"seq","tbl","row_id","fields","hlc",
 * "site"}, with the stored fields text (compact JSON written by capture.c)
 * passed through as it is, not parsed and dumped again.
 */
static int page_add_change(struct cb_buf *b, sqlite3_stmt *st)
{
    const char *fields = (const char *)sqlite3_column_text(st, 3);
    int rc = cb_buf_addf(b, "{\"seq\":%lld,\"tbl\":", (long long)sqlite3_column_int64(st, 0));
    if (rc == CB_OK) {
        rc = cb_json_buf_add_string(b, (const char *)sqlite3_column_text(st, 1));
    }
    if (rc == CB_OK) {
        rc = cb_buf_adds(b, ",\"row_id\":");
    }
    if (rc == CB_OK) {
        rc = cb_json_buf_add_string(b, (const char *)sqlite3_column_text(st, 2));
    }
    if (rc == CB_OK) {
        rc = cb_buf_adds(b, ",\"fields\":");
    }
    if (rc == CB_OK) {
        /* capture.c stores an object; anything else would break the page. */
        rc = cb_buf_adds(b, fields && fields[0] == '{' ? fields : "{}");
    }
    if (rc == CB_OK) {
        rc = cb_buf_addf(b, ",\"hlc\":%lld,\"site\":", (long long)sqlite3_column_int64(st, 4));
    }
    if (rc == CB_OK) {
        rc = cb_json_buf_add_string(b, (const char *)sqlite3_column_text(st, 5));
    }
    return rc ? rc : cb_buf_add(b, "}", 1);
}

/*
 * GET /sync/v1/pull?since=SEQ&limit=N[&ops=OP]: a keyset page of the changes
 * in the site's scope, written as text (stored fields spliced in).  A site's
 * own writes that central logged exactly as sent (CB_CHANGE_EXACT) are left
 * out when their op id is at most OP (the ops the site says it holds; absent:
 * all of them); the cursor still moves past them.  The answer carries the
 * site's last_op_id, so a site restored from a backup learns that central has
 * ops it no longer has (docs/SYNC.md, "Restored sites").  A page also stops early at
 * PULL_PAGE_BYTES (then more = true and next = its last change).  Read on r->db in one snapshot.
 */
static int sync_pull(struct cb_req *r)
{
    struct cb_site site;
    long long since, limit, ops;
    if (!is_central(r)) {
        return not_central(r);
    }
    if (authenticate_site(r, &site) != CB_OK) {
        cb_site_clear(&site);
        return CB_OK;
    }
    if (query_int(r, "since", 0, 0, (long long)9e18, &since) ||
        query_int(r, "limit", PULL_DEFAULT, 1, PULL_MAX, &limit) ||
        query_int(r, "ops", (long long)9e18, 0, (long long)9e18, &ops)) {
        cb_site_clear(&site);
        return cb_reply_problem(r, 400, "invalid", "since and limit must be whole numbers", "since",
                                NULL);
    }
    char *teams = cb_json_dump(site.teams);
    sqlite3_stmt *st;
    /* NOT INDEXED: walk the log in seq order and stop at the page's limit.  Through the
     * scope indexes SQLite collects every later change in scope and sorts it for each
     * page, which made a full download quadratic. */
    int rc =
        teams ? cb_conn_prepare(r->db,
                                "SELECT seq, tbl, row_id, fields, hlc, site FROM changes "
                                "NOT INDEXED WHERE seq > ?1 AND (scope IS NULL OR scope IN "
                                "(SELECT value FROM json_each(?2)) OR scope2 IN "
                                "(SELECT value FROM json_each(?2))) AND NOT "
                                "(exact = 1 AND site = ?4 AND op_id <= ?5) ORDER BY seq LIMIT ?3",
                                &st)
              : CB_ENOMEM;
    struct cb_buf page;
    cb_buf_init(&page, PULL_PAGE_CAP);
    long long last = since;
    int n = 0, s = SQLITE_DONE, full = 0;
    /* One read snapshot for the page and the head, so nothing committed
     * between them is skipped. */
    int in_txn = 0;
    if (rc == CB_OK) {
        rc = cb_conn_exec(r->db, "BEGIN"); /* without it, no page: the head could skip */
        in_txn = rc == CB_OK;
    }
    if (rc == CB_OK) {
        rc = cb_buf_adds(&page, "{\"changes\":[");
    }
    if (rc == CB_OK) {
        sqlite3_bind_int64(st, 1, since);
        sqlite3_bind_text(st, 2, teams, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, limit);
        sqlite3_bind_text(st, 4, site.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, ops);
        while (rc == CB_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            size_t before = page.len;
            if (n > 0) {
                rc = cb_buf_add(&page, ",", 1);
            }
            if (rc == CB_OK) {
                rc = page_add_change(&page, st);
            }
            if (rc == CB_ETOOLARGE && n > 0) {
                /* Too large after the changes before it: the page ends there and
                 * the site asks again from them (alone, any change fits in a page:
                 * CB_CHANGE_TEXT_MAX). */
                cb_buf_truncate(&page, before);
                rc = CB_OK;
                full = 1;
                break;
            }
            last = sqlite3_column_int64(st, 0);
            n++;
            if (rc == CB_OK && page.len >= PULL_PAGE_BYTES) {
                full = 1; /* enough for one answer: the site asks again from last */
                break;
            }
        }
        cb_stmt_done(st);
        if (rc == CB_OK && !full && s != SQLITE_DONE) {
            rc = cb_store_rc(s);
        }
    }
    int more = full || n >= limit;
    /* With a short page the site is up to date with everything so far, its own
     * exact writes included. */
    long long head = last;
    if (rc == CB_OK && !more) {
        sqlite3_stmt *h;
        if (cb_conn_prepare(r->db, "SELECT coalesce(max(seq), 0) FROM changes", &h) == CB_OK) {
            if (sqlite3_step(h) == SQLITE_ROW && sqlite3_column_int64(h, 0) > head) {
                head = sqlite3_column_int64(h, 0);
            }
            cb_stmt_done(h);
        }
    }
    if (in_txn) {
        cb_conn_exec(r->db, "COMMIT");
    }
    /* A short page ends the round: the site has everything (GET /api/sites). The answer
     * stays right if the time cannot be written, so that failure is only logged. */
    if (rc == CB_OK && n < limit && cb_site_synced(r->db, site.id) != CB_OK) {
        fprintf(stderr, "coachbox: sync: could not record the sync time of site %s\n", site.id);
    }
    free(teams);
    if (rc == CB_OK) {
        rc = cb_buf_addf(&page, "],\"next\":%lld,\"more\":%s,\"last_op_id\":%lld,\"teams\":", head,
                         more ? "true" : "false", (long long)site.last_op_id);
    }
    if (rc == CB_OK) {
        char *tt = cb_json_dump(site.teams);
        rc = tt ? cb_buf_adds(&page, tt) : CB_ENOMEM;
        free(tt);
    }
    if (rc == CB_OK) {
        rc = cb_buf_add(&page, "}", 1);
    }
    cb_site_clear(&site);
    if (rc) {
        cb_buf_free(&page);
        return cb_reply_error(r, rc, NULL);
    }
    /* The page may hold a push committed but not yet on disk (its worker fsyncs
     * after giving up the turn): on disk before any site sees it. */
    if (cb_store_wal_failed(r->app->store) ||
        (atomic_load(&push_unsynced) > 0 && cb_conn_sync_wal_now(r->db) != CB_OK)) {
        cb_buf_free(&page);
        return storage_failed(r);
    }
    rc = cb_reply_json_text(r, 200, cb_buf_str(&page), page.len, NULL);
    cb_buf_free(&page);
    return rc;
}

/* ------------------------------------------------------------------ digest */

static int sync_digest(struct cb_req *r)
{
    struct cb_site site;
    char table[64] = "";
    if (!is_central(r)) {
        return not_central(r);
    }
    if (authenticate_site(r, &site) != CB_OK) {
        cb_site_clear(&site);
        return CB_OK;
    }
    if (cb_req_query(r, "table", table, sizeof(table)) < 0) {
        cb_site_clear(&site);
        return cb_reply_problem(r, 400, "invalid", "table is too long", "table", NULL);
    }
    json_t *out = NULL;
    int rc = cb_sync_digest(r->db, site.teams, table[0] ? table : NULL, &out);
    cb_site_clear(&site);
    if (rc == CB_EINVAL) {
        return cb_reply_problem(r, 400, "invalid", "no such synced table", "table", NULL);
    }
    if (rc) {
        return cb_reply_error(r, rc, NULL);
    }
    return cb_reply_json(r, 200, out, NULL);
}

static const struct cb_route_gate push_gate_ctx = {push_gate};

const struct cb_route cb_routes_sync[] = {
    {"POST", "/sync/v1/enroll", sync_enroll, CB_ROUTE_PUBLIC | CB_ROUTE_BODY | CB_ROUTE_CENTRAL,
     NULL},
    {"POST", "/sync/v1/push", sync_push,
     CB_ROUTE_PUBLIC | CB_ROUTE_BODY | CB_ROUTE_LARGE | CB_ROUTE_CENTRAL | CB_ROUTE_GATED,
     &push_gate_ctx},
    {"GET", "/sync/v1/pull", sync_pull, CB_ROUTE_PUBLIC | CB_ROUTE_CENTRAL, NULL},
    {"GET", "/sync/v1/digest", sync_digest, CB_ROUTE_PUBLIC | CB_ROUTE_CENTRAL, NULL},
};
const size_t cb_routes_sync_count = sizeof(cb_routes_sync) / sizeof(cb_routes_sync[0]);
