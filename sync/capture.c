/* capture.c - change capture: site outbox and central change log; see capture.h. */
#include "coachbox/capture.h"
#include "coachbox/buf.h"
#include "coachbox/err.h"
#include "coachbox/hlc.h"
#include "coachbox/json.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"
#include "coachbox/timeutil.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANGE_TEXT_MAX CB_CHANGE_TEXT_MAX

/* Synced tables and how their scope is found. */
enum scope_rule { SCOPE_TEAM_COLUMN, SCOPE_SHARED, SCOPE_USER };

static const struct {
    const char *tbl;
    enum scope_rule rule;
    int participant_child; /* has a participant_id column */
} synced[] = {
    {"participants", SCOPE_TEAM_COLUMN, 0},
    {"encounters", SCOPE_TEAM_COLUMN, 1},
    {"consents", SCOPE_TEAM_COLUMN, 1},
    {"measures", SCOPE_TEAM_COLUMN, 1},
    {"goals", SCOPE_TEAM_COLUMN, 1},
    {"goal_reviews", SCOPE_TEAM_COLUMN, 1},
    {"referrals", SCOPE_TEAM_COLUMN, 1},
    {"enrolments", SCOPE_TEAM_COLUMN, 1},
    {"attendance", SCOPE_TEAM_COLUMN, 1},
    {"checkins", SCOPE_TEAM_COLUMN, 1},
    {"conflicts", SCOPE_TEAM_COLUMN, 1},
    {"programmes", SCOPE_TEAM_COLUMN, 0},
    {"group_sessions", SCOPE_TEAM_COLUMN, 0},
    {"venues", SCOPE_SHARED, 0},
    {"teams", SCOPE_SHARED, 0},
    {"users", SCOPE_USER, 0},
};

#define NSYNCED (sizeof(synced) / sizeof(synced[0]))

