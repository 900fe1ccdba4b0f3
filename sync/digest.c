/*
 * digest.c - state digests for `coachbox sync --verify`: per synced table, the
 * number of rows in scope and a SHA-256 over (id, synced values) in id order;
 * per row hashes on request.  The same code runs on central and on the site.
 */
#include "coachbox/buf.h"
#include "coachbox/capture.h"
#include "coachbox/json.h"
#include "coachbox/record.h"
#include "coachbox/sign.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"

#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const digest_tables[] = {
    "participants",   "encounters", "consents",   "measures", "goals",     "goal_reviews",
    "referrals",      "enrolments", "attendance", "checkins", "conflicts", "programmes",
    "group_sessions", "venues",     "teams",      "users",    NULL};

/* WHERE clause selecting the rows of tbl that sites with these teams hold. */
static const char *scope_where(const char *tbl)
{
    if (strcmp(tbl, "venues") == 0 || strcmp(tbl, "teams") == 0) {
        return "1";
    }
    if (strcmp(tbl, "users") == 0) {
        return "role IN ('coach', 'lead') AND team IN (SELECT value FROM json_each(?1))";
    }
    return "team IN (SELECT value FROM json_each(?1))";
}

static int known_table(const char *tbl)
{
    for (const char *const *t = digest_tables; *t; t++) {
        if (strcmp(*t, tbl) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Hash one table; rows != NULL collects per-row hashes. */
static int digest_table(struct cb_conn *c, const char *teams, const char *tbl, json_t *summary,
                        json_t *rows)
{
    const struct cb_table *t = cb_table_find(tbl);
    char sql[8192];
    if (!t) {
        return CB_EINVAL;
    }
    snprintf(sql, sizeof(sql), "SELECT %s, created_by, deleted FROM %s WHERE %s ORDER BY id",
             cb_record_columns(t), tbl, scope_where(tbl));
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    if (strstr(sql, "?1")) {
        sqlite3_bind_text(st, 1, teams, -1, SQLITE_TRANSIENT);
    }
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts_ret(&ctx, 0);
    json_int_t count = 0;
    int s;
    int n = (int)t->nfields + 3;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = cb_record_from_row(t, st);
        if (!o) {
            rc = CB_ENOMEM;
            break;
        }
        json_object_del(o, "updated_at");
        json_object_set_new(o, "created_by",
                            sqlite3_column_type(st, n) == SQLITE_NULL
                                ? json_null()
                                : json_string((const char *)sqlite3_column_text(st, n)));
        json_object_set_new(o, "deleted", json_integer(sqlite3_column_int(st, n + 1)));
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
                                       JSON_REAL_PRECISION(15));
        json_decref(o);
        if (!text) {
            rc = CB_ENOMEM;
            break;
        }
        mbedtls_sha256_update_ret(&ctx, (const unsigned char *)text, strlen(text) + 1);
        if (rows) {
            char h[CB_SIG_HEXLEN];
            cb_sha256_hex(text, strlen(text), h);
            json_object_set_new(rows, (const char *)sqlite3_column_text(st, 0), json_string(h));
        }
        free(text);
        count++;
    }
    cb_stmt_done(st);
    if (rc == CB_OK && s != SQLITE_DONE) {
        rc = cb_store_rc(s);
    }
    unsigned char d[32];
    mbedtls_sha256_finish_ret(&ctx, d);
    mbedtls_sha256_free(&ctx);
    if (rc == CB_OK && summary) {
        char hex[65];
        static const char hx[] = "0123456789abcdef";
        for (int i = 0; i < 32; i++) {
            hex[2 * i] = hx[d[i] >> 4];
            hex[2 * i + 1] = hx[d[i] & 15];
        }
        hex[64] = '\0';
        json_object_set_new(summary, tbl, json_pack("{s:I, s:s}", "count", count, "hash", hex));
    }
    return rc;
}

int cb_sync_digest(struct cb_conn *c, const json_t *teams, const char *table, json_t **out)
{
    char *teams_text = cb_json_dump(teams ? teams : json_array());
    int rc = CB_OK;
    if (!teams_text) {
        return CB_ENOMEM;
    }
    /* One snapshot for all tables. */
    int in_txn = cb_conn_exec(c, "BEGIN") == CB_OK;
    if (table) {
        json_t *rows = json_object();
        rc = known_table(table) ? digest_table(c, teams_text, table, NULL, rows) : CB_EINVAL;
        if (rc == CB_OK) {
            *out = json_pack("{s:s, s:o}", "table", table, "rows", rows);
        } else {
            json_decref(rows);
        }
    } else {
        json_t *summary = json_object();
        for (const char *const *t = digest_tables; *t && rc == CB_OK; t++) {
            rc = digest_table(c, teams_text, *t, summary, NULL);
        }
        if (rc == CB_OK) {
            *out = json_pack("{s:o}", "tables", summary);
        } else {
            json_decref(summary);
        }
    }
    if (in_txn) {
        cb_conn_exec(c, "COMMIT");
    }
    free(teams_text);
    return rc;
}
