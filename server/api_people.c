/*
 * api_people.c - participant-level operations beyond CRUD: the audit trail
 * of a person (managers).
 */
#include "coachbox/api.h"
#include "coachbox/audit.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/uuid.h"

#include <string.h>

/* GET /api/participants/{id}/audit - every audit event about the person (managers only). */
static int participant_audit(struct cb_req *r)
{
    json_t *out = NULL, *p = NULL;
    if (strcmp(r->user.role, "manager") != 0) {
        return cb_reply_problem(r, 403, "forbidden", "only managers can read audit trails", NULL,
                                NULL);
    }
    if (!cb_uuid_valid(r->params[0]) ||
        cb_record_get(r->db, &cb_table_participants, r->params[0], &p) != CB_OK) {
        return CB_ENOTFOUND;
    }
    json_decref(p);
    int rc = cb_audit_list(r->db, r->params[0], &out);
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

const struct cb_route cb_routes_records[] = {
    {"GET", "/api/participants/{id}/audit", participant_audit, 0, NULL},
};
const size_t cb_routes_records_count = sizeof(cb_routes_records) / sizeof(cb_routes_records[0]);
