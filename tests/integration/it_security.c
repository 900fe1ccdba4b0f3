/*
 * it_security.c - the security matrix of a real `coachbox serve`, generated
 * from the route table, plus what it_api.c does not cover (design.md section 6,
 * docs/SECURITY.md):
 *
 *   - every route of every route set (cb_api_route_sets): no session -> 401
 *     (public routes excepted); admins on clinical routes and coaches / leads
 *     on manager-only routes -> 403; another team's record -> exactly the
 *     answer for a record that does not exist (404); every write without or
 *     with a wrong CSRF token -> 403.  A route missing from the expectation
 *     table below fails the test, so a new route must be classified;
 *   - session lifecycle beyond it_api.c: fixation, tokens never stored,
 *     idle expiry on writes, logout of one session only, a disabled then
 *     re-enabled account, and the admin "end a user's sessions" route when
 *     present;
 *   - security headers on every response (each matrix response, assets,
 *     304s, HEADs, CivetWeb's own errors on raw sockets);
 *   - raw-socket probes: traversal, encodings, CGI/SSI, methods on assets,
 *     smuggling-shaped and oversized requests, and slow clients;
 *   - HTTPS: a certificate made with the openssl CLI, TLS 1.2+ only, HSTS,
 *     the __Host- Secure cookie;
 *   - sync: a signed push from one team's site cannot touch another team's
 *     participant (finding F1).
 *
 * Some tests fail on purpose until the fixes proposed in docs/SECURITY.md
 * land; each says which finding it demonstrates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coachbox/api.h"
#include "coachbox/sign.h"
#include "harness.h"

#define PW "correct-horse-battery-1"

enum who { ALICE, LENA, BOB, MGR, ADM, NWHO };
static const char *const usernames[NWHO] = {"alice", "lena", "bob", "mgr", "adm"};

/* One team's records, one of each kind, made in group_setup. */
struct team_ids {
    char participant[40], encounter[40], consent[40], measure[40], goal[40], goal_review[40],
        referral[40], programme[40], group_session[40], enrolment[40], attendance[40], checkin[40],
        venue[40];
};

static struct {
    struct cbt_server srv;
    int started;
    struct cbt_client c[NWHO];
    char uid[NWHO][40];
    struct team_ids own;   /* prestwich (alice, lena) */
    struct team_ids other; /* radcliffe (bob) */
    int port;
} G;

static const char NOSUCH[] = "01890000-0000-7000-8000-00000000dead";

/* Failures collected over a whole matrix, so one finding does not hide the next. */
static char fails[16384];
static int nfails;

static void note_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_fail(const char *fmt, ...)
{
    size_t n = strlen(fails);
    va_list ap;
    va_start(ap, fmt);
    if (n + 4 < sizeof(fails)) {
        fails[n++] = '\n';
        fails[n++] = ' ';
        fails[n++] = ' ';
        vsnprintf(fails + n, sizeof(fails) - n, fmt, ap);
    }
    va_end(ap);
    nfails++;
}

static void report_fails(const char *what)
{
    if (nfails) {
        int k = nfails;
        nfails = 0;
        fail_msg("%s: %d failure(s):%s", what, k, fails);
    }
    fails[0] = '\0';
}

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

static int header_value(const char *headers, const char *name, char *out, size_t len)
{
    struct cbt_resp r;
    memset(&r, 0, sizeof(r));
    r.headers = (char *)(uintptr_t)headers;
    return cbt_header(&r, name, out, len);
}

/*
 * The headers of design.md section 6 on one response's raw header text; what
 * names the response in failure messages.  tls: HSTS must be there (else not).
 */
static void check_security_headers(const char *headers, int tls, const char *what)
{
    char v[1024];
    if (!header_value(headers, "Content-Security-Policy", v, sizeof(v))) {
        fail_msg("%s: no Content-Security-Policy", what);
    }
    static const char *const csp[] = {"default-src 'self'", "object-src 'none'", "base-uri 'none'",
                                      "frame-ancestors 'none'", NULL};
    for (int i = 0; csp[i]; i++) {
        if (!strstr(v, csp[i])) {
            fail_msg("%s: CSP lacks %s", what, csp[i]);
        }
    }
    static const char *const exact[][2] = {{"X-Content-Type-Options", "nosniff"},
                                           {"Referrer-Policy", "no-referrer"},
                                           {"X-Frame-Options", "DENY"},
                                           {"Cross-Origin-Opener-Policy", "same-origin"},
                                           {"Cross-Origin-Resource-Policy", "same-origin"},
                                           {NULL, NULL}};
    for (int i = 0; exact[i][0]; i++) {
        if (!header_value(headers, exact[i][0], v, sizeof(v)) || strcasecmp(v, exact[i][1]) != 0) {
            fail_msg("%s: %s is not %s", what, exact[i][0], exact[i][1]);
        }
    }
    if (!header_value(headers, "Permissions-Policy", v, sizeof(v))) {
        fail_msg("%s: no Permissions-Policy", what);
    }
    int hsts = header_value(headers, "Strict-Transport-Security", v, sizeof(v));
    if (tls && (!hsts || !strstr(v, "max-age=") ||
                strtol(strstr(v, "max-age=") + 8, NULL, 10) < 15768000)) {
        fail_msg("%s: over HTTPS without HSTS of at least six months (%s)", what,
                 hsts ? v : "none");
    }
    if (!tls && hsts) {
        fail_msg("%s: HSTS sent over plain HTTP", what);
    }
    if (header_value(headers, "Access-Control-Allow-Origin", v, sizeof(v))) {
        fail_msg("%s: a CORS header (%s)", what, v);
    }
    if (header_value(headers, "Server", v, sizeof(v)) && strpbrk(v, "0123456789")) {
        fail_msg("%s: Server header gives a version: %s", what, v);
    }
}

static void expect_status(const struct cbt_resp *r, long want, const char *what)
{
    if (r->status != want) {
        fail_msg("%s: want HTTP %ld, got %ld: %.300s", what, want, r->status, r->body);
    }
}

/* An API error with the headers and the JSON error shape. */
static void expect_error(const struct cbt_resp *r, long status, const char *code, const char *what)
{
    expect_status(r, status, what);
    check_security_headers(r->headers, 0, what);
    char v[256];
    if (!header_value(r->headers, "Cache-Control", v, sizeof(v)) || !strstr(v, "no-store")) {
        fail_msg("%s: API error without Cache-Control: no-store", what);
    }
    const char *c = cbt_jstr(r, "error.code");
    if (!c || !cbt_jstr(r, "error.message")) {
        fail_msg("%s: no JSON error body: %.300s", what, r->body);
    }
    if (code && strcmp(c, code) != 0) {
        fail_msg("%s: error code %s, want %s", what, c, code);
    }
}

static void today(int days, char out[16])
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

static void now_iso(long secs, char out[40])
{
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Replace every occurrence of key in tmpl by val into out. */
static void subst(const char *tmpl, const char *const *pairs, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < len;) {
        int done = 0;
        for (int i = 0; pairs[i]; i += 2) {
            size_t k = strlen(pairs[i]);
            if (strncmp(p, pairs[i], k) == 0) {
                int w = snprintf(out + o, len - o, "%s", pairs[i + 1]);
                o += w > 0 ? (size_t)w : 0;
                p += k;
                done = 1;
                break;
            }
        }
        if (!done) {
            out[o++] = *p++;
        }
    }
    out[o < len ? o : len - 1] = '\0';
}

/* POST path body as c; 201 expected; the new id into out. */
static void create(struct cbt_client *c, const char *path, const char *body, char out[40])
{
    struct cbt_resp r;
    rq(c, "POST", path, body, &r);
    if (r.status != 201 || !cbt_jstr(&r, "id")) {
        fail_msg("setup POST %s %s: %ld %.300s", path, body, r.status, r.body);
    }
    snprintf(out, 40, "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
}

static int port_of(const char *url)
{
    const char *c = strrchr(url, ':');
    return c ? (int)strtol(c + 1, NULL, 10) : 0;
}

/* ------------------------------------------------------------ raw sockets */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Read until the peer closes, the response (head + Content-Length body) is
 * complete, or timeout_ms passes.  Returns bytes read (NUL-terminated).
 */
static size_t recv_response(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t got = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= timeout_ms || got + 1 >= len) {
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(timeout_ms - el)) <= 0) {
            break;
        }
        ssize_t r = recv(fd, buf + got, len - 1 - got, 0);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            char cl[32];
            size_t head = (size_t)(end - buf) + 4;
            char save = buf[head];
            buf[head] = '\0';
            int has = header_value(strstr(buf, "\r\n") ? strstr(buf, "\r\n") + 2 : buf,
                                   "Content-Length", cl, sizeof(cl));
            buf[head] = save;
            if (has && got >= head + (size_t)strtol(cl, NULL, 10)) {
                break;
            }
        }
    }
    buf[got] = '\0';
    return got;
}

static const char HEALTHZ_REQ[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/* Send req on a new connection to port; the response (or "") into out; returns its status
 * or 0. */
static int raw_request_to(int port, const char *req, size_t req_len, char *out, size_t len,
                          int timeout_ms)
{
    out[0] = '\0';
    int fd = raw_connect(port);
    if (fd < 0) {
        return -1;
    }
    send_all(fd, req, req_len);
    recv_response(fd, out, len, timeout_ms);
    close(fd);
    int st = 0;
    if (sscanf(out, "HTTP/1.%*d %d", &st) != 1) {
        st = 0;
    }
    return st;
}

static int raw_request(const char *req, size_t req_len, char *out, size_t len, int timeout_ms)
{
    return raw_request_to(G.port, req, req_len, out, len, timeout_ms);
}

/* A push announcing a 60 MB body of which only its first bytes are sent: a server that
 * read it would wait for the rest (and hold 60 MB, and its parse, per request). */
static const char BIG_PUSH_REQ[] = "POST /sync/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                   "application/json\r\nContent-Length: 60000000\r\n\r\n"
                                   "{\"ops\":[0,0,0,";

/* The header block of a raw response (after the status line). */
static const char *raw_headers(const char *resp)
{
    const char *p = strstr(resp, "\r\n");
    return p ? p + 2 : "";
}

/* ------------------------------------------------------------ group setup */

static int add_users(const char *data)
{
    static const char *const users[][3] = {
        {"alice", "coach", "prestwich"}, {"lena", "lead", "prestwich"},
        {"bob", "coach", "radcliffe"},   {"mgr", "manager", NULL},
        {"adm", "admin", NULL},          {"fix", "coach", "prestwich"},
        {"multi", "coach", "prestwich"}, {"dis", "coach", "prestwich"},
        {"endme", "coach", "prestwich"}, {"all", "coach", "prestwich"},
        {"pwc", "coach", "prestwich"},   {"pwreset", "coach", "prestwich"},
    };
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        if (cbt_add_user(data, users[i][0], users[i][1], users[i][2], PW) != 0) {
            fprintf(stderr, "cannot add user %s (bin %s)\n", users[i][0], cbt_bin());
            return -1;
        }
    }
    return 0;
}

