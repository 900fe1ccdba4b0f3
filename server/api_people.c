/*
 * api_people.c - participant-level operations beyond CRUD: the audit trail
 * of a person (managers), the duplicate check before registering someone,
 * and merging two records of one person (managers; people.h).
 */
#include "coachbox/api.h"
#include "coachbox/audit.h"
#include "coachbox/people.h"

#include <string.h>

/*
 * GET /api/participants/{id}/audit - every audit event about the person
 * (managers only).  A merged or deleted record's trail stays readable.
 */
static int participant_audit(struct cb_req *r)
{
    json_t *out = NULL;
    if (strcmp(r->user.role, "manager") != 0) {
        return cb_reply_problem(r, 403, "forbidden", "only managers can read audit trails", NULL,
                                NULL);
    }
    int rc = cb_people_exists(r->db, r->params[0]);
    if (rc) {
        return rc;
    }
    rc = cb_audit_list(r->db, r->params[0], &out);
    if (rc) {
        return rc;
    }
    struct cb_audit_event e = {
        r->user.id,  "participant.audit_read", "participants", r->params[0], r->addr, "ok", NULL,
        r->params[0]};
    rc = cb_audit(r->db, &e);
    if (rc) {
        json_decref(out);
        return rc;
    }
    return cb_reply_json(r, 200, out, NULL);
}

/* Reply for a domain result: 200 with the object, or the error. */
static int reply(struct cb_req *r, int rc, json_t *out, const struct cb_field_error *fe)
{
    if (rc) {
        json_decref(out);
        return cb_reply_error(r, rc, fe && fe->message[0] ? fe : NULL);
    }
    return cb_reply_json(r, 200, out, NULL);
}

/* POST /api/participants/matches - likely existing records (a check; POST keeps
 * the personal data out of URLs and logs). */
static int participant_matches(struct cb_req *r)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = cb_people_matches(r->db, &r->actor, r->body, &out, &fe);
    return reply(r, rc, out, &fe);
}

/* POST /api/participants/{id}/merge {"into": SURVIVOR_ID} - managers. */
static int participant_merge(struct cb_req *r)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = cb_people_merge(r->db, &r->actor, r->params[0], r->body, &out, &fe);
    return reply(r, rc, out, &fe);
}

/* POST /api/merges/{id}/undo - managers. */
static int merge_undo(struct cb_req *r)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = cb_people_merge_undo(r->db, &r->actor, r->params[0], &out, &fe);
    return reply(r, rc, out, &fe);
}

/* GET /api/merges?participant_id=ID - managers. */
static int merges_list(struct cb_req *r)
{
    char pid[64] = "";
    struct cb_field_error fe = {"", ""};
    if (cb_req_query(r, "participant_id", pid, sizeof(pid)) != 1) {
        pid[0] = '\0'; /* absent or too long: refused by the domain as invalid */
    }
    json_t *out = NULL;
    int rc = cb_people_merges_list(r->db, &r->actor, pid, &out, &fe);
    return reply(r, rc, out, &fe);
}

/* GET /api/participants/{id}/merged-into - managers. */
static int participant_merged_into(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_people_merged_into(r->db, &r->actor, r->params[0], &out);
    return reply(r, rc, out, NULL);
}

const struct cb_route cb_routes_records[] = {
    {"GET", "/api/participants/{id}/audit", participant_audit, 0, NULL},
    {"POST", "/api/participants/matches", participant_matches, CB_ROUTE_BODY, NULL},
    {"POST", "/api/participants/{id}/merge", participant_merge, CB_ROUTE_BODY, NULL},
    {"GET", "/api/participants/{id}/merged-into", participant_merged_into, 0, NULL},
    {"GET", "/api/merges", merges_list, 0, NULL},
    {"POST", "/api/merges/{id}/undo", merge_undo, 0, NULL},
};
const size_t cb_routes_records_count = sizeof(cb_routes_records) / sizeof(cb_routes_records[0]);
