/*
 * site.c - the field server's sync engine: enrollment, push/pull rounds,
 * applying pulled pages, scope exits, revocation wipe, verification, status
 * and the background syncer.  See sync.h and docs/SYNC.md.
 *
 * Threads: cb_sync_round() may run on any thread; it uses that thread's
 * store connection.  The background syncer runs rounds on its own thread;
 * rounds never overlap (round_lock).
 */
#include "coachbox/auth.h"
#include "coachbox/audit.h"
#include "coachbox/buf.h"
#include "coachbox/capture.h"
#include "coachbox/hlc.h"
#include "coachbox/jarena.h"
#include "coachbox/json.h"
#include "coachbox/record.h"
#include "coachbox/rng.h"
#include "coachbox/sign.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"
#include "coachbox/timeutil.h"
#include "coachbox/validate.h"

#include <arpa/inet.h>
#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

#define PUSH_BATCH 2000
/* Changes asked for per pull page (central allows up to 10,000, and ends a page
 * past 8 MiB).  5,000 rather than 2,000: a 100,000-record pull commits 23
 * times instead of 51 (each commit an fsync, a recompute of the derived rows
 * of the groups it touched, every fourth a wait for the checkpointer), which
 * took ~15 % off its wall time (docs/PERFORMANCE.md, session 9), for ~30 MB
 * more at peak while a page is parsed beside the one applied.  A page is one
 * write transaction of ~0.1 s on this machine.  A round's first page is
 * fetched and parsed before anything can be applied, so it asks for
 * PULL_PAGE_FIRST, and each page after for half as many again as the one
 * before, up to PULL_PAGE: the next page is then fetched and parsed while the
 * one before is applied (parsing a change takes about half as long as applying
 * it), and the wait at the start is a fifth of a full page's. */
#define PULL_PAGE       5000
#define PULL_PAGE_FIRST 1000
#define PUSH_BODY_SOFT  (8 * 1024 * 1024)  /* a batch stops after the op crossing this */
#define PUSH_BODY_MAX   (32 * 1024 * 1024) /* hard cap on a batch (central takes 64 MiB) */
#define MAX_RESPONSE    (256 * 1024 * 1024)
/* A JSON value of a pulled change, as text: no longer than the answer it came in. */
#define PAGE_VALUE_TEXT_MAX MAX_RESPONSE

static pthread_mutex_t round_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------ settings */

static int setting(struct cb_conn *c, const char *key, char *out, size_t len)
{
    int rc = cb_setting_get(c, key, out, len);
    if (rc == CB_ENOTFOUND) {
        out[0] = '\0';
        return CB_OK;
    }
    return rc;
}

static int64_t setting_int(struct cb_conn *c, const char *key)
{
    char buf[32];
    if (setting(c, key, buf, sizeof(buf)) || !buf[0]) {
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    return errno || *end ? 0 : v;
}

static int set_int(struct cb_conn *c, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return cb_setting_set(c, key, buf);
}

static void set_error(struct cb_conn *c, const char *msg)
{
    cb_setting_set(c, "last_error", msg ? msg : "");
}

int cb_sync_enrolled(struct cb_store *s)
{
    struct cb_conn *c;
    char id[64];
    return cb_store_conn(s, &c) == CB_OK && setting(c, "site_id", id, sizeof(id)) == CB_OK &&
           id[0] != '\0';
}

/* ------------------------------------------------------------ HTTP */

/*
 * The curl handle of the round running on this thread (cb_sync_round), or
 * NULL: the requests of a round share it, and with it one kept-alive
 * connection (and TLS session) to central.  Owned by cb_sync_round.
 */
static _Thread_local CURL *round_curl;

struct http_resp {
    long status;
    struct cb_buf body;
    json_t *json;
    /* A pull page fetched by the prefetch: per change, the text of its values of
     * JSON-typed columns (page_dump_json), made on the helper thread; or NULL. */
    json_t *dumped;
    /* Where json's values live when it was parsed as a page (HTTP_PAGE), or NULL:
     * freed by resp_free after json and dumped (jarena.h). */
    struct cb_jarena *arena;
};

/* http_send flags: the answer is a pull page, parsed into an arena of its own. */
#define HTTP_PAGE 1u

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct cb_buf *b = ud;
    return cb_buf_add(b, p, size * n) == CB_OK ? size * n : 0;
}

/*
 * Central's URL as curl will read it (curl_url): https, or http to a loopback
 * host (localhost, [::1], an IPv4 address in 127.0.0.0/8, parsed - not a
 * prefix of the text, which "http://127.0.0.1@elsewhere/" would pass); never
 * a user name or password in it.  CB_OK, or CB_EINVAL with msg.
 */
static int url_ok(const char *url, char *msg, size_t len)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
    const char *why = "central's URL cannot be read";
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        struct in_addr a;
        int loopback = strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
                       (inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127);
        if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER ||
            curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) != CURLUE_NO_PASSWORD) {
            why = "central's URL must not hold a user name or password";
        } else if (strcmp(scheme, "https") == 0 || (strcmp(scheme, "http") == 0 && loopback)) {
            why = NULL;
        } else {
            why = "central must be reached over https:// (plain http only on loopback)";
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    if (why) {
        snprintf(msg, len, "%s", why);
        return CB_EINVAL;
    }
    return CB_OK;
}

/*
 * The message for a failed transfer: a certificate that --ca does not vouch
 * for, or a key that does not match --pin, is said to be so (the site refuses
 * that central), not reported as central being unreachable.  detail: curl's
 * error buffer (may be empty).
 */
static void tls_error_message(CURLcode cc, const char *base, const char *detail, char *msg,
                              size_t msglen)
{
    const char *why = detail[0] ? detail : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        snprintf(msg, msglen,
                 "refused central at %s: its public key does not match the pinned key (--pin): %s",
                 base, why);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
    case CURLE_SSL_CACERT:
#endif
        snprintf(msg, msglen,
                 "refused central at %s: its TLS certificate is not trusted (check --ca): %s", base,
                 why);
        break;
    case CURLE_SSL_CACERT_BADFILE:
        snprintf(msg, msglen, "cannot use the CA file (--ca) for central at %s: %s", base, why);
        break;
    default:
        snprintf(msg, msglen, "central unreachable at %s: %s", base, why);
        break;
    }
}

/* What a request to central needs from the settings: credentials and TLS options. */
struct central_auth {
    char id[64], secret[80], ca[1024], pin[256];
};

/* Read the site's credentials and TLS settings on c (empty when absent). */
static void auth_load(struct cb_conn *c, struct central_auth *a)
{
    setting(c, "site_id", a->id, sizeof(a->id));
    setting(c, "site_secret", a->secret, sizeof(a->secret));
    setting(c, "central_ca", a->ca, sizeof(a->ca));
    setting(c, "central_pin", a->pin, sizeof(a->pin));
}

/*
 * One request to central with the given credentials, on curl handle k (its
 * options are reset, its open connection kept) or, when k is NULL, on a
 * handle of its own.  Touches no store connection, so it may run on a helper
 * thread (the pull's prefetch).  On transport failure CB_EIO with msg set;
 * otherwise CB_OK with resp->status and the parsed body in resp->json (NULL
 * when it is not JSON; its text is not kept).  flags HTTP_PAGE: a 200 answer
 * parses into an arena of its own (resp->arena), freed by resp_free.
 */
static int http_send(CURL *k, const struct central_auth *a, const char *base, const char *method,
                     const char *path, const char *body, unsigned flags, struct http_resp *resp,
                     char *msg, size_t msglen)
{
    char url[1024];
    const char *id = a->id, *secret = a->secret, *ca = a->ca, *pin = a->pin;
    char ts[32], nonce[40], sig[CB_SIG_HEXLEN], hdr[256];
    struct curl_slist *hl = NULL;
    CURL *own = NULL;
    memset(resp, 0, sizeof(*resp));
    cb_buf_init(&resp->body, MAX_RESPONSE);
    snprintf(url, sizeof(url), "%s%s", base, path);
    if (url_ok(base, msg, msglen)) {
        return CB_EINVAL;
    }
    if (k) {
        curl_easy_reset(k); /* options cleared; the open connection is kept */
    } else {
        k = own = curl_easy_init();
    }
    if (!k) {
        return CB_ENOMEM;
    }
    snprintf(hdr, sizeof(hdr), "X-CB-Schema: %d", cb_store_schema_version());
    hl = curl_slist_append(hl, hdr);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    if (id[0] && secret[0]) {
        snprintf(ts, sizeof(ts), "%lld", (long long)cb_now_ms());
        cb_rng_hex(nonce, 16);
        cb_sign(secret, method, path, ts, nonce, body, body ? strlen(body) : 0, sig);
        snprintf(hdr, sizeof(hdr), "X-CB-Site: %s", id);
        hl = curl_slist_append(hl, hdr);
        snprintf(hdr, sizeof(hdr), "X-CB-Timestamp: %s", ts);
        hl = curl_slist_append(hl, hdr);
        snprintf(hdr, sizeof(hdr), "X-CB-Nonce: %s", nonce);
        hl = curl_slist_append(hl, hdr);
        snprintf(hdr, sizeof(hdr), "X-CB-Signature: %s", sig);
        hl = curl_slist_append(hl, hdr);
    }
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 0L); /* never follow redirects */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(k, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca[0]) {
        curl_easy_setopt(k, CURLOPT_CAINFO, ca);
    }
    if (pin[0]) {
        curl_easy_setopt(k, CURLOPT_PINNEDPUBLICKEY, pin);
    }
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(k, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &resp->body);
    if (body) {
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    char detail[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, detail);
    CURLcode cc = curl_easy_perform(k);
    int rc = CB_OK;
    if (cc != CURLE_OK) {
        tls_error_message(cc, base, detail, msg, msglen);
        rc = CB_EIO;
    } else {
        curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &resp->status);
        if ((flags & HTTP_PAGE) && resp->status == 200 && cb_jarena_new(&resp->arena) != CB_OK) {
            resp->arena = NULL; /* parsed on the heap, as any answer */
        }
        resp->json = cb_jarena_loadb(resp->arena, cb_buf_str(&resp->body), resp->body.len, 0, NULL);
        /* The text is no longer needed (a page's is megabytes). */
        cb_buf_free(&resp->body);
        if (resp->status >= 300 && resp->status < 400) {
            snprintf(msg, msglen, "central answered with a redirect (%ld); not followed",
                     resp->status);
            rc = CB_EIO;
        }
    }
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hl);
    if (own) {
        curl_easy_cleanup(own);
    }
    return rc;
}

