/* record.c - table-driven validation, SQL and JSON for records; see record.h. */
#include "coachbox/record.h"
#include "coachbox/buf.h"
#include "coachbox/capture.h"
#include "coachbox/json.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"
#include "coachbox/validate.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_MAX (16 * 1024)

/*
 * This runs for every column of every synced row, whose keys come in the
 * table's declaration order (capture writes them so): the field after the one
 * this thread found last is tried first, then all of them, the first byte
 * before the rest.
 */
const struct cb_field *cb_table_field(const struct cb_table *t, const char *name)
{
    static _Thread_local const struct cb_table *hint_t;
    static _Thread_local size_t hint_i;
    if (hint_t == t && hint_i < t->nfields && t->fields[hint_i].name[0] == name[0] &&
        strcmp(t->fields[hint_i].name, name) == 0) {
        return &t->fields[hint_i++];
    }
    for (size_t i = 0; i < t->nfields; i++) {
        if (t->fields[i].name[0] == name[0] && strcmp(t->fields[i].name, name) == 0) {
            hint_t = t;
            hint_i = i + 1;
            return &t->fields[i];
        }
    }
    return NULL;
}

/* One of the synced columns every table has besides its fields? */
static int synced_extra(const char *name)
{
    return (name[0] == 'c' &&
            (strcmp(name, "created_at") == 0 || strcmp(name, "created_by") == 0)) ||
           (name[0] == 'd' && strcmp(name, "deleted") == 0);
}

