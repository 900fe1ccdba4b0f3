/*
 * api_reports.c - manager reports (reports.h): outcomes, the people behind
 * a figure, reach, data quality, activity by venue, and the quarterly return as CSV.
 *
 * Query parameters are checked by name: a parameter a route does not take
 * is a 400 naming it, so a misspelt filter never silently widens a report.
 */
#include "coachbox/api.h"
#include "coachbox/auth.h"
#include "coachbox/reports.h"

#include <assert.h>
#include <civetweb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Buffers behind a struct cb_report_query. */
struct report_query {
    char from[16], to[16], team[80], venue[48], coach[48], programme[48], topic[40], cohort[40],
        split[40], suppress[8], figure[120], group[80], limit[16], weeks[16], quarter[16];
};

/* Who may run a report: clinical roles (each sees their own team) or managers only. */
enum report_access { ACCESS_TEAM, ACCESS_MANAGER };

/* Route context: who may run it, the parameters it takes and the domain function. */
struct report_route {
    enum report_access access;
    const char *const *params; /* NULL-terminated */
    int (*fn)(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
              json_t **out, struct cb_field_error *fe);
};

/*
 * The role gate of a report route, checked before any parameter is looked at
 * (finding F8): a caller whose role may never run the report gets 403 whatever
 * the query, so a bad or missing parameter tells them nothing.  The domain
 * functions check the role again (reports.c resolve_team) together with the
 * team a coach may name.  Returns 0 when allowed; otherwise the 403 is sent.
 */
static int check_role(struct cb_req *r, enum report_access access)
{
    assert(r->authed);
    int ok = cb_user_is_clinical(&r->user) &&
             (access == ACCESS_TEAM || strcmp(r->user.role, "manager") == 0);
    if (!ok) {
        cb_reply_error(r, CB_EFORBIDDEN, NULL);
        return -1;
    }
    return 0;
}

/*
 * Refuse a query parameter not in allowed (400 naming it).  Returns 0 when
 * every parameter is known; otherwise the reply has been sent.
 */
static int check_names(struct cb_req *r, const char *const *allowed)
{
    const char *qs = r->ri->query_string;
    while (qs && *qs) {
        const char *amp = strchr(qs, '&');
        size_t len = amp ? (size_t)(amp - qs) : strlen(qs);
        const char *eq = memchr(qs, '=', len);
        size_t nlen = eq ? (size_t)(eq - qs) : len;
        int known = nlen == 0;
        for (const char *const *a = allowed; !known && *a; a++) {
            known = strlen(*a) == nlen && strncmp(*a, qs, nlen) == 0;
        }
        if (!known) {
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(nlen < 60 ? nlen : 60), qs);
            cb_reply_problem(r, 400, "invalid", "this report does not take that parameter", name,
                             NULL);
            return -1;
        }
        qs = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* Read the route's parameters into b and point q at the present ones. */
static int read_query(struct cb_req *r, const char *const *allowed, struct report_query *b,
                      struct cb_report_query *q)
{
    struct {
        const char *name;
        char *buf;
        size_t len;
        const char **dst;
    } f[] = {
        {"from", b->from, sizeof(b->from), &q->from},
        {"to", b->to, sizeof(b->to), &q->to},
        {"team", b->team, sizeof(b->team), &q->team},
        {"venue", b->venue, sizeof(b->venue), &q->venue},
        {"coach", b->coach, sizeof(b->coach), &q->coach},
        {"programme", b->programme, sizeof(b->programme), &q->programme},
        {"topic", b->topic, sizeof(b->topic), &q->topic},
        {"cohort", b->cohort, sizeof(b->cohort), &q->cohort},
        {"split", b->split, sizeof(b->split), &q->split},
        {"suppress", b->suppress, sizeof(b->suppress), &q->suppress},
        {"figure", b->figure, sizeof(b->figure), &q->figure},
        {"group", b->group, sizeof(b->group), &q->group},
        {"limit", b->limit, sizeof(b->limit), &q->limit},
        {"weeks", b->weeks, sizeof(b->weeks), &q->weeks},
        {"quarter", b->quarter, sizeof(b->quarter), &q->quarter},
    };
    memset(q, 0, sizeof(*q));
    if (check_names(r, allowed)) {
        return -1;
    }
    for (size_t i = 0; i < N(f); i++) {
        int rc = cb_req_query(r, f[i].name, f[i].buf, f[i].len);
        if (rc < 0) {
            cb_reply_problem(r, 400, "invalid", "the parameter is too long", f[i].name, NULL);
            return rc;
        }
        *f[i].dst = rc == 1 ? f[i].buf : NULL;
    }
    return 0;
}

/* GET /api/reports/...: parse, call the route's domain function, reply. */
static int report_handler(struct cb_req *r)
{
    const struct report_route *rr = r->route->ctx;
    struct report_query b;
    struct cb_report_query q;
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    if (check_role(r, rr->access) || read_query(r, rr->params, &b, &q)) {
        return CB_OK;
    }
    int rc = rr->fn(r->db, &r->actor, &q, &out, &fe);
    if (rc) {
        return cb_reply_error(r, rc, &fe);
    }
    return cb_reply_json(r, 200, out, NULL);
}

/*
 * Send bytes with the headers every coachbox response carries (as http.c's
 * write_head does), plus Content-Type, no-store and the attachment name.
 */
static int reply_csv(struct cb_req *r, const char *filename, const struct cb_buf *b)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    mg_printf(r->mc,
              "HTTP/1.1 200 OK\r\nDate: %s\r\n"
              "Content-Security-Policy: default-src 'self'; object-src 'none'; base-uri 'none'; "
              "frame-ancestors 'none'; form-action 'self'\r\n"
              "X-Content-Type-Options: nosniff\r\n"
              "Referrer-Policy: no-referrer\r\n"
              "X-Frame-Options: DENY\r\n"
              "Cross-Origin-Opener-Policy: same-origin\r\n"
              "Cross-Origin-Resource-Policy: same-origin\r\n"
              "Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n"
              "%s%s"
              "Content-Type: text/csv; charset=utf-8; header=present\r\n"
              "Cache-Control: no-store\r\n"
              "Content-Disposition: attachment; filename=\"%s\"\r\n"
              "Content-Length: %zu\r\n\r\n",
              date, r->tls ? "Strict-Transport-Security: max-age=31536000\r\n" : "",
              r->body_unread ? "Connection: close\r\n" : "", filename, b->len);
    if (strcmp(r->ri->request_method, "HEAD") != 0 && b->len) {
        mg_write(r->mc, b->data, b->len);
    }
    r->status = 200;
    return CB_OK;
}

