/*
 * it_api.c - every HTTP endpoint of a real `coachbox serve`, its error paths,
 * the session and CSRF rules, team isolation, the security headers, path
 * probes, and the audit trail in the database.
 *
 * One server is started for the whole group (PBKDF2 makes logins cost ~0.3 s,
 * so the signed-in clients are shared); tests that need their own account
 * (rotation, throttling, disable, logout) use their own users.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "coachbox/api.h"
#include "harness.h"

#define CW_THREADS 8 /* test_concurrent_writes */
#define CW_PER     24

#define PW       "correct-horse-battery-1"
#define WRONG_PW "Wrong-Secret-XYZ-123"

struct session {
    char token[80];
    char uid[40];
};

static struct {
    struct cbt_server srv;
    int started;
    struct cbt_client alice, bob, mgr, adm;
    struct session s_alice;
    char bob_uid[40];
    char alice_pid[40]; /* a participant in alice's team (prestwich) */
    char bob_pid[40];   /* a participant in bob's team (radcliffe) */
    char bob_family[32];
    char bob_nhs[16];
    int teardown_failed; /* cmocka does not count a failed group teardown */
} G;

/* ---------------------------------------------------------------- helpers */

static void rq_ex(struct cbt_client *c, const char *method, const char *path, const char *body,
                  const char *ctype, const char *const *headers, struct cbt_resp *r)
{
    if (cbt_request_ex(c, method, path, body, body ? strlen(body) : 0, ctype, headers, r) != 0) {
        fail_msg("%s %s: no HTTP response", method, path);
    }
}

static void rq(struct cbt_client *c, const char *method, const char *path, const char *body,
               struct cbt_resp *r)
{
    rq_ex(c, method, path, body, NULL, NULL, r);
}

/* Send json (reference stolen) as the body. */
static void rqj(struct cbt_client *c, const char *method, const char *path, json_t *json,
                struct cbt_resp *r)
{
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    assert_non_null(text);
    rq(c, method, path, text, r);
    free(text);
}

static void expect_status(const struct cbt_resp *r, long want, const char *what)
{
    if (r->status != want) {
        fail_msg("%s: want HTTP %ld, got %ld: %.400s", what, want, r->status, r->body);
    }
}

static int header_contains(const struct cbt_resp *r, const char *name, const char *needle)
{
    char v[1024];
    return cbt_header(r, name, v, sizeof(v)) && strstr(v, needle) != NULL;
}

/* The design.md section 6 headers every response carries. */
static void expect_security_headers(const struct cbt_resp *r, const char *what)
{
    char v[1024];
    if (!cbt_header(r, "Content-Security-Policy", v, sizeof(v))) {
        fail_msg("%s: no Content-Security-Policy header", what);
    }
    static const char *const csp[] = {"default-src 'self'", "object-src 'none'", "base-uri 'none'",
                                      "frame-ancestors 'none'", NULL};
    for (int i = 0; csp[i]; i++) {
        if (!strstr(v, csp[i])) {
            fail_msg("%s: CSP lacks %s: %s", what, csp[i], v);
        }
    }
    if (!cbt_header(r, "X-Content-Type-Options", v, sizeof(v)) || strcasecmp(v, "nosniff") != 0) {
        fail_msg("%s: X-Content-Type-Options is not nosniff", what);
    }
    if (!cbt_header(r, "Referrer-Policy", v, sizeof(v)) || strcasecmp(v, "no-referrer") != 0) {
        fail_msg("%s: Referrer-Policy is not no-referrer", what);
    }
}

static void expect_api_headers(const struct cbt_resp *r, const char *what)
{
    expect_security_headers(r, what);
    if (!header_contains(r, "Cache-Control", "no-store")) {
        fail_msg("%s: API response without Cache-Control: no-store", what);
    }
    if (!header_contains(r, "Content-Type", "application/json")) {
        fail_msg("%s: API response is not JSON", what);
    }
}

/* An API error: status, JSON {"error":{"code","message"[,"field"]}}, headers. */
static void expect_error(const struct cbt_resp *r, long status, const char *field, const char *what)
{
    expect_status(r, status, what);
    expect_api_headers(r, what);
    if (!cbt_jstr(r, "error.code") || !cbt_jstr(r, "error.message")) {
        fail_msg("%s: error body lacks code/message: %.300s", what, r->body);
    }
    if (field) {
        const char *f = cbt_jstr(r, "error.field");
        if (!f || strcmp(f, field) != 0) {
            fail_msg("%s: error.field is %s, want %s (%.300s)", what, f ? f : "(none)", field,
                     r->body);
        }
    }
}

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *ci_find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; p && *p; p++) {
        if (strncasecmp(p, needle, n) == 0) {
            return p;
        }
    }
    return NULL;
}

static int is_uuid(const char *s)
{
    if (!s || strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* A UUIDv7-shaped id minted by the "client". */
static void mint_uuid(char out[40])
{
    static unsigned n;
    unsigned long long ms = (unsigned long long)time(NULL) * 1000ULL + (n++ % 1000);
    unsigned r1 = (unsigned)rand(), r2 = (unsigned)rand(), r3 = (unsigned)rand();
    snprintf(out, 40, "%08llx-%04llx-7%03x-%04x-%04x%08x", (ms >> 16) & 0xffffffffULL,
             ms & 0xffffULL, r1 & 0xfffu, 0x8000u | (r2 & 0x3fffu), r3 & 0xffffu, (unsigned)rand());
}

/* Today + days, YYYY-MM-DD (UTC). */
static void date_offset(int days, char out[16])
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* Now + secs as ISO 8601 UTC. */
static void iso_offset(long secs, char out[40])
{
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A 10-digit NHS number with a valid check digit from 9 digits; 0 if none. */
static int nhs_from9(const char *nine, char out[16])
{
    int sum = 0;
    for (int i = 0; i < 9; i++) {
        sum += (nine[i] - '0') * (10 - i);
    }
    int check = 11 - sum % 11;
    if (check == 11) {
        check = 0;
    }
    if (check == 10) {
        return 0;
    }
    snprintf(out, 16, "%.9s%d", nine, check);
    return 1;
}

/* A fresh 999 test NHS number (valid check digit). */
static void test_nhs(char out[16])
{
    static unsigned seq = 100;
    char nine[16];
    do {
        snprintf(nine, sizeof(nine), "999%06u",
                 (unsigned)((seq++ * 7919u + (unsigned)time(NULL)) % 1000000u));
    } while (!nhs_from9(nine, out));
}

/* Session token from Set-Cookie. */
static int cookie_token(const struct cbt_resp *r, char *out, size_t len)
{
    char v[512];
    if (!cbt_header(r, "Set-Cookie", v, sizeof(v))) {
        return 0;
    }
    const char *p = strstr(v, "cb_session=");
    if (!p) {
        return 0;
    }
    p += strlen("cb_session=");
    size_t n = strcspn(p, ";");
    if (n >= len) {
        return 0;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

/* POST /api/login keeping the response; on 200 sets the client's CSRF token. */
static void login_resp(struct cbt_client *c, const char *user, const char *pw, struct cbt_resp *r)
{
    c->csrf[0] = '\0';
    rqj(c, "POST", "/api/login", json_pack("{s:s, s:s}", "username", user, "password", pw), r);
    const char *t = cbt_jstr(r, "csrf_token");
    if (r->status == 200 && t) {
        snprintf(c->csrf, sizeof(c->csrf), "%s", t);
    }
}

static long login_session(struct cbt_client *c, const char *user, struct session *s)
{
    struct cbt_resp r;
    login_resp(c, user, PW, &r);
    long st = r.status;
    if (s) {
        memset(s, 0, sizeof(*s));
        cookie_token(&r, s->token, sizeof(s->token));
        const char *id = cbt_jstr(&r, "user.id");
        snprintf(s->uid, sizeof(s->uid), "%s", id ? id : "");
    }
    cbt_resp_free(&r);
    return st;
}

static void new_client(struct cbt_client *c)
{
    assert_int_equal(cbt_client_init(c, G.srv.url), 0);
}

/* Create a participant (201 expected); extra may add fields (stolen, may be NULL). */
static void create_participant(struct cbt_client *c, const char *given, const char *family,
                               const char *dob, json_t *extra, char id_out[40])
{
    json_t *b = json_pack("{s:s, s:s, s:s}", "given_name", given, "family_name", family,
                          "date_of_birth", dob);
    if (extra) {
        json_object_update(b, extra);
        json_decref(extra);
    }
    struct cbt_resp r;
    rqj(c, "POST", "/api/participants", b, &r);
    expect_status(&r, 201, "create participant");
    const char *id = cbt_jstr(&r, "id");
    assert_true(is_uuid(id));
    snprintf(id_out, 40, "%s", id);
    cbt_resp_free(&r);
}

static size_t items_count(const struct cbt_resp *r)
{
    json_t *items = json_object_get(r->json, "items");
    if (!json_is_array(items)) {
        fail_msg("no items array: %.300s", r->body);
    }
    return json_array_size(items);
}

static int items_has_id(const struct cbt_resp *r, const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r->json, "items"), i, it)
    {
        const char *v = json_string_value(json_object_get(it, "id"));
        if (v && strcmp(v, id) == 0) {
            return 1;
        }
    }
    return 0;
}

/* GET /api/participants?QUERY as c; returns the item count (200 expected). */
static size_t search_count(struct cbt_client *c, const char *query)
{
    char path[512];
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/participants?%s", query);
    rq(c, "GET", path, NULL, &r);
    expect_status(&r, 200, path);
    size_t n = items_count(&r);
    cbt_resp_free(&r);
    return n;
}

/* Request with the client's CSRF token replaced by csrf ("" = none). */
static void rq_csrf(struct cbt_client *c, const char *csrf, const char *method, const char *path,
                    const char *body, struct cbt_resp *r)
{
    char saved[sizeof(c->csrf)];
    memcpy(saved, c->csrf, sizeof(saved));
    snprintf(c->csrf, sizeof(c->csrf), "%s", csrf);
    int rc = cbt_request(c, method, path, body, r);
    memcpy(c->csrf, saved, sizeof(saved));
    if (rc != 0) {
        fail_msg("%s %s: no HTTP response", method, path);
    }
}

/* Path of a route pattern with every {param} replaced by id. */
static void route_path(const char *pattern, const char *id, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < len;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            int w = snprintf(out + o, len - o, "%s", id);
            o += w > 0 ? (size_t)w : 0;
            p = e ? e + 1 : p + strlen(p);
        } else {
            out[o++] = *p++;
        }
    }
    out[o < len ? o : len - 1] = '\0';
}

/* ------------------------------------------------------------ group setup */

static int add_users(const char *data)
{
    static const char *const users[][3] = {
        {"alice", "coach", "prestwich"}, {"bob", "coach", "radcliffe"},
        {"mgr", "manager", NULL},        {"adm", "admin", NULL},
        {"rot", "coach", "prestwich"},   {"thr", "coach", "prestwich"},
        {"carol", "coach", "prestwich"}, {"dave", "coach", "prestwich"},
        {"erin", "coach", "prestwich"},
    };
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        char out[1024];
        const char *args[] = {"user",      "add",        "--data",
                              data,        "--username", users[i][0],
                              "--role",    users[i][1],  users[i][2] ? "--team" : NULL,
                              users[i][2], NULL};
        int st = cbt_run(args, PW "\n", out, sizeof(out));
        if (st != 0) {
            fprintf(stderr, "cannot add user %s (bin %s): exit %d: %s\n", users[i][0], cbt_bin(),
                    st, out);
            return -1;
        }
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    char data[512];
    cbt_tempdir(data, sizeof(data), "itapi");
    if (add_users(data)) {
        cbt_rmtree(data);
        return -1;
    }
    if (cbt_server_start(&G.srv, data, NULL) != 0) {
        fprintf(stderr, "server did not start (log %s.log)\n", data);
        return -1;
    }
    G.started = 1;
    cbt_client_init(&G.alice, G.srv.url);
    cbt_client_init(&G.bob, G.srv.url);
    cbt_client_init(&G.mgr, G.srv.url);
    cbt_client_init(&G.adm, G.srv.url);
    struct session sb;
    if (login_session(&G.alice, "alice", &G.s_alice) != 200 ||
        login_session(&G.bob, "bob", &sb) != 200 || cbt_login(&G.mgr, "mgr", PW) != 200 ||
        cbt_login(&G.adm, "adm", PW) != 200) {
        fprintf(stderr, "setup logins failed\n");
        return -1;
    }
    snprintf(G.bob_uid, sizeof(G.bob_uid), "%s", sb.uid);
    create_participant(&G.alice, "Alison", "Setupfamily", "1979-05-06", NULL, G.alice_pid);
    test_nhs(G.bob_nhs);
    snprintf(G.bob_family, sizeof(G.bob_family), "Radcliffeonly");
    create_participant(&G.bob, "Bernard", G.bob_family, "1960-01-02",
                       json_pack("{s:s}", "nhs_number", G.bob_nhs), G.bob_pid);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cbt_client_free(&G.alice);
    cbt_client_free(&G.bob);
    cbt_client_free(&G.mgr);
    cbt_client_free(&G.adm);
    if (G.started) {
        int st = cbt_server_stop(&G.srv);
        if (st != 0) {
            fprintf(stderr, "server exit status %d; log %s kept\n", st, G.srv.log);
            G.teardown_failed = 1;
            return -1;
        }
        cbt_rmtree(G.srv.data);
        remove(G.srv.log);
    }
    return 0;
}

/* ---------------------------------------------------------------- health */

static void test_healthz(void **state)
{
    (void)state;
    struct cbt_client c;
    struct cbt_resp r;
    new_client(&c);
    rq(&c, "GET", "/healthz", NULL, &r);
    expect_status(&r, 200, "healthz");
    expect_api_headers(&r, "healthz");
    assert_string_equal(cbt_jstr(&r, "status"), "ok");
    assert_non_null(cbt_jstr(&r, "version"));
    assert_string_equal(cbt_jstr(&r, "role"), "field");
    json_t *sv = json_object_get(r.json, "schema_version");
    assert_true(json_is_integer(sv));
    assert_true(json_integer_value(sv) >= 1);
    cbt_resp_free(&r);
    cbt_client_free(&c);
}

/* ----------------------------------------------------------------- login */

static void test_login_ok_and_cookie_flags(void **state)
{
    (void)state;
    struct cbt_client c;
    struct cbt_resp r;
    new_client(&c);
    /* A charset parameter on the JSON media type is fine. */
    rq_ex(&c, "POST", "/api/login", "{\"username\":\"rot\",\"password\":\"" PW "\"}",
          "application/json; charset=utf-8", NULL, &r);
    expect_status(&r, 200, "login with charset");
    cbt_resp_free(&r);
    login_resp(&c, "rot", PW, &r);
    expect_status(&r, 200, "login");
    expect_api_headers(&r, "login");
    assert_string_equal(cbt_jstr(&r, "user.username"), "rot");
    assert_string_equal(cbt_jstr(&r, "user.role"), "coach");
    assert_string_equal(cbt_jstr(&r, "user.team"), "prestwich");
    assert_true(is_uuid(cbt_jstr(&r, "user.id")));
    assert_null(json_object_get(json_object_get(r.json, "user"), "password_hash"));
    const char *csrf = cbt_jstr(&r, "csrf_token");
    assert_non_null(csrf);
    assert_true(strlen(csrf) >= 32);
    char sc[512], tok[80];
    assert_true(cbt_header(&r, "Set-Cookie", sc, sizeof(sc)));
    assert_true(cookie_token(&r, tok, sizeof(tok)));
    assert_true(strlen(tok) >= 32); /* >= 128 bits */
    assert_non_null(strstr(sc, "HttpOnly"));
    assert_non_null(strstr(sc, "SameSite=Strict"));
    assert_null(strstr(sc, "Secure")); /* plain HTTP on loopback */
    assert_null(strstr(r.body, tok));  /* the token is only in the cookie */
    cbt_resp_free(&r);

    rq(&c, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "me after login");
    assert_string_equal(cbt_jstr(&r, "user.username"), "rot");
    assert_string_equal(cbt_jstr(&r, "csrf_token"), c.csrf);
    cbt_resp_free(&r);
    cbt_client_free(&c);
}

/* sql prepared on db with a and b bound to ?1 and ?2 when not NULL (fails the test otherwise). */
static sqlite3_stmt *prepare_bound(sqlite3 *db, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    }
    if (a) {
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    }
    if (b) {
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    }
    return st;
}