static int in_values(const char *const *values, const char *s)
{
    for (const char *const *v = values; v && *v; v++) {
        if (strcmp(*v, s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The allowed values as "a, b, c" for an error message, in out (len >= 8
 * bytes); where they do not all fit, the list ends with ", ...". */
static void values_list(const char *const *values, char *out, size_t len)
{
    assert(len >= 8);
    size_t at = 0;
    out[0] = '\0';
    for (const char *const *v = values; v && *v; v++) {
        size_t need = strlen(*v) + (at ? 2 : 0);
        size_t keep = v[1] ? sizeof(", ...") : 1; /* room for the cut mark after it */
        if (at + need + keep > len) {
            snprintf(out + at, len - at, "%s...", at ? ", " : "");
            return;
        }
        at += (size_t)snprintf(out + at, len - at, "%s%s", at ? ", " : "", *v);
    }
}

/* Does a live row with this id exist in table?  (table names are static.) */
static int row_exists(struct cb_conn *c, const char *table, const char *id, int *exists)
{
    char sql[160];
    sqlite3_stmt *st;
    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ?1 AND deleted = 0", table);
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    *exists = s == SQLITE_ROW;
    rc = (s == SQLITE_ROW || s == SQLITE_DONE) ? CB_OK : cb_store_rc(s);
    cb_stmt_done(st);
    return rc;
}

/*
 * May column col of table hold NULL?  *not_null is 1 when the column is
 * declared NOT NULL (or, without a connection, when the field is required or
 * has a default).
 */
static int column_not_null(struct cb_conn *c, const char *table, const struct cb_field *f,
                           int *not_null)
{
    *not_null = (f->flags & CB_FF_REQUIRED) || f->def;
    if (!c || *not_null) {
        return CB_OK;
    }
    sqlite3_stmt *st;
    int rc =
        cb_conn_prepare(c, "SELECT \"notnull\" FROM pragma_table_info(?1) WHERE name = ?2", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    *not_null = s == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    rc = (s == SQLITE_ROW || s == SQLITE_DONE) ? CB_OK : cb_store_rc(s);
    cb_stmt_done(st);
    return rc;
}

/* Copy s with leading and trailing white space removed into a new JSON string. */
static json_t *trimmed(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) {
        n--;
    }
    return json_stringn(s, n);
}

/*
 * Validate one non-null value v for field f; on success *out is the canonical
 * JSON value (new reference).
 */
static int validate_value(struct cb_conn *c, const struct cb_field *f, const json_t *v,
                          const struct cb_validate_opts *o, json_t **out, struct cb_field_error *fe)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    char buf[64];
    switch (f->type) {
    case CB_F_LINE:
    case CB_F_TEXT: {
        if (!s) {
            return cb_field_fail(fe, f->name, "must be text");
        }
        json_t *t = trimmed(s);
        if (!t) {
            return CB_ENOMEM;
        }
        if (cb_text_valid(json_string_value(t), f->max_chars, f->type == CB_F_LINE)) {
            json_decref(t);
            return cb_field_fail(fe, f->name,
                                 "must be at most %zu characters of %s text without control "
                                 "characters",
                                 f->max_chars, f->type == CB_F_LINE ? "single-line" : "valid");
        }
        if ((f->flags & CB_FF_REQUIRED) && json_string_length(t) == 0) {
            json_decref(t);
            return cb_field_fail(fe, f->name, "must not be empty");
        }
        *out = t;
        return CB_OK;
    }
    case CB_F_INT:
        if (!json_is_integer(v) || (double)json_integer_value(v) < f->min ||
            (double)json_integer_value(v) > f->max) {
            return cb_field_fail(fe, f->name, "must be a whole number from %g to %g", f->min,
                                 f->max);
        }
        *out = json_integer(json_integer_value(v));
        return CB_OK;
    case CB_F_REAL:
        if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
            json_number_value(v) < f->min || json_number_value(v) > f->max) {
            return cb_field_fail(fe, f->name, "must be a number from %g to %g", f->min, f->max);
        }
        *out = json_real(json_number_value(v));
        return CB_OK;
    case CB_F_BOOL:
        if (!json_is_boolean(v)) {
            return cb_field_fail(fe, f->name, "must be true or false");
        }
        *out = json_boolean(json_is_true(v));
        return CB_OK;
    case CB_F_DATE: {
        int y, m, d;
        if (!s || cb_date_parse(s, &y, &m, &d)) {
            return cb_field_fail(fe, f->name, "must be a real date written YYYY-MM-DD");
        }
        if (f->flags & CB_FF_PAST) {
            char today[CB_DATE_STRLEN];
            cb_today(today);
            if (strcmp(s, today) > 0) {
                return cb_field_fail(fe, f->name, "must not be in the future");
            }
        }
        /* every date: 1900-2099, the years the reports and sync clocks handle */
        if (y < 1900 || y > 2099) {
            return cb_field_fail(fe, f->name, "must be between 1900-01-01 and 2099-12-31");
        }
        *out = json_string(s);
        return CB_OK;
    }
    case CB_F_TIME: {
        int64_t ms;
        char iso[CB_TIME_STRLEN];
        if (!s || cb_time_parse(s, &ms)) {
            return cb_field_fail(fe, f->name,
                                 "must be an ISO 8601 date and time with a time zone, for "
                                 "example 2026-11-26T10:30:00.000Z");
        }
        if ((f->flags & CB_FF_PAST) && ms > cb_now_ms() + 5 * 60 * 1000) {
            return cb_field_fail(fe, f->name, "must not be in the future");
        }
        if (ms < cb_days_from_civil(1900, 1, 1) * 86400000LL ||
            ms >= cb_days_from_civil(2100, 1, 1) * 86400000LL) {
            return cb_field_fail(fe, f->name, "must be between 1900 and the end of 2099");
        }
        cb_time_format(ms, iso);
        *out = json_string(iso);
        return CB_OK;
    }
    case CB_F_ENUM:
        if (!s || !in_values(f->values, s)) {
            char list[200];
            values_list(f->values, list, sizeof(list));
            return cb_field_fail(fe, f->name, "must be one of: %s", list);
        }
        *out = json_string(s);
        return CB_OK;
    case CB_F_NHS: {
        char nhs[CB_NHS_STRLEN];
        if (!s || cb_nhs_number_normalise(s, o->allow_test_nhs, nhs)) {
            return cb_field_fail(fe, f->name,
                                 "must be a valid 10-digit NHS number (check digit failed or "
                                 "wrong length)");
        }
        *out = json_string(nhs);
        return CB_OK;
    }
    case CB_F_POSTCODE: {
        char pc[CB_POSTCODE_STRLEN];
        if (!s || cb_postcode_normalise(s, pc)) {
            return cb_field_fail(fe, f->name, "must be a UK postcode, for example BL9 0EJ");
        }
        *out = json_string(pc);
        return CB_OK;
    }
    case CB_F_EMAIL:
        if (!s || cb_email_valid(s)) {
            return cb_field_fail(fe, f->name, "must be an e-mail address");
        }
        *out = json_string(s);
        return CB_OK;
    case CB_F_PHONE:
        if (!s || cb_phone_normalise(s, buf, sizeof(buf))) {
            return cb_field_fail(fe, f->name, "must be a UK phone number of 10 to 13 digits");
        }
        *out = json_string(buf);
        return CB_OK;
    case CB_F_REF:
    case CB_F_TEAM: {
        const char *table = f->type == CB_F_TEAM ? "teams" : f->ref_table;
        if (!s || (f->type == CB_F_REF && !cb_uuid_valid(s)) ||
            (f->type == CB_F_TEAM && (strlen(s) == 0 || strlen(s) > 64))) {
            return cb_field_fail(fe, f->name, "must be the id of a %s record", table);
        }
        if (c) {
            int exists = 0;
            int rc = row_exists(c, table, s, &exists);
            if (rc) {
                return rc;
            }
            if (!exists) {
                if (f->type == CB_F_TEAM) {
                    return cb_field_fail(fe, f->name, "no such team: %s", s);
                }
                /* Worded like an out-of-scope reference (kind.c scope_team) so the
                 * answer does not tell whether the id exists in another team. */
                return cb_field_fail(fe, f->name, "no such record");
            }
        }
        *out = json_string(s);
        return CB_OK;
    }
    case CB_F_CODE:
        if (!s || strlen(s) > 64 || !f->check(s)) {
            return cb_field_fail(fe, f->name, "is not one of the known codes");
        }
        *out = json_string(s);
        return CB_OK;
    case CB_F_JSON:
        if (!json_is_object(v) && !json_is_array(v)) {
            return cb_field_fail(fe, f->name, "must be a JSON object or array");
        }
        *out = json_deep_copy(v);
        return CB_OK;
    case CB_F_STRSET: {
        size_t i;
        json_t *item;
        if (!json_is_array(v) || json_array_size(v) > 64) {
            return cb_field_fail(fe, f->name, "must be a list of listed values");
        }
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item) || !in_values(f->values, json_string_value(item))) {
                char list[180];
                values_list(f->values, list, sizeof(list));
                return cb_field_fail(fe, f->name, "item %zu is not one of: %s", i, list);
            }
            for (size_t j = 0; j < i; j++) {
                if (json_equal(json_array_get(v, j), item)) {
                    return cb_field_fail(fe, f->name, "lists \"%s\" twice",
                                         json_string_value(item));
                }
            }
        }
        *out = json_deep_copy(v);
        return CB_OK;
    }
    }
    return CB_EINTERNAL;
}