/*
 * One request to central on the round's curl handle (round_curl, or a handle
 * of its own outside a round), with the credentials read from c's settings.
 * See http_send.
 */
static int http_call(struct cb_conn *c, const char *base, const char *method, const char *path,
                     const char *body, unsigned flags, struct http_resp *resp, char *msg,
                     size_t msglen)
{
    struct central_auth a;
    auth_load(c, &a);
    return http_send(round_curl, &a, base, method, path, body, flags, resp, msg, msglen);
}

static void resp_free(struct http_resp *r)
{
    cb_buf_free(&r->body);
    json_decref(r->json);
    json_decref(r->dumped);
    cb_jarena_free(r->arena); /* after every reference into it */
    r->json = NULL;
    r->dumped = NULL;
    r->arena = NULL;
}

/* Turn an error response into (code, message). */
static int resp_error(const struct http_resp *r, char *msg, size_t len)
{
    json_t *e = json_object_get(r->json, "error");
    const char *code = cb_json_str(e, "code");
    const char *m = cb_json_str(e, "message");
    snprintf(msg, len, "central refused the request (%ld %s): %s", r->status, code ? code : "error",
             m ? m : "no details");
    if (code && strcmp(code, "revoked") == 0) {
        return CB_EFORBIDDEN;
    }
    if (code && strcmp(code, "schema_mismatch") == 0) {
        return CB_ESCHEMA;
    }
    if (r->status == 401) {
        return CB_EUNAUTH;
    }
    return CB_EIO;
}

/* ------------------------------------------------------------ enrollment */

int cb_sync_enroll(struct cb_store *s, const char *url, const char *code,
                   const struct cb_sync_tls *tls, char *msg, size_t msglen)
{
    struct cb_conn *c;
    struct http_resp resp;
    char base[512];
    msg[0] = '\0';
    int rc = cb_store_conn(s, &c);
    if (rc) {
        return rc;
    }
    if (strcmp(cb_store_role(s), "central") == 0) {
        snprintf(msg, msglen, "this data directory is a central store, not a field server");
        return CB_EINVAL;
    }
    if (cb_sync_enrolled(s)) {
        snprintf(msg, msglen,
                 "already enrolled; a revoked or replaced site needs a fresh data "
                 "directory");
        return CB_ECONFLICT;
    }
    snprintf(base, sizeof(base), "%s", url);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        base[--n] = '\0';
    }
    if ((rc = url_ok(base, msg, msglen)) != CB_OK) {
        return rc;
    }
    /* TLS options are needed for this first call too. */
    rc = cb_setting_set(c, "central_ca", tls && tls->ca_file ? tls->ca_file : "");
    if (rc == CB_OK) {
        rc = cb_setting_set(c, "central_pin", tls && tls->pin ? tls->pin : "");
    }
    if (rc) {
        return rc;
    }
    /* The first op id this site will push: its oldest waiting edit, or the next one. */
    int64_t first = 1;
    sqlite3_stmt *st;
    if (cb_conn_prepare(c,
                        "SELECT coalesce((SELECT min(op_id) FROM outbox), "
                        "(SELECT seq + 1 FROM sqlite_sequence WHERE name = 'outbox'), 1)",
                        &st) == CB_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            first = sqlite3_column_int64(st, 0);
        }
        cb_stmt_done(st);
    }
    json_t *req = json_pack("{s:s, s:I, s:i}", "code", code, "first_op_id", (json_int_t)first,
                            "schema", cb_store_schema_version());
    char *body = cb_json_dump(req);
    json_decref(req);
    rc = http_call(c, base, "POST", "/sync/v1/enroll", body, 0, &resp, msg, msglen);
    free(body);
    if (rc == CB_OK && resp.status != 200) {
        rc = resp_error(&resp, msg, msglen);
        if (resp.status == 401) {
            rc = CB_EUNAUTH;
        }
    }
    if (rc == CB_OK) {
        const char *id = cb_json_str(resp.json, "site_id");
        const char *secret = cb_json_str(resp.json, "secret");
        const char *name = cb_json_str(resp.json, "name");
        char *teams = cb_json_dump(json_object_get(resp.json, "teams"));
        if (!id || !secret || !teams) {
            snprintf(msg, msglen, "central's enrollment answer is incomplete");
            rc = CB_EIO;
        }
        if (rc == CB_OK) {
            rc = cb_conn_begin(c);
        }
        if (rc == CB_OK) {
            rc = cb_setting_set(c, "site_id", id);
            rc = rc ? rc : cb_setting_set(c, "site_secret", secret);
            rc = rc ? rc : cb_setting_set(c, "site_name", name ? name : "");
            rc = rc ? rc : cb_setting_set(c, "site_teams", teams);
            rc = rc ? rc : cb_setting_set(c, "central_url", base);
            rc = rc ? rc : cb_setting_set(c, "sync_cursor", "0");
            rc = rc ? rc : cb_setting_set(c, "last_error", "");
            if (rc == CB_OK) {
                struct cb_audit_event e = {NULL, "site.enrolled", "sites", id, NULL, "ok", base,
                                           NULL};
                rc = cb_audit(c, &e);
            }
            if (rc == CB_OK) {
                rc = cb_conn_commit(c);
            } else {
                cb_conn_rollback(c);
            }
        }
        free(teams);
        if (rc == CB_OK) {
            snprintf(msg, msglen, "enrolled as site %s (%s)", name ? name : "", id);
        }
    }
    resp_free(&resp);
    return rc;
}

/* ------------------------------------------------------------ wipe, scope exit */

static const char *const purge_order[] = {"conflicts", "attendance", "enrolments",   "goal_reviews",
                                          "goals",     "referrals",  "measures",     "consents",
                                          "checkins",  "encounters", "participants", NULL};

/* Run sql (one statement, ?1 = pid) on c; cached statement. */
static int exec_for_person(struct cb_conn *c, const char *sql, const char *pid)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_TRANSIENT);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    return rc;
}

/* Hard-delete one participant's local copy (scope exit): their records, row
 * versions, derived rows and the stored answers of writes that name them. */
static int purge_participant(struct cb_conn *c, const char *pid)
{
    char sql[200];
    int rc = CB_OK;
    for (const char *const *t = purge_order; *t && rc == CB_OK; t++) {
        const char *col = strcmp(*t, "participants") == 0 ? "id" : "participant_id";
        snprintf(sql, sizeof(sql),
                 "DELETE FROM row_meta WHERE tbl = '%s' AND row_id IN "
                 "(SELECT id FROM %s WHERE %s = ?1)",
                 *t, *t, col);
        rc = exec_for_person(c, sql, pid);
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = ?1", *t, col);
        if (rc == CB_OK) {
            rc = exec_for_person(c, sql, pid);
        }
    }
    /* derived from the measures just deleted (also recomputed, to nothing, when
     * the transaction commits: derived.h) */
    if (rc == CB_OK) {
        rc = exec_for_person(c, "DELETE FROM measure_latest WHERE participant_id = ?1", pid);
    }
    if (rc == CB_OK) {
        rc = exec_for_person(c, "DELETE FROM scope_exits WHERE participant_id = ?1", pid);
    }
    /* The stored answers of writes (Idempotency-Key, kept 14 days) are copies of
     * records too: every one that names the person goes (an id is a UUID: a
     * match in the text is the person or one of their records naming them). */
    if (rc == CB_OK) {
        rc = exec_for_person(c, "DELETE FROM idempotency WHERE instr(body, ?1) > 0", pid);
    }
    return rc;
}

