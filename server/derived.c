/*
 * derived.c - derived rows on sync connections; see derived.h.
 *
 * The noted groups are a set of keys in an open-addressing hash table (linear
 * probing, power-of-two size, at most half full).  A key is the group's kind
 * ('m' a measures group, 'c' a month of contacts, 'y' a year of contacts)
 * followed by its values, each as a 4-byte length and its bytes (a pushed value
 * may hold any byte and be long: central does not re-validate a site's rows).
 * Everything runs on the connection's thread: the hook is called by SQLite
 * inside the statement that writes.
 */
/* Debian's SQLite is built with the preupdate hook; its header declares it only
 * when asked (and the link fails on a library without it). */
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include "coachbox/derived.h"
#include "coachbox/err.h"
#include "coachbox/store.h"
#include "migrations.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SET_MIN 256
#define SET_MAX (1u << 24) /* slots: ~8 million groups in one transaction */
#define NSTMT_M 8          /* at most this many measures refresh statements */
#define NSTMT_C 4          /* the contacts refresh statements */
#define NPARTS  3

/* The contact types counted in their own column of contact_months/years, in
 * column order after n (migration 13). */
static const char *const contact_types[] = {"drop_in", "one_to_one", "phone",
                                            "video",   "group",      "dna"};
#define NTYPES (sizeof(contact_types) / sizeof(contact_types[0]))

/* A noted group: kind, then n bytes of length-prefixed parts.  A contacts
 * group ('c', 'y') also carries the change of its counts (n, then one per
 * contact type) the transaction's writes make. */
struct key {
    int64_t delta[1 + NTYPES];
    size_t n;
    char b[];
};

/* A key being built: up to NPARTS values (not owned). */
struct key_parts {
    char kind;
    int nparts;
    const unsigned char *v[NPARTS];
    size_t len[NPARTS];
};

struct cb_derived {
    sqlite3 *db;
    struct key **slots; /* NULL or a malloc'd key */
    size_t nslots, used;
    int failed;          /* first error while noting (reported by the next refresh) */
    int refreshing;      /* the refresh's own writes are not noted */
    int audit_rewritten; /* an audit event was updated or deleted: never committed */
    /* column indexes, read from the schema when attached (-1: no such column) */
    int m_instrument, m_participant;
    int m_rv[4]; /* rv1..rv4: the report values (-1: not there, then never skipped) */
    int e_team, e_occurred, e_participant, e_type, e_deleted;
    sqlite3_stmt *m_stmt[NSTMT_M]; /* prepared on first use */
    sqlite3_stmt *c_stmt[NSTMT_C];
};

/* FNV-1a of the key's bytes. */
static uint64_t key_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    }
    return h;
}

/* Double the table (or make the first); CB_ENOMEM, CB_ETOOLARGE past SET_MAX. */
static int set_grow(struct cb_derived *d)
{
    size_t n = d->nslots ? d->nslots * 2 : SET_MIN;
    if (n > SET_MAX) {
        return CB_ETOOLARGE;
    }
    struct key **slots = calloc(n, sizeof(*slots));
    if (!slots) {
        return CB_ENOMEM;
    }
    for (size_t i = 0; i < d->nslots; i++) {
        struct key *k = d->slots[i];
        if (!k) {
            continue;
        }
        size_t j = key_hash(k->b, k->n) & (n - 1);
        while (slots[j]) {
            j = (j + 1) & (n - 1);
        }
        slots[j] = k;
    }
    free(d->slots);
    d->slots = slots;
    d->nslots = n;
    return CB_OK;
}

/* Add the key kp describes unless it is there; *out (when not NULL) is then
 * the set's key (owned by the set, valid until the next add or forget). */