int cb_record_validate(struct cb_conn *c, const struct cb_table *t, const json_t *in,
                       const struct cb_validate_opts *o, json_t **out, struct cb_field_error *fe)
{
    const char *key;
    json_t *v;
    json_t *res = json_object();
    if (!res) {
        return CB_ENOMEM;
    }
    json_object_foreach((json_t *)(uintptr_t)in, key, v)
    {
        int rc;
        if (strcmp(key, "id") == 0 && o->creating) {
            if (!json_is_string(v) || !cb_uuid_valid(json_string_value(v))) {
                rc = cb_field_fail(fe, "id", "must be a UUID");
                json_decref(res);
                return rc;
            }
            json_object_set(res, "id", v);
            continue;
        }
        const struct cb_field *f = cb_table_field(t, key);
        if (!f || (f->flags & CB_FF_SERVER)) {
            rc = cb_field_fail(
                fe, key, f ? "is set by the server and cannot be written" : "is not a known field");
            json_decref(res);
            return rc;
        }
        if (!o->creating && (f->flags & CB_FF_IMMUTABLE)) {
            json_decref(res);
            return cb_field_fail(fe, key, "cannot be changed once recorded");
        }
        if (json_is_null(v)) {
            if (f->flags & CB_FF_REQUIRED) {
                json_decref(res);
                return cb_field_fail(fe, key, "is required");
            }
            if (!o->creating) {
                /* An update cannot empty a NOT NULL column: 400 naming it, not a 409
                 * from the constraint. */
                int not_null = 0;
                rc = column_not_null(c, t->name, f, &not_null);
                if (rc == CB_OK && not_null) {
                    rc = cb_field_fail(fe, key, "cannot be null");
                }
                if (rc) {
                    json_decref(res);
                    return rc;
                }
                json_object_set_new(res, key, json_null());
            }
            continue;
        }
        json_t *canon = NULL;
        rc = validate_value(c, f, v, o, &canon, fe);
        if (rc) {
            json_decref(res);
            return rc;
        }
        if (!canon) {
            json_decref(res);
            return CB_ENOMEM;
        }
        json_object_set_new(res, key, canon);
    }
    if (o->creating) {
        for (size_t i = 0; i < t->nfields; i++) {
            const struct cb_field *f = &t->fields[i];
            if (f->def && !json_object_get(res, f->name)) {
                json_object_set_new(res, f->name, json_string(f->def));
            }
            if ((f->flags & CB_FF_REQUIRED) && !(f->flags & CB_FF_SERVER) &&
                !json_object_get(res, f->name)) {
                json_decref(res);
                return cb_field_fail(fe, f->name, "is required");
            }
        }
    }
    *out = res;
    return CB_OK;
}

