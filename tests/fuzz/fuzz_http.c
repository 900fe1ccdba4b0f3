/*
 * fuzz_http.c - request routing, query parsing and the whole API dispatch.
 *
 * This harness includes server/http.c and stands in for CivetWeb's
 * connection functions (mg_get_request_info, mg_get_header, mg_read,
 * mg_printf, mg_write), so a fuzzed request goes through the real
 * on_request(): the percent-encoding refusal, the route matcher over every
 * route set, 405/Allow, session lookup, CSRF, Idempotency-Key replays, the
 * body cap and strict JSON parse, and then the real handler with its query
 * parsing (cb_req_query / mg_get_var) against a real store.  CivetWeb's pure
 * helpers (mg_get_var, mg_get_cookie) are the library's own.
 *
 * Input: a flags byte, then an HTTP/1.1-like request:
 *     METHOD SP TARGET LF (NAME: VALUE LF)* LF BODY
 * flags: bits 0-1 the user (0 coach, 1 lead, 2 manager, 3 admin); bit 2
 * send that user's session cookie; bit 3 send its CSRF token; bit 4 TLS
 * (the __Host- cookie name and HSTS); bit 5 no Content-Length (a chunked
 * body).  /api/login and /api/logout are skipped: PBKDF2 would make every
 * login cost 0.3 s, and a logout would end the session the corpus relies on.
 *
 * Invariants beyond memory safety: exactly one response per request, with a
 * well-formed status line, the security headers, HSTS exactly over TLS, an
 * honest Content-Length, no control characters inside header lines, and an
 * unauthenticated request never reaching a non-public handler (401 before
 * any handler runs).
 */
#include <civetweb.h>
#include <stdarg.h>

#include "../../server/http.c"

#include "coachbox/participant.h"
#include "coachbox/rng.h"
#include "coachbox/throttle.h"
#include "fuzz_common.h"

/* ------------------------------------------------ the fake connection */

struct fake_conn {
    struct mg_request_info ri;
    const char *body;
    size_t body_len, body_pos;
    char head[16384];
    size_t head_len;
    int head_done;
    size_t body_written;
    int overflow;
};

const struct mg_request_info *mg_get_request_info(const struct mg_connection *mc)
{
    return &((const struct fake_conn *)(const void *)mc)->ri;
}

const char *mg_get_header(const struct mg_connection *mc, const char *name)
{
    const struct fake_conn *f = (const struct fake_conn *)(const void *)mc;
    for (int i = 0; i < f->ri.num_headers; i++) {
        if (strcasecmp(f->ri.http_headers[i].name, name) == 0) {
            return f->ri.http_headers[i].value;
        }
    }
    return NULL;
}

int mg_read(struct mg_connection *mc, void *buf, size_t len)
{
    struct fake_conn *f = (struct fake_conn *)(void *)mc;
    size_t left = f->body_len - f->body_pos;
    size_t n = len < left ? len : left;
    memcpy(buf, f->body + f->body_pos, n);
    f->body_pos += n;
    return (int)n;
}

/* Head bytes until the blank line, then body bytes.  One write may carry the
 * head and (part of) the body together (cb_reply_json_text sends a small answer
 * with one write), so the blank line is looked for byte by byte. */
static void sink(struct fake_conn *f, const char *p, size_t n)
{
    while (n > 0 && !f->head_done) {
        if (f->head_len + 1 >= sizeof(f->head)) {
            f->overflow = 1;
            return;
        }
        f->head[f->head_len++] = *p++;
        f->head[f->head_len] = '\0';
        n--;
        if (f->head_len >= 4 && memcmp(f->head + f->head_len - 4, "\r\n\r\n", 4) == 0) {
            f->head_done = 1;
        }
    }
    f->body_written += n;
}

int mg_write(struct mg_connection *mc, const void *buf, size_t len)
{
    sink((struct fake_conn *)(void *)mc, buf, len);
    return (int)len;
}

int mg_printf(struct mg_connection *mc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    FUZZ_CHECK(n >= 0, "vasprintf");
    sink((struct fake_conn *)(void *)mc, s, (size_t)n);
    free(s);
    return n;
}

/* ------------------------------------------------------------ set-up */