static int synced_index(const char *tbl)
{
    for (size_t i = 0; i < NSYNCED; i++) {
        if (strcmp(synced[i].tbl, tbl) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int cb_capture_synced(const char *tbl)
{
    return synced_index(tbl) >= 0;
}

/* One text column of a row (NULL-safe): CB_ENOTFOUND if absent or NULL. */
static int column_text(struct cb_conn *c, const char *tbl, const char *col, const char *row_id,
                       char *out, size_t outlen)
{
    char sql[200];
    sqlite3_stmt *st;
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE id = ?1", col, tbl);
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, row_id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = CB_OK;
    } else {
        rc = (s == SQLITE_ROW || s == SQLITE_DONE) ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/*
 * The scope answers both cb_capture_scope variants share: an unsynced table is
 * central only, a shared one goes to every site.  Returns 1 with out/shared set
 * when that settles it, else 0 with *rule for the caller to follow.
 */
static int scope_settled(const char *tbl, char *out, size_t outlen, int *shared,
                         enum scope_rule *rule)
{
    int i = synced_index(tbl);
    *shared = 0;
    out[0] = '\0';
    if (i < 0) {
        snprintf(out, outlen, "%s", CB_SCOPE_NOWHERE);
        return 1;
    }
    *rule = synced[i].rule;
    if (*rule == SCOPE_SHARED) {
        *shared = 1;
        return 1;
    }
    return 0;
}

int cb_capture_scope(struct cb_conn *c, const char *tbl, const char *row_id, char *out,
                     size_t outlen, int *shared)
{
    enum scope_rule rule = SCOPE_TEAM_COLUMN;
    if (scope_settled(tbl, out, outlen, shared, &rule)) {
        return CB_OK;
    }
    switch (rule) {
    case SCOPE_SHARED:
        return CB_OK;
    case SCOPE_USER: {
        char role[16];
        int rc = column_text(c, "users", "role", row_id, role, sizeof(role));
        if (rc == CB_OK && (strcmp(role, "coach") == 0 || strcmp(role, "lead") == 0)) {
            rc = column_text(c, "users", "team", row_id, out, outlen);
        } else if (rc == CB_OK || rc == CB_ENOTFOUND) {
            rc = CB_ENOTFOUND;
        }
        if (rc == CB_ENOTFOUND) {
            snprintf(out, outlen, "%s", CB_SCOPE_NOWHERE);
            rc = CB_OK;
        }
        return rc;
    }
    case SCOPE_TEAM_COLUMN: {
        int rc = column_text(c, tbl, "team", row_id, out, outlen);
        if (rc == CB_ENOTFOUND) {
            /* No team (e.g. a conflict about shared data): central only. */
            snprintf(out, outlen, "%s", CB_SCOPE_NOWHERE);
            rc = CB_OK;
        }
        return rc;
    }
    }
    return CB_EINTERNAL;
}

int cb_capture_scope_values(const char *tbl, const json_t *values, char *out, size_t outlen,
                            int *shared)
{
    enum scope_rule rule = SCOPE_TEAM_COLUMN;
    if (scope_settled(tbl, out, outlen, shared, &rule)) {
        return CB_OK;
    }
    switch (rule) {
    case SCOPE_SHARED:
        return CB_OK;
    case SCOPE_TEAM_COLUMN: {
        json_t *team = json_object_get(values, "team");
        if (!team) {
            return CB_ENOTFOUND;
        }
        /* As stored (record.c binds a non-string as NULL) and then read back by
         * cb_capture_scope: no team is central only. */
        snprintf(out, outlen, "%s",
                 json_is_string(team) ? json_string_value(team) : CB_SCOPE_NOWHERE);
        return CB_OK;
    }
    case SCOPE_USER:
        break;
    }
    return CB_ENOTFOUND;
}

/*
 * The row-wide version of a row central logged whole without a row_meta row
 * (append_change, changes.whole): {"*": [seq, hlc, site]} of its first such
 * change into *out, or NULL when there is none.  c's transaction, if any.
 */
static int logged_whole_version(struct cb_conn *c, const char *tbl, const char *row_id,
                                json_t **out)
{
    sqlite3_stmt *st;
    *out = NULL;
    int rc = cb_conn_prepare(c,
                             "SELECT seq, hlc, site FROM changes WHERE row_id = ?1 AND tbl = ?2 "
                             "AND whole = 1 ORDER BY seq LIMIT 1",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, row_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, tbl, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *out = json_pack("{s:[I, I, s]}", CB_VERSION_ROW, (json_int_t)sqlite3_column_int64(st, 0),
                         (json_int_t)sqlite3_column_int64(st, 1),
                         (const char *)sqlite3_column_text(st, 2));
        rc = *out ? CB_OK : CB_ENOMEM;
    } else if (s != SQLITE_DONE) {
        rc = cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

int cb_capture_versions(struct cb_conn *c, const char *tbl, const char *row_id, json_t **out)
{
    sqlite3_stmt *st;
    int rc =
        cb_conn_prepare(c, "SELECT versions FROM row_meta WHERE tbl = ?1 AND row_id = ?2", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, row_id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    json_t *v = NULL;
    if (s == SQLITE_ROW) {
        v = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    }
    cb_stmt_done(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        return cb_store_rc(s);
    }
    if (s == SQLITE_DONE && strcmp(cb_store_role(cb_conn_store(c)), "central") == 0) {
        /* No row_meta: a row central logged whole keeps its version in the log. */
        rc = logged_whole_version(c, tbl, row_id, &v);
        if (rc) {
            return rc;
        }
    }
    if (!json_is_object(v)) {
        json_decref(v);
        v = json_object();
    }
    *out = v;
    return v ? CB_OK : CB_ENOMEM;
}

/* Write row_meta's versions text for (tbl, row_id) on c (insert or replace). */
static int set_versions_text(struct cb_conn *c, const char *tbl, const char *row_id,
                             const char *text, size_t len)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "INSERT INTO row_meta(tbl, row_id, versions) VALUES (?1, ?2, ?3) "
                             "ON CONFLICT(tbl, row_id) DO UPDATE SET versions = excluded.versions",
                             &st);
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, row_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, (int)len, SQLITE_STATIC);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    return rc;
}

int cb_capture_set_versions(struct cb_conn *c, const char *tbl, const char *row_id,
                            const json_t *versions)
{
    struct cb_buf text;
    cb_buf_init(&text, CHANGE_TEXT_MAX);
    int rc = cb_json_buf_add_value(&text, versions);
    if (!rc) {
        rc = set_versions_text(c, tbl, row_id, cb_buf_str(&text), text.len);
    }
    cb_buf_free(&text);
    return rc;
}

/* Write v in decimal at out (at most 20 characters, no NUL); returns the length. */
static size_t format_i64(char *out, int64_t v)
{
    char tmp[20];
    size_t k = 0, n = 0;
    /* Negate as unsigned: INT64_MIN has no positive counterpart. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        out[n++] = '-';
    }
    while (k) {
        out[n++] = tmp[--k];
    }
    return n;
}

int cb_capture_set_row_version(struct cb_conn *c, const char *tbl, const char *row_id, int64_t seq,
                               uint64_t hlc, const char *site)
{
    /* The text cb_json_dump gives for {"*": [seq, hlc, site]} (compact; the HLC as
     * the signed integer jansson holds), for a site that needs no escaping. */
    static const char head[] = "{\"" CB_VERSION_ROW "\":[";
    char text[256];
    size_t n = sizeof(head) - 1, site_len = 0;
    for (const char *p = site; *p; p++, site_len++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '-' || *p == '_' || *p == '.')) {
            return CB_EINVAL;
        }
    }
    /* Two 64-bit integers take at most 20 characters each: plain appends (this
     * runs for every row a pull inserts; snprintf was ~1,800 instructions). */
    if (site_len > sizeof(text) - n - 2 * 20 - 8) {
        return CB_EINVAL;
    }
    memcpy(text, head, n);
    n += format_i64(text + n, seq);
    text[n++] = ',';
    n += format_i64(text + n, (int64_t)(json_int_t)hlc);
    text[n++] = ',';
    text[n++] = '"';
    memcpy(text + n, site, site_len);
    n += site_len;
    memcpy(text + n, "\"]}", 3);
    n += 3;
    assert(n < sizeof(text));
    return set_versions_text(c, tbl, row_id, text, n);
}

int cb_capture_row_values(struct cb_conn *c, const char *tbl, const char *row_id, json_t **out)
{
    const struct cb_table *t = cb_table_find(tbl);
    if (!t) {
        return CB_EINVAL;
    }
    return cb_record_get_synced(c, t, row_id, out);
}

json_t *cb_capture_version(const json_t *versions, const char *field)
{
    json_t *v = json_object_get(versions, field);
    return v ? v : json_object_get(versions, CB_VERSION_ROW);
}

int cb_capture_stamp(json_t *versions, const json_t *fields, int64_t seq, uint64_t hlc,
                     const char *site)
{
    assert(json_is_object(versions));
    if (json_object_size(versions) == 0 && json_object_get(fields, "created_at")) {
        return json_object_set_new(versions, CB_VERSION_ROW,
                                   json_pack("[I, I, s]", (json_int_t)seq, (json_int_t)hlc, site))
                   ? CB_ENOMEM
                   : CB_OK;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)fields, key, v)
    {
        (void)v;
        if (json_object_set_new(versions, key,
                                json_pack("[I, I, s]", (json_int_t)seq, (json_int_t)hlc, site))) {
            return CB_ENOMEM;
        }
    }
    return CB_OK;
}

static int persist_hlc(struct cb_conn *c, uint64_t h)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)h);
    return cb_setting_set(c, "hlc", buf);
}