/* A JSON-typed column's value as text: at most a sync batch (central takes 64 MiB). */
#define JSON_VALUE_TEXT_MAX (64 * 1024 * 1024)

/* Bind canonical JSON value v for field f at index idx; SQLite's code (SQLITE_NOMEM
 * when a JSON value's text cannot be made). */
static int bind_value(sqlite3_stmt *st, int idx, const struct cb_field *f, const json_t *v)
{
    if (!v || json_is_null(v)) {
        return sqlite3_bind_null(st, idx);
    }
    switch (f->type) {
    case CB_F_INT:
        return sqlite3_bind_int64(st, idx, json_integer_value(v));
    case CB_F_BOOL:
        return sqlite3_bind_int(st, idx, json_is_true(v));
    case CB_F_REAL:
        return sqlite3_bind_double(st, idx, json_number_value(v));
    case CB_F_JSON:
    case CB_F_STRSET: {
        /* cb_json_dump's text, without jansson's dump: the buffer's memory is
         * handed to SQLite (malloc'd; freed by it) */
        struct cb_buf text;
        cb_buf_init(&text, JSON_VALUE_TEXT_MAX);
        if (cb_json_buf_add_value(&text, v) != CB_OK || !text.data) {
            cb_buf_free(&text);
            return SQLITE_NOMEM;
        }
        return sqlite3_bind_text(st, idx, text.data, (int)text.len, free);
    }
    default:
        /* not copied: v outlives the statement's step (every caller steps, then
         * clears the bindings with cb_stmt_done, before it lets v go) */
        return sqlite3_bind_text(st, idx, json_string_value(v), -1, SQLITE_STATIC);
    }
}

int cb_record_insert(struct cb_conn *c, const struct cb_table *t, const char *id,
                     const json_t *values, const char *now_iso, const char *actor)
{
    struct cb_buf sql;
    cb_buf_init(&sql, SQL_MAX);
    int rc = cb_buf_addf(&sql, "INSERT INTO %s(id", t->name);
    int n = 0;
    for (size_t i = 0; i < t->nfields && rc == CB_OK; i++) {
        const json_t *v = json_object_get(values, t->fields[i].name);
        if (v && !json_is_null(v)) {
            rc = cb_buf_addf(&sql, ", %s", t->fields[i].name);
            n++;
        }
    }
    if (rc == CB_OK) {
        rc = cb_buf_adds(&sql, ", created_at, updated_at, created_by) VALUES (?1");
    }
    for (int i = 0; i < n + 3 && rc == CB_OK; i++) {
        rc = cb_buf_addf(&sql, ", ?%d", i + 2);
    }
    if (rc == CB_OK) {
        rc = cb_buf_adds(&sql, ")");
    }
    sqlite3_stmt *st = NULL;
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c, cb_buf_str(&sql), &st);
    }
    cb_buf_free(&sql);
    if (rc) {
        return rc;
    }
    int idx = 1;
    int brc = SQLITE_OK;
    sqlite3_bind_text(st, idx++, id, -1, SQLITE_TRANSIENT);
    for (size_t i = 0; i < t->nfields && brc == SQLITE_OK; i++) {
        const json_t *v = json_object_get(values, t->fields[i].name);
        if (v && !json_is_null(v)) {
            brc = bind_value(st, idx++, &t->fields[i], v);
        }
    }
    if (brc != SQLITE_OK) {
        cb_stmt_done(st);
        return CB_ENOMEM;
    }
    sqlite3_bind_text(st, idx++, now_iso, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, idx++, now_iso, -1, SQLITE_TRANSIENT);
    if (actor) {
        sqlite3_bind_text(st, idx, actor, -1, SQLITE_TRANSIENT);
    }
    rc = cb_store_rc(sqlite3_step(st));
    cb_stmt_done(st);
    if (rc == CB_OK) {
        /* A new row is captured whole: every field (null when absent). */
        json_t *all = json_object();
        for (size_t i = 0; all && i < t->nfields; i++) {
            const json_t *v = json_object_get(values, t->fields[i].name);
            json_object_set_new(all, t->fields[i].name,
                                v ? json_incref((json_t *)(uintptr_t)v) : json_null());
        }
        if (!all) {
            return CB_ENOMEM;
        }
        json_object_set_new(all, "created_at", json_string(now_iso));
        json_object_set_new(all, "created_by", actor ? json_string(actor) : json_null());
        json_object_set_new(all, "deleted", json_integer(0));
        rc = cb_capture(c, t->name, id, all);
        json_decref(all);
    }
    return rc;
}

