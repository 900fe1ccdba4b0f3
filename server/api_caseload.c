/*
 * api_caseload.c - a coach's working lists: "my caseload" (assigned, active).
 */
#include "coachbox/api.h"
#include "coachbox/record.h"
#include "coachbox/store.h"

#include <stdio.h>

/*
 * GET /api/caseload - participants assigned to the signed-in user and
 * active, each with the date of their last contact and next follow-up.
 */
static int caseload(struct cb_req *r)
{
    char sql[2048];
    if (!cb_user_is_clinical(&r->user)) {
        return CB_EFORBIDDEN;
    }
    snprintf(sql, sizeof(sql),
             "SELECT %s, (SELECT max(occurred_at) FROM encounters e WHERE e.participant_id = p.id "
             "AND e.deleted = 0), (SELECT next_follow_up FROM encounters e WHERE "
             "e.participant_id = p.id AND e.deleted = 0 ORDER BY occurred_at DESC LIMIT 1) "
             "FROM participants p WHERE p.deleted = 0 AND p.assigned_coach = ?1 "
             "AND p.status = 'active' ORDER BY lower(family_name), lower(given_name), id "
             "LIMIT 1000",
             cb_record_columns(&cb_table_participants));
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(r->db, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, r->user.id, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    int s, n = (int)cb_table_participants.nfields + 3;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *p = cb_record_from_row(&cb_table_participants, st);
        /* A record assigned to someone who has since moved team stays hidden. */
        if (!cb_user_sees_team(&r->user, json_string_value(json_object_get(p, "team")))) {
            json_decref(p);
            continue;
        }
        json_object_set_new(p, "last_contact_at",
                            sqlite3_column_type(st, n) == SQLITE_NULL
                                ? json_null()
                                : json_string((const char *)sqlite3_column_text(st, n)));
        json_object_set_new(p, "next_follow_up",
                            sqlite3_column_type(st, n + 1) == SQLITE_NULL
                                ? json_null()
                                : json_string((const char *)sqlite3_column_text(st, n + 1)));
        json_array_append_new(items, p);
    }
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    return cb_reply_json(r, 200, json_pack("{s:o}", "items", items), NULL);
}

const struct cb_route cb_routes_caseload[] = {
    {"GET", "/api/caseload", caseload, 0, NULL},
};
const size_t cb_routes_caseload_count = sizeof(cb_routes_caseload) / sizeof(cb_routes_caseload[0]);