static int set_add(struct cb_derived *d, const struct key_parts *kp, struct key **out)
{
    size_t n = 1;
    for (int i = 0; i < kp->nparts; i++) {
        if (kp->len[i] > UINT32_MAX || n > SIZE_MAX - 4 - kp->len[i]) {
            return CB_ETOOLARGE;
        }
        n += 4 + kp->len[i];
    }
    struct key *k = malloc(sizeof(*k) + n);
    if (!k) {
        return CB_ENOMEM;
    }
    memset(k->delta, 0, sizeof(k->delta));
    k->n = n;
    k->b[0] = kp->kind;
    size_t at = 1;
    for (int i = 0; i < kp->nparts; i++) {
        uint32_t len = (uint32_t)kp->len[i];
        memcpy(k->b + at, &len, 4);
        if (len) {
            memcpy(k->b + at + 4, kp->v[i], len);
        }
        at += 4 + len;
    }
    if ((d->used + 1) * 2 > d->nslots) {
        int rc = set_grow(d);
        if (rc) {
            free(k);
            return rc;
        }
    }
    size_t j = key_hash(k->b, n) & (d->nslots - 1);
    for (; d->slots[j]; j = (j + 1) & (d->nslots - 1)) {
        if (d->slots[j]->n == n && memcmp(d->slots[j]->b, k->b, n) == 0) {
            free(k);
            if (out) {
                *out = d->slots[j];
            }
            return CB_OK;
        }
    }
    d->slots[j] = k;
    d->used++;
    if (out) {
        *out = k;
    }
    return CB_OK;
}

/* Column col of the row being written, old (or new) image, as text. */
static sqlite3_value *row_value(sqlite3 *db, int old, int col)
{
    sqlite3_value *v = NULL;
    int rc = old ? sqlite3_preupdate_old(db, col, &v) : sqlite3_preupdate_new(db, col, &v);
    return rc == SQLITE_OK ? v : NULL;
}

/* Text of value v into kp's next part (NULL or no value: empty). */
static void part(struct key_parts *kp, sqlite3_value *v, size_t maxlen)
{
    const unsigned char *t = v ? sqlite3_value_text(v) : NULL;
    size_t len = t ? (size_t)sqlite3_value_bytes(v) : 0;
    assert(kp->nparts < NPARTS);
    kp->v[kp->nparts] = t;
    kp->len[kp->nparts] = len < maxlen ? len : maxlen;
    kp->nparts++;
}

/*
 * Note the group of the measures row being written (old or new image).  A
 * group whose rows had or keep report values (any rv* not NULL in either
 * image) is marked (delta[0] = 1: a measures key has no counts), so that its
 * refresh recomputes them even when its instrument has none (refresh_key).
 */
static int note_measure(struct cb_derived *d, sqlite3 *db, int old)
{
    struct key_parts kp = {'m', 0, {NULL}, {0}};
    struct key *k = NULL;
    part(&kp, row_value(db, old, d->m_instrument), SIZE_MAX);
    part(&kp, row_value(db, old, d->m_participant), SIZE_MAX);
    int rc = set_add(d, &kp, &k);
    for (int i = 0; rc == CB_OK && i < 4 && !k->delta[0]; i++) {
        sqlite3_value *v = d->m_rv[i] < 0 ? NULL : row_value(db, old, d->m_rv[i]);
        if (d->m_rv[i] < 0 || !v || sqlite3_value_type(v) != SQLITE_NULL) {
            k->delta[0] = 1;
        }
    }
    return rc;
}

/*
 * Is v a canonical time, as CB_CANON_TIME (migrations.h) decides in SQL: 24
 * characters "YYYY-MM-DDTHH:MM:SS.mmmZ" of digits and those literals, month 01
 * to 12, day at least 01?  (A value of another type never is: a number's text
 * has none of the literals, and SQL reads a blob's bytes as this does.)
 */
static int canonical_time(sqlite3_value *v)
{
    static const char shape[] = "0000-00-00T00:00:00.000Z";
    int t = v ? sqlite3_value_type(v) : SQLITE_NULL;
    if (t != SQLITE_TEXT && t != SQLITE_BLOB) {
        return 0;
    }
    const unsigned char *s = t == SQLITE_TEXT ? sqlite3_value_text(v) : sqlite3_value_blob(v);
    if (!s || sqlite3_value_bytes(v) != 24) {
        return 0;
    }
    for (int i = 0; i < 24; i++) {
        if (shape[i] == '0' ? s[i] < '0' || s[i] > '9' : s[i] != (unsigned char)shape[i]) {
            return 0;
        }
    }
    return memcmp(s + 5, "01", 2) >= 0 && memcmp(s + 5, "12", 2) <= 0 &&
           memcmp(s + 8, "01", 2) >= 0;
}

