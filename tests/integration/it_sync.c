/*
 * it_sync.c - sync end to end (docs/SYNC.md): a real `coachbox central` and
 * three field servers (`coachbox serve`) on loopback: sites A and B serve team
 * bury-town, site C serves prestwich.  Rounds are run with `coachbox sync`
 * (the field servers' background syncers run too; every check is on the state
 * after explicit rounds, which is the same whichever process pushed first).
 *
 * Covered: enrollment (bad code, one use, sync before enrollment), replication
 * and scope, `sync --verify`, same-field conflicts (one winner everywhere, one
 * conflict record, resolution syncs), different-field edits, delete vs edit
 * both ways, central unreachable (outbox kept), disabling an account on
 * central, a participant moving team (old site removes them, new site receives
 * them, an edit waiting at the old site is kept until pushed, and not lost),
 * hand-signed requests to central (bad signature, tampered body, replay,
 * stale, unknown site, schema, out of scope, accounts, a new record about
 * another team's person, duplicates, gaps, a fast clock restamped, the same
 * batch twice at once, an op id reused with other content), central's clock
 * across a restart, a field server restored from a backup (new edits reusing op
 * ids, a backup holding an edit not yet pushed, a first round before any new
 * edit: every edit at central exactly once, the site gets back what it had
 * pushed after the backup), a site never restored unaffected, and revocation.
 *
 * Hand-signed pushes use site B's credentials (read from B's database) and
 * B's op ids; before B writes again its outbox sequence is raised past them,
 * as if B had sent them itself.
 *
 * The tests run in order and share the servers (one group); each stops what
 * it starts, and the group teardown (and an atexit guard) stops everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../server/migrations.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coachbox/err.h"
#include "coachbox/hlc.h"
#include "coachbox/record.h"
#include "coachbox/sign.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"
#include "harness.h"

#define PW       "sync-Password-4321"
#define CODE_MAX 32

enum { SA, SB, SC, NSITES };
static const char *const SITE_NAME[NSITES] = {"A", "B", "C"};
static const char *const SITE_TEAM[NSITES] = {"bury-town", "bury-town", "prestwich"};
static const char *const SITE_USER[NSITES] = {"coach.bury", "coach.bury", "coach.pres"};

static struct {
    /* central, started and stopped by this file */
    struct cbt_server central;
    char central_dir[512];
    /* field servers */
    char dir[NSITES][512];
    char site_id[NSITES][40];
    char code[NSITES][CODE_MAX];
    struct cbt_server srv[NSITES];
    int started[NSITES];
    struct cbt_client cl[NSITES]; /* coach of the site's team, signed in */
    struct cbt_client mgr_a;      /* a manager with a local account at A (moves people) */
    char junk_dir[512];           /* a data dir that tries a used code */
    /* shared records */
    char p_basic[40], e_basic[40], m_basic[40];
    char p_pres[40];  /* created at C (prestwich) */
    char p_conf[40];  /* conflicts, delete/edit */
    char p_moved[40]; /* moved to prestwich with nothing pending at B */
    char e_moved[40], m_moved[40];
    char p_pend[40]; /* moved while B had an edit waiting */
} G;

/* ================================================================ helpers */

static int contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; p && *p; p++) {
        if (strncasecmp(p, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* `coachbox sync --data DIR` must succeed. */
static void sync_ok(int site)
{
    char out[8192];
    int st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.dir[site], NULL);
    if (st != 0) {
        char err[512] = "", path[600];
        sqlite3 *db = NULL;
        snprintf(path, sizeof(path), "%s/coachbox.db", G.dir[site]);
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
            sqlite3_stmt *q = NULL;
            if (sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key = 'last_error'", -1,
                                   &q, NULL) == SQLITE_OK &&
                sqlite3_step(q) == SQLITE_ROW) {
                snprintf(err, sizeof(err), "%s", (const char *)sqlite3_column_text(q, 0));
            }
            sqlite3_finalize(q);
        }
        sqlite3_close(db);
        fail_msg("coachbox sync at site %s: exit %d: %s [last_error: %s]", SITE_NAME[site], st, out,
                 err);
    }
}

/* A pause between two edits at different sites, so the second has the later clock
 * (two requests can land in the same millisecond). */
static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void iso_ago(long secs, char out[CB_TIME_STRLEN])
{
    cb_time_format(cb_now_ms() - (int64_t)secs * 1000, out);
}

/* ---------------------------------------------------------------- central */

/* Start `coachbox central` on port (0: any), its output appended to one log
 * across restarts; 0 on success. */
static int central_start(int port)
{
    struct cbt_start_opts o = {.port = port, .append_log = 1};
    return cbt_start(&G.central, "central", G.central_dir, NULL, &o);
}

/* ---------------------------------------------------------------- HTTP */

/* method path [body, stolen] -> want; returns the parsed body (new ref, may be NULL). */
static json_t *api(struct cbt_client *c, const char *method, const char *path, json_t *body,
                   long want)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct cbt_resp r;
    if (cbt_request(c, method, path, text, &r) != 0) {
        free(text);
        fail_msg("%s %s%s: no HTTP response", method, c->base, path);
    }
    free(text);
    if (r.status != want) {
        fail_msg("%s %s%s: status %ld, want %ld: %s", method, c->base, path, r.status, want,
                 r.body);
    }
    json_t *j = json_incref(r.json);
    cbt_resp_free(&r);
    return j;
}

/* method path body at site with an Idempotency-Key (as the web outbox sends
 * every write) -> want. */
static void keyed_write(int site, const char *method, const char *path, const char *body,
                        const char *key, long want)
{
    char h[120];
    const char *hdr[] = {h, NULL};
    snprintf(h, sizeof(h), "Idempotency-Key: %s", key);
    struct cbt_resp r;
    if (cbt_request_ex(&G.cl[site], method, path, body, strlen(body), NULL, hdr, &r) != 0) {
        fail_msg("%s %s: no HTTP response", method, path);
    }
    if (r.status != want) {
        fail_msg("%s %s with a key: status %ld, want %ld: %s", method, path, r.status, want,
                 r.body);
    }
    cbt_resp_free(&r);
}

static long status_of(struct cbt_client *c, const char *method, const char *path)
{
    struct cbt_resp r;
    if (cbt_request(c, method, path, NULL, &r) != 0) {
        fail_msg("%s %s%s: no HTTP response", method, c->base, path);
    }
    long s = r.status;
    cbt_resp_free(&r);
    return s;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void create_person(int site, const char *given, const char *family, char id[40])
{
    json_t *p = api(&G.cl[site], "POST", "/api/participants",
                    json_pack("{s:s, s:s, s:s}", "given_name", given, "family_name", family,
                              "date_of_birth", "1979-03-14"),
                    201);
    assert_non_null(jstr(p, "id"));
    snprintf(id, 40, "%s", jstr(p, "id"));
    assert_string_equal(jstr(p, "team"), SITE_TEAM[site]);
    json_decref(p);
}

static void create_encounter(int site, const char *pid, const char *notes, char id[40])
{
    char at[CB_TIME_STRLEN];
    iso_ago(3600, at);
    json_t *e = api(&G.cl[site], "POST", "/api/encounters",
                    json_pack("{s:s, s:s, s:s, s:s}", "participant_id", pid, "type", "one_to_one",
                              "occurred_at", at, "notes", notes),
                    201);
    snprintf(id, 40, "%s", jstr(e, "id"));
    json_decref(e);
}

static void create_measure(int site, const char *pid, const char *eid, char id[40])
{
    char at[CB_TIME_STRLEN];
    iso_ago(3600, at);
    json_t *m = api(&G.cl[site], "POST", "/api/measures",
                    json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "participant_id", pid,
                              "encounter_id", eid, "instrument", "bmi", "timepoint", "baseline",
                              "taken_at", at, "responses", "height_cm", 170, "weight_kg", 80),
                    201);
    snprintf(id, 40, "%s", jstr(m, "id"));
    json_decref(m);
}

static void patch(int site, const char *path, json_t *body)
{
    json_decref(api(&G.cl[site], "PATCH", path, body, 200));
}

/* Move a person to another team at site A: a manager's job (a coach gets 403). */
static void move_at_a(const char *path, const char *team)
{
    json_decref(api(&G.cl[SA], "PATCH", path, json_pack("{s:s}", "team", team), 403));
    json_decref(api(&G.mgr_a, "PATCH", path, json_pack("{s:s}", "team", team), 200));
}

/* Conflicts on row_id (and field, if given) visible at site via the API. */
static json_t *conflicts_at(int site, const char *pid, const char *status, const char *row_id,
                            const char *field)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/conflicts?status=%s&participant_id=%s", status, pid);
    json_t *all = api(&G.cl[site], "GET", path, NULL, 200);
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(all, "items"), i, c)
    {
        if (strcmp(jstr(c, "row_id"), row_id) == 0 &&
            (!field || strcmp(jstr(c, "field"), field) == 0)) {
            json_array_append(out, c);
        }
    }
    json_decref(all);
    return out;
}

/* GET path at central as manager.central (signed in for this request only). */
static json_t *central_manager_get(const char *path)
{
    struct cbt_client m;
    cbt_client_init(&m, G.central.url);
    long st = cbt_login(&m, "manager.central", PW);
    if (st != 200) {
        cbt_client_free(&m);
        fail_msg("manager.central cannot sign in at central %s: HTTP %ld (log %s)", G.central.url,
                 st, G.central.log);
    }
    json_t *j = api(&m, "GET", path, NULL, 200);
    cbt_client_free(&m);
    return j;
}

/* The item of GET /api/sites (central) for site i (borrowed from sites). */
static json_t *site_item(json_t *sites, int i)
{
    size_t k;
    json_t *it;
    json_array_foreach(json_object_get(sites, "items"), k, it)
    {
        if (strcmp(jstr(it, "id"), G.site_id[i]) == 0) {
            return it;
        }
    }
    fail_msg("site %s is not in GET /api/sites", SITE_NAME[i]);
    return NULL;
}

/* ---------------------------------------------------------------- databases */

static sqlite3 *db_open(const char *dir)
{
    char path[600];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/coachbox.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fail_msg("cannot open %s", path);
    }
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static sqlite3_stmt *db_query(sqlite3 *db, const char *sql, const char *a1, const char *a2)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("SQL %s: %s", sql, sqlite3_errmsg(db));
    }
    if (a1) {
        sqlite3_bind_text(st, 1, a1, -1, SQLITE_TRANSIENT);
    }
    if (a2) {
        sqlite3_bind_text(st, 2, a2, -1, SQLITE_TRANSIENT);
    }
    return st;
}

/* One integer from dir's database (?1, ?2 bound to a1, a2). */
static long long db_int(const char *dir, const char *sql, const char *a1, const char *a2)
{
    sqlite3 *db = db_open(dir);
    sqlite3_stmt *st = db_query(db, sql, a1, a2);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        fail_msg("SQL %s: no row (%d: %s)", sql, s, sqlite3_errmsg(db));
    }
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Wait (up to 5 s) until sql (?1 = a) counts a row in dir: a write's stored
 * answer is committed by the writer just after the reply (http.c). */
static void wait_rows(const char *dir, const char *sql, const char *a)
{
    for (int i = 0; i < 100; i++) {
        if (db_int(dir, sql, a, NULL) > 0) {
            return;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("no row for %s in %s", sql, dir);
}

/* One text value (NULL column or no row -> returns 0 and out = "(null)"). */
static int db_text(const char *dir, const char *sql, const char *a1, const char *a2, char *out,
                   size_t len)
{
    sqlite3 *db = db_open(dir);
    sqlite3_stmt *st = db_query(db, sql, a1, a2);
    int found = 0;
    snprintf(out, len, "(null)");
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
        found = 1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

/* The local HLC of a field of a row at a site (its version in row_meta, marked "local"). */
static uint64_t local_hlc(int site, const char *tbl, const char *row_id, const char *field)
{
    char sql[256], who[64];
    snprintf(sql, sizeof(sql),
             "SELECT json_extract(versions, '$.%s[2]') FROM row_meta WHERE tbl = ?1 AND "
             "row_id = ?2",
             field);
    db_text(G.dir[site], sql, tbl, row_id, who, sizeof(who));
    if (strcmp(who, "local") != 0) {
        fail_msg("site %s: %s.%s of %s is not a waiting local edit (version from %s)",
                 SITE_NAME[site], tbl, field, row_id, who);
    }
    snprintf(sql, sizeof(sql),
             "SELECT json_extract(versions, '$.%s[1]') FROM row_meta WHERE tbl = ?1 AND "
             "row_id = ?2",
             field);
    return (uint64_t)db_int(G.dir[site], sql, tbl, row_id);
}

static long long count_rows(const char *dir, const char *tbl, const char *col, const char *id)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE %s = ?1", tbl, col);
    return db_int(dir, sql, id, NULL);
}

/* ---------------------------------------------------------------- signed requests */

static struct cbt_client central_cl;

static void nonce_new(char out[40])
{
    static unsigned n;
    snprintf(out, 40, "%016llx%08x%08x", (unsigned long long)cb_now_ms(), (unsigned)getpid(), ++n);
}

/*
 * Send a request to central as site B (credentials from B's settings), signed
 * with key (NULL: B's secret) over ts and nonce (NULL: now / fresh), with the
 * schema header (NULL: this build's).
 */
static void signed_rq(const char *method, const char *pq, const char *body, const char *key,
                      const char *ts_in, const char *nonce_in, const char *schema,
                      struct cbt_resp *r)
{
    char site[64], secret[80], ts[32], nonce[40], sig[CB_SIG_HEXLEN];
    char h_site[128], h_ts[64], h_nonce[80], h_schema[64], h_sig[128];
    assert_true(db_text(G.dir[SB], "SELECT value FROM settings WHERE key = 'site_id'", NULL, NULL,
                        site, sizeof(site)));
    assert_true(db_text(G.dir[SB], "SELECT value FROM settings WHERE key = 'site_secret'", NULL,
                        NULL, secret, sizeof(secret)));
    if (ts_in) {
        snprintf(ts, sizeof(ts), "%s", ts_in);
    } else {
        snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
    }
    if (nonce_in) {
        snprintf(nonce, sizeof(nonce), "%s", nonce_in);
    } else {
        nonce_new(nonce);
    }
    assert_int_equal(
        cb_sign(key ? key : secret, method, pq, ts, nonce, body, body ? strlen(body) : 0, sig),
        CB_OK);
    snprintf(h_site, sizeof(h_site), "X-CB-Site: %s", site);
    snprintf(h_ts, sizeof(h_ts), "X-CB-Timestamp: %s", ts);
    snprintf(h_nonce, sizeof(h_nonce), "X-CB-Nonce: %s", nonce);
    if (schema) {
        snprintf(h_schema, sizeof(h_schema), "X-CB-Schema: %s", schema);
    } else {
        snprintf(h_schema, sizeof(h_schema), "X-CB-Schema: %d", cb_store_schema_version());
    }
    snprintf(h_sig, sizeof(h_sig), "X-CB-Signature: %s", sig);
    const char *headers[] = {h_site, h_ts, h_nonce, h_schema, h_sig, NULL};
    if (cbt_request_ex(&central_cl, method, pq, body, body ? strlen(body) : 0, NULL, headers, r) !=
        0) {
        fail_msg("%s %s at central: no HTTP response", method, pq);
    }
}

/* A refusal: status, error.code, a message, and the header it is about (if given). */
static void expect_refusal(struct cbt_resp *r, long status, const char *code, const char *field)
{
    if (r->status != status || !cbt_jstr(r, "error.code") ||
        strcmp(cbt_jstr(r, "error.code"), code) != 0) {
        fail_msg("want %ld %s, got %ld: %s", status, code, r->status, r->body);
    }
    const char *msg = cbt_jstr(r, "error.message");
    if (!msg || strlen(msg) < 10) {
        fail_msg("refusal without a message: %s", r->body);
    }
    if (field && (!cbt_jstr(r, "error.field") || strcmp(cbt_jstr(r, "error.field"), field) != 0)) {
        fail_msg("refusal should name %s: %s", field, r->body);
    }
}

static long long b_last_op_id(void)
{
    return db_int(G.central_dir, "SELECT last_op_id FROM sites WHERE id = ?1", G.site_id[SB], NULL);
}

/* {"ops":[{op_id, tbl, row_id, fields, hlc, base_seq}]} with one op; fields stolen. */
static char *push_body(long long op_id, const char *tbl, const char *row_id, json_t *fields)
{
    json_t *b = json_pack("{s:[{s:I, s:s, s:s, s:o, s:I, s:I}], s:i}", "ops", "op_id",
                          (json_int_t)op_id, "tbl", tbl, "row_id", row_id, "fields", fields, "hlc",
                          (json_int_t)cb_hlc_pack(cb_now_ms(), 0), "base_seq", (json_int_t)1000000,
                          "pending", 1);
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return text;
}

/* POST body b (stolen) to /sync/v1/push, signed as site B; the answer in *r. */
static void push_json(json_t *b, struct cbt_resp *r)
{
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, r);
    free(body);
}

/* A push op creating person id (whole, as a site sends a new row). */
static json_t *new_person_op(json_int_t op_id, const char *id, const char *given,
                             const char *family, const char *dob, const char *team, const char *now,
                             json_int_t hlc)
{
    return json_pack("{s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:I, s:I}", "op_id", op_id,
                     "tbl", "participants", "row_id", id, "fields", "given_name", given,
                     "family_name", family, "date_of_birth", dob, "team", team, "created_at", now,
                     "hlc", hlc, "base_seq", (json_int_t)0);
}

/* ================================================================ setup */

static int parse_site_add(const char *out, char id[40], char code[CODE_MAX])
{
    const char *p = strchr(out, '(');
    const char *q = p ? strchr(p, ')') : NULL;
    const char *c = strstr(out, "hours): ");
    if (!p || !q || q - p - 1 >= 40 || !c) {
        return -1;
    }
    memcpy(id, p + 1, (size_t)(q - p - 1));
    id[q - p - 1] = '\0';
    c += strlen("hours): ");
    size_t k = strcspn(c, " \r\n");
    if (k >= CODE_MAX) {
        return -1;
    }
    memcpy(code, c, k);
    code[k] = '\0';
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    char out[4096];
    memset(&G, 0, sizeof(G));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cbt_tempdir(G.central_dir, sizeof(G.central_dir), "sync-central");
    for (int i = 0; i < NSITES; i++) {
        char tag[32];
        snprintf(tag, sizeof(tag), "sync-site%s", SITE_NAME[i]);
        cbt_tempdir(G.dir[i], sizeof(G.dir[i]), tag);
    }
    cbt_tempdir(G.junk_dir, sizeof(G.junk_dir), "sync-junk");
    /* Accounts are created on central; sites receive them by sync. */
    if (cbt_add_user(G.central_dir, "coach.bury", "coach", "bury-town", PW) != 0 ||
        cbt_add_user(G.central_dir, "coach.bury2", "coach", "bury-town", PW) != 0 ||
        cbt_add_user(G.central_dir, "coach.bury3", "coach", "bury-town", PW) != 0 ||
        cbt_add_user(G.central_dir, "coach.pres", "coach", "prestwich", PW) != 0 ||
        cbt_add_user(G.central_dir, "manager.central", "manager", NULL, PW) != 0) {
        fprintf(stderr, "it_sync: cannot add users on central\n");
        return -1;
    }
    /* Local accounts of field site A (not from central): an administrator, and a
     * manager (only managers move people between teams). */
    if (cbt_add_user(G.dir[SA], "admin.a", "admin", NULL, PW) != 0 ||
        cbt_add_user(G.dir[SA], "manager.a", "manager", NULL, PW) != 0) {
        fprintf(stderr, "it_sync: cannot add the local accounts of A\n");
        return -1;
    }
    if (central_start(0) != 0) {
        fprintf(stderr, "it_sync: central did not start (log %s)\n", G.central.log);
        return -1;
    }
    for (int i = 0; i < NSITES; i++) {
        int st = cbt_coachbox(out, sizeof(out), "site", "add", "--data", G.central_dir, "--name",
                              SITE_NAME[i], "--team", SITE_TEAM[i], NULL);
        if (st != 0 || parse_site_add(out, G.site_id[i], G.code[i]) != 0) {
            fprintf(stderr, "it_sync: site add %s: exit %d: %s\n", SITE_NAME[i], st, out);
            return -1;
        }
    }
    cbt_client_init(&central_cl, G.central.url);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NSITES; i++) {
        if (G.started[i]) {
            cbt_server_stop(&G.srv[i]);
            G.started[i] = 0;
        }
        cbt_client_free(&G.cl[i]);
    }
    cbt_client_free(&G.mgr_a);
    cbt_client_free(&central_cl);
    int st = cbt_server_stop(&G.central);
    if (st != 0) {
        fprintf(stderr, "it_sync: central exited with %d\n", st);
    }
    if (!getenv("CB_KEEP")) {
        cbt_rmtree(G.central_dir);
        unlink(G.central.log);
        for (int i = 0; i < NSITES; i++) {
            char log[600];
            cbt_rmtree(G.dir[i]);
            snprintf(log, sizeof(log), "%s.log", G.dir[i]);
            unlink(log);
        }
        cbt_rmtree(G.junk_dir);
    }
    curl_global_cleanup();
    return 0;
}

