/* http.c - hardened CivetWeb embedding, routing, headers, errors; see http.h. */
#include "coachbox/http.h"
#include "coachbox/jarena.h"
#include "coachbox/api.h"
#include "coachbox/assets.h"
#include "coachbox/audit.h"
#include "coachbox/buf.h"
#include "coachbox/json.h"
#include "coachbox/kind.h"
#include "coachbox/sign.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/writer.h"

#include <arpa/inet.h>
#include <assert.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SESSION_COOKIE     "cb_session"
#define SESSION_COOKIE_TLS "__Host-cb_session"

struct cb_http {
    struct mg_context *ctx;
    struct cb_app *app;
    int tls;
    char url[128];
};

static const char security_headers[] =
    "Content-Security-Policy: default-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "X-Frame-Options: DENY\r\n"
    "Cross-Origin-Opener-Policy: same-origin\r\n"
    "Cross-Origin-Resource-Policy: same-origin\r\n"
    "Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n";

static const char hsts_header[] = "Strict-Transport-Security: max-age=31536000\r\n";

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return "Status";
    }
}

#define HEAD_MAX 8192 /* cap on a response's status line and headers */

/*
 * Append the status line and the headers every response carries to b.  The
 * Date text is formatted once a second per thread.
 */
static int format_head(struct cb_buf *b, int tls, int status, int close_conn)
{
    static __thread time_t date_at = -1;
    static __thread char date[64];
    time_t now = time(NULL);
    if (now != date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_at = now;
    }
    return cb_buf_addf(b, "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%s", status, reason(status), date,
                       security_headers, tls ? hsts_header : "",
                       close_conn ? "Connection: close\r\n" : "");
}

/* Write the status line and the headers every response carries. */
static void write_head(struct mg_connection *mc, int tls, int status, int close_conn)
{
    struct cb_buf b;
    cb_buf_init(&b, HEAD_MAX);
    if (format_head(&b, tls, status, close_conn) == CB_OK) {
        mg_write(mc, b.data, b.len);
    }
    cb_buf_free(&b);
}

/* ---- idempotent replays (offline queues): Idempotency-Key on writes ---- */

#define IDEM_TTL_MS (14LL * 24 * 3600 * 1000)

struct idem_job {
    const struct cb_req *r;
    int status;
    const char *body;
};

/* Room for "role:team" (struct cb_user's role and team). */
#define IDEM_ACCESS_LEN (sizeof(((struct cb_user *)0)->role) + sizeof(((struct cb_user *)0)->team))

/*
 * The access a stored answer is bound to: the user's role and team
 * ("coach:prestwich", "manager:"), all that the read checks of the record
 * depend on (cb_user_is_clinical, cb_user_sees_team).  A role never holds ':'.
 */
static void idem_access(const struct cb_user *u, char out[IDEM_ACCESS_LEN])
{
    snprintf(out, IDEM_ACCESS_LEN, "%s:%s", u->role, u->team);
}

/*
 * Store the answer of arg (a struct idem_job) and drop answers past their TTL,
 * on c in one transaction of its own (a savepoint in a writer group).
 */
static int idem_insert(struct cb_conn *c, void *arg)
{
    const struct idem_job *j = arg;
    const struct cb_req *r = j->r;
    sqlite3_stmt *st;
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    rc = cb_conn_prepare(c,
                         "INSERT OR IGNORE INTO idempotency(user_id, key, method, path, status, "
                         "body, created_ms, body_hash, access) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                         "?7, ?8, ?9)",
                         &st);
    if (rc == CB_OK) {
        char hash[CB_SIG_HEXLEN], access[IDEM_ACCESS_LEN];
        cb_sha256_hex(r->raw_body, r->raw_len, hash);
        idem_access(&r->user, access);
        sqlite3_bind_text(st, 8, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 9, access, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 1, r->user.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->idem_key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, r->ri->request_method, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, r->ri->local_uri, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, j->status);
        sqlite3_bind_text(st, 6, j->body, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 7, cb_now_ms());
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    if (rc == CB_OK &&
        (rc = cb_conn_prepare(c, "DELETE FROM idempotency WHERE created_ms < ?1", &st)) == CB_OK) {
        sqlite3_bind_int64(st, 1, cb_now_ms() - IDEM_TTL_MS);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        return cb_conn_commit(c);
    }
    cb_conn_rollback(c);
    return rc;
}

/*
 * Remember a successful answer to (user, key) so a replay gets it again: a
 * job of the group-commit writer when one runs (cb_conn_write), after the
 * reply was sent.  Best effort: a failure only loses the replay.
 */
static void idem_store(struct cb_req *r, int status, const char *body)
{
    struct idem_job j = {r, status, body};
    int rc = cb_conn_write(r->db, idem_insert, &j);
    if (rc) {
        fprintf(stderr, "coachbox: storing an Idempotency-Key answer failed: %s\n",
                cb_strerror(rc));
    }
}

