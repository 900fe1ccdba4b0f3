/* participant.c - participants and encounters; see participant.h. */
#include "coachbox/participant.h"
#include "coachbox/audit.h"
#include "coachbox/buf.h"
#include "coachbox/json.h"
#include "coachbox/kind.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"
#include "coachbox/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void audit(struct cb_conn *c, const struct cb_actor *a, const char *action,
                  const char *entity, const char *id, const char *outcome)
{
    struct cb_audit_event e = {a->user->id, action, entity, id, a->address, outcome, NULL, id};
    cb_audit(c, &e);
}

/* Team of a live participant; CB_ENOTFOUND if none. */
static int participant_team(struct cb_conn *c, const char *id, char *team, size_t len)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT team FROM participants WHERE id = ?1 AND deleted = 0", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        snprintf(team, len, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = CB_OK;
    } else {
        rc = s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/*
 * CB_OK if the actor may see participant id; CB_ENOTFOUND (audited as denied
 * when the record exists) otherwise.
 */
static int check_visible(struct cb_conn *c, const struct cb_actor *a, const char *id,
                         const char *action, char *team, size_t len)
{
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    int rc = participant_team(c, id, team, len);
    if (rc) {
        return rc;
    }
    if (!cb_user_sees_team(a->user, team)) {
        audit(c, a, action, "participants", id, "denied");
        return CB_ENOTFOUND;
    }
    return CB_OK;
}

/*
 * The discharge rule, checked on the record as it will be stored (rec, after
 * the write, inside the caller's transaction): a discharged person has a
 * reason and a date; an active one has neither.  CB_EINVAL naming the field
 * (the caller rolls back), else CB_OK.
 */
static int check_discharge(const json_t *rec, struct cb_field_error *fe)
{
    const char *status = cb_json_str(rec, "status");
    const char *reason = cb_json_str(rec, "discharge_reason");
    const char *date = cb_json_str(rec, "discharge_date");
    if (status && strcmp(status, "discharged") == 0) {
        if (!reason || !reason[0]) {
            return cb_field_fail(fe, "discharge_reason",
                                 "a discharged person needs a discharge reason");
        }
        if (!date) {
            return cb_field_fail(fe, "discharge_date",
                                 "a discharged person needs a discharge date");
        }
        return CB_OK;
    }
    if (reason) {
        return cb_field_fail(
            fe, "discharge_reason",
            "only a discharged person has a discharge reason (set status to discharged)");
    }
    if (date) {
        return cb_field_fail(
            fe, "discharge_date",
            "only a discharged person has a discharge date (set status to discharged)");
    }
    return CB_OK;
}

/*
 * A patch that makes a discharged person active again and says nothing of the
 * discharge fields clears them (re-opening a case), so the rule above holds.
 * vals is the validated patch (owned by the caller); CB_ENOMEM.
 */
static int reopen_clears_discharge(json_t *vals)
{
    const char *status = cb_json_str(vals, "status");
    if (!status || strcmp(status, "active") != 0) {
        return CB_OK;
    }
    static const char *const keys[] = {"discharge_reason", "discharge_date"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!json_object_get(vals, keys[i]) && json_object_set_new(vals, keys[i], json_null())) {
            return CB_ENOMEM;
        }
    }
    return CB_OK;
}

int cb_participant_create(struct cb_conn *c, const struct cb_actor *a, const json_t *in,
                          json_t **out, struct cb_field_error *fe)
{
    char id[CB_UUID_STRLEN], now[CB_TIME_STRLEN];
    struct cb_validate_opts o = {1, a->allow_test_nhs};
    json_t *vals = NULL;
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    json_t *input = json_deep_copy(in);
    if (!input) {
        cb_conn_rollback(c);
        return CB_ENOMEM;
    }
    if (!json_object_get(input, "team") && a->user->team[0]) {
        json_object_set_new(input, "team", json_string(a->user->team));
    }
    rc = cb_record_validate(c, &cb_table_participants, input, &o, &vals, fe);
    json_decref(input);
    if (rc == CB_OK && !cb_user_sees_team(a->user, cb_json_str(vals, "team"))) {
        cb_field_fail(fe, "team", "you can only register people in your own team");
        rc = CB_EFORBIDDEN;
    }
    if (rc == CB_OK) {
        if (json_object_get(vals, "id")) {
            snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(vals, "id")));
            json_object_del(vals, "id");
        } else {
            rc = cb_uuid7(id);
        }
    }
    if (rc == CB_OK) {
        cb_time_format(cb_now_ms(), now);
        rc = cb_record_insert(c, &cb_table_participants, id, vals, now, a->user->id);
        if (rc == CB_ECONFLICT) {
            cb_field_fail(fe, "id", "a record with this id already exists");
        }
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {
            a->user->id, "participant.create", "participants", id, a->address, "ok", NULL, id};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_record_get(c, &cb_table_participants, id, out);
        if (rc == CB_OK && (rc = check_discharge(*out, fe)) != CB_OK) {
            json_decref(*out);
            *out = NULL;
        }
    }
    json_decref(vals);
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
        if (rc) {
            json_decref(*out);
            *out = NULL;
        }
    } else {
        cb_conn_rollback(c);
    }
    return rc;
}