/* One record of every kind in team (as c, a coach of that team). */
static void make_team_records(struct cbt_client *c, const char *team, const char *family,
                              struct team_ids *t)
{
    char body[1024], d[16], now[40];
    today(0, d);
    now_iso(-60, now);
    snprintf(body, sizeof(body),
             "{\"given_name\":\"Sec\",\"family_name\":\"%s\",\"date_of_birth\":\"1970-01-01\"}",
             family);
    create(c, "/api/participants", body, t->participant);
    const char *const pairs[] = {"PID",  t->participant,   "TODAY", d,       "NOW",
                                 now,    "TEAM",           team,    "PROG",  t->programme,
                                 "SESS", t->group_session, "GOAL",  t->goal, NULL};
    static const struct {
        const char *path, *tmpl;
        size_t off;
    } k[] = {
        {"/api/encounters",
         "{\"participant_id\":\"PID\",\"type\":\"drop_in\",\"occurred_at\":\"NOW\"}",
         offsetof(struct team_ids, encounter)},
        {"/api/consents",
         "{\"participant_id\":\"PID\",\"kind\":\"service\",\"given\":true,\"date\":\"TODAY\"}",
         offsetof(struct team_ids, consent)},
        {"/api/measures",
         "{\"participant_id\":\"PID\",\"instrument\":\"cfs\",\"timepoint\":\"baseline\","
         "\"taken_at\":\"NOW\",\"responses\":{\"level\":3}}",
         offsetof(struct team_ids, measure)},
        {"/api/goals",
         "{\"participant_id\":\"PID\",\"text\":\"Walk daily\",\"topic\":\"physical_activity\","
         "\"agreed_date\":\"TODAY\"}",
         offsetof(struct team_ids, goal)},
        {"/api/goal-reviews",
         "{\"goal_id\":\"GOAL\",\"reviewed_on\":\"TODAY\",\"status\":\"agreed\"}",
         offsetof(struct team_ids, goal_review)},
        {"/api/referrals",
         "{\"participant_id\":\"PID\",\"destination\":\"gp\",\"sent_date\":\"TODAY\"}",
         offsetof(struct team_ids, referral)},
        {"/api/programmes",
         "{\"name\":\"Walk\",\"topic\":\"physical_activity\",\"team\":\"TEAM\","
         "\"start_date\":\"TODAY\",\"weeks\":4}",
         offsetof(struct team_ids, programme)},
        {"/api/group-sessions",
         "{\"programme_id\":\"PROG\",\"session_number\":1,\"starts_at\":\"NOW\"}",
         offsetof(struct team_ids, group_session)},
        {"/api/enrolments",
         "{\"participant_id\":\"PID\",\"programme_id\":\"PROG\",\"enrolled_on\":\"TODAY\"}",
         offsetof(struct team_ids, enrolment)},
        {"/api/attendance",
         "{\"participant_id\":\"PID\",\"session_id\":\"SESS\",\"status\":\"attended\"}",
         offsetof(struct team_ids, attendance)},
        {"/api/checkins", "{\"participant_id\":\"PID\",\"arrived_at\":\"NOW\"}",
         offsetof(struct team_ids, checkin)},
        {"/api/venues", "{\"name\":\"Hall\",\"team\":\"TEAM\"}", offsetof(struct team_ids, venue)},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        subst(k[i].tmpl, pairs, body, sizeof(body));
        create(c, k[i].path, body, (char *)t + k[i].off);
    }
}

static int group_setup(void **state)
{
    (void)state;
    char data[512];
    cbt_tempdir(data, sizeof(data), "itsec");
    if (add_users(data)) {
        cbt_rmtree(data);
        return -1;
    }
    if (cbt_server_start(&G.srv, data, NULL) != 0) {
        fprintf(stderr, "server did not start (log %s.log)\n", data);
        return -1;
    }
    G.started = 1;
    G.port = port_of(G.srv.url);
    for (int i = 0; i < NWHO; i++) {
        cbt_client_init(&G.c[i], G.srv.url);
        struct cbt_resp r;
        char body[200];
        snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", usernames[i], PW);
        if (cbt_request(&G.c[i], "POST", "/api/login", body, &r) != 0 || r.status != 200) {
            fprintf(stderr, "login %s failed\n", usernames[i]);
            return -1;
        }
        snprintf(G.c[i].csrf, sizeof(G.c[i].csrf), "%s", cbt_jstr(&r, "csrf_token"));
        snprintf(G.uid[i], sizeof(G.uid[i]), "%s", cbt_jstr(&r, "user.id"));
        cbt_resp_free(&r);
    }
    make_team_records(&G.c[ALICE], "prestwich", "Ownteam", &G.own);
    make_team_records(&G.c[BOB], "radcliffe", "Otherteam", &G.other);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NWHO; i++) {
        cbt_client_free(&G.c[i]);
    }
    if (G.started) {
        int st = cbt_server_stop(&G.srv);
        if (st != 0) {
            fprintf(stderr, "server exit status %d; log %s kept\n", st, G.srv.log);
            return -1;
        }
        cbt_rmtree(G.srv.data);
        remove(G.srv.log);
    }
    return 0;
}

/* --------------------------------------------------- the route expectations */

enum cls {
    PUB,      /* no session needed */
    ANY,      /* any signed-in account */
    CLIN,     /* coaches, leads, managers; admins 403 */
    TEAMKIND, /* clinical roles and admins (team-scoped reference data) */
    MGRONLY,  /* managers only: coaches, leads and admins 403 */
    MGRADM,   /* managers and admins: coaches and leads 403 */
    ADMONLY,  /* admins only: everyone else 403 */
    CENTRAL   /* exists on central only: 404 on a field server, for everyone */
};

struct expect {
    const char *method, *pattern;
    enum cls cls;
    const char *other_body; /* write body for the other-team check ("OTHER"/"NOSUCH" ids) */
};

#define ENC_BODY "{\"notes\":\"x\"}"
#define EMPTY    "{}"

static const struct expect expects[] = {
    {"GET", "/healthz", PUB, NULL},
    {"POST", "/api/login", PUB, NULL},
    {"POST", "/api/logout", ANY, NULL},
    {"GET", "/api/me", ANY, NULL},
    {"POST", "/api/me/password", ANY, NULL},
    {"GET", "/api/teams", ANY, NULL},
    {"GET", "/api/measures/instruments", ANY, NULL},
    {"GET", "/api/participants", CLIN, NULL},
    {"POST", "/api/participants", CLIN, NULL},
    {"GET", "/api/participants/{id}", CLIN, NULL},
    {"PATCH", "/api/participants/{id}", CLIN, "{\"given_name\":\"X\"}"},
    {"POST", "/api/encounters", CLIN, NULL},
    {"GET", "/api/encounters/{id}", CLIN, NULL},
    {"PATCH", "/api/encounters/{id}", CLIN, ENC_BODY},
    {"DELETE", "/api/encounters/{id}", CLIN, NULL},
    {"GET", "/api/participants/{id}/encounters", CLIN, NULL},
    {"POST", "/api/consents", CLIN, NULL},
    {"GET", "/api/consents/{id}", CLIN, NULL},
    {"PATCH", "/api/consents/{id}", CLIN, ENC_BODY},
    {"GET", "/api/participants/{id}/consents", CLIN, NULL},
    {"POST", "/api/measures", CLIN, NULL},
    {"GET", "/api/measures/{id}", CLIN, NULL},
    {"PATCH", "/api/measures/{id}", CLIN, "{\"timepoint\":\"review\"}"},
    {"DELETE", "/api/measures/{id}", CLIN, NULL},
    {"GET", "/api/participants/{id}/measures", CLIN, NULL},
    {"POST", "/api/goals", CLIN, NULL},
    {"GET", "/api/goals/{id}", CLIN, NULL},
    {"PATCH", "/api/goals/{id}", CLIN, "{\"text\":\"x\"}"},
    {"DELETE", "/api/goals/{id}", CLIN, NULL},
    {"GET", "/api/participants/{id}/goals", CLIN, NULL},
    {"POST", "/api/goal-reviews", CLIN, NULL},
    {"GET", "/api/goal-reviews/{id}", CLIN, NULL},
    {"PATCH", "/api/goal-reviews/{id}", CLIN, "{\"note\":\"x\"}"},
    {"GET", "/api/participants/{id}/goal-reviews", CLIN, NULL},
    {"POST", "/api/referrals", CLIN, NULL},
    {"GET", "/api/referrals/{id}", CLIN, NULL},
    {"PATCH", "/api/referrals/{id}", CLIN, ENC_BODY},
    {"DELETE", "/api/referrals/{id}", CLIN, NULL},
    {"GET", "/api/participants/{id}/referrals", CLIN, NULL},
    {"POST", "/api/enrolments", CLIN, NULL},
    {"GET", "/api/enrolments/{id}", CLIN, NULL},
    {"PATCH", "/api/enrolments/{id}", CLIN, "{\"status\":\"completed\"}"},
    {"DELETE", "/api/enrolments/{id}", CLIN, NULL},
    {"GET", "/api/participants/{id}/enrolments", CLIN, NULL},
    {"GET", "/api/programmes/{id}/enrolments", CLIN, NULL},
    {"POST", "/api/attendance", CLIN, NULL},
    {"GET", "/api/attendance/{id}", CLIN, NULL},
    {"PATCH", "/api/attendance/{id}", CLIN, "{\"status\":\"absent\"}"},
    {"DELETE", "/api/attendance/{id}", CLIN, NULL},
    {"GET", "/api/participants/{id}/attendance", CLIN, NULL},
    {"GET", "/api/programmes/{id}/attendance", CLIN, NULL},
    {"POST", "/api/checkins", CLIN, NULL},
    {"GET", "/api/checkins/{id}", CLIN, NULL},
    {"PATCH", "/api/checkins/{id}", CLIN, "{\"reason\":\"x\"}"},
    {"DELETE", "/api/checkins/{id}", CLIN, NULL},
    {"GET", "/api/participants/{id}/checkins", CLIN, NULL},
    {"POST", "/api/programmes", TEAMKIND, NULL},
    {"GET", "/api/programmes/{id}", TEAMKIND, NULL},
    {"PATCH", "/api/programmes/{id}", TEAMKIND, "{\"description\":\"x\"}"},
    {"DELETE", "/api/programmes/{id}", TEAMKIND, NULL},
    {"POST", "/api/group-sessions", CLIN, NULL},
    {"GET", "/api/group-sessions/{id}", CLIN, NULL},
    {"PATCH", "/api/group-sessions/{id}", CLIN, "{\"notes\":\"x\"}"},
    {"DELETE", "/api/group-sessions/{id}", CLIN, NULL},
    {"GET", "/api/programmes/{id}/group-sessions", CLIN, NULL},
    {"GET", "/api/venues", ANY, NULL},
    {"POST", "/api/venues", TEAMKIND, NULL},
    {"GET", "/api/venues/{id}", TEAMKIND, NULL},
    {"PATCH", "/api/venues/{id}", TEAMKIND, "{\"address\":\"x\"}"},
    /* api_people.c */
    {"GET", "/api/users", ANY, NULL},
    {"POST", "/api/logout-all", ANY, NULL},
    {"GET", "/api/participants/{id}/audit", MGRONLY, NULL},
    {"POST", "/api/participants/matches", CLIN, NULL},
    {"POST", "/api/participants/{id}/merge", MGRONLY, "{\"into\":\"OWN\"}"},
    {"GET", "/api/participants/{id}/merged-into", MGRONLY, NULL},
    {"GET", "/api/merges", MGRONLY, NULL},
    {"POST", "/api/merges/{id}/undo", MGRONLY, NULL},
    /* api_groups.c */
    {"GET", "/api/programmes", TEAMKIND, NULL},
    {"POST", "/api/programmes/{id}/schedule", CLIN, "{\"first_session_at\":\"NOW\",\"count\":1}"},
    {"GET", "/api/programmes/{id}/follow-ups", CLIN, NULL},
    {"GET", "/api/group-sessions/{id}/register", CLIN, NULL},
    {"PUT", "/api/group-sessions/{id}/register", CLIN,
     "{\"entries\":[{\"participant_id\":\"OTHERPID\",\"status\":\"attended\"}]}"},
    {"GET", "/api/participants/{id}/timeline", CLIN, NULL},
    /* api_caseload.c */
    {"GET", "/api/caseload", CLIN, NULL},
    {"GET", "/api/follow-ups", CLIN, NULL},
    {"GET", "/api/reviews-due", CLIN, NULL},
    {"GET", "/api/queue", CLIN, NULL},
    {"POST", "/api/checkins/{id}/call", CLIN, NULL},
    {"GET", "/api/settings", ANY, NULL},
    {"PATCH", "/api/settings", MGRADM, NULL},
    /* api_sync.c */
    {"GET", "/api/sync/status", ANY, NULL},
    {"POST", "/api/sync/now", ANY, NULL},
    {"GET", "/api/conflicts", CLIN, NULL},
    {"GET", "/api/conflicts/{id}", CLIN, NULL},
    {"PATCH", "/api/conflicts/{id}", CLIN, "{\"status\":\"resolved\"}"},
    {"GET", "/api/sites", CENTRAL, NULL},
    {"POST", "/api/sites/{id}/revoke", CENTRAL, NULL},
    /* api_reports.c */
    {"GET", "/api/reports/outcomes", CLIN, NULL},
    {"GET", "/api/reports/outcomes/records", MGRONLY, NULL},
    {"GET", "/api/reports/reach", CLIN, NULL},
    {"GET", "/api/reports/data-quality", CLIN, NULL},
    {"GET", "/api/reports/venues", CLIN, NULL},
    {"GET", "/api/exports/quarterly.csv", MGRONLY, NULL},
    /* sync/hub.c: central's signed endpoints, public to the session layer */
    {"POST", "/sync/v1/enroll", PUB, NULL},
    {"POST", "/sync/v1/push", PUB, NULL},
    {"GET", "/sync/v1/pull", PUB, NULL},
    {"GET", "/sync/v1/digest", PUB, NULL},
    /* Proposed in docs/SECURITY.md (F3); checked when the route exists. */
    {"DELETE", "/api/users/{id}/sessions", ADMONLY, NULL},
};