/*
 * The (user, Idempotency-Key) pairs of writes in progress in this process: a
 * second request with the key while the first is running (its answer not yet
 * stored) is answered 409 rather than run again.  A request claims its pair
 * before it looks for a stored answer and holds it until that answer is
 * stored (on_request gives it back after the reply), so a duplicate either
 * finds the claim or, after it, the stored answer.  One server process owns a
 * data directory, so a process-wide table is enough.
 */
#define IDEM_FLIGHT_MAX 256 /* more than the workers that can hold one */
static pthread_mutex_t idem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int used;
    char user[sizeof(((struct cb_user *)0)->id)];
    char key[101];
} idem_flight[IDEM_FLIGHT_MAX];

/* Claim (r's user, key) for r: 0, or -1 when another request holds it, -2
 * when the table is full (then r runs unclaimed, as before this table). */
static int idem_claim(struct cb_req *r, const char *key)
{
    int rc = -2, free_slot = -1;
    pthread_mutex_lock(&idem_lock);
    for (int i = 0; i < IDEM_FLIGHT_MAX; i++) {
        if (!idem_flight[i].used) {
            free_slot = free_slot < 0 ? i : free_slot;
        } else if (strcmp(idem_flight[i].user, r->user.id) == 0 &&
                   strcmp(idem_flight[i].key, key) == 0) {
            free_slot = -1;
            rc = -1;
            break;
        }
    }
    if (free_slot >= 0) {
        idem_flight[free_slot].used = 1;
        snprintf(idem_flight[free_slot].user, sizeof(idem_flight[free_slot].user), "%s",
                 r->user.id);
        snprintf(idem_flight[free_slot].key, sizeof(idem_flight[free_slot].key), "%s", key);
        r->idem_slot = free_slot + 1;
        rc = 0;
    }
    pthread_mutex_unlock(&idem_lock);
    return rc;
}

/* Give back r's claim, if it holds one. */
static void idem_release(struct cb_req *r)
{
    if (r->idem_slot > 0) {
        pthread_mutex_lock(&idem_lock);
        idem_flight[r->idem_slot - 1].used = 0;
        pthread_mutex_unlock(&idem_lock);
        r->idem_slot = 0;
    }
}

/*
 * Replays and access (SECURITY.md F16).  A stored answer shows records as the
 * user could read them when it was stored, up to 14 days ago; a replay must not
 * show what they cannot read now.  Two checks, before any of it is sent:
 *
 * 1. The answer is bound to the user's access then (idem_access: role and
 *    team, the only inputs of every read check).  Any other access now - a
 *    team or role changed by an admin or a sync from central, or a row stored
 *    before migration 22 (NULL) - and nothing is replayed.  This alone covers
 *    managers (they see every team) and admins (reference data of every team,
 *    no clinical records): what they may read does not depend on where a
 *    record is.
 * 2. Coaches and leads read by team, and a record's team can change under the
 *    same access (a participant moved to another team, and their records with
 *    them; at a site, a person who left its teams is gone).  So every record
 *    the answer names is looked up as it is now: the record itself for a
 *    record kind's create or patch (cb_kind_visible, the GET's own check; a
 *    denial is audited as a GET's is), and anywhere in the answer each person
 *    (an object with a date_of_birth: a participant's record, or a summary of
 *    one as in a match check; by its id), each "participant_id" and
 *    "programme_id" (the team of the live record now) and each "team".  Every
 *    answer a coach or lead gets names its records by these keys (records
 *    carry participant_id or programme_id and team; a register's session and
 *    programme do), and none names a record they could not read then, so a
 *    replay refused by this check shows a real change.  Not looked up:
 *    records named only by other keys (a goal review's goal_id, an
 *    attendance's session_id: the participant_id and programme_id in the same
 *    record are), and users (coaches' ids and names are not team data).
 *
 * Refusing is answered 409 idempotency_key_stale: the write was done when the
 * key was first answered and is not done again; the client drops it from its
 * queue as done and reads the record again (the read applies today's access).
 * Re-running the handler instead would repeat the write; re-reading and
 * sending the record now would need a GET for every write route.
 */

/* Deepest nesting of an answer the walk looks into (answers are a few deep). */
#define IDEM_WALK_DEPTH 16

/* Set *visible to 0 unless the live row id of sql ("SELECT team ... ?1") is in
 * a team r's user sees now.  0, or a negative code on a store error. */