/* Purge participants that left scope once nothing of theirs waits to be pushed. */
static int process_scope_exits(struct cb_conn *c)
{
    sqlite3_stmt *st;
    /* A person who came back into scope meanwhile (moved back, possibly later in
     * the same page) is kept: only their pending exit goes. */
    int rc = cb_conn_prepare(c,
                             "SELECT participant_id, EXISTS (SELECT 1 FROM participants p WHERE "
                             "p.id = s.participant_id AND p.team IN (SELECT value FROM json_each("
                             "(SELECT value FROM settings WHERE key = 'site_teams')))) "
                             "FROM scope_exits s WHERE NOT EXISTS "
                             "(SELECT 1 FROM outbox o WHERE o.participant_id = s.participant_id)",
                             &st);
    if (rc) {
        return rc;
    }
    json_t *ids = json_array(), *back = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_array_append_new(sqlite3_column_int(st, 1) ? back : ids,
                              json_string((const char *)sqlite3_column_text(st, 0)));
    }
    cb_stmt_done(st);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (rc == CB_OK) {
            rc = purge_participant(c, json_string_value(v));
        }
    }
    json_array_foreach(back, i, v)
    {
        if (rc == CB_OK) {
            rc = cb_conn_prepare(c, "DELETE FROM scope_exits WHERE participant_id = ?1", &st);
        }
        if (rc == CB_OK) {
            sqlite3_bind_text(st, 1, json_string_value(v), -1, SQLITE_TRANSIENT);
            rc = cb_store_rc(sqlite3_step(st));
            cb_stmt_done(st);
        }
    }
    json_decref(ids);
    json_decref(back);
    return rc;
}

int cb_sync_wipe(struct cb_conn *c)
{
    static const char *const tables[] = {
        "conflicts",  "attendance", "enrolments", "goal_reviews", "goals",        "referrals",
        "measures",   "consents",   "checkins",   "encounters",   "participants", "group_sessions",
        "programmes", "sessions",   "outbox",     "row_meta",     "scope_exits",  "idempotency",
        NULL};
    char sql[128];
    int fk = 1;
    sqlite3_db_config(cb_conn_db(c), SQLITE_DBCONFIG_ENABLE_FKEY, -1, &fk);
    assert(fk == 0); /* the sync connection: rows go in any order */
    int rc = cb_conn_begin(c);
    for (const char *const *t = tables; *t && rc == CB_OK; t++) {
        snprintf(sql, sizeof(sql), "DELETE FROM %s", *t);
        rc = cb_conn_exec(c, sql);
    }
    /* Accounts received from central go too; venues and teams are not personal data. */
    if (rc == CB_OK) {
        rc = cb_conn_exec(c, "DELETE FROM users");
    }
    static const char *const keys[] = {"site_secret", "site_id", "sync_cursor", "sync_own_floor",
                                       NULL};
    for (const char *const *k = keys; *k && rc == CB_OK; k++) {
        sqlite3_stmt *st;
        rc = cb_conn_prepare(c, "DELETE FROM settings WHERE key = ?1", &st);
        if (rc == CB_OK) {
            sqlite3_bind_text(st, 1, *k, -1, SQLITE_STATIC);
            rc = cb_store_rc(sqlite3_step(st));
            cb_stmt_done(st);
        }
    }
    if (rc == CB_OK) {
        rc = cb_setting_set(c, "revoked", "1");
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {NULL, "site.wiped",         NULL, NULL, NULL,
                                   "ok", "revoked by central", NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    if (rc == CB_OK) {
        cb_conn_exec(c, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;");
    }
    return rc;
}

/* ------------------------------------------------------------ restored from a backup */

/*
 * The highest op id this site has ever given a write (its outbox sequence;
 * 0 before the first).  Central's last_op_id for the site is never above it,
 * unless the data directory was restored from a backup taken before ops that
 * central accepted.
 */
static int64_t local_op_seq(struct cb_conn *c)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    if (cb_conn_prepare(c, "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", &st) == CB_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
        cb_stmt_done(st);
    }
    return v;
}

/*
 * The op ids whose exact writes this site holds, sent with each pull (central
 * leaves those out): its outbox sequence, or, while it catches up after a
 * restore, the last op id it held when restored (setting "sync_own_floor",
 * kept until a pull reaches central's head).
 */
static int64_t own_ops_held(struct cb_conn *c)
{
    char floor[32];
    if (setting(c, "sync_own_floor", floor, sizeof(floor)) == CB_OK && floor[0]) {
        return setting_int(c, "sync_own_floor");
    }
    return local_op_seq(c);
}

/*
 * Raise the outbox sequence to at least mark, so the next write gets an id
 * central has not seen (caller holds the transaction).
 */
static int raise_op_seq(struct cb_conn *c, int64_t mark)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "INSERT INTO sqlite_sequence(name, seq) SELECT 'outbox', ?1 WHERE "
                             "NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox')",
                             &st);
    if (rc == CB_OK) {
        sqlite3_bind_int64(st, 1, mark);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c,
                             "UPDATE sqlite_sequence SET seq = max(seq, ?1, (SELECT "
                             "coalesce(max(op_id), 0) FROM outbox)) WHERE name = 'outbox'",
                             &st);
    }
    if (rc == CB_OK) {
        sqlite3_bind_int64(st, 1, mark);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    return rc;
}

/*
 * Central has accepted ops up to mark that this site no longer has: its data
 * directory was restored from a backup.  held: the last op id the site holds
 * from before the restore.  Raises the outbox sequence past mark, makes the
 * next pulls bring back this site's own writes above held (central has them,
 * the site lost them), and records it in the audit log and on standard error.
 * Caller holds the transaction.
 */
static int note_restored(struct cb_conn *c, int64_t held, int64_t mark)
{
    assert(held < mark);
    int rc = raise_op_seq(c, mark);
    char floor[32];
    if (rc == CB_OK && (setting(c, "sync_own_floor", floor, sizeof(floor)) != CB_OK || !floor[0] ||
                        setting_int(c, "sync_own_floor") > held)) {
        rc = set_int(c, "sync_own_floor", held);
    }
    char detail[320];
    snprintf(detail, sizeof(detail),
             "restored from a backup: central has this site's ops up to %lld, the backup up to "
             "%lld; new ops are numbered after %lld and ops %lld-%lld are fetched back",
             (long long)mark, (long long)held, (long long)mark, (long long)held + 1,
             (long long)mark);
    if (rc == CB_OK) {
        struct cb_audit_event e = {NULL, "sync.restored", NULL, NULL, NULL, "ok", detail, NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        fprintf(stderr, "coachbox: sync: %s\n", detail);
    }
    return rc;
}

/*
 * Central refused a push because op first (and the ops after it) reuse ids it
 * had accepted up to mark: renumber the waiting ops from first on to mark + 1,
 * mark + 2, ... (same order, still contiguous) and note the restore.  Ops
 * below first are resends of ops central has; they stay and are skipped.
 */
static int renumber_reused(struct cb_conn *c, int64_t first, int64_t mark)
{
    if (first < 1 || first > mark) {
        return CB_EPARSE;
    }
    int64_t delta = mark + 1 - first;
    sqlite3_stmt *st;
    int rc = cb_conn_begin(c);
    /* Through negative ids, so no row ever takes an id another still has. */
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c, "UPDATE outbox SET op_id = -(op_id + ?1) WHERE op_id >= ?2", &st);
    }
    if (rc == CB_OK) {
        sqlite3_bind_int64(st, 1, delta);
        sqlite3_bind_int64(st, 2, first);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        rc = cb_conn_exec(c, "UPDATE outbox SET op_id = -op_id WHERE op_id < 0");
    }
    if (rc == CB_OK) {
        rc = note_restored(c, first - 1, mark);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    return rc;
}

/* ------------------------------------------------------------ push */

/*
 * One push batch: its body, its op id range, and (once sent) the answer.
 * A batch may be sent on a helper thread (push_send_async): the thread only
 * runs http_send on the slot's own curl handle and touches nothing else.
 */
struct push_batch {
    CURL *k; /* the slot's handle; NULL: the round's */
    const struct central_auth *auth;
    const char *base;
    struct cb_buf body;
    int64_t first, lastid, n;
    pthread_t th;
    int running;
    int rc;
    struct http_resp resp;
    char msg[sizeof(((struct cb_sync_result *)0)->error)];
};

/*
 * Build the next batch from the outbox: the ops after op id `after` (0: from
 * the oldest waiting), up to PUSH_BATCH or the op crossing PUSH_BODY_SOFT,
 * each outbox row's stored fields (compact JSON written by capture.c) spliced
 * in as text.  pending: what to report as still waiting.  b->n == 0: nothing.
 */
static int push_build(struct cb_conn *c, int64_t after, int64_t pending, struct push_batch *b)
{
    sqlite3_stmt *st;
    char oldest[CB_TIME_STRLEN] = "";
    b->first = b->lastid = b->n = 0;
    cb_buf_init(&b->body, PUSH_BODY_MAX);
    int rc = cb_conn_prepare(c,
                             "SELECT op_id, tbl, row_id, fields, hlc, base_seq, created_at "
                             "FROM outbox WHERE op_id > ?2 ORDER BY op_id LIMIT ?1",
                             &st);
    if (rc == CB_OK) {
        rc = cb_buf_adds(&b->body, "{\"ops\":[");
    }
    if (rc == CB_OK) {
        sqlite3_bind_int(st, 1, PUSH_BATCH);
        sqlite3_bind_int64(st, 2, after);
        while (rc == CB_OK && b->body.len < PUSH_BODY_SOFT && sqlite3_step(st) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);
            const char *fields = (const char *)sqlite3_column_text(st, 3);
            struct cb_buf *w = &b->body;
            if (!b->first) {
                b->first = id;
                snprintf(oldest, sizeof(oldest), "%s", (const char *)sqlite3_column_text(st, 6));
            }
            b->lastid = id;
            rc = cb_buf_addf(w, "%s{\"op_id\":%lld,\"tbl\":", b->n ? "," : "", (long long)id);
            rc = rc ? rc : cb_json_buf_add_string(w, (const char *)sqlite3_column_text(st, 1));
            rc = rc ? rc : cb_buf_adds(w, ",\"row_id\":");
            rc = rc ? rc : cb_json_buf_add_string(w, (const char *)sqlite3_column_text(st, 2));
            rc = rc ? rc : cb_buf_adds(w, ",\"fields\":");
            rc = rc ? rc : cb_buf_adds(w, fields && fields[0] == '{' ? fields : "{}");
            rc = rc ? rc
                    : cb_buf_addf(w, ",\"hlc\":%lld,\"base_seq\":%lld}",
                                  (long long)sqlite3_column_int64(st, 4),
                                  (long long)sqlite3_column_int64(st, 5));
            b->n++;
        }
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        rc = cb_buf_addf(&b->body, "],\"pending\":%lld,\"oldest_pending_at\":",
                         (long long)(pending > 0 ? pending : 0));
    }
    rc = rc ? rc : cb_json_buf_add_string(&b->body, oldest);
    rc = rc ? rc : cb_buf_adds(&b->body, "}");
    if (rc) {
        cb_buf_free(&b->body);
    }
    return rc;
}