/* Append the change; versions: NULL (no row_meta update), or the row's
 * versions to stamp and write (read here when *read_versions).  fields_text:
 * NULL, or fields as cb_json_buf_add_value writes them (fields_len bytes). */
static int append_change(struct cb_conn *c, const char *tbl, const char *row_id,
                         const json_t *fields, const char *fields_text, size_t fields_len,
                         uint64_t hlc, const char *site, int64_t op_id, unsigned flags,
                         const char *scope, const char *scope2, int update_meta, json_t *versions,
                         int64_t *seq_out)
{
    assert(!(flags & CB_CHANGE_EXACT) || op_id > 0);
    struct cb_buf text;
    cb_buf_init(&text, CHANGE_TEXT_MAX);
    int rc = CB_OK;
    if (fields_text) {
        if (fields_len > CHANGE_TEXT_MAX || fields_len > INT_MAX) {
            return CB_ETOOLARGE;
        }
    } else {
        rc = cb_json_buf_add_value(&text, fields);
        fields_text = cb_buf_str(&text);
        fields_len = text.len;
    }
    json_t *own = NULL;
    if (rc == CB_OK && update_meta && !versions) {
        rc = cb_capture_versions(c, tbl, row_id, &own);
        versions = own;
    }
    /* A row created whole (no versions yet, created_at written: only a creation
     * writes it) gets one row-wide version, [seq, hlc, site] of this change:
     * the log keeps it (whole = 1; cb_capture_versions reads it back), not a
     * row_meta row, until a later write gives the row versions of its own. */
    int whole =
        update_meta && json_object_size(versions) == 0 && json_object_get(fields, "created_at");
    if (rc) {
        json_decref(own);
        cb_buf_free(&text);
        return rc;
    }
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c,
                         "INSERT INTO changes(tbl, row_id, fields, hlc, site, op_id, scope, "
                         "scope2, restamped, exact, whole) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                         "?8, ?9, ?10, ?11)",
                         &st);
    if (rc == CB_OK) {
        /* every text outlives the step (cb_stmt_done clears the bindings) */
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, row_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, fields_text, (int)fields_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)hlc);
        sqlite3_bind_text(st, 5, site, -1, SQLITE_STATIC);
        if (op_id > 0) {
            sqlite3_bind_int64(st, 6, op_id);
        }
        if (scope) {
            sqlite3_bind_text(st, 7, scope, -1, SQLITE_STATIC);
        }
        if (scope2) {
            sqlite3_bind_text(st, 8, scope2, -1, SQLITE_STATIC);
        }
        sqlite3_bind_int(st, 9, (flags & CB_CHANGE_RESTAMPED) ? 1 : 0);
        sqlite3_bind_int(st, 10, (flags & CB_CHANGE_EXACT) ? 1 : 0);
        sqlite3_bind_int(st, 11, whole ? 1 : 0);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    cb_buf_free(&text);
    int64_t seq = sqlite3_last_insert_rowid(cb_conn_db(c));
    if (rc == CB_OK && seq_out) {
        *seq_out = seq;
    }
    if (rc == CB_OK && update_meta) {
        /* versions as the caller goes on to see them (hub.c re-asserts from it) */
        rc = cb_capture_stamp(versions, fields, seq, hlc, site);
        if (rc == CB_OK && !whole) {
            rc = cb_capture_set_versions(c, tbl, row_id, versions);
        }
    }
    json_decref(own);
    return rc;
}