int cb_record_update(struct cb_conn *c, const struct cb_table *t, const char *id,
                     const json_t *values, const char *now_iso)
{
    struct cb_buf sql;
    cb_buf_init(&sql, SQL_MAX);
    int rc = cb_buf_addf(&sql, "UPDATE %s SET updated_at = ?1", t->name);
    int idx = 2;
    for (size_t i = 0; i < t->nfields && rc == CB_OK; i++) {
        if (json_object_get(values, t->fields[i].name)) {
            rc = cb_buf_addf(&sql, ", %s = ?%d", t->fields[i].name, idx++);
        }
    }
    if (rc == CB_OK) {
        rc = cb_buf_addf(&sql, " WHERE id = ?%d AND deleted = 0", idx);
    }
    sqlite3_stmt *st = NULL;
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c, cb_buf_str(&sql), &st);
    }
    cb_buf_free(&sql);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, now_iso, -1, SQLITE_TRANSIENT);
    idx = 2;
    int brc = SQLITE_OK;
    for (size_t i = 0; i < t->nfields && brc == SQLITE_OK; i++) {
        const json_t *v = json_object_get(values, t->fields[i].name);
        if (v) {
            brc = bind_value(st, idx++, &t->fields[i], v);
        }
    }
    if (brc != SQLITE_OK) {
        cb_stmt_done(st);
        return CB_ENOMEM;
    }
    sqlite3_bind_text(st, idx, id, -1, SQLITE_TRANSIENT);
    rc = cb_store_rc(sqlite3_step(st));
    if (rc == CB_OK && sqlite3_changes(cb_conn_db(c)) == 0) {
        rc = CB_ENOTFOUND;
    }
    cb_stmt_done(st);
    if (rc == CB_OK && json_object_size(values) > 0) {
        json_t *changed = json_object();
        for (size_t i = 0; changed && i < t->nfields; i++) {
            json_t *v = json_object_get(values, t->fields[i].name);
            if (v) {
                json_object_set(changed, t->fields[i].name, v);
            }
        }
        if (!changed) {
            return CB_ENOMEM;
        }
        rc = cb_capture(c, t->name, id, changed);
        json_decref(changed);
    }
    return rc;
}

/* Set the tombstone flag of a row (from "from" to "to"), captured for sync. */
static int set_deleted(struct cb_conn *c, const struct cb_table *t, const char *id,
                       const char *now_iso, int from, int to)
{
    char sql[160];
    sqlite3_stmt *st;
    snprintf(sql, sizeof(sql),
             "UPDATE %s SET deleted = %d, updated_at = ?1 WHERE id = ?2 AND deleted = %d", t->name,
             to, from);
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, now_iso, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    rc = cb_store_rc(sqlite3_step(st));
    if (rc == CB_OK && sqlite3_changes(cb_conn_db(c)) == 0) {
        rc = CB_ENOTFOUND;
    }
    cb_stmt_done(st);
    if (rc == CB_OK) {
        json_t *f = json_pack("{s:i}", "deleted", to);
        rc = f ? cb_capture(c, t->name, id, f) : CB_ENOMEM;
        json_decref(f);
    }
    return rc;
}

int cb_record_delete(struct cb_conn *c, const struct cb_table *t, const char *id,
                     const char *now_iso)
{
    return set_deleted(c, t, id, now_iso, 0, 1);
}

int cb_record_restore(struct cb_conn *c, const struct cb_table *t, const char *id,
                      const char *now_iso)
{
    return set_deleted(c, t, id, now_iso, 1, 0);
}

int cb_record_synced_column(const struct cb_table *t, const char *name)
{
    return synced_extra(name) || cb_table_field(t, name);
}

/* Bind a synced column's JSON value: declared field f, or (f NULL) one of the
 * three extras named name.  dumped: see cb_record_apply_dumped (may be NULL). */
static int bind_column(sqlite3_stmt *st, int idx, const struct cb_field *f, const char *name,
                       const json_t *v, const json_t *dumped)
{
    if (f && dumped && (f->type == CB_F_JSON || f->type == CB_F_STRSET) && v && !json_is_null(v)) {
        const json_t *text = json_object_get(dumped, name);
        if (json_is_string(text)) {
            return sqlite3_bind_text(st, idx, json_string_value(text),
                                     (int)json_string_length(text), SQLITE_STATIC);
        }
    }
    if (f) {
        return bind_value(st, idx, f, v);
    }
    if (!v || json_is_null(v)) {
        return sqlite3_bind_null(st, idx);
    }
    if (strcmp(name, "deleted") == 0) {
        return sqlite3_bind_int(st, idx, json_is_true(v) || json_integer_value(v) != 0);
    }
    return sqlite3_bind_text(st, idx, json_is_string(v) ? json_string_value(v) : "", -1,
                             SQLITE_STATIC); /* as bind_value */
}

