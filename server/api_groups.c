/*
 * api_groups.c - group programmes beyond generic CRUD (kind.h): listing the
 * programmes a user can see.
 */
#include "coachbox/api.h"
#include "coachbox/kind.h"
#include "coachbox/store.h"

#include <stdio.h>
#include <string.h>

/* GET /api/programmes[?team=ID] - programmes of visible teams, newest first. */
static int programmes_list(struct cb_req *r)
{
    char team[80] = "", sql[2048];
    if (!cb_user_is_clinical(&r->user) && strcmp(r->user.role, "admin") != 0) {
        return CB_EFORBIDDEN;
    }
    if (cb_req_query(r, "team", team, sizeof(team)) < 0) {
        return cb_reply_problem(r, 400, "invalid", "team is too long", "team", NULL);
    }
    int all = strcmp(r->user.role, "manager") == 0 || strcmp(r->user.role, "admin") == 0;
    if (!all) {
        if (team[0] && strcmp(team, r->user.team) != 0) {
            return cb_reply_json(r, 200, json_pack("{s:[]}", "items"), NULL);
        }
        snprintf(team, sizeof(team), "%s", r->user.team);
    }
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM programmes WHERE deleted = 0 AND (?1 = '' OR team = ?1) "
             "ORDER BY start_date DESC, id DESC LIMIT 500",
             cb_record_columns(&cb_table_programmes));
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(r->db, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, team, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(items, cb_record_from_row(&cb_table_programmes, st));
    }
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    return cb_reply_json(r, 200, json_pack("{s:o}", "items", items), NULL);
}

const struct cb_route cb_routes_groups[] = {
    {"GET", "/api/programmes", programmes_list, 0, NULL},
};
const size_t cb_routes_groups_count = sizeof(cb_routes_groups) / sizeof(cb_routes_groups[0]);