static void start_site(int i)
{
    if (cbt_server_start(&G.srv[i], G.dir[i], NULL) != 0) {
        fail_msg("field server %s did not start", SITE_NAME[i]);
    }
    G.started[i] = 1;
    cbt_client_free(&G.cl[i]);
    cbt_client_init(&G.cl[i], G.srv[i].url);
}

static void stop_site(int i)
{
    if (G.started[i]) {
        assert_int_equal(cbt_server_stop(&G.srv[i]), 0);
        G.started[i] = 0;
    }
}

/* ================================================================ tests */

static void test_enrollment(void **state)
{
    (void)state;
    char out[8192];
    /* Central lists the sites; none has synced yet. */
    json_t *sites = central_manager_get("/api/sites");
    for (int i = 0; i < NSITES; i++) {
        assert_true(json_is_null(json_object_get(site_item(sites, i), "last_sync_at")));
    }
    json_decref(sites);
    /* Sync before enrollment: refused, with a message saying what to do. */
    int st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.dir[SA], NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "not enrolled") || !contains(out, "enroll")) {
        fail_msg("sync before enrollment: %s", out);
    }
    /* A bad code: refused clearly; nothing stored. */
    st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.dir[SA], "--central", G.central.url,
                      "--code", "ZZZZ-ZZZZ-ZZZZ", NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "enrollment failed") || !contains(out, "code")) {
        fail_msg("enroll with a bad code: %s", out);
    }
    char v[128];
    assert_false(db_text(G.dir[SA], "SELECT value FROM settings WHERE key = 'site_id'", NULL, NULL,
                         v, sizeof(v)));
    /* The real codes work. */
    for (int i = 0; i < NSITES; i++) {
        st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.dir[i], "--central",
                          G.central.url, "--code", G.code[i], NULL);
        if (st != 0 || !contains(out, "enrolled")) {
            fail_msg("enroll %s: exit %d: %s", SITE_NAME[i], st, out);
        }
        assert_true(db_text(G.dir[i], "SELECT value FROM settings WHERE key = 'site_id'", NULL,
                            NULL, v, sizeof(v)));
        assert_string_equal(v, G.site_id[i]);
    }
    /* A code works once only. */
    st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.junk_dir, "--central", G.central.url,
                      "--code", G.code[SA], NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "code")) {
        fail_msg("second use of a code: %s", out);
    }
    assert_false(db_text(G.junk_dir, "SELECT value FROM settings WHERE key = 'site_id'", NULL, NULL,
                         v, sizeof(v)));
    /* An enrolled site cannot enroll again. */
    st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.dir[SA], "--central", G.central.url,
                      "--code", G.code[SB], NULL);
    assert_int_not_equal(st, 0);
    assert_true(contains(out, "already enrolled"));

    /* First rounds: accounts of each site's team arrive, no others. */
    char before[CB_TIME_STRLEN], after[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms() - 1, before);
    for (int i = 0; i < NSITES; i++) {
        sync_ok(i);
    }
    cb_time_format(cb_now_ms() + 1, after);
    /* ... and central shows when each last synced (between the two instants). */
    sites = central_manager_get("/api/sites");
    for (int i = 0; i < NSITES; i++) {
        const char *t = jstr(site_item(sites, i), "last_sync_at");
        if (!t || strcmp(t, before) < 0 || strcmp(t, after) > 0) {
            fail_msg("site %s: last_sync_at %s, want between %s and %s", SITE_NAME[i],
                     t ? t : "(null)", before, after);
        }
    }
    json_decref(sites);
    assert_int_equal(count_rows(G.dir[SA], "users", "username", "coach.bury"), 1);
    assert_int_equal(count_rows(G.dir[SA], "users", "username", "coach.bury2"), 1);
    assert_int_equal(count_rows(G.dir[SA], "users", "username", "coach.pres"), 0);
    assert_int_equal(count_rows(G.dir[SA], "users", "username", "manager.central"), 0);
    assert_int_equal(count_rows(G.dir[SC], "users", "username", "coach.pres"), 1);
    assert_int_equal(count_rows(G.dir[SC], "users", "username", "coach.bury"), 0);

    /* Field servers up; each site's coach signs in with the account from central. */
    for (int i = 0; i < NSITES; i++) {
        start_site(i);
        long s = cbt_login(&G.cl[i], SITE_USER[i], PW);
        if (s != 200) {
            fail_msg("login %s at site %s: %ld", SITE_USER[i], SITE_NAME[i], s);
        }
    }
    cbt_client_init(&G.mgr_a, G.srv[SA].url);
    assert_int_equal(cbt_login(&G.mgr_a, "manager.a", PW), 200);
    json_t *status = api(&G.cl[SA], "GET", "/api/sync/status", NULL, 200);
    assert_true(json_is_true(json_object_get(status, "enrolled")));
    assert_string_equal(jstr(status, "site_id"), G.site_id[SA]);
    json_decref(status);
}

/* A record with updated_at removed (set locally on each replica). */
static json_t *get_record(int site, const char *kind, const char *id, long want)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/%s/%s", kind, id);
    json_t *o = api(&G.cl[site], "GET", path, NULL, want);
    if (o && want == 200) {
        json_object_del(o, "updated_at");
    }
    return o;
}

static void test_replication_and_scope(void **state)
{
    (void)state;
    create_person(SA, "Ada", "Replica", G.p_basic);
    create_person(SC, "Pru", "Prestwich", G.p_pres);
    create_encounter(SA, G.p_basic, "first meeting", G.e_basic);
    create_measure(SA, G.p_basic, G.e_basic, G.m_basic);
    json_t *pa = get_record(SA, "participants", G.p_basic, 200);
    json_t *ea = get_record(SA, "encounters", G.e_basic, 200);
    json_t *ma = get_record(SA, "measures", G.m_basic, 200);

    sync_ok(SA);
    sync_ok(SB);
    sync_ok(SC);
    json_t *pb = get_record(SB, "participants", G.p_basic, 200);
    json_t *eb = get_record(SB, "encounters", G.e_basic, 200);
    json_t *mb = get_record(SB, "measures", G.m_basic, 200);
    char *da = json_dumps(pa, JSON_SORT_KEYS), *db = json_dumps(pb, JSON_SORT_KEYS);
    if (!json_equal(pa, pb)) {
        fail_msg("participant differs: A %s / B %s", da, db);
    }
    free(da);
    free(db);
    assert_true(json_equal(ea, eb));
    assert_true(json_equal(ma, mb));
    assert_string_equal(jstr(mb, "instrument"), "bmi");
    assert_non_null(json_object_get(mb, "score"));
    json_decref(pa);
    json_decref(pb);
    json_decref(ea);
    json_decref(eb);
    json_decref(ma);
    json_decref(mb);

    /* Nothing of bury-town at C: not via the API, not in its database. */
    json_decref(get_record(SC, "participants", G.p_basic, 404));
    json_decref(get_record(SC, "encounters", G.e_basic, 404));
    assert_int_equal(count_rows(G.dir[SC], "participants", "id", G.p_basic), 0);
    assert_int_equal(count_rows(G.dir[SC], "encounters", "participant_id", G.p_basic), 0);
    assert_int_equal(count_rows(G.dir[SC], "measures", "participant_id", G.p_basic), 0);
    assert_int_equal(db_int(G.dir[SC],
                            "SELECT count(*) FROM participants WHERE team <> "
                            "'prestwich'",
                            NULL, NULL),
                     0);
    /* ...and C's person reaches central but neither A nor B. */
    char v[64];
    assert_true(db_text(G.central_dir, "SELECT team FROM participants WHERE id = ?1", G.p_pres,
                        NULL, v, sizeof(v)));
    assert_string_equal(v, "prestwich");
    sync_ok(SA);
    sync_ok(SB);
    json_decref(get_record(SA, "participants", G.p_pres, 404));
    assert_int_equal(count_rows(G.dir[SA], "participants", "id", G.p_pres), 0);
    assert_int_equal(count_rows(G.dir[SB], "participants", "id", G.p_pres), 0);

    /* Everyone agrees with central. */
    for (int i = 0; i < NSITES; i++) {
        char out[8192];
        int st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.dir[i], "--verify", NULL);
        if (st != 0 || !strstr(out, "in sync") || strstr(out, "NOT in sync")) {
            fail_msg("sync --verify at %s: exit %d: %s", SITE_NAME[i], st, out);
        }
    }
}

/* A bmi measure of pid at site, taken secs ago, weighing kg. */
static void measure_at(int site, const char *pid, const char *timepoint, long secs, int kg,
                       char id[40])
{
    char at[CB_TIME_STRLEN];
    iso_ago(secs, at);
    json_t *m = api(&G.cl[site], "POST", "/api/measures",
                    json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "participant_id", pid,
                              "instrument", "bmi", "timepoint", timepoint, "taken_at", at,
                              "responses", "height_cm", 170, "weight_kg", kg),
                    201);
    snprintf(id, 40, "%s", jstr(m, "id"));
    json_decref(m);
}

/* pid's measures at a site with their baseline columns (migration 11), the
 * baseline rows named by id (rowids are each server's own). */
static void baselines_of(const char *dir, const char *pid, char *out, size_t len)
{
    db_text(dir,
            "SELECT group_concat(line, ' | ') FROM (SELECT m.id || ' ' || quote(m.pb_at) || ' ' "
            "|| quote(m.pb_score) || ' ' || quote((SELECT x.id FROM measures x WHERE x.rowid = "
            "m.pb_row)) || ' ' || quote(m.pbt_at) || ' ' || quote(m.pbt_score) || ' ' || "
            "quote((SELECT x.id FROM measures x WHERE x.rowid = m.pbt_row)) || ' ' || "
            "quote(m.rv1) || ' ' || quote(m.pb_v1) || ' ' || quote(m.pbt_v1) AS line "
            "FROM measures m WHERE m.participant_id = ?1 UNION ALL SELECT 'latest ' || "
            "l.instrument || ' ' || (SELECT x.id FROM measures x WHERE x.rowid = l.row) || ' ' || "
            "l.baseline FROM measure_latest l WHERE l.participant_id = ?1 ORDER BY 1)",
            pid, NULL, out, len);
}

/* A and B sync; pid's derived columns are then the same at A, B and central, and
 * n of pid's measures at B have base's row as their baseline. */
static void synced_alike(const char *pid, const char *base, int n)
{
    char a[4096], b[4096];
    sync_ok(SA);
    sync_ok(SB);
    baselines_of(G.dir[SA], pid, a, sizeof(a));
    baselines_of(G.dir[SB], pid, b, sizeof(b));
    assert_string_equal(a, b);
    baselines_of(G.central_dir, pid, b, sizeof(b));
    assert_string_equal(a, b);
    assert_int_equal(db_int(G.dir[SB],
                            "SELECT count(*) FROM measures m WHERE participant_id = ?1 AND "
                            "pb_row = (SELECT rowid FROM measures WHERE id = ?2)",
                            pid, base),
                     n);
}

/* A measure's derived columns (baselines, values, latest measure) are what the
 * local triggers give at the site that wrote it, at central (the triggers run as
 * its push applies each row) and at a site that pulled it (once per page). */
static void test_pulled_baselines_as_written(void **state)
{
    (void)state;
    char pid[40], m1[40], m2[40], m3[40], m4[40], path[128];
    create_person(SA, "Bea", "Baseline", pid);
    measure_at(SA, pid, "baseline", 3 * 86400, 80, m1);
    measure_at(SA, pid, "baseline", 2 * 86400, 90, m2);
    measure_at(SA, pid, "review", 3600, 75, m3);
    synced_alike(pid, m1, 3);

    /* Edits and a delete reach B as updates of rows it has. */
    char at[CB_TIME_STRLEN];
    snprintf(path, sizeof(path), "/api/measures/%s", m1);
    patch(SA, path, json_pack("{s:s}", "timepoint", "review"));
    snprintf(path, sizeof(path), "/api/measures/%s", m2);
    iso_ago(4 * 86400, at);
    patch(SA, path, json_pack("{s:s}", "taken_at", at));
    measure_at(SA, pid, "baseline", 86400, 85, m4);
    snprintf(path, sizeof(path), "/api/measures/%s", m3);
    json_decref(api(&G.cl[SA], "DELETE", path, NULL, 200));
    synced_alike(pid, m2, 4);
}