/* Is v, a row's deleted column, equal to 0 in SQL (an integer or a real zero)? */
static int live(sqlite3_value *v)
{
    int t = v ? sqlite3_value_type(v) : SQLITE_NULL;
    return (t == SQLITE_INTEGER && sqlite3_value_int64(v) == 0) ||
           (t == SQLITE_FLOAT && sqlite3_value_double(v) == 0.0);
}

/*
 * Count the encounters row being written (new image: +1) or out of its groups
 * (old image: -1) in the delta of its month and its year, when it counts: live,
 * with a canonical time - the triggers' condition (CX_ADD, CX_SUB).  The type
 * adds to its own column when it is one of contact_types (SQL's "type = 'x'",
 * binary text).
 */
static int note_contact(struct cb_derived *d, sqlite3 *db, int old)
{
    sqlite3_value *at = row_value(db, old, d->e_occurred);
    if (!live(row_value(db, old, d->e_deleted)) || !canonical_time(at)) {
        return CB_OK; /* never counted */
    }
    sqlite3_value *type = row_value(db, old, d->e_type);
    const unsigned char *tt =
        type && sqlite3_value_type(type) == SQLITE_TEXT ? sqlite3_value_text(type) : NULL;
    size_t tlen = tt ? (size_t)sqlite3_value_bytes(type) : 0;
    int col = -1;
    for (size_t i = 0; tt && i < NTYPES; i++) {
        if (strlen(contact_types[i]) == tlen && memcmp(tt, contact_types[i], tlen) == 0) {
            col = (int)i;
        }
    }
    int sign = old ? -1 : 1;
    int rc = CB_OK;
    for (int year = 0; year < 2 && rc == CB_OK; year++) {
        struct key_parts kp = {year ? 'y' : 'c', 0, {NULL}, {0}};
        struct key *k = NULL;
        part(&kp, row_value(db, old, d->e_team), SIZE_MAX);
        part(&kp, at, year ? 4 : 7);
        part(&kp, row_value(db, old, d->e_participant), SIZE_MAX);
        rc = set_add(d, &kp, &k);
        if (rc == CB_OK) {
            k->delta[0] += sign;
            if (col >= 0) {
                k->delta[1 + col] += sign;
            }
        }
    }
    return rc;
}

/*
 * sqlite3_preupdate_hook callback: before each row of d's connection is
 * inserted, updated or deleted.  It may not use the connection to write, so
 * it only notes; an error is kept for the next refresh.
 */
static void on_write(void *arg, sqlite3 *db, int op, const char *zdb, const char *table,
                     sqlite3_int64 k1, sqlite3_int64 k2)
{
    struct cb_derived *d = arg;
    (void)k1;
    (void)k2;
    if (strcmp(zdb, "main") != 0) {
        return;
    }
    if (op != SQLITE_INSERT && strcmp(table, "audit_events") == 0) {
        /* the log's append-only triggers (migration 1) are off here too: the
         * commit hook refuses the transaction instead */
        d->audit_rewritten = 1;
        return;
    }
    if (d->refreshing || d->failed) {
        return;
    }
    int measures = strcmp(table, "measures") == 0;
    if (!measures && strcmp(table, "encounters") != 0) {
        return;
    }
    /* (A write outside a transaction would commit before any refresh: the
     * commit hook refuses it, on_commit.) */
    int rc = CB_OK;
    if (op == SQLITE_DELETE || op == SQLITE_UPDATE) {
        rc = measures ? note_measure(d, db, 1) : note_contact(d, db, 1);
    }
    if (rc == CB_OK && (op == SQLITE_INSERT || op == SQLITE_UPDATE)) {
        rc = measures ? note_measure(d, db, 0) : note_contact(d, db, 0);
    }
    if (rc) {
        d->failed = rc;
    }
}