static int idem_team_visible(struct cb_req *r, const char *sql, const char *id, int *visible)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(r->db, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *visible =
            *visible && cb_user_sees_team(&r->user, (const char *)sqlite3_column_text(st, 0));
    } else if (s == SQLITE_DONE) {
        *visible = 0;
    } else {
        rc = cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

static const char participant_team_sql[] =
    "SELECT team FROM participants WHERE id = ?1 AND deleted = 0";
static const char programme_team_sql[] =
    "SELECT team FROM programmes WHERE id = ?1 AND deleted = 0";

/* Check 2 above over v and what it holds: *visible set to 0 at the first
 * person, team, participant_id or programme_id not visible now.  0 or a code. */
static int idem_walk(struct cb_req *r, json_t *v, int depth, int *visible)
{
    int rc = CB_OK;
    if (depth > IDEM_WALK_DEPTH) {
        *visible = 0; /* not an answer of ours: refuse rather than guess */
        return CB_OK;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (rc || !*visible) {
                break;
            }
            rc = idem_walk(r, e, depth + 1, visible);
        }
        return rc;
    }
    /* A person's record or summary (the only ones with a date of birth): its
     * id is a participant's. */
    const char *person = json_object_get(v, "date_of_birth") ? cb_json_str(v, "id") : NULL;
    if (person) {
        rc = idem_team_visible(r, participant_team_sql, person, visible);
    }
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e)
    {
        if (rc || !*visible) {
            break;
        }
        if (json_is_string(e) && strcmp(k, "team") == 0) {
            *visible = cb_user_sees_team(&r->user, json_string_value(e));
        } else if (json_is_string(e) && strcmp(k, "participant_id") == 0) {
            rc = idem_team_visible(r, participant_team_sql, json_string_value(e), visible);
        } else if (json_is_string(e) && strcmp(k, "programme_id") == 0) {
            rc = idem_team_visible(r, programme_team_sql, json_string_value(e), visible);
        } else if (json_is_object(e) || json_is_array(e)) {
            rc = idem_walk(r, e, depth + 1, visible);
        }
    }
    return rc;
}

/* Check 2 above for answer, stored for r's route: *visible is set to 0 if r's
 * user could not read all of it now.  0, or a negative code. */
static int idem_answer_visible(struct cb_req *r, json_t *answer, int *visible)
{
    *visible = 1;
    if (strcmp(r->user.role, "coach") != 0 && strcmp(r->user.role, "lead") != 0) {
        return CB_OK; /* check 1 decides: their reads do not depend on a team */
    }
    const char *id = cb_json_str(answer, "id");
    cb_handler h = r->route->handler;
    int rc = CB_OK;
    if (id && (h == cb_api_kind_create || h == cb_api_kind_patch)) {
        rc = cb_kind_visible(r->db, &r->actor, r->route->ctx, id, NULL);
        if (rc == CB_ENOTFOUND || rc == CB_EFORBIDDEN) {
            *visible = 0;
            rc = CB_OK;
        }
    }
    return rc || !*visible ? rc : idem_walk(r, answer, 0, visible);
}

/*
 * A write carrying an Idempotency-Key already answered: replay the stored
 * answer (returns 1).  A key reused for another request (method, path, or the
 * body, by its SHA-256: run after the body is read) is a 422; one whose first
 * request is still running, a 409 (idem_claim); one whose answer the user may
 * no longer read (access changed since: the checks above), a 409 too.
 */