/* Run sql on the server's database (another connection, as an admin's
 * change or a sync from central would be), binding a and b when not NULL. */
static void db_exec(const char *sql, const char *a, const char *b)
{
    char dbpath[700];
    snprintf(dbpath, sizeof(dbpath), "%s/coachbox.db", G.srv.data);
    sqlite3 *db = NULL;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    st = prepare_bound(db, sql, a, b);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    assert_true(sqlite3_changes(db) >= 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/*
 * Finding F21: an account whose display name is over 100 bytes (61 characters:
 * "Z" and 60 "ë", 121 bytes) signs in with its name whole and a CSRF token; and
 * an answer that cannot be built (a name that is not UTF-8, put in the
 * database behind the server's back) is a 500 with a JSON error and no
 * cookie, never 200 {}.
 */
static void test_login_long_display_name(void **state)
{
    (void)state;
    char name[200] = "Z";
    for (int i = 0; i < 60; i++) {
        memcpy(name + 1 + 2 * i, "\xc3\xab", 3); /* ë and the NUL */
    }
    const char *args[] = {"user",           "add",    "--data", G.srv.data, "--username",
                          "umlauts",        "--role", "coach",  "--team",   "prestwich",
                          "--display-name", name,     NULL};
    char out[1024];
    int st = cbt_run(args, PW "\n", out, sizeof(out));
    if (st != 0) {
        fail_msg("user add with a 61-character display name: exit %d: %s", st, out);
    }
    struct cbt_client c;
    struct cbt_resp r;
    new_client(&c);
    login_resp(&c, "umlauts", PW, &r);
    expect_status(&r, 200, "login with a long display name");
    assert_non_null(cbt_jstr(&r, "user.id"));
    assert_string_equal(cbt_jstr(&r, "user.display_name"), name);
    assert_non_null(cbt_jstr(&r, "csrf_token"));
    cbt_resp_free(&r);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "me with a long display name");
    assert_string_equal(cbt_jstr(&r, "user.display_name"), name);
    assert_string_equal(cbt_jstr(&r, "csrf_token"), c.csrf);
    cbt_resp_free(&r);

    /* Not UTF-8: /api/me of the open session and a new login both fail loudly. */
    db_exec("UPDATE users SET display_name = CAST(X'5AC3' AS TEXT) WHERE username = ?1", "umlauts",
            NULL);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_error(&r, 500, NULL, "me with a name that is not UTF-8");
    cbt_resp_free(&r);
    struct cbt_client c2;
    new_client(&c2);
    login_resp(&c2, "umlauts", PW, &r);
    expect_error(&r, 500, NULL, "login with a name that is not UTF-8");
    assert_null(ci_find(r.headers, "Set-Cookie"));
    cbt_resp_free(&r);
    db_exec("UPDATE users SET display_name = 'Umlauts' WHERE username = ?1", "umlauts", NULL);
    cbt_client_free(&c2);
    cbt_client_free(&c);
}

static void test_login_failures(void **state)
{
    (void)state;
    struct cbt_client c;
    struct cbt_resp r, r2;
    new_client(&c);

    login_resp(&c, "rot", WRONG_PW, &r);
    expect_error(&r, 401, NULL, "wrong password");
    assert_null(ci_find(r.headers, "Set-Cookie"));
    login_resp(&c, "nobody-here", WRONG_PW, &r2);
    expect_error(&r2, 401, NULL, "unknown user");
    /* Same answer either way: no username enumeration. */
    assert_string_equal(cbt_jstr(&r, "error.message"), cbt_jstr(&r2, "error.message"));
    assert_string_equal(cbt_jstr(&r, "error.code"), cbt_jstr(&r2, "error.code"));
    cbt_resp_free(&r);
    cbt_resp_free(&r2);

    rq(&c, "POST", "/api/login", "{\"password\":\"" PW "\"}", &r);
    expect_error(&r, 400, "username", "missing username");
    cbt_resp_free(&r);
    rq(&c, "POST", "/api/login", "{\"username\":\"rot\"}", &r);
    expect_error(&r, 400, "password", "missing password");
    cbt_resp_free(&r);
    rq(&c, "POST", "/api/login", "{\"username\":\"rot\",\"password\":\"" PW "\",\"remember\":true}",
       &r);
    expect_error(&r, 400, "remember", "unknown field");
    cbt_resp_free(&r);
    rq(&c, "POST", "/api/login", "{\"username\":123,\"password\":\"" PW "\"}", &r);
    expect_error(&r, 400, "username", "username not a string");
    cbt_resp_free(&r);

    rq(&c, "POST", "/api/login", "{\"username\": \"rot\",\n \"password\": ", &r);
    expect_error(&r, 400, NULL, "malformed JSON");
    const char *msg = cbt_jstr(&r, "error.message");
    assert_non_null(strstr(msg, "line"));
    assert_non_null(strstr(msg, "column"));
    cbt_resp_free(&r);
    rq(&c, "POST", "/api/login", "[\"rot\"]", &r);
    expect_error(&r, 400, NULL, "array body");
    cbt_resp_free(&r);
    rq(&c, "POST", "/api/login", "", &r);
    expect_error(&r, 400, NULL, "empty body");
    cbt_resp_free(&r);

    rq_ex(&c, "POST", "/api/login", "username=rot&password=x", "application/x-www-form-urlencoded",
          NULL, &r);
    expect_error(&r, 415, NULL, "form body");
    cbt_resp_free(&r);
    rq_ex(&c, "POST", "/api/login", "{\"username\":\"rot\",\"password\":\"" PW "\"}", "text/plain",
          NULL, &r);
    expect_error(&r, 415, NULL, "text/plain body");
    assert_null(ci_find(r.headers, "Set-Cookie"));
    cbt_resp_free(&r);
    rq_ex(&c, "POST", "/api/login", "{\"username\":\"rot\",\"password\":\"" PW "\"}",
          "application/jsonx", NULL, &r);
    expect_error(&r, 415, NULL, "application/jsonx body");
    cbt_resp_free(&r);
    cbt_client_free(&c);
}

static void test_login_rotates_session(void **state)
{
    (void)state;
    struct cbt_client c, probe;
    struct session s1, s2;
    struct cbt_resp r;
    new_client(&c);
    new_client(&probe);
    assert_int_equal(login_session(&c, "rot", &s1), 200);
    char csrf1[80];
    snprintf(csrf1, sizeof(csrf1), "%s", c.csrf);
    assert_int_equal(login_session(&c, "rot", &s2), 200); /* sends the old cookie */
    assert_true(s1.token[0] && s2.token[0]);
    assert_string_not_equal(s1.token, s2.token);
    assert_string_not_equal(csrf1, c.csrf);

    char h[160];
    const char *hdr[] = {h, NULL};
    snprintf(h, sizeof(h), "Cookie: cb_session=%s", s1.token);
    rq_ex(&probe, "GET", "/api/me", NULL, NULL, hdr, &r);
    expect_error(&r, 401, NULL, "old session after re-login");
    cbt_resp_free(&r);
    snprintf(h, sizeof(h), "Cookie: cb_session=%s", s2.token);
    rq_ex(&probe, "GET", "/api/me", NULL, NULL, hdr, &r);
    expect_status(&r, 200, "new session");
    cbt_resp_free(&r);
    /* A made-up token is no session. */
    snprintf(h, sizeof(h), "Cookie: cb_session=%064d", 7);
    rq_ex(&probe, "GET", "/api/me", NULL, NULL, hdr, &r);
    expect_error(&r, 401, NULL, "forged token");
    cbt_resp_free(&r);
    cbt_client_free(&c);
    cbt_client_free(&probe);
}

static void test_login_throttled(void **state)
{
    (void)state;
    struct cbt_client c;
    struct cbt_resp r;
    new_client(&c);
    for (int i = 0; i < 5; i++) {
        login_resp(&c, i % 2 ? "THR" : "thr", WRONG_PW, &r); /* case does not dodge it */
        expect_error(&r, 401, NULL, "failed login before lockout");
        cbt_resp_free(&r);
    }
    login_resp(&c, "thr", PW, &r);
    expect_error(&r, 429, NULL, "right password while locked");
    char v[64];
    assert_true(cbt_header(&r, "Retry-After", v, sizeof(v)));
    assert_true(strtol(v, NULL, 10) >= 1);
    assert_null(ci_find(r.headers, "Set-Cookie"));
    assert_string_equal(c.csrf, "");
    cbt_resp_free(&r);
    /* Another account from the same address is not locked by it. */
    assert_int_equal(cbt_login(&c, "rot", PW), 200);
    cbt_client_free(&c);
}

static void test_disabled_account(void **state)
{
    (void)state;
    struct cbt_client c;
    struct cbt_resp r;
    char out[512];
    new_client(&c);
    assert_int_equal(cbt_login(&c, "carol", PW), 200);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "carol before disable");
    cbt_resp_free(&r);

    const char *args[] = {"user", "disable", "--data", G.srv.data, "--username", "carol", NULL};
    int st = cbt_run(args, NULL, out, sizeof(out));
    if (st != 0) {
        fail_msg("user disable exit %d: %s", st, out);
    }
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_error(&r, 401, NULL, "existing session of a disabled account");
    cbt_resp_free(&r);
    rq(&c, "GET", "/api/participants", NULL, &r);
    expect_error(&r, 401, NULL, "disabled account search");
    cbt_resp_free(&r);
    assert_int_equal(cbt_login(&c, "carol", PW), 401);
    cbt_client_free(&c);
}

/* Sessions end after the idle timeout (here 1 s) even with a valid cookie. */
static void test_session_idle_timeout(void **state)
{
    (void)state;
    char data[512], out[512];
    struct cbt_server s;
    struct cbt_client c;
    struct cbt_resp r;
    cbt_tempdir(data, sizeof(data), "itidle");
    const char *add[] = {"user",   "add",   "--data", data,        "--username", "idle",
                         "--role", "coach", "--team", "prestwich", NULL};
    assert_int_equal(cbt_run(add, PW "\n", out, sizeof(out)), 0);
    const char *extra[] = {"--idle-timeout", "1", NULL};
    assert_int_equal(cbt_server_start(&s, data, extra), 0);
    assert_int_equal(cbt_client_init(&c, s.url), 0);
    assert_int_equal(cbt_login(&c, "idle", PW), 200);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "fresh session");
    cbt_resp_free(&r);
    struct timespec ts = {2, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_error(&r, 401, NULL, "session idle past the timeout");
    cbt_resp_free(&r);
    cbt_client_free(&c);
    assert_int_equal(cbt_server_stop(&s), 0);
    cbt_rmtree(data);
    remove(s.log);
}

/* ---------------------------------------------------------- me / logout */