int cb_capture_append(struct cb_conn *c, const char *tbl, const char *row_id, const json_t *fields,
                      uint64_t hlc, const char *site, int64_t op_id, unsigned flags,
                      const char *scope, const char *scope2, int update_meta, int64_t *seq_out)
{
    return append_change(c, tbl, row_id, fields, NULL, 0, hlc, site, op_id, flags, scope, scope2,
                         update_meta, NULL, seq_out);
}

int cb_capture_append_stamp(struct cb_conn *c, const char *tbl, const char *row_id,
                            const json_t *fields, const char *fields_text, size_t fields_len,
                            uint64_t hlc, const char *site, int64_t op_id, unsigned flags,
                            const char *scope, const char *scope2, json_t *versions)
{
    assert(versions);
    return append_change(c, tbl, row_id, fields, fields_text, fields_len, hlc, site, op_id, flags,
                         scope, scope2, 1, versions, NULL);
}

/* The previous team of a row as last logged (for scope2). */
static int previous_team(struct cb_conn *c, const char *tbl, const char *row_id, char *out,
                         size_t len)
{
    json_t *versions = NULL;
    out[0] = '\0';
    int rc = cb_capture_versions(c, tbl, row_id, &versions);
    if (rc) {
        return rc;
    }
    json_t *v = cb_capture_version(versions, "team");
    json_int_t seq = json_integer_value(json_array_get(v, 0));
    json_decref(versions);
    if (seq <= 0) {
        return CB_OK;
    }
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c, "SELECT fields FROM changes WHERE seq = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_int64(st, 1, seq);
    if (sqlite3_step(st) == SQLITE_ROW) {
        json_t *f = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        const char *team = cb_json_str(f, "team");
        if (team) {
            snprintf(out, len, "%s", team);
        }
        json_decref(f);
    }
    cb_stmt_done(st);
    return CB_OK;
}