static void *push_send_main(void *arg)
{
    struct push_batch *b = arg;
    b->rc = http_send(b->k, b->auth, b->base, "POST", "/sync/v1/push", cb_buf_str(&b->body), 0,
                      &b->resp, b->msg, sizeof(b->msg));
    return NULL;
}

/* Send b on a helper thread (on the calling thread if one cannot start). */
static void push_send_async(struct push_batch *b)
{
    b->rc = CB_EIO;
    memset(&b->resp, 0, sizeof(b->resp));
    b->running = pthread_create(&b->th, NULL, push_send_main, b) == 0;
    if (!b->running) {
        push_send_main(b);
    }
}

/* Wait for b's answer (sent by push_send_async) and free its body. */
static void push_wait(struct push_batch *b)
{
    if (b->running) {
        pthread_join(b->th, NULL);
        b->running = 0;
    }
    cb_buf_free(&b->body);
}

/*
 * Settle an answered batch: count its results and, in one transaction, clear
 * the outbox up to central's ack (only as far as this batch went: an op past
 * it that reuses an id below ack, at a site restored from a backup, has not
 * been seen by central yet).  strict: anything but a full acknowledgement is
 * the round's error (res->error); otherwise (a batch sent behind one that
 * failed) a refusal or an ack before the batch is ignored (it is sent again).
 * *clean: central consumed the whole batch.
 */
static int push_settle(struct cb_conn *c, struct push_batch *b, int strict,
                       struct cb_sync_result *res, int64_t *done, int64_t total,
                       cb_sync_progress progress, void *ud, int *clean)
{
    struct http_resp *resp = &b->resp;
    int rc = b->rc;
    *clean = 0;
    if (rc && strict) {
        snprintf(res->error, sizeof(res->error), "%s", b->msg);
    }
    if (rc == CB_OK && resp->status != 200) {
        rc = strict ? resp_error(resp, res->error, sizeof(res->error)) : CB_EIO;
    }
    int64_t ack = 0;
    if (rc == CB_OK) {
        ack = json_integer_value(json_object_get(resp->json, "ack"));
        if (ack < b->first) {
            if (strict) {
                snprintf(res->error, sizeof(res->error),
                         "central acknowledged nothing (ack %lld, first waiting change %lld)",
                         (long long)ack, (long long)b->first);
            }
            rc = CB_EIO;
        }
    }
    if (rc == CB_OK) {
        json_t *rej = json_object_get(resp->json, "rejected");
        res->conflicts += json_integer_value(json_object_get(resp->json, "conflicts"));
        res->rejected += (int64_t)json_array_size(rej);
        if (json_array_size(rej) > 0) {
            fprintf(stderr, "coachbox: sync: central refused %zu change(s), e.g. %s\n",
                    json_array_size(rej), cb_json_str(json_array_get(rej, 0), "reason"));
        }
    }
    resp_free(resp);
    if (rc) {
        return strict ? rc : CB_OK;
    }
    /* Central has durably applied everything up to ack.  Unsynced: a power loss
     * could only bring these ops back, and central takes their resend for one;
     * push_all syncs once at the end of the round. */
    int64_t upto = ack < b->lastid ? ack : b->lastid;
    sqlite3_stmt *st;
    rc = cb_conn_begin_unsynced(c);
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c, "DELETE FROM outbox WHERE op_id <= ?1", &st);
    }
    if (rc == CB_OK) {
        sqlite3_bind_int64(st, 1, upto);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        rc = process_scope_exits(c);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    if (rc) {
        return rc;
    }
    int64_t acked = upto - b->first + 1;
    *done += acked;
    res->pushed += acked;
    if (progress) {
        progress(ud, "push", *done, total);
    }
    if (ack < b->lastid) {
        if (strict) {
            snprintf(res->error, sizeof(res->error),
                     "central applied only part of a batch (up to %lld of %lld)", (long long)ack,
                     (long long)b->lastid);
            return CB_EIO;
        }
        return CB_OK;
    }
    *clean = 1;
    return CB_OK;
}

/*
 * Push the outbox.  The first batch goes alone; once central has consumed a
 * whole batch, every later op id is above central's mark for this site (no
 * other round of the site runs: round_lock and the flock), so batches are
 * pipelined: batch N+1 is sent (on a helper thread) before batch N's answer
 * is awaited, and central parses it while it applies N (hub.c takes pushes in
 * turn).  Central applies N+1 only after all of N (it stops at a gap), so the
 * order of the site's writes is kept.  Any answer but a full acknowledgement
 * ends the pipeline: both batches are settled for what central says it
 * applied, and pushing goes on with a lone batch from the oldest waiting op,
 * whose answer is checked as before (errors, the restore handling); only a
 * lone batch's answer can fail the round.
 */
static int push_all(struct cb_conn *c, const char *base, cb_sync_progress progress, void *ud,
                    struct cb_sync_result *res)
{
    int64_t total = 0;
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT count(*) FROM outbox", &st);
    if (rc) {
        return rc;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        total = sqlite3_column_int64(st, 0);
    }
    cb_stmt_done(st);
    struct central_auth auth;
    auth_load(c, &auth);
    struct push_batch slot[2];
    memset(slot, 0, sizeof(slot));
    for (int i = 0; i < 2; i++) {
        slot[i].k = curl_easy_init(); /* NULL: a handle per request */
        slot[i].auth = &auth;
        slot[i].base = base;
    }
    int64_t done = 0;
    int renumbered = 0, pipelined = 0, next = 0;
    struct push_batch *inflight = NULL; /* sent, answer not yet settled (pipelined) */
    for (;;) {
        struct push_batch *b = &slot[next];
        assert(b != inflight);
        rc = push_build(c, inflight ? inflight->lastid : 0,
                        total - done - (inflight ? inflight->n : 0), b);
        if (rc) {
            break;
        }
        if (b->n == 0) {
            cb_buf_free(&b->body);
            b = NULL;
            if (!inflight) {
                break; /* all pushed */
            }
        } else {
            push_send_async(b);
            next ^= 1;
        }
        if (inflight) {
            int clean;
            push_wait(inflight);
            /* Not strict: an answer short of a full acknowledgement (the batch overtook
             * the one before it at central and met a gap, a refusal, a lost answer) is
             * not the round's error here; the lone batch below meets it again, with
             * the checks and the restore handling of a lone batch. */
            rc = push_settle(c, inflight, 0, res, &done, total, progress, ud, &clean);
            inflight = NULL;
            if (rc || !clean) {
                /* The pipeline ends: settle what was sent behind it, for what central
                 * applied of it, and go on batch by batch (or stop on an error). */
                if (b) {
                    int ignored;
                    push_wait(b);
                    int rc2 = push_settle(c, b, 0, res, &done, total, progress, ud, &ignored);
                    rc = rc ? rc : rc2;
                }
                pipelined = 0;
                if (rc) {
                    break;
                }
                continue;
            }
        }
        if (!b) {
            continue;
        }
        if (pipelined) {
            inflight = b;
            continue;
        }
        /* A lone batch: wait for its answer. */
        push_wait(b);
        const char *code = cb_json_str(json_object_get(b->resp.json, "error"), "code");
        if (b->rc == CB_OK && b->resp.status == 409 && renumbered < 2 && code &&
            strcmp(code, "op_ids_reused") == 0) {
            /* Restored from a backup: these ids were used by ops central has. */
            rc = renumber_reused(c,
                                 json_integer_value(json_object_get(b->resp.json, "first_reused")),
                                 json_integer_value(json_object_get(b->resp.json, "last_op_id")));
            resp_free(&b->resp);
            if (rc) {
                snprintf(res->error, sizeof(res->error),
                         "this site was restored from a backup and its waiting changes could not "
                         "be renumbered: %s",
                         cb_strerror(rc));
                break;
            }
            renumbered++;
            res->restored = 1;
            continue;
        }
        int clean;
        rc = push_settle(c, b, 1, res, &done, total, progress, ud, &clean);
        if (rc) {
            break;
        }
        pipelined = clean;
    }
    if (inflight) {
        /* Only on an error above: the batch is settled for what central applied. */
        int ignored;
        push_wait(inflight);
        push_settle(c, inflight, 0, res, &done, total, progress, ud, &ignored);
    }
    for (int i = 0; i < 2; i++) {
        assert(!slot[i].running);
        if (slot[i].k) {
            curl_easy_cleanup(slot[i].k);
        }
    }
    /* The settled batches' outbox deletions, on disk before the round reports them. */
    int src = cb_conn_sync_wal(c);
    if (rc == CB_OK && src) {
        snprintf(res->error, sizeof(res->error), "could not write the outbox to disk: %s",
                 cb_strerror(src));
        rc = src;
    }
    return rc;
}

