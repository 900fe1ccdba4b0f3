/* people.c - duplicate checks, merging and unmerging of participants; see people.h. */
#include "coachbox/people.h"
#include "coachbox/audit.h"
#include "coachbox/json.h"
#include "coachbox/kind.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ name rules */

#define NAME_CP_MAX 200 /* names are at most 100 characters (schema.c) */

/* Lower-case one code point: ASCII and Latin-1 capital letters. */
static uint32_t fold_cp(uint32_t cp)
{
    if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)) {
        return cp + 32;
    }
    return cp;
}

/* Decode UTF-8 s into folded code points; the count, or -1 if invalid or over cap. */
static long fold_name(const char *s, uint32_t *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p) {
        uint32_t cp;
        int len;
        if (*p < 0x80) {
            cp = *p;
            len = 1;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1Fu;
            len = 2;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0Fu;
            len = 3;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07u;
            len = 4;
        } else {
            return -1;
        }
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80) { /* also stops at the terminator */
                return -1;
            }
            cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        if (n >= cap) {
            return -1;
        }
        out[n++] = fold_cp(cp);
        p += len;
    }
    return (long)n;
}

/* Levenshtein distance of two code point strings (<= NAME_CP_MAX), capped at cap + 1. */
static size_t lev_cp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, size_t cap)
{
    size_t prev[NAME_CP_MAX + 1], cur[NAME_CP_MAX + 1];
    if ((na > nb ? na - nb : nb - na) > cap) {
        return cap + 1;
    }
    for (size_t j = 0; j <= nb; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= na; i++) {
        size_t rowmin = cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t m = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < m) {
                m = prev[j] + 1;
            }
            if (cur[j - 1] + 1 < m) {
                m = cur[j - 1] + 1;
            }
            cur[j] = m;
            if (m < rowmin) {
                rowmin = m;
            }
        }
        if (rowmin > cap) {
            return cap + 1;
        }
        memcpy(prev, cur, (nb + 1) * sizeof(prev[0]));
    }
    return prev[nb] > cap ? cap + 1 : prev[nb];
}

size_t cb_people_levenshtein(const char *a, const char *b, size_t cap)
{
    uint32_t ca[NAME_CP_MAX], cb[NAME_CP_MAX];
    long na = fold_name(a, ca, NAME_CP_MAX), nb = fold_name(b, cb, NAME_CP_MAX);
    if (na < 0 || nb < 0) {
        return cap + 1;
    }
    return lev_cp(ca, (size_t)na, cb, (size_t)nb, cap);
}

/* A folded name; n <= 0 means absent, empty or unusable. */
struct fname {
    uint32_t cp[NAME_CP_MAX];
    long n;
};

static void fname_set(struct fname *f, const char *s)
{
    f->n = s ? fold_name(s, f->cp, NAME_CP_MAX) : 0;
}

static int fname_eq(const struct fname *x, const struct fname *y)
{
    return x->n > 0 && x->n == y->n && memcmp(x->cp, y->cp, (size_t)x->n * sizeof(x->cp[0])) == 0;
}

int cb_people_names_similar(const char *given_a, const char *pref_a, const char *family_a,
                            const char *given_b, const char *pref_b, const char *family_b)
{
    /* given[person][0 = given name, 1 = preferred name] */
    struct fname given[2][2], family[2]; /* about 5 KiB of stack */
    fname_set(&given[0][0], given_a);
    fname_set(&given[0][1], pref_a);
    fname_set(&given[1][0], given_b);
    fname_set(&given[1][1], pref_b);
    fname_set(&family[0], family_a);
    fname_set(&family[1], family_b);
    if (fname_eq(&family[0], &family[1])) {
        return 1;
    }
    int same_initial = 0, a_given_is_b_family = 0, a_family_is_b_given = 0;
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            if (given[0][i].n > 0 && given[1][j].n > 0 && given[0][i].cp[0] == given[1][j].cp[0]) {
                same_initial = 1;
            }
        }
        a_given_is_b_family |= fname_eq(&given[0][i], &family[1]);
        a_family_is_b_given |= fname_eq(&family[0], &given[1][i]);
    }
    if (a_given_is_b_family && a_family_is_b_given) {
        return 1; /* given and family names swapped */
    }
    if (same_initial && family[0].n > 0 && family[1].n > 0) {
        /* Within 2 edits, and never more edits than the shorter name has
         * letters less one, so that two short names ("Li", "Wu") sharing
         * nothing are not taken for a typo of each other. */
        size_t shorter = (size_t)(family[0].n < family[1].n ? family[0].n : family[1].n);
        size_t cap = shorter - 1 < 2 ? shorter - 1 : 2;
        return lev_cp(family[0].cp, (size_t)family[0].n, family[1].cp, (size_t)family[1].n, cap) <=
               cap;
    }
    return 0;
}

/* ------------------------------------------------------------ helpers */

static int is_manager(const struct cb_actor *a)
{
    return strcmp(a->user->role, "manager") == 0;
}