/*
 * sqlite3_commit_hook callback: non-zero turns the commit into a rollback.
 * Nothing noted may commit unrecomputed (a write outside cb_conn_begin /
 * cb_conn_commit, or a COMMIT that bypassed the refresh), nor a transaction
 * that rewrote the audit log.
 */
static int on_commit(void *arg)
{
    struct cb_derived *d = arg;
    int refuse = d->used > 0 || d->failed || d->audit_rewritten;
    if (refuse) {
        cb_derived_forget(d);
    }
    return refuse;
}

/* The index of column name in table of db (PRAGMA table_info), or -1. */
static int column_index(sqlite3 *db, const char *table, const char *name)
{
    char sql[96];
    sqlite3_stmt *st;
    int idx = -1;
    snprintf(sql, sizeof(sql), "SELECT cid FROM pragma_table_info('%s') WHERE name = ?1", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        idx = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return idx;
}

int cb_derived_attach(sqlite3 *db, struct cb_derived **out)
{
    struct cb_derived *d = calloc(1, sizeof(*d));
    if (!d) {
        return CB_ENOMEM;
    }
    d->db = db;
    int off = 1;
    int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, &off);
    if (rc != SQLITE_OK || off != 0) {
        free(d);
        return rc != SQLITE_OK ? cb_store_rc(rc) : CB_EDB;
    }
    d->m_instrument = column_index(db, "measures", "instrument");
    d->m_participant = column_index(db, "measures", "participant_id");
    for (int i = 0; i < 4; i++) {
        char rv[8];
        snprintf(rv, sizeof(rv), "rv%d", i + 1);
        d->m_rv[i] = column_index(db, "measures", rv);
    }
    d->e_team = column_index(db, "encounters", "team");
    d->e_occurred = column_index(db, "encounters", "occurred_at");
    d->e_participant = column_index(db, "encounters", "participant_id");
    d->e_type = column_index(db, "encounters", "type");
    d->e_deleted = column_index(db, "encounters", "deleted");
    if (d->m_instrument < 0 || d->m_participant < 0 || d->e_team < 0 || d->e_occurred < 0 ||
        d->e_participant < 0 || d->e_type < 0 || d->e_deleted < 0) {
        free(d); /* not a migrated coachbox database */
        return CB_EDB;
    }
    sqlite3_preupdate_hook(db, on_write, d);
    sqlite3_commit_hook(db, on_commit, d);
    *out = d;
    return CB_OK;
}

/* Run statement *slot (sql, prepared on first use) with the group's values,
 * then, when nums is not NULL, nnums integers. */
static int run(struct cb_derived *d, sqlite3_stmt **slot, const char *sql, const char *const *vals,
               const int *lens, int nvals, const int64_t *nums, int nnums)
{
    if (!*slot &&
        sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        int rc = cb_store_rc(sqlite3_errcode(d->db));
        return rc ? rc : CB_EDB;
    }
    for (int i = 0; i < nvals; i++) {
        sqlite3_bind_text(*slot, i + 1, vals[i], lens[i], SQLITE_STATIC);
    }
    for (int i = 0; nums && i < nnums; i++) {
        sqlite3_bind_int64(*slot, nvals + i + 1, nums[i]);
    }
    int s = sqlite3_step(*slot);
    sqlite3_reset(*slot);
    sqlite3_clear_bindings(*slot);
    return s == SQLITE_DONE ? CB_OK : (cb_store_rc(s) ? cb_store_rc(s) : CB_EDB);
}

/* Bring the derived rows of key k's group up to date (the refresh's statements
 * for a measures group, the counts' delta for a contacts group). */