/*
 * Central: log a local write.  A row moving to another team is logged with
 * scope2 = the old team and then re-logged whole for the new one (for a
 * participant: with everything about them), so the sites newly in scope
 * receive complete rows, never a partial update of a row they lack.
 */
static int capture_central(struct cb_conn *c, const char *tbl, const char *row_id,
                           const json_t *fields, uint64_t h)
{
    char scope[80], old_team[80] = "";
    int shared = 0;
    int moving = json_is_string(json_object_get(fields, "team"));
    int rc = CB_OK;
    if (moving) {
        rc = previous_team(c, tbl, row_id, old_team, sizeof(old_team));
        if (rc == CB_OK && (!old_team[0] || strcmp(old_team, cb_json_str(fields, "team")) == 0)) {
            moving = 0;
        }
    }
    if (rc == CB_OK) {
        rc = cb_capture_scope(c, tbl, row_id, scope, sizeof(scope), &shared);
    }
    if (rc == CB_OK) {
        /* A move goes to the old team's sites only; the new team's sites get the
         * whole row from the re-log below. */
        int move = moving && old_team[0];
        rc = cb_capture_append(c, tbl, row_id, fields, h, CB_SITE_CENTRAL, 0, 0,
                               move     ? old_team
                               : shared ? NULL
                                        : scope,
                               move ? old_team : NULL, 1, NULL);
    }
    if (rc == CB_OK && moving) {
        rc = cb_capture_relog_moved(c, tbl, row_id);
    }
    return rc;
}