int cb_participant_get(struct cb_conn *c, const struct cb_actor *a, const char *id, json_t **out)
{
    char team[80];
    if (!cb_uuid_valid(id)) {
        return CB_ENOTFOUND;
    }
    int rc = check_visible(c, a, id, "participant.read", team, sizeof(team));
    if (rc == CB_OK) {
        rc = cb_record_get(c, &cb_table_participants, id, out);
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {
            a->user->id, "participant.read", "participants", id, a->address, "ok", NULL, id};
        rc = cb_audit(c, &e);
        if (rc) {
            /* An unaudited read is not served. */
            json_decref(*out);
            *out = NULL;
        }
    }
    return rc;
}

int cb_participant_patch(struct cb_conn *c, const struct cb_actor *a, const char *id,
                         const json_t *in, json_t **out, struct cb_field_error *fe)
{
    char team[80] = "", now[CB_TIME_STRLEN];
    struct cb_validate_opts o = {0, a->allow_test_nhs};
    json_t *vals = NULL;
    if (!cb_uuid_valid(id)) {
        return CB_ENOTFOUND;
    }
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    rc = check_visible(c, a, id, "participant.update", team, sizeof(team));
    if (rc == CB_OK) {
        rc = cb_record_validate(c, &cb_table_participants, in, &o, &vals, fe);
    }
    if (rc == CB_OK && cb_json_str(vals, "team") &&
        !cb_user_sees_team(a->user, cb_json_str(vals, "team"))) {
        /* Same rule as create: nobody writes into a caseload they cannot see, so
         * moving someone to another team is a manager's job. */
        cb_field_fail(fe, "team", "only a manager can move people into another team");
        rc = CB_EFORBIDDEN;
    }
    if (rc == CB_OK) {
        rc = reopen_clears_discharge(vals);
    }
    if (rc == CB_OK) {
        cb_time_format(cb_now_ms(), now);
        rc = cb_record_update(c, &cb_table_participants, id, vals, now);
    }
    if (rc == CB_OK && cb_json_str(vals, "team") && strcmp(cb_json_str(vals, "team"), team) != 0) {
        /* Moving to another team: every record about the person moves with them. */
        rc = cb_kind_retag_participant(c, id, cb_json_str(vals, "team"));
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {
            a->user->id, "participant.update", "participants", id, a->address, "ok", NULL, id};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_record_get(c, &cb_table_participants, id, out);
        if (rc == CB_OK && (rc = check_discharge(*out, fe)) != CB_OK) {
            json_decref(*out);
            *out = NULL;
        }
    }
    json_decref(vals);
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
        if (rc) {
            json_decref(*out);
            *out = NULL;
        }
    } else {
        /* A denial audited inside the transaction must survive the rollback. */
        cb_conn_rollback(c);
        if ((rc == CB_ENOTFOUND && team[0] && !cb_user_sees_team(a->user, team)) ||
            rc == CB_EFORBIDDEN) {
            audit(c, a, "participant.update", "participants", id, "denied");
        }
    }
    return rc;
}

/* The summary a search lists (the full record is one GET away). */
#define SUMMARY_COLS                                                                               \
    "id, given_name, family_name, preferred_name, date_of_birth, nhs_number, postcode, team, "     \
    "status, assigned_coach, updated_at"

/*
 * Append one row's summary as a JSON object to b: written as text (each value
 * through cb_json_buf_add_string, which escapes with jansson whenever a value
 * is not plain ASCII), since building and dumping jansson objects was most of
 * a search's cost.  CB_ETOOLARGE past b's cap, CB_ENOMEM.
 */