/* ------------------------------------------------------------ pull */

static int team_in(const json_t *teams, const char *team)
{
    size_t i;
    json_t *t;
    json_array_foreach(teams, i, t)
    {
        if (team && json_is_string(t) && strcmp(json_string_value(t), team) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Fields of row with edits still waiting in the outbox (object used as a set). */
static int pending_fields(struct cb_conn *c, const char *tbl, const char *row_id, json_t *set)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT fields FROM outbox WHERE tbl = ?1 AND row_id = ?2", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, row_id, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *f = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        const char *key;
        json_t *v;
        json_object_foreach(f, key, v)
        {
            (void)v;
            json_object_set_new(set, key, json_true());
        }
        json_decref(f);
    }
    cb_stmt_done(st);
    return CB_OK;
}

/*
 * The pull's checkpointer: the sync connection's automatic checkpoint (run in
 * a commit once the WAL holds 1,000 pages: about every other page of a fresh
 * site's pull, which writes ~700 WAL frames per 2,000 changes) is off while a
 * pull runs, and this helper thread, on a connection of its own,
 * runs a passive checkpoint after each page commits, while the next page is
 * applied.  A passive checkpoint never blocks the writer, but the WAL starts
 * again from its beginning only when a write begins with every frame copied
 * back, which a checkpoint one page behind never gives: so every
 * CKPT_WAIT_PAGES pages the applying thread waits (not spinning) for the pass
 * after its last commit, and the WAL stays within a few pages.  Owned by
 * pull_all; guarded by mu.
 */
#define CKPT_WAIT_PAGES 4

struct checkpointer {
    sqlite3 *db;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long asked, done; /* passes asked for, passes finished */
    int stop;
    int since_wait; /* pages committed since the last wait (applying thread only) */
    int autockpt;   /* the connection's threshold before (restored by ckpt_stop) */
};

static void *ckpt_main(void *arg)
{
    struct checkpointer *ck = arg;
    pthread_mutex_lock(&ck->mu);
    for (;;) {
        while (!ck->stop && ck->done == ck->asked) {
            pthread_cond_wait(&ck->cv, &ck->mu);
        }
        if (ck->done == ck->asked) {
            break; /* stopped with nothing left to do */
        }
        unsigned long target = ck->asked;
        pthread_mutex_unlock(&ck->mu);
        /* Busy (another checkpoint running) or failed: the next pass, or the
         * connection's own automatic checkpoint after the pull, copies the rest. */
        sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&ck->mu);
        ck->done = target;
        pthread_cond_broadcast(&ck->cv);
    }
    pthread_mutex_unlock(&ck->mu);
    return NULL;
}

/* Start the checkpointer for c's store and turn c's automatic checkpoint off;
 * NULL (c unchanged) if it cannot start. */
static struct checkpointer *ckpt_start(struct cb_conn *c)
{
    sqlite3_stmt *st;
    int autockpt = -1;
    if (cb_conn_prepare(c, "PRAGMA wal_autocheckpoint", &st) == CB_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            autockpt = sqlite3_column_int(st, 0);
        }
        cb_stmt_done(st);
    }
    struct checkpointer *ck = autockpt > 0 ? calloc(1, sizeof(*ck)) : NULL;
    if (!ck) {
        return NULL; /* also when automatic checkpoints are off already */
    }
    ck->autockpt = autockpt;
    if (cb_store_open_checkpointer(cb_conn_store(c), &ck->db) != CB_OK) {
        free(ck);
        return NULL;
    }
    pthread_mutex_init(&ck->mu, NULL);
    pthread_cond_init(&ck->cv, NULL);
    if (pthread_create(&ck->th, NULL, ckpt_main, ck) != 0) {
        pthread_cond_destroy(&ck->cv);
        pthread_mutex_destroy(&ck->mu);
        sqlite3_close(ck->db);
        free(ck);
        return NULL;
    }
    sqlite3_wal_autocheckpoint(cb_conn_db(c), 0);
    return ck;
}

/* A page committed on the applying thread: ask for a pass; every
 * CKPT_WAIT_PAGES pages wait for it (see struct checkpointer). */
static void ckpt_committed(struct checkpointer *ck)
{
    if (!ck) {
        return;
    }
    pthread_mutex_lock(&ck->mu);
    unsigned long want = ++ck->asked;
    pthread_cond_broadcast(&ck->cv);
    if (++ck->since_wait >= CKPT_WAIT_PAGES) {
        ck->since_wait = 0;
        while (ck->done < want) {
            pthread_cond_wait(&ck->cv, &ck->mu);
        }
    }
    pthread_mutex_unlock(&ck->mu);
}

/* Stop the checkpointer (after the passes asked for) and give c its automatic
 * checkpoint back. */
static void ckpt_stop(struct cb_conn *c, struct checkpointer *ck)
{
    if (!ck) {
        return;
    }
    pthread_mutex_lock(&ck->mu);
    ck->stop = 1;
    pthread_cond_broadcast(&ck->cv);
    pthread_mutex_unlock(&ck->mu);
    pthread_join(ck->th, NULL);
    pthread_cond_destroy(&ck->cv);
    pthread_mutex_destroy(&ck->mu);
    sqlite3_close(ck->db);
    int autockpt = ck->autockpt;
    free(ck);
    sqlite3_wal_autocheckpoint(cb_conn_db(c), autockpt);
}

/*
 * How a page is applied (pull_pages): whether the outbox was empty when the
 * page's transaction began (then no change can have a field waiting in it).
 * The rows derived from measures and contacts are recomputed per group when
 * the page commits (the sync connection has no triggers: derived.h).
 */
struct page_apply {
    int outbox_empty;
    struct checkpointer *ck; /* NULL: SQLite checkpoints in each commit, as usual */
    int ck_tried;            /* ckpt_start was called (once per pull) */
};

/* Apply one pulled change (caller holds the transaction); dumped: its entry of
 * http_resp.dumped, or NULL. */
static int apply_change(struct cb_conn *c, const json_t *ch, const json_t *dumped,
                        const json_t *teams, json_t *exits, struct page_apply *pa)
{
    const char *tbl = cb_json_str(ch, "tbl");
    const char *row_id = cb_json_str(ch, "row_id");
    json_t *fields = json_object_get(ch, "fields");
    json_int_t seq = json_integer_value(json_object_get(ch, "seq"));
    uint64_t hlc = (uint64_t)json_integer_value(json_object_get(ch, "hlc"));
    const char *site = cb_json_str(ch, "site");
    const struct cb_table *t = tbl ? cb_table_find(tbl) : NULL;
    if (!t || !row_id || !json_is_object(fields) || !site) {
        return CB_EPARSE;
    }
    cb_hlc_observe(cb_store_hlc(cb_conn_store(c)), hlc, cb_now_ms());
    json_t *pending = json_object();
    int rc =
        pa->outbox_empty ? (pending ? CB_OK : CB_ENOMEM) : pending_fields(c, tbl, row_id, pending);
    const char *key;
    json_t *v;
    /* Usually nothing of the row waits in the outbox and every field is a synced
     * column: then the change is applied as it came, without a copy. */
    int whole = json_object_size(pending) == 0;
    json_object_foreach(fields, key, v)
    {
        if (whole && !cb_record_synced_column(t, key)) {
            whole = 0;
        }
    }
    json_t *apply = whole ? json_incref(fields) : json_object();
    if (!whole) {
        json_object_foreach(fields, key, v)
        {
            if (!json_object_get(pending, key) && cb_record_synced_column(t, key)) {
                json_object_set(apply, key, v);
            }
        }
    }
    if (rc == CB_OK && json_object_size(apply) > 0) {
        char now[CB_TIME_STRLEN];
        int existed = 1;
        cb_time_format(cb_now_ms(), now);
        rc = cb_record_apply_dumped(c, t, row_id, apply, json_is_object(dumped) ? dumped : NULL,
                                    now, 1, &existed);
        json_t *versions = NULL;
        /* A row that was not here has no versions (row_meta goes with its row);
         * created whole, its versions are one row-wide entry (cb_capture_stamp),
         * written without building them as JSON when the site id allows. */
        int done = 0;
        if (rc == CB_OK && !existed && json_object_get(apply, "created_at")) {
            int r = cb_capture_set_row_version(c, tbl, row_id, seq, hlc, site);
            done = r != CB_EINVAL;
            rc = done ? r : CB_OK;
        }
        if (rc == CB_OK && !done) {
            rc = existed ? cb_capture_versions(c, tbl, row_id, &versions)
                         : ((versions = json_object()) ? CB_OK : CB_ENOMEM);
        }
        if (rc == CB_OK && !done) {
            rc = cb_capture_stamp(versions, apply, seq, hlc, site);
        }
        if (rc == CB_OK && !done) {
            rc = cb_capture_set_versions(c, tbl, row_id, versions);
        }
        json_decref(versions);
    }
    /* An account whose password was set on central (or that was disabled there)
     * keeps no session here either: a password changed after a tablet was lost
     * locks the finder out of every venue at its next sync, as on central. */
    if (rc == CB_OK && strcmp(tbl, "users") == 0 &&
        (json_object_get(fields, "password_hash") ||
         json_is_true(json_object_get(fields, "disabled")) ||
         json_integer_value(json_object_get(fields, "disabled")) == 1)) {
        rc = cb_session_delete_user(c, row_id);
    }
    /* A participant moved to a team this site does not serve: leave scope. */
    if (rc == CB_OK && strcmp(tbl, "participants") == 0 &&
        json_is_string(json_object_get(fields, "team")) &&
        !team_in(teams, cb_json_str(fields, "team"))) {
        json_array_append_new(exits, json_string(row_id));
    }
    json_decref(apply);
    json_decref(pending);
    return rc;
}