int cb_record_get_synced(struct cb_conn *c, const struct cb_table *t, const char *id, json_t **out)
{
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SELECT %s, created_by, deleted FROM %s WHERE id = ?1",
             cb_record_columns(t), t->name);
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        json_t *o = cb_record_from_row(t, st);
        int n = (int)t->nfields + 3;
        if (o) {
            json_object_del(o, "id");
            json_object_del(o, "updated_at");
            json_object_set_new(o, "created_by",
                                sqlite3_column_type(st, n) == SQLITE_NULL
                                    ? json_null()
                                    : json_string((const char *)sqlite3_column_text(st, n)));
            json_object_set_new(o, "deleted", json_integer(sqlite3_column_int(st, n + 1)));
        }
        *out = o;
        rc = o ? CB_OK : CB_ENOMEM;
    } else {
        rc = s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/* SQL text in a fixed buffer: at most cap bytes plus the terminator. */
struct sql_text {
    char *p;
    size_t len, cap;
};

/* Append s to b; CB_ETOOLARGE (b unchanged) when it does not fit. */
static int sql_add(struct sql_text *b, const char *s)
{
    size_t n = strlen(s);
    if (n > b->cap - b->len) {
        return CB_ETOOLARGE;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
    return CB_OK;
}

/* Decimal text of a positive SQL parameter number n into num (16 bytes); returns num. */
static const char *param_number(int n, char num[16])
{
    char tmp[16];
    int k = 0;
    assert(n > 0);
    while (n > 0 && k < 15) {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    }
    for (int i = 0; i < k; i++) {
        num[i] = tmp[k - 1 - i];
    }
    num[k] = '\0';
    return num;
}

int cb_record_apply(struct cb_conn *c, const struct cb_table *t, const char *id,
                    const json_t *fields, const char *now_iso)
{
    int existed;
    return cb_record_apply_probe(c, t, id, fields, now_iso, &existed);
}

static int apply_known(struct cb_conn *c, const struct cb_table *t, const char *id,
                       const json_t *fields, const json_t *dumped, const char *now_iso, int exists);
/* apply_known's exists for "insert, or nothing when the id is there" (the
 * caller reads sqlite3_changes to tell which). */
#define APPLY_INSERT_OR_NOTHING 2

int cb_record_apply_probe(struct cb_conn *c, const struct cb_table *t, const char *id,
                          const json_t *fields, const char *now_iso, int *existed)
{
    return cb_record_apply_dumped(c, t, id, fields, NULL, now_iso, 1, existed);
}

int cb_record_apply_dumped(struct cb_conn *c, const struct cb_table *t, const char *id,
                           const json_t *fields, const json_t *dumped, const char *now_iso,
                           int probe, int *existed)
{
    if (!probe) {
        return apply_known(c, t, id, fields, dumped, now_iso, *existed ? 1 : 0);
    }
    if (json_object_size(fields) == t->nfields + 3) {
        /* A whole row (every declared field, created_at, created_by, deleted: a
         * change that created it, or one re-logged whole), so an INSERT of it
         * meets each NOT NULL and CHECK exactly as the UPDATE of a row that is
         * there would: no probe, the row is inserted unless its id is there
         * (SQLite checks an upsert's target before any other unique index, so a
         * row that is there is never refused for its own entry in another),
         * and updated if it was. */
        int rc = apply_known(c, t, id, fields, dumped, now_iso, APPLY_INSERT_OR_NOTHING);
        if (rc) {
            return rc;
        }
        *existed = sqlite3_changes(cb_conn_db(c)) == 0;
        return *existed ? apply_known(c, t, id, fields, dumped, now_iso, 1) : CB_OK;
    }
    char probe_sql[160];
    sqlite3_stmt *st;
    snprintf(probe_sql, sizeof(probe_sql), "SELECT 1 FROM %s WHERE id = ?1", t->name);
    int rc = cb_conn_prepare(c, probe_sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    cb_stmt_done(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        return cb_store_rc(s);
    }
    *existed = s == SQLITE_ROW;
    return apply_known(c, t, id, fields, dumped, now_iso, *existed);
}

int cb_record_dump_json_fields(const struct cb_table *t, const json_t *fields,
                               struct cb_buf *scratch, json_t **out)
{
    const char *key;
    json_t *v;
    json_t *texts = NULL;
    *out = NULL;
    json_object_foreach((json_t *)(uintptr_t)fields, key, v)
    {
        const struct cb_field *f = cb_table_field(t, key);
        if (!f || (f->type != CB_F_JSON && f->type != CB_F_STRSET) || json_is_null(v)) {
            continue;
        }
        cb_buf_reset(scratch);
        int rc = cb_json_buf_add_value(scratch, v);
        if (rc == CB_ETOOLARGE) {
            continue; /* dumped when applied */
        }
        if (rc == CB_OK && !texts && !(texts = json_object())) {
            rc = CB_ENOMEM;
        }
        if (rc == CB_OK &&
            json_object_set_new(texts, key,
                                json_stringn_nocheck(cb_buf_str(scratch), scratch->len))) {
            rc = CB_ENOMEM;
        }
        if (rc) {
            json_decref(texts);
            return CB_ENOMEM;
        }
    }
    *out = texts;
    return CB_OK;
}

/* At most this many columns in one applied change (a synced table has fewer). */
#define APPLY_MAX_COLS 128

int cb_record_apply_known(struct cb_conn *c, const struct cb_table *t, const char *id,
                          const json_t *fields, const char *now_iso, int exists)
{
    return apply_known(c, t, id, fields, NULL, now_iso, exists ? 1 : 0);
}

static int apply_known(struct cb_conn *c, const struct cb_table *t, const char *id,
                       const json_t *fields, const json_t *dumped, const char *now_iso, int exists)
{
    const char *key;
    json_t *v;
    /* Each key's declared field (NULL: created_at, created_by or deleted), looked
     * up once: this runs for every column of every synced row. */
    const struct cb_field *cols[APPLY_MAX_COLS];
    size_t ncols = 0;
    assert(t->nfields + 3 <= APPLY_MAX_COLS);
    if (json_object_size(fields) > APPLY_MAX_COLS) {
        return CB_EINVAL; /* more keys than the table has columns: one is unknown */
    }
    json_object_foreach((json_t *)(uintptr_t)fields, key, v)
    {
        (void)v;
        int extra = synced_extra(key);
        const struct cb_field *f = extra ? NULL : cb_table_field(t, key);
        if (!f && !extra) {
            return CB_EINVAL;
        }
        cols[ncols++] = f;
    }
    /* The SQL is built with plain appends into a fixed buffer on the stack (this
     * runs once per synced row, and a heap buffer crossing 1 KiB made glibc
     * consolidate its fast bins every time; the text is then found in the
     * connection's statement cache).  Too long a statement is CB_ETOOLARGE. */
    char text[SQL_MAX];
    struct sql_text sql = {text, 0, sizeof(text) - 1};
    sqlite3_stmt *st;
    int rc = CB_OK;
    int n = 0;
    char num[16];
    text[0] = '\0';
    if (exists == 1) {
        rc = sql_add(&sql, "UPDATE ");
        rc = rc ? rc : sql_add(&sql, t->name);
        rc = rc ? rc : sql_add(&sql, " SET updated_at = ?1");
        json_object_foreach((json_t *)(uintptr_t)fields, key, v)
        {
            rc = rc ? rc : sql_add(&sql, ", ");
            rc = rc ? rc : sql_add(&sql, key);
            rc = rc ? rc : sql_add(&sql, " = ?");
            rc = rc ? rc : sql_add(&sql, param_number(n + 2, num));
            n++;
        }
        rc = rc ? rc : sql_add(&sql, " WHERE id = ?");
        rc = rc ? rc : sql_add(&sql, param_number(n + 2, num));
    } else {
        int has_created = json_object_get(fields, "created_at") != NULL;
        rc = sql_add(&sql, "INSERT INTO ");
        rc = rc ? rc : sql_add(&sql, t->name);
        rc = rc ? rc
                : sql_add(&sql, has_created ? "(updated_at, id" : "(updated_at, id, created_at");
        json_object_foreach((json_t *)(uintptr_t)fields, key, v)
        {
            rc = rc ? rc : sql_add(&sql, ", ");
            rc = rc ? rc : sql_add(&sql, key);
            n++;
        }
        rc = rc ? rc : sql_add(&sql, ") VALUES (?1, ?");
        rc = rc ? rc : sql_add(&sql, param_number(n + 2, num));
        rc = rc ? rc : sql_add(&sql, has_created ? "" : ", ?1");
        for (int i = 0; i < n && rc == CB_OK; i++) {
            rc = sql_add(&sql, ", ?");
            rc = rc ? rc : sql_add(&sql, param_number(i + 2, num));
        }
        rc = rc ? rc : sql_add(&sql, ")");
        if (exists == APPLY_INSERT_OR_NOTHING) {
            rc = rc ? rc : sql_add(&sql, " ON CONFLICT(id) DO NOTHING");
        }
    }
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c, text, &st);
    }
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, now_iso, -1, SQLITE_STATIC); /* both outlive the step */
    int idx = 2;
    size_t k = 0;
    int brc = SQLITE_OK;
    json_object_foreach((json_t *)(uintptr_t)fields, key, v)
    {
        assert(k < ncols);
        if (brc == SQLITE_OK) {
            brc = bind_column(st, idx++, cols[k++], key, v, dumped);
        }
    }
    if (brc != SQLITE_OK) {
        cb_stmt_done(st);
        return CB_ENOMEM;
    }
    sqlite3_bind_text(st, idx, id, -1, SQLITE_STATIC);
    rc = cb_store_rc(sqlite3_step(st));
    if (rc) {
        fprintf(stderr, "coachbox: sync apply to %s failed: %s\n", t->name,
                sqlite3_errmsg(cb_conn_db(c)));
    }
    cb_stmt_done(st);
    return rc;
}

