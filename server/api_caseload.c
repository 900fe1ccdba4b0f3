/*
 * api_caseload.c - a coach's working lists (caseload.h): caseload,
 * follow-ups, reviews due, the drop-in queue, and calling a person in.
 */
#include "coachbox/api.h"
#include "coachbox/caseload.h"

/* Buffers behind a struct cb_list_params. */
struct list_query {
    char team[80], coach[64], within_days[16], weeks[16], date[16], venue[64];
};

/*
 * Read the known query parameters into q and point p at the present ones.
 * A value too long for its buffer has been answered with a 400 naming it.
 */
static int read_query(struct cb_req *r, struct list_query *q, struct cb_list_params *p)
{
    struct {
        const char *name;
        char *buf;
        size_t len;
        const char **dst;
    } f[] = {
        {"team", q->team, sizeof(q->team), &p->team},
        {"coach", q->coach, sizeof(q->coach), &p->coach},
        {"within_days", q->within_days, sizeof(q->within_days), &p->within_days},
        {"weeks", q->weeks, sizeof(q->weeks), &p->weeks},
        {"date", q->date, sizeof(q->date), &p->date},
        {"venue", q->venue, sizeof(q->venue), &p->venue},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        int rc = cb_req_query(r, f[i].name, f[i].buf, f[i].len);
        if (rc < 0) {
            cb_reply_problem(r, 400, "invalid", "the parameter is too long", f[i].name, NULL);
            return rc;
        }
        *f[i].dst = rc == 1 ? f[i].buf : NULL;
    }
    return CB_OK;
}

typedef int (*list_fn)(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                       json_t **out, struct cb_field_error *fe);

/* A list route's ctx: the domain function it calls. */
struct list_route {
    list_fn fn;
};

/*
 * GET /api/caseload, /api/follow-ups, /api/reviews-due, /api/queue: parse
 * the query, call the route's domain function, reply 200 or the error.
 */
static int list_handler(struct cb_req *r)
{
    const struct list_route *lr = r->route->ctx;
    struct list_query q;
    struct cb_list_params p = {NULL, NULL, NULL, NULL, NULL, NULL};
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = read_query(r, &q, &p);
    if (rc) {
        return rc;
    }
    rc = lr->fn(r->db, &r->actor, &p, &out, &fe);
    if (rc) {
        return cb_reply_error(r, rc, &fe);
    }
    return cb_reply_json(r, 200, out, NULL);
}

/* POST /api/checkins/{id}/call - status with_coach, coach = me; 409 if seen/left. */
static int checkin_call(struct cb_req *r)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = cb_checkin_call(r->db, &r->actor, r->params[0], &out, &fe);
    if (rc) {
        return cb_reply_error(r, rc, &fe);
    }
    return cb_reply_json(r, 200, out, NULL);
}

/* GET /api/settings - the service settings (caseload.h), for any signed-in user. */
static int settings_get(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_settings_get(r->db, &out);
    return rc ? cb_reply_error(r, rc, NULL) : cb_reply_json(r, 200, out, NULL);
}

/* PATCH /api/settings, run by cb_req_write (group commit). */
struct settings_job {
    struct cb_req *r;
    json_t *out;
    struct cb_field_error fe;
};

static int settings_job(struct cb_conn *c, void *arg)
{
    struct settings_job *j = arg;
    return cb_settings_update(c, &j->r->actor, j->r->body, &j->out, &j->fe);
}

/* PATCH /api/settings - managers and admins; 400 naming the key. */
static int settings_patch(struct cb_req *r)
{
    struct settings_job j = {r, NULL, {"", ""}};
    int rc = cb_req_write(r, settings_job, &j);
    if (rc) {
        json_decref(j.out);
        return cb_reply_error(r, rc, &j.fe);
    }
    return cb_reply_json(r, 200, j.out, NULL);
}

static const struct list_route caseload_route = {cb_caseload_list};
static const struct list_route follow_ups_route = {cb_follow_ups_list};
static const struct list_route reviews_route = {cb_reviews_due_list};
static const struct list_route queue_route = {cb_queue_list};

const struct cb_route cb_routes_caseload[] = {
    {"GET", "/api/caseload", list_handler, 0, &caseload_route},
    {"GET", "/api/follow-ups", list_handler, 0, &follow_ups_route},
    {"GET", "/api/reviews-due", list_handler, 0, &reviews_route},
    {"GET", "/api/queue", list_handler, 0, &queue_route},
    {"POST", "/api/checkins/{id}/call", checkin_call, 0, NULL},
    {"GET", "/api/settings", settings_get, 0, NULL},
    {"PATCH", "/api/settings", settings_patch, CB_ROUTE_BODY, NULL},
};
const size_t cb_routes_caseload_count = sizeof(cb_routes_caseload) / sizeof(cb_routes_caseload[0]);