/*
 * The pull's prefetch: while the round applies page N on its store
 * connection, a helper thread fetches and parses page N+1 (the request for
 * since = page N's next, with the same ops mark) on a curl handle of its own,
 * so the transfer and the JSON parsing use the second core.  The page is used
 * only if, once page N is committed, the cursor and the ops mark are still
 * what it was asked with; otherwise (another round moved the cursor, a
 * restore changed the mark, the prefetch failed) it is dropped and the page
 * fetched again, so the pages applied are exactly those of a round without
 * prefetch.  Owned by pull_all; the thread touches only this struct.
 */
struct prefetch {
    CURL *k; /* NULL: no prefetch (the page is fetched when needed) */
    struct central_auth auth;
    const char *base;
    char path[160];
    int64_t since, held;
    pthread_t th;
    int running;
    int rc;
    struct http_resp resp;
    char msg[256];
    /* The page applied before (its JSON tree is large): freed by the next prefetch
     * thread, not on the applying thread.  `old` is the round's until handed over
     * into `drop`, which the thread frees first. */
    struct http_resp old, drop;
    int has_old, has_drop;
};

/*
 * For each change of a pull page, an object mapping each of its fields of a
 * JSON-typed column (an object or array stored as text) to the text
 * cb_json_dump() gives for it, or null: what cb_record_apply_dumped binds
 * instead of dumping the value again on the applying thread.  NULL when
 * memory runs out (the values are then dumped as they are applied).  Touches
 * only the page and the static table declarations.
 */
static json_t *page_dump_json(const json_t *page)
{
    const json_t *changes = json_object_get(page, "changes");
    json_t *out = json_is_array(changes) ? json_array() : NULL;
    struct cb_buf text;
    /* one buffer reused for the page (its own malloc memory, never the page's
     * arena: jarena.h) */
    cb_buf_init(&text, PAGE_VALUE_TEXT_MAX);
    size_t i;
    json_t *ch;
    json_array_foreach(changes, i, ch)
    {
        const char *tbl = cb_json_str(ch, "tbl");
        const struct cb_table *t = tbl ? cb_table_find(tbl) : NULL;
        json_t *texts = NULL;
        if (t && cb_record_dump_json_fields(t, json_object_get(ch, "fields"), &text, &texts)) {
            texts = NULL; /* no memory: dumped as applied */
        }
        if (json_array_append_new(out, texts ? texts : json_null())) {
            json_decref(out);
            out = NULL;
            break;
        }
    }
    cb_buf_free(&text);
    return out;
}

static void *prefetch_main(void *arg)
{
    struct prefetch *pf = arg;
    if (pf->has_drop) {
        resp_free(&pf->drop);
        pf->has_drop = 0;
    }
    pf->rc = http_send(pf->k, &pf->auth, pf->base, "GET", pf->path, NULL, HTTP_PAGE, &pf->resp,
                       pf->msg, sizeof(pf->msg));
    if (pf->rc == CB_OK && pf->resp.status == 200) {
        /* Its values go with the page's (resp_free frees dumped first). */
        struct cb_jarena *prev = cb_jarena_use(pf->resp.arena);
        pf->resp.dumped = page_dump_json(pf->resp.json);
        cb_jarena_use(prev);
    }
    return NULL;
}

/* Start fetching the page after since (mark held) on the helper thread. */
static void prefetch_start(struct prefetch *pf, int64_t since, int64_t held, int limit)
{
    assert(!pf->running);
    if (!pf->k) {
        return;
    }
    memset(&pf->resp, 0, sizeof(pf->resp));
    pf->since = since;
    pf->held = held;
    pf->rc = CB_EIO;
    snprintf(pf->path, sizeof(pf->path), "/sync/v1/pull?since=%lld&limit=%d&ops=%lld",
             (long long)since, limit, (long long)held);
    assert(!pf->has_drop);
    pf->drop = pf->old;
    pf->has_drop = pf->has_old;
    pf->has_old = 0;
    pf->running = pthread_create(&pf->th, NULL, prefetch_main, pf) == 0;
    if (!pf->running && pf->has_drop) {
        resp_free(&pf->drop);
        pf->has_drop = 0;
    }
}

/* Done with a page: keep it for the next prefetch thread to free (see struct
 * prefetch), freeing the one kept before if no thread took it. */
static void prefetch_discard(struct prefetch *pf, struct http_resp *resp)
{
    if (pf->has_old) {
        resp_free(&pf->old);
    }
    if (pf->k) {
        pf->old = *resp;
        pf->has_old = 1;
    } else {
        resp_free(resp);
    }
    memset(resp, 0, sizeof(*resp));
}

/*
 * Wait for the prefetch; when it fetched the page for (since, held) with a
 * 200 answer, move it into *resp and return 1.  Otherwise drop it and return 0.
 */
static int prefetch_take(struct prefetch *pf, int64_t since, int64_t held, struct http_resp *resp)
{
    if (!pf->running) {
        return 0;
    }
    pthread_join(pf->th, NULL);
    pf->running = 0;
    if (pf->rc == CB_OK && pf->resp.status == 200 && pf->since == since && pf->held == held) {
        *resp = pf->resp;
        memset(&pf->resp, 0, sizeof(pf->resp));
        return 1;
    }
    resp_free(&pf->resp);
    return 0;
}