static struct cb_store *store;
static struct cb_app app;
static struct cb_http http;
static struct {
    const char *name, *role, *team;
    char token[CB_TOKEN_STRLEN], csrf[CB_TOKEN_STRLEN];
} users[4] = {{"fz.coach", "coach", FZ_TEAM_A, "", ""},
              {"fz.lead", "lead", FZ_TEAM_A, "", ""},
              {"fz.manager", "manager", NULL, "", ""},
              {"fz.admin", "admin", NULL, "", ""}};

static void setup(void)
{
    if (store) {
        return;
    }
    if (cb_rng_init()) {
        abort();
    }
    store = fz_store_open("http");
    struct cb_conn *c = fz_conn(store);
    struct cb_user u[4];
    for (int i = 0; i < 4; i++) {
        struct cb_field_error fe = {"", ""};
        if (cb_user_create(c, users[i].name, users[i].name, users[i].role, users[i].team,
                           "fuzz-password-1234", &u[i], &fe) ||
            cb_session_create(c, u[i].id, users[i].token, users[i].csrf)) {
            fprintf(stderr, "fuzz: cannot create %s: %s\n", users[i].name, fe.message);
            abort();
        }
    }
    /* Two participants in two teams, with the ids the corpus uses. */
    struct cb_actor mgr = {&u[2], "127.0.0.1", 1};
    static const char *const people[][3] = {{FZ_P_A, FZ_TEAM_A, "Lovelace"},
                                            {FZ_P_B, FZ_TEAM_B, "Other"}};
    for (int i = 0; i < 2; i++) {
        json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", people[i][0], "given_name", "Ada",
                               "family_name", people[i][2], "date_of_birth", "1980-01-02", "team",
                               people[i][1]);
        json_t *out = NULL;
        struct cb_field_error fe = {"", ""};
        if (cb_participant_create(c, &mgr, in, &out, &fe)) {
            fprintf(stderr, "fuzz: seed participant: %s %s\n", fe.field, fe.message);
            abort();
        }
        json_decref(in);
        json_decref(out);
    }
    app.store = store;
    app.role = cb_store_role(store);
    app.allow_test_nhs = 1;
    app.max_body = 64 * 1024; /* smaller than production so the cap is reachable */
    app.sessions.idle_ms = 30 * 60 * 1000;
    app.sessions.absolute_ms = 12LL * 3600 * 1000;
    if (cb_throttle_new(5, 30 * 1000, 15 * 60 * 1000, &app.throttle) ||
        cb_throttle_new(20, 30 * 1000, 15 * 60 * 1000, &app.throttle_addr)) {
        abort();
    }
    http.app = &app;
}

/* ------------------------------------------------------- invariants */