static int summary_to_buf(sqlite3_stmt *st, struct cb_buf *b)
{
    static const char *const keys[] = {"{\"id\":",
                                       ",\"given_name\":",
                                       ",\"family_name\":",
                                       ",\"preferred_name\":",
                                       ",\"date_of_birth\":",
                                       ",\"nhs_number\":",
                                       ",\"postcode\":",
                                       ",\"team\":",
                                       ",\"status\":",
                                       ",\"assigned_coach\":",
                                       ",\"updated_at\":"};
    int rc = CB_OK;
    for (int i = 0; rc == CB_OK && i < (int)(sizeof(keys) / sizeof(keys[0])); i++) {
        const unsigned char *v = sqlite3_column_text(st, i);
        rc = cb_buf_adds(b, keys[i]);
        if (rc == CB_OK) {
            rc = v ? cb_json_buf_add_string(b, (const char *)v) : cb_buf_add(b, "null", 4);
        }
    }
    return rc ? rc : cb_buf_add(b, "}", 1);
}

/* Append "lower(col) >= ?N AND lower(col) < ?N+1" and bind the prefix range. */
static int prefix_clause(struct cb_buf *sql, const char *col, int *idx)
{
    int rc = cb_buf_addf(sql, "(lower(%s) >= ?%d AND lower(%s) < ?%d)", col, *idx, col, *idx + 1);
    *idx += 2;
    return rc;
}

/* A search name token: up to SEARCH_NAME_CHARS characters of UTF-8 and the NUL. */
#define SEARCH_NAME_CHARS 100
#define SEARCH_TOKEN_LEN  CB_UTF8_STRLEN(SEARCH_NAME_CHARS)

static void bind_prefix(sqlite3_stmt *st, int idx, const char *tok)
{
    char hi[SEARCH_TOKEN_LEN + 4]; /* the token and U+10FFFF */
    snprintf(hi, sizeof(hi), "%s\xf4\x8f\xbf\xbf", tok);
    sqlite3_bind_text(st, idx, tok, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, idx + 1, hi, -1, SQLITE_TRANSIENT);
}

/*
 * Append " AND (lower(family_name), lower(given_name), id) > <the cursor's key>":
 * the cursor must be a participant the caller can see, so another team's id is
 * answered exactly like an unknown one (an empty page).
 */
static int cursor_clause(struct cb_buf *sql, int team_idx, int cur_idx)
{
    int rc = cb_buf_addf(sql,
                         " AND (lower(family_name), lower(given_name), id) > "
                         "(SELECT lower(family_name), lower(given_name), id FROM participants "
                         "WHERE id = ?%d",
                         cur_idx);
    if (rc == CB_OK && team_idx) {
        rc = cb_buf_addf(sql, " AND team = ?%d", team_idx);
    }
    return rc ? rc : cb_buf_adds(sql, ")");
}

/*
 * Write one branch of a one-name search: the visible live participants whose
 * col starts with the prefix bound at ?q_idx/?q_idx+1 (for given_name: and
 * whose family name does not, so the branches never list one person twice),
 * in (family, given, id) order, at most ?lim_idx rows; columns SUMMARY_COLS,
 * then the sort keys.  For family_name the rows come straight from the
 * participants_family index in order, so SQLite stops after the limit instead
 * of reading and sorting every match.
 */
/*
 * Compare the sort keys (lower family, lower given, id: columns 11, 12, 0) of
 * the current rows of two search statements in SQLite's BINARY collation.
 */
static int search_key_cmp(sqlite3_stmt *x, sqlite3_stmt *y)
{
    static const int cols[] = {11, 12, 0};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        const unsigned char *a = sqlite3_column_text(x, cols[i]);
        const unsigned char *b = sqlite3_column_text(y, cols[i]);
        int na = sqlite3_column_bytes(x, cols[i]), nb = sqlite3_column_bytes(y, cols[i]);
        int m =
            memcmp(a ? (const void *)a : "", b ? (const void *)b : "", (size_t)(na < nb ? na : nb));
        if (m == 0) {
            m = na - nb;
        }
        if (m) {
            return m;
        }
    }
    return 0;
}

static int search_branch(struct cb_buf *sql, const char *col, int team_idx, int q_idx, int cur_idx,
                         int lim_idx)
{
    int idx = q_idx;
    int rc = cb_buf_adds(sql, "SELECT " SUMMARY_COLS ", lower(family_name) AS kf, "
                              "lower(given_name) AS kg FROM participants WHERE deleted = 0");
    if (rc == CB_OK && team_idx) {
        rc = cb_buf_addf(sql, " AND +team = ?%d", team_idx);
    }
    rc = rc ? rc : cb_buf_adds(sql, " AND ");
    rc = rc ? rc : prefix_clause(sql, col, &idx);
    if (rc == CB_OK && strcmp(col, "family_name") != 0) {
        idx = q_idx; /* not the family-name matches: the other branch lists those */
        rc = cb_buf_adds(sql, " AND NOT ");
        rc = rc ? rc : prefix_clause(sql, "family_name", &idx);
    }
    if (rc == CB_OK && cur_idx) {
        rc = cursor_clause(sql, team_idx, cur_idx);
    }
    return rc ? rc : cb_buf_addf(sql, " ORDER BY kf, kg, id LIMIT ?%d", lim_idx);
}