static void test_me(void **state)
{
    (void)state;
    struct cbt_client c;
    struct cbt_resp r;
    rq(&G.alice, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "me");
    expect_api_headers(&r, "me");
    assert_string_equal(cbt_jstr(&r, "user.username"), "alice");
    assert_string_equal(cbt_jstr(&r, "user.id"), G.s_alice.uid);
    assert_string_equal(cbt_jstr(&r, "csrf_token"), G.alice.csrf);
    cbt_resp_free(&r);
    new_client(&c);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_error(&r, 401, NULL, "me without session");
    cbt_resp_free(&r);
    cbt_client_free(&c);
}

static void test_logout(void **state)
{
    (void)state;
    struct cbt_client c, probe;
    struct session s;
    struct cbt_resp r;
    new_client(&c);
    new_client(&probe);
    assert_int_equal(login_session(&c, "dave", &s), 200);

    rq_csrf(&c, "", "POST", "/api/logout", NULL, &r);
    expect_error(&r, 403, NULL, "logout without CSRF");
    cbt_resp_free(&r);
    rq_csrf(&c, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "POST",
            "/api/logout", NULL, &r);
    expect_error(&r, 403, NULL, "logout with a wrong CSRF token");
    cbt_resp_free(&r);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "still signed in after refused logouts");
    cbt_resp_free(&r);

    rq(&c, "POST", "/api/logout", NULL, &r);
    expect_status(&r, 200, "logout");
    expect_api_headers(&r, "logout");
    assert_true(header_contains(&r, "Set-Cookie", "Max-Age=0"));
    cbt_resp_free(&r);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_error(&r, 401, NULL, "me after logout");
    cbt_resp_free(&r);
    /* The server ended the session: replaying the old cookie fails too. */
    char h[160];
    const char *hdr[] = {h, NULL};
    snprintf(h, sizeof(h), "Cookie: cb_session=%s", s.token);
    rq_ex(&probe, "GET", "/api/me", NULL, NULL, hdr, &r);
    expect_error(&r, 401, NULL, "replayed cookie after logout");
    cbt_resp_free(&r);
    cbt_client_free(&c);
    cbt_client_free(&probe);
}

/* -------------------------------------------- every route: 401 and 403 */

static void test_routes_need_session_and_csrf(void **state)
{
    (void)state;
    struct cbt_client anon;
    struct cbt_resp r;
    char path[256], what[300];
    int checked401 = 0, checked403 = 0;
    new_client(&anon);
    for (size_t i = 0; i < cb_api_routes_count; i++) {
        const struct cb_route *rt = &cb_api_routes[i];
        if (rt->flags & CB_ROUTE_PUBLIC) {
            continue;
        }
        route_path(rt->pattern, G.alice_pid, path, sizeof(path));
        int write = strcmp(rt->method, "GET") != 0 && strcmp(rt->method, "HEAD") != 0;
        const char *body = write ? "{}" : NULL;

        snprintf(what, sizeof(what), "%s %s without a session", rt->method, path);
        rq(&anon, rt->method, path, body, &r);
        expect_error(&r, 401, NULL, what);
        cbt_resp_free(&r);
        checked401++;
        if (!write) {
            continue;
        }
        snprintf(what, sizeof(what), "%s %s without CSRF", rt->method, path);
        rq_csrf(&G.alice, "", rt->method, path, body, &r);
        expect_error(&r, 403, NULL, what);
        cbt_resp_free(&r);
        snprintf(what, sizeof(what), "%s %s with a wrong CSRF token", rt->method, path);
        rq_csrf(&G.alice, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                rt->method, path, body, &r);
        expect_error(&r, 403, NULL, what);
        cbt_resp_free(&r);
        /* Another user's CSRF token does not fit this session. */
        snprintf(what, sizeof(what), "%s %s with bob's CSRF token", rt->method, path);
        rq_csrf(&G.alice, G.bob.csrf, rt->method, path, body, &r);
        expect_error(&r, 403, NULL, what);
        cbt_resp_free(&r);
        checked403++;
    }
    assert_true(checked401 >= 8);
    assert_true(checked403 >= 4);
    /* alice is still signed in (the refused logout did nothing). */
    rq(&G.alice, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "alice after CSRF probes");
    cbt_resp_free(&r);
    cbt_client_free(&anon);
}

static void test_teams_list(void **state)
{
    (void)state;
    struct cbt_resp r;
    rq(&G.alice, "GET", "/api/teams", NULL, &r);
    expect_status(&r, 200, "teams");
    expect_api_headers(&r, "teams");
    assert_true(items_count(&r) >= 5);
    int found = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "id")), "prestwich") == 0) {
            found = 1;
        }
    }
    assert_true(found);
    cbt_resp_free(&r);
}

/* ----------------------------------------------------------- participants */

static void test_participant_create(void **state)
{
    (void)state;
    struct cbt_resp r;
    rqj(&G.alice, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "given_name", "  Ada ", "family_name",
                  "Lovelace-Createtest", "date_of_birth", "1985-12-10", "nhs_number",
                  "943 476 5919", "postcode", "bl9 0ej"),
        &r);
    expect_status(&r, 201, "create");
    expect_api_headers(&r, "create");
    const char *id = cbt_jstr(&r, "id");
    assert_true(is_uuid(id));
    assert_string_equal(cbt_jstr(&r, "nhs_number"), "9434765919");
    assert_string_equal(cbt_jstr(&r, "postcode"), "BL9 0EJ");
    assert_string_equal(cbt_jstr(&r, "given_name"), "Ada");
    assert_string_equal(cbt_jstr(&r, "team"), "prestwich");
    assert_string_equal(cbt_jstr(&r, "date_of_birth"), "1985-12-10");
    assert_non_null(cbt_jstr(&r, "created_at"));
    char pid[40], path[128];
    snprintf(pid, sizeof(pid), "%s", id);
    cbt_resp_free(&r);

    snprintf(path, sizeof(path), "/api/participants/%s", pid);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "get created");
    expect_api_headers(&r, "get participant");
    assert_string_equal(cbt_jstr(&r, "id"), pid);
    assert_string_equal(cbt_jstr(&r, "postcode"), "BL9 0EJ");
    assert_string_equal(cbt_jstr(&r, "family_name"), "Lovelace-Createtest");
    cbt_resp_free(&r);

    /* Other postcode shapes canonicalise the same way. */
    rqj(&G.alice, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Pc", "family_name", "Postcodetest",
                  "date_of_birth", "1990-01-01", "postcode", "m11ae"),
        &r);
    expect_status(&r, 201, "create with postcode m11ae");
    assert_string_equal(cbt_jstr(&r, "postcode"), "M1 1AE");
    cbt_resp_free(&r);

    /* A 999 test number is accepted on a --allow-test-nhs server. */
    char nhs[16];
    test_nhs(nhs);
    rqj(&G.alice, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Tess", "family_name", "Testnumber",
                  "date_of_birth", "1990-01-01", "nhs_number", nhs),
        &r);
    expect_status(&r, 201, "create with test NHS number");
    assert_string_equal(cbt_jstr(&r, "nhs_number"), nhs);
    cbt_resp_free(&r);
}

static void test_participant_client_id_and_conflict(void **state)
{
    (void)state;
    struct cbt_resp r;
    char id[40];
    mint_uuid(id);
    json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "given_name", "Minted", "family_name",
                          "Clientid", "date_of_birth", "2001-02-03");
    rqj(&G.alice, "POST", "/api/participants", json_incref(b), &r);
    expect_status(&r, 201, "create with client id");
    assert_string_equal(cbt_jstr(&r, "id"), id);
    cbt_resp_free(&r);
    rqj(&G.alice, "POST", "/api/participants", b, &r);
    expect_error(&r, 409, NULL, "duplicate client id");
    cbt_resp_free(&r);
    /* The conflict did not overwrite the first record. */
    char path[128];
    snprintf(path, sizeof(path), "/api/participants/%s", id);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "get minted");
    assert_string_equal(cbt_jstr(&r, "given_name"), "Minted");
    cbt_resp_free(&r);
    rqj(&G.alice, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s}", "id", "not-a-uuid", "given_name", "Bad", "family_name",
                  "Clientid", "date_of_birth", "2001-02-03"),
        &r);
    expect_error(&r, 400, "id", "malformed client id");
    cbt_resp_free(&r);
}

/*
 * UUIDs are case-insensitive: a client-minted id in upper case must name the
 * same record as its lower-case form (stored canonical, or refused), not a
 * second record.
 */
static void test_participant_client_id_case(void **state)
{
    (void)state;
    struct cbt_resp r;
    char lower[40], upper[40], path[128];
    mint_uuid(lower);
    for (size_t i = 0; i < sizeof(lower); i++) {
        upper[i] = (char)toupper((unsigned char)lower[i]);
    }
    rqj(&G.alice, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s}", "id", upper, "given_name", "Upper", "family_name",
                  "Casetest", "date_of_birth", "2001-02-03"),
        &r);
    if (r.status == 400) { /* refusing non-canonical ids is fine too */
        cbt_resp_free(&r);
        return;
    }
    expect_status(&r, 201, "create with upper-case id");
    char got[40];
    snprintf(got, sizeof(got), "%s", cbt_jstr(&r, "id") ? cbt_jstr(&r, "id") : "");
    cbt_resp_free(&r);
    if (strcmp(got, lower) != 0) {
        fail_msg("client id %s was stored verbatim as %s, not canonical %s: the same UUID can "
                 "name two records",
                 upper, got, lower);
    }
    snprintf(path, sizeof(path), "/api/participants/%s", lower);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "get by lower-case id");
    cbt_resp_free(&r);
    rqj(&G.alice, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s}", "id", lower, "given_name", "Lower", "family_name",
                  "Casetest", "date_of_birth", "2001-02-03"),
        &r);
    expect_error(&r, 409, NULL, "same id in lower case");
    cbt_resp_free(&r);
}

static void test_participant_validation(void **state)
{
    (void)state;
    char future[16], name101[128], name100[128];
    date_offset(2, future);
    memset(name101, 'a', 101);
    name101[101] = '\0';
    memset(name100, 'b', 100);
    name100[100] = '\0';
    struct {
        json_t *body;
        const char *field;
    } cases[] = {
        {json_pack("{s:s, s:s}", "family_name", "Zzvalid", "date_of_birth", "1980-01-01"),
         "given_name"},
        {json_pack("{s:s, s:s}", "given_name", "Zzvalid", "date_of_birth", "1980-01-01"),
         "family_name"},
        {json_pack("{s:s, s:s}", "given_name", "Nodob", "family_name", "Zzvalid"), "date_of_birth"},
        {json_pack("{s:s, s:s, s:s}", "given_name", "Future", "family_name", "Zzvalid",
                   "date_of_birth", future),
         "date_of_birth"},
        {json_pack("{s:s, s:s, s:s}", "given_name", "Old", "family_name", "Zzvalid",
                   "date_of_birth", "1899-12-31"),
         "date_of_birth"},
        {json_pack("{s:s, s:s, s:s}", "given_name", "Feb", "family_name", "Zzvalid",
                   "date_of_birth", "1981-02-30"),
         "date_of_birth"},
        {json_pack("{s:s, s:s, s:s}", "given_name", "Slash", "family_name", "Zzvalid",
                   "date_of_birth", "01/02/1980"),
         "date_of_birth"},
        {json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Nhs", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01", "nhs_number", "943 476 5918"),
         "nhs_number"},
        {json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Nhs9", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01", "nhs_number", "943476591"),
         "nhs_number"},
        {json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Pc", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01", "postcode", "not a postcode"),
         "postcode"},
        {json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Pc2", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01", "postcode", "12345"),
         "postcode"},
        {json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Unknown", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01", "favourite_colour", "blue"),
         "favourite_colour"},
        {json_pack("{s:i, s:s, s:s}", "given_name", 42, "family_name", "Zzvalid", "date_of_birth",
                   "1980-01-01"),
         "given_name"},
        {json_pack("{s:s, s:s, s:s}", "given_name", name101, "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01"),
         "given_name"},
        {json_pack("{s:s, s:s, s:s}", "given_name", "   ", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01"),
         "given_name"},
        {json_pack("{s:s, s:s, s:s}", "given_name", "Line\nbreak", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01"),
         "given_name"},
        {json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Team", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01", "team", "no-such-team"),
         "team"},
        {json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Server", "family_name", "Zzvalid",
                   "date_of_birth", "1980-01-01", "created_at", "2020-01-01T00:00:00Z"),
         "created_at"},
        {json_pack("{s:s, s:s, s:n}", "given_name", "Nulldob", "family_name", "Zzvalid",
                   "date_of_birth"),
         "date_of_birth"},
    };
    char what[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cbt_resp r;
        assert_non_null(cases[i].body);
        snprintf(what, sizeof(what), "validation case %zu (%s)", i, cases[i].field);
        rqj(&G.alice, "POST", "/api/participants", cases[i].body, &r);
        expect_error(&r, 400, cases[i].field, what);
        assert_string_equal(cbt_jstr(&r, "error.code"), "invalid");
        cbt_resp_free(&r);
    }
    /* The valid twin, at the 100-character limit, is stored. */
    char id[40];
    create_participant(&G.alice, name100, "Zzvalid", "1980-01-01", NULL, id);
    char today[16];
    date_offset(0, today);
    char id2[40];
    create_participant(&G.alice, "Born", "Zzvalidtoday", today, NULL, id2);
    /* Nothing invalid was stored. */
    struct cbt_resp r;
    rq(&G.alice, "GET", "/api/participants?q=zzvalid&limit=100", NULL, &r);
    expect_status(&r, 200, "search after validation");
    if (items_count(&r) != 2) {
        fail_msg("want only the 2 valid participants, got: %.600s", r.body);
    }
    assert_true(items_has_id(&r, id));
    assert_true(items_has_id(&r, id2));
    cbt_resp_free(&r);
    /* A non-object body. */
    rq(&G.alice, "POST", "/api/participants", "[1,2]", &r);
    expect_error(&r, 400, NULL, "array body");
    cbt_resp_free(&r);
    rq(&G.alice, "POST", "/api/participants", "{\"given_name\":\"a\",\"given_name\":\"b\"}", &r);
    expect_error(&r, 400, NULL, "duplicate keys");
    cbt_resp_free(&r);
}

