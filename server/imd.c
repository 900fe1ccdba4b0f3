/*
 * imd.c - postcode deprivation deciles and population denominators for
 * reports, imported whole from CSV files; and the RFC 4180 reader (imd.h).
 */
#include "coachbox/imd.h"
#include "coachbox/audit.h"
#include "coachbox/reports.h"
#include "coachbox/store.h"
#include "coachbox/validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int import_fail(struct cb_import_error *err, long line, int column, const char *field,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int import_fail(struct cb_import_error *err, long line, int column, const char *field,
                       const char *fmt, ...)
{
    if (err) {
        err->line = line;
        err->column = column;
        snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return CB_EPARSE;
}

/* ---------------------------------------------------------------- reader */

void cb_csv_init(struct cb_csv *r, FILE *f)
{
    memset(r, 0, sizeof(*r));
    r->f = f;
    r->next_line = 1;
}

/* 1 if the n bytes at s are valid UTF-8. */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char ch = s[i];
        size_t len = ch < 0x80         ? 1
                     : (ch >> 5) == 6  ? 2
                     : (ch >> 4) == 14 ? 3
                     : (ch >> 3) == 30 ? 4
                                       : 0;
        if (len == 0 || i + len > n) {
            return 0;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
        }
        if ((len == 2 && ch < 0xC2) || (len == 3 && ch == 0xE0 && s[i + 1] < 0xA0) ||
            (len == 4 &&
             (ch > 0xF4 || (ch == 0xF0 && s[i + 1] < 0x90) || (ch == 0xF4 && s[i + 1] > 0x8F))) ||
            (len == 3 && ch == 0xED && s[i + 1] > 0x9F)) {
            return 0;
        }
        i += len;
    }
    return 1;
}

