/*
 * api_groups.c - group programmes beyond generic CRUD (kind.h): listing the
 * programmes a user can see, scheduling sessions, registers, follow-ups, and
 * a participant's timeline.  The logic lives in groups.c (groups.h).
 */
#include "coachbox/api.h"
#include "coachbox/groups.h"
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

/* Reply with out (stolen) and status, or with the error rc (fe may name the field). */
static int reply(struct cb_req *r, int rc, int status, json_t *out, const struct cb_field_error *fe)
{
    if (rc) {
        json_decref(out);
        return cb_reply_error(r, rc, fe);
    }
    return cb_reply_json(r, status, out, NULL);
}

/* POST /api/programmes/{id}/schedule - create a run of sessions. */
static int schedule(struct cb_req *r)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = cb_groups_schedule(r->db, &r->actor, r->params[0], r->body, &out, &fe);
    return reply(r, rc, 201, out, &fe);
}

/* GET /api/group-sessions/{id}/register */
static int register_get(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_groups_register_get(r->db, &r->actor, r->params[0], &out);
    return reply(r, rc, 200, out, NULL);
}

/* PUT /api/group-sessions/{id}/register - record the whole register at once. */
static int register_put(struct cb_req *r)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    int rc = cb_groups_register_put(r->db, &r->actor, r->params[0], r->body, &out, &fe);
    return reply(r, rc, 200, out, &fe);
}

/* GET /api/programmes/{id}/follow-ups */
static int follow_ups(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_groups_follow_ups(r->db, &r->actor, r->params[0], &out);
    return reply(r, rc, 200, out, NULL);
}

/* GET /api/participants/{id}/timeline */
static int timeline(struct cb_req *r)
{
    struct cb_buf b;
    cb_buf_init(&b, CB_TIMELINE_TEXT_MAX);
    int rc = cb_timeline_get(r->db, &r->actor, r->params[0], &b);
    if (rc == CB_OK) {
        rc = cb_reply_json_text(r, 200, cb_buf_str(&b), b.len, NULL);
    } else {
        rc = cb_reply_error(r, rc, NULL);
    }
    cb_buf_free(&b);
    return rc;
}

const struct cb_route cb_routes_groups[] = {
    {"GET", "/api/programmes", programmes_list, 0, NULL},
    {"POST", "/api/programmes/{id}/schedule", schedule, CB_ROUTE_BODY, NULL},
    {"GET", "/api/programmes/{id}/follow-ups", follow_ups, 0, NULL},
    {"GET", "/api/group-sessions/{id}/register", register_get, 0, NULL},
    {"PUT", "/api/group-sessions/{id}/register", register_put, CB_ROUTE_BODY, NULL},
    {"GET", "/api/participants/{id}/timeline", timeline, 0, NULL},
};
const size_t cb_routes_groups_count = sizeof(cb_routes_groups) / sizeof(cb_routes_groups[0]);