static const struct expect *expect_for(const struct cb_route *rt)
{
    for (size_t i = 0; i < sizeof(expects) / sizeof(expects[0]); i++) {
        if (strcmp(expects[i].method, rt->method) == 0 &&
            strcmp(expects[i].pattern, rt->pattern) == 0) {
            return &expects[i];
        }
    }
    return NULL;
}

static int is_write(const char *m)
{
    return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
}

/* The id of ids' record a route's {id} refers to (by the path's first segment). */
static const char *id_for(const char *pattern, const struct team_ids *t)
{
    static const struct {
        const char *prefix;
        size_t off;
    } m[] = {
        {"/api/participants/", offsetof(struct team_ids, participant)},
        {"/api/encounters/", offsetof(struct team_ids, encounter)},
        {"/api/consents/", offsetof(struct team_ids, consent)},
        {"/api/measures/", offsetof(struct team_ids, measure)},
        {"/api/goals/", offsetof(struct team_ids, goal)},
        {"/api/goal-reviews/", offsetof(struct team_ids, goal_review)},
        {"/api/referrals/", offsetof(struct team_ids, referral)},
        {"/api/programmes/", offsetof(struct team_ids, programme)},
        {"/api/group-sessions/", offsetof(struct team_ids, group_session)},
        {"/api/enrolments/", offsetof(struct team_ids, enrolment)},
        {"/api/attendance/", offsetof(struct team_ids, attendance)},
        {"/api/checkins/", offsetof(struct team_ids, checkin)},
        {"/api/venues/", offsetof(struct team_ids, venue)},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        if (strncmp(pattern, m[i].prefix, strlen(m[i].prefix)) == 0) {
            return (const char *)t + m[i].off;
        }
    }
    return NOSUCH; /* merges, conflicts, sites, users: no record of ours */
}

static void route_path(const char *pattern, const char *id, char *out, size_t len)
{
    const char *const pairs[] = {"{id}", id, NULL};
    subst(pattern, pairs, out, len);
}

/* Call every route of every set: fn(route, expectation). */
typedef void (*route_fn)(const struct cb_route *rt, const struct expect *e, int *count);

static void each_route(route_fn fn, int *count)
{
    char missing[2048] = "";
    for (size_t s = 0; s < cb_api_route_sets_count; s++) {
        for (size_t j = 0; j < *cb_api_route_sets[s].count; j++) {
            const struct cb_route *rt = &cb_api_route_sets[s].routes[j];
            const struct expect *e = expect_for(rt);
            if (!e) {
                size_t n = strlen(missing);
                snprintf(missing + n, sizeof(missing) - n, " %s %s;", rt->method, rt->pattern);
                continue;
            }
            fn(rt, e, count);
        }
    }
    if (missing[0]) {
        fail_msg("routes without a security expectation in it_security.c:%s", missing);
    }
}

/* ------------------------------------------------------------- the matrix */

static void no_session_one(const struct cb_route *rt, const struct expect *e, int *count)
{
    struct cbt_client anon;
    struct cbt_resp r;
    char path[256], what[320];
    if (e->cls == PUB) {
        return;
    }
    assert_int_equal(cbt_client_init(&anon, G.srv.url), 0);
    route_path(rt->pattern, id_for(rt->pattern, &G.own), path, sizeof(path));
    snprintf(what, sizeof(what), "%s %s without a session", rt->method, path);
    rq(&anon, rt->method, path, is_write(rt->method) ? "{}" : NULL, &r);
    expect_error(&r, 401, "unauthenticated", what);
    cbt_resp_free(&r);
    /* A forged cookie and a cookie of the TLS name over plain HTTP are no session either. */
    char cookie[160];
    const char *h[] = {cookie, NULL};
    snprintf(cookie, sizeof(cookie), "Cookie: cb_session=%064x", 0);
    rq_ex(&anon, rt->method, path, is_write(rt->method) ? "{}" : NULL, NULL, h, &r);
    expect_error(&r, 401, "unauthenticated", what);
    cbt_resp_free(&r);
    cbt_client_free(&anon);
    (*count)++;
}

static void test_matrix_no_session(void **state)
{
    (void)state;
    int n = 0;
    each_route(no_session_one, &n);
    print_message("%d routes refused without a session\n", n);
    assert_true(n >= 80);
}

static void csrf_one(const struct cb_route *rt, const struct expect *e, int *count)
{
    struct cbt_resp r;
    char path[256], what[320], saved[80];
    if (e->cls == PUB || !is_write(rt->method)) {
        return;
    }
    /* The manager may reach every route, so a 403 here can only be the CSRF check. */
    struct cbt_client *c = &G.c[MGR];
    route_path(rt->pattern, id_for(rt->pattern, &G.own), path, sizeof(path));
    static const char *const tokens[] = {
        "", "0000000000000000000000000000000000000000000000000000000000000000", NULL /* bob's */};
    for (int i = 0; i < 3; i++) {
        memcpy(saved, c->csrf, sizeof(saved));
        snprintf(c->csrf, sizeof(c->csrf), "%s", tokens[i] ? tokens[i] : G.c[BOB].csrf);
        snprintf(what, sizeof(what), "%s %s with %s CSRF token", rt->method, path,
                 i == 0   ? "no"
                 : i == 1 ? "a made-up"
                          : "another user's");
        rq(c, rt->method, path, "{}", &r);
        memcpy(c->csrf, saved, sizeof(saved));
        expect_error(&r, 403, "csrf", what);
        cbt_resp_free(&r);
    }
    /* The token in a query string or cookie instead of the header does not count. */
    char qpath[400], cookie[200];
    snprintf(qpath, sizeof(qpath), "%s?csrf_token=%s", path, c->csrf);
    snprintf(cookie, sizeof(cookie), "Cookie: X-CSRF-Token=%s", c->csrf);
    const char *h[] = {cookie, NULL};
    memcpy(saved, c->csrf, sizeof(saved));
    c->csrf[0] = '\0';
    rq_ex(c, rt->method, qpath, "{}", NULL, h, &r);
    memcpy(c->csrf, saved, sizeof(saved));
    snprintf(what, sizeof(what), "%s %s with the CSRF token in the query", rt->method, path);
    expect_error(&r, 403, "csrf", what);
    cbt_resp_free(&r);
    (*count)++;
}