static const char *const quarterly_params[] = {"quarter", "team", NULL};

/* GET /api/exports/quarterly.csv?quarter=YYYYQn[&team=] (managers). */
static int quarterly_csv(struct cb_req *r)
{
    struct report_query b;
    struct cb_report_query q;
    struct cb_field_error fe = {"", ""};
    if (check_role(r, ACCESS_MANAGER) || read_query(r, quarterly_params, &b, &q)) {
        return CB_OK;
    }
    if (!q.quarter) {
        return cb_reply_problem(r, 400, "invalid", "quarter is required (YYYYQn, e.g. 2026Q3)",
                                "quarter", NULL);
    }
    struct cb_buf csv;
    cb_buf_init(&csv, 16 * 1024 * 1024);
    int rc = cb_report_quarterly_csv(r->db, &r->actor, q.quarter, q.team, &csv, &fe);
    if (rc) {
        cb_buf_free(&csv);
        return cb_reply_error(r, rc, &fe);
    }
    /* the name goes into a header: keep only [A-Za-z0-9_-] of the (validated) values */
    char name[96];
    snprintf(name, sizeof(name), "coachbox-quarterly-%.6s%s%.60s", q.quarter, q.team ? "-" : "",
             q.team ? q.team : "");
    for (char *p = name; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '_';
        *p = ok ? *p : '_';
    }
    size_t used = strlen(name);
    snprintf(name + used, sizeof(name) - used, ".csv");
    rc = reply_csv(r, name, &csv);
    cb_buf_free(&csv);
    return rc;
}

#define FILTERS "from", "to", "team", "venue", "coach", "programme", "topic", "cohort", "split"

static const char *const outcomes_params[] = {FILTERS, "suppress", NULL};
static const char *const records_params[] = {FILTERS, "figure", "group", "limit", NULL};
static const char *const reach_params[] = {FILTERS, "suppress", NULL};
static const char *const dq_params[] = {"team", "from", "to", "weeks", NULL};
static const char *const venues_params[] = {"from", "to", "team", NULL};

static const struct report_route outcomes_route = {ACCESS_TEAM, outcomes_params,
                                                   cb_report_outcomes};
static const struct report_route records_route = {ACCESS_MANAGER, records_params,
                                                  cb_report_records};
static const struct report_route reach_route = {ACCESS_TEAM, reach_params, cb_report_reach};
static const struct report_route dq_route = {ACCESS_TEAM, dq_params, cb_report_data_quality};
static const struct report_route venues_route = {ACCESS_TEAM, venues_params, cb_report_venues};

const struct cb_route cb_routes_reports[] = {
    {"GET", "/api/reports/outcomes", report_handler, 0, &outcomes_route},
    {"GET", "/api/reports/outcomes/records", report_handler, 0, &records_route},
    {"GET", "/api/reports/reach", report_handler, 0, &reach_route},
    {"GET", "/api/reports/data-quality", report_handler, 0, &dq_route},
    {"GET", "/api/reports/venues", report_handler, 0, &venues_route},
    {"GET", "/api/exports/quarterly.csv", quarterly_csv, 0, NULL},
};
const size_t cb_routes_reports_count = sizeof(cb_routes_reports) / sizeof(cb_routes_reports[0]);