/* Field: one outbox row for this write. */
static int capture_field(struct cb_conn *c, const char *tbl, const char *row_id,
                         const json_t *fields, uint64_t h)
{
    char cursor[32] = "0", pid[64] = "", now[CB_TIME_STRLEN];
    int i = synced_index(tbl);
    int rc = cb_setting_get(c, "sync_cursor", cursor, sizeof(cursor));
    if (rc == CB_ENOTFOUND) {
        rc = CB_OK;
    }
    if (rc) {
        return rc;
    }
    if (strcmp(tbl, "participants") == 0) {
        snprintf(pid, sizeof(pid), "%s", row_id);
    } else if (synced[i].participant_child) {
        rc = column_text(c, tbl, "participant_id", row_id, pid, sizeof(pid));
        if (rc == CB_ENOTFOUND) {
            rc = CB_OK;
        }
    }
    char *text = cb_json_dump(fields);
    if (!text) {
        return CB_ENOMEM;
    }
    errno = 0;
    char *end;
    long long base = strtoll(cursor, &end, 10);
    if (errno || *end) {
        base = 0;
    }
    cb_time_format(cb_now_ms(), now);
    sqlite3_stmt *st;
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c,
                             "INSERT INTO outbox(tbl, row_id, fields, hlc, base_seq, "
                             "participant_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                             &st);
    }
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, row_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)h);
        sqlite3_bind_int64(st, 5, base);
        if (pid[0]) {
            sqlite3_bind_text(st, 6, pid, -1, SQLITE_TRANSIENT);
        }
        sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    free(text);
    if (rc == CB_OK) {
        /* The local value's version: keep the central seq it was based on. */
        json_t *versions = NULL;
        rc = cb_capture_versions(c, tbl, row_id, &versions);
        if (rc == CB_OK && json_object_size(versions) == 0 &&
            json_object_get(fields, "created_at")) {
            rc = cb_capture_stamp(versions, fields, 0, h, CB_SITE_LOCAL); /* a new row */
        } else if (rc == CB_OK) {
            const char *key;
            json_t *v;
            json_object_foreach((json_t *)(uintptr_t)fields, key, v)
            {
                (void)v;
                json_int_t seq =
                    json_integer_value(json_array_get(cb_capture_version(versions, key), 0));
                json_object_set_new(versions, key,
                                    json_pack("[I, I, s]", seq, (json_int_t)h, CB_SITE_LOCAL));
            }
        }
        if (rc == CB_OK) {
            rc = cb_capture_set_versions(c, tbl, row_id, versions);
        }
        json_decref(versions);
    }
    return rc;
}

int cb_capture(struct cb_conn *c, const char *tbl, const char *row_id, const json_t *fields)
{
    if (!cb_capture_synced(tbl) || json_object_size(fields) == 0) {
        return CB_OK;
    }
    struct cb_store *s = cb_conn_store(c);
    int central = strcmp(cb_store_role(s), "central") == 0;
    if (!central && (strcmp(tbl, "users") == 0 || strcmp(tbl, "teams") == 0)) {
        return CB_OK; /* accounts and teams are mastered on central */
    }
    uint64_t h = cb_hlc_tick(cb_store_hlc(s), cb_now_ms());
    int rc = central ? capture_central(c, tbl, row_id, fields, h)
                     : capture_field(c, tbl, row_id, fields, h);
    if (rc == CB_OK) {
        rc = persist_hlc(c, h);
    }
    if (rc == CB_OK && !central) {
        cb_syncer_kick(); /* debounced; a no-op when not serving */
    }
    return rc;
}

int cb_capture_bootstrap_central(struct cb_conn *c)
{
    char done[8];
    if (cb_setting_get(c, "central_bootstrapped", done, sizeof(done)) == CB_OK) {
        return CB_OK;
    }
    int rc = cb_conn_begin(c);
    for (size_t i = 0; rc == CB_OK && i < NSYNCED; i++) {
        char sql[160];
        sqlite3_stmt *st;
        snprintf(sql, sizeof(sql), "SELECT id FROM %s ORDER BY id", synced[i].tbl);
        rc = cb_conn_prepare(c, sql, &st);
        if (rc) {
            break;
        }
        json_t *ids = json_array();
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
        }
        cb_stmt_done(st);
        size_t k;
        json_t *idv;
        json_array_foreach(ids, k, idv)
        {
            json_t *values = NULL;
            char scope[80];
            int shared = 0;
            if (rc == CB_OK) {
                rc = cb_capture_row_values(c, synced[i].tbl, json_string_value(idv), &values);
            }
            if (rc == CB_OK) {
                rc = cb_capture_scope(c, synced[i].tbl, json_string_value(idv), scope,
                                      sizeof(scope), &shared);
            }
            if (rc == CB_OK) {
                uint64_t h = cb_hlc_tick(cb_store_hlc(cb_conn_store(c)), cb_now_ms());
                rc = cb_capture_append(c, synced[i].tbl, json_string_value(idv), values, h,
                                       CB_SITE_CENTRAL, 0, 0, shared ? NULL : scope, NULL, 1, NULL);
            }
            json_decref(values);
        }
        json_decref(ids);
    }
    if (rc == CB_OK) {
        rc = cb_setting_set(c, "central_bootstrapped", "1");
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    return rc;
}