static void test_conflict_same_field(void **state)
{
    (void)state;
    char path[160];
    create_person(SA, "Cora", "Original", G.p_conf);
    sync_ok(SA);
    sync_ok(SB);
    snprintf(path, sizeof(path), "/api/participants/%s", G.p_conf);

    /* The same field at A and at B, before either syncs. */
    patch(SA, path, json_pack("{s:s}", "family_name", "Alpha"));
    pause_ms(20);
    patch(SB, path, json_pack("{s:s}", "family_name", "Bravo"));
    uint64_t ha = local_hlc(SA, "participants", G.p_conf, "family_name");
    uint64_t hb = local_hlc(SB, "participants", G.p_conf, "family_name");
    assert_true(ha != hb);
    const char *winner = hb > ha ? "Bravo" : "Alpha", *loser = hb > ha ? "Alpha" : "Bravo";
    const char *wsite = hb > ha ? G.site_id[SB] : G.site_id[SA];

    sync_ok(SA);
    sync_ok(SB);
    sync_ok(SA);

    /* One winner everywhere: the higher HLC. */
    for (int i = SA; i <= SB; i++) {
        json_t *p = get_record(i, "participants", G.p_conf, 200);
        if (strcmp(jstr(p, "family_name"), winner) != 0) {
            fail_msg("site %s has family_name %s, want %s", SITE_NAME[i], jstr(p, "family_name"),
                     winner);
        }
        json_decref(p);
    }
    char v[256];
    assert_true(db_text(G.central_dir, "SELECT family_name FROM participants WHERE id = ?1",
                        G.p_conf, NULL, v, sizeof(v)));
    assert_string_equal(v, winner);

    /* Exactly one conflict, with both values, the same record at A, B and central. */
    assert_int_equal(
        db_int(G.central_dir, "SELECT count(*) FROM conflicts WHERE row_id = ?1", G.p_conf, NULL),
        1);
    char cid[40] = "";
    for (int i = SA; i <= SB; i++) {
        json_t *cs = conflicts_at(i, G.p_conf, "open", G.p_conf, NULL);
        if (json_array_size(cs) != 1) {
            char *d = json_dumps(cs, 0);
            fail_msg("site %s: %zu open conflicts on the person, want 1: %s", SITE_NAME[i],
                     json_array_size(cs), d);
        }
        json_t *c = json_array_get(cs, 0);
        assert_string_equal(jstr(c, "field"), "family_name");
        assert_string_equal(jstr(c, "tbl"), "participants");
        assert_true(json_is_string(json_object_get(c, "winner_value")));
        assert_true(json_is_string(json_object_get(c, "loser_value")));
        json_t *wv = json_loads(jstr(c, "winner_value"), JSON_DECODE_ANY, NULL);
        json_t *lv = json_loads(jstr(c, "loser_value"), JSON_DECODE_ANY, NULL);
        assert_true(json_is_string(wv) && json_is_string(lv));
        assert_string_equal(json_string_value(wv), winner);
        assert_string_equal(json_string_value(lv), loser);
        json_decref(wv);
        json_decref(lv);
        assert_string_equal(jstr(c, "winner_site"), wsite);
        assert_true(json_integer_value(json_object_get(c, "winner_hlc")) >
                    json_integer_value(json_object_get(c, "loser_hlc")));
        assert_int_equal((uint64_t)json_integer_value(json_object_get(c, "winner_hlc")),
                         hb > ha ? hb : ha);
        if (i == SA) {
            snprintf(cid, sizeof(cid), "%s", jstr(c, "id"));
        } else {
            assert_string_equal(jstr(c, "id"), cid);
        }
        json_decref(cs);
    }
    json_t *st = api(&G.cl[SB], "GET", "/api/sync/status", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(st, "open_conflicts")), 1);
    json_decref(st);

    /* The list names the person: for the team's coach at a site, and for a manager on
     * central (who sees every team's conflicts). */
    long long listed = db_int(G.dir[SA],
                              "SELECT count(*) FROM audit_events WHERE action = 'conflict.list' "
                              "AND participant_id = ?1",
                              G.p_conf, NULL);
    json_t *mine = conflicts_at(SA, G.p_conf, "open", G.p_conf, NULL);
    /* Reading conflicts (a person's field values) is audited: the list, and one by id;
     * the status defaults to open when only the person is asked for. */
    assert_int_equal(db_int(G.dir[SA],
                            "SELECT count(*) FROM audit_events WHERE action = 'conflict.list' "
                            "AND participant_id = ?1",
                            G.p_conf, NULL),
                     listed + 1);
    char one[200];
    snprintf(one, sizeof(one), "/api/conflicts/%s", jstr(json_array_get(mine, 0), "id"));
    json_decref(api(&G.cl[SA], "GET", one, NULL, 200));
    assert_int_equal(db_int(G.dir[SA],
                            "SELECT count(*) FROM audit_events WHERE action = 'conflict.read' "
                            "AND entity_id = ?1 AND participant_id = ?2",
                            jstr(json_array_get(mine, 0), "id"), G.p_conf),
                     1);
    snprintf(one, sizeof(one), "/api/conflicts?participant_id=%s", G.p_conf);
    json_t *dflt = api(&G.cl[SA], "GET", one, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(dflt, "items")), 1);
    json_decref(dflt);
    json_decref(api(&G.cl[SA], "GET", "/api/conflicts?participant_id=abc", NULL, 400));
    json_t *who = json_object_get(json_array_get(mine, 0), "participant");
    assert_string_equal(jstr(who, "id"), G.p_conf);
    assert_string_equal(jstr(who, "given_name"), "Cora");
    assert_string_equal(jstr(who, "family_name"), winner);
    json_decref(mine);
    json_t *all = central_manager_get("/api/conflicts?status=open");
    size_t k;
    json_t *it;
    int named = 0;
    json_array_foreach(json_object_get(all, "items"), k, it)
    {
        if (strcmp(jstr(it, "row_id"), G.p_conf) == 0) {
            who = json_object_get(it, "participant");
            assert_string_equal(jstr(who, "given_name"), "Cora");
            assert_string_equal(jstr(who, "family_name"), winner);
            named++;
        }
    }
    assert_int_equal(named, 1);
    json_decref(all);
    /* Scoping: a coach of the conflict's team sees the conflict but not the name of a person
     * who is now in another team (moved under central's feet here, then put back). */
    sqlite3 *db = NULL;
    char sql[600];
    snprintf(sql, sizeof(sql), "%s/coachbox.db", G.central_dir);
    assert_int_equal(sqlite3_open_v2(sql, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    snprintf(sql, sizeof(sql), "UPDATE participants SET team = 'prestwich' WHERE id = '%s'",
             G.p_conf);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    struct cbt_client coach;
    cbt_client_init(&coach, G.central.url);
    assert_int_equal(cbt_login(&coach, "coach.bury", PW), 200);
    snprintf(path, sizeof(path), "/api/conflicts?status=open&participant_id=%s", G.p_conf);
    all = api(&coach, "GET", path, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(all, "items")), 1);
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(all, "items"), 0), "participant")));
    json_decref(all);
    snprintf(sql, sizeof(sql), "UPDATE participants SET team = 'bury-town' WHERE id = '%s'",
             G.p_conf);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    all = api(&coach, "GET", path, NULL, 200);
    assert_string_equal(
        jstr(json_object_get(json_array_get(json_object_get(all, "items"), 0), "participant"),
             "given_name"),
        "Cora");
    json_decref(all);
    cbt_client_free(&coach);

    /* Resolved at A; after the rounds it is resolved at B too. */
    snprintf(path, sizeof(path), "/api/conflicts/%s", cid);
    patch(SA, path,
          json_pack("{s:s, s:s}", "status", "resolved", "resolution_note", "checked with Cora"));
    sync_ok(SA);
    sync_ok(SB);
    json_t *open_b = conflicts_at(SB, G.p_conf, "open", G.p_conf, NULL);
    json_t *res_b = conflicts_at(SB, G.p_conf, "resolved", G.p_conf, NULL);
    assert_int_equal(json_array_size(open_b), 0);
    assert_int_equal(json_array_size(res_b), 1);
    assert_string_equal(jstr(json_array_get(res_b, 0), "resolution_note"), "checked with Cora");
    json_decref(open_b);
    json_decref(res_b);
    assert_true(db_text(G.central_dir, "SELECT status FROM conflicts WHERE id = ?1", cid, NULL, v,
                        sizeof(v)));
    assert_string_equal(v, "resolved");
    st = api(&G.cl[SB], "GET", "/api/sync/status", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(st, "open_conflicts")), 0);
    json_decref(st);
}

/*
 * A row a site created whole has its row-wide version in central's change
 * log (changes.whole), not a row_meta row; its first later write gives it a
 * row_meta row whose row-wide entry is that same version.
 */
static void test_row_version_kept_in_log(void **state)
{
    (void)state;
    char pid[40], path[160], want[256], got[256];
    create_person(SA, "Wanda", "Whole", pid);
    sync_ok(SA);
    assert_int_equal(count_rows(G.central_dir, "row_meta", "row_id", pid), 0);
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM changes WHERE row_id = ?1 AND whole = 1", pid,
                            NULL),
                     1);
    db_text(G.central_dir,
            "SELECT json_array(seq, hlc, site) FROM changes WHERE row_id = ?1 AND whole = 1", pid,
            NULL, want, sizeof(want));
    snprintf(path, sizeof(path), "/api/participants/%s", pid);
    patch(SA, path, json_pack("{s:s}", "family_name", "Wholer"));
    sync_ok(SA);
    assert_true(db_text(G.central_dir,
                        "SELECT json_extract(versions, '$.\"*\"') FROM row_meta WHERE row_id = ?1",
                        pid, NULL, got, sizeof(got)));
    assert_string_equal(got, want);
    assert_true(db_text(G.central_dir,
                        "SELECT json_extract(versions, '$.family_name[2]') FROM row_meta WHERE "
                        "row_id = ?1",
                        pid, NULL, got, sizeof(got)));
    assert_string_equal(got, G.site_id[SA]);
    /* Only the creation is whole. */
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM changes WHERE row_id = ?1 AND whole = 1", pid,
                            NULL),
                     1);
}

static void test_different_fields_no_conflict(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof(path), "/api/participants/%s", G.p_conf);
    patch(SA, path, json_pack("{s:s}", "given_name", "Corinne"));
    patch(SB, path, json_pack("{s:s}", "postcode", "bl9 0ej"));
    sync_ok(SA);
    sync_ok(SB);
    sync_ok(SA);
    for (int i = SA; i <= SB; i++) {
        json_t *p = get_record(i, "participants", G.p_conf, 200);
        assert_string_equal(jstr(p, "given_name"), "Corinne");
        assert_string_equal(jstr(p, "postcode"), "BL9 0EJ");
        json_decref(p);
        json_t *cs = conflicts_at(i, G.p_conf, "open", G.p_conf, NULL);
        assert_int_equal(json_array_size(cs), 0);
        json_decref(cs);
    }
    char v[64];
    assert_true(db_text(G.central_dir,
                        "SELECT given_name || '|' || postcode FROM participants "
                        "WHERE id = ?1",
                        G.p_conf, NULL, v, sizeof(v)));
    assert_string_equal(v, "Corinne|BL9 0EJ");
    assert_int_equal(
        db_int(G.central_dir, "SELECT count(*) FROM conflicts WHERE row_id = ?1", G.p_conf, NULL),
        1); /* only the earlier family_name conflict */
}

/* deleted and notes of an encounter as "deleted|notes" in a database. */
static void enc_state(const char *dir, const char *eid, char *out, size_t len)
{
    if (!db_text(dir, "SELECT deleted || '|' || coalesce(notes, '') FROM encounters WHERE id = ?1",
                 eid, NULL, out, len)) {
        fail_msg("encounter %s missing in %s", eid, dir);
    }
}

static void check_verify(int site)
{
    char out[8192];
    int st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.dir[site], "--verify", NULL);
    if (st != 0 || !strstr(out, "in sync") || strstr(out, "NOT in sync")) {
        fail_msg("sync --verify at %s: exit %d: %s", SITE_NAME[site], st, out);
    }
}

static void test_delete_vs_newer_edit(void **state)
{
    (void)state;
    char eid[40], path[160], sa[256], sb[256], sc[256];
    create_encounter(SA, G.p_conf, "before the race", eid);
    sync_ok(SA);
    sync_ok(SB);
    snprintf(path, sizeof(path), "/api/encounters/%s", eid);
    /* Delete at A, then (later, so a higher HLC) an edit at B. */
    json_decref(api(&G.cl[SA], "DELETE", path, NULL, 200));
    pause_ms(20);
    patch(SB, path, json_pack("{s:s}", "notes", "edited at B"));
    uint64_t hdel = local_hlc(SA, "encounters", eid, "deleted");
    uint64_t hedit = local_hlc(SB, "encounters", eid, "notes");
    assert_true(hedit > hdel);
    sync_ok(SA);
    sync_ok(SB);
    sync_ok(SA);

    /* A conflict on "deleted", seen at both sites. */
    for (int i = SA; i <= SB; i++) {
        json_t *cs = conflicts_at(i, G.p_conf, "open", eid, "deleted");
        if (json_array_size(cs) != 1) {
            fail_msg("site %s: %zu conflicts on deleted, want 1", SITE_NAME[i],
                     json_array_size(cs));
        }
        json_t *c = json_array_get(cs, 0);
        assert_true(json_is_string(json_object_get(c, "winner_value")));
        assert_true(json_is_string(json_object_get(c, "loser_value")));
        assert_string_equal(jstr(c, "tbl"), "encounters");
        json_decref(cs);
    }
    /* The newer edit wins: the encounter is live with B's notes everywhere. */
    enc_state(G.dir[SA], eid, sa, sizeof(sa));
    enc_state(G.dir[SB], eid, sb, sizeof(sb));
    enc_state(G.central_dir, eid, sc, sizeof(sc));
    assert_string_equal(sc, "0|edited at B");
    assert_string_equal(sa, sc);
    assert_string_equal(sb, sc);
    json_t *e = get_record(SA, "encounters", eid, 200);
    assert_string_equal(jstr(e, "notes"), "edited at B");
    json_decref(e);
    check_verify(SA);
    check_verify(SB);
}

static void test_delete_newer_than_edit(void **state)
{
    (void)state;
    char eid[40], path[160], sa[256], sb[256], sc[256];
    create_encounter(SA, G.p_conf, "original notes", eid);
    sync_ok(SA);
    sync_ok(SB);
    snprintf(path, sizeof(path), "/api/encounters/%s", eid);
    /* An edit at B, then (later) a delete at A: the delete is newer. */
    patch(SB, path, json_pack("{s:s}", "notes", "B's losing edit"));
    pause_ms(20);
    json_decref(api(&G.cl[SA], "DELETE", path, NULL, 200));
    uint64_t hedit = local_hlc(SB, "encounters", eid, "notes");
    uint64_t hdel = local_hlc(SA, "encounters", eid, "deleted");
    assert_true(hdel > hedit);
    sync_ok(SA);
    sync_ok(SB);
    sync_ok(SA);
    json_t *cs = conflicts_at(SA, G.p_conf, "open", eid, "deleted");
    assert_int_equal(json_array_size(cs), 1);
    json_decref(cs);
    cs = conflicts_at(SB, G.p_conf, "open", eid, "deleted");
    assert_int_equal(json_array_size(cs), 1);
    json_decref(cs);
    /* Deleted everywhere, and the replicas hold the same row. */
    json_decref(get_record(SA, "encounters", eid, 404));
    json_decref(get_record(SB, "encounters", eid, 404));
    enc_state(G.dir[SA], eid, sa, sizeof(sa));
    enc_state(G.dir[SB], eid, sb, sizeof(sb));
    enc_state(G.central_dir, eid, sc, sizeof(sc));
    assert_true(sc[0] == '1');
    assert_string_equal(sa, sc);
    if (strcmp(sb, sc) != 0) {
        fail_msg("after a delete beat an edit, B holds \"%s\" but central \"%s\" (B kept its "
                 "losing edit: the replicas diverge)",
                 sb, sc);
    }
    check_verify(SB);
}

static void test_central_unreachable(void **state)
{
    (void)state;
    char path[160], out[8192];
    int port = G.central.port;
    assert_int_equal(cbt_server_stop(&G.central), 0);
    snprintf(path, sizeof(path), "/api/participants/%s", G.p_conf);
    patch(SA, path, json_pack("{s:s}", "preferred_name", "Offline edit"));
    int st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.dir[SA], NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "unreachable")) {
        fail_msg("sync with central down: %s", out);
    }
    json_t *s = api(&G.cl[SA], "GET", "/api/sync/status", NULL, 200);
    assert_true(json_integer_value(json_object_get(s, "pending")) > 0);
    assert_non_null(jstr(s, "oldest_pending_at"));
    assert_true(contains(jstr(s, "last_error"), "unreachable"));
    json_decref(s);
    assert_true(db_int(G.dir[SA], "SELECT count(*) FROM outbox WHERE row_id = ?1", G.p_conf, NULL) >
                0);

    if (central_start(port) != 0) {
        fail_msg("central did not restart on port %d", port);
    }
    sync_ok(SA);
    s = api(&G.cl[SA], "GET", "/api/sync/status", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(s, "pending")), 0);
    assert_true(json_is_null(json_object_get(s, "last_error")));
    json_decref(s);
    char v[64];
    assert_true(db_text(G.central_dir, "SELECT preferred_name FROM participants WHERE id = ?1",
                        G.p_conf, NULL, v, sizeof(v)));
    assert_string_equal(v, "Offline edit");
}

static void test_disabled_account(void **state)
{
    (void)state;
    char out[4096];
    struct cbt_client c2;
    cbt_client_init(&c2, G.srv[SA].url);
    assert_int_equal(cbt_login(&c2, "coach.bury2", PW), 200);
    assert_int_equal(status_of(&c2, "GET", "/api/me"), 200);
    int st = cbt_coachbox(out, sizeof(out), "user", "disable", "--data", G.central_dir,
                          "--username", "coach.bury2", NULL);
    if (st != 0) {
        fail_msg("user disable on central: %d %s", st, out);
    }
    sync_ok(SA);
    assert_int_equal(
        db_int(G.dir[SA], "SELECT disabled FROM users WHERE username = ?1", "coach.bury2", NULL),
        1);
    /* The session ends, and the password no longer opens one. */
    assert_int_equal(status_of(&c2, "GET", "/api/me"), 401);
    assert_int_equal(cbt_login(&c2, "coach.bury2", PW), 401);
    /* Other coaches are unaffected. */
    assert_int_equal(status_of(&G.cl[SA], "GET", "/api/me"), 200);
    cbt_client_free(&c2);
    /* The accounts agree with central (digest of users in scope). */
    check_verify(SA);
}

/*
 * A password set on central (an administrator's reset after a lost tablet)
 * reaches the site at its next sync and ends the account's sessions there; the
 * site itself refuses to change an account it holds a copy of (command line and
 * API), saying where to do it.
 */
static void test_password_reaches_site(void **state)
{
    (void)state;
    char out[4096];
    struct cbt_client c3;
    cbt_client_init(&c3, G.srv[SA].url);
    assert_int_equal(cbt_login(&c3, "coach.bury3", PW), 200);
    json_t *body =
        json_pack("{s:s, s:s}", "current_password", PW, "new_password", "at the venue 1");
    json_t *res = api(&c3, "POST", "/api/me/password", body, 409);
    assert_string_equal(jstr(json_object_get(res, "error"), "code"), "accounts_on_central");
    json_decref(res);
    const char *site_reset[] = {"user",       "password", "--data", G.dir[SA],
                                "--username", "admin.a",  NULL};
    assert_int_equal(cbt_run(site_reset, "a new password 1\n", out, sizeof(out)), 2);
    if (!contains(out, "central")) {
        fail_msg("user password on an enrolled site: %s", out);
    }
    /* Nor does it add or enable accounts, or add teams (they would differ from central's
     * for good); disabling one stays possible there (a lost tablet, central unreachable). */
    const char *site_add[] = {"user",    "add",    "--data",  G.dir[SA], "--username",
                              "local.x", "--role", "manager", NULL};
    assert_int_equal(cbt_run(site_add, "a local password 1\n", out, sizeof(out)), 2);
    assert_true(contains(out, "central"));
    const char *site_enable[] = {"user",       "enable",    "--data", G.dir[SA],
                                 "--username", "manager.a", NULL};
    assert_int_equal(cbt_run(site_enable, NULL, out, sizeof(out)), 2);
    assert_true(contains(out, "central"));
    const char *site_team[] = {"team",       "add",    "--data", G.dir[SA], "--id",
                               "local-team", "--name", "Local",  NULL};
    assert_int_equal(cbt_run(site_team, NULL, out, sizeof(out)), 2);
    assert_true(contains(out, "central"));
    assert_int_equal(
        db_int(G.dir[SA], "SELECT count(*) FROM users WHERE username = 'local.x'", NULL, NULL), 0);
    const char *reset[] = {"user",       "password",    "--data", G.central_dir,
                           "--username", "coach.bury3", NULL};
    assert_int_equal(cbt_run(reset, "reset on central 7\n", out, sizeof(out)), 0);
    assert_int_equal(status_of(&c3, "GET", "/api/me"), 200); /* not synced yet */
    sync_ok(SA);
    assert_int_equal(status_of(&c3, "GET", "/api/me"), 401);
    assert_int_equal(cbt_login(&c3, "coach.bury3", PW), 401);
    assert_int_equal(cbt_login(&c3, "coach.bury3", "reset on central 7"), 200);
    assert_int_equal(status_of(&G.cl[SA], "GET", "/api/me"), 200); /* others unaffected */
    cbt_client_free(&c3);
    check_verify(SA);
}