static void test_participant_get_errors(void **state)
{
    (void)state;
    struct cbt_resp r, r2;
    char id[40], path[128];
    mint_uuid(id);
    snprintf(path, sizeof(path), "/api/participants/%s", id);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_error(&r, 404, NULL, "unknown id");
    cbt_resp_free(&r);
    rq(&G.alice, "GET", "/api/participants/not-a-uuid", NULL, &r2);
    expect_error(&r2, 404, NULL, "malformed id");
    cbt_resp_free(&r2);
    rq(&G.alice, "GET", "/api/participants/%27%20OR%201%3D1--", NULL, &r2);
    expect_error(&r2, 404, NULL, "sql-ish id");
    cbt_resp_free(&r2);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", id);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_error(&r, 404, NULL, "encounters of unknown id");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s", id);
    rqj(&G.alice, "PATCH", path, json_pack("{s:s}", "given_name", "X"), &r);
    expect_error(&r, 404, NULL, "patch unknown id");
    cbt_resp_free(&r);
}

/* Status: a discharged person has a reason and a date, an active one has
 * neither; re-activating clears them; a bad combination changes nothing. */
static void test_participant_discharge(void **state)
{
    (void)state;
    struct cbt_resp r;
    char id[40], path[128];
    create_participant(&G.alice, "Dora", "Dischargetest", "1968-03-04", NULL, id);
    snprintf(path, sizeof(path), "/api/participants/%s", id);

    struct {
        json_t *body;
        const char *field;
    } bad[] = {
        {json_pack("{s:s}", "status", "discharged"), "discharge_reason"},
        {json_pack("{s:s, s:s}", "status", "discharged", "discharge_date", "2026-01-10"),
         "discharge_reason"},
        {json_pack("{s:s, s:s}", "status", "discharged", "discharge_reason", "moved away"),
         "discharge_date"},
        {json_pack("{s:s, s:s, s:s}", "status", "discharged", "discharge_reason", "",
                   "discharge_date", "2026-01-10"),
         "discharge_reason"},
        {json_pack("{s:s}", "discharge_date", "2026-01-10"), "discharge_date"},
        {json_pack("{s:s}", "discharge_reason", "moved away"), "discharge_reason"},
        {json_pack("{s:s, s:s, s:s}", "status", "discharged", "discharge_reason", "moved away",
                   "discharge_date", "2999-01-01"),
         "discharge_date"},
    };
    char what[96];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(what, sizeof(what), "bad discharge %zu (%s)", i, bad[i].field);
        rqj(&G.alice, "PATCH", path, bad[i].body, &r);
        expect_error(&r, 400, bad[i].field, what);
        cbt_resp_free(&r);
    }
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "unchanged after bad discharges");
    assert_string_equal(cbt_jstr(&r, "status"), "active");
    assert_true(json_is_null(json_object_get(r.json, "discharge_reason")));
    assert_true(json_is_null(json_object_get(r.json, "discharge_date")));
    cbt_resp_free(&r);

    rqj(&G.alice, "PATCH", path,
        json_pack("{s:s, s:s, s:s}", "status", "discharged", "discharge_reason", "goals met",
                  "discharge_date", "2026-01-10"),
        &r);
    expect_status(&r, 200, "discharge");
    assert_string_equal(cbt_jstr(&r, "status"), "discharged");
    assert_string_equal(cbt_jstr(&r, "discharge_reason"), "goals met");
    assert_string_equal(cbt_jstr(&r, "discharge_date"), "2026-01-10");
    cbt_resp_free(&r);
    /* Clearing the reason of a discharged person is refused. */
    rqj(&G.alice, "PATCH", path, json_pack("{s:n}", "discharge_reason"), &r);
    expect_error(&r, 400, "discharge_reason", "clear the reason of a discharged person");
    cbt_resp_free(&r);
    /* Re-opening the case clears both. */
    rqj(&G.alice, "PATCH", path, json_pack("{s:s}", "status", "active"), &r);
    expect_status(&r, 200, "re-open");
    assert_string_equal(cbt_jstr(&r, "status"), "active");
    assert_true(json_is_null(json_object_get(r.json, "discharge_reason")));
    assert_true(json_is_null(json_object_get(r.json, "discharge_date")));
    cbt_resp_free(&r);
    /* ...unless the patch keeps one, which is refused. */
    rqj(&G.alice, "PATCH", path,
        json_pack("{s:s, s:s}", "status", "active", "discharge_date", "2026-01-10"), &r);
    expect_error(&r, 400, "discharge_date", "active with a discharge date");
    cbt_resp_free(&r);

    /* Registering someone already discharged follows the same rule. */
    rqj(&G.alice, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Dan", "family_name", "Dischargetest",
                  "date_of_birth", "1969-01-01", "status", "discharged"),
        &r);
    expect_error(&r, 400, "discharge_reason", "register discharged without a reason");
    cbt_resp_free(&r);
}

static void test_participant_patch(void **state)
{
    (void)state;
    struct cbt_resp r;
    char id[40], path[128];
    create_participant(&G.alice, "Patty", "Patchtest", "1975-06-07",
                       json_pack("{s:s}", "postcode", "BL9 0EJ"), id);
    snprintf(path, sizeof(path), "/api/participants/%s", id);

    rqj(&G.alice, "PATCH", path,
        json_pack("{s:s, s:s, s:s}", "family_name", "Patched", "postcode", "m1 1ae", "nhs_number",
                  "9434765919"),
        &r);
    expect_status(&r, 200, "patch");
    expect_api_headers(&r, "patch");
    assert_string_equal(cbt_jstr(&r, "family_name"), "Patched");
    assert_string_equal(cbt_jstr(&r, "given_name"), "Patty");
    assert_string_equal(cbt_jstr(&r, "postcode"), "M1 1AE");
    assert_string_equal(cbt_jstr(&r, "nhs_number"), "9434765919");
    assert_true(strcmp(cbt_jstr(&r, "updated_at"), cbt_jstr(&r, "created_at")) >= 0);
    cbt_resp_free(&r);

    struct {
        json_t *body;
        const char *field;
    } bad[] = {
        {json_pack("{s:s}", "shoe_size", "9"), "shoe_size"},
        {json_pack("{s:s}", "id", id), "id"},
        {json_pack("{s:s}", "created_at", "2020-01-01T00:00:00.000Z"), "created_at"},
        {json_pack("{s:s}", "updated_at", "2020-01-01T00:00:00.000Z"), "updated_at"},
        {json_pack("{s:s}", "created_by", G.s_alice.uid), "created_by"},
        {json_pack("{s:i}", "deleted", 1), "deleted"},
        {json_pack("{s:n}", "given_name"), "given_name"},
        {json_pack("{s:n}", "family_name"), "family_name"},
        {json_pack("{s:n}", "date_of_birth"), "date_of_birth"},
        {json_pack("{s:n}", "team"), "team"},
        {json_pack("{s:s}", "postcode", "nope"), "postcode"},
        {json_pack("{s:s}", "date_of_birth", "2999-01-01"), "date_of_birth"},
        /* a bad field after a good one: nothing is applied */
        {json_pack("{s:s, s:s}", "family_name", "Halfapplied", "nhs_number", "1234567890"),
         "nhs_number"},
    };
    char what[96];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(what, sizeof(what), "bad patch %zu (%s)", i, bad[i].field);
        rqj(&G.alice, "PATCH", path, bad[i].body, &r);
        expect_error(&r, 400, bad[i].field, what);
        cbt_resp_free(&r);
    }
    rq(&G.alice, "PATCH", path, "{\"family_name\": ", &r);
    expect_error(&r, 400, NULL, "malformed patch");
    cbt_resp_free(&r);

    /* null clears an optional field. */
    rqj(&G.alice, "PATCH", path, json_pack("{s:n}", "postcode"), &r);
    expect_status(&r, 200, "clear postcode");
    assert_true(json_is_null(json_object_get(r.json, "postcode")));
    cbt_resp_free(&r);

    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "get after patches");
    assert_string_equal(cbt_jstr(&r, "family_name"), "Patched");
    assert_string_equal(cbt_jstr(&r, "date_of_birth"), "1975-06-07");
    assert_string_equal(cbt_jstr(&r, "id"), id);
    assert_string_equal(cbt_jstr(&r, "team"), "prestwich");
    assert_true(json_is_null(json_object_get(r.json, "postcode")));
    cbt_resp_free(&r);
}

static void test_participant_search(void **state)
{
    (void)state;
    char a[40], b[40], c[40], nhs[16], spaced[32], q[128];
    test_nhs(nhs);
    snprintf(spaced, sizeof(spaced), "%.3s%%20%.3s%%20%.4s", nhs, nhs + 3, nhs + 6);
    create_participant(&G.alice, "Philippa", "Xanthopoulos", "1971-03-04",
                       json_pack("{s:s}", "nhs_number", nhs), a);
    create_participant(&G.alice, "Quentin", "Xanthopoulos", "1971-03-04", NULL, b);
    create_participant(&G.alice, "Philippa", "Yarboroughtest", "1962-07-08", NULL, c);

    assert_int_equal(search_count(&G.alice, "q=xanth"), 2);
    assert_int_equal(search_count(&G.alice, "q=XANTHOPOULOS"), 2);
    assert_int_equal(search_count(&G.alice, "q=philip"), 2);
    assert_int_equal(search_count(&G.alice, "q=Philippa%20Xanth"), 1);
    assert_int_equal(search_count(&G.alice, "q=xanth+PHILIPPA"), 1);
    assert_int_equal(search_count(&G.alice, "q=%20%20quentin%20%20xanthopoulos%20"), 1);
    assert_int_equal(search_count(&G.alice, "q=quentin+yarb"), 0);
    assert_int_equal(search_count(&G.alice, "q=xanthopoulosz"), 0);
    assert_int_equal(search_count(&G.alice, "q=anthopoulos"), 0); /* prefix, not substring */
    struct cbt_resp r;
    snprintf(q, sizeof(q), "/api/participants?q=%s", spaced);
    rq(&G.alice, "GET", q, NULL, &r);
    expect_status(&r, 200, "search by NHS number with spaces");
    assert_int_equal(items_count(&r), 1);
    assert_true(items_has_id(&r, a));
    cbt_resp_free(&r);
    snprintf(q, sizeof(q), "q=%s", nhs);
    assert_int_equal(search_count(&G.alice, q), 1);
    rq(&G.alice, "GET", "/api/participants?q=1971-03-04", NULL, &r);
    expect_status(&r, 200, "search by DOB");
    assert_int_equal(items_count(&r), 2);
    assert_true(items_has_id(&r, a) && items_has_id(&r, b));
    cbt_resp_free(&r);
    /* Wildcards are not special. */
    assert_int_equal(search_count(&G.alice, "q=%25"), 0);
    assert_int_equal(search_count(&G.alice, "q=x_nth"), 0);

    rq(&G.alice, "GET", "/api/participants?q=a+b+c", NULL, &r);
    expect_error(&r, 400, "q", "three names");
    cbt_resp_free(&r);
    char longq[400];
    memcpy(longq, "/api/participants?q=", 20);
    memset(longq + 20, 'a', 300);
    longq[320] = '\0';
    rq(&G.alice, "GET", longq, NULL, &r);
    expect_error(&r, 400, "q", "300-character q");
    cbt_resp_free(&r);
    /* Empty q lists the team. */
    assert_true(search_count(&G.alice, "limit=100") >= 3);

    /* Limits are in characters: a family name of 100 two-byte characters is found
     * by the whole of it, and so is the person by a q of 141 characters (281 bytes;
     * the harness keeps a URL under 1,024 bytes). */
    char given[100], family[201], id[40], path[1000];
    for (int i = 0; i < 100; i++) {
        memcpy(family + 2 * i, "\xc3\xab", 3); /* ë */
    }
    memcpy(given, family, 80);
    given[80] = '\0'; /* 40 of them */
    create_participant(&G.alice, given, family, "1988-08-08", NULL, id);
    for (int words = 1; words <= 2; words++) {
        size_t n = (size_t)snprintf(path, sizeof(path), "/api/participants?q=");
        for (int w = 2 - words; w < 2; w++) {
            if (w == 1 && words == 2) {
                n += (size_t)snprintf(path + n, sizeof(path) - n, "+");
            }
            for (int i = 0; i < (w == 0 ? 40 : 100); i++) {
                n += (size_t)snprintf(path + n, sizeof(path) - n, "%%C3%%AB");
            }
        }
        assert_true(n < sizeof(path));
        rq(&G.alice, "GET", path, NULL, &r);
        expect_status(&r, 200, words == 1 ? "a 100-character name" : "a 141-character q");
        if (items_count(&r) != 1) {
            fail_msg("%d words: %zu items: %.300s", words, items_count(&r), r.body);
        }
        assert_true(items_has_id(&r, id));
        cbt_resp_free(&r);
    }
}

