/* team.c - teams; see team.h. */
#include "coachbox/team.h"
#include "coachbox/audit.h"
#include "coachbox/capture.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/validate.h"

#include <string.h>

static int team_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 2 || n > 64) {
        return 0;
    }
    for (const char *p = id; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
            return 0;
        }
    }
    return 1;
}

int cb_team_add(struct cb_conn *c, const char *id, const char *name, struct cb_field_error *fe)
{
    char now[CB_TIME_STRLEN];
    if (!id || !team_id_valid(id)) {
        return cb_field_fail(fe, "id", "must be 2-64 lowercase letters, digits or '-'");
    }
    if (!name || !name[0] || cb_text_valid(name, CB_NAME_CHARS, 1)) {
        return cb_field_fail(fe, "name", "must be 1-%d characters on one line", CB_NAME_CHARS);
    }
    cb_time_format(cb_now_ms(), now);
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c,
                         "INSERT INTO teams(id, name, created_at, updated_at) "
                         "VALUES (?1, ?2, ?3, ?3)",
                         &st);
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
        if (rc == CB_ECONFLICT) {
            cb_field_fail(fe, "id", "a team with this id already exists");
        }
    }
    if (rc == CB_OK) {
        json_t *f = json_pack("{s:s, s:s, s:n, s:i}", "name", name, "created_at", now, "created_by",
                              "deleted", 0);
        rc = f ? cb_capture(c, "teams", id, f) : CB_ENOMEM;
        json_decref(f);
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {NULL, "team.create", "teams", id, NULL, "ok", NULL, NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    return rc;
}