/* ---------------------------------------------------------------- moving team */

static void test_move_old_site_removes(void **state)
{
    (void)state;
    char path[160];
    create_person(SA, "Mo", "Mover", G.p_moved);
    create_encounter(SA, G.p_moved, "before the move", G.e_moved);
    create_measure(SA, G.p_moved, G.e_moved, G.m_moved);
    sync_ok(SA);
    sync_ok(SB);
    sync_ok(SC);
    json_decref(get_record(SB, "participants", G.p_moved, 200));
    assert_int_equal(count_rows(G.dir[SB], "encounters", "participant_id", G.p_moved), 1);

    /* B writes about them with an Idempotency-Key: its stored answer names them. */
    char body[300];
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":"
             "\"2026-01-05T10:00:00Z\",\"notes\":\"from B, keyed\"}",
             G.p_moved);
    keyed_write(SB, "POST", "/api/encounters", body, "it-sync-move-key-0001", 201);
    wait_rows(G.dir[SB], "SELECT count(*) FROM idempotency WHERE instr(body, ?1)", G.p_moved);
    sync_ok(SB);
    snprintf(path, sizeof(path), "/api/participants/%s", G.p_moved);
    move_at_a(path, "prestwich");
    sync_ok(SA);
    sync_ok(SB);
    /* B no longer serves them: gone from its API and its database. */
    json_decref(get_record(SB, "participants", G.p_moved, 404));
    json_decref(get_record(SB, "encounters", G.e_moved, 404));
    assert_int_equal(count_rows(G.dir[SB], "participants", "id", G.p_moved), 0);
    assert_int_equal(count_rows(G.dir[SB], "encounters", "participant_id", G.p_moved), 0);
    assert_int_equal(count_rows(G.dir[SB], "measures", "participant_id", G.p_moved), 0);
    assert_int_equal(count_rows(G.dir[SB], "row_meta", "row_id", G.p_moved), 0);
    assert_int_equal(count_rows(G.dir[SB], "scope_exits", "participant_id", G.p_moved), 0);
    assert_int_equal(db_int(G.dir[SB], "SELECT count(*) FROM idempotency WHERE instr(body, ?1)",
                            G.p_moved, NULL),
                     0);
    /* Central has moved the person and their records. */
    char v[64];
    assert_true(db_text(G.central_dir, "SELECT team FROM participants WHERE id = ?1", G.p_moved,
                        NULL, v, sizeof(v)));
    assert_string_equal(v, "prestwich");
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM encounters WHERE participant_id = ?1 AND team = "
                            "'prestwich'",
                            G.p_moved, NULL),
                     2); /* A's, and the one B wrote above */
}

static void test_move_new_site_receives(void **state)
{
    (void)state;
    /* C receives the person and everything about them. */
    sync_ok(SC);
    json_t *p = get_record(SC, "participants", G.p_moved, 200);
    assert_string_equal(jstr(p, "team"), "prestwich");
    assert_string_equal(jstr(p, "family_name"), "Mover");
    json_decref(p);
    json_t *e = get_record(SC, "encounters", G.e_moved, 200);
    assert_string_equal(jstr(e, "notes"), "before the move");
    assert_string_equal(jstr(e, "team"), "prestwich");
    json_decref(e);
    json_t *m = get_record(SC, "measures", G.m_moved, 200);
    assert_string_equal(jstr(m, "instrument"), "bmi");
    json_decref(m);
    check_verify(SC);
}

/* Progress hook: once the push phase has committed, a coach edits the person at B. */
struct hook {
    struct cb_store *s;
    const char *pid;
    int fired, rc;
};

static int local_edit(struct cb_store *s, const char *pid, const char *field, const char *value)
{
    struct cb_conn *c;
    char now[CB_TIME_STRLEN];
    int rc = cb_store_conn(s, &c);
    if (rc) {
        return rc;
    }
    json_t *v = json_pack("{s:s}", field, value);
    cb_time_format(cb_now_ms(), now);
    rc = cb_conn_begin(c);
    if (rc == CB_OK) {
        rc = cb_record_update(c, &cb_table_participants, pid, v, now);
        if (rc == CB_OK) {
            rc = cb_conn_commit(c);
        } else {
            cb_conn_rollback(c);
        }
    }
    json_decref(v);
    return rc;
}

static void on_progress(void *ud, const char *phase, int64_t done, int64_t total)
{
    struct hook *h = ud;
    (void)done;
    (void)total;
    if (!h->fired && strcmp(phase, "pull") == 0) {
        h->fired = 1;
        h->rc = local_edit(h->s, h->pid, "family_name", "Late edit at B");
    }
}

/*
 * n edits of a bury-town person written on central itself (like a manager's), one
 * transaction, straight into central's store beside the running server: n changes
 * in B's scope that B has not seen.  (A site is never sent its own writes back, so
 * they cannot come from B.)
 */
static void bulk_edit_at_central(int n)
{
    struct cb_store *s = NULL;
    struct cb_conn *c;
    char now[CB_TIME_STRLEN];
    assert_int_equal(cb_store_open(G.central_dir, &s), CB_OK);
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    cb_time_format(cb_now_ms(), now);
    int rc = cb_conn_begin(c);
    for (int i = 1; rc == CB_OK && i <= n; i++) {
        char val[32];
        snprintf(val, sizeof(val), "bulk %d", i);
        json_t *v = json_pack("{s:s}", "preferred_name", val);
        rc = cb_record_update(c, &cb_table_participants, G.p_conf, v, now);
        json_decref(v);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    cb_store_close(s);
    if (rc != CB_OK) {
        fail_msg("bulk edit at central: %s", cb_strerror(rc));
    }
}

/*
 * Earlier tests' hand-signed pushes used B's op ids; B's own next edit must come
 * after them (as it would had B sent them), so raise B's outbox sequence to
 * central's last_op_id for B.  Caller has stopped B's server.
 */
static void align_b_outbox_sequence(struct cb_store *s)
{
    struct cb_conn *c;
    char sql[300];
    long long last = b_last_op_id();
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    snprintf(sql, sizeof(sql),
             "UPDATE sqlite_sequence SET seq = %lld WHERE name = 'outbox' AND seq < %lld;"
             "INSERT INTO sqlite_sequence(name, seq) SELECT 'outbox', %lld WHERE NOT EXISTS "
             "(SELECT 1 FROM sqlite_sequence WHERE name = 'outbox')",
             last, last, last);
    assert_int_equal(cb_conn_exec(c, sql), CB_OK);
}

static void test_move_with_edit_waiting_at_old_site(void **state)
{
    (void)state;
    char path[160];
    create_person(SA, "Pat", "Pending", G.p_pend);
    sync_ok(SA);
    sync_ok(SB);
    assert_int_equal(count_rows(G.dir[SB], "participants", "id", G.p_pend), 1);
    /* B's server is stopped so that only this test's rounds run at B. */
    stop_site(SB);
    /* More than a page (5,000) of changes in B's scope ahead of the move, so that B's
     * next round applies the move on its second page, after a first page on which
     * this test can act (like a coach saving an edit in the middle of a round). */
    bulk_edit_at_central(5100);
    struct cb_store *s = NULL;
    assert_int_equal(cb_store_open(G.dir[SB], &s), CB_OK);
    align_b_outbox_sequence(s);
    /* An edit at B, not yet pushed, when the person moves at A. */
    assert_int_equal(local_edit(s, G.p_pend, "given_name", "Patricia"), CB_OK);
    snprintf(path, sizeof(path), "/api/participants/%s", G.p_pend);
    move_at_a(path, "prestwich");
    sync_ok(SA);

    /* B's round: it pushes the first edit, pulls a first page, then the coach edits the
     * person again, then the page with the move arrives while that edit waits. */
    struct hook h = {s, G.p_pend, 0, 0};
    struct cb_sync_result res;
    int rc = cb_sync_round(s, on_progress, &h, &res);
    if (rc != CB_OK) {
        cb_store_close(s);
        fail_msg("round at B: %s (%s)", cb_strerror(rc), res.error);
    }
    assert_true(h.fired);
    assert_int_equal(h.rc, CB_OK);
    assert_true(res.pulled > 5000);
    assert_int_equal(res.pending, 1);
    cb_store_close(s);
    /* B keeps the person until that edit is pushed. */
    assert_int_equal(count_rows(G.dir[SB], "participants", "id", G.p_pend), 1);
    assert_int_equal(count_rows(G.dir[SB], "scope_exits", "participant_id", G.p_pend), 1);
    assert_int_equal(count_rows(G.dir[SB], "outbox", "participant_id", G.p_pend), 1);
    /* The next round pushes it, then removes them. */
    sync_ok(SB);
    assert_int_equal(count_rows(G.dir[SB], "participants", "id", G.p_pend), 0);
    assert_int_equal(count_rows(G.dir[SB], "scope_exits", "participant_id", G.p_pend), 0);
    assert_int_equal(count_rows(G.dir[SB], "outbox", "participant_id", G.p_pend), 0);
    assert_int_equal(count_rows(G.dir[SB], "row_meta", "row_id", G.p_pend), 0);
}

static void test_move_edits_waiting_at_old_site_not_lost(void **state)
{
    (void)state;
    /* B's two edits were made while the person was still in B's team (B had not seen the
     * move); they touched other fields than the move.  Central must keep them (applied,
     * or at least in a conflict record), not refuse them as out of scope. */
    char given[64], family[64];
    assert_true(db_text(G.central_dir, "SELECT given_name FROM participants WHERE id = ?1",
                        G.p_pend, NULL, given, sizeof(given)));
    assert_true(db_text(G.central_dir, "SELECT family_name FROM participants WHERE id = ?1",
                        G.p_pend, NULL, family, sizeof(family)));
    long long kept = db_int(G.central_dir,
                            "SELECT count(*) FROM conflicts WHERE row_id = ?1 AND "
                            "(loser_value LIKE '%Patricia%' OR loser_value LIKE '%Late edit%')",
                            G.p_pend, NULL);
    if ((strcmp(given, "Patricia") != 0 || strcmp(family, "Late edit at B") != 0) && kept == 0) {
        fail_msg("edits made at B before it learnt of the move were dropped by central: "
                 "given_name %s, family_name %s, no conflict keeps them",
                 given, family);
    }
}

/* ---------------------------------------------------------------- refused requests */

static void test_signed_requests_refused(void **state)
{
    (void)state;
    struct cbt_resp r;
    char ts[32], nonce[40];
    const char *pull = "/sync/v1/pull?since=999999999&limit=1";

    /* A correct request works (sanity). */
    signed_rq("GET", pull, NULL, NULL, NULL, NULL, NULL, &r);
    if (r.status != 200) {
        fail_msg("signed pull: %ld %s", r.status, r.body);
    }
    cbt_resp_free(&r);

    /* Bad signature. */
    signed_rq("GET", pull, NULL, "not-the-secret", NULL, NULL, NULL, &r);
    expect_refusal(&r, 401, "bad_signature", "X-CB-Signature");
    cbt_resp_free(&r);
    /* Tampered body under a signature for another body. */
    {
        char site[64], secret[80], sig[CB_SIG_HEXLEN], h[5][160];
        const char *body = "{\"ops\":[]}", *sent = "{\"ops\": []}";
        db_text(G.dir[SB], "SELECT value FROM settings WHERE key = 'site_id'", NULL, NULL, site,
                sizeof(site));
        db_text(G.dir[SB], "SELECT value FROM settings WHERE key = 'site_secret'", NULL, NULL,
                secret, sizeof(secret));
        snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
        nonce_new(nonce);
        cb_sign(secret, "POST", "/sync/v1/push", ts, nonce, body, strlen(body), sig);
        snprintf(h[0], sizeof(h[0]), "X-CB-Site: %s", site);
        snprintf(h[1], sizeof(h[1]), "X-CB-Timestamp: %s", ts);
        snprintf(h[2], sizeof(h[2]), "X-CB-Nonce: %s", nonce);
        snprintf(h[3], sizeof(h[3]), "X-CB-Schema: %d", cb_store_schema_version());
        snprintf(h[4], sizeof(h[4]), "X-CB-Signature: %s", sig);
        const char *hs[] = {h[0], h[1], h[2], h[3], h[4], NULL};
        assert_int_equal(
            cbt_request_ex(&central_cl, "POST", "/sync/v1/push", sent, strlen(sent), NULL, hs, &r),
            0);
        expect_refusal(&r, 401, "bad_signature", "X-CB-Signature");
        cbt_resp_free(&r);
    }

    /* Replay: the same signed request twice. */
    snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
    nonce_new(nonce);
    signed_rq("GET", pull, NULL, NULL, ts, nonce, NULL, &r);
    assert_int_equal(r.status, 200);
    cbt_resp_free(&r);
    signed_rq("GET", pull, NULL, NULL, ts, nonce, NULL, &r);
    expect_refusal(&r, 401, "replayed", "X-CB-Nonce");
    cbt_resp_free(&r);

    /* A timestamp 6 minutes old, and one 6 minutes ahead. */
    snprintf(ts, sizeof(ts), "%lld", (long long)(cb_now_ms() - 6 * 60 * 1000));
    signed_rq("GET", pull, NULL, NULL, ts, NULL, NULL, &r);
    expect_refusal(&r, 401, "stale_request", "X-CB-Timestamp");
    cbt_resp_free(&r);
    snprintf(ts, sizeof(ts), "%lld", (long long)(cb_now_ms() + 6 * 60 * 1000));
    signed_rq("GET", pull, NULL, NULL, ts, NULL, NULL, &r);
    expect_refusal(&r, 401, "stale_request", "X-CB-Timestamp");
    cbt_resp_free(&r);

    /* Unknown site; missing headers. */
    {
        const char *hs[] = {"X-CB-Site: 01900000-0000-7000-8000-000000000000", "X-CB-Timestamp: 1",
                            "X-CB-Nonce: 0123456789abcdef0123", "X-CB-Signature: 00", NULL};
        assert_int_equal(cbt_request_ex(&central_cl, "GET", pull, NULL, 0, NULL, hs, &r), 0);
        expect_refusal(&r, 401, "unauthenticated", NULL);
        cbt_resp_free(&r);
        assert_int_equal(cbt_request(&central_cl, "GET", pull, NULL, &r), 0);
        expect_refusal(&r, 401, "unauthenticated", NULL);
        cbt_resp_free(&r);
    }

    /* Wrong schema: 409, nothing applied. */
    long long last = b_last_op_id();
    char *body = push_body(last + 1, "participants", G.p_conf,
                           json_pack("{s:s}", "preferred_name", "schema says no"));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, "999", &r);
    expect_refusal(&r, 409, "schema_mismatch", "X-CB-Schema");
    cbt_resp_free(&r);
    free(body);
    assert_int_equal(b_last_op_id(), last);
    char v[128];
    db_text(G.central_dir, "SELECT preferred_name FROM participants WHERE id = ?1", G.p_conf, NULL,
            v, sizeof(v));
    assert_string_not_equal(v, "schema says no");
    /* A site of an older version signs the older way (its body hash): it is told to
     * upgrade, not that its signature is bad; the same bad signature with this
     * schema is a bad signature. */
    char older[16];
    snprintf(older, sizeof(older), "%d", cb_store_schema_version() - 1);
    body = push_body(last + 1, "participants", G.p_conf,
                     json_pack("{s:s}", "preferred_name", "old site"));
    signed_rq("POST", "/sync/v1/push", body, "not-the-secret", NULL, NULL, older, &r);
    expect_refusal(&r, 409, "schema_mismatch", "X-CB-Schema");
    if (!strstr(cbt_jstr(&r, "error.message"), "upgrade")) {
        fail_msg("an older site is not told to upgrade: %s", r.body);
    }
    cbt_resp_free(&r);
    signed_rq("POST", "/sync/v1/push", body, "not-the-secret", NULL, NULL, NULL, &r);
    expect_refusal(&r, 401, "bad_signature", "X-CB-Signature");
    cbt_resp_free(&r);
    free(body);
    assert_int_equal(b_last_op_id(), last);

    /* A push's nonce is recorded in the batch's transaction (hub.c): a replayed push
     * is refused whether the first was applied or refused, and a nonce a pull used
     * cannot sign a push. */
    const char *empty = "{\"ops\":[],\"pending\":0}"; /* applies nothing, consumes no op id */
    snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
    nonce_new(nonce);
    signed_rq("POST", "/sync/v1/push", empty, NULL, ts, nonce, NULL, &r);
    if (r.status != 200 || json_integer_value(json_object_get(r.json, "ack")) != last) {
        fail_msg("empty push: %ld %s", r.status, r.body);
    }
    cbt_resp_free(&r);
    signed_rq("POST", "/sync/v1/push", empty, NULL, ts, nonce, NULL, &r);
    expect_refusal(&r, 401, "replayed", "X-CB-Nonce");
    cbt_resp_free(&r);
    const char *bad = "{\"ops\":5}";
    snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
    nonce_new(nonce);
    signed_rq("POST", "/sync/v1/push", bad, NULL, ts, nonce, NULL, &r);
    expect_refusal(&r, 400, "invalid", "ops");
    cbt_resp_free(&r);
    signed_rq("POST", "/sync/v1/push", bad, NULL, ts, nonce, NULL, &r);
    expect_refusal(&r, 401, "replayed", "X-CB-Nonce");
    cbt_resp_free(&r);
    snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
    nonce_new(nonce);
    signed_rq("POST", "/sync/v1/push", bad, NULL, ts, nonce, "999", &r);
    expect_refusal(&r, 409, "schema_mismatch", "X-CB-Schema");
    cbt_resp_free(&r);
    signed_rq("POST", "/sync/v1/push", bad, NULL, ts, nonce, "999", &r);
    expect_refusal(&r, 401, "replayed", "X-CB-Nonce");
    cbt_resp_free(&r);
    snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
    nonce_new(nonce);
    signed_rq("GET", pull, NULL, NULL, ts, nonce, NULL, &r);
    assert_int_equal(r.status, 200);
    cbt_resp_free(&r);
    signed_rq("POST", "/sync/v1/push", bad, NULL, ts, nonce, NULL, &r);
    expect_refusal(&r, 401, "replayed", "X-CB-Nonce");
    cbt_resp_free(&r);
    assert_int_equal(b_last_op_id(), last);
}

