/*
 * api_people.c - participant-level operations beyond CRUD: the audit trail
 * of a person (managers), the duplicate check before registering someone,
 * and merging two records of one person (managers; people.h).
 */
#include "coachbox/api.h"
#include "coachbox/audit.h"
#include "coachbox/people.h"
#include "coachbox/store.h"

#include <stdio.h>
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

/*
 * GET /api/users[?team=ID] - names of colleagues for display (id, username,
 * display_name, role, team; never hashes): coaches and leads get their team's
 * accounts, managers and admins everyone (optionally one team).
 */
static int users_list(struct cb_req *r)
{
    char team[80] = "";
    if (cb_req_query(r, "team", team, sizeof(team)) < 0) {
        return cb_reply_problem(r, 400, "invalid", "team is too long", "team", NULL);
    }
    int all = strcmp(r->user.role, "manager") == 0 || strcmp(r->user.role, "admin") == 0;
    if (!all) {
        if (team[0] && strcmp(team, r->user.team) != 0) {
            return cb_reply_problem(r, 403, "forbidden", "you can list your own team only", "team",
                                    NULL);
        }
        snprintf(team, sizeof(team), "%s", r->user.team);
    }
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(r->db,
                             "SELECT id, username, display_name, role, team, disabled FROM users "
                             "WHERE deleted = 0 AND (?1 = '' OR team = ?1) "
                             "ORDER BY lower(display_name), id LIMIT 2000",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, team, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(
            items, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b}", "id", sqlite3_column_text(st, 0),
                             "username", sqlite3_column_text(st, 1), "display_name",
                             sqlite3_column_text(st, 2), "role", sqlite3_column_text(st, 3), "team",
                             sqlite3_column_text(st, 4), "disabled", sqlite3_column_int(st, 5)));
    }
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    return cb_reply_json(r, 200, json_pack("{s:o}", "items", items), NULL);
}

/* POST /api/logout-all - end every session of the caller (all devices). */
static int logout_all(struct cb_req *r)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(r->db, "SELECT count(*) FROM sessions WHERE user_id = ?1", &st);
    json_int_t n = 0;
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, r->user.id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            n = sqlite3_column_int64(st, 0);
        }
        cb_stmt_done(st);
        rc = cb_session_delete_user(r->db, r->user.id);
    }
    if (rc) {
        return rc;
    }
    struct cb_audit_event e = {r->user.id, "logout_all", "users", r->user.id,
                               r->addr,    "ok",         NULL,    NULL};
    cb_audit(r->db, &e);
    char cookie[200];
    snprintf(cookie, sizeof(cookie),
             "Set-Cookie: %s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s\r\n",
             r->tls ? "__Host-cb_session" : "cb_session", r->tls ? "; Secure" : "");
    return cb_reply_json(r, 200, json_pack("{s:I}", "ended", n), cookie);
}

const struct cb_route cb_routes_records[] = {
    {"GET", "/api/users", users_list, 0, NULL},
    {"POST", "/api/logout-all", logout_all, 0, NULL},
    {"GET", "/api/participants/{id}/audit", participant_audit, 0, NULL},
    {"POST", "/api/participants/matches", participant_matches, CB_ROUTE_BODY, NULL},
    {"POST", "/api/participants/{id}/merge", participant_merge, CB_ROUTE_BODY, NULL},
    {"GET", "/api/participants/{id}/merged-into", participant_merged_into, 0, NULL},
    {"GET", "/api/merges", merges_list, 0, NULL},
    {"POST", "/api/merges/{id}/undo", merge_undo, 0, NULL},
};
const size_t cb_routes_records_count = sizeof(cb_routes_records) / sizeof(cb_routes_records[0]);