/* Cache of "id, f1, ..., created_at, updated_at" per table. */
static pthread_mutex_t cols_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const struct cb_table *t;
    char *cols;
} cols_cache[32];

const char *cb_record_columns(const struct cb_table *t)
{
    const char *res = NULL;
    pthread_mutex_lock(&cols_lock);
    for (size_t i = 0; i < sizeof(cols_cache) / sizeof(cols_cache[0]); i++) {
        if (cols_cache[i].t == t) {
            res = cols_cache[i].cols;
            break;
        }
        if (!cols_cache[i].t) {
            struct cb_buf b;
            cb_buf_init(&b, SQL_MAX);
            int rc = cb_buf_adds(&b, "id");
            for (size_t k = 0; k < t->nfields && rc == CB_OK; k++) {
                rc = cb_buf_addf(&b, ", %s", t->fields[k].name);
            }
            if (rc == CB_OK) {
                rc = cb_buf_adds(&b, ", created_at, updated_at");
            }
            if (rc == CB_OK) {
                cols_cache[i].t = t;
                cols_cache[i].cols = b.data; /* kept for the process lifetime */
                res = b.data;
            } else {
                cb_buf_free(&b);
            }
            break;
        }
    }
    pthread_mutex_unlock(&cols_lock);
    assert(res);
    return res;
}