static void test_push_out_of_scope_duplicates_gaps(void **state)
{
    (void)state;
    struct cbt_resp r;
    char v[128];
    /* B pushes an op for a person of prestwich: rejected, consumed, not applied. */
    long long last = b_last_op_id();
    char *body = push_body(last + 1, "participants", G.p_pres,
                           json_pack("{s:s}", "family_name", "Hijacked by B"));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    free(body);
    if (r.status != 200) {
        fail_msg("push: %ld %s", r.status, r.body);
    }
    json_t *rej = json_object_get(r.json, "rejected");
    assert_int_equal(json_array_size(rej), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rej, 0), "op_id")),
                     last + 1);
    const char *why = json_string_value(json_object_get(json_array_get(rej, 0), "reason"));
    assert_non_null(why);
    assert_true(contains(why, "team"));
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ack")), last + 1);
    cbt_resp_free(&r);
    db_text(G.central_dir, "SELECT family_name FROM participants WHERE id = ?1", G.p_pres, NULL, v,
            sizeof(v));
    assert_string_equal(v, "Prestwich");

    /* Accounts and teams cannot be pushed at all. */
    last = b_last_op_id();
    char uid[40];
    db_text(G.central_dir, "SELECT id FROM users WHERE username = 'coach.bury'", NULL, NULL, uid,
            sizeof(uid));
    body = push_body(last + 1, "users", uid, json_pack("{s:s}", "role", "manager"));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    free(body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "rejected")), 1);
    cbt_resp_free(&r);
    db_text(G.central_dir, "SELECT role FROM users WHERE id = ?1", uid, NULL, v, sizeof(v));
    assert_string_equal(v, "coach");

    /* A batch sent twice: the second is all duplicates, nothing applied twice. */
    last = b_last_op_id();
    char op[32];
    snprintf(op, sizeof(op), "%lld", last + 1);
    body = push_body(last + 1, "participants", G.p_conf,
                     json_pack("{s:s}", "preferred_name", "Sent twice"));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "duplicates")), 0);
    cbt_resp_free(&r);
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r); /* fresh nonce */
    free(body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "duplicates")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ack")), last + 1);
    cbt_resp_free(&r);
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM changes WHERE site = ?1 AND op_id = ?2",
                            G.site_id[SB], op),
                     1);
    db_text(G.central_dir, "SELECT preferred_name FROM participants WHERE id = ?1", G.p_conf, NULL,
            v, sizeof(v));
    assert_string_equal(v, "Sent twice");

    /* The same op id with a later HLC is not a resend but another write under an id
     * central has accepted (a site restored from a backup): refused, nothing applied,
     * and the answer gives central's mark so the site can renumber. */
    pause_ms(5);
    body = push_body(last + 1, "participants", G.p_conf,
                     json_pack("{s:s}", "preferred_name", "Reused id"));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    free(body);
    expect_refusal(&r, 409, "op_ids_reused", NULL);
    assert_int_equal(json_integer_value(json_object_get(r.json, "last_op_id")), last + 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "first_reused")), last + 1);
    cbt_resp_free(&r);
    assert_int_equal(b_last_op_id(), last + 1);
    db_text(G.central_dir, "SELECT preferred_name FROM participants WHERE id = ?1", G.p_conf, NULL,
            v, sizeof(v));
    assert_string_equal(v, "Sent twice");

    /* A gap: nothing past it is applied, the ack stays. */
    last = b_last_op_id();
    body = push_body(last + 2, "participants", G.p_conf,
                     json_pack("{s:s}", "preferred_name", "After a gap"));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    free(body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ack")), last);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 0);
    cbt_resp_free(&r);
    assert_int_equal(b_last_op_id(), last);
    db_text(G.central_dir, "SELECT preferred_name FROM participants WHERE id = ?1", G.p_conf, NULL,
            v, sizeof(v));
    assert_string_equal(v, "Sent twice");
}

static void test_push_new_record_about_other_teams_person(void **state)
{
    (void)state;
    struct cbt_resp r;
    /* B creates a record about C's (prestwich) person, claiming its own team for the
     * row: a record's scope is its person's team, so this must be refused too. */
    long long last = b_last_op_id();
    char *body =
        push_body(last + 1, "encounters", "01900000-0000-7000-8000-00000000e001",
                  json_pack("{s:s, s:s, s:s, s:s}", "participant_id", G.p_pres, "type", "phone",
                            "occurred_at", "2026-01-05T10:00:00.000Z", "team", "bury-town"));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    free(body);
    assert_int_equal(r.status, 200);
    size_t rejected = json_array_size(json_object_get(r.json, "rejected"));
    cbt_resp_free(&r);
    long long stored = count_rows(G.central_dir, "encounters", "participant_id", G.p_pres);
    if (rejected != 1 || stored != 0) {
        fail_msg("site B (bury-town) added an encounter about a prestwich participant by "
                 "labelling it bury-town: rejected %zu, stored %lld",
                 rejected, stored);
    }
}

/*
 * A new record is logged as applied: exactly as sent (the text taken of the op
 * before the push's turn) or, when central changed it, as changed.  B sends an
 * encounter about its own person labelled with another team: central stores
 * the person's team, and the change every site pulls says so too.
 */
static void test_push_new_record_team_follows_person(void **state)
{
    (void)state;
    struct cbt_resp r;
    char team[64], fields[1024], op[32];
    static const char *const row = "01900000-0000-7000-8000-00000000e002";
    static const char *const exact = "01900000-0000-7000-8000-00000000e003";
    db_text(G.central_dir, "SELECT team FROM participants WHERE id = ?1", G.p_conf, NULL, team,
            sizeof(team));
    assert_string_equal(team, "bury-town");
    for (int as_sent = 0; as_sent < 2; as_sent++) {
        long long last = b_last_op_id();
        char *body = push_body(last + 1, "encounters", as_sent ? exact : row,
                               json_pack("{s:s, s:s, s:s, s:s, s:s}", "participant_id", G.p_conf,
                                         "type", "phone", "occurred_at", "2026-01-05T10:00:00.000Z",
                                         "team", as_sent ? "bury-town" : "radcliffe", "notes",
                                         "caf\u00e9 \"quoted\""));
        signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
        free(body);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 1);
        cbt_resp_free(&r);
        snprintf(op, sizeof(op), "%lld", last + 1);
        db_text(G.central_dir, "SELECT team FROM encounters WHERE id = ?1", as_sent ? exact : row,
                NULL, team, sizeof(team));
        assert_string_equal(team, "bury-town");
        assert_true(db_text(G.central_dir,
                            "SELECT fields FROM changes WHERE site = ?1 AND op_id = ?2",
                            G.site_id[SB], op, fields, sizeof(fields)));
        char want[1024];
        snprintf(want, sizeof(want),
                 "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":"
                 "\"2026-01-05T10:00:00.000Z\",\"team\":\"bury-town\",\"notes\":"
                 "\"caf\\u00E9 \\\"quoted\\\"\"}",
                 G.p_conf);
        assert_string_equal(fields, want);
        /* only the op B sent as it is counts as B's own, not sent back to it */
        assert_int_equal(db_int(G.central_dir,
                                "SELECT exact FROM changes WHERE site = ?1 AND op_id = ?2",
                                G.site_id[SB], op),
                         as_sent);
    }
}

/*
 * One batch about a person it creates and then moves (central remembers the
 * teams of the people a batch touches, hub.c person_cache): a record after
 * the person's insert is labelled with their team, a record after their move
 * with the new one, never the team remembered from before the move.
 */
static void test_push_batch_person_moves_mid_batch(void **state)
{
    (void)state;
    struct cbt_resp r;
    char team[64];
    static const char *const pid = "01900000-0000-7000-8000-00000000e010";
    static const char *const e1 = "01900000-0000-7000-8000-00000000e011";
    static const char *const e2 = "01900000-0000-7000-8000-00000000e012";
    const char *now = "2026-01-05T10:00:00.000Z";
    json_int_t last = b_last_op_id();
    json_int_t hlc = (json_int_t)cb_hlc_pack(cb_now_ms(), 0);
    json_t *b = json_pack("{s:[{s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:I, s:I},"
                          "    {s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:I, s:I},"
                          "    {s:I, s:s, s:s, s:{s:s}, s:I, s:I},"
                          "    {s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:I, s:I}], s:i}",
                          "ops", /* the person, in B's team */
                          "op_id", last + 1, "tbl", "participants", "row_id", pid, "fields",
                          "given_name", "Moe", "family_name", "Midbatch", "date_of_birth",
                          "1970-01-01", "team", "bury-town", "hlc", hlc, "base_seq", (json_int_t)0,
                          /* a record about them, claiming another team */
                          "op_id", last + 2, "tbl", "encounters", "row_id", e1, "fields",
                          "participant_id", pid, "type", "phone", "occurred_at", now, "team",
                          "radcliffe", "hlc", hlc + 1, "base_seq", (json_int_t)0,
                          /* they move to radcliffe */
                          "op_id", last + 3, "tbl", "participants", "row_id", pid, "fields", "team",
                          "radcliffe", "hlc", hlc + 2, "base_seq", (json_int_t)0,
                          /* a record written before B learnt of the move, claiming B's team */
                          "op_id", last + 4, "tbl", "encounters", "row_id", e2, "fields",
                          "participant_id", pid, "type", "phone", "occurred_at", now, "team",
                          "bury-town", "hlc", hlc + 3, "base_seq", (json_int_t)0, "pending", 4);
    assert_non_null(b);
    push_json(b, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ack")), last + 4);
    char *rj = json_dumps(json_object_get(r.json, "rejected"), 0);
    if (json_array_size(json_object_get(r.json, "rejected")) != 0) {
        fail_msg("rejected: %s", rj);
    }
    free(rj);
    cbt_resp_free(&r);
    assert_true(db_text(G.central_dir, "SELECT team FROM participants WHERE id = ?1", pid, NULL,
                        team, sizeof(team)));
    assert_string_equal(team, "radcliffe");
    assert_true(db_text(G.central_dir, "SELECT team FROM encounters WHERE id = ?1", e1, NULL, team,
                        sizeof(team)));
    assert_string_equal(team, "radcliffe"); /* moved with its person */
    assert_true(db_text(G.central_dir, "SELECT team FROM encounters WHERE id = ?1", e2, NULL, team,
                        sizeof(team)));
    if (strcmp(team, "radcliffe") != 0) {
        fail_msg("a record pushed after its person moved (same batch) was labelled %s, not "
                 "the person's team radcliffe",
                 team);
    }
}

/* Run sql on dir's database, read-write (central may be running: WAL). */
static void db_exec_rw(const char *dir, const char *sql)
{
    char path[600];
    sqlite3 *db = NULL;
    char *err = NULL;
    snprintf(path, sizeof(path), "%s/coachbox.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fail_msg("cannot open %s", path);
    }
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fail_msg("SQL %s: %s", sql, err ? err : "?");
    }
    sqlite3_close(db);
}

/* A push of two encounters (op ids op, op + 1; notes n1, n2) from B. */
static json_t *two_ops(long long op, const char *n1, const char *n2)
{
    static const char *const ids[2] = {"01900000-0000-7000-8000-00000000e021",
                                       "01900000-0000-7000-8000-00000000e022"};
    json_int_t hlc = (json_int_t)cb_hlc_pack(1780000000000LL, 0); /* fixed: resends equal */
    json_t *ops = json_array();
    for (int k = 0; k < 2; k++) {
        json_array_append_new(
            ops, json_pack("{s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:I, s:I}", "op_id",
                           (json_int_t)(op + k), "tbl", "encounters", "row_id", ids[k], "fields",
                           "participant_id", G.p_conf, "type", "phone", "occurred_at",
                           "2026-01-06T10:00:00.000Z", "team", "bury-town", "notes", k ? n2 : n1,
                           "hlc", hlc + k, "base_seq", (json_int_t)0));
    }
    return ops;
}

/* A push of two encounters (op ids op, op + 1; notes n1, n2) from B. */
static void push_two(long long op, const char *n1, const char *n2, struct cbt_resp *r)
{
    push_json(json_pack("{s:o, s:i}", "ops", two_ops(op, n1, n2), "pending", 2), r);
}

/* The digest central stored in site_ops before migration 19 (hub.c's
 * op_digest_v1, written again here from its definition: FNV-1a over a
 * type-tagged walk of tbl, row_id, hlc and fields). */
static uint64_t v1_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 1099511628211ULL;
    }
    return h;
}

static uint64_t v1_walk(uint64_t h, const json_t *v, int depth)
{
    char tag = v ? (char)('0' + (int)json_typeof(v)) : 'x';
    h = v1_fnv(h, &tag, 1);
    if (!v || depth > 16) {
        return h;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)(uintptr_t)v, key, m)
        {
            size_t n = strlen(key);
            h = v1_fnv(h, &n, sizeof(n));
            h = v1_fnv(h, key, n);
            h = v1_walk(h, m, depth + 1);
        }
    } else if (json_is_string(v)) {
        size_t n = json_string_length(v);
        h = v1_fnv(h, &n, sizeof(n));
        h = v1_fnv(h, json_string_value(v), n);
    } else if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        h = v1_fnv(h, &i, sizeof(i));
    }
    return h; /* (the ops here hold no arrays or reals) */
}

static long long digest_v1(const json_t *op)
{
    uint64_t h = 1469598103934665603ULL;
    static const char *const keys[] = {"tbl", "row_id", "hlc", "fields", NULL};
    for (const char *const *k = keys; *k; k++) {
        h = v1_walk(h, json_object_get(op, *k), 0);
    }
    return (long long)h;
}

/*
 * A record pointed at another person (a merge, or its undo, at a site serving
 * both teams) takes the new person's team, whether or not the op names one:
 * never the old person's, which would send it to the old team's sites and
 * keep it from the new team's.
 */
static void test_push_repointed_record_takes_new_persons_team(void **state)
{
    (void)state;
    struct cbt_resp r;
    char sql[256], team[64];
    static const char *const pa = "01900000-0000-7000-8000-00000000e030";
    static const char *const pp = "01900000-0000-7000-8000-00000000e031";
    static const char *const rec[2] = {"01900000-0000-7000-8000-00000000e032",
                                       "01900000-0000-7000-8000-00000000e033"};
    const char *now = "2026-01-05T10:00:00.000Z";
    snprintf(sql, sizeof(sql),
             "UPDATE sites SET teams = '[\"bury-town\",\"prestwich\"]' WHERE id = '%s'",
             G.site_id[SB]);
    db_exec_rw(G.central_dir, sql);
    json_int_t last = b_last_op_id();
    json_int_t hlc = (json_int_t)cb_hlc_pack(cb_now_ms(), 0);
    json_t *b = json_pack(
        "{s:[o, o, {s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:I, s:I},"
        "    {s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:I, s:I}], s:i}",
        "ops", new_person_op(last + 1, pa, "Abe", "Bury", "1970-01-01", "bury-town", now, hlc),
        new_person_op(last + 2, pp, "Pam", "Prestwich", "1971-01-01", "prestwich", now, hlc + 1),
        "op_id", last + 3, "tbl", "encounters", "row_id", rec[0], "fields", "participant_id", pa,
        "type", "phone", "occurred_at", now, "team", "bury-town", "created_at", now, "hlc", hlc + 2,
        "base_seq", (json_int_t)0, "op_id", last + 4, "tbl", "encounters", "row_id", rec[1],
        "fields", "participant_id", pa, "type", "video", "occurred_at", now, "team", "bury-town",
        "created_at", now, "hlc", hlc + 3, "base_seq", (json_int_t)0, "pending", 0);
    push_json(b, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 4);
    cbt_resp_free(&r);
    long long base = db_int(G.central_dir, "SELECT max(seq) FROM changes", NULL, NULL);
    /* Re-pointed at the prestwich person: once naming the old team, once no team. */
    for (int i = 0; i < 2; i++) {
        last = b_last_op_id();
        json_t *f = i == 0 ? json_pack("{s:s, s:s}", "participant_id", pp, "team", "bury-town")
                           : json_pack("{s:s}", "participant_id", pp);
        char *body = push_body(last + 1, "encounters", rec[i], f);
        signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
        free(body);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 1);
        cbt_resp_free(&r);
        db_text(G.central_dir, "SELECT team FROM encounters WHERE id = ?1", rec[i], NULL, team,
                sizeof(team));
        if (strcmp(team, "prestwich") != 0) {
            fail_msg("a record re-pointed at a prestwich person (op %s a team) is in team %s",
                     i == 0 ? "naming the old" : "naming no", team);
        }
        /* prestwich's sites receive the row; bury-town's are told it left them */
        char seq[32];
        snprintf(seq, sizeof(seq), "%lld", base);
        assert_true(db_int(G.central_dir,
                           "SELECT count(*) FROM changes WHERE row_id = ?1 AND seq > ?2 AND "
                           "scope = 'prestwich'",
                           rec[i], seq) >= 1);
        assert_true(db_int(G.central_dir,
                           "SELECT count(*) FROM changes WHERE row_id = ?1 AND seq > ?2 AND "
                           "scope2 = 'bury-town'",
                           rec[i], seq) >= 1);
    }
    snprintf(sql, sizeof(sql), "UPDATE sites SET teams = '[\"bury-town\"]' WHERE id = '%s'",
             G.site_id[SB]);
    db_exec_rw(G.central_dir, sql);
}