static int head_has(const char *head, const char *line_prefix)
{
    size_t n = strlen(line_prefix);
    for (const char *p = head; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
        if (strncasecmp(p, line_prefix, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static void check_response(const struct fake_conn *f, int status, int tls, int head_method)
{
    FUZZ_CHECK(!f->overflow, "response head larger than 16 KiB");
    FUZZ_CHECK(f->head_done, "no complete response head: %.200s", f->head);
    int st = 0;
    FUZZ_CHECK(sscanf(f->head, "HTTP/1.1 %3d ", &st) == 1 && st == status && st >= 200 && st < 600,
               "bad status line or status %d vs %d: %.80s", st, status, f->head);
    /* Header lines: "Name: value", no stray CR/LF/NUL or other control bytes. */
    const char *p = strstr(f->head, "\r\n") + 2;
    while (strncmp(p, "\r\n", 2) != 0) {
        const char *eol = strstr(p, "\r\n");
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        FUZZ_CHECK(colon && colon > p, "malformed header line: %.*s", (int)(eol - p), p);
        for (const char *q = p; q < eol; q++) {
            FUZZ_CHECK((unsigned char)*q >= 0x20 && *q != 0x7f,
                       "control byte in a response header line: %.*s", (int)(eol - p), p);
        }
        p = eol + 2;
    }
    static const char *const must[] = {
        "Content-Security-Policy: default-src 'self'", "X-Content-Type-Options: nosniff",
        "Referrer-Policy: no-referrer", "X-Frame-Options: DENY", NULL};
    for (int i = 0; must[i]; i++) {
        FUZZ_CHECK(head_has(f->head, must[i]), "response %d lacks %s", status, must[i]);
    }
    FUZZ_CHECK(head_has(f->head, "Strict-Transport-Security:") == tls, "HSTS %s over %s",
               tls ? "missing" : "sent", tls ? "TLS" : "plain HTTP");
    const char *cl = strcasestr(f->head, "\r\nContent-Length: ");
    if (status != 304) {
        FUZZ_CHECK(cl != NULL, "no Content-Length");
    }
    if (cl && !head_method) {
        unsigned long long n = strtoull(cl + 18, NULL, 10);
        FUZZ_CHECK(n == f->body_written, "Content-Length %llu but %zu bytes written", n,
                   f->body_written);
    }
    if (head_method || status == 304) {
        FUZZ_CHECK(f->body_written == 0, "a body was sent for HEAD or 304");
    }
}

/* ------------------------------------------------------------- input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 256 * 1024) {
        return 0;
    }
    setup();
    unsigned flags = data[0];
    /* Copy so that header values and the path can be NUL-terminated in place. */
    char *req = malloc(size);
    memcpy(req, data + 1, size - 1);
    req[size - 1] = '\0';
    size_t len = size - 1;
    char *body = memmem(req, len, "\n\n", 2);
    size_t head_len = body ? (size_t)(body - req) : len;
    if (memchr(req, '\0', head_len)) {
        /* a NUL inside the request line or headers: CivetWeb refuses those */
        free(req);
        return 0;
    }
    size_t body_len = 0;
    if (body) {
        *body = '\0';
        body += 2;
        body_len = len - (size_t)(body - req);
    } else {
        body = req + len;
    }
    struct fake_conn *f = calloc(1, sizeof(*f));
    char *save = NULL;
    char *line = strtok_r(req, "\n", &save);
    char *sp = line ? strchr(line, ' ') : NULL;
    if (!sp || sp == line) {
        free(f);
        free(req);
        return 0;
    }
    *sp = '\0';
    char *target = sp + 1;
    f->ri.request_method = line;
    f->ri.request_uri = target;
    f->ri.http_version = "1.1";
    char *qm = strchr(target, '?');
    if (qm) {
        *qm = '\0';
        f->ri.query_string = qm + 1;
    }
    f->ri.local_uri = target;
    f->ri.local_uri_raw = target;
    if (strcmp(target, "/api/login") == 0 || strcmp(target, "/api/logout") == 0 ||
        target[0] != '/') {
        free(f);
        free(req);
        return 0;
    }
    snprintf(f->ri.remote_addr, sizeof(f->ri.remote_addr), "127.0.0.1");
    f->ri.is_ssl = (flags >> 4) & 1u;
    f->ri.user_data = &http;
    http.tls = f->ri.is_ssl;
    int nh = 0;
    char *hl;
    while ((hl = strtok_r(NULL, "\n", &save)) != NULL && nh < 60) {
        char *colon = strchr(hl, ':');
        if (!colon || colon == hl) {
            continue;
        }
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ') {
            v++;
        }
        f->ri.http_headers[nh].name = hl;
        f->ri.http_headers[nh].value = v;
        nh++;
    }
    unsigned who = flags & 3u;
    char cookie[128], csrf_h[CB_TOKEN_STRLEN];
    if (flags & 4u) {
        snprintf(cookie, sizeof(cookie), "%s=%s",
                 f->ri.is_ssl ? SESSION_COOKIE_TLS : SESSION_COOKIE, users[who].token);
        f->ri.http_headers[nh].name = "Cookie";
        f->ri.http_headers[nh].value = cookie;
        nh++;
    }
    if (flags & 8u) {
        snprintf(csrf_h, sizeof(csrf_h), "%s", users[who].csrf);
        f->ri.http_headers[nh].name = "X-CSRF-Token";
        f->ri.http_headers[nh].value = csrf_h;
        nh++;
    }
    f->ri.num_headers = nh;
    f->body = body;
    f->body_len = body_len;
    f->ri.content_length = (flags & 32u) ? -1 : (long long)body_len;

    int status = on_request((struct mg_connection *)(void *)f);
    check_response(f, status, f->ri.is_ssl, strcmp(f->ri.request_method, "HEAD") == 0);
    if (!(flags & 4u) && strncmp(target, "/api/", 5) == 0 && !strchr(target, '%')) {
        /* Without a cookie no non-public API route gets past authentication. */
        FUZZ_CHECK(status == 401 || status == 404 || status == 405,
                   "unauthenticated %s %s answered %d", f->ri.request_method, target, status);
    }
    free(f);
    free(req);
    return 0;
}