static int idem_replay(struct cb_req *r)
{
    const char *key = mg_get_header(r->mc, "Idempotency-Key");
    if (!key) {
        return 0;
    }
    size_t n = strlen(key);
    int ok = n >= 8 && n < sizeof(r->idem_key);
    for (size_t i = 0; ok && i < n; i++) {
        char ch = key[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '_';
    }
    if (!ok) {
        cb_reply_problem(r, 400, "invalid", "Idempotency-Key must be 8-100 of [A-Za-z0-9_-]",
                         "Idempotency-Key", NULL);
        return 1;
    }
    if (idem_claim(r, key) == -1) {
        cb_reply_problem(r, 409, "idempotency_key_in_progress",
                         "a request with this Idempotency-Key is still being handled; retry "
                         "for its answer",
                         "Idempotency-Key", "Retry-After: 1\r\n");
        return 1;
    }
    sqlite3_stmt *st;
    if (cb_conn_prepare(r->db,
                        "SELECT method, path, status, body, body_hash, access FROM idempotency "
                        "WHERE user_id = ?1 AND key = ?2",
                        &st) != CB_OK) {
        return 0;
    }
    sqlite3_bind_text(st, 1, r->user.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    int replayed = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        replayed = 1;
        const char *stored_hash = (const char *)sqlite3_column_text(st, 4);
        char hash[CB_SIG_HEXLEN];
        cb_sha256_hex(r->raw_body, r->raw_len, hash);
        if (strcmp((const char *)sqlite3_column_text(st, 0), r->ri->request_method) != 0 ||
            strcmp((const char *)sqlite3_column_text(st, 1), r->ri->local_uri) != 0 ||
            (stored_hash && strcmp(stored_hash, hash) != 0)) {
            cb_stmt_done(st);
            cb_reply_problem(r, 422, "idempotency_key_reused",
                             "this Idempotency-Key was used for a different request",
                             "Idempotency-Key", NULL);
            return 1;
        }
        json_t *body = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
        int status = sqlite3_column_int(st, 2);
        const char *stored_access = (const char *)sqlite3_column_text(st, 5);
        char access[IDEM_ACCESS_LEN];
        idem_access(&r->user, access);
        int visible = stored_access && strcmp(stored_access, access) == 0;
        cb_stmt_done(st);
        int rc = visible ? idem_answer_visible(r, body, &visible) : CB_OK;
        if (rc) {
            json_decref(body);
            cb_reply_error(r, rc, NULL);
            return 1;
        }
        if (!visible) {
            json_decref(body);
            cb_reply_problem(r, 409, "idempotency_key_stale",
                             "this write was already done, but what you may see has changed "
                             "since; it is not done again and its answer is not shown: fetch "
                             "the record again",
                             "Idempotency-Key", NULL);
            return 1;
        }
        cb_reply_json(r, status, body, "Idempotent-Replay: true\r\n");
        return replayed;
    }
    cb_stmt_done(st);
    snprintf(r->idem_key, sizeof(r->idem_key), "%s", key);
    return 0;
}

int cb_reply_json(struct cb_req *r, int status, json_t *body, const char *extra_headers)
{
    char *text = body ? cb_json_dump(body) : NULL;
    json_decref(body);
    if (!text && status >= 200 && status < 300) {
        /* A success whose body could not be built (a json_pack given text that is
         * not UTF-8, or memory): an error, never a 200 with an empty object. */
        static const char internal[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}";
        fprintf(stderr, "coachbox: %s %s: the answer could not be built\n", r->ri->request_method,
                r->ri->local_uri);
        return cb_reply_json_text(r, 500, internal, sizeof(internal) - 1, NULL);
    }
    const char *out = text ? text : "{}";
    int rc = cb_reply_json_text(r, status, out, strlen(out), extra_headers);
    free(text);
    return rc;
}

/* Largest body sent in the same write as the head; a bigger one (a sync page)
 * follows the head in a write of its own rather than being copied. */
#define REPLY_COALESCE_MAX (64 * 1024)

/* Send a JSON text the caller owns (NUL-terminated at out[len]).  Head and a
 * small body go out with one write (one segment on the wire, one syscall). */
int cb_reply_json_text(struct cb_req *r, int status, const char *out, size_t len,
                       const char *extra_headers)
{
    assert(r->status == 0);
    assert(out && out[len] == '\0');
    int head_only = strcmp(r->ri->request_method, "HEAD") == 0;
    int coalesce = !head_only && len <= REPLY_COALESCE_MAX;
    struct cb_buf b;
    cb_buf_init(&b, HEAD_MAX + (coalesce ? len : 0));
    int rc = format_head(&b, r->tls, status, r->body_unread);
    if (rc == CB_OK) {
        rc = cb_buf_addf(&b,
                         "Content-Type: application/json; charset=utf-8\r\n"
                         "Cache-Control: no-store\r\n"
                         "%s"
                         "Content-Length: %zu\r\n\r\n",
                         extra_headers ? extra_headers : "", len);
    }
    if (rc == CB_OK && coalesce) {
        rc = cb_buf_add(&b, out, len);
    }
    if (rc == CB_OK) {
        mg_write(r->mc, b.data, b.len);
        if (!head_only && !coalesce) {
            mg_write(r->mc, out, len);
        }
    } else {
        /* Out of memory, or headers past the cap: a bare error, and close. */
        static const char fail[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
        mg_write(r->mc, fail, sizeof(fail) - 1);
        status = 500;
    }
    cb_buf_free(&b);
    if (r->idem_key[0] && status >= 200 && status < 300) {
        idem_store(r, status, out);
    }
    r->status = status;
    return CB_OK;
}

int cb_reply_problem(struct cb_req *r, int status, const char *code, const char *message,
                     const char *field, const char *extra_headers)
{
    json_t *err = json_pack("{s:{s:s, s:s, s:s?}}", "error", "code", code, "message", message,
                            "field", field && field[0] ? field : NULL);
    return cb_reply_json(r, status, err, extra_headers);
}

int cb_reply_error(struct cb_req *r, int code, const struct cb_field_error *fe)
{
    int status = cb_err_http_status(code);
    const char *msg = cb_strerror(code);
    char buf[400];
    if (fe && fe->message[0]) {
        /* "date_of_birth must not be ..."; unless the message already names it. */
        const char *last = strrchr(fe->field, '.');
        last = last ? last + 1 : fe->field;
        size_t ln = strlen(last);
        if (fe->field[0] && !(ln && strncmp(fe->message, last, ln) == 0 &&
                              (fe->message[ln] == ' ' || fe->message[ln] == ':'))) {
            snprintf(buf, sizeof(buf), "%s %s", fe->field, fe->message);
        } else {
            snprintf(buf, sizeof(buf), "%s", fe->message);
        }
        msg = buf;
    }
    if (status >= 500) {
        fprintf(stderr, "coachbox: %s %s failed: %s\n", r->ri->request_method, r->ri->local_uri,
                cb_strerror(code));
    }
    return cb_reply_problem(r, status, cb_errname(code), msg, fe ? fe->field : NULL, NULL);
}

int cb_req_query(const struct cb_req *r, const char *name, char *buf, size_t len)
{
    const char *qs = r->ri->query_string;
    if (!qs || len == 0) {
        return 0;
    }
    /* mg_get_var clears its buffer even when name is absent: read into a copy,
     * so an absent parameter leaves the caller's default in buf. */
    char small[256];
    char *tmp = len <= sizeof(small) ? small : malloc(len);
    if (!tmp) {
        return CB_ENOMEM;
    }
    int n = mg_get_var(qs, strlen(qs), name, tmp, len);
    if (n >= 0) {
        memcpy(buf, tmp, (size_t)n + 1);
    }
    if (tmp != small) {
        free(tmp);
    }
    if (n == -1) {
        return 0;
    }
    if (n < 0) {
        return CB_ETOOLARGE;
    }
    return 1;
}

const char *cb_req_header(const struct cb_req *r, const char *name)
{
    return mg_get_header(r->mc, name);
}

int cb_req_write(struct cb_req *r, int (*fn)(struct cb_conn *c, void *arg), void *arg)
{
    if (r->app->writer) {
        return cb_writer_run(r->app->writer, fn, arg);
    }
    return fn(r->db, arg);
}

/*
 * Match path against pattern; "{x}" segments capture into r->params
 * (pointers into pbuf, which must outlive the request).
 */
static int match(const char *pattern, const char *path, struct cb_req *r, char pbuf[2][128])
{
    int np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *end = strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == 0 || n >= 128 || np >= 2) {
                return 0;
            }
            memcpy(pbuf[np], s, n);
            pbuf[np][n] = '\0';
            r->params[np] = pbuf[np];
            np++;
            s += n;
            p = strchr(p, '}');
            if (!p) {
                return 0;
            }
            p++;
        } else if (*p++ != *s++) {
            return 0;
        }
    }
    return *p == '\0' && *s == '\0';
}