/*
 * Central keeps the digests of a batch's ops as one row (site_op_runs): a
 * resend of the batch is told from a new write under a used id through it,
 * through the batch being applied (a batch naming one id twice), and through
 * the per-op rows (site_ops) of ops consumed before migration 19.
 */
static void test_push_digests_kept_per_batch(void **state)
{
    (void)state;
    struct cbt_resp r;
    char first[32], q[1024];
    long long last = b_last_op_id();
    snprintf(first, sizeof(first), "%lld", last + 1);
    push_two(last + 1, "one", "two", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ack")), last + 2);
    cbt_resp_free(&r);
    assert_int_equal(db_int(G.central_dir,
                            "SELECT last_op - first_op + 1 + 100 * length(digests) FROM "
                            "site_op_runs WHERE site = ?1 AND first_op = ?2",
                            G.site_id[SB], first),
                     2 + 100 * 16);
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM site_ops WHERE site = ?1 AND op_id >= ?2",
                            G.site_id[SB], first),
                     0);

    for (int legacy = 0; legacy < 2; legacy++) {
        if (legacy) {
            /* As if consumed before migration 19: a row per op with the digest of
             * then, no run. */
            json_t *ops = two_ops(last + 1, "one", "two");
            snprintf(q, sizeof(q),
                     "INSERT INTO site_ops(site, op_id, digest) VALUES ('%s', %lld, %lld), "
                     "('%s', %lld, %lld);"
                     "DELETE FROM site_op_runs WHERE site = '%s' AND first_op = %lld;",
                     G.site_id[SB], last + 1, digest_v1(json_array_get(ops, 0)), G.site_id[SB],
                     last + 2, digest_v1(json_array_get(ops, 1)), G.site_id[SB], last + 1);
            json_decref(ops);
            db_exec_rw(G.central_dir, q);
            assert_int_equal(db_int(G.central_dir,
                                    "SELECT count(*) FROM site_ops WHERE site = ?1 AND op_id >= ?2",
                                    G.site_id[SB], first),
                             2);
        }
        /* The same batch again: two duplicates, nothing applied. */
        push_two(last + 1, "one", "two", &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_integer_value(json_object_get(r.json, "duplicates")), 2);
        assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 0);
        cbt_resp_free(&r);
        /* Its second op changed: a new write under a used id. */
        push_two(last + 1, "one", "two, changed", &r);
        expect_refusal(&r, 409, "op_ids_reused", NULL);
        assert_int_equal(json_integer_value(json_object_get(r.json, "first_reused")), last + 2);
        cbt_resp_free(&r);
    }

    /* One batch naming an id twice, with two contents: refused before anything of it
     * is applied (the first is in the batch's own run, not yet written). */
    last = b_last_op_id();
    push_two(last + 1, "three", "four", &r);
    assert_int_equal(r.status, 200);
    cbt_resp_free(&r);
    json_int_t hlc = (json_int_t)cb_hlc_pack(1780000000000LL, 0);
    json_t *b = json_pack(
        "{s:[{s:I, s:s, s:s, s:{s:s}, s:I, s:I}, {s:I, s:s, s:s, s:{s:s}, s:I, s:I}], s:i}", "ops",
        "op_id", (json_int_t)(last + 3), "tbl", "participants", "row_id", G.p_conf, "fields",
        "preferred_name", "Twice A", "hlc", hlc + 5, "base_seq", (json_int_t)0, "op_id",
        (json_int_t)(last + 3), "tbl", "participants", "row_id", G.p_conf, "fields",
        "preferred_name", "Twice B", "hlc", hlc + 6, "base_seq", (json_int_t)0, "pending", 2);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    char before[64], after[64];
    db_text(G.central_dir, "SELECT preferred_name FROM participants WHERE id = ?1", G.p_conf, NULL,
            before, sizeof(before));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    free(body);
    expect_refusal(&r, 409, "op_ids_reused", NULL);
    assert_int_equal(json_integer_value(json_object_get(r.json, "first_reused")), last + 3);
    cbt_resp_free(&r);
    assert_int_equal(b_last_op_id(), last + 2);
    db_text(G.central_dir, "SELECT preferred_name FROM participants WHERE id = ?1", G.p_conf, NULL,
            after, sizeof(after));
    assert_string_equal(after, before);
}

static void test_push_clock_ahead_restamped(void **state)
{
    (void)state;
    struct cbt_resp r;
    long long last = b_last_op_id();
    char op[32];
    snprintf(op, sizeof(op), "%lld", last + 1);
    /* A site whose clock is 10 minutes fast: central restamps its change. */
    uint64_t ahead = cb_hlc_pack(cb_now_ms() + 10 * 60 * 1000, 0);
    json_t *b = json_pack("{s:[{s:I, s:s, s:s, s:{s:s}, s:I, s:I}]}", "ops", "op_id",
                          (json_int_t)(last + 1), "tbl", "participants", "row_id", G.p_conf,
                          "fields", "preferred_name", "fast clock", "hlc", (json_int_t)ahead,
                          "base_seq", (json_int_t)1000000);
    push_json(b, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "restamped")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 1);
    cbt_resp_free(&r);
    assert_int_equal(db_int(G.central_dir,
                            "SELECT restamped FROM changes WHERE site = ?1 AND op_id = ?2",
                            G.site_id[SB], op),
                     1);
    uint64_t logged = (uint64_t)db_int(
        G.central_dir, "SELECT hlc FROM changes WHERE site = ?1 AND op_id = ?2", G.site_id[SB], op);
    assert_true(logged < ahead);
    assert_true(cb_hlc_ms(logged) <= cb_now_ms() + 1000);
    assert_true(db_int(G.central_dir,
                       "SELECT count(*) FROM audit_events WHERE action = 'sync.restamped' AND "
                       "entity_id = ?1",
                       G.site_id[SB], NULL) >= 1);
}

/*
 * A change central logged exactly as a site sent it is not sent back to that site
 * (its cursor still moves past it), but every other site of the team receives it;
 * an edit about a row that changed since the site's base is sent back, because
 * the site would otherwise keep an older value pulled after its push.
 */
static void bulk_edit_at_central(int n);

static void test_own_writes_not_echoed(void **state)
{
    (void)state;
    struct cbt_resp r;
    char pull[96], v[64];
    /* A write on central to the person of op 2 (their preferred name), unseen by B. */
    long long before = db_int(G.central_dir, "SELECT max(seq) FROM changes", NULL, NULL);
    bulk_edit_at_central(1);
    long long head = db_int(G.central_dir, "SELECT max(seq) FROM changes", NULL, NULL);
    assert_true(head > before);
    long long last = b_last_op_id();
    /* Op 1: based on central's head, so nothing changed since: exact.  Op 2: another
     * field of the person central just wrote, based on before that write: sent back. */
    json_t *b = json_pack(
        "{s:[{s:I, s:s, s:s, s:{s:s}, s:I, s:I}, {s:I, s:s, s:s, s:{s:s}, s:I, s:I}]}", "ops",
        "op_id", (json_int_t)(last + 1), "tbl", "participants", "row_id", G.p_basic, "fields",
        "preferred_name", "Echo-free", "hlc", (json_int_t)cb_hlc_pack(cb_now_ms(), 1), "base_seq",
        (json_int_t)head, "op_id", (json_int_t)(last + 2), "tbl", "participants", "row_id",
        G.p_conf, "fields", "given_name", "Sent back", "hlc",
        (json_int_t)cb_hlc_pack(cb_now_ms(), 2), "base_seq", (json_int_t)before);
    push_json(b, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 2);
    assert_int_equal(json_integer_value(json_object_get(r.json, "conflicts")), 0);
    cbt_resp_free(&r);
    long long seq1 =
        db_int(G.central_dir, "SELECT max(seq) FROM changes WHERE row_id = ?1", G.p_basic, NULL);
    long long seq2 =
        db_int(G.central_dir, "SELECT max(seq) FROM changes WHERE row_id = ?1", G.p_conf, NULL);
    assert_true(seq1 > head && seq2 > seq1);

    /* B's pull from before the push: op 2 comes back, op 1 does not; next passes both. */
    snprintf(pull, sizeof(pull), "/sync/v1/pull?since=%lld", before);
    signed_rq("GET", pull, NULL, NULL, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *changes = json_object_get(r.json, "changes");
    int saw1 = 0, saw2 = 0;
    size_t i;
    json_t *ch;
    json_array_foreach(changes, i, ch)
    {
        json_int_t seq = json_integer_value(json_object_get(ch, "seq"));
        saw1 |= seq == seq1;
        saw2 |= seq == seq2;
    }
    assert_false(saw1);
    assert_true(saw2);
    assert_true(json_integer_value(json_object_get(r.json, "next")) >= seq2);
    assert_false(json_is_true(json_object_get(r.json, "more")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "last_op_id")), last + 2);
    cbt_resp_free(&r);

    /* A site that says it holds its ops only up to before op 1 (restored from a backup)
     * gets op 1 back too. */
    snprintf(pull, sizeof(pull), "/sync/v1/pull?since=%lld&ops=%lld", before, last);
    signed_rq("GET", pull, NULL, NULL, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    saw1 = saw2 = 0;
    json_array_foreach(json_object_get(r.json, "changes"), i, ch)
    {
        json_int_t seq = json_integer_value(json_object_get(ch, "seq"));
        saw1 |= seq == seq1;
        saw2 |= seq == seq2;
    }
    assert_true(saw1);
    assert_true(saw2);
    cbt_resp_free(&r);

    /* Site A (same team) receives both. */
    sync_ok(SA);
    assert_true(db_text(G.dir[SA], "SELECT preferred_name FROM participants WHERE id = ?1",
                        G.p_basic, NULL, v, sizeof(v)));
    assert_string_equal(v, "Echo-free");
    assert_true(db_text(G.dir[SA], "SELECT given_name FROM participants WHERE id = ?1", G.p_conf,
                        NULL, v, sizeof(v)));
    assert_string_equal(v, "Sent back");
}

static void test_central_clock_survives_restart(void **state)
{
    (void)state;
    struct cbt_resp r;
    long long last = b_last_op_id();
    /* A site 4 minutes ahead (within the 5 allowed): central adopts its HLC... */
    uint64_t ahead = cb_hlc_pack(cb_now_ms() + 4 * 60 * 1000, 7);
    json_t *b = json_pack("{s:[{s:I, s:s, s:s, s:{s:s}, s:I, s:I}]}", "ops", "op_id",
                          (json_int_t)(last + 1), "tbl", "participants", "row_id", G.p_conf,
                          "fields", "preferred_name", "slightly fast", "hlc", (json_int_t)ahead,
                          "base_seq", (json_int_t)1000000);
    push_json(b, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "restamped")), 0);
    cbt_resp_free(&r);
    /* ...and after a restart its clock is still past it (hlc.h: never backwards, not
     * across restarts, not past an observed value): a manager's edit at central is
     * stamped later than the site's edit it follows. */
    int port = G.central.port;
    assert_int_equal(cbt_server_stop(&G.central), 0);
    if (central_start(port) != 0) {
        fail_msg("central did not restart on port %d", port);
    }
    struct cbt_client mgr;
    char path[160];
    cbt_client_init(&mgr, G.central.url);
    assert_int_equal(cbt_login(&mgr, "manager.central", PW), 200);
    snprintf(path, sizeof(path), "/api/participants/%s", G.p_conf);
    json_decref(
        api(&mgr, "PATCH", path, json_pack("{s:s}", "preferred_name", "set by manager"), 200));
    cbt_client_free(&mgr);
    uint64_t h = (uint64_t)db_int(G.central_dir,
                                  "SELECT hlc FROM changes WHERE row_id = ?1 AND site = 'central' "
                                  "ORDER BY seq DESC LIMIT 1",
                                  G.p_conf, NULL);
    if (h <= ahead) {
        fail_msg("central's edit after a restart has HLC %llu, not after the observed %llu: the "
                 "hub does not persist the clock it advanced (setting \"hlc\")",
                 (unsigned long long)h, (unsigned long long)ahead);
    }
}

/* The same large batch sent twice at once (a retry racing a slow answer). */
struct pusher {
    const char *body;
    long status;
    long long applied, duplicates;
};

static void *push_thread(void *p)
{
    struct pusher *ps = p;
    struct cbt_client cl;
    char site[64], secret[80], ts[32], nonce[40], sig[CB_SIG_HEXLEN], h[5][160];
    cbt_client_init(&cl, G.central.url);
    db_text(G.dir[SB], "SELECT value FROM settings WHERE key = 'site_id'", NULL, NULL, site,
            sizeof(site));
    db_text(G.dir[SB], "SELECT value FROM settings WHERE key = 'site_secret'", NULL, NULL, secret,
            sizeof(secret));
    snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
    nonce_new(nonce);
    cb_sign(secret, "POST", "/sync/v1/push", ts, nonce, ps->body, strlen(ps->body), sig);
    snprintf(h[0], sizeof(h[0]), "X-CB-Site: %s", site);
    snprintf(h[1], sizeof(h[1]), "X-CB-Timestamp: %s", ts);
    snprintf(h[2], sizeof(h[2]), "X-CB-Nonce: %s", nonce);
    snprintf(h[3], sizeof(h[3]), "X-CB-Schema: %d", cb_store_schema_version());
    snprintf(h[4], sizeof(h[4]), "X-CB-Signature: %s", sig);
    const char *hs[] = {h[0], h[1], h[2], h[3], h[4], NULL};
    struct cbt_resp r;
    ps->status = -1;
    if (cbt_request_ex(&cl, "POST", "/sync/v1/push", ps->body, strlen(ps->body), NULL, hs, &r) ==
        0) {
        ps->status = r.status;
        ps->applied = json_integer_value(json_object_get(r.json, "applied"));
        ps->duplicates = json_integer_value(json_object_get(r.json, "duplicates"));
        cbt_resp_free(&r);
    }
    cbt_client_free(&cl);
    return NULL;
}

static void test_concurrent_duplicate_batches(void **state)
{
    (void)state;
    enum { N = 1500 };
    long long last = b_last_op_id();
    json_t *ops = json_array();
    for (int i = 1; i <= N; i++) {
        char val[32];
        snprintf(val, sizeof(val), "batch %d", i);
        json_array_append_new(
            ops, json_pack("{s:I, s:s, s:s, s:{s:s}, s:I, s:I}", "op_id", (json_int_t)(last + i),
                           "tbl", "participants", "row_id", G.p_conf, "fields", "preferred_name",
                           val, "hlc", (json_int_t)cb_hlc_pack(cb_now_ms(), (unsigned)i),
                           "base_seq", (json_int_t)1000000));
    }
    json_t *b = json_pack("{s:o, s:i}", "ops", ops, "pending", N);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    struct pusher p1 = {body, 0, 0, 0}, p2 = {body, 0, 0, 0};
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, push_thread, &p1), 0);
    struct timespec ts = {0, 40 * 1000 * 1000}; /* the second arrives while the first applies */
    nanosleep(&ts, NULL);
    assert_int_equal(pthread_create(&t2, NULL, push_thread, &p2), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    free(body);
    assert_int_equal(p1.status, 200);
    assert_int_equal(p2.status, 200);
    assert_int_equal(b_last_op_id(), last + N);
    char lo[32], hi[32];
    snprintf(lo, sizeof(lo), "%lld", last + 1);
    snprintf(hi, sizeof(hi), "%lld", last + N);
    sqlite3 *db = db_open(G.central_dir);
    sqlite3_stmt *st = db_query(db,
                                "SELECT count(*) FROM changes WHERE site = ?1 AND op_id BETWEEN "
                                "CAST(?2 AS INTEGER) AND CAST(?3 AS INTEGER)",
                                G.site_id[SB], lo);
    sqlite3_bind_text(st, 3, hi, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (n != N || p1.applied + p2.applied != N || p1.duplicates + p2.duplicates != N) {
        fail_msg("one batch of %d ops sent twice at once: %lld changes logged, applied %lld + "
                 "%lld, duplicates %lld + %lld (each op must be applied exactly once)",
                 N, n, p1.applied, p2.applied, p1.duplicates, p2.duplicates);
    }
}

/* ---------------------------------------------------------------- restored from a backup */

/* `coachbox sync --data DIR` must succeed; its output (stdout and stderr) into out. */
static void sync_out(int site, char *out, size_t len)
{
    int st = cbt_coachbox(out, len, "sync", "--data", G.dir[site], NULL);
    if (st != 0) {
        fail_msg("coachbox sync at site %s: exit %d: %s", SITE_NAME[site], st, out);
    }
}

/* A backup of dir's database into path with SQLite's online backup (docs/OPERATIONS.md). */
static void db_backup(const char *dir, const char *path)
{
    char src[600];
    sqlite3 *from = NULL, *to = NULL;
    snprintf(src, sizeof(src), "%s/coachbox.db", dir);
    unlink(path);
    assert_int_equal(sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_open(path, &to), SQLITE_OK);
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    assert_non_null(b);
    assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
    assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
    sqlite3_close(to);
    sqlite3_close(from);
}

/* Restore dir's database from the backup at path (the field server is stopped). */
static void db_restore(const char *dir, const char *path)
{
    static const char *const parts[] = {"coachbox.db", "coachbox.db-wal", "coachbox.db-shm", NULL};
    char f[640];
    for (const char *const *p = parts; *p; p++) {
        snprintf(f, sizeof(f), "%s/%s", dir, *p);
        unlink(f);
    }
    snprintf(f, sizeof(f), "%s/coachbox.db", dir);
    sqlite3 *from = NULL, *to = NULL;
    assert_int_equal(sqlite3_open_v2(path, &from, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_open(f, &to), SQLITE_OK);
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    assert_non_null(b);
    assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
    assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
    sqlite3_close(to);
    sqlite3_close(from);
    chmod(f, 0600);
}

/* Edit field of participant pid at site (its server stopped), as a coach would. */
static void edit_at(int site, const char *pid, const char *field, const char *value)
{
    struct cb_store *s = NULL;
    assert_int_equal(cb_store_open(G.dir[site], &s), CB_OK);
    int rc = local_edit(s, pid, field, value);
    cb_store_close(s);
    if (rc != CB_OK) {
        fail_msg("edit at %s: %s", SITE_NAME[site], cb_strerror(rc));
    }
}

/* How many changes central logged from site with field = value (each write: exactly 1). */
static long long central_writes(int site, const char *field, const char *value)
{
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM changes WHERE site = ?1 AND op_id IS NOT NULL AND "
             "json_extract(fields, '$.%s') = ?2",
             field);
    return db_int(G.central_dir, sql, G.site_id[site], value);
}

/* participant pid's field at dir must be want. */
static void expect_person(const char *dir, const char *pid, const char *field, const char *want)
{
    char sql[160], v[128];
    snprintf(sql, sizeof(sql), "SELECT %s FROM participants WHERE id = ?1", field);
    db_text(dir, sql, pid, NULL, v, sizeof(v));
    if (strcmp(v, want) != 0) {
        fail_msg("%s: %s of %s is '%s', want '%s'", dir, field, pid, v, want);
    }
}

static long long c_last_op_id(void)
{
    return db_int(G.central_dir, "SELECT last_op_id FROM sites WHERE id = ?1", G.site_id[SC], NULL);
}

static long long op_seq(int site)
{
    return db_int(G.dir[site],
                  "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)",
                  NULL, NULL);
}

static long long audit_count(const char *dir, const char *action)
{
    return db_int(dir, "SELECT count(*) FROM audit_events WHERE action = ?1", action, NULL);
}

/* No op id of site was logged twice at central with different content. */
static void expect_no_reused_op_ids(int site)
{
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM (SELECT op_id FROM changes WHERE site = ?1 AND "
                            "op_id IS NOT NULL GROUP BY op_id HAVING count(DISTINCT fields) > 1)",
                            G.site_id[site], NULL),
                     0);
}