static void test_participant_paging(void **state)
{
    (void)state;
    char ids[7][40], given[16];
    for (int i = 0; i < 7; i++) {
        snprintf(given, sizeof(given), "G%d", 7 - i); /* created out of order */
        create_participant(&G.alice, given, "Pagingtest", "1999-09-09", NULL, ids[i]);
    }
    char path[256], cursor[64] = "";
    char seen[7][40];
    int nseen = 0, pages = 0;
    for (;;) {
        struct cbt_resp r;
        if (cursor[0]) {
            snprintf(path, sizeof(path), "/api/participants?q=pagingtest&limit=3&cursor=%s",
                     cursor);
        } else {
            snprintf(path, sizeof(path), "/api/participants?q=pagingtest&limit=3");
        }
        rq(&G.alice, "GET", path, NULL, &r);
        expect_status(&r, 200, path);
        pages++;
        size_t n = items_count(&r);
        assert_true(n <= 3);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(r.json, "items"), i, it)
        {
            const char *id = json_string_value(json_object_get(it, "id"));
            for (int k = 0; k < nseen; k++) {
                if (strcmp(seen[k], id) == 0) {
                    fail_msg("page %d repeats %s", pages, id);
                }
            }
            assert_true(nseen < 7);
            snprintf(seen[nseen], sizeof(seen[nseen]), "%s", id);
            char want[16];
            snprintf(want, sizeof(want), "G%d", nseen + 1); /* sorted by name */
            assert_string_equal(json_string_value(json_object_get(it, "given_name")), want);
            nseen++;
        }
        json_t *next = json_object_get(r.json, "next_cursor");
        if (json_is_null(next)) {
            assert_int_equal(n, 1); /* 3 + 3 + 1 */
            cbt_resp_free(&r);
            break;
        }
        assert_true(json_is_string(next));
        assert_int_equal(n, 3);
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        cbt_resp_free(&r);
        assert_true(pages < 5);
    }
    assert_int_equal(pages, 3);
    assert_int_equal(nseen, 7);
    for (int i = 0; i < 7; i++) {
        int found = 0;
        for (int k = 0; k < nseen; k++) {
            found |= strcmp(ids[i], seen[k]) == 0;
        }
        assert_true(found);
    }
    struct cbt_resp r;
    rq(&G.alice, "GET", "/api/participants?q=pagingtest&limit=7", NULL, &r);
    expect_status(&r, 200, "one full page");
    assert_int_equal(items_count(&r), 7);
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    cbt_resp_free(&r);

    static const char *const bad_limits[] = {
        "0", "101", "abc", "-1", "", "5x", "1e2", "99999999999999999999", NULL};
    for (int i = 0; bad_limits[i]; i++) {
        snprintf(path, sizeof(path), "/api/participants?limit=%s", bad_limits[i]);
        rq(&G.alice, "GET", path, NULL, &r);
        expect_error(&r, 400, "limit", path);
        cbt_resp_free(&r);
    }
    assert_true(search_count(&G.alice, "limit=100") > 0);
    assert_int_equal(search_count(&G.alice, "q=pagingtest&limit=1"), 1);
    rq(&G.alice, "GET", "/api/participants?cursor=not-a-cursor", NULL, &r);
    expect_error(&r, 400, "cursor", "bad cursor");
    cbt_resp_free(&r);
}

/*
 * A one-name search lists family-name and given-name matches merged in
 * (family, given, id) order, a person matching both once, and pages through
 * them with the cursor without gaps or repeats, each page's branches being
 * longer than the page.
 */
static void test_participant_search_merged_order(void **state)
{
    (void)state;
    static const char *const people[][2] = {
        /* given, family; created out of order */
        {"Mergeqc", "Mergeqb"}, {"Zed", "Mergeqa"},   {"Mergeqz", "Zulu"}, {"Mergeq1", "Aardvark"},
        {"Bob", "Mergeqc"},     {"Mergeqy", "Bravo"}, {"Abe", "Mergeqa"},
    };
    /* The order the search must give: by lower(family), lower(given). */
    static const int order[] = {3, 5, 6, 1, 0, 4, 2};
    enum { N = 7 };
    char ids[N][40];
    for (int i = 0; i < N; i++) {
        create_participant(&G.alice, people[i][0], people[i][1], "1988-08-08", NULL, ids[i]);
    }
    struct cbt_resp r;
    rq(&G.alice, "GET", "/api/participants?q=MERGEQ&limit=100", NULL, &r);
    expect_status(&r, 200, "merged search");
    assert_int_equal(items_count(&r), N);
    for (int k = 0; k < N; k++) {
        json_t *it = json_array_get(json_object_get(r.json, "items"), (size_t)k);
        assert_string_equal(json_string_value(json_object_get(it, "id")), ids[order[k]]);
    }
    cbt_resp_free(&r);

    char path[256], cursor[64] = "";
    int seen = 0, pages = 0;
    for (;;) {
        if (cursor[0]) {
            snprintf(path, sizeof(path), "/api/participants?q=mergeq&limit=2&cursor=%s", cursor);
        } else {
            snprintf(path, sizeof(path), "/api/participants?q=mergeq&limit=2");
        }
        rq(&G.alice, "GET", path, NULL, &r);
        expect_status(&r, 200, path);
        pages++;
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(r.json, "items"), i, it)
        {
            assert_true(seen < N);
            assert_string_equal(json_string_value(json_object_get(it, "id")), ids[order[seen]]);
            seen++;
        }
        json_t *next = json_object_get(r.json, "next_cursor");
        if (json_is_null(next)) {
            cbt_resp_free(&r);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        cbt_resp_free(&r);
        assert_true(pages < 6);
    }
    assert_int_equal(seen, N);
    assert_int_equal(pages, 4); /* 2 + 2 + 2 + 1 */
    assert_int_equal(search_count(&G.alice, "q=mergeqa"), 2);
    assert_int_equal(search_count(&G.alice, "q=mergeqc"), 2); /* family Mergeqc, given Mergeqc */
    assert_int_equal(search_count(&G.bob, "q=mergeq"), 0);    /* another team */
}

/* The search answer is written as text: quotes, backslashes, non-ASCII letters
 * and a missing value come back exactly as stored, as valid JSON. */
static void test_participant_search_escaping(void **state)
{
    (void)state;
    static const char given[] = "Zo\xc3\xab \"Jo\" \\ O'Neill";
    static const char family[] = "Mergeu\xc3\xb1o-\xc5\x9amig\xc5\x82y";
    char id[40];
    json_t *extra = json_pack("{s:s}", "preferred_name", "\xe2\x80\x9cJo\xe2\x80\x9d </script>");
    create_participant(&G.alice, given, family, "1977-07-07", extra, id); /* takes extra */
    struct cbt_resp r;
    rq(&G.alice, "GET", "/api/participants?q=mergeu&limit=5", NULL, &r);
    expect_status(&r, 200, "search with escapes");
    assert_int_equal(items_count(&r), 1);
    json_t *it = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "id")), id);
    assert_string_equal(json_string_value(json_object_get(it, "given_name")), given);
    assert_string_equal(json_string_value(json_object_get(it, "family_name")), family);
    assert_string_equal(json_string_value(json_object_get(it, "preferred_name")),
                        "\xe2\x80\x9cJo\xe2\x80\x9d </script>");
    assert_true(json_is_null(json_object_get(it, "nhs_number")));
    assert_string_equal(json_string_value(json_object_get(it, "date_of_birth")), "1977-07-07");
    assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
    cbt_resp_free(&r);
}

/* ------------------------------------------------------- team isolation */

static void test_team_isolation(void **state)
{
    (void)state;
    struct cbt_resp r, unknown;
    char path[160], q[64], other[40];
    mint_uuid(other);

    /* What a 404 for a record that does not exist looks like. */
    snprintf(path, sizeof(path), "/api/participants/%s", other);
    rq(&G.alice, "GET", path, NULL, &unknown);
    expect_error(&unknown, 404, NULL, "unknown");

    snprintf(path, sizeof(path), "/api/participants/%s", G.bob_pid);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_error(&r, 404, NULL, "coach GET of another team's participant");
    assert_string_equal(cbt_jstr(&r, "error.message"), cbt_jstr(&unknown, "error.message"));
    assert_null(strstr(r.body, G.bob_family));
    cbt_resp_free(&r);
    rqj(&G.alice, "PATCH", path, json_pack("{s:s}", "given_name", "Hijacked"), &r);
    expect_error(&r, 404, NULL, "coach PATCH of another team's participant");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", G.bob_pid);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_error(&r, 404, NULL, "coach encounters of another team's participant");
    cbt_resp_free(&r);
    cbt_resp_free(&unknown);

    snprintf(q, sizeof(q), "q=%s", G.bob_family);
    assert_int_equal(search_count(&G.alice, q), 0);
    snprintf(q, sizeof(q), "q=%s", G.bob_nhs);
    assert_int_equal(search_count(&G.alice, q), 0);
    assert_int_equal(search_count(&G.alice, "q=1960-01-02"), 0);
    /* A cursor naming another team's record does not reveal it either. */
    snprintf(q, sizeof(q), "cursor=%s&limit=100", G.bob_pid);
    search_count(&G.alice, q);
    snprintf(q, sizeof(q), "q=%s", G.bob_family);
    assert_int_equal(search_count(&G.bob, q), 1);

    /* A coach cannot register in another team. */
    rqj(&G.alice, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Wrong", "family_name", "Teamtest",
                  "date_of_birth", "1980-01-01", "team", "radcliffe"),
        &r);
    expect_error(&r, 403, NULL, "coach registers in another team");
    cbt_resp_free(&r);
    assert_int_equal(search_count(&G.mgr, "q=teamtest"), 0);
    /* ...but may name their own. */
    char own[40];
    create_participant(&G.alice, "Right", "Teamtest", "1980-01-01",
                       json_pack("{s:s}", "team", "prestwich"), own);

    /* The manager sees every team. */
    snprintf(path, sizeof(path), "/api/participants/%s", G.bob_pid);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "manager GET radcliffe");
    assert_string_equal(cbt_jstr(&r, "team"), "radcliffe");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s", G.alice_pid);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "manager GET prestwich");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", G.bob_pid);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "manager encounters");
    cbt_resp_free(&r);
    snprintf(q, sizeof(q), "q=%s", G.bob_family);
    assert_int_equal(search_count(&G.mgr, q), 1);
    assert_int_equal(search_count(&G.mgr, "q=setupfamily"), 1);
    char mid[40];
    create_participant(&G.mgr, "Managed", "Mgrtest", "1980-01-01",
                       json_pack("{s:s}", "team", "radcliffe"), mid);
    rqj(&G.mgr, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s}", "given_name", "Noteam", "family_name", "Mgrtest",
                  "date_of_birth", "1980-01-01"),
        &r);
    expect_error(&r, 400, "team", "manager without a team names one");
    cbt_resp_free(&r);

    /* The admin manages accounts, not records. */
    snprintf(path, sizeof(path), "/api/participants/%s", G.alice_pid);
    rq(&G.adm, "GET", path, NULL, &r);
    expect_error(&r, 403, NULL, "admin GET");
    cbt_resp_free(&r);
    rqj(&G.adm, "PATCH", path, json_pack("{s:s}", "given_name", "Admin"), &r);
    expect_error(&r, 403, NULL, "admin PATCH");
    cbt_resp_free(&r);
    rq(&G.adm, "GET", "/api/participants", NULL, &r);
    expect_error(&r, 403, NULL, "admin search");
    cbt_resp_free(&r);
    rqj(&G.adm, "POST", "/api/participants",
        json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Adm", "family_name", "Admtest",
                  "date_of_birth", "1980-01-01", "team", "prestwich"),
        &r);
    expect_error(&r, 403, NULL, "admin create");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", G.alice_pid);
    rq(&G.adm, "GET", path, NULL, &r);
    expect_error(&r, 403, NULL, "admin encounters");
    cbt_resp_free(&r);
    char when[40];
    iso_offset(-3600, when);
    rqj(&G.adm, "POST", "/api/encounters",
        json_pack("{s:s, s:s, s:s}", "participant_id", G.alice_pid, "type", "phone", "occurred_at",
                  when),
        &r);
    expect_error(&r, 403, NULL, "admin encounter");
    cbt_resp_free(&r);
    rq(&G.adm, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "admin me");
    cbt_resp_free(&r);

    /* Nothing above changed bob's participant. */
    snprintf(path, sizeof(path), "/api/participants/%s", G.bob_pid);
    rq(&G.bob, "GET", path, NULL, &r);
    expect_status(&r, 200, "bob GET own");
    assert_string_equal(cbt_jstr(&r, "given_name"), "Bernard");
    cbt_resp_free(&r);
}

/*
 * Creating in another team is refused (403); moving a record there with
 * PATCH must be refused the same way, or a coach writes into a caseload
 * they cannot see.
 */
static void test_coach_cannot_move_participant_to_other_team(void **state)
{
    (void)state;
    struct cbt_resp r;
    char id[40], path[128];
    create_participant(&G.bob, "Mover", "Moveteamtest", "1970-01-01", NULL, id);
    snprintf(path, sizeof(path), "/api/participants/%s", id);
    rqj(&G.bob, "PATCH", path, json_pack("{s:s}", "team", "prestwich"), &r);
    long st = r.status;
    cbt_resp_free(&r);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "manager reads the moved record");
    char team[80];
    snprintf(team, sizeof(team), "%s", cbt_jstr(&r, "team") ? cbt_jstr(&r, "team") : "");
    cbt_resp_free(&r);
    if (st == 200 || strcmp(team, "radcliffe") != 0) {
        fail_msg("coach of radcliffe moved a participant to %s (PATCH answered %ld)", team, st);
    }
    if (st != 403 && st != 400) {
        fail_msg("PATCH team to another team: want 403, got %ld", st);
    }
    /* A manager may move people between teams. */
    rqj(&G.mgr, "PATCH", path, json_pack("{s:s}", "team", "whitefield"), &r);
    expect_status(&r, 200, "manager moves a participant");
    cbt_resp_free(&r);
}