static int relog_row(struct cb_conn *c, const char *tbl, const char *row_id, const char *team);

int cb_capture_relog_moved(struct cb_conn *c, const char *tbl, const char *row_id)
{
    char scope[80];
    int shared = 0;
    if (strcmp(tbl, "participants") == 0) {
        return cb_capture_relog_participant(c, row_id);
    }
    int rc = cb_capture_scope(c, tbl, row_id, scope, sizeof(scope), &shared);
    if (rc == CB_OK && !shared) {
        rc = relog_row(c, tbl, row_id, scope);
    }
    return rc;
}

/*
 * Re-log one row as one change holding every synced field, so that a site that
 * never had the row can insert it (a change with only some of the fields cannot
 * satisfy the NOT NULL columns).  It carries the newest origin among its fields;
 * central's own per-field versions (row_meta) are unchanged.
 */
static int relog_row(struct cb_conn *c, const char *tbl, const char *row_id, const char *team)
{
    json_t *values = NULL, *versions = NULL;
    int rc = cb_capture_row_values(c, tbl, row_id, &values);
    if (rc == CB_OK) {
        rc = cb_capture_versions(c, tbl, row_id, &versions);
    }
    if (rc == CB_OK) {
        const char *key;
        json_t *v;
        uint64_t hlc = 0;
        const char *site = CB_SITE_CENTRAL;
        json_object_foreach(values, key, v)
        {
            json_t *ver = cb_capture_version(versions, key);
            uint64_t h = (uint64_t)json_integer_value(json_array_get(ver, 1));
            const char *si = json_string_value(json_array_get(ver, 2));
            if (si && (h > hlc || (h == hlc && strcmp(si, site) > 0))) {
                hlc = h;
                site = si;
            }
        }
        rc = cb_capture_append(c, tbl, row_id, values, hlc, site, 0, 0, team, NULL, 0, NULL);
    }
    json_decref(values);
    json_decref(versions);
    return rc;
}

int cb_capture_relog_participant(struct cb_conn *c, const char *participant_id)
{
    char team[80];
    int rc = column_text(c, "participants", "team", participant_id, team, sizeof(team));
    if (rc) {
        return rc;
    }
    rc = relog_row(c, "participants", participant_id, team);
    for (size_t i = 0; rc == CB_OK && i < NSYNCED; i++) {
        if (!synced[i].participant_child) {
            continue;
        }
        char sql[160];
        sqlite3_stmt *st;
        /* Every record about the person moves with them now, deleted ones and
         * conflicts included (the record layer's retag skips those), so that the
         * re-log carries the new team and later changes reach the new team's sites. */
        snprintf(sql, sizeof(sql),
                 "UPDATE %s SET team = ?1 WHERE participant_id = ?2 AND team IS NOT ?1",
                 synced[i].tbl);
        rc = cb_conn_prepare(c, sql, &st);
        if (rc) {
            break;
        }
        sqlite3_bind_text(st, 1, team, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, participant_id, -1, SQLITE_TRANSIENT);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
        if (rc) {
            break;
        }
        snprintf(sql, sizeof(sql), "SELECT id FROM %s WHERE participant_id = ?1", synced[i].tbl);
        rc = cb_conn_prepare(c, sql, &st);
        if (rc) {
            break;
        }
        sqlite3_bind_text(st, 1, participant_id, -1, SQLITE_TRANSIENT);
        json_t *ids = json_array();
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
        }
        cb_stmt_done(st);
        if (s != SQLITE_DONE) {
            rc = cb_store_rc(s);
        }
        size_t k;
        json_t *idv;
        json_array_foreach(ids, k, idv)
        {
            if (rc == CB_OK) {
                rc = relog_row(c, synced[i].tbl, json_string_value(idv), team);
            }
        }
        json_decref(ids);
    }
    return rc;
}