static char G_q[40]; /* a person of prestwich, created at C for the restore tests */

/*
 * Site C is restored from a backup after it pushed more edits, and new edits are
 * made before its next round: they reuse op ids central has.  Central has every
 * edit exactly once, and C gets back the edits it pushed after the backup.
 */
static void test_restored_site_new_edits_not_lost(void **state)
{
    (void)state;
    char bk[600], out[8192];
    create_person(SC, "Quinn", "Restore", G_q);
    sync_ok(SC);
    /* C's server is stopped: a restore is done with the server stopped, and only this
     * test's rounds run at C. */
    stop_site(SC);
    edit_at(SC, G_q, "family_name", "Before backup");
    sync_ok(SC);
    snprintf(bk, sizeof(bk), "%s.backup.db", G.dir[SC]);
    db_backup(G.dir[SC], bk);
    long long at_backup = op_seq(SC);
    assert_int_equal(c_last_op_id(), at_backup);

    /* After the backup: two edits, pushed (central logs them exactly as sent, so they
     * are not sent back to C). */
    edit_at(SC, G_q, "given_name", "After backup");
    edit_at(SC, G.p_pres, "family_name", "After backup");
    sync_ok(SC);
    long long mark = c_last_op_id();
    assert_int_equal(mark, at_backup + 2);

    /* Restore, then two new edits before any round: they get op ids central has. */
    db_restore(G.dir[SC], bk);
    assert_int_equal(op_seq(SC), at_backup);
    expect_person(G.dir[SC], G_q, "given_name", "Quinn");
    edit_at(SC, G_q, "preferred_name", "After restore");
    edit_at(SC, G.p_pres, "preferred_name", "After restore 2");
    assert_int_equal(db_int(G.dir[SC], "SELECT max(op_id) FROM outbox", NULL, NULL), mark);

    sync_out(SC, out, sizeof(out));
    if (!contains(out, "restored from a backup")) {
        fail_msg("the round after the restore does not say so: %s", out);
    }
    /* Central: every edit from before and after the restore, exactly once. */
    assert_int_equal(central_writes(SC, "family_name", "Before backup"), 1);
    assert_int_equal(central_writes(SC, "given_name", "After backup"), 1);
    assert_int_equal(central_writes(SC, "family_name", "After backup"), 1);
    assert_int_equal(central_writes(SC, "preferred_name", "After restore"), 1);
    assert_int_equal(central_writes(SC, "preferred_name", "After restore 2"), 1);
    expect_person(G.central_dir, G_q, "family_name", "Before backup");
    expect_person(G.central_dir, G_q, "given_name", "After backup");
    expect_person(G.central_dir, G_q, "preferred_name", "After restore");
    expect_person(G.central_dir, G.p_pres, "family_name", "After backup");
    expect_person(G.central_dir, G.p_pres, "preferred_name", "After restore 2");
    assert_int_equal(c_last_op_id(), mark + 2);
    expect_no_reused_op_ids(SC);
    assert_int_equal(db_int(G.dir[SC], "SELECT count(*) FROM outbox", NULL, NULL), 0);

    /* C: the edits it had pushed after the backup are back, its new ones kept. */
    expect_person(G.dir[SC], G_q, "given_name", "After backup");
    expect_person(G.dir[SC], G.p_pres, "family_name", "After backup");
    expect_person(G.dir[SC], G_q, "preferred_name", "After restore");
    expect_person(G.dir[SC], G.p_pres, "preferred_name", "After restore 2");
    assert_true(op_seq(SC) >= mark + 2);
    /* Recorded on both sides; the catch-up is over once a pull reached the head. */
    assert_int_equal(audit_count(G.dir[SC], "sync.restored"), 1);
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM audit_events WHERE action = 'sync.restored' "
                            "AND entity_id = ?1",
                            G.site_id[SC], NULL),
                     1);
    assert_int_equal(
        db_int(G.dir[SC], "SELECT count(*) FROM settings WHERE key = 'sync_own_floor'", NULL, NULL),
        0);

    /* From then on, rounds are ordinary. */
    edit_at(SC, G_q, "family_name", "Later");
    sync_out(SC, out, sizeof(out));
    assert_false(contains(out, "restored"));
    assert_int_equal(central_writes(SC, "family_name", "Later"), 1);
    assert_int_equal(c_last_op_id(), mark + 3);
    assert_int_equal(audit_count(G.dir[SC], "sync.restored"), 1);
    int st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.dir[SC], "--verify", NULL);
    if (st != 0 || !contains(out, "in sync")) {
        fail_msg("C after the restore: %d %s", st, out);
    }
    unlink(bk);
}

/*
 * The backup holds an edit not yet pushed when it was taken (pushed later, before
 * the restore): after the restore it is sent again in the same batch as a new
 * edit that reuses the next op id.  The first is a resend (skipped, not applied
 * twice), the second a new write (renumbered and applied).
 */
static void test_restored_site_backup_with_waiting_edit(void **state)
{
    (void)state;
    char bk[600], out[8192];
    snprintf(bk, sizeof(bk), "%s.backup3.db", G.dir[SC]);
    edit_at(SC, G_q, "family_name", "Waiting at backup");
    long long waiting = op_seq(SC);
    db_backup(G.dir[SC], bk);
    edit_at(SC, G_q, "given_name", "After backup 3");
    sync_ok(SC);
    long long mark = c_last_op_id();
    assert_int_equal(mark, waiting + 1);

    db_restore(G.dir[SC], bk);
    assert_int_equal(db_int(G.dir[SC], "SELECT count(*) FROM outbox", NULL, NULL), 1);
    edit_at(SC, G_q, "preferred_name", "After restore 3");
    assert_int_equal(db_int(G.dir[SC], "SELECT max(op_id) FROM outbox", NULL, NULL), mark);
    sync_out(SC, out, sizeof(out));
    if (!contains(out, "restored from a backup")) {
        fail_msg("the round after the restore does not say so: %s", out);
    }
    assert_int_equal(central_writes(SC, "family_name", "Waiting at backup"), 1);
    assert_int_equal(central_writes(SC, "given_name", "After backup 3"), 1);
    assert_int_equal(central_writes(SC, "preferred_name", "After restore 3"), 1);
    assert_int_equal(c_last_op_id(), mark + 1);
    expect_no_reused_op_ids(SC);
    expect_person(G.central_dir, G_q, "family_name", "Waiting at backup");
    expect_person(G.central_dir, G_q, "given_name", "After backup 3");
    expect_person(G.central_dir, G_q, "preferred_name", "After restore 3");
    expect_person(G.dir[SC], G_q, "given_name", "After backup 3");
    expect_person(G.dir[SC], G_q, "preferred_name", "After restore 3");
    assert_int_equal(db_int(G.dir[SC], "SELECT count(*) FROM outbox", NULL, NULL), 0);
    unlink(bk);
}

/*
 * Restored, and synced before any new edit: the round learns from central that
 * the site is behind its own history, brings back the lost edits, and numbers
 * the next edit after central's mark (so it is not skipped as a duplicate).
 */
static void test_restored_site_first_round_before_edits(void **state)
{
    (void)state;
    char bk[600], out[8192];
    snprintf(bk, sizeof(bk), "%s.backup2.db", G.dir[SC]);
    db_backup(G.dir[SC], bk);
    long long at_backup = op_seq(SC);
    edit_at(SC, G_q, "given_name", "Lost at restore");
    sync_ok(SC);
    long long mark = c_last_op_id();
    assert_int_equal(mark, at_backup + 1);

    db_restore(G.dir[SC], bk);
    expect_person(G.dir[SC], G_q, "given_name", "After backup 3");
    sync_out(SC, out, sizeof(out));
    if (!contains(out, "restored from a backup")) {
        fail_msg("the round after the restore does not say so: %s", out);
    }
    expect_person(G.dir[SC], G_q, "given_name", "Lost at restore");
    assert_true(op_seq(SC) >= mark);

    /* The next edit gets a fresh op id: applied, not skipped. */
    edit_at(SC, G_q, "preferred_name", "First after restore");
    assert_int_equal(db_int(G.dir[SC], "SELECT max(op_id) FROM outbox", NULL, NULL), mark + 1);
    sync_out(SC, out, sizeof(out));
    assert_false(contains(out, "restored"));
    assert_int_equal(central_writes(SC, "given_name", "Lost at restore"), 1);
    assert_int_equal(central_writes(SC, "preferred_name", "First after restore"), 1);
    expect_person(G.central_dir, G_q, "preferred_name", "First after restore");
    assert_int_equal(c_last_op_id(), mark + 1);
    expect_no_reused_op_ids(SC);
    /* The earlier restores' events (in the backup's log) and this one. */
    assert_int_equal(audit_count(G.dir[SC], "sync.restored"), 3);
    unlink(bk);

    /* C's server back for the tests that follow. */
    start_site(SC);
    assert_int_equal(cbt_login(&G.cl[SC], SITE_USER[SC], PW), 200);
}

/* A site that was never restored: nothing of the above happens to it. */
static void test_normal_site_unaffected(void **state)
{
    (void)state;
    char out[8192], eid[40];
    long long before =
        db_int(G.central_dir, "SELECT last_op_id FROM sites WHERE id = ?1", G.site_id[SA], NULL);
    create_encounter(SA, G.p_basic, "Ordinary day", eid);
    sync_out(SA, out, sizeof(out));
    assert_false(contains(out, "restored"));
    long long after =
        db_int(G.central_dir, "SELECT last_op_id FROM sites WHERE id = ?1", G.site_id[SA], NULL);
    assert_true(after > before);
    assert_true(op_seq(SA) >= after);
    assert_int_equal(count_rows(G.central_dir, "encounters", "id", eid), 1);
    assert_int_equal(audit_count(G.dir[SA], "sync.restored"), 0);
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM audit_events WHERE action = 'sync.restored' "
                            "AND entity_id = ?1",
                            G.site_id[SA], NULL),
                     0);
    assert_int_equal(
        db_int(G.dir[SA], "SELECT count(*) FROM settings WHERE key = 'sync_own_floor'", NULL, NULL),
        0);
    expect_no_reused_op_ids(SA);
}

/*
 * More than two batches (2,000 ops each) waiting at a site: the first goes
 * alone, the later ones are pipelined (sent before the answer to the one
 * before).  Every write must be applied exactly once and in order: central and
 * the site end with the last value, and central logged each write once under
 * its own op id.
 */
static void test_pipelined_push(void **state)
{
    (void)state;
    enum { N = 4500 };
    struct cb_store *s = NULL;
    struct cb_conn *c;
    char val[32];
    assert_int_equal(cb_store_open(G.dir[SB], &s), CB_OK); /* B's server is stopped */
    align_b_outbox_sequence(s);
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(cb_conn_exec(c, "PRAGMA synchronous=OFF"), CB_OK); /* test set-up only */
    for (int i = 1; i <= N; i++) {
        snprintf(val, sizeof(val), "pipelined %d", i);
        assert_int_equal(local_edit(s, G.p_conf, "preferred_name", val), CB_OK);
    }
    struct cb_sync_result res;
    int rc = cb_sync_round(s, NULL, NULL, &res);
    cb_store_close(s);
    if (rc != CB_OK) {
        fail_msg("round at B: %s (%s)", cb_strerror(rc), res.error);
    }
    assert_int_equal(res.pushed, N);
    assert_int_equal(res.pending, 0);
    assert_int_equal(res.rejected, 0);
    assert_int_equal(db_int(G.dir[SB], "SELECT count(*) FROM outbox", NULL, NULL), 0);
    long long logged = db_int(G.central_dir,
                              "SELECT count(*) FROM changes WHERE site = ?1 AND op_id IS NOT NULL "
                              "AND json_extract(fields, '$.preferred_name') LIKE ?2",
                              G.site_id[SB], "pipelined %");
    long long ops = db_int(G.central_dir,
                           "SELECT count(DISTINCT op_id) FROM changes WHERE site = ?1 AND "
                           "json_extract(fields, '$.preferred_name') LIKE ?2",
                           G.site_id[SB], "pipelined %");
    if (logged != N || ops != N) {
        fail_msg("%d writes pushed in pipelined batches: central logged %lld changes under %lld "
                 "op ids (each write exactly once)",
                 N, logged, ops);
    }
    snprintf(val, sizeof(val), "pipelined %d", N);
    expect_person(G.central_dir, G.p_conf, "preferred_name", val);
    expect_person(G.dir[SB], G.p_conf, "preferred_name", val);
}

/* ---------------------------------------------------------------- revocation */

/*
 * Every data directory's derived rows match the rows they are derived from,
 * after all the writes above: those made through the API (triggers) and those
 * applied by pushes at central and pulls at the sites (sync connections, no
 * triggers: each touched group recomputed at commit, derived.h).  Contacts per
 * month and year against a GROUP BY of the live contacts with a canonical time;
 * each person's latest measure per instrument against the measures.
 */
static void test_derived_rows_match_rows(void **state)
{
    (void)state;
#define CX_DIRECT(L)                                                                               \
    "SELECT team, substr(occurred_at, 1, " L "), participant_id, count(*), sum(type = 'drop_in')," \
    " sum(type = 'one_to_one'), sum(type = 'phone'), sum(type = 'video'), sum(type = 'group'),"    \
    " sum(type = 'dna') FROM encounters WHERE deleted = 0 AND " CB_CANON_TIME(                     \
        "occurred_at") " GROUP BY 1, 2, 3"
#define CX_KEPT(T)                                                                                 \
    "SELECT team, " T                                                                              \
    ", participant_id, n, c_drop_in, c_one_to_one, c_phone, c_video, c_group, c_dna FROM "
    static const char *const checks[] = {
        "SELECT count(*) FROM (" CX_KEPT("month") "contact_months EXCEPT " CX_DIRECT("7") ")",
        "SELECT count(*) FROM (" CX_DIRECT("7") " EXCEPT " CX_KEPT("month") "contact_months)",
        "SELECT count(*) FROM (" CX_KEPT("year") "contact_years EXCEPT " CX_DIRECT("4") ")",
        "SELECT count(*) FROM (" CX_DIRECT("4") " EXCEPT " CX_KEPT("year") "contact_years)",
        /* measure_latest: one row per (person, instrument) with live measures, naming the
         * last in measures_report order */
        "SELECT count(*) FROM (SELECT participant_id, instrument, row, taken_at, baseline FROM"
        " measure_latest EXCEPT SELECT participant_id, instrument, r, taken_at, timepoint ="
        " 'baseline' FROM (SELECT participant_id, instrument, rowid AS r, taken_at, timepoint,"
        " row_number() OVER (PARTITION BY participant_id, instrument ORDER BY taken_at DESC,"
        " timepoint DESC, complete DESC, score DESC, team DESC, deleted DESC, rowid DESC) AS rn"
        " FROM measures WHERE deleted = 0) WHERE rn = 1)",
        "SELECT count(*) - (SELECT count(*) FROM measure_latest) FROM (SELECT DISTINCT"
        " participant_id, instrument FROM measures WHERE deleted = 0)",
    };
#undef CX_DIRECT
#undef CX_KEPT
    int contacts_seen = 0;
    for (int d = -1; d < NSITES; d++) {
        const char *dir = d < 0 ? G.central_dir : G.dir[d];
        char v[64];
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
            assert_true(db_text(dir, checks[i], NULL, NULL, v, sizeof(v)));
            if (strcmp(v, "0") != 0) {
                fail_msg("%s: check %zu finds %s rows differing: %s",
                         d < 0 ? "central" : SITE_NAME[d], i, v, checks[i]);
            }
        }
        assert_true(db_text(dir, "SELECT count(*) FROM contact_months", NULL, NULL, v, sizeof(v)));
        contacts_seen += strcmp(v, "0") != 0;
    }
    /* not vacuous: central and the sites hold counted contacts */
    assert_true(contacts_seen >= 2);
}