/* Read the whole request body into b (capped); CB_ETOOLARGE past the cap. */
static int read_body(struct cb_req *r, struct cb_buf *b)
{
    long long declared = r->ri->content_length;
    if (declared > 0 && (unsigned long long)declared > b->max) {
        r->body_unread = 1;
        return CB_ETOOLARGE;
    }
    char chunk[8192];
    for (;;) {
        int n = mg_read(r->mc, chunk, sizeof(chunk));
        if (n < 0) {
            /* Malformed chunking or a connection lost mid-body: the client's fault (400). */
            r->body_unread = 1;
            return CB_EPARSE;
        }
        if (n == 0) {
            return CB_OK;
        }
        int rc = cb_buf_add(b, chunk, (size_t)n);
        if (rc) {
            r->body_unread = 1;
            return rc;
        }
    }
}

int cb_req_session_cookie(const struct cb_req *r, char *out, size_t len)
{
    const char *cookies = mg_get_header(r->mc, "Cookie");
    if (!cookies) {
        return 0;
    }
    int n = mg_get_cookie(cookies, r->tls ? SESSION_COOKIE_TLS : SESSION_COOKIE, out, len);
    if (n <= 0) {
        out[0] = '\0';
        return 0;
    }
    return 1;
}

/* Session from the cookie; sets r->authed and r->user. */
static int authenticate(struct cb_req *r)
{
    if (!cb_req_session_cookie(r, r->token, sizeof(r->token))) {
        return CB_EUNAUTH;
    }
    /* A page's automatic refresh says so: it does not count as the user's activity. */
    const char *bg = cb_req_header(r, "X-CB-Background");
    int touch = !(bg && strcmp(bg, "1") == 0);
    int rc = cb_session_lookup(r->db, r->token, &r->app->sessions, touch, &r->user, r->csrf);
    if (rc == CB_OK) {
        r->authed = 1;
    }
    return rc;
}

static int is_write_method(const char *m)
{
    return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
}

static int content_type_json(const char *ct)
{
    if (!ct) {
        return 0;
    }
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

static void audit_denied(struct cb_req *r, const char *what)
{
    struct cb_audit_event e = {
        r->authed ? r->user.id : NULL, what, NULL, NULL, r->addr, "denied", r->ri->local_uri, NULL};
    cb_audit(r->db, &e);
}

/* Dispatch an /api/ or /healthz request through the route table. */
/* The slots of CB_LARGE_BODIES: large bodies being read, parsed or held. */
static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t large_free = PTHREAD_COND_INITIALIZER;
static int large_used;

/*
 * Take a slot for r's large body (r->large_slot set; on_request gives it back
 * once the body and its parse are freed), waiting up to CB_LARGE_BODY_WAIT_S
 * for one.  CB_OK, or CB_EBUSY when none came free.
 */
static int large_body_take(struct cb_req *r)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CB_LARGE_BODY_WAIT_S;
    int rc = CB_OK;
    pthread_mutex_lock(&large_lock);
    while (large_used >= CB_LARGE_BODIES && rc == CB_OK) {
        if (pthread_cond_timedwait(&large_free, &large_lock, &until) == ETIMEDOUT) {
            rc = CB_EBUSY;
        }
    }
    if (rc == CB_OK) {
        large_used++;
        r->large_slot = 1;
    }
    pthread_mutex_unlock(&large_lock);
    return rc;
}

static void large_body_give(struct cb_req *r)
{
    if (r->large_slot) {
        pthread_mutex_lock(&large_lock);
        assert(large_used > 0);
        large_used--;
        pthread_cond_signal(&large_free);
        pthread_mutex_unlock(&large_lock);
        r->large_slot = 0;
    }
}

