/*
 * api_records.c - generic handlers for record kinds (kind.h): the route's
 * ctx names the kind.  POST /api/KIND, GET|PATCH|DELETE /api/KIND/{id},
 * GET /api/participants/{id}/KIND, GET /api/programmes/{id}/KIND.
 */
#include "coachbox/api.h"
#include "coachbox/kind.h"
#include "coachbox/store.h"

static const struct cb_kind *route_kind(const struct cb_req *r)
{
    return r->route->ctx;
}

static int finish(struct cb_req *r, int rc, int status, json_t *out,
                  const struct cb_field_error *fe)
{
    if (rc) {
        json_decref(out);
        return cb_reply_error(r, rc, fe);
    }
    return cb_reply_json(r, status, out, NULL);
}

/* A create, patch or delete of r's kind, run by cb_req_write (group commit). */
struct kind_job {
    struct cb_req *r;
    json_t *out;
    struct cb_field_error fe;
};

static int create_job(struct cb_conn *c, void *arg)
{
    struct kind_job *j = arg;
    return cb_kind_create(c, &j->r->actor, route_kind(j->r), j->r->body, &j->out, &j->fe);
}

static int patch_job(struct cb_conn *c, void *arg)
{
    struct kind_job *j = arg;
    return cb_kind_patch(c, &j->r->actor, route_kind(j->r), j->r->params[0], j->r->body, &j->out,
                         &j->fe);
}

static int delete_job(struct cb_conn *c, void *arg)
{
    struct kind_job *j = arg;
    return cb_kind_delete(c, &j->r->actor, route_kind(j->r), j->r->params[0]);
}

/* Run fn as a write job and answer: status with the record, or the error. */
static int write_and_finish(struct cb_req *r, int (*fn)(struct cb_conn *, void *), int status)
{
    struct kind_job j = {r, NULL, {"", ""}};
    int rc = cb_req_write(r, fn, &j);
    if (rc == CB_OK && fn == delete_job) {
        j.out = json_pack("{s:b}", "ok", 1);
    }
    return finish(r, rc, status, j.out, &j.fe);
}

int cb_api_kind_create(struct cb_req *r)
{
    return write_and_finish(r, create_job, 201);
}

int cb_api_kind_get(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_kind_get(r->db, &r->actor, route_kind(r), r->params[0], &out);
    return finish(r, rc, 200, out, NULL);
}

int cb_api_kind_patch(struct cb_req *r)
{
    return write_and_finish(r, patch_job, 200);
}

int cb_api_kind_delete(struct cb_req *r)
{
    return write_and_finish(r, delete_job, 200);
}

int cb_api_kind_list_participant(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_kind_list(r->db, &r->actor, route_kind(r), "participant_id", r->params[0], &out);
    return finish(r, rc, 200, out, NULL);
}

int cb_api_kind_list_programme(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_kind_list(r->db, &r->actor, route_kind(r), "programme_id", r->params[0], &out);
    return finish(r, rc, 200, out, NULL);
}