/*
 * A measure central accepted from another site with values no form would write
 * (a 700-character instrument: central does not re-validate what sites push)
 * still reaches the other sites of the team: their pull notes its group for the
 * deferred refresh without a length cap, instead of failing the page on every
 * round.
 */
static void test_pulled_measure_with_long_values(void **state)
{
    (void)state;
    char pid[40], mid[CB_UUID_STRLEN], at[CB_TIME_STRLEN], inst[701];
    create_person(SA, "Lena", "Longvalue", pid);
    sync_ok(SA);
    memset(inst, 'x', sizeof(inst) - 1);
    inst[sizeof(inst) - 1] = '\0';
    assert_int_equal(cb_uuid7(mid), CB_OK);
    iso_ago(3600, at);
    long long last = b_last_op_id();
    char *body = push_body(last + 1, "measures", mid,
                           json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "participant_id",
                                     pid, "instrument", inst, "timepoint", "baseline", "taken_at",
                                     at, "responses", "{}", "rule_version", "r1", "complete", 1,
                                     "team", "bury-town"));
    struct cbt_resp r;
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    free(body);
    if (r.status != 200 || json_integer_value(json_object_get(r.json, "applied")) != 1) {
        fail_msg("push: %ld %s", r.status, r.body);
    }
    cbt_resp_free(&r);
    sync_ok(SA); /* a pull of a page holding the measure, its group noted as it is */
    assert_int_equal(db_int(G.dir[SA],
                            "SELECT count(*) FROM measures WHERE id = ?1 AND length(instrument) = "
                            "700",
                            mid, NULL),
                     1);
    assert_int_equal(db_int(G.dir[SA],
                            "SELECT count(*) FROM measure_latest WHERE participant_id = ?1 AND "
                            "length(instrument) = 700 AND baseline = 1",
                            pid, NULL),
                     1);
}

/*
 * An edit that makes a row clash with another on a unique key (two enrolments
 * of one person in one programme) is kept in a conflict, and central, whose
 * row stays as it was, sends that row's values of the edited fields back, so
 * the site that made the edit converges on them.
 */
static void test_push_unique_clash_sent_back(void **state)
{
    (void)state;
    struct cbt_resp r;
    static const char *const py = "01900000-0000-7000-8000-00000000e060";
    static const char *const e1 = "01900000-0000-7000-8000-00000000e061";
    static const char *const e2 = "01900000-0000-7000-8000-00000000e062";
    static const char *const prog = "01900000-0000-7000-8000-00000000e063";
    const char *now = "2026-01-05T10:00:00.000Z";
    json_int_t last = b_last_op_id();
    json_int_t hlc = (json_int_t)cb_hlc_pack(cb_now_ms(), 0);
    json_t *b = json_pack(
        "{s:[o, {s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:I, s:I},"
        "    {s:I, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:I, s:I}], s:i}",
        "ops", new_person_op(last + 1, py, "Yan", "Enrolled", "1975-01-01", "bury-town", now, hlc),
        "op_id", last + 2, "tbl", "enrolments", "row_id", e1, "fields", "programme_id", prog,
        "participant_id", G.p_conf, "enrolled_on", "2026-01-05", "status", "enrolled", "team",
        "bury-town", "created_at", now, "hlc", hlc + 1, "base_seq", (json_int_t)0, "op_id",
        last + 3, "tbl", "enrolments", "row_id", e2, "fields", "programme_id", prog,
        "participant_id", py, "enrolled_on", "2026-01-05", "status", "enrolled", "team",
        "bury-town", "created_at", now, "hlc", hlc + 2, "base_seq", (json_int_t)0, "pending", 0);
    push_json(b, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 3);
    cbt_resp_free(&r);
    char seq[32], v[2048];
    snprintf(seq, sizeof(seq), "%lld",
             db_int(G.central_dir, "SELECT max(seq) FROM changes", NULL, NULL));

    /* The second enrolment re-pointed at the first's person: a clash. */
    last = b_last_op_id();
    char *body =
        push_body(last + 1, "enrolments", e2, json_pack("{s:s}", "participant_id", G.p_conf));
    signed_rq("POST", "/sync/v1/push", body, NULL, NULL, NULL, NULL, &r);
    free(body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "ack")), last + 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "conflicts")), 1);
    cbt_resp_free(&r);
    db_text(G.central_dir, "SELECT participant_id FROM enrolments WHERE id = ?1", e2, NULL, v,
            sizeof(v));
    assert_string_equal(v, py);
    assert_int_equal(db_int(G.central_dir,
                            "SELECT count(*) FROM conflicts WHERE row_id = ?1 AND status = 'open'",
                            e2, NULL),
                     1);
    /* central's value, logged after the clash for the site to pull */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM changes WHERE tbl = 'enrolments' AND row_id = ?1 AND seq > ?2 "
             "AND fields = '{\"participant_id\":\"%s\"}'",
             py);
    if (db_int(G.central_dir, sql, e2, seq) != 1) {
        fail_msg("after a unique-key clash central did not send its value back");
    }
}

/*
 * A pushed value past its size cap is rejected (naming the field), the rest of
 * the batch applied: a row, and so every change central logs for it, stays
 * small enough for a pull page (docs/SYNC.md, "Sizes").
 */
static void test_push_oversized_values_rejected(void **state)
{
    (void)state;
    struct cbt_resp r;
    static const char *const ids[4] = {
        "01900000-0000-7000-8000-00000000e040", "01900000-0000-7000-8000-00000000e041",
        "01900000-0000-7000-8000-00000000e042", "01900000-0000-7000-8000-00000000e043"};
    const char *now = "2026-01-05T10:00:00.000Z";
    /* notes: 10,000 characters, so at most 40,000 bytes; type: 4,096 bytes; a JSON
     * value's text: 1 MiB */
    size_t big = 1024 * 1024 + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, 'x', big);
    text[big] = '\0';
    json_int_t last = b_last_op_id();
    json_int_t hlc = (json_int_t)cb_hlc_pack(cb_now_ms(), 0);
    json_t *ops = json_array();
    for (int k = 0; k < 4; k++) {
        json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s}", "participant_id", G.p_conf, "type",
                              "phone", "occurred_at", now, "team", "bury-town", "created_at", now);
        const char *tbl = "encounters";
        if (k == 0) {
            json_object_set_new(f, "notes", json_stringn(text, 40001)); /* too long */
        } else if (k == 1) {
            json_object_set_new(f, "notes", json_stringn(text, 40000)); /* at the cap */
        } else if (k == 2) {
            json_object_set_new(f, "type", json_stringn(text, 4097)); /* too long */
        } else {
            json_decref(f);
            tbl = "measures";
            f = json_pack("{s:s, s:s, s:s, s:s, s:{s:s%}, s:s, s:s}", "participant_id", G.p_conf,
                          "instrument", "swemwbs", "timepoint", "baseline", "taken_at", now,
                          "responses", "q1", text, big - 5, "team", "bury-town", "created_at",
                          now); /* its text just past 1 MiB */
        }
        json_array_append_new(ops, json_pack("{s:I, s:s, s:s, s:o, s:I, s:I}", "op_id",
                                             last + 1 + k, "tbl", tbl, "row_id", ids[k], "fields",
                                             f, "hlc", hlc + k, "base_seq", (json_int_t)0));
    }
    free(text);
    json_t *b = json_pack("{s:o, s:i}", "ops", ops, "pending", 0);
    push_json(b, &r);
    if (r.status != 200) {
        fail_msg("push: %ld %.300s", r.status, r.body);
    }
    assert_int_equal(json_integer_value(json_object_get(r.json, "ack")), last + 4);
    assert_int_equal(json_integer_value(json_object_get(r.json, "applied")), 1);
    json_t *rej = json_object_get(r.json, "rejected");
    assert_int_equal(json_array_size(rej), 3);
    static const char *const want[3] = {"value too long: notes", "value too long: type",
                                        "value too long: responses"};
    static const int op[3] = {0, 2, 3};
    for (size_t k = 0; k < 3; k++) {
        json_t *e = json_array_get(rej, k);
        assert_int_equal(json_integer_value(json_object_get(e, "op_id")), last + 1 + op[k]);
        assert_string_equal(json_string_value(json_object_get(e, "reason")), want[k]);
    }
    cbt_resp_free(&r);
    assert_int_equal(count_rows(G.central_dir, "encounters", "id", ids[0]), 0);
    assert_int_equal(count_rows(G.central_dir, "encounters", "id", ids[1]), 1);
    assert_int_equal(count_rows(G.central_dir, "encounters", "id", ids[2]), 0);
    assert_int_equal(count_rows(G.central_dir, "measures", "id", ids[3]), 0);
    assert_int_equal(
        db_int(G.central_dir, "SELECT length(notes) FROM encounters WHERE id = ?1", ids[1], NULL),
        40000);
}

/*
 * A change too large to follow the others in a page (a stored change written
 * before central capped pushed values) ends the page before it; alone it fits
 * (CB_CHANGE_TEXT_MAX), so a site's pull never stops at it.
 */
static void test_pull_page_ends_before_a_change_too_large(void **state)
{
    (void)state;
    static const char *const pid = "01900000-0000-7000-8000-00000000e050";
    char sql[1024];
    sync_ok(SB); /* B is at the head: its next page starts at the changes below */
    /* a person in bury-town, written at central, and two changes about them: one of
     * 8 MB (under the 8 MiB at which a page ends), then one of 60 MB (under
     * CB_CHANGE_TEXT_MAX, 60 MiB; the two past a page's cap, 64 MiB) */
    snprintf(sql, sizeof(sql),
             "BEGIN;"
             "INSERT INTO participants(id, given_name, family_name, date_of_birth, team,"
             " created_at, updated_at, deleted, preferred_name) VALUES ('%s', 'Big', "
             "replace(hex(zeroblob(4000000)), '0', 'f'), '1980-01-01', 'bury-town',"
             " '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 0,"
             " replace(hex(zeroblob(30000000)), '0', 'p'));"
             "INSERT INTO changes(tbl, row_id, fields, hlc, site, scope, whole) VALUES "
             "('participants', '%s', '{\"given_name\":\"Big\",\"family_name\":\"' ||"
             " replace(hex(zeroblob(4000000)), '0', 'f') || '\",\"date_of_birth\":\"1980-01-01\","
             "\"team\":\"bury-town\",\"created_at\":\"2026-01-01T00:00:00.000Z\",\"deleted\":0}',"
             " 1, 'central', 'bury-town', 1);"
             "INSERT INTO changes(tbl, row_id, fields, hlc, site, scope) VALUES "
             "('participants', '%s', '{\"preferred_name\":\"' || replace(hex(zeroblob(30000000)),"
             " '0', 'p') || '\"}', 2, 'central', 'bury-town');"
             "COMMIT;",
             pid, pid, pid);
    db_exec_rw(G.central_dir, sql);
    sync_ok(SB);
    assert_int_equal(
        db_int(G.dir[SB], "SELECT length(family_name) FROM participants WHERE id = ?1", pid, NULL),
        8000000);
    assert_int_equal(db_int(G.dir[SB],
                            "SELECT length(preferred_name) FROM participants WHERE id = ?1", pid,
                            NULL),
                     60000000);
}

static void test_revocation(void **state)
{
    (void)state;
    char out[8192];
    assert_true(count_rows(G.dir[SA], "participants", "team", "bury-town") > 0);
    /* A write's stored answer (Idempotency-Key) holds a copy of the record too. */
    keyed_write(SA, "POST", "/api/participants",
                "{\"given_name\":\"Keyed\",\"family_name\":\"Answer\","
                "\"date_of_birth\":\"1970-02-02\"}",
                "it-sync-revoke-key-0001", 201);
    wait_rows(G.dir[SA], "SELECT count(*) FROM idempotency", NULL);
    int st = cbt_coachbox(out, sizeof(out), "site", "revoke", "--data", G.central_dir, "--site",
                          "A", NULL);
    if (st != 0) {
        fail_msg("site revoke: %d %s", st, out);
    }
    st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.dir[SA], NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "revoked")) {
        fail_msg("sync after revocation: %s", out);
    }
    /* Synced data, outbox, sessions, central's accounts and the credentials are gone. */
    static const char *const tables[] = {"participants", "encounters",  "measures",
                                         "conflicts",    "outbox",      "sessions",
                                         "row_meta",     "idempotency", NULL};
    for (const char *const *t = tables; *t; t++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", *t);
        if (db_int(G.dir[SA], sql, NULL, NULL) != 0) {
            fail_msg("A still has rows in %s after revocation", *t);
        }
    }
    assert_int_equal(
        db_int(G.dir[SA], "SELECT count(*) FROM users WHERE role IN ('coach','lead')", NULL, NULL),
        0);
    char v[128];
    assert_false(db_text(G.dir[SA], "SELECT value FROM settings WHERE key = 'site_secret'", NULL,
                         NULL, v, sizeof(v)));
    assert_false(db_text(G.dir[SA], "SELECT value FROM settings WHERE key = 'site_id'", NULL, NULL,
                         v, sizeof(v)));
    assert_true(db_text(G.dir[SA], "SELECT value FROM settings WHERE key = 'revoked'", NULL, NULL,
                        v, sizeof(v)));
    /* The coach's session is over. */
    assert_int_equal(status_of(&G.cl[SA], "GET", "/api/me"), 401);
    /* Further rounds keep saying so. */
    st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.dir[SA], NULL);
    assert_int_not_equal(st, 0);
    assert_true(contains(out, "revoked"));
    /* Other sites are unaffected. */
    json_t *s = api(&G.cl[SC], "GET", "/api/sync/status", NULL, 200);
    assert_false(json_is_true(json_object_get(s, "revoked")));
    json_decref(s);
}

static void test_revoked_status_visible(void **state)
{
    (void)state;
    char out[4096];
    /* The wipe removed every account (docs/SYNC.md), the site's local ones included. */
    assert_int_equal(db_int(G.dir[SA], "SELECT count(*) FROM users", NULL, NULL), 0);
    struct cbt_client adm;
    cbt_client_init(&adm, G.srv[SA].url);
    assert_int_equal(cbt_login(&adm, "admin.a", PW), 401);
    /* An operator with the machine adds an account and sees why the site stopped. */
    char pw[64];
    snprintf(pw, sizeof(pw), "%s\n", PW);
    const char *args[] = {"user",        "add",    "--data", G.dir[SA], "--username",
                          "admin.after", "--role", "admin",  NULL};
    int st = cbt_run(args, pw, out, sizeof(out));
    if (st != 0) {
        cbt_client_free(&adm);
        fail_msg("user add at revoked site A: %d %s", st, out);
    }
    assert_int_equal(cbt_login(&adm, "admin.after", PW), 200);
    json_t *s = api(&adm, "GET", "/api/sync/status", NULL, 200);
    assert_true(json_is_true(json_object_get(s, "revoked")));
    assert_false(json_is_true(json_object_get(s, "enrolled")));
    assert_true(json_is_null(json_object_get(s, "site_id")));
    assert_true(contains(jstr(s, "last_error"), "revoked"));
    assert_int_equal(json_integer_value(json_object_get(s, "pending")), 0);
    json_decref(s);
    /* "Sync now" is refused: not enrolled any more. */
    json_decref(api(&adm, "POST", "/api/sync/now", NULL, 409));
    cbt_client_free(&adm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enrollment),
        cmocka_unit_test(test_replication_and_scope),
        cmocka_unit_test(test_pulled_baselines_as_written),
        cmocka_unit_test(test_conflict_same_field),
        cmocka_unit_test(test_row_version_kept_in_log),
        cmocka_unit_test(test_different_fields_no_conflict),
        cmocka_unit_test(test_delete_vs_newer_edit),
        cmocka_unit_test(test_delete_newer_than_edit),
        cmocka_unit_test(test_central_unreachable),
        cmocka_unit_test(test_disabled_account),
        cmocka_unit_test(test_password_reaches_site),
        cmocka_unit_test(test_move_old_site_removes),
        cmocka_unit_test(test_move_new_site_receives),
        cmocka_unit_test(test_signed_requests_refused),
        cmocka_unit_test(test_push_out_of_scope_duplicates_gaps),
        cmocka_unit_test(test_push_new_record_about_other_teams_person),
        cmocka_unit_test(test_push_new_record_team_follows_person),
        cmocka_unit_test(test_push_batch_person_moves_mid_batch),
        cmocka_unit_test(test_push_repointed_record_takes_new_persons_team),
        cmocka_unit_test(test_push_digests_kept_per_batch),
        cmocka_unit_test(test_push_clock_ahead_restamped),
        cmocka_unit_test(test_concurrent_duplicate_batches),
        cmocka_unit_test(test_own_writes_not_echoed),
        cmocka_unit_test(test_central_clock_survives_restart),
        cmocka_unit_test(test_move_with_edit_waiting_at_old_site),
        cmocka_unit_test(test_move_edits_waiting_at_old_site_not_lost),
        cmocka_unit_test(test_restored_site_new_edits_not_lost),
        cmocka_unit_test(test_restored_site_backup_with_waiting_edit),
        cmocka_unit_test(test_restored_site_first_round_before_edits),
        cmocka_unit_test(test_normal_site_unaffected),
        cmocka_unit_test(test_pipelined_push),
        cmocka_unit_test(test_derived_rows_match_rows),
        /* a raw push as B of a row B does not hold: B's digest differs from here on,
         * so it runs after every test that verifies B */
        cmocka_unit_test(test_pulled_measure_with_long_values),
        cmocka_unit_test(test_push_unique_clash_sent_back),
        cmocka_unit_test(test_push_oversized_values_rejected),
        cmocka_unit_test(test_pull_page_ends_before_a_change_too_large),
        cmocka_unit_test(test_revocation),
        cmocka_unit_test(test_revoked_status_visible),
    };
    return cmocka_run_group_tests_name("sync", tests, group_setup, group_teardown);
}