/* ------------------------------------------------------------- encounters */

/* An answer body of test_concurrent_writes (capped; the rest is dropped). */
struct cw_buf {
    char data[4096];
    size_t len;
};

/* One writer thread of test_concurrent_writes: raw libcurl, no cmocka calls. */
struct cw_thread {
    pthread_t th;
    int idx;
    const char *pid, *when;
    int created, refused, other; /* 201s, 400s on the bad ones, anything else */
    char ids[CW_PER][40];
};

static size_t cw_collect(char *d, size_t s, size_t n, void *u)
{
    struct cw_buf *b = u;
    size_t len = s * n;
    if (b->len + len < sizeof(b->data)) {
        memcpy(b->data + b->len, d, len);
        b->len += len;
        b->data[b->len] = '\0';
    }
    return len;
}

static void *cw_main(void *arg)
{
    struct cw_thread *t = arg;
    CURL *k = curl_easy_init();
    char cookie[120], csrf[120], url[300], body[300];
    snprintf(cookie, sizeof(cookie), "cb_session=%s", G.s_alice.token);
    snprintf(csrf, sizeof(csrf), "X-CSRF-Token: %s", G.alice.csrf);
    struct curl_slist *hl = curl_slist_append(NULL, csrf);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    snprintf(url, sizeof(url), "%s/api/encounters", G.srv.url);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_COOKIE, cookie);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, cw_collect);
    for (int i = 0; i < CW_PER; i++) {
        int bad = (i + t->idx) % 4 == 0; /* a failing job in the middle of others */
        snprintf(body, sizeof(body),
                 "{\"participant_id\":\"%s\",\"type\":\"%s\",\"occurred_at\":\"%s\","
                 "\"notes\":\"cw %d.%d\"}",
                 t->pid, bad ? "banana" : "drop_in", t->when, t->idx, i);
        struct cw_buf out;
        out.len = 0;
        out.data[0] = '\0';
        curl_easy_setopt(k, CURLOPT_WRITEDATA, &out);
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
        long status = 0;
        if (curl_easy_perform(k) == CURLE_OK) {
            curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
        }
        json_t *j = json_loads(out.data, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        if (!bad && status == 201 && id) {
            snprintf(t->ids[t->created++], sizeof(t->ids[0]), "%s", id);
        } else if (bad && status == 400) {
            t->refused++;
        } else {
            t->other++;
        }
        json_decref(j);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(k);
    return NULL;
}

/*
 * Concurrent writes share group commits: every valid write is acknowledged
 * with its own record and is then listed, every invalid one in the same
 * groups gets its own 400, and nothing else happens.
 */
static void test_concurrent_writes(void **state)
{
    (void)state;
    char pid[40], when[40], path[160];
    create_participant(&G.alice, "Connie", "Concurrentwrites", "1966-06-06", NULL, pid);
    iso_offset(-7200, when);
    static struct cw_thread t[CW_THREADS];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < CW_THREADS; i++) {
        t[i].idx = i;
        t[i].pid = pid;
        t[i].when = when;
        assert_int_equal(pthread_create(&t[i].th, NULL, cw_main, &t[i]), 0);
    }
    int created = 0, refused = 0;
    for (int i = 0; i < CW_THREADS; i++) {
        pthread_join(t[i].th, NULL);
        assert_int_equal(t[i].other, 0);
        created += t[i].created;
        refused += t[i].refused;
    }
    assert_int_equal(created + refused, CW_THREADS * CW_PER);
    assert_int_equal(refused, CW_THREADS * CW_PER / 4);
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", pid);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "concurrent encounters");
    assert_int_equal(items_count(&r), (size_t)created);
    for (int i = 0; i < CW_THREADS; i++) {
        for (int k = 0; k < t[i].created; k++) {
            assert_true(items_has_id(&r, t[i].ids[k]));
        }
    }
    cbt_resp_free(&r);
}

/* One thread of test_concurrent_reads_and_writes: raw libcurl, no cmocka calls. */
struct cr_thread {
    pthread_t th;
    int idx;
    const char *pid, *when;
    int opened, timelines, created, other; /* 200 opens, 200 timelines, 201s, anything else */
};

static void *cr_main(void *arg)
{
    struct cr_thread *t = arg;
    CURL *k = curl_easy_init();
    char cookie[120], csrf[120], url[300], body[300];
    snprintf(cookie, sizeof(cookie), "cb_session=%s", G.s_alice.token);
    snprintf(csrf, sizeof(csrf), "X-CSRF-Token: %s", G.alice.csrf);
    struct curl_slist *hl = curl_slist_append(NULL, csrf);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(k, CURLOPT_COOKIE, cookie);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, cw_collect);
    for (int i = 0; i < CW_PER; i++) {
        int op = (i + t->idx) % 3; /* open, timeline, record an encounter */
        if (op == 2) {
            snprintf(url, sizeof(url), "%s/api/encounters", G.srv.url);
            snprintf(body, sizeof(body),
                     "{\"participant_id\":\"%s\",\"type\":\"drop_in\",\"occurred_at\":\"%s\","
                     "\"notes\":\"cr %d.%d\"}",
                     t->pid, t->when, t->idx, i);
            curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
        } else {
            snprintf(url, sizeof(url), "%s/api/participants/%s%s", G.srv.url, t->pid,
                     op == 1 ? "/timeline" : "");
            curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
        }
        curl_easy_setopt(k, CURLOPT_URL, url);
        struct cw_buf out;
        out.len = 0;
        out.data[0] = '\0';
        curl_easy_setopt(k, CURLOPT_WRITEDATA, &out);
        long status = 0;
        if (curl_easy_perform(k) == CURLE_OK) {
            curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
        }
        if (op == 0 && status == 200) {
            t->opened++;
        } else if (op == 1 && status == 200) {
            t->timelines++;
        } else if (op == 2 && status == 201) {
            t->created++;
        } else {
            t->other++;
        }
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(k);
    return NULL;
}

/* Count the items of an audit listing with this action and outcome "ok". */
static size_t audit_count(const struct cbt_resp *r, const char *action)
{
    json_t *j = json_loads(r->body, 0, NULL);
    json_t *items = json_object_get(j, "items"), *it;
    size_t i, n = 0;
    json_array_foreach(items, i, it)
    {
        const char *a = json_string_value(json_object_get(it, "action"));
        const char *o = json_string_value(json_object_get(it, "outcome"));
        n += a && o && strcmp(a, action) == 0 && strcmp(o, "ok") == 0;
    }
    json_decref(j);
    return n;
}

/*
 * Audited reads (a record opened, its timeline) concurrent with writes to the
 * same person: every request succeeds, and every read answered has its own
 * committed audit event (the audit rows queue with the writes in the writer).
 */
static void test_concurrent_reads_and_writes(void **state)
{
    (void)state;
    char pid[40], when[40], path[160];
    create_participant(&G.alice, "Cora", "Concurrentreads", "1967-07-07", NULL, pid);
    iso_offset(-7200, when);
    static struct cr_thread t[CW_THREADS];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < CW_THREADS; i++) {
        t[i].idx = i;
        t[i].pid = pid;
        t[i].when = when;
        assert_int_equal(pthread_create(&t[i].th, NULL, cr_main, &t[i]), 0);
    }
    size_t opened = 0, timelines = 0, created = 0;
    for (int i = 0; i < CW_THREADS; i++) {
        pthread_join(t[i].th, NULL);
        assert_int_equal(t[i].other, 0);
        opened += (size_t)t[i].opened;
        timelines += (size_t)t[i].timelines;
        created += (size_t)t[i].created;
    }
    assert_int_equal(opened + timelines + created, CW_THREADS * CW_PER);
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", pid);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "concurrent encounters");
    assert_int_equal(items_count(&r), created);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/audit", pid);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "audit of concurrent reads");
    assert_int_equal(audit_count(&r, "participant.read"), opened);
    assert_int_equal(audit_count(&r, "participant.timeline"), timelines);
    assert_int_equal(audit_count(&r, "encounter.create"), created);
    cbt_resp_free(&r);
}

/*
 * An offline queue's write carries an Idempotency-Key: the answer is stored
 * (through the writer) after the reply, so a replay on the same keep-alive
 * connection (the client's one curl handle: the same worker, which stored it
 * before reading the next request) gets the same answer without a second write,
 * and the key reused for another request is refused.
 */
static void test_idempotent_replay(void **state)
{
    (void)state;
    char pid[40], when[40], body[300], path[160], id[40];
    create_participant(&G.alice, "Ida", "Idempotent", "1968-08-08", NULL, pid);
    iso_offset(-3600, when);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"type\":\"drop_in\",\"occurred_at\":\"%s\"}", pid, when);
    const char *const hdr[] = {"Idempotency-Key: it-api-replay-0001", NULL};
    struct cbt_resp r;
    rq_ex(&G.alice, "POST", "/api/encounters", body, NULL, hdr, &r);
    expect_status(&r, 201, "first write with a key");
    assert_false(header_contains(&r, "Idempotent-Replay", "true"));
    snprintf(id, sizeof(id), "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
    rq_ex(&G.alice, "POST", "/api/encounters", body, NULL, hdr, &r);
    expect_status(&r, 201, "replay");
    assert_true(header_contains(&r, "Idempotent-Replay", "true"));
    assert_string_equal(cbt_jstr(&r, "id"), id);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", pid);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "encounters after a replay");
    assert_int_equal(items_count(&r), 1);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s", pid);
    rq_ex(&G.alice, "PATCH", path, "{\"preferred_name\":\"Idy\"}", NULL, hdr, &r);
    expect_status(&r, 422, "key reused for another request");
    cbt_resp_free(&r);
    /* the same method and path with another body: another request too, not a replay */
    char other[300];
    snprintf(other, sizeof(other),
             "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"%s\"}", pid, when);
    rq_ex(&G.alice, "POST", "/api/encounters", other, NULL, hdr, &r);
    expect_status(&r, 422, "key reused with another body");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", pid);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "encounters after a refused reuse");
    assert_int_equal(items_count(&r), 1);
    cbt_resp_free(&r);
}

static void test_encounters(void **state)
{
    (void)state;
    struct cbt_resp r;
    char pid[40], path[160], when[40], future[40];
    create_participant(&G.alice, "Enid", "Encountertest", "1955-05-05", NULL, pid);
    iso_offset(-3600, when);
    iso_offset(86400, future);
    static char longnotes[10002];
    memset(longnotes, 'n', 10001);
    longnotes[10001] = '\0';

    rqj(&G.alice, "POST", "/api/encounters",
        json_pack("{s:s, s:s, s:s, s:s}", "participant_id", pid, "type", "one_to_one",
                  "occurred_at", when, "notes", "Talked about walking.\nAgreed a plan."),
        &r);
    expect_status(&r, 201, "encounter");
    expect_api_headers(&r, "encounter");
    assert_true(is_uuid(cbt_jstr(&r, "id")));
    assert_string_equal(cbt_jstr(&r, "coach"), G.s_alice.uid);
    assert_string_equal(cbt_jstr(&r, "team"), "prestwich");
    assert_string_equal(cbt_jstr(&r, "participant_id"), pid);
    assert_string_equal(cbt_jstr(&r, "type"), "one_to_one");
    assert_int_equal(strlen(cbt_jstr(&r, "occurred_at")), 24); /* ....sss Z */
    cbt_resp_free(&r);

    struct {
        json_t *body;
        const char *field;
    } bad[] = {
        {json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "banana", "occurred_at", when),
         "type"},
        {json_pack("{s:s, s:s}", "participant_id", pid, "occurred_at", when), "type"},
        {json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   "2024-03-01T10:00:00"),
         "occurred_at"},
        {json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   "2024-03-01"),
         "occurred_at"},
        {json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   future),
         "occurred_at"},
        {json_pack("{s:s, s:s}", "participant_id", pid, "type", "phone"), "occurred_at"},
        {json_pack("{s:s, s:s, s:s}", "participant_id", "nope", "type", "phone", "occurred_at",
                   when),
         "participant_id"},
        {json_pack("{s:s, s:s}", "type", "phone", "occurred_at", when), "participant_id"},
        {json_pack("{s:s, s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   when, "coach", G.bob_uid),
         "coach"},
        {json_pack("{s:s, s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   when, "team", "radcliffe"),
         "team"},
        {json_pack("{s:s, s:s, s:s, s:i}", "participant_id", pid, "type", "phone", "occurred_at",
                   when, "notes", 5),
         "notes"},
        {json_pack("{s:s, s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   when, "notes", longnotes),
         "notes"},
    };
    char what[96];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(what, sizeof(what), "bad encounter %zu (%s)", i, bad[i].field);
        rqj(&G.alice, "POST", "/api/encounters", bad[i].body, &r);
        expect_error(&r, 400, bad[i].field, what);
        cbt_resp_free(&r);
    }
    char unknown[40];
    mint_uuid(unknown);
    rqj(&G.alice, "POST", "/api/encounters",
        json_pack("{s:s, s:s, s:s}", "participant_id", unknown, "type", "phone", "occurred_at",
                  when),
        &r);
    expect_error(&r, 400, "participant_id", "unknown participant");
    cbt_resp_free(&r);
    rqj(&G.alice, "POST", "/api/encounters",
        json_pack("{s:s, s:s, s:s}", "participant_id", G.bob_pid, "type", "phone", "occurred_at",
                  when),
        &r);
    if (r.status != 400 && r.status != 404) {
        fail_msg("encounter for another team's participant: %ld %s", r.status, r.body);
    }
    expect_api_headers(&r, "other team encounter");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", G.bob_pid);
    rq(&G.bob, "GET", path, NULL, &r);
    expect_status(&r, 200, "bob's encounters");
    assert_int_equal(items_count(&r), 0);
    cbt_resp_free(&r);

    /* Newest first, by instant (zones honoured), with canonical UTC times. */
    char p2[40], e1[40], e2[40], e3[40];
    create_participant(&G.alice, "Olga", "Ordertest", "1956-06-06", NULL, p2);
    static const char *const times[] = {"2024-05-01T09:00:00+01:00", "2024-05-01T08:30:00Z",
                                        "2024-04-30T23:00:00-02:00"};
    char *ids[] = {e1, e2, e3};
    for (int i = 0; i < 3; i++) {
        rqj(&G.alice, "POST", "/api/encounters",
            json_pack("{s:s, s:s, s:s}", "participant_id", p2, "type", "drop_in", "occurred_at",
                      times[i]),
            &r);
        expect_status(&r, 201, times[i]);
        snprintf(ids[i], 40, "%s", cbt_jstr(&r, "id"));
        cbt_resp_free(&r);
    }
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", p2);
    rq(&G.alice, "GET", path, NULL, &r);
    expect_status(&r, 200, "encounter list");
    expect_api_headers(&r, "encounter list");
    assert_int_equal(items_count(&r), 3);
    json_t *items = json_object_get(r.json, "items");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), e2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "id")), e1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 2), "id")), e3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "occurred_at")),
                        "2024-05-01T08:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 2), "occurred_at")),
                        "2024-05-01T01:00:00.000Z");
    cbt_resp_free(&r);
}

