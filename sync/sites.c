/* sites.c - enrolled field servers on central; see sites.h. */
#include "coachbox/sites.h"
#include "coachbox/audit.h"
#include "coachbox/json.h"
#include "coachbox/rng.h"
#include "coachbox/sign.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"
#include "coachbox/validate.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE_TTL_MS (24LL * 3600 * 1000)

void cb_site_clear(struct cb_site *s)
{
    json_decref(s->teams);
    memset(s, 0, sizeof(*s));
}

/* Canonical code: upper-case, no dashes or spaces. */
static void code_canon(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < len; p++) {
        if (*p == '-' || *p == ' ') {
            continue;
        }
        out[n++] = (char)toupper((unsigned char)*p);
    }
    out[n] = '\0';
}

static void load_row(sqlite3_stmt *st, struct cb_site *s)
{
    snprintf(s->id, sizeof(s->id), "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(s->name, sizeof(s->name), "%s", (const char *)sqlite3_column_text(st, 1));
    s->teams = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
    snprintf(s->secret, sizeof(s->secret), "%s", (const char *)sqlite3_column_text(st, 3));
    s->revoked = sqlite3_column_int(st, 4);
    s->last_op_id = sqlite3_column_int64(st, 5);
}

#define SITE_COLS "id, name, teams, secret, revoked, last_op_id"

int cb_site_add(struct cb_conn *c, const char *name, const json_t *teams, struct cb_site *out,
                char code[CB_CODE_STRLEN], struct cb_field_error *fe)
{
    static const char alphabet[] = "ABCDEFGHJKMNPQRSTVWXYZ23456789";
    unsigned char rnd[12];
    char canon[16], hash[CB_SIG_HEXLEN], now[CB_TIME_STRLEN];
    memset(out, 0, sizeof(*out));
    if (!name || !name[0] || cb_text_valid(name, CB_NAME_CHARS, 1)) {
        return cb_field_fail(fe, "name", "must be 1-%d characters on one line", CB_NAME_CHARS);
    }
    if (!json_is_array(teams) || json_array_size(teams) == 0 || json_array_size(teams) > 32) {
        return cb_field_fail(fe, "team", "give at least one team (--team ID)");
    }
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    size_t i;
    json_t *t;
    json_array_foreach(teams, i, t)
    {
        sqlite3_stmt *st;
        if (!json_is_string(t)) {
            rc = cb_field_fail(fe, "team", "team ids are text");
            break;
        }
        rc = cb_conn_prepare(c, "SELECT 1 FROM teams WHERE id = ?1 AND deleted = 0", &st);
        if (rc) {
            break;
        }
        sqlite3_bind_text(st, 1, json_string_value(t), -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        cb_stmt_done(st);
        if (s != SQLITE_ROW) {
            rc = cb_field_fail(fe, "team", "no such team: %s", json_string_value(t));
            break;
        }
    }
    if (rc == CB_OK) {
        rc = cb_rng_bytes(rnd, sizeof(rnd));
    }
    if (rc == CB_OK) {
        for (int k = 0; k < 12; k++) {
            canon[k] = alphabet[rnd[k] % (sizeof(alphabet) - 1)];
        }
        canon[12] = '\0';
        snprintf(code, CB_CODE_STRLEN, "%.4s-%.4s-%.4s", canon, canon + 4, canon + 8);
        cb_sha256_hex(canon, 12, hash);
        rc = cb_uuid7(out->id);
    }
    if (rc == CB_OK) {
        rc = cb_rng_hex(out->secret, 32);
    }
    char *teams_text = rc == CB_OK ? cb_json_dump(teams) : NULL;
    if (rc == CB_OK && !teams_text) {
        rc = CB_ENOMEM;
    }
    if (rc == CB_OK) {
        sqlite3_stmt *st;
        cb_time_format(cb_now_ms(), now);
        rc = cb_conn_prepare(c,
                             "INSERT INTO sites(id, name, teams, secret, code_hash, "
                             "code_expires_ms, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                             &st);
        if (rc == CB_OK) {
            sqlite3_bind_text(st, 1, out->id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, teams_text, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 4, out->secret, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 5, hash, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 6, cb_now_ms() + CODE_TTL_MS);
            sqlite3_bind_text(st, 7, now, -1, SQLITE_TRANSIENT);
            rc = cb_store_rc(sqlite3_step(st));
            cb_stmt_done(st);
            if (rc == CB_ECONFLICT) {
                cb_field_fail(fe, "name", "a site with this name exists");
            }
        }
    }
    free(teams_text);
    if (rc == CB_OK) {
        struct cb_audit_event e = {NULL, "site.add", "sites", out->id, NULL, "ok", name, NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    if (rc == CB_OK) {
        snprintf(out->name, sizeof(out->name), "%s", name);
        out->teams = json_deep_copy(teams);
    }
    return rc;
}

int cb_site_enroll(struct cb_conn *c, const char *code, int64_t first_op_id, struct cb_site *out)
{
    char canon[32], hash[CB_SIG_HEXLEN], now[CB_TIME_STRLEN];
    memset(out, 0, sizeof(*out));
    code_canon(code ? code : "", canon, sizeof(canon));
    if (strlen(canon) != 12 || first_op_id < 1) {
        return CB_EUNAUTH;
    }
    cb_sha256_hex(canon, 12, hash);
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c, "SELECT " SITE_COLS ", code_expires_ms FROM sites WHERE code_hash = ?1",
                         &st);
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            load_row(st, out);
            if (sqlite3_column_int64(st, 6) < cb_now_ms() || out->revoked) {
                rc = CB_EUNAUTH;
            }
        } else {
            rc = CB_EUNAUTH;
        }
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        cb_time_format(cb_now_ms(), now);
        rc = cb_conn_prepare(c,
                             "UPDATE sites SET code_hash = NULL, code_expires_ms = NULL, "
                             "enrolled_at = ?1, last_op_id = ?2 WHERE id = ?3",
                             &st);
        if (rc == CB_OK) {
            sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 2, first_op_id - 1);
            sqlite3_bind_text(st, 3, out->id, -1, SQLITE_TRANSIENT);
            rc = cb_store_rc(sqlite3_step(st));
            cb_stmt_done(st);
            out->last_op_id = first_op_id - 1;
        }
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {NULL, "site.enroll", "sites", out->id, NULL, "ok", NULL, NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
        cb_site_clear(out);
    }
    return rc;
}

int cb_site_get(struct cb_conn *c, const char *id, struct cb_site *out)
{
    sqlite3_stmt *st;
    memset(out, 0, sizeof(*out));
    int rc = cb_conn_prepare(c, "SELECT " SITE_COLS " FROM sites WHERE id = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        load_row(st, out);
        rc = CB_OK;
    } else {
        rc = s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

int cb_site_revoke(struct cb_conn *c, const char *id_or_name)
{
    char now[CB_TIME_STRLEN];
    sqlite3_stmt *st;
    cb_time_format(cb_now_ms(), now);
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    rc = cb_conn_prepare(c,
                         "UPDATE sites SET revoked = 1, revoked_at = ?1, code_hash = NULL "
                         "WHERE id = ?2 OR lower(name) = lower(?2)",
                         &st);
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, id_or_name, -1, SQLITE_TRANSIENT);
        rc = cb_store_rc(sqlite3_step(st));
        if (rc == CB_OK && sqlite3_changes(cb_conn_db(c)) == 0) {
            rc = CB_ENOTFOUND;
        }
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {NULL, "site.revoke", "sites", id_or_name,
                                   NULL, "ok",          NULL,    NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    return rc;
}

int cb_site_list(struct cb_conn *c, json_t **out)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT id, name, teams, enrolled_at, revoked, last_seen_at, "
                             "pending_reported, oldest_pending_at, last_op_id, revoked_at, "
                             "last_sync_at FROM sites ORDER BY lower(name)",
                             &st);
    if (rc) {
        return rc;
    }
    json_t *items = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *teams = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
        json_array_append_new(
            items,
            json_pack("{s:s, s:s, s:o, s:s?, s:b, s:s?, s:I, s:s?, s:I, s:s?, s:s?}", "id",
                      sqlite3_column_text(st, 0), "name", sqlite3_column_text(st, 1), "teams",
                      teams ? teams : json_array(), "enrolled_at", sqlite3_column_text(st, 3),
                      "revoked", sqlite3_column_int(st, 4), "last_seen_at",
                      sqlite3_column_text(st, 5), "pending_reported",
                      (json_int_t)sqlite3_column_int64(st, 6), "oldest_pending_at",
                      sqlite3_column_text(st, 7), "last_op_id",
                      (json_int_t)sqlite3_column_int64(st, 8), "revoked_at",
                      sqlite3_column_text(st, 9), "last_sync_at", sqlite3_column_text(st, 10)));
    }
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    *out = json_pack("{s:o}", "items", items);
    return CB_OK;
}

int cb_site_synced(struct cb_conn *c, const char *id)
{
    assert(id != NULL);
    char now[CB_TIME_STRLEN];
    sqlite3_stmt *st;
    cb_time_format(cb_now_ms(), now);
    int rc = cb_conn_prepare(c, "UPDATE sites SET last_sync_at = ?1 WHERE id = ?2", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    rc = cb_store_rc(sqlite3_step(st));
    cb_stmt_done(st);
    return rc;
}