json_t *cb_record_from_row(const struct cb_table *t, void *sqlite_stmt)
{
    sqlite3_stmt *st = sqlite_stmt;
    json_t *o = json_object();
    if (!o) {
        return NULL;
    }
    json_object_set_new(o, "id", json_string((const char *)sqlite3_column_text(st, 0)));
    for (size_t i = 0; i < t->nfields; i++) {
        const struct cb_field *f = &t->fields[i];
        int col = (int)i + 1;
        json_t *v;
        if (sqlite3_column_type(st, col) == SQLITE_NULL) {
            v = json_null();
        } else {
            switch (f->type) {
            case CB_F_INT:
                v = json_integer(sqlite3_column_int64(st, col));
                break;
            case CB_F_BOOL:
                v = json_boolean(sqlite3_column_int(st, col));
                break;
            case CB_F_REAL:
                v = json_real(sqlite3_column_double(st, col));
                break;
            case CB_F_JSON:
            case CB_F_STRSET:
                v = json_loads((const char *)sqlite3_column_text(st, col), 0, NULL);
                if (!v) {
                    v = json_null();
                }
                break;
            default:
                v = json_string((const char *)sqlite3_column_text(st, col));
                break;
            }
        }
        json_object_set_new(o, f->name, v);
    }
    int n = (int)t->nfields + 1;
    json_object_set_new(o, "created_at", json_string((const char *)sqlite3_column_text(st, n)));
    json_object_set_new(o, "updated_at", json_string((const char *)sqlite3_column_text(st, n + 1)));
    return o;
}

int cb_record_get(struct cb_conn *c, const struct cb_table *t, const char *id, json_t **out)
{
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE id = ?1 AND deleted = 0",
             cb_record_columns(t), t->name);
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *out = cb_record_from_row(t, st);
        rc = *out ? CB_OK : CB_ENOMEM;
    } else {
        rc = s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}