static void test_matrix_csrf(void **state)
{
    (void)state;
    int n = 0;
    each_route(csrf_one, &n);
    print_message("%d write routes refused without the right CSRF token\n", n);
    assert_true(n >= 35);
    struct cbt_resp r;
    rq(&G.c[MGR], "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "manager still signed in after the CSRF probes");
    cbt_resp_free(&r);
}

/*
 * A role check: writes with an empty body (the role check comes first); a
 * DELETE aims at no record, so the matrix deletes nothing; a route whose
 * query parameters are required gets valid ones, so only the role can refuse.
 */
static void role_call(enum who w, const struct cb_route *rt, struct cbt_resp *r, char *path,
                      size_t len)
{
    static const char *const queries[][2] = {{"/api/exports/quarterly.csv", "?quarter=2026Q1"},
                                             {NULL, NULL}};
    const char *id = strcmp(rt->method, "DELETE") == 0
                         ? NOSUCH
                         : id_for(rt->pattern, w == BOB ? &G.other : &G.own);
    route_path(rt->pattern, id, path, len);
    for (int i = 0; queries[i][0]; i++) {
        if (strcmp(rt->pattern, queries[i][0]) == 0 && strlen(path) + strlen(queries[i][1]) < len) {
            size_t used = strlen(path);
            snprintf(path + used, len - used, "%s", queries[i][1]);
        }
    }
    if (strcmp(rt->pattern, "/api/logout") == 0 || strcmp(rt->pattern, "/api/logout-all") == 0) {
        r->status = 0;
        return; /* would end the shared sessions */
    }
    rq(&G.c[w], rt->method, path, is_write(rt->method) ? "{}" : NULL, r);
}

static void roles_one(const struct cb_route *rt, const struct expect *e, int *count)
{
    struct cbt_resp r;
    char path[256], what[320];
    for (int w = 0; w < NWHO; w++) {
        role_call((enum who)w, rt, &r, path, sizeof(path));
        if (r.status == 0) {
            return;
        }
        snprintf(what, sizeof(what), "%s %s as %s", rt->method, path, usernames[w]);
        check_security_headers(r.headers, 0, what);
        int forbidden = (w == ADM && (e->cls == CLIN || e->cls == MGRONLY)) ||
                        (w != MGR && e->cls == MGRONLY) || (w != ADM && e->cls == ADMONLY) ||
                        (w != MGR && w != ADM && e->cls == MGRADM);
        const char *code = cbt_jstr(&r, "error.code");
        if (e->cls == CENTRAL && r.status != 404) {
            note_fail("%s: %ld, want 404 on a field server", what, r.status);
        } else if (forbidden && (r.status != 403 || !code || strcmp(code, "forbidden") != 0)) {
            note_fail("%s: %ld %s, want 403 forbidden%s", what, r.status, code ? code : "",
                      strstr(rt->pattern, "conflicts/") ? " (F4: admins pass the role check "
                                                          "of team-scoped kinds)"
                                                        : "");
        } else if (!forbidden && (r.status == 401 || r.status == 403)) {
            note_fail("%s: refused (%ld) though the role may use it: %.200s", what, r.status,
                      r.body);
        }
        cbt_resp_free(&r);
    }
    (*count)++;
}

static void test_matrix_roles(void **state)
{
    (void)state;
    int n = 0;
    each_route(roles_one, &n);
    print_message("%d routes checked for 5 accounts\n", n);
    report_fails("role matrix");
    assert_true(n >= 80);
}

/*
 * alice (coach, prestwich) on bob's (radcliffe) records: the answer must be
 * exactly the answer for a record that does not exist - 404, same code and
 * message - so nothing about another team's records leaks.
 */
static void other_team_one(const struct cb_route *rt, const struct expect *e, int *count)
{
    if (!strstr(rt->pattern, "{id}") || e->cls == PUB || e->cls == CENTRAL || e->cls == MGRONLY ||
        e->cls == ADMONLY || e->cls == ANY) {
        return;
    }
    const char *other = id_for(rt->pattern, &G.other);
    if (other == NOSUCH) {
        return; /* no record of ours of this kind (conflicts) */
    }
    char now[40];
    now_iso(3600, now);
    const char *const pairs_o[] = {
        "OTHERPID", G.other.participant, "OWN", G.own.participant, "NOW", now, NULL};
    char body[512] = "", p_other[256], p_none[256], what[512];
    if (is_write(rt->method)) {
        subst(e->other_body ? e->other_body : "{}", pairs_o, body, sizeof(body));
    }
    route_path(rt->pattern, other, p_other, sizeof(p_other));
    route_path(rt->pattern, NOSUCH, p_none, sizeof(p_none));
    struct cbt_resp ro, rn;
    rq(&G.c[ALICE], rt->method, p_other, is_write(rt->method) ? body : NULL, &ro);
    rq(&G.c[ALICE], rt->method, p_none, is_write(rt->method) ? body : NULL, &rn);
    snprintf(what, sizeof(what), "alice %s %s (radcliffe's) %.100s", rt->method, p_other, body);
    check_security_headers(ro.headers, 0, what);
    const char *co = cbt_jstr(&ro, "error.code");
    const char *mo = cbt_jstr(&ro, "error.message"), *mn = cbt_jstr(&rn, "error.message");
    if (ro.status != 404 || !co || strcmp(co, "not_found") != 0) {
        note_fail("%s: %ld %.200s, want 404 not_found", what, ro.status, ro.body);
    } else if (ro.status != rn.status || !mo || !mn || strcmp(mo, mn) != 0) {
        note_fail("%s: answered %ld \"%s\" but a record that does not exist gets %ld \"%s\"", what,
                  ro.status, mo ? mo : "", rn.status, mn ? mn : "");
    }
    cbt_resp_free(&ro);
    cbt_resp_free(&rn);
    (*count)++;
}

static void test_matrix_other_team_records(void **state)
{
    (void)state;
    int n = 0;
    each_route(other_team_one, &n);
    print_message("%d {id} routes checked with another team's record\n", n);
    report_fails("another team's records");
    assert_true(n >= 45);
    /* Nothing of bob's changed. */
    struct cbt_resp r;
    char path[128];
    snprintf(path, sizeof(path), "/api/participants/%s", G.other.participant);
    rq(&G.c[BOB], "GET", path, NULL, &r);
    expect_status(&r, 200, "bob's participant after alice's attempts");
    assert_string_equal(cbt_jstr(&r, "given_name"), "Sec");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/encounters/%s", G.other.encounter);
    rq(&G.c[BOB], "GET", path, NULL, &r);
    expect_status(&r, 200, "bob's encounter after alice's attempts");
    cbt_resp_free(&r);
}

/* Denied attempts on audit_events with this detail about participant pid (and, unless
 * NULL, record id), by user uid. */
static int denied_events(const char *uid, const char *detail, const char *pid, const char *id)
{
    char db[600];
    snprintf(db, sizeof(db), "%s/coachbox.db", G.srv.data);
    sqlite3 *s;
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        return -1;
    }
    sqlite3_busy_timeout(s, 5000);
    if (sqlite3_prepare_v2(s,
                           "SELECT count(*) FROM audit_events WHERE actor = ?1 AND "
                           "outcome = 'denied' AND detail = ?2 AND participant_id = ?3 AND "
                           "(?4 IS NULL OR entity_id = ?4)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, detail, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, pid, -1, SQLITE_STATIC);
        if (id) {
            sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
        }
        if (sqlite3_step(st) == SQLITE_ROW) {
            n = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(s);
    return n;
}

/*
 * An attempt to change, delete or add to another team's records is answered
 * like a reference to nothing and recorded as denied (SECURITY.md), surviving
 * the rollback of the refused write.
 */
static void test_denied_writes_audited(void **state)
{
    (void)state;
    struct cbt_resp r;
    char path[128], body[512], now[40];
    const char *enc = G.other.encounter, *pid = G.other.participant, *uid = G.uid[ALICE];
    int before[3] = {denied_events(uid, "update", pid, enc), denied_events(uid, "delete", pid, enc),
                     denied_events(uid, "create", pid, NULL)};
    snprintf(path, sizeof(path), "/api/encounters/%s", enc);
    rq(&G.c[ALICE], "PATCH", path, "{\"notes\":\"x\"}", &r);
    expect_status(&r, 404, "alice patching bob's encounter");
    cbt_resp_free(&r);
    rq(&G.c[ALICE], "DELETE", path, NULL, &r);
    expect_status(&r, 404, "alice deleting bob's encounter");
    cbt_resp_free(&r);
    now_iso(-60, now);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"type\":\"drop_in\",\"occurred_at\":\"%s\"}", pid, now);
    rq(&G.c[ALICE], "POST", "/api/encounters", body, &r);
    expect_status(&r, 400, "alice adding an encounter to bob's participant");
    cbt_resp_free(&r);
    static const char *const what[3] = {"update", "delete", "create"};
    for (int i = 0; i < 3; i++) {
        int after = denied_events(uid, what[i], pid, i < 2 ? enc : NULL);
        if (after != before[i] + 1) {
            fail_msg("a denied %s of another team's record left %d audit events (want %d)", what[i],
                     after, before[i] + 1);
        }
    }
}

/*
 * Creating a record that refers to another team's participant, programme,
 * session or goal is answered like a reference to nothing.
 */
static void test_create_referring_to_other_team(void **state)
{
    (void)state;
    char d[16], now[40], body[1024], what[1200];
    today(0, d);
    now_iso(-60, now);
    static const struct {
        const char *path, *tmpl;
    } k[] = {
        {"/api/encounters",
         "{\"participant_id\":\"PID\",\"type\":\"drop_in\",\"occurred_at\":\"NOW\"}"},
        {"/api/consents",
         "{\"participant_id\":\"PID\",\"kind\":\"service\",\"given\":true,\"date\":\"TODAY\"}"},
        {"/api/measures",
         "{\"participant_id\":\"PID\",\"instrument\":\"cfs\",\"timepoint\":\"baseline\","
         "\"taken_at\":\"NOW\",\"responses\":{\"level\":3}}"},
        {"/api/goals", "{\"participant_id\":\"PID\",\"text\":\"x\",\"topic\":\"diet\",\"agreed_"
                       "date\":\"TODAY\"}"},
        {"/api/goal-reviews",
         "{\"goal_id\":\"GOAL\",\"reviewed_on\":\"TODAY\",\"status\":\"agreed\"}"},
        {"/api/referrals",
         "{\"participant_id\":\"PID\",\"destination\":\"gp\",\"sent_date\":\"TODAY\"}"},
        {"/api/enrolments",
         "{\"participant_id\":\"OWNPID\",\"programme_id\":\"PROG\",\"enrolled_on\":\"TODAY\"}"},
        {"/api/attendance",
         "{\"participant_id\":\"OWNPID\",\"session_id\":\"SESS\",\"status\":\"absent\"}"},
        {"/api/checkins", "{\"participant_id\":\"PID\",\"arrived_at\":\"NOW\"}"},
        {"/api/group-sessions",
         "{\"programme_id\":\"PROG\",\"session_number\":7,\"starts_at\":\"NOW\"}"},
        {"/api/encounters",
         "{\"participant_id\":\"OWNPID\",\"type\":\"group\",\"occurred_at\":\"NOW\","
         "\"group_session_id\":\"SESS\"}"},
        {"/api/participants/matches", NULL},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]) && k[i].tmpl; i++) {
        struct cbt_resp ro, rn;
        const char *const po[] = {"OWNPID", G.own.participant,
                                  "PID",    G.other.participant,
                                  "GOAL",   G.other.goal,
                                  "PROG",   G.other.programme,
                                  "SESS",   G.other.group_session,
                                  "TODAY",  d,
                                  "NOW",    now,
                                  NULL};
        const char *const pn[] = {
            "OWNPID", G.own.participant, "PID", NOSUCH, "GOAL", NOSUCH, "PROG", NOSUCH, "SESS",
            NOSUCH,   "TODAY",           d,     "NOW",  now,    NULL};
        subst(k[i].tmpl, po, body, sizeof(body));
        rq(&G.c[ALICE], "POST", k[i].path, body, &ro);
        snprintf(what, sizeof(what), "alice POST %s %s", k[i].path, body);
        subst(k[i].tmpl, pn, body, sizeof(body));
        rq(&G.c[ALICE], "POST", k[i].path, body, &rn);
        if (ro.status == 201 || ro.status != rn.status || strcmp(ro.body, rn.body) != 0) {
            note_fail("%s: %ld %.150s, but for a record that does not exist: %ld %.150s%s", what,
                      ro.status, ro.body, rn.status, rn.body,
                      strstr(body, "group_session_id")  ? " (F6: a contact can be linked to "
                                                          "another team's group session)"
                      : strstr(k[i].path, "attendance") ? " (F6: the answer tells that the "
                                                          "session exists in another team)"
                                                        : "");
        }
        check_security_headers(ro.headers, 0, what);
        cbt_resp_free(&ro);
        cbt_resp_free(&rn);
    }
    report_fails("creating records that refer to another team's");
}

/*
 * F2: the search cursor is looked up without the team filter, so a coach can
 * pass another team's participant id as the cursor: an unknown id gives an
 * empty page, a real one gives the names that sort after that person.  That
 * tells whether an id exists in another team, and where the person's name
 * sorts - both against "answers never reveal what exists in another team".
 */
static void test_search_cursor_other_team(void **state)
{
    (void)state;
    struct cbt_resp ro, rn;
    char p[256];
    snprintf(p, sizeof(p), "/api/participants?limit=100&cursor=%s", G.other.participant);
    rq(&G.c[ALICE], "GET", p, NULL, &ro);
    snprintf(p, sizeof(p), "/api/participants?limit=100&cursor=%s", NOSUCH);
    rq(&G.c[ALICE], "GET", p, NULL, &rn);
    if (ro.status != rn.status || strcmp(ro.body, rn.body) != 0) {
        fail_msg("F2: a cursor naming another team's participant is answered %ld (%zu bytes) but "
                 "an unknown id %ld (%zu bytes): the cursor reveals that the id exists and "
                 "where its name sorts",
                 ro.status, ro.body_len, rn.status, rn.body_len);
    }
    cbt_resp_free(&ro);
    cbt_resp_free(&rn);
}

/* Searching by another team's NHS number, date of birth or name finds nothing. */
static void test_search_other_team(void **state)
{
    (void)state;
    static const char *const qs[] = {"q=otherteam", "q=Sec+Otherteam", "q=1970-01-01", NULL};
    for (int i = 0; qs[i]; i++) {
        struct cbt_resp r;
        char p[200];
        snprintf(p, sizeof(p), "/api/participants?%s", qs[i]);
        rq(&G.c[ALICE], "GET", p, NULL, &r);
        expect_status(&r, 200, p);
        if (strstr(r.body, G.other.participant) || strstr(r.body, "Otherteam")) {
            fail_msg("alice's search %s returned radcliffe's participant", qs[i]);
        }
        cbt_resp_free(&r);
    }
}

/* ------------------------------------------------------ session lifecycle */