/* Apply pages from the cursor on until central has no more. */
static int pull_pages(struct cb_conn *c, const char *base, cb_sync_progress progress, void *ud,
                      struct cb_sync_result *res, struct prefetch *pf, struct page_apply *pa)
{
    int limit = PULL_PAGE_FIRST; /* of the page fetched next (see PULL_PAGE) */
    for (;;) {
        char path[128], teams_text[4096];
        int64_t cursor = setting_int(c, "sync_cursor");
        int64_t held = own_ops_held(c);
        struct http_resp resp;
        int rc = CB_OK;
        if (!prefetch_take(pf, cursor, held, &resp)) {
            snprintf(path, sizeof(path), "/sync/v1/pull?since=%lld&limit=%d&ops=%lld",
                     (long long)cursor, limit, (long long)held);
            rc = http_call(c, base, "GET", path, NULL, HTTP_PAGE, &resp, res->error,
                           sizeof(res->error));
        }
        if (rc == CB_OK && resp.status != 200) {
            rc = resp_error(&resp, res->error, sizeof(res->error));
        }
        json_t *changes = rc == CB_OK ? json_object_get(resp.json, "changes") : NULL;
        json_int_t next = json_integer_value(json_object_get(resp.json, "next"));
        int more = json_is_true(json_object_get(resp.json, "more"));
        if (rc == CB_OK && (!json_is_array(changes) || next < cursor)) {
            snprintf(res->error, sizeof(res->error), "central sent a malformed page");
            rc = CB_EPARSE;
        }
        json_t *teams = NULL;
        if (rc == CB_OK) {
            teams = json_object_get(resp.json, "teams");
            if (!json_is_array(teams)) {
                setting(c, "site_teams", teams_text, sizeof(teams_text));
                teams = json_loads(teams_text, 0, NULL);
            } else {
                json_incref(teams);
            }
        }
        limit = limit < PULL_PAGE / 3 * 2 ? limit + limit / 2 : PULL_PAGE;
        if (rc == CB_OK && more && next > cursor) {
            /* The next page travels and is parsed while this one is applied. */
            prefetch_start(pf, next, held, limit);
            if (pf->k && !pa->ck_tried) {
                /* More than a page to apply, on two threads: checkpoints move
                 * off the commits too (not worth a thread for a short pull). */
                pa->ck_tried = 1;
                pa->ck = ckpt_start(c);
            }
        }
        json_t *exits = json_array();
        if (rc == CB_OK) {
            /* The page and the cursor commit together (c is the sync connection:
             * foreign keys are off, rows arrive in scope order), without waiting for
             * the disk: pull_all syncs the WAL once at the end of the round. */
            rc = cb_conn_begin_unsynced(c);
            if (rc == CB_OK && setting_int(c, "sync_cursor") != cursor) {
                /* Another round (the background syncer, or a `coachbox sync` in another
                 * process) applied this page meanwhile: drop ours and go on from there. */
                cb_conn_rollback(c);
                json_decref(exits);
                json_decref(teams);
                resp_free(&resp);
                continue;
            }
            size_t i;
            json_t *ch;
            if (rc == CB_OK) {
                /* Nothing can be added to the outbox while this transaction holds the
                 * write lock, so an empty one needs no lookup per change. */
                sqlite3_stmt *st;
                rc = cb_conn_prepare(c, "SELECT EXISTS (SELECT 1 FROM outbox)", &st);
                if (rc == CB_OK) {
                    int s = sqlite3_step(st);
                    rc = s == SQLITE_ROW ? CB_OK : cb_store_rc(s) ? cb_store_rc(s) : CB_EDB;
                    pa->outbox_empty = rc == CB_OK && sqlite3_column_int(st, 0) == 0;
                    cb_stmt_done(st);
                }
            }
            json_array_foreach(changes, i, ch)
            {
                if (rc == CB_OK) {
                    rc = apply_change(c, ch,
                                      json_array_size(resp.dumped) == json_array_size(changes)
                                          ? json_array_get(resp.dumped, i)
                                          : NULL,
                                      teams, exits, pa);
                }
            }
            if (rc == CB_OK) {
                rc = set_int(c, "sync_cursor", next);
            }
            /* Central has ops of this site that it does not have: restored from a
             * backup (this page already brings back its own writes after held). */
            int64_t mark = json_integer_value(json_object_get(resp.json, "last_op_id"));
            if (rc == CB_OK && mark > local_op_seq(c)) {
                rc = note_restored(c, held < mark ? held : local_op_seq(c), mark);
                res->restored = 1;
            }
            if (rc == CB_OK && !more) {
                /* Caught up with central's head: every own write it had is here. */
                rc = cb_conn_exec(c, "DELETE FROM settings WHERE key = 'sync_own_floor'");
            }
            if (rc == CB_OK) {
                /* The clock observed the page's HLCs: persist it with the page, so
                 * it never goes back across a restart (hlc.h). */
                char hb[32];
                snprintf(hb, sizeof(hb), "%llu",
                         (unsigned long long)cb_hlc_peek(cb_store_hlc(cb_conn_store(c))));
                rc = cb_setting_set(c, "hlc", hb);
            }
            if (rc == CB_OK) {
                char *tt = cb_json_dump(teams);
                rc = tt ? cb_setting_set(c, "site_teams", tt) : CB_ENOMEM;
                free(tt);
            }
            json_array_foreach(exits, i, ch)
            {
                sqlite3_stmt *st;
                char now[CB_TIME_STRLEN];
                cb_time_format(cb_now_ms(), now);
                if (rc == CB_OK) {
                    rc = cb_conn_prepare(c,
                                         "INSERT OR IGNORE INTO scope_exits(participant_id, since) "
                                         "VALUES (?1, ?2)",
                                         &st);
                }
                if (rc == CB_OK) {
                    sqlite3_bind_text(st, 1, json_string_value(ch), -1, SQLITE_TRANSIENT);
                    sqlite3_bind_text(st, 2, now, -1, SQLITE_TRANSIENT);
                    rc = cb_store_rc(sqlite3_step(st));
                    cb_stmt_done(st);
                }
            }
            if (rc == CB_OK) {
                /* With the measures' triggers deferred this deletes a person's measures
                 * without them: they would only have refreshed the person's other
                 * measures of the same instrument (deleted by the same purge) and the
                 * person's latest measures (purge_participant deletes those). */
                rc = process_scope_exits(c);
            }
            if (rc == CB_OK) {
                rc = cb_conn_commit(c);
            } else {
                cb_conn_rollback(c);
                if (!res->error[0]) {
                    snprintf(res->error, sizeof(res->error),
                             "could not apply changes from central: %s", cb_strerror(rc));
                }
            }
            if (rc == CB_OK) {
                ckpt_committed(pa->ck);
                res->pulled += (int64_t)json_array_size(changes);
                if (progress) {
                    progress(ud, "pull", res->pulled, -1);
                }
            }
        }
        json_decref(exits);
        json_decref(teams);
        prefetch_discard(pf, &resp);
        if (rc) {
            return rc;
        }
        if (!more) {
            return CB_OK;
        }
    }
}

/* Pull every page from the cursor on (see pull_pages), with the prefetch. */
static int pull_all(struct cb_conn *c, const char *base, cb_sync_progress progress, void *ud,
                    struct cb_sync_result *res)
{
    struct prefetch pf;
    memset(&pf, 0, sizeof(pf));
    pf.base = base;
    auth_load(c, &pf.auth);
    pf.k = curl_easy_init(); /* NULL: pages are fetched one after the other */
    struct page_apply pa = {0, NULL, 0};
    struct timespec cpu0, cpu1;
    int timed = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0) == 0;
    int rc = pull_pages(c, base, progress, ud, res, &pf, &pa);
    /* The pages committed unsynced (each atomic with its cursor: a power loss
     * could only take the site back to an earlier page, pulled again); one
     * fsync makes them all durable before the round reports them. */
    int src = cb_conn_sync_wal(c);
    if (rc == CB_OK && src) {
        snprintf(res->error, sizeof(res->error), "could not write the pulled changes to disk: %s",
                 cb_strerror(src));
        rc = src;
    }
    if (timed && clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1) == 0) {
        res->pull_apply_cpu_s =
            (double)(cpu1.tv_sec - cpu0.tv_sec) + (double)(cpu1.tv_nsec - cpu0.tv_nsec) / 1e9;
    }
    ckpt_stop(c, pa.ck);
    struct http_resp unused;
    if (prefetch_take(&pf, pf.since, pf.held, &unused)) {
        resp_free(&unused); /* the round ended before it (an error) */
    }
    if (pf.has_old) {
        resp_free(&pf.old);
    }
    if (pf.k) {
        curl_easy_cleanup(pf.k);
    }
    cb_jarena_trim(); /* the pages' regions kept for reuse */
    return rc;
}

/* ------------------------------------------------------------ rounds */

/* A round cannot run: never enrolled, or revoked and wiped (res->error says which). */
static int not_enrolled(struct cb_conn *c, struct cb_sync_result *res)
{
    char revoked[8] = "";
    setting(c, "revoked", revoked, sizeof(revoked));
    snprintf(res->error, sizeof(res->error), "%s",
             revoked[0] ? "this site was revoked by central and its synced data wiped"
                        : "not enrolled: run coachbox enroll first");
    res->revoked = revoked[0] != '\0';
    return res->revoked ? CB_EFORBIDDEN : CB_EINVAL;
}

int cb_sync_round(struct cb_store *s, cb_sync_progress progress, void *ud,
                  struct cb_sync_result *res)
{
    struct cb_conn *c;
    char base[512];
    memset(res, 0, sizeof(*res));
    /* The whole round runs on this thread's sync connection (foreign keys off for
     * its lifetime, so its cached statements stay valid from round to round). */
    int rc = cb_store_sync_conn(s, &c);
    if (rc) {
        return rc;
    }
    if (!cb_sync_enrolled(s)) {
        return not_enrolled(c, res);
    }
    pthread_mutex_lock(&round_lock);
    /* Rounds never overlap across processes either (`coachbox sync` beside the
     * syncer of `coachbox serve`); the lock goes with its process. */
    char lockpath[1100];
    snprintf(lockpath, sizeof(lockpath), "%s.sync-lock", cb_store_path(s));
    int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX) != 0) {
        snprintf(res->error, sizeof(res->error), "cannot lock the data directory for a round: %s",
                 strerror(errno));
        if (lockfd >= 0) {
            close(lockfd);
        }
        pthread_mutex_unlock(&round_lock);
        return CB_EIO;
    }
    if (!cb_sync_enrolled(s)) {
        /* The round that held the lock before this one was told the site is revoked,
         * and wiped its credentials. */
        rc = not_enrolled(c, res);
        close(lockfd);
        pthread_mutex_unlock(&round_lock);
        return rc;
    }
    setting(c, "central_url", base, sizeof(base));
    set_int(c, "last_attempt_ms", cb_now_ms());
    round_curl = curl_easy_init(); /* NULL: each request uses its own handle */
    rc = push_all(c, base, progress, ud, res);
    if (rc == CB_OK) {
        rc = pull_all(c, base, progress, ud, res);
    }
    if (rc == CB_OK) {
        /* Anything captured meanwhile is pushed at the next round. */
        char now[CB_TIME_STRLEN];
        cb_time_format(cb_now_ms(), now);
        cb_setting_set(c, "last_sync_at", now);
        set_error(c, "");
    } else if (rc == CB_EFORBIDDEN) {
        res->revoked = 1;
        cb_sync_wipe(c);
        snprintf(res->error, sizeof(res->error),
                 "central has revoked this site: its synced data has been wiped");
        set_error(c, res->error);
    } else {
        if (!res->error[0]) {
            snprintf(res->error, sizeof(res->error), "%s", cb_strerror(rc));
        }
        set_error(c, res->error);
    }
    sqlite3_stmt *st;
    if (cb_conn_prepare(c, "SELECT count(*) FROM outbox", &st) == CB_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            res->pending = sqlite3_column_int64(st, 0);
        }
        cb_stmt_done(st);
    }
    if (round_curl) {
        curl_easy_cleanup(round_curl);
        round_curl = NULL;
    }
    cb_conn_release_memory(c); /* the round's page cache is not kept (store.c) */
    close(lockfd);             /* releases the flock */
    pthread_mutex_unlock(&round_lock);
    return rc;
}

/* ------------------------------------------------------------ verify */