static int handle_api(struct cb_req *r)
{
    char pbuf[2][128];
    const char *method = r->ri->request_method;
    const char *path = r->ri->local_uri;
    const struct cb_route *route = NULL;
    char allow[64] = "";
    for (size_t i = 0; !route && i < cb_api_route_sets_count; i++) {
        for (size_t j = 0; j < *cb_api_route_sets[i].count; j++) {
            const struct cb_route *rt = &cb_api_route_sets[i].routes[j];
            r->params[0] = r->params[1] = NULL;
            if (!match(rt->pattern, path, r, pbuf)) {
                continue;
            }
            if (strcmp(rt->method, method) == 0 ||
                (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
                route = rt;
                break;
            }
            size_t used = strlen(allow);
            snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "", rt->method);
        }
    }
    if (!route) {
        if (allow[0]) {
            char hdr[96];
            snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
            return cb_reply_problem(r, 405, "method_not_allowed", "this method is not allowed here",
                                    NULL, hdr);
        }
        return cb_reply_problem(r, 404, "not_found", "no such API route", NULL, NULL);
    }
    /* Re-match the chosen route so params point at its captures. */
    match(route->pattern, path, r, pbuf);
    r->route = route;

    int rc;
    if (!(route->flags & CB_ROUTE_PUBLIC)) {
        rc = authenticate(r);
        if (rc == CB_EUNAUTH) {
            return cb_reply_problem(r, 401, "unauthenticated", "sign-in required", NULL, NULL);
        }
        if (rc) {
            return cb_reply_error(r, rc, NULL);
        }
        if (is_write_method(method)) {
            const char *sent = mg_get_header(r->mc, "X-CSRF-Token");
            if (!sent || !cb_secure_streq(sent, r->csrf)) {
                audit_denied(r, "csrf");
                return cb_reply_problem(r, 403, "csrf", "missing or wrong X-CSRF-Token header",
                                        "X-CSRF-Token", NULL);
            }
        }
    }
    if ((route->flags & CB_ROUTE_CENTRAL) && strcmp(r->app->role, "central") != 0) {
        r->body_unread = 1;
        return cb_reply_problem(r, 404, "not_found", "this server is not a central record store",
                                NULL, NULL);
    }
    if ((route->flags & CB_ROUTE_GATED) &&
        ((const struct cb_route_gate *)route->ctx)->gate(r) != 0) {
        r->body_unread = 1;
        assert(r->status != 0);
        return CB_OK;
    }
    if ((route->flags & CB_ROUTE_LARGE) && large_body_take(r) != CB_OK) {
        r->body_unread = 1;
        return cb_reply_problem(
            r, 503, "busy", "the server is receiving other large requests; try again", NULL, NULL);
    }
    if (route->flags & CB_ROUTE_BODY) {
        if (!content_type_json(mg_get_header(r->mc, "Content-Type"))) {
            r->body_unread = 1;
            return cb_reply_problem(r, 415, "unsupported_media_type",
                                    "the body must be JSON (Content-Type: application/json)",
                                    "Content-Type", NULL);
        }
        struct cb_field_error fe = {"", ""};
        size_t cap = (route->flags & CB_ROUTE_LARGE) ? CB_MAX_BODY_SYNC : r->app->max_body;
        cb_buf_init(&r->bodybuf, cap);
        rc = read_body(r, &r->bodybuf);
        if (rc == CB_EPARSE) {
            cb_field_fail(&fe, "",
                          "the request body could not be read (bad chunked encoding "
                          "or a short body)");
        }
        if (rc == CB_OK && (route->flags & CB_ROUTE_LARGE) && cb_jarena_new(&r->arena) != CB_OK) {
            r->arena = NULL; /* parsed on the heap, as other bodies */
        }
        if (rc == CB_OK) {
            /* A sync batch (CB_ROUTE_LARGE) parses into an arena of its own
             * (jarena.h): some 60,000 values, freed at once after the request. */
            struct cb_jarena *prev = cb_jarena_use(r->arena);
            rc = cb_json_parse_object(cb_buf_str(&r->bodybuf), r->bodybuf.len, &r->body, &fe);
            cb_jarena_use(prev);
            r->raw_body = cb_buf_str(&r->bodybuf);
            r->raw_len = r->bodybuf.len;
        }
        if (rc == CB_ETOOLARGE) {
            char msg[96];
            snprintf(msg, sizeof(msg), "the request body is larger than %zu bytes", cap);
            return cb_reply_problem(r, 413, "too_large", msg, NULL, NULL);
        }
        if (rc) {
            return cb_reply_error(r, rc, &fe);
        }
    }
    /* After the body: a replay must be of the same body (idem_replay). */
    if (r->authed && is_write_method(method) && idem_replay(r)) {
        r->body_unread = !(route->flags & CB_ROUTE_BODY);
        return CB_OK;
    }
    rc = route->handler(r);
    if (rc && r->status == 0) {
        cb_reply_error(r, rc, NULL);
    }
    return CB_OK;
}