static int refresh_key(struct cb_derived *d, const struct key *k)
{
    const char *vals[NPARTS];
    int lens[NPARTS];
    int n = 0;
    size_t at = 1;
    while (at + 4 <= k->n && n < NPARTS) {
        uint32_t len;
        memcpy(&len, k->b + at, 4);
        if (len > k->n - at - 4 || len > INT32_MAX) {
            break;
        }
        vals[n] = k->b + at + 4;
        lens[n] = (int)len;
        n++;
        at += 4 + len;
    }
    int rc = CB_OK;
    if (at != k->n) {
        assert(0 && "malformed derived key");
        rc = CB_EINVAL;
    } else if (k->b[0] == 'm' && n == 2) {
        /* The report values' statement (the first) changes only rows of ons4 or
         * bmi, or rows holding report values: in another instrument's group
         * only a row written in this transaction can (the rest are as the
         * triggers or an earlier refresh left them: no values), and it marked
         * the group (note_measure).  Otherwise it would only read the rows. */
        int rv = k->delta[0] || (lens[0] == 4 && memcmp(vals[0], "ons4", 4) == 0) ||
                 (lens[0] == 3 && memcmp(vals[0], "bmi", 3) == 0);
        for (int i = rv ? 0 : 1; rc == CB_OK && cb_migrations_measures_refresh[i]; i++) {
            assert(i < NSTMT_M);
            if (i > 0 && !cb_migrations_measures_refresh[i + 1] && sqlite3_changes(d->db) > 0) {
                break; /* the latest measure was written: nothing to remove */
            }
            rc = run(d, &d->m_stmt[i], cb_migrations_measures_refresh[i], vals, lens, 2, NULL, 0);
        }
    } else if ((k->b[0] == 'c' || k->b[0] == 'y') && n == 3) {
        /* months: statements 0-1; years: 2-3.  The counts move by the delta
         * (nothing to do for writes that left them as they were), and a row
         * whose count fell to 0 goes. */
        int first = k->b[0] == 'c' ? 0 : 2, moved = 0, fell = 0;
        for (size_t i = 0; i < 1 + NTYPES; i++) {
            moved |= k->delta[i] != 0;
            fell |= k->delta[i] < 0;
        }
        assert(cb_migrations_contacts_delta[first] && cb_migrations_contacts_delta[first + 1]);
        if (moved) {
            rc = run(d, &d->c_stmt[first], cb_migrations_contacts_delta[first], vals, lens, 3,
                     k->delta, 1 + (int)NTYPES);
        }
        if (rc == CB_OK && fell) {
            rc = run(d, &d->c_stmt[first + 1], cb_migrations_contacts_delta[first + 1], vals, lens,
                     3, NULL, 0);
        }
    } else {
        assert(0 && "malformed derived key");
        rc = CB_EINVAL;
    }
    return rc;
}

int cb_derived_refresh(struct cb_derived *d)
{
    int rc = d->failed;
    assert(!sqlite3_get_autocommit(d->db) || d->used == 0);
    d->refreshing = 1;
    for (size_t i = 0; rc == CB_OK && i < d->nslots; i++) {
        if (d->slots[i]) {
            rc = refresh_key(d, d->slots[i]);
        }
    }
    d->refreshing = 0;
    cb_derived_forget(d);
    return rc;
}

void cb_derived_forget(struct cb_derived *d)
{
    for (size_t i = 0; i < d->nslots && d->used; i++) {
        if (d->slots[i]) {
            free(d->slots[i]);
            d->slots[i] = NULL;
            d->used--;
        }
    }
    assert(d->used == 0);
    d->failed = 0;
    d->audit_rewritten = 0;
    /* a batch that touched many groups gives its table back */
    if (d->nslots > 4 * SET_MIN) {
        free(d->slots);
        d->slots = NULL;
        d->nslots = 0;
    }
}

size_t cb_derived_pending(const struct cb_derived *d)
{
    return d->used;
}

void cb_derived_free(struct cb_derived *d)
{
    if (!d) {
        return;
    }
    sqlite3_preupdate_hook(d->db, NULL, NULL);
    sqlite3_commit_hook(d->db, NULL, NULL);
    cb_derived_forget(d);
    free(d->slots);
    for (int i = 0; i < NSTMT_M; i++) {
        sqlite3_finalize(d->m_stmt[i]);
    }
    for (int i = 0; i < NSTMT_C; i++) {
        sqlite3_finalize(d->c_stmt[i]);
    }
    free(d);
}