/* Split q (valid UTF-8) into at most 2 lowercase tokens of at most 100 characters each. */
static int name_tokens(const char *q, char tok[2][SEARCH_TOKEN_LEN], int *ntok,
                       struct cb_field_error *fe)
{
    *ntok = 0;
    const char *p = q;
    while (*p) {
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            break;
        }
        const char *start = p;
        size_t chars = 0;
        while (*p && *p != ' ') {
            chars += ((unsigned char)*p & 0xc0) != 0x80; /* not a continuation byte */
            p++;
        }
        size_t n = (size_t)(p - start);
        if (*ntok >= 2 || chars > SEARCH_NAME_CHARS || n >= SEARCH_TOKEN_LEN) {
            return cb_field_fail(fe, "q", "search for at most two names of up to 100 characters");
        }
        for (size_t i = 0; i < n; i++) {
            tok[*ntok][i] = (char)tolower((unsigned char)start[i]);
        }
        tok[*ntok][n] = '\0';
        (*ntok)++;
    }
    return CB_OK;
}

int cb_participant_search(struct cb_conn *c, const struct cb_actor *a, const char *q, int limit,
                          const char *cursor, struct cb_buf *out, struct cb_field_error *fe)
{
    enum { ALL, NHS, DOB, NAME } kind = ALL;
    char nhs[CB_NHS_STRLEN], tok[2][SEARCH_TOKEN_LEN];
    int ntok = 0, y, m, d;
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    if (!q) {
        q = "";
    }
    if (cb_text_valid(q, CB_SEARCH_Q_CHARS, 1)) {
        return cb_field_fail(fe, "q", "must be at most %d characters on one line",
                             CB_SEARCH_Q_CHARS);
    }
    if (limit < 1 || limit > CB_SEARCH_MAX_LIMIT) {
        return cb_field_fail(fe, "limit", "must be from 1 to %d", CB_SEARCH_MAX_LIMIT);
    }
    if (cursor && !cb_uuid_valid(cursor)) {
        return cb_field_fail(fe, "cursor", "is not a cursor returned by a previous page");
    }
    if (cb_nhs_number_normalise(q, 1, nhs) == CB_OK) {
        kind = NHS;
    } else if (cb_date_parse(q, &y, &m, &d) == CB_OK) {
        kind = DOB;
    } else {
        int rc = name_tokens(q, tok, &ntok, fe);
        if (rc) {
            return rc;
        }
        kind = ntok ? NAME : ALL;
    }

    /* Parameter numbers are fixed so one SQL text per shape is cached. */
    const int team_idx = strcmp(a->user->role, "manager") != 0 ? 1 : 0;
    const int q_idx = 2, cur_idx = cursor ? 10 : 0, lim_idx = 11;
    struct cb_buf sql[2];
    cb_buf_init(&sql[0], 8192);
    cb_buf_init(&sql[1], 8192);
    int rc, nst = 1;
    if (kind == NAME && ntok == 1) {
        /* One name: the family-name matches and the other given-name matches,
         * each read in (family, given, id) order with an early LIMIT; the two
         * ordered streams are merged below. */
        nst = 2;
        rc = search_branch(&sql[0], "family_name", team_idx, q_idx, cur_idx, lim_idx);
        rc = rc ? rc : search_branch(&sql[1], "given_name", team_idx, q_idx, cur_idx, lim_idx);
    } else {
        struct cb_buf *b = &sql[0];
        rc = cb_buf_adds(b, "SELECT " SUMMARY_COLS ", lower(family_name), lower(given_name) "
                            "FROM participants p WHERE deleted = 0");
        if (rc == CB_OK && team_idx) {
            /* For name, NHS and DOB searches "+team" keeps the planner on the
             * selective name/NHS/DOB indexes instead of scanning the whole team. */
            rc = cb_buf_addf(b, kind == ALL ? " AND team = ?%d" : " AND +team = ?%d", team_idx);
        }
        if (rc == CB_OK && kind == NHS) {
            rc = cb_buf_addf(b, " AND nhs_number = ?%d", q_idx);
        } else if (rc == CB_OK && kind == DOB) {
            rc = cb_buf_addf(b, " AND date_of_birth = ?%d", q_idx);
        } else if (rc == CB_OK && kind == NAME) {
            int idx = q_idx;
            rc = cb_buf_adds(b, " AND ((");
            rc = rc ? rc : prefix_clause(b, "given_name", &idx);
            rc = rc ? rc : cb_buf_adds(b, " AND ");
            rc = rc ? rc : prefix_clause(b, "family_name", &idx);
            rc = rc ? rc : cb_buf_adds(b, ") OR (");
            rc = rc ? rc : prefix_clause(b, "family_name", &idx);
            rc = rc ? rc : cb_buf_adds(b, " AND ");
            rc = rc ? rc : prefix_clause(b, "given_name", &idx);
            rc = rc ? rc : cb_buf_adds(b, "))");
        }
        if (rc == CB_OK && cur_idx) {
            rc = cursor_clause(b, team_idx, cur_idx);
        }
        if (rc == CB_OK) {
            rc = cb_buf_addf(b, " ORDER BY lower(family_name), lower(given_name), id LIMIT ?%d",
                             lim_idx);
        }
    }
    sqlite3_stmt *st[2] = {NULL, NULL};
    for (int i = 0; rc == CB_OK && i < nst; i++) {
        rc = cb_conn_prepare(c, cb_buf_str(&sql[i]), &st[i]);
    }
    cb_buf_free(&sql[0]);
    cb_buf_free(&sql[1]);
    if (rc) {
        cb_stmt_done(st[0]);
        return rc;
    }
    for (int i = 0; i < nst; i++) {
        if (team_idx) {
            sqlite3_bind_text(st[i], team_idx, a->user->team, -1, SQLITE_TRANSIENT);
        }
        if (kind == NHS) {
            sqlite3_bind_text(st[i], q_idx, nhs, -1, SQLITE_TRANSIENT);
        } else if (kind == DOB) {
            sqlite3_bind_text(st[i], q_idx, q, -1, SQLITE_TRANSIENT);
        } else if (kind == NAME) {
            bind_prefix(st[i], q_idx, tok[0]);
            if (ntok == 2) {
                bind_prefix(st[i], q_idx + 2, tok[1]);
                bind_prefix(st[i], q_idx + 4, tok[0]);
                bind_prefix(st[i], q_idx + 6, tok[1]);
            }
        }
        if (cur_idx) {
            sqlite3_bind_text(st[i], cur_idx, cursor, -1, SQLITE_TRANSIENT);
        }
        sqlite3_bind_int(st[i], lim_idx, limit + 1);
    }
    /* Take the smaller head of the (one or two) ordered streams until limit rows
     * are listed; a further row means there is a next page (its cursor is the
     * id of the last row listed). */
    char last_id[CB_UUID_STRLEN] = "", next[CB_UUID_STRLEN] = "";
    int s[2] = {sqlite3_step(st[0]), nst == 2 ? sqlite3_step(st[1]) : SQLITE_DONE};
    int n = 0;
    rc = cb_buf_adds(out, "{\"items\":[");
    while (rc == CB_OK) {
        int pick;
        if (s[0] == SQLITE_ROW && s[1] == SQLITE_ROW) {
            pick = search_key_cmp(st[0], st[1]) <= 0 ? 0 : 1;
        } else if (s[0] == SQLITE_ROW || s[1] == SQLITE_ROW) {
            pick = s[0] == SQLITE_ROW ? 0 : 1;
        } else {
            break;
        }
        if (n == limit) {
            snprintf(next, sizeof(next), "%s", last_id);
            break;
        }
        const unsigned char *id = sqlite3_column_text(st[pick], 0);
        snprintf(last_id, sizeof(last_id), "%s", id ? (const char *)id : "");
        if (n > 0) {
            rc = cb_buf_add(out, ",", 1);
        }
        rc = rc ? rc : summary_to_buf(st[pick], out);
        n++;
        s[pick] = sqlite3_step(st[pick]);
    }
    cb_stmt_done(st[0]);
    cb_stmt_done(st[1]);
    for (int i = 0; rc == CB_OK && i < 2; i++) {
        if (s[i] != SQLITE_ROW && s[i] != SQLITE_DONE) {
            rc = cb_store_rc(s[i]);
        }
    }
    if (rc == CB_OK) {
        rc = cb_buf_adds(out, "],\"next_cursor\":");
    }
    if (rc == CB_OK) {
        rc = next[0] ? cb_json_buf_add_string(out, next) : cb_buf_add(out, "null", 4);
    }
    return rc ? rc : cb_buf_add(out, "}", 1);
}
