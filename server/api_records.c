/*
 * api_records.c - generic handlers for record kinds (kind.h): the route's
 * ctx names the kind.  POST /api/KIND, GET|PATCH|DELETE /api/KIND/{id},
 * GET /api/participants/{id}/KIND, GET /api/programmes/{id}/KIND.
 */
#include "coachbox/api.h"
#include "coachbox/kind.h"

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

int cb_api_kind_create(struct cb_req *r)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = cb_kind_create(r->db, &r->actor, route_kind(r), r->body, &out, &fe);
    return finish(r, rc, 201, out, &fe);
}

int cb_api_kind_get(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_kind_get(r->db, &r->actor, route_kind(r), r->params[0], &out);
    return finish(r, rc, 200, out, NULL);
}

int cb_api_kind_patch(struct cb_req *r)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = cb_kind_patch(r->db, &r->actor, route_kind(r), r->params[0], r->body, &out, &fe);
    return finish(r, rc, 200, out, &fe);
}

int cb_api_kind_delete(struct cb_req *r)
{
    int rc = cb_kind_delete(r->db, &r->actor, route_kind(r), r->params[0]);
    return finish(r, rc, 200, rc ? NULL : json_pack("{s:b}", "ok", 1), NULL);
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