/* Format SQL into a fixed buffer; CB_EINTERNAL rather than ever running cut SQL. */
static int sql_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int sql_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? CB_EINTERNAL : CB_OK;
}

/* State of a participant row, live or not. */
struct pstate {
    int exists;
    int deleted;
    char merged_into[CB_UUID_STRLEN]; /* "" when not merged */
    char team[80];
};

static int participant_state(struct cb_conn *c, const char *id, struct pstate *ps)
{
    sqlite3_stmt *st;
    memset(ps, 0, sizeof(*ps));
    int rc = cb_conn_prepare(c, "SELECT deleted, merged_into, team FROM participants WHERE id = ?1",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        ps->exists = 1;
        ps->deleted = sqlite3_column_int(st, 0) != 0;
        if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            snprintf(ps->merged_into, sizeof(ps->merged_into), "%s",
                     (const char *)sqlite3_column_text(st, 1));
        }
        snprintf(ps->team, sizeof(ps->team), "%s", (const char *)sqlite3_column_text(st, 2));
        rc = CB_OK;
    } else {
        rc = s == SQLITE_DONE ? CB_OK : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/* Tombstone (deleted = 1) or restore (deleted = 0) row id of t, through the record layer. */
static int set_deleted(struct cb_conn *c, const struct cb_table *t, const char *id, int deleted,
                       const char *now)
{
    return deleted ? cb_record_delete(c, t, id, now) : cb_record_restore(c, t, id, now);
}

/* Move record id of t to participant pid in team (through the record layer). */
static int reassign(struct cb_conn *c, const struct cb_table *t, const char *id, const char *pid,
                    const char *team, const char *now)
{
    json_t *vals = json_pack("{s:s, s:s}", "participant_id", pid, "team", team);
    if (!vals) {
        return CB_ENOMEM;
    }
    int rc = cb_record_update(c, t, id, vals, now);
    json_decref(vals);
    return rc;
}

/* The participant-scoped kind whose table is named name, or NULL. */
static const struct cb_kind *participant_kind(const char *name)
{
    for (size_t i = 0; i < cb_kind_count(); i++) {
        const struct cb_kind *k = cb_kind_at(i);
        if (k->scope == CB_SCOPE_PARTICIPANT && strcmp(k->table->name, name) == 0) {
            return k;
        }
    }
    return NULL;
}

/*
 * Unique keys a participant may hold once (partial unique indexes in
 * migrations.c: enrolments_unique, attendance_unique).  A duplicate's record
 * whose key the survivor already holds is tombstoned instead of moved.
 */
static const char *unique_key_column(const char *table)
{
    if (strcmp(table, "enrolments") == 0) {
        return "programme_id";
    }
    if (strcmp(table, "attendance") == 0) {
        return "session_id";
    }
    return NULL;
}

static void audit_event(struct cb_conn *c, const struct cb_actor *a, const char *action,
                        const char *entity, const char *entity_id, const char *outcome,
                        const char *detail, const char *participant, int *rc)
{
    struct cb_audit_event e = {a->user->id, action,  entity, entity_id,
                               a->address,  outcome, detail, participant};
    int r = cb_audit(c, &e);
    if (rc && *rc == CB_OK) {
        *rc = r;
    }
}

/* Refuse a non-manager, auditing the attempt (outside any transaction). */
static int require_manager(struct cb_conn *c, const struct cb_actor *a, const char *action,
                           const char *entity, const char *id, const char *what,
                           struct cb_field_error *fe)
{
    if (is_manager(a)) {
        return CB_OK;
    }
    const char *valid = id && cb_uuid_valid(id) ? id : NULL;
    audit_event(c, a, action, entity, valid, "denied", NULL,
                strcmp(entity, "participants") == 0 ? valid : NULL, NULL);
    cb_field_fail(fe, "", "only managers can %s", what);
    return CB_EFORBIDDEN;
}

/* ------------------------------------------------------------ matches */

/* The summary of a participant shown in a match list (new reference). */
static json_t *summary(const json_t *p, json_t *reasons)
{
    static const char *const keys[] = {
        "id",         "given_name", "preferred_name", "family_name", "date_of_birth",
        "nhs_number", "postcode",   "team",           "status",      NULL};
    json_t *s = json_object();
    for (const char *const *k = keys; s && *k; k++) {
        json_t *v = json_object_get(p, *k);
        json_object_set(s, *k, v ? v : json_null());
    }
    if (s) {
        json_object_set_new(s, "reasons", reasons);
    } else {
        json_decref(reasons);
    }
    return s;
}

/* Both strings present and equal. */
static int same_str(const char *x, const char *y)
{
    return x && y && strcmp(x, y) == 0;
}

int cb_people_matches(struct cb_conn *c, const struct cb_actor *a, const json_t *in, json_t **out,
                      struct cb_field_error *fe)
{
    static const char *const allowed[] = {"given_name", "family_name", "date_of_birth",
                                          "nhs_number", "postcode",    "preferred_name",
                                          NULL};
    static const char *const required[] = {"given_name", "family_name", "date_of_birth", NULL};
    struct cb_validate_opts o = {0, a->allow_test_nhs};
    json_t *vals = NULL;
    *out = NULL;
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    int rc = cb_json_only_keys(in, allowed, fe);
    if (rc) {
        return rc;
    }
    /* Update mode: each given field is checked and canonicalised as on
     * registration; presence of the required ones is checked here (the
     * check carries no team). */
    rc = cb_record_validate(NULL, &cb_table_participants, in, &o, &vals, fe);
    if (rc) {
        return rc;
    }
    for (const char *const *k = required; *k; k++) {
        if (!cb_json_str(vals, *k)) {
            json_decref(vals);
            return cb_field_fail(fe, *k, "is required");
        }
    }
    const char *given = cb_json_str(vals, "given_name");
    const char *pref = cb_json_str(vals, "preferred_name");
    const char *family = cb_json_str(vals, "family_name");
    const char *dob = cb_json_str(vals, "date_of_birth");
    const char *nhs = cb_json_str(vals, "nhs_number");
    const char *postcode = cb_json_str(vals, "postcode");

    /* Candidates come from the NHS-number and date-of-birth indexes
     * (MULTI-INDEX OR); NHS matches first. */
    char sql[4096];
    rc = sql_fmt(sql, sizeof(sql),
                 "SELECT %s FROM participants WHERE %s AND deleted = 0 AND merged_into IS NULL "
                 "ORDER BY %s lower(family_name), lower(given_name), id LIMIT %d",
                 cb_record_columns(&cb_table_participants),
                 nhs ? "(nhs_number = ?1 OR date_of_birth = ?2)" : "date_of_birth = ?2",
                 nhs ? "coalesce(nhs_number = ?1, 0) DESC," : "", CB_MATCH_MAX_CANDIDATES);
    sqlite3_stmt *st;
    rc = rc ? rc : cb_conn_prepare(c, sql, &st);
    if (rc) {
        json_decref(vals);
        return rc;
    }
    if (nhs) {
        sqlite3_bind_text(st, 1, nhs, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_text(st, 2, dob, -1, SQLITE_TRANSIENT);
    json_t *matches = json_array();
    long other = 0;
    int s = SQLITE_DONE;
    while (matches && (s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *p = cb_record_from_row(&cb_table_participants, st);
        if (!p) {
            rc = CB_ENOMEM;
            break;
        }
        json_t *reasons = json_array();
        if (same_str(nhs, cb_json_str(p, "nhs_number"))) {
            json_array_append_new(reasons, json_string("same_nhs_number"));
        }
        if (same_str(dob, cb_json_str(p, "date_of_birth"))) {
            if (cb_people_names_similar(given, pref, family, cb_json_str(p, "given_name"),
                                        cb_json_str(p, "preferred_name"),
                                        cb_json_str(p, "family_name"))) {
                json_array_append_new(reasons, json_string("same_dob_similar_name"));
            }
            if (same_str(postcode, cb_json_str(p, "postcode"))) {
                json_array_append_new(reasons, json_string("same_dob_same_postcode"));
            }
        }
        if (json_array_size(reasons) == 0) {
            json_decref(reasons); /* same date of birth alone is not a match */
        } else if (!cb_user_sees_team(a->user, cb_json_str(p, "team"))) {
            json_decref(reasons); /* only counted: never a detail of another team */
            other++;
        } else {
            json_array_append_new(matches, summary(p, reasons));
        }
        json_decref(p);
    }
    cb_stmt_done(st);
    json_decref(vals);
    if (!matches) {
        return CB_ENOMEM;
    }
    if (rc == CB_OK && s != SQLITE_DONE) {
        rc = cb_store_rc(s);
    }
    if (rc == CB_OK) {
        /* One event per check, with counts only (a check lists, like a search). */
        char detail[96];
        snprintf(detail, sizeof(detail), "%zu matches, %ld in other teams",
                 json_array_size(matches), other);
        audit_event(c, a, "participant.match_check", "participants", NULL, "ok", detail, NULL, &rc);
    }
    if (rc) {
        json_decref(matches);
        return rc;
    }
    *out = json_pack("{s:o, s:I}", "matches", matches, "other_teams", (json_int_t)other);
    return *out ? CB_OK : CB_ENOMEM;
}

/* ------------------------------------------------------------ merge */

/*
 * Move (or tombstone, on a unique-key clash) every live record of table t
 * from dup to surv, appending {"table","id","action"[,"kept"]} to moved.
 */
static int move_table(struct cb_conn *c, const struct cb_table *t, const char *dup,
                      const char *surv, const char *team, const char *now, json_t *moved,
                      struct cb_field_error *fe)
{
    char sql[256];
    const char *key = unique_key_column(t->name);
    sqlite3_stmt *st;
    /* Collect first: the table is written below. */
    int rc = sql_fmt(sql, sizeof(sql),
                     "SELECT id, %s FROM %s WHERE participant_id = ?1 AND deleted = 0 ORDER BY id",
                     key ? key : "NULL", t->name);
    rc = rc ? rc : cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, dup, -1, SQLITE_TRANSIENT);
    json_t *rows = json_array();
    int s = SQLITE_DONE;
    while (rows && (s = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(rows, json_pack("[s, s?]", (const char *)sqlite3_column_text(st, 0),
                                              (const char *)sqlite3_column_text(st, 1)));
    }
    cb_stmt_done(st);
    if (!rows) {
        return CB_ENOMEM;
    }
    if (s != SQLITE_DONE) {
        json_decref(rows);
        return cb_store_rc(s);
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *id = json_string_value(json_array_get(row, 0));
        const char *kv = json_string_value(json_array_get(row, 1));
        char kept[CB_UUID_STRLEN] = "";
        if (key && kv) {
            rc = sql_fmt(sql, sizeof(sql),
                         "SELECT id FROM %s WHERE participant_id = ?1 AND %s = ?2 AND deleted = 0 "
                         "LIMIT 1",
                         t->name, key);
            rc = rc ? rc : cb_conn_prepare(c, sql, &st);
            if (rc) {
                break;
            }
            sqlite3_bind_text(st, 1, surv, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, kv, -1, SQLITE_TRANSIENT);
            s = sqlite3_step(st);
            if (s == SQLITE_ROW) {
                snprintf(kept, sizeof(kept), "%s", (const char *)sqlite3_column_text(st, 0));
            } else if (s != SQLITE_DONE) {
                rc = cb_store_rc(s);
            }
            cb_stmt_done(st);
            if (rc) {
                break;
            }
        }
        if (kept[0]) {
            /* The survivor already holds this key: keep theirs, tombstone ours. */
            rc = set_deleted(c, t, id, 1, now);
            if (rc == CB_OK) {
                rc = json_array_append_new(moved,
                                           json_pack("{s:s, s:s, s:s, s:s}", "table", t->name, "id",
                                                     id, "action", "tombstoned", "kept", kept))
                         ? CB_ENOMEM
                         : CB_OK;
            }
        } else {
            rc = reassign(c, t, id, surv, team, now);
            if (rc == CB_ECONFLICT) {
                cb_field_fail(fe, "",
                              "cannot move %s record %s: the kept record has a clashing one",
                              t->name, id);
            }
            if (rc == CB_OK) {
                rc = json_array_append_new(moved, json_pack("{s:s, s:s, s:s}", "table", t->name,
                                                            "id", id, "action", "moved"))
                         ? CB_ENOMEM
                         : CB_OK;
            }
        }
        if (rc) {
            break;
        }
    }
    json_decref(rows);
    return rc;
}

/* Read merge id as its wire object (moved parsed). */
static int merge_get(struct cb_conn *c, const char *id, json_t **out)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT id, survivor_id, merged_id, moved, merged_at, merged_by, "
                             "undone_at, undone_by FROM merges WHERE id = ?1",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        json_t *moved = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
        *out = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s?, s:s?}", "id",
                         (const char *)sqlite3_column_text(st, 0), "survivor_id",
                         (const char *)sqlite3_column_text(st, 1), "merged_id",
                         (const char *)sqlite3_column_text(st, 2), "moved",
                         moved ? moved : json_array(), "merged_at",
                         (const char *)sqlite3_column_text(st, 4), "merged_by",
                         (const char *)sqlite3_column_text(st, 5), "undone_at",
                         (const char *)sqlite3_column_text(st, 6), "undone_by",
                         (const char *)sqlite3_column_text(st, 7));
        rc = *out ? CB_OK : CB_ENOMEM;
    } else {
        rc = s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/* Count the entries of moved with this action. */
static size_t count_action(const json_t *moved, const char *action)
{
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(moved, i, e)
    {
        n += same_str(cb_json_str(e, "action"), action);
    }
    return n;
}

/*
 * Check that participant id can take part in a merge as role ("" for the
 * record merged, "into" for the one kept): it exists, is live and is not
 * merged.  CB_ENOTFOUND / CB_ECONFLICT with fe explaining.
 */
static int check_live(struct cb_conn *c, const char *id, const char *role, struct pstate *ps,
                      struct cb_field_error *fe)
{
    int rc = participant_state(c, id, ps);
    if (rc) {
        return rc;
    }
    if (!ps->exists || (ps->deleted && !ps->merged_into[0])) {
        cb_field_fail(fe, role, "%s",
                      role[0] ? "into does not name a participant" : "no such participant");
        return CB_ENOTFOUND;
    }
    if (ps->deleted) {
        cb_field_fail(fe, role, "%s already merged into %s; use that record instead",
                      role[0] ? "into names a record" : "this record was", ps->merged_into);
        return CB_ECONFLICT;
    }
    return CB_OK;
}

int cb_people_merge(struct cb_conn *c, const struct cb_actor *a, const char *dup_id,
                    const json_t *in, json_t **out, struct cb_field_error *fe)
{
    static const char *const allowed[] = {"into", NULL};
    char now[CB_TIME_STRLEN], mid[CB_UUID_STRLEN], detail[200];
    struct pstate dup, surv;
    *out = NULL;
    int rc =
        require_manager(c, a, "participant.merge", "participants", dup_id, "merge records", fe);
    if (rc) {
        return rc;
    }
    if (!cb_uuid_valid(dup_id)) {
        cb_field_fail(fe, "", "no such participant");
        return CB_ENOTFOUND;
    }
    rc = cb_json_only_keys(in, allowed, fe);
    if (rc) {
        return rc;
    }
    const char *into = cb_json_str(in, "into");
    if (!into || !cb_uuid_valid(into)) {
        return cb_field_fail(fe, "into", "must be the id of the participant record to keep");
    }
    if (strcmp(into, dup_id) == 0) {
        return cb_field_fail(fe, "into",
                             "must be another participant: a record cannot be "
                             "merged into itself");
    }
    rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    json_t *moved = json_array();
    rc = moved ? check_live(c, dup_id, "", &dup, fe) : CB_ENOMEM;
    if (rc == CB_OK) {
        rc = check_live(c, into, "into", &surv, fe);
    }
    if (rc == CB_OK) {
        cb_time_format(cb_now_ms(), now);
        rc = cb_uuid7(mid);
    }
    /* Every participant-scoped kind, whatever kind.c lists now or later. */
    for (size_t i = 0; rc == CB_OK && i < cb_kind_count(); i++) {
        const struct cb_kind *k = cb_kind_at(i);
        if (k->scope == CB_SCOPE_PARTICIPANT) {
            rc = move_table(c, k->table, dup_id, into, surv.team, now, moved, fe);
        }
    }
    if (rc == CB_OK) {
        json_t *v = json_pack("{s:s}", "merged_into", into);
        rc = v ? cb_record_update(c, &cb_table_participants, dup_id, v, now) : CB_ENOMEM;
        json_decref(v);
    }
    if (rc == CB_OK) {
        rc = set_deleted(c, &cb_table_participants, dup_id, 1, now);
    }
    if (rc == CB_OK) {
        sqlite3_stmt *st;
        char *text = cb_json_dump(moved);
        rc = text ? cb_conn_prepare(c,
                                    "INSERT INTO merges(id, survivor_id, merged_id, moved, "
                                    "merged_at, merged_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                    &st)
                  : CB_ENOMEM;
        if (rc == CB_OK) {
            sqlite3_bind_text(st, 1, mid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, into, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, dup_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 6, a->user->id, -1, SQLITE_TRANSIENT);
            rc = cb_store_rc(sqlite3_step(st));
            cb_stmt_done(st);
        }
        free(text);
    }
    if (rc == CB_OK) {
        size_t nm = count_action(moved, "moved"), nt = count_action(moved, "tombstoned");
        snprintf(detail, sizeof(detail), "kept; %s merged into it (%zu moved, %zu tombstoned)",
                 dup_id, nm, nt);
        audit_event(c, a, "participant.merge", "merges", mid, "ok", detail, into, &rc);
        snprintf(detail, sizeof(detail), "merged into %s (%zu moved, %zu tombstoned)", into, nm,
                 nt);
        audit_event(c, a, "participant.merge", "merges", mid, "ok", detail, dup_id, &rc);
    }
    json_t *merge = NULL, *survivor = NULL;
    if (rc == CB_OK) {
        rc = merge_get(c, mid, &merge);
    }
    if (rc == CB_OK) {
        rc = cb_record_get(c, &cb_table_participants, into, &survivor);
    }
    json_decref(moved);
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    if (rc == CB_OK) {
        *out = json_pack("{s:o, s:o}", "merge", merge, "survivor", survivor);
        return *out ? CB_OK : CB_ENOMEM;
    }
    json_decref(merge);
    json_decref(survivor);
    return rc;
}

/* ------------------------------------------------------------ undo */

/* Current participant_id and deleted flag of row id of t; exists = 0 if none. */
static int row_owner(struct cb_conn *c, const struct cb_table *t, const char *id, char *pid,
                     size_t len, int *deleted, int *exists)
{
    char sql[160];
    sqlite3_stmt *st;
    int rc =
        sql_fmt(sql, sizeof(sql), "SELECT participant_id, deleted FROM %s WHERE id = ?1", t->name);
    rc = rc ? rc : cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    *exists = s == SQLITE_ROW;
    if (s == SQLITE_ROW) {
        snprintf(pid, len, "%s", (const char *)sqlite3_column_text(st, 0));
        *deleted = sqlite3_column_int(st, 1) != 0;
    } else if (s != SQLITE_DONE) {
        rc = cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/* "table/id" key of the moved set. */
static void set_key(char *out, size_t len, const char *table, const char *id)
{
    snprintf(out, len, "%s/%s", table, id);
}

/*
 * Would the undo split a link between records?  A survivor record that
 * stays (e.g. a goal review added after the merge) may not refer to a record
 * that goes back, and a record that goes back may not refer to one of the
 * survivor's own.  Checks every REF field between participant-scoped tables.
 */
static int check_links(struct cb_conn *c, const char *surv, const json_t *back,
                       struct cb_field_error *fe)
{
    char sql[256], key[160];
    for (size_t i = 0; i < cb_kind_count(); i++) {
        const struct cb_kind *k = cb_kind_at(i);
        if (k->scope != CB_SCOPE_PARTICIPANT) {
            continue;
        }
        const struct cb_table *t = k->table;
        for (size_t f = 0; f < t->nfields; f++) {
            const struct cb_field *fd = &t->fields[f];
            if (fd->type != CB_F_REF || strcmp(fd->name, "participant_id") == 0 ||
                !participant_kind(fd->ref_table)) {
                continue;
            }
            sqlite3_stmt *st;
            int rc = sql_fmt(sql, sizeof(sql),
                             "SELECT s.id, s.%s, r.participant_id FROM %s s JOIN %s r ON r.id = "
                             "s.%s WHERE s.participant_id = ?1 AND s.deleted = 0",
                             fd->name, t->name, fd->ref_table, fd->name);
            rc = rc ? rc : cb_conn_prepare(c, sql, &st);
            if (rc) {
                return rc;
            }
            sqlite3_bind_text(st, 1, surv, -1, SQLITE_TRANSIENT);
            int s;
            while ((s = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *)sqlite3_column_text(st, 0);
                const char *ref = (const char *)sqlite3_column_text(st, 1);
                const char *ref_owner = (const char *)sqlite3_column_text(st, 2);
                set_key(key, sizeof(key), t->name, id);
                int src_back = json_object_get(back, key) != NULL;
                set_key(key, sizeof(key), fd->ref_table, ref);
                int dst_back = json_object_get(back, key) != NULL;
                if (src_back != dst_back && (!src_back || same_str(ref_owner, surv))) {
                    cb_field_fail(fe, "",
                                  "cannot undo: %s %s now refers to %s %s, and only one of them "
                                  "would go back; change or delete it first",
                                  t->name, id, fd->ref_table, ref);
                    rc = CB_ECONFLICT;
                    break;
                }
            }
            cb_stmt_done(st);
            if (rc) {
                return rc;
            }
            if (s != SQLITE_DONE) {
                return cb_store_rc(s);
            }
        }
    }
    return CB_OK;
}

/*
 * Check that every listed record is still where the merge left it: moved
 * records live and with the survivor, tombstoned ones still tombstoned and
 * with the duplicate.  Fills back with the "table/id" keys of moved records.
 */
static int check_entries(struct cb_conn *c, const json_t *moved, const char *surv, const char *dup,
                         json_t *back, struct cb_field_error *fe)
{
    size_t i;
    json_t *e;
    json_array_foreach(moved, i, e)
    {
        const char *table = cb_json_str(e, "table"), *id = cb_json_str(e, "id");
        const char *action = cb_json_str(e, "action");
        const struct cb_kind *k = table ? participant_kind(table) : NULL;
        if (!k || !id || !action) {
            return CB_EINTERNAL; /* a merges row this code did not write */
        }
        char pid[CB_UUID_STRLEN] = "", key[160];
        int deleted = 0, exists = 0;
        int rc = row_owner(c, k->table, id, pid, sizeof(pid), &deleted, &exists);
        if (rc) {
            return rc;
        }
        int tomb = strcmp(action, "tombstoned") == 0;
        const char *want = tomb ? dup : surv;
        if (!exists || deleted != tomb || strcmp(pid, want) != 0) {
            cb_field_fail(fe, "", "cannot undo: %s %s %s since the merge", table, id,
                          !exists            ? "no longer exists"
                          : deleted && !tomb ? "has been deleted"
                          : !deleted && tomb ? "has been restored"
                                             : "has moved to another person");
            return CB_ECONFLICT;
        }
        if (!tomb) {
            set_key(key, sizeof(key), table, id);
            json_object_set_new(back, key, json_true());
        }
    }
    return CB_OK;
}

int cb_people_merge_undo(struct cb_conn *c, const struct cb_actor *a, const char *merge_id,
                         json_t **out, struct cb_field_error *fe)
{
    char now[CB_TIME_STRLEN], detail[200], surv[CB_UUID_STRLEN] = "", dup[CB_UUID_STRLEN] = "";
    struct pstate dps, sps;
    json_t *merge = NULL, *back = NULL, *dup_rec = NULL, *surv_rec = NULL;
    *out = NULL;
    int rc = require_manager(c, a, "participant.merge_undo", "merges", merge_id, "undo merges", fe);
    if (rc) {
        return rc;
    }
    if (!cb_uuid_valid(merge_id)) {
        cb_field_fail(fe, "", "no such merge");
        return CB_ENOTFOUND;
    }
    rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    rc = merge_get(c, merge_id, &merge);
    if (rc == CB_ENOTFOUND) {
        cb_field_fail(fe, "", "no such merge");
    }
    if (rc == CB_OK) {
        snprintf(surv, sizeof(surv), "%s", cb_json_str(merge, "survivor_id"));
        snprintf(dup, sizeof(dup), "%s", cb_json_str(merge, "merged_id"));
        if (cb_json_str(merge, "undone_at")) {
            cb_field_fail(fe, "", "this merge was already undone at %s",
                          cb_json_str(merge, "undone_at"));
            rc = CB_ECONFLICT;
        }
    }
    if (rc == CB_OK) {
        rc = participant_state(c, dup, &dps);
    }
    if (rc == CB_OK && !(dps.exists && dps.deleted && strcmp(dps.merged_into, surv) == 0)) {
        cb_field_fail(fe, "", "cannot undo: the merged record is no longer merged into %s", surv);
        rc = CB_ECONFLICT;
    }
    if (rc == CB_OK) {
        rc = participant_state(c, surv, &sps);
    }
    if (rc == CB_OK && (!sps.exists || sps.deleted)) {
        if (sps.merged_into[0]) {
            cb_field_fail(fe, "",
                          "cannot undo: the kept record has since been merged into %s; undo "
                          "that merge first",
                          sps.merged_into);
        } else {
            cb_field_fail(fe, "", "cannot undo: the kept record has since been deleted");
        }
        rc = CB_ECONFLICT;
    }
    const json_t *moved = json_object_get(merge, "moved");
    if (rc == CB_OK) {
        back = json_object();
        rc = back ? check_entries(c, moved, surv, dup, back, fe) : CB_ENOMEM;
    }
    if (rc == CB_OK) {
        rc = check_links(c, surv, back, fe);
    }
    if (rc == CB_OK) {
        cb_time_format(cb_now_ms(), now);
        rc = set_deleted(c, &cb_table_participants, dup, 0, now);
    }
    if (rc == CB_OK) {
        json_t *v = json_pack("{s:n}", "merged_into");
        rc = v ? cb_record_update(c, &cb_table_participants, dup, v, now) : CB_ENOMEM;
        json_decref(v);
    }
    size_t i;
    json_t *e;
    json_array_foreach(moved, i, e)
    {
        if (rc) {
            break;
        }
        const struct cb_kind *k = participant_kind(cb_json_str(e, "table"));
        const char *id = cb_json_str(e, "id");
        if (strcmp(cb_json_str(e, "action"), "tombstoned") == 0) {
            rc = set_deleted(c, k->table, id, 0, now);
        } else {
            rc = reassign(c, k->table, id, dup, dps.team, now);
        }
        if (rc == CB_ECONFLICT || rc == CB_ENOTFOUND) {
            cb_field_fail(fe, "",
                          "cannot undo: %s %s cannot be put back (it clashes with "
                          "a record changed since the merge)",
                          k->table->name, id);
            rc = CB_ECONFLICT;
        }
    }
    if (rc == CB_OK) {
        sqlite3_stmt *st;
        rc = cb_conn_prepare(c,
                             "UPDATE merges SET undone_at = ?1, undone_by = ?2 "
                             "WHERE id = ?3 AND undone_at IS NULL",
                             &st);
        if (rc == CB_OK) {
            sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, a->user->id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, merge_id, -1, SQLITE_TRANSIENT);
            rc = cb_store_rc(sqlite3_step(st));
            if (rc == CB_OK && sqlite3_changes(cb_conn_db(c)) != 1) {
                rc = CB_EINTERNAL; /* checked above inside this transaction */
            }
            cb_stmt_done(st);
        }
    }
    if (rc == CB_OK) {
        size_t nm = count_action(moved, "moved"), nt = count_action(moved, "tombstoned");
        snprintf(detail, sizeof(detail),
                 "undone: %s taken out again (%zu moved back, %zu restored)", dup, nm, nt);
        audit_event(c, a, "participant.merge_undo", "merges", merge_id, "ok", detail, surv, &rc);
        snprintf(detail, sizeof(detail), "undone: restored from %s (%zu moved back, %zu restored)",
                 surv, nm, nt);
        audit_event(c, a, "participant.merge_undo", "merges", merge_id, "ok", detail, dup, &rc);
    }
    json_decref(merge);
    merge = NULL;
    json_decref(back);
    if (rc == CB_OK) {
        rc = merge_get(c, merge_id, &merge);
    }
    if (rc == CB_OK) {
        rc = cb_record_get(c, &cb_table_participants, dup, &dup_rec);
    }
    if (rc == CB_OK) {
        rc = cb_record_get(c, &cb_table_participants, surv, &surv_rec);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    if (rc == CB_OK) {
        *out = json_pack("{s:o, s:o, s:o}", "merge", merge, "participant", dup_rec, "survivor",
                         surv_rec);
        return *out ? CB_OK : CB_ENOMEM;
    }
    json_decref(merge);
    json_decref(dup_rec);
    json_decref(surv_rec);
    return rc;
}

/* ------------------------------------------------------------ lookups */

int cb_people_exists(struct cb_conn *c, const char *participant_id)
{
    struct pstate ps;
    if (!cb_uuid_valid(participant_id)) {
        return CB_ENOTFOUND;
    }
    int rc = participant_state(c, participant_id, &ps);
    return rc ? rc : ps.exists ? CB_OK : CB_ENOTFOUND;
}

int cb_people_merges_list(struct cb_conn *c, const struct cb_actor *a, const char *participant_id,
                          json_t **out, struct cb_field_error *fe)
{
    struct pstate ps;
    *out = NULL;
    int rc = require_manager(c, a, "participant.merges_read", "participants", participant_id,
                             "list merges", fe);
    if (rc) {
        return rc;
    }
    if (!cb_uuid_valid(participant_id)) {
        return cb_field_fail(fe, "participant_id", "must be the id of a participant");
    }
    rc = participant_state(c, participant_id, &ps);
    if (rc) {
        return rc;
    }
    if (!ps.exists) {
        return CB_ENOTFOUND;
    }
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c,
                         "SELECT id FROM merges WHERE survivor_id = ?1 OR merged_id = ?1 "
                         "ORDER BY merged_at DESC, id DESC LIMIT 100",
                         &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, participant_id, -1, SQLITE_TRANSIENT);
    json_t *ids = json_array();
    int s = SQLITE_DONE;
    while (ids && (s = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
    }
    cb_stmt_done(st);
    if (!ids) {
        return CB_ENOMEM;
    }
    rc = s == SQLITE_DONE ? CB_OK : cb_store_rc(s);
    json_t *items = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        json_t *m = NULL;
        if (rc == CB_OK) {
            rc = merge_get(c, json_string_value(id), &m);
        }
        if (rc == CB_OK) {
            json_array_append_new(items, m);
        }
    }
    json_decref(ids);
    if (rc == CB_OK) {
        audit_event(c, a, "participant.merges_read", "participants", participant_id, "ok", NULL,
                    participant_id, &rc);
    }
    if (rc) {
        json_decref(items);
        return rc;
    }
    *out = json_pack("{s:o}", "items", items);
    return *out ? CB_OK : CB_ENOMEM;
}

int cb_people_merged_into(struct cb_conn *c, const struct cb_actor *a, const char *participant_id,
                          json_t **out)
{
    struct pstate ps;
    struct cb_field_error fe;
    char cur[CB_UUID_STRLEN] = "", merge_id[CB_UUID_STRLEN] = "";
    *out = NULL;
    int rc = require_manager(c, a, "participant.merged_into", "participants", participant_id,
                             "follow merges", &fe);
    if (rc) {
        return rc;
    }
    if (!cb_uuid_valid(participant_id)) {
        return CB_ENOTFOUND;
    }
    rc = participant_state(c, participant_id, &ps);
    if (rc) {
        return rc;
    }
    if (!ps.exists) {
        return CB_ENOTFOUND;
    }
    char direct[CB_UUID_STRLEN];
    snprintf(direct, sizeof(direct), "%s", ps.merged_into);
    if (!ps.deleted) {
        snprintf(cur, sizeof(cur), "%s", participant_id);
    } else if (direct[0]) {
        /* Follow a chain of merges (A into B, then B into C) to the live end. */
        struct pstate hop;
        snprintf(cur, sizeof(cur), "%s", direct);
        for (int n = 0; rc == CB_OK && n < 32; n++) {
            rc = participant_state(c, cur, &hop);
            if (rc || !hop.exists || (hop.deleted && !hop.merged_into[0])) {
                cur[0] = '\0';
                break;
            }
            if (!hop.deleted) {
                break;
            }
            snprintf(cur, sizeof(cur), "%s", hop.merged_into);
            if (n == 31) {
                cur[0] = '\0';
            }
        }
        if (rc) {
            return rc;
        }
        sqlite3_stmt *st;
        rc = cb_conn_prepare(c,
                             "SELECT id FROM merges WHERE merged_id = ?1 AND undone_at IS NULL "
                             "ORDER BY merged_at DESC LIMIT 1",
                             &st);
        if (rc) {
            return rc;
        }
        sqlite3_bind_text(st, 1, participant_id, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            snprintf(merge_id, sizeof(merge_id), "%s", (const char *)sqlite3_column_text(st, 0));
        } else if (s != SQLITE_DONE) {
            rc = cb_store_rc(s);
        }
        cb_stmt_done(st);
        if (rc) {
            return rc;
        }
    }
    *out = json_pack("{s:s, s:s?, s:s?, s:s?}", "id", participant_id, "merged_into",
                     direct[0] ? direct : NULL, "current_id", cur[0] ? cur : NULL, "merge_id",
                     merge_id[0] ? merge_id : NULL);
    return *out ? CB_OK : CB_ENOMEM;
}