/*
 * An encounter for another team's participant must be refused exactly like
 * one for a participant that does not exist, or the answer tells a coach
 * which ids exist elsewhere.
 */
static void test_encounter_other_team_no_leak(void **state)
{
    (void)state;
    struct cbt_resp other, unknown;
    char id[40], when[40];
    mint_uuid(id);
    iso_offset(-600, when);
    rqj(&G.alice, "POST", "/api/encounters",
        json_pack("{s:s, s:s, s:s}", "participant_id", G.bob_pid, "type", "phone", "occurred_at",
                  when),
        &other);
    rqj(&G.alice, "POST", "/api/encounters",
        json_pack("{s:s, s:s, s:s}", "participant_id", id, "type", "phone", "occurred_at", when),
        &unknown);
    char mo[300], mu[300], co[64], cu[64];
    long so = other.status, su = unknown.status;
    snprintf(mo, sizeof(mo), "%s",
             cbt_jstr(&other, "error.message") ? cbt_jstr(&other, "error.message") : "");
    snprintf(mu, sizeof(mu), "%s",
             cbt_jstr(&unknown, "error.message") ? cbt_jstr(&unknown, "error.message") : "");
    snprintf(co, sizeof(co), "%s",
             cbt_jstr(&other, "error.code") ? cbt_jstr(&other, "error.code") : "");
    snprintf(cu, sizeof(cu), "%s",
             cbt_jstr(&unknown, "error.code") ? cbt_jstr(&unknown, "error.code") : "");
    cbt_resp_free(&other);
    cbt_resp_free(&unknown);
    if (so != su || strcmp(mo, mu) != 0 || strcmp(co, cu) != 0) {
        fail_msg("existence leak: other team's participant -> %ld %s \"%s\"; unknown id -> %ld "
                 "%s \"%s\"",
                 so, co, mo, su, cu, mu);
    }
    assert_true(so == 400 || so == 404);
}

/* ------------------------------------------------- HTTP-level behaviour */

static void test_unknown_route_and_method(void **state)
{
    (void)state;
    struct cbt_resp r;
    char v[128];
    rq(&G.alice, "GET", "/api/nope", NULL, &r);
    expect_error(&r, 404, NULL, "unknown API route");
    assert_string_equal(cbt_jstr(&r, "error.code"), "not_found");
    cbt_resp_free(&r);
    rq(&G.alice, "GET", "/api/participants/", NULL, &r);
    expect_error(&r, 404, NULL, "trailing slash");
    cbt_resp_free(&r);

    rq(&G.alice, "DELETE", "/api/me", NULL, &r);
    expect_error(&r, 405, NULL, "DELETE /api/me");
    assert_true(cbt_header(&r, "Allow", v, sizeof(v)));
    assert_string_equal(v, "GET");
    cbt_resp_free(&r);
    rq(&G.alice, "DELETE", "/api/participants", NULL, &r);
    expect_error(&r, 405, NULL, "DELETE /api/participants");
    assert_true(cbt_header(&r, "Allow", v, sizeof(v)));
    assert_non_null(strstr(v, "GET"));
    assert_non_null(strstr(v, "POST"));
    cbt_resp_free(&r);
    rq(&G.alice, "PUT", "/api/participants/00000000-0000-7000-8000-000000000000", "{}", &r);
    expect_error(&r, 405, NULL, "PUT participant");
    assert_true(cbt_header(&r, "Allow", v, sizeof(v)));
    assert_non_null(strstr(v, "PATCH"));
    cbt_resp_free(&r);
    rq(&G.alice, "GET", "/api/login", NULL, &r);
    expect_error(&r, 405, NULL, "GET /api/login");
    assert_true(cbt_header(&r, "Allow", v, sizeof(v)));
    assert_string_equal(v, "POST");
    cbt_resp_free(&r);
    rq(&G.alice, "POST", "/", "{}", &r);
    expect_error(&r, 405, NULL, "POST /");
    assert_true(cbt_header(&r, "Allow", v, sizeof(v)));
    assert_non_null(strstr(v, "GET"));
    cbt_resp_free(&r);
}

static void test_body_too_large(void **state)
{
    (void)state;
    size_t n = 1024 * 1024 + 4096;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    struct cbt_client c;
    struct cbt_resp r;
    new_client(&c);
    assert_int_equal(cbt_request_ex(&c, "POST", "/api/login", big, n, NULL, NULL, &r), 0);
    expect_error(&r, 413, NULL, "1 MiB + 4 KiB login body");
    cbt_resp_free(&r);
    /* Signed in, on a body route. */
    assert_int_equal(cbt_request_ex(&G.alice, "POST", "/api/participants", big, n, NULL, NULL, &r),
                     0);
    expect_error(&r, 413, NULL, "1 MiB + 4 KiB participant body");
    cbt_resp_free(&r);
    /* Without a Content-Length (chunked), the cap holds too. */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    if (cbt_request_ex(&c, "POST", "/api/login", big, n, NULL, chunked, &r) == 0) {
        expect_error(&r, 413, NULL, "chunked 1 MiB + 4 KiB body");
        cbt_resp_free(&r);
    } else {
        print_message("chunked oversized body: connection closed before a response\n");
    }
    free(big);
    cbt_client_free(&c);

    /* The server still answers, on a new connection and on the old client. */
    new_client(&c);
    curl_easy_setopt(c.curl, CURLOPT_FRESH_CONNECT, 1L);
    rq(&c, "GET", "/healthz", NULL, &r);
    expect_status(&r, 200, "healthz after 413");
    cbt_resp_free(&r);
    cbt_client_free(&c);
    rq(&G.alice, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "alice after 413");
    cbt_resp_free(&r);

    /* Exactly at the cap is not too large (it is just not valid JSON). */
    n = 1024 * 1024;
    big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"x\":1}", 7);
    big[n] = '\0';
    new_client(&c);
    assert_int_equal(cbt_request_ex(&c, "POST", "/api/login", big, n, NULL, NULL, &r), 0);
    if (r.status == 413) {
        fail_msg("a body of exactly 1 MiB was refused as too large");
    }
    expect_error(&r, 400, "x", "1 MiB body with an unknown field");
    cbt_resp_free(&r);
    cbt_client_free(&c);
    free(big);
}

static void test_assets(void **state)
{
    (void)state;
    struct cbt_client c;
    struct cbt_resp r;
    char etag[256], v[256], hdr[300];
    new_client(&c);
    rq(&c, "GET", "/", NULL, &r);
    expect_status(&r, 200, "GET /");
    expect_security_headers(&r, "GET /");
    assert_true(header_contains(&r, "Content-Type", "text/html"));
    assert_true(cbt_header(&r, "ETag", etag, sizeof(etag)));
    assert_true(etag[0] == '"' || strncmp(etag, "W/\"", 3) == 0);
    assert_true(ci_find(r.body, "<html") != NULL);
    /* A hashed asset the page refers to. */
    char asset[200] = "";
    const char *a = strstr(r.body, "/assets/");
    if (a) {
        size_t k = strcspn(a, "\"' >");
        if (k < sizeof(asset)) {
            memcpy(asset, a, k);
            asset[k] = '\0';
        }
    }
    cbt_resp_free(&r);

    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    const char *inm[] = {hdr, NULL};
    rq_ex(&c, "GET", "/", NULL, NULL, inm, &r);
    expect_status(&r, 304, "If-None-Match");
    assert_int_equal(r.body_len, 0);
    assert_true(cbt_header(&r, "ETag", v, sizeof(v)));
    assert_string_equal(v, etag);
    cbt_resp_free(&r);
    const char *stale[] = {"If-None-Match: \"stale-etag\"", NULL};
    rq_ex(&c, "GET", "/", NULL, NULL, stale, &r);
    expect_status(&r, 200, "stale If-None-Match");
    cbt_resp_free(&r);

    const char *gz[] = {"Accept-Encoding: gzip, deflate", NULL};
    rq_ex(&c, "GET", "/", NULL, NULL, gz, &r);
    expect_status(&r, 200, "gzip");
    expect_security_headers(&r, "gzip asset");
    assert_true(cbt_header(&r, "Content-Encoding", v, sizeof(v)));
    assert_string_equal(v, "gzip");
    assert_true(r.body_len > 2);
    assert_int_equal((unsigned char)r.body[0], 0x1f);
    assert_int_equal((unsigned char)r.body[1], 0x8b);
    assert_true(header_contains(&r, "Vary", "Accept-Encoding"));
    cbt_resp_free(&r);
    rq(&c, "GET", "/index.html", NULL, &r);
    expect_status(&r, 200, "/index.html");
    assert_false(cbt_header(&r, "Content-Encoding", v, sizeof(v)));
    cbt_resp_free(&r);

    if (asset[0]) {
        rq(&c, "GET", asset, NULL, &r);
        expect_status(&r, 200, asset);
        expect_security_headers(&r, asset);
        assert_true(header_contains(&r, "Cache-Control", "immutable"));
        cbt_resp_free(&r);
    }
    rq(&c, "HEAD", "/", NULL, &r);
    expect_status(&r, 200, "HEAD /");
    assert_int_equal(r.body_len, 0);
    cbt_resp_free(&r);

    rq(&c, "GET", "/assets/no-such-file.js", NULL, &r);
    expect_error(&r, 404, NULL, "unknown asset");
    cbt_resp_free(&r);
    rq(&c, "GET", "/nope", NULL, &r);
    expect_error(&r, 404, NULL, "unknown path");
    cbt_resp_free(&r);
    cbt_client_free(&c);
}

static void test_security_headers_everywhere(void **state)
{
    (void)state;
    struct cbt_client anon;
    struct cbt_resp r;
    new_client(&anon);
    rq(&anon, "GET", "/healthz", NULL, &r);
    expect_api_headers(&r, "healthz");
    cbt_resp_free(&r);
    rq(&G.alice, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "me");
    expect_api_headers(&r, "API 200");
    cbt_resp_free(&r);
    rq(&G.alice, "GET", "/api/participants?limit=1", NULL, &r);
    expect_status(&r, 200, "search");
    expect_api_headers(&r, "API search 200");
    cbt_resp_free(&r);
    rq(&anon, "GET", "/api/participants", NULL, &r);
    expect_error(&r, 401, NULL, "401");
    cbt_resp_free(&r);
    rq(&anon, "GET", "/api/nope", NULL, &r);
    expect_error(&r, 404, NULL, "API 404");
    cbt_resp_free(&r);
    rq(&anon, "GET", "/nope.html", NULL, &r);
    expect_status(&r, 404, "asset 404");
    expect_security_headers(&r, "asset 404");
    cbt_resp_free(&r);
    rq(&anon, "PATCH", "/api/me", "{}", &r);
    expect_error(&r, 405, NULL, "405");
    cbt_resp_free(&r);
    rq(&anon, "GET", "/", NULL, &r);
    expect_status(&r, 200, "asset");
    expect_security_headers(&r, "asset");
    cbt_resp_free(&r);
    rq_csrf(&G.alice, "", "POST", "/api/participants", "{}", &r);
    expect_error(&r, 403, NULL, "403");
    cbt_resp_free(&r);
    rq(&G.alice, "POST", "/api/participants", "{}", &r);
    expect_error(&r, 400, NULL, "400");
    cbt_resp_free(&r);
    rq_ex(&G.alice, "POST", "/api/participants", "{}", "text/plain", NULL, &r);
    expect_error(&r, 415, NULL, "415");
    cbt_resp_free(&r);

    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    assert_int_equal(cbt_request_ex(&anon, "POST", "/api/login", big, n, NULL, NULL, &r), 0);
    free(big);
    expect_error(&r, 413, NULL, "413");
    cbt_resp_free(&r);

    /* CivetWeb's own error path (an oversized request header). */
    char *hv = malloc(40000);
    assert_non_null(hv);
    memcpy(hv, "X-Filler: ", 10);
    memset(hv + 10, 'a', 40000 - 11);
    hv[40000 - 1] = '\0';
    const char *hdrs[] = {hv, NULL};
    struct cbt_client c2;
    new_client(&c2);
    if (cbt_request_ex(&c2, "GET", "/healthz", NULL, 0, NULL, hdrs, &r) == 0) {
        assert_true(r.status >= 400);
        expect_security_headers(&r, "oversized header error");
        cbt_resp_free(&r);
    }
    free(hv);
    cbt_client_free(&c2);
    cbt_client_free(&anon);
}