/* Serve an embedded asset (GET/HEAD only), gzip when accepted, with ETag. */
static int handle_asset(struct cb_req *r)
{
    const char *method = r->ri->request_method;
    const struct cb_asset *a = cb_asset_find(r->ri->local_uri);
    if (!a) {
        return cb_reply_problem(r, 404, "not_found", "not found", NULL, NULL);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return cb_reply_problem(r, 405, "method_not_allowed", "assets are read-only", NULL,
                                "Allow: GET, HEAD\r\n");
    }
    const char *cache = a->immutable ? "public, max-age=31536000, immutable" : "no-cache";
    const char *inm = mg_get_header(r->mc, "If-None-Match");
    if (inm && strstr(inm, a->etag)) {
        write_head(r->mc, r->tls, 304, 0);
        mg_printf(r->mc, "ETag: %s\r\nCache-Control: %s\r\nVary: Accept-Encoding\r\n\r\n", a->etag,
                  cache);
        r->status = 304;
        return CB_OK;
    }
    const char *ae = mg_get_header(r->mc, "Accept-Encoding");
    int gz = ae && strstr(ae, "gzip") && a->gz_len > 0;
    const unsigned char *data = gz ? a->gz : a->raw;
    size_t len = gz ? a->gz_len : a->raw_len;
    write_head(r->mc, r->tls, 200, 0);
    mg_printf(r->mc,
              "Content-Type: %s\r\nETag: %s\r\nCache-Control: %s\r\nVary: Accept-Encoding\r\n"
              "%sContent-Length: %zu\r\n\r\n",
              a->content_type, a->etag, cache, gz ? "Content-Encoding: gzip\r\n" : "", len);
    if (strcmp(method, "HEAD") != 0) {
        mg_write(r->mc, data, len);
    }
    r->status = 200;
    return CB_OK;
}

#define TRIM_INTERVAL_MS 1000

/*
 * At most once a second (whichever worker finishes a request first), give the
 * free pages inside glibc's malloc arenas back to the OS.  free() returns
 * memory only from the top of an arena; the holes that 40 workers' freed
 * answers, jansson trees and SQLite pages leave below it stayed resident and
 * grew with the answers (PERFORMANCE.md, soak).  malloc_trim(0) holds each
 * arena's lock while it walks the free chunks: ~1 ms a second at most.
 */
static void trim_heap(void)
{
#ifdef __GLIBC__
    static _Atomic int64_t last_ms;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t last = atomic_load_explicit(&last_ms, memory_order_relaxed);
    if (now - last >= TRIM_INTERVAL_MS && atomic_compare_exchange_strong(&last_ms, &last, now)) {
        malloc_trim(0);
    }
#endif
}

/* CivetWeb begin_request: every request is answered here. */
static int on_request(struct mg_connection *mc)
{
    const struct mg_request_info *ri = mg_get_request_info(mc);
    struct cb_http *h = ri->user_data;
    struct cb_req r;
    memset(&r, 0, sizeof(r));
    r.mc = mc;
    r.ri = ri;
    r.app = h->app;
    r.tls = ri->is_ssl;
    snprintf(r.addr, sizeof(r.addr), "%s", ri->remote_addr);
    r.actor.user = &r.user;
    r.actor.address = r.addr;
    r.actor.allow_test_nhs = h->app->allow_test_nhs;
    cb_buf_init(&r.bodybuf, 0);
    r.raw_body = "";
    const char *path = ri->local_uri ? ri->local_uri : "";
    int rc = cb_store_request_begin(h->app->store, &r.db);
    if (rc) {
        r.body_unread = 1;
        cb_reply_error(&r, rc, NULL);
    } else if (strchr(path, '%')) {
        /* No route or asset needs percent-encoding: refuse it rather than decode it
         * (%00 truncation, %2e%2e traversal). */
        cb_reply_problem(&r, 404, "not_found", "not found", NULL, NULL);
    } else if (strncmp(path, "/api/", 5) == 0 || strncmp(path, "/sync/", 6) == 0 ||
               strcmp(path, "/healthz") == 0) {
        handle_api(&r);
    } else {
        handle_asset(&r);
    }
    if (r.status == 0) {
        cb_reply_error(&r, CB_EINTERNAL, NULL);
    }
    json_decref(r.body);
    cb_jarena_free(r.arena); /* after the body, the last reference into it */
    cb_buf_free(&r.bodybuf);
    large_body_give(&r);
    idem_release(&r); /* after the reply, and so after its answer was stored */
    cb_store_request_end(h->app->store, r.db);
    trim_heap();
    return r.status;
}

/* CivetWeb's own errors (bad request line, oversized headers, ...). */
static int on_http_error(struct mg_connection *mc, int status, const char *msg)
{
    const struct mg_request_info *ri = mg_get_request_info(mc);
    struct cb_http *h = ri ? ri->user_data : NULL;
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", "http_error", "message",
                             msg && msg[0] ? msg : reason(status));
    char *text = cb_json_dump(body);
    json_decref(body);
    const char *out = text ? text : "{}";
    write_head(mc, h ? h->tls : 0, status, 1);
    mg_printf(mc,
              "Content-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n"
              "Content-Length: %zu\r\n\r\n%s",
              strlen(out), out);
    free(text);
    return 0;
}

