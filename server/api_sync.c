/*
 * api_sync.c - sync as the UI sees it: the field server's sync status and
 * "sync now", conflicts to review and resolve (both roles), and enrolled
 * sites on central (managers and admins).
 */
#include "coachbox/api.h"
#include "coachbox/audit.h"
#include "coachbox/uuid.h"
#include "coachbox/json.h"
#include "coachbox/kind.h"
#include "coachbox/sites.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"

#include <stdio.h>
#include <string.h>

/* GET /api/sync/status */
static int sync_status(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_sync_status(r->app->store, &out);
    return rc ? rc : cb_reply_json(r, 200, out, NULL);
}

/* POST /api/sync/now - ask the background syncer for a round now. */
static int sync_now(struct cb_req *r)
{
    if (strcmp(r->app->role, "field") != 0) {
        return cb_reply_problem(r, 409, "conflict", "only a field server syncs", NULL, NULL);
    }
    if (!cb_sync_enrolled(r->app->store)) {
        return cb_reply_problem(r, 409, "not_enrolled",
                                "this field server is not enrolled with central yet", NULL, NULL);
    }
    cb_syncer_kick();
    return cb_reply_json(r, 202, json_pack("{s:b}", "requested", 1), NULL);
}

/*
 * The person a conflict is about, for the list: {"id","given_name","family_name"} when the
 * user may read them (managers: anyone; coaches and leads: people in their team now), else
 * JSON null.  lookup is a prepared statement reused across rows; NULL on a store error.
 */
static json_t *conflict_person(sqlite3_stmt *lookup, const struct cb_user *u, int all,
                               const char *pid)
{
    json_t *out = json_null();
    if (!pid || !pid[0]) {
        return out;
    }
    sqlite3_reset(lookup);
    sqlite3_bind_text(lookup, 1, pid, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(lookup);
    if (s == SQLITE_ROW) {
        const char *team = (const char *)sqlite3_column_text(lookup, 2);
        if (all || (team && strcmp(team, u->team) == 0)) {
            json_decref(out);
            out = json_pack("{s:s, s:s?, s:s?}", "id", pid, "given_name",
                            (const char *)sqlite3_column_text(lookup, 0), "family_name",
                            (const char *)sqlite3_column_text(lookup, 1));
        }
    } else if (s != SQLITE_DONE) {
        json_decref(out);
        out = NULL;
    }
    sqlite3_reset(lookup);
    return out;
}

/*
 * GET /api/conflicts[?status=open|resolved][&participant_id=ID] - conflicts
 * the user may see (their team's; managers all), newest first; each with
 * "participant" (conflict_person) so the list can name who it is about.
 */
static int conflicts_list(struct cb_req *r)
{
    char status[16] = "open", pid[64] = "", sql[4096];
    if (!cb_user_is_clinical(&r->user)) {
        return CB_EFORBIDDEN;
    }
    if (cb_req_query(r, "status", status, sizeof(status)) < 0 ||
        (strcmp(status, "open") != 0 && strcmp(status, "resolved") != 0)) {
        return cb_reply_problem(r, 400, "invalid", "status must be open or resolved", "status",
                                NULL);
    }
    if (cb_req_query(r, "participant_id", pid, sizeof(pid)) < 0 ||
        (pid[0] && !cb_uuid_valid(pid))) {
        return cb_reply_problem(r, 400, "invalid", "participant_id is not an id", "participant_id",
                                NULL);
    }
    int all = strcmp(r->user.role, "manager") == 0;
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM conflicts WHERE deleted = 0 AND status = ?1 AND (?2 OR team = ?3) "
             "AND (?4 = '' OR participant_id = ?4) ORDER BY created_at DESC, id DESC LIMIT 500",
             cb_record_columns(&cb_table_conflicts));
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(r->db, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, all);
    sqlite3_bind_text(st, 3, r->user.team, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, pid, -1, SQLITE_TRANSIENT);
    sqlite3_stmt *who;
    rc = cb_conn_prepare(r->db,
                         "SELECT given_name, family_name, team FROM participants "
                         "WHERE id = ?1 AND deleted = 0",
                         &who);
    if (rc) {
        cb_stmt_done(st);
        return rc;
    }
    json_t *items = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *item = cb_record_from_row(&cb_table_conflicts, st);
        json_t *person = conflict_person(who, &r->user, all, cb_json_str(item, "participant_id"));
        if (!person) {
            json_decref(item);
            s = SQLITE_ERROR;
            break;
        }
        json_object_set_new(item, "participant", person);
        json_array_append_new(items, item);
    }
    cb_stmt_done(who);
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    /* The list shows people's field values: one audit event per list (with the
     * person when it is one person's). */
    char detail[48];
    snprintf(detail, sizeof(detail), "%s, %zu listed", status, json_array_size(items));
    struct cb_audit_event e = {r->user.id, "conflict.list", "conflicts",        NULL, r->addr,
                               "ok",       detail,          pid[0] ? pid : NULL};
    int arc = cb_audit(r->db, &e);
    if (arc) {
        json_decref(items);
        return arc;
    }
    return cb_reply_json(r, 200, json_pack("{s:o}", "items", items), NULL);
}

static int require_central_admin(struct cb_req *r)
{
    if (strcmp(r->app->role, "central") != 0) {
        cb_reply_problem(r, 404, "not_found", "sites are managed on central", NULL, NULL);
        return CB_ENOTFOUND;
    }
    if (strcmp(r->user.role, "manager") != 0 && strcmp(r->user.role, "admin") != 0) {
        cb_reply_problem(r, 403, "forbidden", "only managers and admins manage sites", NULL, NULL);
        return CB_EFORBIDDEN;
    }
    return CB_OK;
}

/* GET /api/sites (central) */
static int sites_list(struct cb_req *r)
{
    json_t *out = NULL;
    if (require_central_admin(r)) {
        return CB_OK;
    }
    int rc = cb_site_list(r->db, &out);
    return rc ? rc : cb_reply_json(r, 200, out, NULL);
}

/* POST /api/sites/{id}/revoke (central) */
static int sites_revoke(struct cb_req *r)
{
    if (require_central_admin(r)) {
        return CB_OK;
    }
    int rc = cb_site_revoke(r->db, r->params[0]);
    return rc ? rc : cb_reply_json(r, 200, json_pack("{s:b}", "revoked", 1), NULL);
}

const struct cb_route cb_routes_syncapi[] = {
    {"GET", "/api/sync/status", sync_status, 0, NULL},
    {"POST", "/api/sync/now", sync_now, 0, NULL},
    {"GET", "/api/conflicts", conflicts_list, 0, NULL},
    {"GET", "/api/conflicts/{id}", cb_api_kind_get, 0, &cb_kind_conflicts},
    {"PATCH", "/api/conflicts/{id}", cb_api_kind_patch, CB_ROUTE_BODY, &cb_kind_conflicts},
    {"GET", "/api/sites", sites_list, 0, NULL},
    {"POST", "/api/sites/{id}/revoke", sites_revoke, 0, NULL},
};
const size_t cb_routes_syncapi_count = sizeof(cb_routes_syncapi) / sizeof(cb_routes_syncapi[0]);