/* ------------------------------------------------------------------ probes */

static void test_path_probes(void **state)
{
    (void)state;
    static const char *const probes[] = {
        "/api/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/api/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/assets/../../../../etc/passwd",
        "/index.cgi",
        "/x.shtml",
        "/cgi-bin/test.cgi",
        "/assets/",
        "/assets",
        "/api/",
        "/.git/config",
        "/coachbox.db",
        "/etc/",
        "/index.html/",
        NULL,
    };
    struct cbt_client c;
    new_client(&c);
    curl_easy_setopt(c.curl, CURLOPT_PATH_AS_IS, 1L);
    for (int i = 0; probes[i]; i++) {
        struct cbt_resp r;
        rq(&c, "GET", probes[i], NULL, &r);
        expect_error(&r, 404, NULL, probes[i]);
        if (strstr(r.body, "root:") || ci_find(r.body, "<html") || ci_find(r.body, "Index of") ||
            strstr(r.body, "SQLite format")) {
            fail_msg("%s leaked content: %.200s", probes[i], r.body);
        }
        cbt_resp_free(&r);
    }
    cbt_client_free(&c);
}

/*
 * An encoded NUL cuts the decoded path short: "/index.html%00.js" is served
 * as /index.html and "/api/me%00x" as /api/me.  The server should refuse a
 * path it cannot represent rather than route a different one.
 */
static void test_path_probe_encoded_nul(void **state)
{
    (void)state;
    static const char *const probes[] = {"/index.html%00.js", "/api/me%00.png", "/%00", NULL};
    for (int i = 0; probes[i]; i++) {
        struct cbt_resp r;
        rq(&G.alice, "GET", probes[i], NULL, &r);
        long st = r.status;
        cbt_resp_free(&r);
        if (st != 400 && st != 404) {
            fail_msg("%s answered %ld: routed as a shorter path", probes[i], st);
        }
    }
}

/* ------------------------------------------------------------------ audit */

static int row_contains(sqlite3_stmt *st, const char *needle)
{
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        const unsigned char *t = sqlite3_column_text(st, i);
        if (t && strstr((const char *)t, needle)) {
            return 1;
        }
    }
    return 0;
}

static int count_rows(sqlite3 *db, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = prepare_bound(db, sql, a, b);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

/* A write with key (hdr) answered want, then the same again is a replay. */
static void keyed_write(struct cbt_client *c, const char *method, const char *path,
                        const char *body, const char *const *hdr, long want, char id_out[40])
{
    struct cbt_resp r;
    rq_ex(c, method, path, body, NULL, hdr, &r);
    expect_status(&r, want, hdr[0]);
    assert_false(header_contains(&r, "Idempotent-Replay", "true"));
    snprintf(id_out, 40, "%s", cbt_jstr(&r, "id") ? cbt_jstr(&r, "id") : "");
    cbt_resp_free(&r);
    /* Replayed while nothing changed (and so stored before anything does). */
    rq_ex(c, method, path, body, NULL, hdr, &r);
    expect_status(&r, want, hdr[0]);
    assert_true(header_contains(&r, "Idempotent-Replay", "true"));
    assert_string_equal(cbt_jstr(&r, "id"), id_out);
    cbt_resp_free(&r);
}

/* The replay is refused (409 idempotency_key_stale) and shows none of the
 * record: no id, no name, nothing of the stored answer. */
static void expect_stale(struct cbt_client *c, const char *method, const char *path,
                         const char *body, const char *const *hdr, const char *const *absent)
{
    struct cbt_resp r;
    rq_ex(c, method, path, body, NULL, hdr, &r);
    expect_error(&r, 409, "Idempotency-Key", hdr[0]);
    assert_string_equal(cbt_jstr(&r, "error.code"), "idempotency_key_stale");
    assert_false(header_contains(&r, "Idempotent-Replay", "true"));
    for (int i = 0; absent[i]; i++) {
        if (strstr(r.body, absent[i])) {
            fail_msg("%s: a refused replay shows %s: %.300s", hdr[0], absent[i], r.body);
        }
    }
    cbt_resp_free(&r);
}

/*
 * SECURITY.md F16: a replayed answer is served only while the user may still
 * read what it shows.  A person moved to another team since (the coach's
 * access unchanged), an account whose role or team changed, and an answer
 * stored before answers kept their access: each replay is refused 409
 * idempotency_key_stale, showing nothing, and writes nothing again.
 */
static void test_idempotent_replay_access(void **state)
{
    (void)state;
    struct cbt_resp r;
    char pid[40], eid[40], id[40], when[40], body[300], path[160];
    iso_offset(-3600, when);

    /* A person moved to another team: the encounter and the person's patch. */
    create_participant(&G.alice, "Moira", "Movedreplay", "1969-09-09", NULL, pid);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"type\":\"drop_in\",\"occurred_at\":\"%s\","
             "\"notes\":\"Stalereplaynote\"}",
             pid, when);
    const char *const h_enc[] = {"Idempotency-Key: it-api-stale-0001", NULL};
    const char *const h_pat[] = {"Idempotency-Key: it-api-stale-0002", NULL};
    keyed_write(&G.alice, "POST", "/api/encounters", body, h_enc, 201, eid);
    snprintf(path, sizeof(path), "/api/participants/%s", pid);
    keyed_write(&G.alice, "PATCH", path, "{\"preferred_name\":\"Mo\"}", h_pat, 200, id);
    rqj(&G.mgr, "PATCH", path, json_pack("{s:s}", "team", "radcliffe"), &r);
    expect_status(&r, 200, "manager moves the person");
    cbt_resp_free(&r);
    const char *const gone[] = {pid, eid, "Movedreplay", "Stalereplaynote", NULL};
    expect_stale(&G.alice, "POST", "/api/encounters", body, h_enc, gone);
    expect_stale(&G.alice, "PATCH", path, "{\"preferred_name\":\"Mo\"}", h_pat, gone);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", pid);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "encounters after a refused replay");
    assert_int_equal(items_count(&r), 1);
    cbt_resp_free(&r);

    /* The account's role, then its team, changed (as a sync from central does). */
    struct cbt_client c;
    struct session s;
    new_client(&c);
    assert_int_equal(login_session(&c, "erin", &s), 200);
    const char *const h_new[] = {"Idempotency-Key: it-api-stale-0003", NULL};
    const char *const h_enc2[] = {"Idempotency-Key: it-api-stale-0004", NULL};
    char epid[40];
    keyed_write(&c, "POST", "/api/participants",
                "{\"given_name\":\"Erica\",\"family_name\":\"Rolereplay\","
                "\"date_of_birth\":\"1971-01-01\"}",
                h_new, 201, epid);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"%s\"}", epid, when);
    keyed_write(&c, "POST", "/api/encounters", body, h_enc2, 201, eid);
    db_exec("UPDATE users SET role = 'admin', team = NULL WHERE id = ?1", s.uid, NULL);
    const char *const gone2[] = {epid, eid, "Rolereplay", NULL};
    expect_stale(&c, "POST", "/api/participants",
                 "{\"given_name\":\"Erica\",\"family_name\":\"Rolereplay\","
                 "\"date_of_birth\":\"1971-01-01\"}",
                 h_new, gone2);
    db_exec("UPDATE users SET role = 'coach', team = 'radcliffe' WHERE id = ?1", s.uid, NULL);
    expect_stale(&c, "POST", "/api/encounters", body, h_enc2, gone2);
    cbt_client_free(&c);

    /* An answer stored before migration 22 (no access kept) is not replayed. */
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"type\":\"video\",\"occurred_at\":\"%s\"}", G.alice_pid,
             when);
    const char *const h_old[] = {"Idempotency-Key: it-api-stale-0005", NULL};
    keyed_write(&G.alice, "POST", "/api/encounters", body, h_old, 201, eid);
    db_exec("UPDATE idempotency SET access = NULL WHERE user_id = ?1 AND key = ?2", G.s_alice.uid,
            "it-api-stale-0005");
    const char *const gone3[] = {eid, NULL};
    expect_stale(&G.alice, "POST", "/api/encounters", body, h_old, gone3);
}

static void test_audit_trail(void **state)
{
    (void)state;
    struct cbt_resp r;
    char pid[40], path[128];
    /* Fresh events: a failed and a good login, a create, a read, a denied read. */
    struct cbt_client c;
    struct session s;
    new_client(&c);
    assert_int_equal(cbt_login(&c, "rot", WRONG_PW), 401);
    assert_int_equal(login_session(&c, "rot", &s), 200);
    create_participant(&c, "Audrey", "Audittest", "1966-06-16", NULL, pid);
    snprintf(path, sizeof(path), "/api/participants/%s", pid);
    rq(&c, "GET", path, NULL, &r);
    expect_status(&r, 200, "read for audit");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s", G.bob_pid);
    rq(&c, "GET", path, NULL, &r);
    expect_status(&r, 404, "denied read for audit");
    cbt_resp_free(&r);

    char dbpath[700];
    snprintf(dbpath, sizeof(dbpath), "%s/coachbox.db", G.srv.data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_true(count_rows(db,
                           "SELECT count(*) FROM audit_events WHERE action = 'login' AND "
                           "outcome = 'ok' AND actor = ?1",
                           s.uid, NULL) >= 1);
    assert_true(count_rows(db,
                           "SELECT count(*) FROM audit_events WHERE action = 'login' AND "
                           "outcome = 'failed' AND actor = ?1",
                           s.uid, NULL) >= 1);
    assert_int_equal(count_rows(db,
                                "SELECT count(*) FROM audit_events WHERE action = "
                                "'participant.create' AND entity_id = ?1 AND actor = ?2",
                                pid, s.uid),
                     1);
    assert_true(count_rows(db,
                           "SELECT count(*) FROM audit_events WHERE action = "
                           "'participant.read' AND entity_id = ?1 AND actor = ?2 AND "
                           "outcome = 'ok'",
                           pid, s.uid) >= 1);
    assert_true(count_rows(db,
                           "SELECT count(*) FROM audit_events WHERE action = "
                           "'participant.read' AND entity_id = ?1 AND actor = ?2 AND "
                           "outcome = 'denied'",
                           G.bob_pid, s.uid) >= 1);
    assert_true(count_rows(db,
                           "SELECT count(*) FROM audit_events WHERE action = 'csrf' AND "
                           "outcome = 'denied'",
                           NULL, NULL) >= 1);

    /* No credential or token in any audit event, nor anywhere in the database. */
    const char *secrets[] = {PW, WRONG_PW, s.token, G.s_alice.token, c.csrf, NULL};
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM audit_events", -1, &st, NULL),
                     SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        for (int i = 0; secrets[i]; i++) {
            if (secrets[i][0] && row_contains(st, secrets[i])) {
                fail_msg("audit row %d contains secret #%d", rows, i);
            }
        }
    }
    sqlite3_finalize(st);
    assert_true(rows > 5);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char sql[200];
        sqlite3_stmt *t;
        snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"",
                 (const char *)sqlite3_column_text(st, 0));
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &t, NULL), SQLITE_OK);
        while (sqlite3_step(t) == SQLITE_ROW) {
            for (int i = 0; i < 4; i++) { /* passwords and session tokens, not CSRF */
                if (secrets[i][0] && row_contains(t, secrets[i])) {
                    fail_msg("table %s stores secret #%d in clear", sqlite3_column_text(st, 0), i);
                }
            }
        }
        sqlite3_finalize(t);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    cbt_client_free(&c);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    srand((unsigned)time(NULL) ^ (unsigned)clock());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_login_ok_and_cookie_flags),
        cmocka_unit_test(test_login_long_display_name),
        cmocka_unit_test(test_login_failures),
        cmocka_unit_test(test_login_rotates_session),
        cmocka_unit_test(test_login_throttled),
        cmocka_unit_test(test_disabled_account),
        cmocka_unit_test(test_session_idle_timeout),
        cmocka_unit_test(test_me),
        cmocka_unit_test(test_logout),
        cmocka_unit_test(test_routes_need_session_and_csrf),
        cmocka_unit_test(test_teams_list),
        cmocka_unit_test(test_participant_create),
        cmocka_unit_test(test_participant_client_id_and_conflict),
        cmocka_unit_test(test_participant_client_id_case),
        cmocka_unit_test(test_participant_validation),
        cmocka_unit_test(test_participant_get_errors),
        cmocka_unit_test(test_participant_patch),
        cmocka_unit_test(test_participant_discharge),
        cmocka_unit_test(test_participant_search),
        cmocka_unit_test(test_participant_paging),
        cmocka_unit_test(test_participant_search_merged_order),
        cmocka_unit_test(test_participant_search_escaping),
        cmocka_unit_test(test_team_isolation),
        cmocka_unit_test(test_coach_cannot_move_participant_to_other_team),
        cmocka_unit_test(test_encounters),
        cmocka_unit_test(test_concurrent_writes),
        cmocka_unit_test(test_concurrent_reads_and_writes),
        cmocka_unit_test(test_idempotent_replay),
        cmocka_unit_test(test_idempotent_replay_access),
        cmocka_unit_test(test_encounter_other_team_no_leak),
        cmocka_unit_test(test_unknown_route_and_method),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_assets),
        cmocka_unit_test(test_security_headers_everywhere),
        cmocka_unit_test(test_path_probes),
        cmocka_unit_test(test_path_probe_encoded_nul),
        cmocka_unit_test(test_audit_trail),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed || G.teardown_failed;
}