int cb_sync_verify(struct cb_store *s, json_t **report, char *msg, size_t msglen)
{
    struct cb_conn *c;
    char base[512], teams_text[4096];
    msg[0] = '\0';
    int rc = cb_store_conn(s, &c);
    if (rc) {
        return rc;
    }
    if (!cb_sync_enrolled(s)) {
        snprintf(msg, msglen, "not enrolled: run coachbox enroll first");
        return CB_EINVAL;
    }
    setting(c, "central_url", base, sizeof(base));
    setting(c, "site_teams", teams_text, sizeof(teams_text));
    json_t *teams = json_loads(teams_text, 0, NULL);
    json_t *local = NULL;
    rc = cb_sync_digest(c, teams, NULL, &local);
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    if (rc == CB_OK) {
        rc = http_call(c, base, "GET", "/sync/v1/digest", NULL, 0, &resp, msg, msglen);
        if (rc == CB_OK && resp.status != 200) {
            rc = resp_error(&resp, msg, msglen);
        }
    }
    json_t *out = json_pack("{s:b, s:{}, s:[]}", "in_sync", 1, "tables", "differences");
    if (rc == CB_OK) {
        json_t *lt = json_object_get(local, "tables");
        json_t *ct = json_object_get(resp.json, "tables");
        const char *tbl;
        json_t *lv;
        json_object_foreach(lt, tbl, lv)
        {
            json_t *cv = json_object_get(ct, tbl);
            json_object_set_new(
                json_object_get(out, "tables"), tbl,
                json_pack("{s:O, s:O}", "local", lv, "central", cv ? cv : json_null()));
            if (cv && json_equal(lv, cv)) {
                continue;
            }
            json_object_set_new(out, "in_sync", json_false());
            /* Row by row for the tables that differ. */
            char path[128];
            struct http_resp rows;
            json_t *lrows = NULL;
            snprintf(path, sizeof(path), "/sync/v1/digest?table=%s", tbl);
            if (cb_sync_digest(c, teams, tbl, &lrows) != CB_OK ||
                http_call(c, base, "GET", path, NULL, 0, &rows, msg, msglen) != CB_OK ||
                rows.status != 200) {
                json_decref(lrows);
                resp_free(&rows);
                continue;
            }
            json_t *lr = json_object_get(lrows, "rows");
            json_t *cr = json_object_get(rows.json, "rows");
            const char *id;
            json_t *h;
            json_object_foreach(lr, id, h)
            {
                json_t *ch = json_object_get(cr, id);
                if (!json_equal(h, ch)) {
                    json_array_append_new(json_object_get(out, "differences"),
                                          json_pack("{s:s, s:s, s:s, s:s}", "table", tbl, "row_id",
                                                    id, "local", "present", "central",
                                                    ch ? "different" : "missing"));
                }
            }
            json_object_foreach(cr, id, h)
            {
                if (!json_object_get(lr, id)) {
                    json_array_append_new(json_object_get(out, "differences"),
                                          json_pack("{s:s, s:s, s:s, s:s}", "table", tbl, "row_id",
                                                    id, "local", "missing", "central", "present"));
                }
            }
            json_decref(lrows);
            resp_free(&rows);
        }
    }
    resp_free(&resp);
    json_decref(local);
    json_decref(teams);
    if (rc) {
        json_decref(out);
        return rc;
    }
    *report = out;
    return CB_OK;
}

/* ------------------------------------------------------------ status */

static pthread_mutex_t syncer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t syncer_cond = PTHREAD_COND_INITIALIZER;
static pthread_t syncer_thread;
static int syncer_running, syncer_stop, syncer_kicked, syncer_busy_flag;
static struct cb_store *syncer_store;
static int64_t syncer_next_ms;

int cb_syncer_busy(void)
{
    pthread_mutex_lock(&syncer_lock);
    int b = syncer_busy_flag;
    pthread_mutex_unlock(&syncer_lock);
    return b;
}

int cb_sync_status(struct cb_store *s, json_t **out)
{
    struct cb_conn *c;
    char id[64], name[CB_UTF8_STRLEN(CB_NAME_CHARS)], url[512], last[64], err[512], teams[4096],
        revoked[8];
    int rc = cb_store_conn(s, &c);
    if (rc) {
        return rc;
    }
    setting(c, "site_id", id, sizeof(id));
    setting(c, "site_name", name, sizeof(name));
    setting(c, "central_url", url, sizeof(url));
    setting(c, "last_sync_at", last, sizeof(last));
    setting(c, "last_error", err, sizeof(err));
    setting(c, "site_teams", teams, sizeof(teams));
    setting(c, "revoked", revoked, sizeof(revoked));
    int64_t pending = 0;
    char oldest[CB_TIME_STRLEN] = "";
    sqlite3_stmt *st;
    if (cb_conn_prepare(c, "SELECT count(*), min(created_at) FROM outbox", &st) == CB_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            pending = sqlite3_column_int64(st, 0);
            if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
                snprintf(oldest, sizeof(oldest), "%s", (const char *)sqlite3_column_text(st, 1));
            }
        }
        cb_stmt_done(st);
    }
    int64_t open_conflicts = 0;
    if (cb_conn_prepare(c, "SELECT count(*) FROM conflicts WHERE status = 'open' AND deleted = 0",
                        &st) == CB_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            open_conflicts = sqlite3_column_int64(st, 0);
        }
        cb_stmt_done(st);
    }
    json_t *tj = json_loads(teams, 0, NULL);
    *out = json_pack(
        "{s:s, s:b, s:b, s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:I, s:s?, s:I, s:b, "
        "s:I}",
        "role", cb_store_role(s), "enrolled", id[0] != '\0', "revoked", revoked[0] != '\0',
        "site_id", id[0] ? id : NULL, "site_name", name[0] ? name : NULL, "central_url",
        url[0] ? url : NULL, "teams", tj ? tj : json_array(), "last_sync_at", last[0] ? last : NULL,
        "last_error", err[0] ? err : NULL, "pending", (json_int_t)pending, "oldest_pending_at",
        oldest[0] ? oldest : NULL, "open_conflicts", (json_int_t)open_conflicts, "syncing",
        cb_syncer_busy(), "cursor", (json_int_t)setting_int(c, "sync_cursor"));
    return *out ? CB_OK : CB_ENOMEM;
}

/* ------------------------------------------------------------ background syncer */

#define SYNC_INTERVAL_MS (60 * 1000)
#define DEBOUNCE_MS      (2 * 1000)
#define BACKOFF_MAX_MS   (5 * 60 * 1000)

static void *syncer_main(void *arg)
{
    (void)arg;
    int64_t backoff = 0;
    pthread_mutex_lock(&syncer_lock);
    syncer_next_ms = cb_mono_ms() + DEBOUNCE_MS;
    while (!syncer_stop) {
        int64_t now = cb_mono_ms();
        if (now < syncer_next_ms) {
            int64_t wait = syncer_next_ms - now;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&syncer_cond, &syncer_lock, &ts);
            continue;
        }
        if (!cb_sync_enrolled(syncer_store)) {
            syncer_next_ms = cb_mono_ms() + SYNC_INTERVAL_MS;
            continue;
        }
        syncer_kicked = 0;
        syncer_busy_flag = 1;
        pthread_mutex_unlock(&syncer_lock);
        struct cb_sync_result res;
        int rc = cb_sync_round(syncer_store, NULL, NULL, &res);
        pthread_mutex_lock(&syncer_lock);
        syncer_busy_flag = 0;
        if (rc == CB_OK) {
            backoff = 0;
            syncer_next_ms = cb_mono_ms() + (syncer_kicked ? DEBOUNCE_MS : SYNC_INTERVAL_MS);
        } else if (res.revoked) {
            syncer_next_ms = cb_mono_ms() + 24LL * 3600 * 1000;
        } else {
            /* Exponential backoff with jitter; a kick does not cut it short. */
            backoff = backoff ? backoff * 2 : 2000;
            if (backoff > BACKOFF_MAX_MS) {
                backoff = BACKOFF_MAX_MS;
            }
            unsigned char j;
            cb_rng_bytes(&j, 1);
            syncer_next_ms = cb_mono_ms() + backoff / 2 + (backoff / 2) * j / 255;
        }
    }
    pthread_mutex_unlock(&syncer_lock);
    return NULL;
}

int cb_syncer_start(struct cb_store *s)
{
    pthread_mutex_lock(&syncer_lock);
    if (syncer_running) {
        pthread_mutex_unlock(&syncer_lock);
        return CB_OK;
    }
    syncer_store = s;
    syncer_stop = 0;
    int rc = pthread_create(&syncer_thread, NULL, syncer_main, NULL) == 0 ? CB_OK : CB_ENOMEM;
    syncer_running = rc == CB_OK;
    pthread_mutex_unlock(&syncer_lock);
    return rc;
}

void cb_syncer_kick(void)
{
    pthread_mutex_lock(&syncer_lock);
    if (syncer_running && !syncer_kicked) {
        syncer_kicked = 1;
        int64_t soon = cb_mono_ms() + DEBOUNCE_MS;
        if (syncer_next_ms > soon && !syncer_busy_flag) {
            syncer_next_ms = soon;
        }
        pthread_cond_signal(&syncer_cond);
    }
    pthread_mutex_unlock(&syncer_lock);
}

void cb_syncer_stop(void)
{
    pthread_mutex_lock(&syncer_lock);
    if (!syncer_running) {
        pthread_mutex_unlock(&syncer_lock);
        return;
    }
    syncer_stop = 1;
    pthread_cond_signal(&syncer_cond);
    pthread_mutex_unlock(&syncer_lock);
    pthread_join(syncer_thread, NULL);
    pthread_mutex_lock(&syncer_lock);
    syncer_running = 0;
    pthread_mutex_unlock(&syncer_lock);
}