static int cookie_token(const char *headers, char *out, size_t len)
{
    char v[512];
    if (!header_value(headers, "Set-Cookie", v, sizeof(v))) {
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

/* A sign-in as user with password pw (and extra request headers): the status;
 * the client takes the CSRF token, token (when not NULL) the session cookie. */
static long login_pw(struct cbt_client *c, const char *user, const char *pw,
                     const char *const *headers, char token[80])
{
    char body[300];
    struct cbt_resp r;
    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    c->csrf[0] = '\0';
    rq_ex(c, "POST", "/api/login", body, NULL, headers, &r);
    long st = r.status;
    if (st == 200) {
        snprintf(c->csrf, sizeof(c->csrf), "%s", cbt_jstr(&r, "csrf_token"));
        if (token && !cookie_token(r.headers, token, 80)) {
            fail_msg("login without a session cookie");
        }
    }
    cbt_resp_free(&r);
    return st;
}

static long login(struct cbt_client *c, const char *user, const char *const *headers,
                  char token[80])
{
    return login_pw(c, user, PW, headers, token);
}

/* One of the concurrent writes of test_idempotency_key_concurrent. */
struct idem_racer {
    struct cbt_client c;
    const char *body;
    long status;
    int replayed;
};

static void *idem_race(void *arg)
{
    struct idem_racer *x = arg;
    struct cbt_resp r;
    static const char *const hdr[] = {"Idempotency-Key: race-key-0123456789", NULL};
    x->status = 0;
    if (cbt_request_ex(&x->c, "POST", "/api/encounters", x->body, strlen(x->body), NULL, hdr, &r) ==
        0) {
        char v[16];
        x->status = r.status;
        x->replayed = cbt_header(&r, "Idempotent-Replay", v, sizeof(v));
        cbt_resp_free(&r);
    }
    return NULL;
}

/*
 * Writes sent at once with one Idempotency-Key (a tablet's retry racing the
 * request it retries) make one record: the first runs, the others are told
 * it is in progress (409) or, once it answered, get its answer replayed.
 */
static void test_idempotency_key_concurrent(void **state)
{
    (void)state;
    enum { N = 8 };
    struct idem_racer x[N];
    pthread_t th[N];
    char body[512], now[40];
    now_iso(-30, now);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"%s\","
             "\"notes\":\"idempotency race\"}",
             G.own.participant, now);
    for (int i = 0; i < N; i++) {
        memset(&x[i], 0, sizeof(x[i]));
        cbt_client_init(&x[i].c, G.srv.url);
        assert_int_equal(login(&x[i].c, "alice", NULL, NULL), 200);
        x[i].body = body;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, idem_race, &x[i]), 0);
    }
    int created = 0, in_progress = 0, replayed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        created += x[i].status == 201 && !x[i].replayed;
        replayed += x[i].status == 201 && x[i].replayed;
        in_progress += x[i].status == 409;
        cbt_client_free(&x[i].c);
    }
    char db[600];
    snprintf(db, sizeof(db), "%s/coachbox.db", G.srv.data);
    sqlite3 *s;
    sqlite3_stmt *st;
    int rows = -1;
    assert_int_equal(sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(s, 5000);
    if (sqlite3_prepare_v2(s, "SELECT count(*) FROM encounters WHERE notes = 'idempotency race'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        rows = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(s);
    if (rows != 1 || created != 1 || created + replayed + in_progress != N) {
        fail_msg("%d writes with one Idempotency-Key at once: %d encounters stored, %d created, "
                 "%d replayed, %d told in progress",
                 N, rows, created, replayed, in_progress);
    }
}

static long me_with(const char *token)
{
    struct cbt_client c;
    struct cbt_resp r;
    char h[160];
    const char *hdr[] = {h, NULL};
    snprintf(h, sizeof(h), "Cookie: cb_session=%s", token);
    cbt_client_init(&c, G.srv.url);
    rq_ex(&c, "GET", "/api/me", NULL, NULL, hdr, &r);
    long st = r.status;
    cbt_resp_free(&r);
    cbt_client_free(&c);
    return st;
}

/* Session fixation: a token planted before login is never adopted, and tokens look random. */
static void test_session_fixation_and_tokens(void **state)
{
    (void)state;
    struct cbt_client c;
    char planted[80] = "4141414141414141414141414141414141414141414141414141414141414141";
    char h[160], tok1[80], tok2[80];
    const char *hdr[] = {h, NULL};
    snprintf(h, sizeof(h), "Cookie: cb_session=%s", planted);
    cbt_client_init(&c, G.srv.url);
    assert_int_equal(login(&c, "fix", hdr, tok1), 200);
    assert_string_not_equal(tok1, planted);
    assert_int_equal(me_with(planted), 401);
    assert_int_equal((int)strlen(tok1), 64);
    for (int i = 0; i < 64; i++) {
        assert_true(isxdigit((unsigned char)tok1[i]));
    }
    assert_int_equal((int)strlen(c.csrf), 64);
    assert_string_not_equal(c.csrf, tok1);
    cbt_client_free(&c);
    cbt_client_init(&c, G.srv.url);
    assert_int_equal(login(&c, "fix", NULL, tok2), 200);
    assert_string_not_equal(tok1, tok2);
    cbt_client_free(&c);

    /* The database keeps neither the token nor anything that contains it. */
    char db[600];
    snprintf(db, sizeof(db), "%s/coachbox.db", G.srv.data);
    sqlite3 *s;
    assert_int_equal(sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(s, 5000);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(s, "SELECT * FROM sessions", -1, &st, NULL), SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            if (v && (strstr(v, tok1) || strstr(v, tok2))) {
                fail_msg("sessions.%s holds a session token in clear", sqlite3_column_name(st, i));
            }
        }
    }
    sqlite3_finalize(st);
    /* ... and no audit event does either. */
    assert_int_equal(sqlite3_prepare_v2(s, "SELECT * FROM audit_events", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            if (v && (strstr(v, tok1) || strstr(v, tok2) || strstr(v, PW))) {
                fail_msg("audit_events.%s holds a token or password", sqlite3_column_name(st, i));
            }
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(s);
    assert_true(rows >= 2);
}

/* Logging out ends that session only; the user's other sessions go on. */
static void test_logout_ends_one_session(void **state)
{
    (void)state;
    struct cbt_client a, b;
    struct cbt_resp r;
    char ta[80], tb[80];
    cbt_client_init(&a, G.srv.url);
    cbt_client_init(&b, G.srv.url);
    assert_int_equal(login(&a, "multi", NULL, ta), 200);
    assert_int_equal(login(&b, "multi", NULL, tb), 200);
    /* A's CSRF token does not fit B's session. */
    char saved[80];
    memcpy(saved, b.csrf, sizeof(saved));
    snprintf(b.csrf, sizeof(b.csrf), "%s", a.csrf);
    rq(&b, "POST", "/api/logout", NULL, &r);
    expect_error(&r, 403, "csrf", "logout of B with A's CSRF token");
    cbt_resp_free(&r);
    memcpy(b.csrf, saved, sizeof(saved));
    rq(&a, "POST", "/api/logout", NULL, &r);
    expect_status(&r, 200, "logout A");
    check_security_headers(r.headers, 0, "logout");
    char v[256];
    assert_true(header_value(r.headers, "Set-Cookie", v, sizeof(v)));
    assert_non_null(strstr(v, "Max-Age=0"));
    assert_non_null(strstr(v, "HttpOnly"));
    cbt_resp_free(&r);
    assert_int_equal(me_with(ta), 401);
    assert_int_equal(me_with(tb), 200);
    /* Logging out twice is just unauthenticated. */
    rq(&a, "POST", "/api/logout", NULL, &r);
    expect_error(&r, 401, "unauthenticated", "second logout");
    cbt_resp_free(&r);
    cbt_client_free(&a);
    cbt_client_free(&b);
}

/* "Sign out everywhere" ends every session of the caller only; colleagues are listed per team. */
static void test_logout_all_and_users_list(void **state)
{
    (void)state;
    int present = 0;
    for (size_t s = 0; s < cb_api_route_sets_count; s++) {
        for (size_t j = 0; j < *cb_api_route_sets[s].count; j++) {
            present |= strcmp(cb_api_route_sets[s].routes[j].pattern, "/api/logout-all") == 0;
        }
    }
    if (!present) {
        skip();
    }
    struct cbt_client a, b;
    struct cbt_resp r;
    char ta[80], tb[80];
    cbt_client_init(&a, G.srv.url);
    cbt_client_init(&b, G.srv.url);
    assert_int_equal(login(&a, "all", NULL, ta), 200);
    assert_int_equal(login(&b, "all", NULL, tb), 200);
    char saved[80];
    memcpy(saved, a.csrf, sizeof(saved));
    a.csrf[0] = '\0';
    rq(&a, "POST", "/api/logout-all", NULL, &r);
    expect_error(&r, 403, "csrf", "logout-all without CSRF");
    cbt_resp_free(&r);
    memcpy(a.csrf, saved, sizeof(saved));
    rq(&a, "POST", "/api/logout-all", NULL, &r);
    expect_status(&r, 200, "logout-all");
    check_security_headers(r.headers, 0, "logout-all");
    cbt_resp_free(&r);
    assert_int_equal(me_with(ta), 401);
    assert_int_equal(me_with(tb), 401);
    rq(&G.c[ALICE], "GET", "/api/me", NULL, &r); /* other users untouched */
    expect_status(&r, 200, "alice after another user's logout-all");
    cbt_resp_free(&r);
    cbt_client_free(&a);
    cbt_client_free(&b);

    rq(&G.c[ALICE], "GET", "/api/users?team=radcliffe", NULL, &r);
    expect_error(&r, 403, "forbidden", "a coach listing another team's accounts");
    cbt_resp_free(&r);
    rq(&G.c[ALICE], "GET", "/api/users", NULL, &r);
    expect_status(&r, 200, "users");
    if (strstr(r.body, "\"bob\"") || strstr(r.body, "radcliffe") || strstr(r.body, "pbkdf2") ||
        strstr(r.body, "hash")) {
        fail_msg("alice's /api/users shows another team or a hash: %.300s", r.body);
    }
    cbt_resp_free(&r);
}

/* A disabled account's sessions are deleted, not just refused: enabling it again revives none. */
static void test_disabled_then_enabled(void **state)
{
    (void)state;
    struct cbt_client c;
    char tok[80], out[512];
    cbt_client_init(&c, G.srv.url);
    assert_int_equal(login(&c, "dis", NULL, tok), 200);
    const char *dis[] = {"user", "disable", "--data", G.srv.data, "--username", "dis", NULL};
    assert_int_equal(cbt_run(dis, NULL, out, sizeof(out)), 0);
    struct cbt_resp r;
    rq(&c, "POST", "/api/participants", "{}", &r);
    expect_error(&r, 401, "unauthenticated", "write with a disabled account's session and CSRF");
    cbt_resp_free(&r);
    const char *en[] = {"user", "enable", "--data", G.srv.data, "--username", "dis", NULL};
    assert_int_equal(cbt_run(en, NULL, out, sizeof(out)), 0);
    assert_int_equal(me_with(tok), 401);
    assert_int_equal(login(&c, "dis", NULL, tok), 200);
    assert_int_equal(me_with(tok), 200);
    cbt_client_free(&c);
}

/*
 * F3 (fixed): an admin can end all of a user's sessions without disabling the
 * account (a lost tablet): DELETE /api/users/{id}/sessions (admins).  The route
 * must be in the table: a missing route fails here rather than passing.
 */
static void test_admin_ends_user_sessions(void **state)
{
    (void)state;
    int present = 0;
    for (size_t s = 0; s < cb_api_route_sets_count; s++) {
        for (size_t j = 0; j < *cb_api_route_sets[s].count; j++) {
            const struct cb_route *rt = &cb_api_route_sets[s].routes[j];
            present |= strcmp(rt->pattern, "/api/users/{id}/sessions") == 0 &&
                       strcmp(rt->method, "DELETE") == 0;
        }
    }
    assert_true(present);
    struct cbt_client c;
    struct cbt_resp r;
    char tok[80], path[128], uid[40];
    cbt_client_init(&c, G.srv.url);
    assert_int_equal(login(&c, "endme", NULL, tok), 200);
    rq(&c, "GET", "/api/me", NULL, &r);
    snprintf(uid, sizeof(uid), "%s", cbt_jstr(&r, "user.id"));
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/users/%s/sessions", uid);
    rq(&G.c[ALICE], "DELETE", path, NULL, &r);
    expect_error(&r, 403, "forbidden", "a coach ending someone's sessions");
    cbt_resp_free(&r);
    assert_int_equal(me_with(tok), 200);
    rq(&G.c[ADM], "DELETE", path, NULL, &r);
    expect_status(&r, 200, "admin ends endme's sessions");
    cbt_resp_free(&r);
    assert_int_equal(me_with(tok), 401);
    assert_int_equal(login(&c, "endme", NULL, tok), 200); /* the account still works */
    cbt_client_free(&c);
}

/*
 * A user changes their own password: the current one is checked (a wrong one
 * is 422 and counts as a failed sign-in), the new one is validated, every other
 * session of the account ends and this one stays; the old password no longer
 * signs in.  An administrator's reset (`user password`) ends every session.
 */
static void test_password_change(void **state)
{
    (void)state;
    struct cbt_client a, b, c;
    struct cbt_resp r;
    char ta[80], tb[80], body[300];
    cbt_client_init(&a, G.srv.url);
    cbt_client_init(&b, G.srv.url);
    cbt_client_init(&c, G.srv.url);
    assert_int_equal(login(&a, "pwc", NULL, ta), 200);
    assert_int_equal(login(&b, "pwc", NULL, tb), 200);
    char saved[80];
    memcpy(saved, a.csrf, sizeof(saved));
    a.csrf[0] = '\0';
    snprintf(body, sizeof(body), "{\"current_password\":\"%s\",\"new_password\":\"a new one 123\"}",
             PW);
    rq(&a, "POST", "/api/me/password", body, &r);
    expect_error(&r, 403, "csrf", "password change without CSRF");
    cbt_resp_free(&r);
    memcpy(a.csrf, saved, sizeof(saved));
    rq(&a, "POST", "/api/me/password",
       "{\"current_password\":\"not it at all\",\"new_password\":\"a new one 123\"}", &r);
    expect_error(&r, 422, "invalid", "a wrong current password");
    assert_non_null(strstr(r.body, "current_password"));
    cbt_resp_free(&r);
    snprintf(body, sizeof(body), "{\"current_password\":\"%s\",\"new_password\":\"short\"}", PW);
    rq(&a, "POST", "/api/me/password", body, &r);
    expect_error(&r, 400, "invalid", "a short new password");
    assert_non_null(strstr(r.body, "new_password"));
    cbt_resp_free(&r);
    snprintf(body, sizeof(body), "{\"current_password\":\"%s\",\"new_password\":\"%s\"}", PW, PW);
    rq(&a, "POST", "/api/me/password", body, &r);
    expect_error(&r, 400, "invalid", "the same password again");
    cbt_resp_free(&r);
    rq(&a, "POST", "/api/me/password", "{\"new_password\":\"a new one 123\"}", &r);
    expect_error(&r, 400, "invalid", "no current password");
    cbt_resp_free(&r);
    assert_int_equal(me_with(ta), 200);
    assert_int_equal(me_with(tb), 200);
    snprintf(body, sizeof(body), "{\"current_password\":\"%s\",\"new_password\":\"a new one 123\"}",
             PW);
    rq(&a, "POST", "/api/me/password", body, &r);
    expect_status(&r, 200, "password change");
    assert_int_equal(json_integer_value(json_object_get(r.json, "sessions_ended")), 1);
    check_security_headers(r.headers, 0, "password change");
    cbt_resp_free(&r);
    assert_int_equal(me_with(ta), 200); /* this session stays */
    assert_int_equal(me_with(tb), 401); /* the other ends */
    assert_int_equal(login(&c, "pwc", NULL, NULL), 401);
    assert_int_equal(login_pw(&c, "pwc", "a new one 123", NULL, NULL), 200);
    /* No hash in the answer or the audit detail; the change is audited. */
    char db[600];
    snprintf(db, sizeof(db), "%s/coachbox.db", G.srv.data);
    sqlite3 *s;
    sqlite3_stmt *st;
    int ok_events = -1, failed_events = -1;
    assert_int_equal(sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(s, 5000);
    if (sqlite3_prepare_v2(s,
                           "SELECT sum(outcome = 'ok'), sum(outcome = 'failed') FROM audit_events "
                           "WHERE action = 'user.password' AND entity_id = "
                           "(SELECT id FROM users WHERE username = 'pwc')",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        ok_events = sqlite3_column_int(st, 0);
        failed_events = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(s);
    assert_int_equal(ok_events, 1);
    assert_int_equal(failed_events, 1);

    /* An administrator's reset from the command line ends every session. */
    char tr[80], out[512];
    assert_int_equal(login(&c, "pwreset", NULL, tr), 200);
    const char *reset[] = {"user", "password", "--data", G.srv.data, "--username", "pwreset", NULL};
    assert_int_equal(cbt_run(reset, "short\n", out, sizeof(out)), 2);
    assert_int_equal(me_with(tr), 200); /* a refused reset changes nothing */
    assert_int_equal(cbt_run(reset, "reset by it 456\n", out, sizeof(out)), 0);
    assert_int_equal(me_with(tr), 401);
    assert_int_equal(login(&c, "pwreset", NULL, NULL), 401);
    assert_int_equal(login_pw(&c, "pwreset", "reset by it 456", NULL, NULL), 200);
    const char *nobody[] = {"user", "password", "--data", G.srv.data, "--username", "nobody", NULL};
    assert_int_equal(cbt_run(nobody, "reset by it 456\n", out, sizeof(out)), 2);
    cbt_client_free(&a);
    cbt_client_free(&b);
    cbt_client_free(&c);
}

/*
 * F47: a small body nested ~900 levels deep (before any sign-in) crashed the
 * whole server: jansson's parser recursed past a worker's stack.  Refused with
 * 400 now, at any depth, and the server goes on answering.
 */
static void test_deeply_nested_body(void **state)
{
    (void)state;
    static const int depths[] = {300, 900, 5000, 100000};
    for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
        int n = depths[d];
        char *body = malloc((size_t)n * 5 + 2);
        assert_non_null(body);
        size_t at = 0;
        for (int i = 0; i < n; i++) {
            memcpy(body + at, d % 2 ? "{\"a\":" : "[", d % 2 ? 5 : 1);
            at += d % 2 ? 5 : 1;
        }
        body[at] = '\0';
        struct cbt_client c;
        struct cbt_resp r;
        cbt_client_init(&c, G.srv.url);
        rq(&c, "POST", "/api/login", body, &r);
        if (r.status != 400 || !strstr(r.body, "nested")) {
            fail_msg("a body nested %d deep: %ld %.200s", n, r.status, r.body);
        }
        cbt_resp_free(&r);
        rq(&G.c[ALICE], "POST", "/api/participants", body, &r);
        expect_status(&r, 400, "a signed-in write nested deep");
        cbt_resp_free(&r);
        cbt_client_free(&c);
        free(body);
    }
    struct cbt_resp r;
    rq(&G.c[ALICE], "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "the server still answers");
    cbt_resp_free(&r);
}

/* The server writes no core file (it would hold personal data, tokens and secrets). */
static void test_no_core_dumps(void **state)
{
    (void)state;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)G.srv.pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int seen = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Max core file size", 18) == 0) {
            char soft[32], hard[32];
            assert_int_equal(sscanf(line + 18, "%31s %31s", soft, hard), 2);
            assert_string_equal(soft, "0");
            assert_string_equal(hard, "0");
            seen = 1;
        }
    }
    fclose(f);
    assert_true(seen);
}

/* Idle expiry also holds for writes (401, not 403), and the row is gone. */
static void test_idle_expiry_on_write(void **state)
{
    (void)state;
    char data[512], db[600];
    struct cbt_server s;
    struct cbt_client c;
    struct cbt_resp r;
    char tok[80];
    cbt_tempdir(data, sizeof(data), "itsecidle");
    assert_int_equal(cbt_add_user(data, "idle", "coach", "prestwich", PW), 0);
    const char *extra[] = {"--idle-timeout", "1", NULL};
    assert_int_equal(cbt_server_start(&s, data, extra), 0);
    cbt_client_init(&c, s.url);
    {
        char body[200];
        snprintf(body, sizeof(body), "{\"username\":\"idle\",\"password\":\"%s\"}", PW);
        rq(&c, "POST", "/api/login", body, &r);
        expect_status(&r, 200, "login idle");
        snprintf(c.csrf, sizeof(c.csrf), "%s", cbt_jstr(&r, "csrf_token"));
        assert_true(cookie_token(r.headers, tok, sizeof(tok)));
        cbt_resp_free(&r);
    }
    struct timespec ts = {2, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    rq(&c, "POST", "/api/participants",
       "{\"given_name\":\"A\",\"family_name\":\"B\",\"date_of_birth\":\"1990-01-01\"}", &r);
    expect_error(&r, 401, "unauthenticated", "write after the idle timeout");
    cbt_resp_free(&r);
    snprintf(db, sizeof(db), "%s/coachbox.db", data);
    sqlite3 *d;
    assert_int_equal(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(d, 5000);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(d, "SELECT count(*) FROM sessions", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(d, "SELECT count(*) FROM participants", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(d);
    cbt_client_free(&c);
    assert_int_equal(cbt_server_stop(&s), 0);
    cbt_rmtree(data);
    remove(s.log);
}

/* ------------------------------------------------------ headers everywhere */

static void test_headers_assets_and_304(void **state)
{
    (void)state;
    struct cbt_client c;
    struct cbt_resp r;
    char etag[200], h[260];
    cbt_client_init(&c, G.srv.url);
    static const char *const paths[] = {
        "/", "/index.html", "/sw.js", "/manifest.webmanifest", "/nope", "/assets/nope.js", NULL};
    for (int i = 0; paths[i]; i++) {
        rq(&c, "GET", paths[i], NULL, &r);
        check_security_headers(r.headers, 0, paths[i]);
        if (r.status == 200) {
            assert_true(header_value(r.headers, "ETag", etag, sizeof(etag)));
            cbt_resp_free(&r);
            snprintf(h, sizeof(h), "If-None-Match: %s", etag);
            const char *hdr[] = {h, NULL};
            rq_ex(&c, "GET", paths[i], NULL, NULL, hdr, &r);
            expect_status(&r, 304, paths[i]);
            check_security_headers(r.headers, 0, "304");
            cbt_resp_free(&r);
            rq(&c, "HEAD", paths[i], NULL, &r);
            check_security_headers(r.headers, 0, "HEAD asset");
            assert_int_equal(r.body_len, 0);
        }
        cbt_resp_free(&r);
    }
    /* HEAD on the API: headers, no body. */
    rq(&G.c[ALICE], "HEAD", "/api/teams", NULL, &r);
    expect_status(&r, 200, "HEAD /api/teams");
    check_security_headers(r.headers, 0, "HEAD api");
    assert_int_equal(r.body_len, 0);
    cbt_resp_free(&r);
    cbt_client_free(&c);
}

/* CivetWeb's own error paths, on raw sockets. */
static void test_headers_on_civetweb_errors(void **state)
{
    (void)state;
    static char big[40000];
    char resp[65536];
    struct {
        const char *name;
        const char *req;
    } cases[] = {
        {"malformed request line", "GARBAGE\r\n\r\n"},
        {"no version", "GET /\r\n\r\n"},
        {"bad version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n"},
        {"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n"},
        {"NUL in request line", NULL},
        {"oversized header", big},
        {"too many headers", NULL},
    };
    /* 20 KB in one header line (the cap is 16 KiB). */
    int n = snprintf(big, sizeof(big), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 20000);
    memcpy(big + n + 20000, "\r\n\r\n", 5);
    char many[8192];
    size_t o = (size_t)snprintf(many, sizeof(many), "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 100; i++) {
        o += (size_t)snprintf(many + o, sizeof(many) - o, "X-H%d: v\r\n", i);
    }
    snprintf(many + o, sizeof(many) - o, "\r\n");
    cases[6].req = many;
    static const char nul_req[] = "GET /api/me\0x HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *req = cases[i].req ? cases[i].req : nul_req;
        size_t len = cases[i].req ? strlen(req) : sizeof(nul_req) - 1;
        int st = raw_request(req, len, resp, sizeof(resp), 5000);
        if (st == 0) {
            /* closing without an answer is acceptable only if nothing was sent */
            if (resp[0]) {
                fail_msg("%s: unparseable answer: %.200s", cases[i].name, resp);
            }
            print_message("%s: connection closed without a response\n", cases[i].name);
            continue;
        }
        if (st < 400 && strcmp(cases[i].name, "too many headers") != 0) {
            fail_msg("%s: answered %d", cases[i].name, st);
        }
        check_security_headers(raw_headers(resp), 0, cases[i].name);
    }
    /* The server still answers. */
    int st = raw_request(HEALTHZ_REQ, sizeof(HEALTHZ_REQ) - 1, resp, sizeof(resp), 5000);
    assert_int_equal(st, 200);
}

/* ---------------------------------------------------------------- probes */

/*
 * The sync endpoints belong to central: a field server answers 404 before it
 * reads a body, so no one on the venue's network can make it take in 64 MiB
 * bodies (and their parse) without signing in.
 */
static void test_sync_push_body_not_read_on_field_server(void **state)
{
    (void)state;
    char out[4096];
    int st = raw_request(BIG_PUSH_REQ, sizeof(BIG_PUSH_REQ) - 1, out, sizeof(out), 5000);
    if (st != 404 || !strstr(out, "not a central record store")) {
        fail_msg("a field server given a 60 MB push body it was not sent: status %d (0: it "
                 "waited for the body) %.200s",
                 st, out);
    }
}

static void test_raw_path_probes(void **state)
{
    (void)state;
    static const char *const probes[] = {
        "/../../../../etc/passwd",
        "/assets/../../coachbox.db",
        "/assets/..%2f..%2fcoachbox.db",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%252e%252e/etc/passwd",
        "/..\\..\\etc\\passwd",
        "//etc/passwd",
        "/./index.html/..",
        "/index.html%00.js",
        "/index.html::$DATA",
        "/api/me%00",
        "/api/../api/me",
        "/api/participants/..;/me",
        "/x.cgi",
        "/cgi-bin/printenv",
        "/x.shtml",
        "/index.shtml",
        "/assets/",
        "/.git/HEAD",
        "/coachbox.db",
        "/coachbox.db-wal",
        "/proc/self/environ",
        "http://evil.example/api/me",
        "*",
        NULL,
    };
    char req[1024], resp[65536];
    for (int i = 0; probes[i]; i++) {
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", probes[i]);
        int st = raw_request(req, (size_t)n, resp, sizeof(resp), 5000);
        if (st == 200 && (strcmp(probes[i], "/./index.html/..") == 0)) {
            st = 404; /* normalised to "/" by CivetWeb: the index page, no leak */
        }
        if (st == 401 && strncmp(probes[i], "/api/", 5) == 0) {
            st = 404; /* normalised inside /api/ and routed: sign-in required, no leak */
        }
        if (st != 0 && st != 400 && st != 404 && st != 405) {
            fail_msg("%s answered %d: %.300s", probes[i], st, resp);
        }
        if (strstr(resp, "root:") || strstr(resp, "SQLite format") || strstr(resp, "Index of") ||
            strstr(resp, "refs/heads") || strstr(resp, "PATH=")) {
            fail_msg("%s leaked content: %.300s", probes[i], resp);
        }
        if (st) {
            check_security_headers(raw_headers(resp), 0, probes[i]);
        }
    }
}

/* PUT, DELETE, TRACE, OPTIONS, WebDAV methods on assets: never a 2xx, never an echo. */
static void test_methods_on_assets(void **state)
{
    (void)state;
    static const char *const methods[] = {"PUT",      "DELETE", "TRACE", "OPTIONS",
                                          "PROPFIND", "MKCOL",  "PATCH", "POST",
                                          "CONNECT",  "MOVE",   "COPY",  NULL};
    static const char *const paths[] = {"/", "/index.html", "/assets/x.js", "/new.html", NULL};
    char req[1024], resp[65536];
    for (int m = 0; methods[m]; m++) {
        for (int p = 0; paths[p]; p++) {
            int n = snprintf(req, sizeof(req),
                             "%s %s HTTP/1.1\r\nHost: x\r\nX-Probe: echo-me-back\r\n"
                             "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
                             methods[m], paths[p]);
            int st = raw_request(req, (size_t)n, resp, sizeof(resp), 5000);
            if (st >= 200 && st < 400) {
                fail_msg("%s %s answered %d: %.300s", methods[m], paths[p], st, resp);
            }
            if (strstr(resp, "echo-me-back")) {
                fail_msg("%s %s echoed the request (cross-site tracing)", methods[m], paths[p]);
            }
            if (st) {
                check_security_headers(raw_headers(resp), 0, methods[m]);
            }
        }
    }
    /* Nothing was written where a document root would be. */
    struct cbt_client c;
    struct cbt_resp r;
    cbt_client_init(&c, G.srv.url);
    rq(&c, "GET", "/new.html", NULL, &r);
    expect_status(&r, 404, "GET /new.html after PUT");
    cbt_resp_free(&r);
    cbt_client_free(&c);
}

/* Bodies: lying or conflicting lengths are refused quickly and the server stays up. */
static void test_body_length_tricks(void **state)
{
    (void)state;
    char req[2048], resp[65536];
    struct timespec t0, t1;
    struct {
        const char *name, *fmt;
        int ok_statuses[4];
    } cases[] = {
        {"huge Content-Length",
         "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 999999999999\r\n\r\n{}",
         {413, 400, 0, -1}},
        {"negative Content-Length",
         "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: -5\r\n\r\n{}",
         {400, 411, 413, 0}},
        {"two Content-Lengths",
         "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
         {400, 0, -1, -1}},
        {"Content-Length and chunked",
         "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         {400, 401, 0, -1}},
        {"bad chunk size",
         "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{}\r\n0\r\n\r\n",
         {400, 413, 0, -1}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = snprintf(req, sizeof(req), "%s", cases[i].fmt);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int st = raw_request(req, (size_t)n, resp, sizeof(resp), 12000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        int ok = 0;
        for (int k = 0; k < 4; k++) {
            ok |= cases[i].ok_statuses[k] == st && st != -1;
        }
        if (!ok) {
            fail_msg("%s: answered %d%s: %.300s", cases[i].name, st,
                     st == 500 ? " (F7: a malformed body is a server error)" : "", resp);
        }
        if (st == 0) {
            print_message("%s: closed without a response after %.1f s\n", cases[i].name, secs);
        } else {
            check_security_headers(raw_headers(resp), 0, cases[i].name);
        }
        if (secs > 11.0) {
            fail_msg("%s: took %.1f s", cases[i].name, secs);
        }
    }
    int st = raw_request(HEALTHZ_REQ, sizeof(HEALTHZ_REQ) - 1, resp, sizeof(resp), 5000);
    assert_int_equal(st, 200);
}

/*
 * Slow clients: 20 connections trickle a header byte per second.  Meanwhile
 * ordinary requests are answered within 3 s each, and the server drops the
 * trickling connections after its request timeout (10 s).  Bounded: ~15 s.
 */
static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_slow_clients(void **state)
{
    (void)state;
    enum { NSLOW = 20, SECONDS = 14 };
    static const char trickle[] =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaa";
    int fds[NSLOW];
    size_t pos[NSLOW];
    int closed_at[NSLOW];
    for (int i = 0; i < NSLOW; i++) {
        fds[i] = raw_connect(G.port);
        assert_true(fds[i] >= 0);
        pos[i] = 0;
        closed_at[i] = -1;
    }
    struct cbt_client c;
    cbt_client_init(&c, G.srv.url);
    curl_easy_setopt(c.curl, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(c.curl, CURLOPT_FORBID_REUSE, 1L);
    double worst = 0;
    int served = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int sec = 0; sec < SECONDS; sec++) {
        for (int i = 0; i < NSLOW; i++) {
            if (closed_at[i] >= 0) {
                continue;
            }
            char b;
            ssize_t r = recv(fds[i], &b, 1, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                closed_at[i] = sec;
                continue;
            }
            if (pos[i] + 1 < sizeof(trickle) &&
                send(fds[i], trickle + pos[i], 1, MSG_NOSIGNAL) == 1) {
                pos[i]++;
            }
        }
        struct timespec q0;
        clock_gettime(CLOCK_MONOTONIC, &q0);
        struct cbt_resp r;
        if (cbt_request(&c, "GET", "/healthz", NULL, &r) != 0 || r.status != 200) {
            fail_msg("second %d: an ordinary request was not served while %d clients trickle", sec,
                     NSLOW);
        }
        cbt_resp_free(&r);
        served++;
        double took = ms_since(&q0);
        worst = took > worst ? took : worst;
        double spent = ms_since(&t0);
        double next = (sec + 1) * 1000.0;
        if (spent < next) {
            struct timespec ts = {0, (long)((next - spent) * 1e6)};
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec = ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
            }
            nanosleep(&ts, NULL);
        }
    }
    int dropped = 0;
    for (int i = 0; i < NSLOW; i++) {
        char b[512];
        ssize_t r = recv(fds[i], b, sizeof(b), MSG_DONTWAIT);
        if (closed_at[i] >= 0 || r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            dropped++;
        }
        close(fds[i]);
    }
    cbt_client_free(&c);
    print_message("slow clients: %d ordinary requests served, slowest %.0f ms; %d of %d "
                  "trickling connections dropped by the server within %d s\n",
                  served, worst, dropped, NSLOW, SECONDS);
    assert_true(worst < 3000.0);
    if (dropped < NSLOW) {
        fail_msg("only %d of %d trickling connections were dropped after %d s (request timeout "
                 "10 s): each holds a worker thread",
                 dropped, NSLOW, SECONDS);
    }
}

/* ------------------------------------------------------------------ HTTPS */

static int run_cmd(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) {
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A self-signed P-256 certificate for 127.0.0.1/localhost with its key, in one PEM file. */
static int make_cert(const char *dir, char *pem, size_t len)
{
    char key[600], crt[600];
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(crt, sizeof(crt), "%s/crt.pem", dir);
    snprintf(pem, len, "%s/server.pem", dir);
    const char *argv[] = {"openssl",
                          "req",
                          "-x509",
                          "-newkey",
                          "ec",
                          "-pkeyopt",
                          "ec_paramgen_curve:prime256v1",
                          "-nodes",
                          "-keyout",
                          key,
                          "-out",
                          crt,
                          "-days",
                          "2",
                          "-subj",
                          "/CN=localhost",
                          "-addext",
                          "subjectAltName=DNS:localhost,IP:127.0.0.1",
                          NULL};
    if (run_cmd(argv) != 0) {
        return -1;
    }
    FILE *out = fopen(pem, "w");
    if (!out) {
        return -1;
    }
    const char *parts[] = {crt, key};
    for (int i = 0; i < 2; i++) {
        FILE *in = fopen(parts[i], "r");
        if (!in) {
            fclose(out);
            return -1;
        }
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
            fwrite(buf, 1, n, out);
        }
        fclose(in);
    }
    fclose(out);
    chmod(pem, 0600);
    return 0;
}

static long tls_get(const char *url, long sslversion, char *headers_out, size_t hlen)
{
    struct cbt_client c;
    struct cbt_resp r;
    cbt_client_init(&c, url);
    curl_easy_setopt(c.curl, CURLOPT_SSLVERSION, sslversion);
    long st = -1;
    if (cbt_request(&c, "GET", "/healthz", NULL, &r) == 0) {
        st = r.status;
        if (headers_out) {
            snprintf(headers_out, hlen, "%s", r.headers);
        }
        cbt_resp_free(&r);
    }
    cbt_client_free(&c);
    return st;
}

static void test_https(void **state)
{
    (void)state;
    char data[512], pem[700], hdrs[8192];
    struct cbt_server s;
    struct cbt_resp r;
    cbt_tempdir(data, sizeof(data), "itsectls");
    assert_int_equal(mkdir(data, 0700), 0);
    if (make_cert(data, pem, sizeof(pem)) != 0) {
        fail_msg("openssl could not make a certificate");
    }
    assert_int_equal(cbt_add_user(data, "tls", "coach", "prestwich", PW), 0);
    const char *extra[] = {"--cert", pem, NULL};
    if (cbt_server_start(&s, data, extra) != 0) {
        fail_msg("F0: serve --cert did not start (CivetWeb 1.15 has no option "
                 "strict_transport_security; see %s)",
                 s.log);
    }
    if (strncmp(s.url, "https://", 8) != 0) {
        fail_msg("serve --cert printed %s, not an https:// URL", s.url);
    }
    /* TLS 1.2 and 1.3 work; 1.0 and 1.1 are refused. */
    assert_int_equal(
        tls_get(s.url, CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2, hdrs, sizeof(hdrs)),
        200);
    check_security_headers(hdrs, 1, "healthz over TLS 1.2");
    assert_int_equal(tls_get(s.url, CURL_SSLVERSION_TLSv1_3, NULL, 0), 200);
    assert_int_equal(tls_get(s.url, CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1, NULL, 0),
                     -1);
    assert_int_equal(tls_get(s.url, CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_0, NULL, 0),
                     -1);

    /* Login: the __Host- cookie, Secure, HttpOnly, SameSite=Strict, Path=/, no Domain. */
    struct cbt_client c;
    cbt_client_init(&c, s.url);
    char body[200], v[512];
    snprintf(body, sizeof(body), "{\"username\":\"tls\",\"password\":\"%s\"}", PW);
    rq(&c, "POST", "/api/login", body, &r);
    expect_status(&r, 200, "login over HTTPS");
    check_security_headers(r.headers, 1, "login over HTTPS");
    assert_true(header_value(r.headers, "Set-Cookie", v, sizeof(v)));
    assert_true(strncmp(v, "__Host-cb_session=", 18) == 0);
    static const char *const attrs[] = {"; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/",
                                        NULL};
    for (int i = 0; attrs[i]; i++) {
        if (!strstr(v, attrs[i])) {
            fail_msg("HTTPS session cookie lacks %s: %s", attrs[i], v);
        }
    }
    for (const char *q = v; *q; q++) {
        assert_false(strncasecmp(q, "domain=", 7) == 0);
    }
    char tok[80];
    size_t n = strcspn(v + 18, ";");
    memcpy(tok, v + 18, n);
    tok[n] = '\0';
    snprintf(c.csrf, sizeof(c.csrf), "%s", cbt_jstr(&r, "csrf_token"));
    cbt_resp_free(&r);
    rq(&c, "GET", "/api/me", NULL, &r);
    expect_status(&r, 200, "me over HTTPS");
    check_security_headers(r.headers, 1, "me over HTTPS");
    cbt_resp_free(&r);
    /* The plain-HTTP cookie name is not a session over HTTPS. */
    struct cbt_client c2;
    cbt_client_init(&c2, s.url);
    char h[200];
    const char *hdr[] = {h, NULL};
    snprintf(h, sizeof(h), "Cookie: cb_session=%s", tok);
    rq_ex(&c2, "GET", "/api/me", NULL, NULL, hdr, &r);
    expect_status(&r, 401, "cb_session cookie over HTTPS");
    check_security_headers(r.headers, 1, "401 over HTTPS");
    cbt_resp_free(&r);
    /* Errors, assets and 404s carry HSTS too. */
    static const char *const paths[] = {"/", "/nope", "/api/nope", "/%2e%2e/x", NULL};
    for (int i = 0; paths[i]; i++) {
        rq(&c2, "GET", paths[i], NULL, &r);
        check_security_headers(r.headers, 1, paths[i]);
        cbt_resp_free(&r);
    }
    /* Plain HTTP on the TLS port gets no page. */
    {
        int fd = raw_connect(port_of(s.url));
        assert_true(fd >= 0);
        char resp[4096];
        send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
        recv_response(fd, resp, sizeof(resp), 3000);
        close(fd);
        if (strstr(resp, "<html") || strstr(resp, "HTTP/1.1 200")) {
            fail_msg("plain HTTP on the HTTPS port was served: %.200s", resp);
        }
    }
    cbt_client_free(&c);
    cbt_client_free(&c2);
    assert_int_equal(cbt_server_stop(&s), 0);
    cbt_rmtree(data);
    remove(s.log);
}

/* ----------------------------------------------------------- sync scope */

/*
 * F1: a push from prestwich's site that attaches a contact note to a
 * radcliffe participant (F1a, fixed in 5e29547), or re-points one of its own
 * contacts at them (F1b, still applied), must be rejected: a field box sits
 * in a community venue, and must not write into another team's records
 * whose participant id it knows.
 */
static void test_sync_push_other_team_participant(void **state)
{
    (void)state;
    char data[512], out[2048], code[32] = "";
    struct cbt_server central;
    cbt_tempdir(data, sizeof(data), "itseccentral");
    /* `coachbox central` (the harness starts `serve`), with the harness's log convention; the
     * first start makes the store a central one, then `site add` can use it. */
    assert_int_equal(cbt_add_user(data, "cmgr", "manager", NULL, PW), 0);
    memset(&central, 0, sizeof(central));
    snprintf(central.data, sizeof(central.data), "%s", data);
    snprintf(central.log, sizeof(central.log), "%s.log", data);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(central.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(cbt_bin(), cbt_bin(), "central", "--data", data, "--listen", "127.0.0.1:0", NULL);
        _exit(127);
    }
    central.pid = pid;
    for (int i = 0; i < 3000 && !central.url[0]; i++) {
        FILE *f = fopen(central.log, "r");
        if (f) {
            char buf[4096];
            size_t got = fread(buf, 1, sizeof(buf) - 1, f);
            buf[got] = '\0';
            fclose(f);
            char *u = strstr(buf, "listening on ");
            if (u) {
                u += 13;
                size_t k = strcspn(u, " \n");
                if (k < sizeof(central.url)) {
                    memcpy(central.url, u, k);
                    central.url[k] = '\0';
                }
            }
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!central.url[0]) {
        cbt_server_kill(&central);
        fail_msg("central did not start (log %s)", central.log);
    }
    const char *add[] = {"site",          "add",    "--data",    data, "--name",
                         "prestwich-box", "--team", "prestwich", NULL};
    if (cbt_run(add, NULL, out, sizeof(out)) != 0) {
        fail_msg("site add: %s", out);
    }
    const char *p = strstr(out, "code");
    p = p ? strchr(p, ':') : NULL;
    if (!p || sscanf(p + 1, " %31s", code) != 1) {
        fail_msg("no enrollment code in: %s", out);
    }
    /* Enroll as the site. */
    struct cbt_client c;
    struct cbt_resp r;
    char body[4096], schema[16];
    cbt_client_init(&c, central.url);
    rq(&c, "GET", "/healthz", NULL, &r);
    snprintf(schema, sizeof(schema), "%lld",
             (long long)json_integer_value(json_object_get(r.json, "schema_version")));
    cbt_resp_free(&r);
    snprintf(body, sizeof(body), "{\"code\":\"%s\",\"first_op_id\":1,\"schema\":%s}", code, schema);
    rq(&c, "POST", "/sync/v1/enroll", body, &r);
    expect_status(&r, 200, "enroll");
    char site[40], secret[80];
    snprintf(site, sizeof(site), "%s", cbt_jstr(&r, "site_id"));
    snprintf(secret, sizeof(secret), "%s", cbt_jstr(&r, "secret"));
    cbt_resp_free(&r);
    /* A radcliffe and a prestwich participant, made on central by a manager. */
    assert_int_equal(login(&c, "cmgr", NULL, NULL), 200);
    char rad[40], pre[40];
    static const char *const people[][2] = {{"Cliffe", "radcliffe"}, {"Wich", "prestwich"}};
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof(body),
                 "{\"given_name\":\"Sync\",\"family_name\":\"%s\",\"date_of_birth\":"
                 "\"1960-01-01\",\"team\":\"%s\"}",
                 people[i][0], people[i][1]);
        rq(&c, "POST", "/api/participants", body, &r);
        expect_status(&r, 201, "central participant");
        snprintf(i == 0 ? rad : pre, 40, "%s", cbt_jstr(&r, "id"));
        cbt_resp_free(&r);
    }

    /* One signed push: (1) a contact for prestwich's person - fine; (2) a new contact
     * attached to radcliffe's person; (3) contact (1) re-pointed at radcliffe's person. */
    char now[40];
    static const char enc1[] = "01890000-0000-7000-8000-0000000f0001";
    static const char enc2[] = "01890000-0000-7000-8000-0000000f0002";
    now_iso(-60, now);
    snprintf(body, sizeof(body),
             "{\"ops\":["
             "{\"op_id\":1,\"tbl\":\"encounters\",\"row_id\":\"%s\",\"fields\":"
             "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"%s\","
             "\"team\":\"prestwich\",\"notes\":\"honest note\",\"created_at\":\"%s\","
             "\"deleted\":0},\"hlc\":1,\"base_seq\":0},"
             "{\"op_id\":2,\"tbl\":\"encounters\",\"row_id\":\"%s\",\"fields\":"
             "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"%s\","
             "\"team\":\"prestwich\",\"notes\":\"forged note\",\"created_at\":\"%s\","
             "\"deleted\":0},\"hlc\":2,\"base_seq\":0},"
             "{\"op_id\":3,\"tbl\":\"encounters\",\"row_id\":\"%s\",\"fields\":"
             "{\"participant_id\":\"%s\"},\"hlc\":3,\"base_seq\":0}"
             "],\"pending\":0}",
             enc1, pre, now, now, enc2, rad, now, now, enc1, rad);
    char ts[32], nonce[40], sig[CB_SIG_HEXLEN], h[5][160];
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL) * 1000LL);
    snprintf(nonce, sizeof(nonce), "%08x%08xabcdef01", (unsigned)getpid(), (unsigned)rand());
    assert_int_equal(cb_sign(secret, "POST", "/sync/v1/push", ts, nonce, body, strlen(body), sig),
                     0);
    snprintf(h[0], sizeof(h[0]), "X-CB-Site: %s", site);
    snprintf(h[1], sizeof(h[1]), "X-CB-Timestamp: %s", ts);
    snprintf(h[2], sizeof(h[2]), "X-CB-Nonce: %s", nonce);
    snprintf(h[3], sizeof(h[3]), "X-CB-Signature: %s", sig);
    snprintf(h[4], sizeof(h[4]), "X-CB-Schema: %s", schema);
    const char *hdr[] = {h[0], h[1], h[2], h[3], h[4], NULL};
    struct cbt_client sc;
    cbt_client_init(&sc, central.url);
    rq_ex(&sc, "POST", "/sync/v1/push", body, NULL, hdr, &r);
    expect_status(&r, 200, "push");
    char pushed[1024];
    snprintf(pushed, sizeof(pushed), "%s", r.body);
    json_t *ack = json_object_get(r.json, "ack");
    int acked = json_is_integer(ack) && json_integer_value(ack) == 3;
    cbt_resp_free(&r);
    /* The same signed request again is a replay. */
    rq_ex(&sc, "POST", "/sync/v1/push", body, NULL, hdr, &r);
    expect_status(&r, 401, "replayed push");
    assert_string_equal(cbt_jstr(&r, "error.code"), "replayed");
    cbt_resp_free(&r);
    cbt_client_free(&sc);

    /* What the manager sees: radcliffe's person has no contact; prestwich's keeps its own. */
    char path[128];
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", rad);
    rq(&c, "GET", path, NULL, &r);
    int attached = r.body && strstr(r.body, "forged note") != NULL;
    int repointed = r.body && strstr(r.body, "honest note") != NULL;
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/encounters", pre);
    rq(&c, "GET", path, NULL, &r);
    int kept = r.body && strstr(r.body, "honest note") != NULL;
    cbt_resp_free(&r);
    cbt_client_free(&c);
    /* An unsigned push, and one naming an unknown site, are refused before central reads
     * their bodies (push_gate). */
    int cport = (int)strtol(strrchr(central.url, ':') + 1, NULL, 10);
    char raw[4096];
    int unsigned_st =
        raw_request_to(cport, BIG_PUSH_REQ, sizeof(BIG_PUSH_REQ) - 1, raw, sizeof(raw), 5000);
    char unknown[1024];
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    snprintf(unknown, sizeof(unknown),
             "POST /sync/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "X-CB-Site: 01900000-0000-7000-8000-0000000000ff\r\nX-CB-Timestamp: %lld\r\n"
             "X-CB-Nonce: 0123456789abcdef0123\r\nX-CB-Signature: x\r\n"
             "Content-Length: 60000000\r\n\r\n{\"ops\":[",
             (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
    char raw2[4096];
    int unknown_st = raw_request_to(cport, unknown, strlen(unknown), raw2, sizeof(raw2), 5000);
    kill(central.pid, SIGTERM);
    waitpid(central.pid, NULL, 0);
    cbt_rmtree(data);
    remove(central.log);
    if (unsigned_st != 401 || unknown_st != 401 || !strstr(raw2, "unknown site")) {
        fail_msg("central given 60 MB push bodies it was not sent, unsigned: %d, from an unknown "
                 "site: %d (0: it waited for the body) %.200s",
                 unsigned_st, unknown_st, raw2);
    }
    if (!acked) {
        fail_msg("F1: the push was not acknowledged in full: %s", pushed);
    }
    if (attached) {
        fail_msg("F1a: prestwich's site attached a new contact to radcliffe's person: %s", pushed);
    }
    if (repointed || !kept) {
        fail_msg("F1b: prestwich's site re-pointed its own contact at radcliffe's person (push "
                 "answer %s); central must reject it (\"record about a person outside the "
                 "site's teams\")",
                 pushed);
    }
}

int main(void)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix_no_session),
        cmocka_unit_test(test_matrix_csrf),
        cmocka_unit_test(test_matrix_roles),
        cmocka_unit_test(test_matrix_other_team_records),
        cmocka_unit_test(test_denied_writes_audited),
        cmocka_unit_test(test_idempotency_key_concurrent),
        cmocka_unit_test(test_create_referring_to_other_team),
        cmocka_unit_test(test_search_other_team),
        cmocka_unit_test(test_search_cursor_other_team),
        cmocka_unit_test(test_session_fixation_and_tokens),
        cmocka_unit_test(test_logout_ends_one_session),
        cmocka_unit_test(test_disabled_then_enabled),
        cmocka_unit_test(test_logout_all_and_users_list),
        cmocka_unit_test(test_admin_ends_user_sessions),
        cmocka_unit_test(test_password_change),
        cmocka_unit_test(test_no_core_dumps),
        cmocka_unit_test(test_deeply_nested_body),
        cmocka_unit_test(test_idle_expiry_on_write),
        cmocka_unit_test(test_headers_assets_and_304),
        cmocka_unit_test(test_headers_on_civetweb_errors),
        cmocka_unit_test(test_raw_path_probes),
        cmocka_unit_test(test_sync_push_body_not_read_on_field_server),
        cmocka_unit_test(test_methods_on_assets),
        cmocka_unit_test(test_body_length_tricks),
        cmocka_unit_test(test_slow_clients),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_sync_push_other_team_participant),
    };
    int failed = cmocka_run_group_tests_name("it_security", tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