int cb_csv_next(struct cb_csv *r, struct cb_import_error *err)
{
    size_t len = 0;
    int field_start = 1, quoted = 0, after_quote = 0, any = 0;
    r->nfields = 0;
    r->line = r->next_line;
    if (!r->started) {
        /* skip a UTF-8 byte order mark (spreadsheets write one) */
        r->started = 1;
        int a = getc(r->f);
        if (a == 0xEF) {
            if (getc(r->f) != 0xBB || getc(r->f) != 0xBF) {
                return import_fail(err, r->line, 1, NULL, "not valid UTF-8");
            }
        } else if (a != EOF) {
            ungetc(a, r->f);
        }
    }
    r->fields[0] = r->rec;
    for (;;) {
        int ch = getc(r->f);
        if (ch == EOF) {
            if (ferror(r->f)) {
                return import_fail(err, r->line, 0, NULL, "read error: %s", strerror(errno));
            }
            if (quoted) {
                return import_fail(err, r->line, (int)r->nfields + 1, NULL,
                                   "a quoted field is not closed");
            }
            if (!any) {
                return 0;
            }
            break;
        }
        any = 1;
        if (ch == '\0') {
            return import_fail(err, r->next_line, (int)r->nfields + 1, NULL, "NUL byte");
        }
        if (quoted) {
            if (ch == '"') {
                int nx = getc(r->f);
                if (nx == '"') {
                    ch = '"';
                } else {
                    if (nx != EOF) {
                        ungetc(nx, r->f);
                    }
                    quoted = 0;
                    after_quote = 1;
                    continue;
                }
            } else if (ch == '\n') {
                r->next_line++;
            }
        } else {
            if (ch == '\r') {
                int nx = getc(r->f);
                if (nx != '\n') {
                    return import_fail(err, r->next_line, (int)r->nfields + 1, NULL,
                                       "a carriage return outside quotes must end a line");
                }
                ch = '\n';
            }
            if (ch == '\n') {
                r->next_line++;
                break;
            }
            if (ch == ',') {
                if (len >= CB_CSV_MAX_RECORD || r->nfields + 1 >= CB_CSV_MAX_FIELDS) {
                    return import_fail(err, r->line, (int)r->nfields + 1, NULL,
                                       "more than %d fields", CB_CSV_MAX_FIELDS);
                }
                r->rec[len++] = '\0';
                r->nfields++;
                r->fields[r->nfields] = r->rec + len;
                field_start = 1;
                after_quote = 0;
                continue;
            }
            if (after_quote) {
                return import_fail(err, r->line, (int)r->nfields + 1, NULL,
                                   "text after a closing quote");
            }
            if (ch == '"') {
                if (!field_start) {
                    return import_fail(err, r->line, (int)r->nfields + 1, NULL,
                                       "a quote inside an unquoted field");
                }
                quoted = 1;
                field_start = 0;
                continue;
            }
        }
        field_start = 0;
        if (len >= CB_CSV_MAX_RECORD) {
            return import_fail(err, r->line, (int)r->nfields + 1, NULL,
                               "the line is longer than %d bytes", CB_CSV_MAX_RECORD);
        }
        r->rec[len++] = (char)ch;
    }
    r->rec[len] = '\0';
    r->nfields++;
    if (r->nfields == 1 && r->fields[0][0] == '\0' && !after_quote) {
        return import_fail(err, r->line, 0, NULL, "blank line");
    }
    for (size_t i = 0; i < r->nfields; i++) {
        if (!utf8_ok((const unsigned char *)r->fields[i], strlen(r->fields[i]))) {
            return import_fail(err, r->line, (int)i + 1, NULL, "not valid UTF-8");
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- helpers */

/* Trim ASCII spaces and tabs in place; returns s. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    return s;
}

/* Header name matching: case-insensitive, spaces/underscores/hyphens equal. */
static int header_is(const char *h, const char *name)
{
    for (;; h++, name++) {
        char a = (char)tolower((unsigned char)*h), b = (char)tolower((unsigned char)*name);
        a = (a == ' ' || a == '-') ? '_' : a;
        b = (b == ' ' || b == '-') ? '_' : b;
        if (a != b) {
            return 0;
        }
        if (!a) {
            return 1;
        }
    }
}

/* Whole number of digits only (spaces trimmed) within [lo, hi]. */
static int whole(const char *s, long lo, long hi, long *v)
{
    if (!*s || strlen(s) > 10) {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }
    *v = strtol(s, NULL, 10);
    return *v >= lo && *v <= hi;
}

static FILE *open_input(const char *path, struct cb_import_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        import_fail(err, 0, 0, NULL, "cannot open %s: %s", path, strerror(errno));
    }
    return f;
}

/* The base name of path, for the audit detail. */
static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void audit_import(struct cb_conn *c, const char *action, const char *path, long rows)
{
    char detail[200];
    snprintf(detail, sizeof(detail), "%.120s: %ld rows", base_name(path), rows);
    struct cb_audit_event ev = {NULL, action, NULL, NULL, NULL, "ok", detail, NULL};
    cb_audit(c, &ev);
}

/* Map an insert failure on a unique key to a line error, else the store error. */
static int insert_step(sqlite3_stmt *st, struct cb_import_error *err, long line, int column,
                       const char *field, const char *value)
{
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s == SQLITE_DONE) {
        return CB_OK;
    }
    if ((s & 0xff) == SQLITE_CONSTRAINT) {
        return import_fail(err, line, column, field, "%s appears more than once", value);
    }
    return cb_store_rc(s);
}

/* ------------------------------------------------------------------ imd */

/* Accepted header names (docs/REPORTS.md). */
static const char *const postcode_headers[] = {"postcode", "pcds", "pcd", "pcd2", "pcd7", "pcd8"};
static const char *const decile_headers[] = {
    "decile",
    "imd_decile",
    "imd decile",
    "imd19_decile",
    "imd_2019_decile",
    "index of multiple deprivation decile",
    "index of multiple deprivation (imd) decile",
    "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",
};

/* Column index whose header is one of names; -1 none; CB_EPARSE if two match. */
static int find_column(struct cb_csv *r, const char *const *names, size_t n, const char *what,
                       int *col, struct cb_import_error *err)
{
    *col = -1;
    for (size_t i = 0; i < r->nfields; i++) {
        for (size_t k = 0; k < n; k++) {
            if (header_is(trim(r->fields[i]), names[k])) {
                if (*col >= 0) {
                    return import_fail(err, r->line, (int)i + 1, r->fields[i],
                                       "a second %s column (column %d is one)", what, *col + 1);
                }
                *col = (int)i;
            }
        }
    }
    if (*col < 0) {
        return import_fail(err, r->line, 0, NULL, "the header has no %s column", what);
    }
    return CB_OK;
}

/* Read the whole file into table imd (caller holds the transaction). */
static int imd_load(struct cb_conn *c, FILE *f, long *rows, struct cb_import_error *err)
{
    struct cb_csv *r = malloc(sizeof(*r));
    if (!r) {
        return CB_ENOMEM;
    }
    cb_csv_init(r, f);
    int got = cb_csv_next(r, err), pc = -1, dc = -1, rc;
    char hp[96] = "", hd[96] = "";
    size_t ncols = r->nfields;
    if (got == 0) {
        rc = import_fail(err, 1, 0, NULL, "the file is empty");
    } else {
        rc = got < 0 ? got : CB_OK;
    }
    if (!rc) {
        rc = find_column(r, postcode_headers, N(postcode_headers), "postcode", &pc, err);
    }
    if (!rc) {
        rc = find_column(r, decile_headers, N(decile_headers), "decile", &dc, err);
    }
    if (!rc) {
        snprintf(hp, sizeof(hp), "%s", r->fields[pc]);
        snprintf(hd, sizeof(hd), "%s", r->fields[dc]);
        rc = cb_conn_exec(c, "DELETE FROM imd");
    }
    sqlite3_stmt *st = NULL;
    if (!rc) {
        rc = cb_conn_prepare(c, "INSERT INTO imd(postcode, decile) VALUES (?1, ?2)", &st);
    }
    *rows = 0;
    while (!rc && (got = cb_csv_next(r, err)) == 1) {
        if (r->nfields != ncols) {
            rc = import_fail(err, r->line, 0, NULL, "has %zu fields, the header has %zu",
                             r->nfields, ncols);
            break;
        }
        char canon[CB_POSTCODE_STRLEN];
        const char *p = trim(r->fields[pc]), *d = trim(r->fields[dc]);
        long decile = 0;
        if (cb_postcode_normalise(p, canon) != CB_OK) {
            rc = import_fail(err, r->line, pc + 1, hp, "\"%.40s\" is not a UK postcode", p);
        } else if (!whole(d, 1, 10, &decile)) {
            rc = import_fail(err, r->line, dc + 1, hd,
                             "\"%.40s\" is not a decile (a whole number from 1 to 10)", d);
        } else {
            sqlite3_bind_text(st, 1, canon, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(st, 2, (int)decile);
            rc = insert_step(st, err, r->line, pc + 1, hp, canon);
            (*rows)++;
        }
    }
    if (!rc && got < 0) {
        rc = got;
    }
    if (!rc && *rows == 0) {
        rc = import_fail(err, 2, 0, NULL, "the file has a header but no rows");
    }
    cb_stmt_done(st);
    free(r);
    return rc;
}

/* Run load inside one write transaction; roll back on any error. */
static int import_whole(struct cb_conn *c, const char *path, long *rows,
                        struct cb_import_error *err, const char *action,
                        int (*load)(struct cb_conn *, FILE *, long *, struct cb_import_error *))
{
    *rows = 0;
    if (err) {
        memset(err, 0, sizeof(*err));
    }
    FILE *f = open_input(path, err);
    if (!f) {
        return CB_EIO;
    }
    int rc = cb_conn_begin(c);
    if (!rc) {
        rc = load(c, f, rows, err);
        if (!rc) {
            audit_import(c, action, path, *rows);
            rc = cb_conn_commit(c);
        } else {
            cb_conn_rollback(c);
        }
    }
    fclose(f);
    if (rc) {
        *rows = 0;
    }
    return rc;
}

int cb_imd_import(struct cb_conn *c, const char *path, long *rows, struct cb_import_error *err)
{
    return import_whole(c, path, rows, err, "imd.import", imd_load);
}

/* ----------------------------------------------------------- population */

static int population_load(struct cb_conn *c, FILE *f, long *rows, struct cb_import_error *err)
{
    static const char *const want[] = {"split", "group", "population"};
    struct cb_csv *r = malloc(sizeof(*r));
    if (!r) {
        return CB_ENOMEM;
    }
    cb_csv_init(r, f);
    int got = cb_csv_next(r, err), rc = CB_OK;
    if (got == 0) {
        rc = import_fail(err, 1, 0, NULL, "the file is empty");
    } else if (got < 0) {
        rc = got;
    } else if (r->nfields != N(want)) {
        rc = import_fail(err, 1, 0, NULL, "the header must be split,group,population");
    }
    for (size_t i = 0; !rc && i < N(want); i++) {
        if (!header_is(trim(r->fields[i]), want[i])) {
            rc = import_fail(err, 1, (int)i + 1, want[i],
                             "the header must be split,group,population");
        }
    }
    if (!rc) {
        rc = cb_conn_exec(c, "DELETE FROM population");
    }
    sqlite3_stmt *st = NULL;
    if (!rc) {
        rc = cb_conn_prepare(c, "INSERT INTO population(split, grp, people) VALUES (?1, ?2, ?3)",
                             &st);
    }
    *rows = 0;
    while (!rc && (got = cb_csv_next(r, err)) == 1) {
        if (r->nfields != N(want)) {
            rc = import_fail(err, r->line, 0, NULL, "has %zu fields, the header has 3", r->nfields);
            break;
        }
        const char *sp = trim(r->fields[0]), *g = trim(r->fields[1]), *n = trim(r->fields[2]);
        long people = 0;
        char key[200];
        if (!cb_report_group_valid(c, sp, g)) {
            static const char *const splits[] = {
                "team",        "age_band",          "age_band_return",
                "sex",         "ethnic_group",      "imd_decile",
                "cohort",      "employment_status", "referral_source",
                "main_barrier"};
            int known_split = 0;
            for (size_t k = 0; k < N(splits); k++) {
                known_split |= strcmp(splits[k], sp) == 0;
            }
            rc =
                known_split
                    ? import_fail(err, r->line, 2, "group", "\"%.40s\" is not a group of %s", g, sp)
                    : import_fail(err, r->line, 1, "split", "\"%.40s\" is not a report split", sp);
        } else if (!whole(n, 0, 1000000000L, &people)) {
            rc = import_fail(err, r->line, 3, "population",
                             "\"%.40s\" is not a whole number from 0 to 1000000000", n);
        } else {
            snprintf(key, sizeof(key), "%s %s", sp, g);
            sqlite3_bind_text(st, 1, sp, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, g, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 3, people);
            rc = insert_step(st, err, r->line, 2, "group", key);
            (*rows)++;
        }
    }
    if (!rc && got < 0) {
        rc = got;
    }
    if (!rc && *rows == 0) {
        rc = import_fail(err, 2, 0, NULL, "the file has a header but no rows");
    }
    cb_stmt_done(st);
    free(r);
    return rc;
}

int cb_population_import(struct cb_conn *c, const char *path, long *rows,
                         struct cb_import_error *err)
{
    return import_whole(c, path, rows, err, "population.import", population_load);
}