static int on_log_message(const struct mg_connection *mc, const char *msg)
{
    (void)mc;
    fprintf(stderr, "coachbox: http: %s\n", msg);
    return 1;
}

/*
 * 1 if listen (CivetWeb's HOST:PORT) names one loopback address: localhost,
 * [::1] or an IPv4 address in 127.0.0.0/8 (parsed, not compared as text: a
 * list "127.0.0.1:1,0.0.0.0:2" or a name "127.example" is not).
 */
int cb_http_listen_is_loopback(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    size_t n = colon ? (size_t)(colon - listen) : 0;
    if (strchr(listen, ',') || n == 0 || n >= sizeof(host)) {
        return 0;
    }
    memcpy(host, listen, n);
    host[n] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1) {
        return (ntohl(a.s_addr) >> 24) == 127;
    }
    return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0;
}

/*
 * HTTPS only: load the libssl.so shim built beside the binary (server/sslshim/)
 * before CivetWeb dlopens "libssl.so", so it finds the shim already loaded.
 * Debian 12's CivetWeb 1.15 needs SSL_get_peer_certificate, which OpenSSL 3
 * does not export.  Returns 0, or -1 (with a message) if it cannot be loaded.
 */
static int load_ssl_shim(void)
{
    char exe[4096], path[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return -1;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) {
        return -1;
    }
    *slash = '\0';
    snprintf(path, sizeof(path), "%s/libssl.so", exe);
    if (!dlopen(path, RTLD_NOW | RTLD_GLOBAL)) {
        fprintf(stderr, "coachbox: cannot load %s (needed for HTTPS): %s\n", path, dlerror());
        return -1;
    }
    return 0;
}

int cb_http_start(struct cb_app *app, const struct cb_http_config *cfg, struct cb_http **out)
{
    char host[64], ports[96], threads[16], timeout[16];
    const char *colon = strrchr(cfg->listen, ':');
    if (!colon || colon == cfg->listen || (size_t)(colon - cfg->listen) >= sizeof(host)) {
        return CB_EINVAL;
    }
    memcpy(host, cfg->listen, (size_t)(colon - cfg->listen));
    host[colon - cfg->listen] = '\0';
    errno = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535) {
        return CB_EINVAL;
    }
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    snprintf(ports, sizeof(ports), "%s:%ld%s", host, port, cfg->cert ? "s" : "");
    snprintf(threads, sizeof(threads), "%d", cfg->threads > 0 ? cfg->threads : 48);
    snprintf(timeout, sizeof(timeout), "%d",
             cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 10000);

    const char *options[40];
    int n = 0;
#define OPT(k, v) (options[n++] = (k), options[n++] = (v))
    OPT("listening_ports", ports);
    OPT("num_threads", threads);
    OPT("request_timeout_ms", timeout);
    OPT("keep_alive_timeout_ms", "5000");
    OPT("enable_keep_alive", "yes");
    OPT("enable_directory_listing", "no");
    OPT("decode_url", "no"); /* route on the raw path; see on_request */
    OPT("cgi_pattern", "");
    OPT("ssi_pattern", "");
    OPT("access_control_allow_origin", "");
    OPT("max_request_size", "16384");
    OPT("tcp_nodelay", "1");
    OPT("enable_auth_domain_check", "no");
    if (cfg->cert) {
        OPT("ssl_certificate", cfg->cert);
        OPT("ssl_protocol_version", "4");
        OPT("ssl_cipher_list", "ECDHE+AESGCM:ECDHE+CHACHA20");
        OPT("strict_transport_security_max_age", "31536000");
    }
    options[n] = NULL;
#undef OPT
    assert(n < (int)(sizeof(options) / sizeof(options[0])));

    struct cb_http *h = calloc(1, sizeof(*h));
    if (!h) {
        return CB_ENOMEM;
    }
    h->app = app;
    h->tls = cfg->cert != NULL;
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.begin_request = on_request;
    cb.http_error = on_http_error;
    cb.log_message = on_log_message;
    if (cfg->cert && load_ssl_shim() != 0) {
        free(h);
        return CB_EIO;
    }
    mg_init_library(cfg->cert ? MG_FEATURES_TLS : 0);
    h->ctx = mg_start(&cb, h, options);
    if (!h->ctx) {
        free(h);
        return CB_EIO;
    }
    struct mg_server_port sp[4];
    int np = mg_get_server_ports(h->ctx, 4, sp);
    int bound = np > 0 ? sp[0].port : (int)port;
    snprintf(h->url, sizeof(h->url), "%s://%s:%d", h->tls ? "https" : "http", host, bound);
    *out = h;
    return CB_OK;
}

void cb_http_stop(struct cb_http *h)
{
    if (h) {
        mg_stop(h->ctx);
        free(h);
    }
}

const char *cb_http_url(const struct cb_http *h)
{
    return h->url;
}
