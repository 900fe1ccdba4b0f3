/* test_store.c - the SQLite store: open, migrations, connections, cache (store.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coachbox/err.h"
#include "coachbox/store.h"

#include "../../server/migrations.h"
#include "coachbox/derived.h"
#include "unit_store.h"

/* ------------------------------------------------------------------------ */
/* Temporary directories                                                     */
/* ------------------------------------------------------------------------ */

static int tmp_seq;

/* A fresh, not yet existing data directory path. */
static void new_dir(char *out, size_t len)
{
    snprintf(out, len, "%s/d%d", cbu.root, ++tmp_seq);
}

static struct cb_store *open_fresh(char *dir, size_t len)
{
    struct cb_store *s = NULL;
    new_dir(dir, len);
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_non_null(s);
    return s;
}

/* Read a whole file into a new buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Run a one-value query on c and return it as an integer. */
static long long query_int(struct cb_conn *c, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(c, sql, &st), CB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    cb_stmt_done(st);
    return v;
}

static void query_text(struct cb_conn *c, const char *sql, char *out, size_t len)
{
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(c, sql, &st), CB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    cb_stmt_done(st);
}

/* Open path with plain SQLite, run sql, close. */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fail_msg("raw SQL failed: %s", err ? err : "?");
    }
    sqlite3_close(db);
}

static int raw_user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Opening and migrations                                                    */
/* ------------------------------------------------------------------------ */

static void test_open_creates_dir_and_db(void **state)
{
    (void)state;
    char dir[256], want[300];
    new_dir(dir, sizeof(dir));
    assert_false(file_exists(dir));
    struct cb_store *s = NULL;
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_non_null(s);

    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);

    snprintf(want, sizeof(want), "%s/coachbox.db", dir);
    assert_string_equal(cb_store_path(s), want);
    assert_int_equal(stat(want, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_true(sb.st_size > 0);
    cb_store_close(s);
}

static void test_schema_version_and_seeded_teams(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_true(cb_store_schema_version() >= 1);
    assert_int_equal(query_int(c, "PRAGMA user_version"), cb_store_schema_version());

    static const char *const want[] = {"bury-town", "prestwich", "radcliffe",
                                       "ramsbottom-tottington", "whitefield"};
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(c, "SELECT id, name, deleted FROM teams ORDER BY id", &st),
                     CB_OK);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(n < 5);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), want[n]);
        assert_true(strlen((const char *)sqlite3_column_text(st, 1)) > 0);
        assert_int_equal(sqlite3_column_int(st, 2), 0);
        n++;
    }
    cb_stmt_done(st);
    assert_int_equal(n, 5);
    cb_store_close(s);
}

static void test_reopen_is_idempotent(void **state)
{
    (void)state;
    char dir[256], v[64];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(cb_setting_set(c, "site", "prestwich-hub"), CB_OK);
    cb_store_close(s);

    for (int round = 0; round < 2; round++) {
        s = NULL;
        assert_int_equal(cb_store_open(dir, &s), CB_OK);
        assert_int_equal(cb_store_conn(s, &c), CB_OK);
        assert_int_equal(query_int(c, "PRAGMA user_version"), cb_store_schema_version());
        assert_int_equal(query_int(c, "SELECT count(*) FROM teams"), 5);
        assert_int_equal(query_int(c, "SELECT count(*) FROM sqlite_schema WHERE name='teams'"), 1);
        assert_int_equal(cb_setting_get(c, "site", v, sizeof(v)), CB_OK);
        assert_string_equal(v, "prestwich-hub");
        cb_store_close(s);
    }
}

static void test_newer_schema_refused_and_untouched(void **state)
{
    (void)state;
    char dir[256], sql[64];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    char path[300];
    snprintf(path, sizeof(path), "%s", cb_store_path(s));
    cb_store_close(s);
    const int newer = cb_store_schema_version() + 1;
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", newer);
    raw_exec(path, sql);

    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);
    struct cb_store *out = (struct cb_store *)(uintptr_t)0x1;
    assert_int_equal(cb_store_open(dir, &out), CB_ESCHEMA);
    assert_true(out == (struct cb_store *)(uintptr_t)0x1); /* *out untouched */
    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(raw_user_version(path), newer);
    free(before);
    free(after);

    /* Refused every time, not only the first. */
    assert_int_equal(cb_store_open(dir, &out), CB_ESCHEMA);
    assert_int_equal(raw_user_version(path), newer);
}

/*
 * Migrations 12 and 13 on a database with measures and contacts (schema 11,
 * written by plain SQLite): the value columns are filled from each result
 * (numbers only), the baselines' values beside pb_* and pbt_*, and the
 * triggers keep them after; contact_months is built from the live contacts, and
 * contact_years (migration 15) from contact_months; migration 16 makes
 * measures_pairs partial; migration 17 recreates the measures' triggers (the
 * checks after the migrations run through those).
 */
static void test_migrations_12_13_report_columns(void **state)
{
    (void)state;
    char dir[256], path[300];
    new_dir(dir, sizeof(dir));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/coachbox.db", dir);
    assert_true(cb_migrations_count >= 12);
    for (int i = 0; i < 11; i++) {
        raw_exec(path, cb_migrations[i]);
    }
    raw_exec(path, "PRAGMA user_version=11");
#define M(ID, P, IN, TP, AT, SC, RES, TEAM)                                                        \
    "INSERT INTO measures(id, participant_id, instrument, timepoint, taken_at, responses, score,"  \
    " rule_version, complete, result, team, created_at, updated_at) VALUES ('" ID "', '" P         \
    "', '" IN "', '" TP "', '" AT "', '{}', " SC ", 't', 1, '" RES "', '" TEAM "', '" AT "', '" AT \
    "');"
    raw_exec(
        path,
        M("m1", "pa", "ons4", "baseline", "2026-01-01T10:00:00.000Z", "NULL",
          "{\"raw\":{\"q1\":1,\"q2\":2.5,\"q3\":3,\"q4\":4}}",
          "prestwich") M("m2", "pa", "ons4", "review", "2026-03-01T10:00:00.000Z", "NULL",
                         "{\"raw\":{\"q1\":5,\"q2\":6,\"q3\":\"7\",\"q4\":8}}", "radcliffe")
            M("m3", "pb", "bmi", "baseline", "2026-01-01T10:00:00.000Z", "25.1",
              "{\"raw\":{\"weight_kg\":80.5}}", "prestwich")
                M("m4", "pb", "bmi", "exit", "2026-03-01T10:00:00.000Z", "24.0",
                  "{\"raw\":{\"weight_kg\":77}}", "prestwich")
                    M("m5", "pc", "swemwbs", "baseline", "2026-01-01T10:00:00.000Z", "20.0",
                      "{\"raw\":{\"q1\":3}}", "prestwich")
                        M("m6", "pd", "ons4", "review", "2026-03-01T10:00:00.000Z", "NULL",
                          "{\"raw\":{\"q1\":12345678901234567890,\"q2\":1e2,\"q3\":-0,\"q4\":[7]}}",
                          "prestwich"));
#undef M
#define E(ID, P, TYPE, AT, TEAM, DEL)                                                              \
    "INSERT INTO encounters(id, participant_id, type, occurred_at, team, created_at, updated_at,"  \
    " deleted) VALUES ('" ID "', '" P "', '" TYPE "', '" AT "', '" TEAM "', '" AT "', '" AT        \
    "', " DEL ");"
    raw_exec(path,
             E("e1", "pa", "phone", "2026-01-01T00:00:00.000Z", "prestwich",
               "0") E("e2", "pa", "dna", "2026-01-31T23:59:59.999Z", "prestwich",
                      "0") E("e3", "pa", "phone", "2026-01-15T10:00:00.000Z", "prestwich", "0")
                 E("e4", "pa", "phone", "2026-01-15T10:00:00.000Z", "radcliffe", "0")
                     E("e5", "pb", "group", "2026-02-01T10:00:00.000Z", "prestwich", "1")
                         E("e6", "pb", "video", "2026-02-01 10:00", "prestwich", "0")
                             E("e7", "pa", "video", "2026-12-31T23:59:59.999Z", "prestwich", "0"));
#undef E
    struct cb_store *s = NULL;
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(query_int(c, "PRAGMA user_version"), cb_store_schema_version());
    char v[200];
    /* the values of row id: rv1..rv4 | pb_v1..pb_v4 | pbt_v1..pbt_v4 */
#define Q(C) "quote(" C "1)||' '||quote(" C "2)||' '||quote(" C "3)||' '||quote(" C "4)"
    static const char *const sql =
        "SELECT " Q("rv") "||' | '||" Q("pb_v") "||' | '||" Q("pbt_v") " FROM measures WHERE id = ";
#undef Q
    static const struct {
        const char *id, *want;
    } rows[] = {
        {"m1", "1.0 2.5 3.0 4.0 | 1.0 2.5 3.0 4.0 | 1.0 2.5 3.0 4.0"},
        /* q3 is a string: not a number; no baseline in its own team (radcliffe) */
        {"m2", "5.0 6.0 NULL 8.0 | 1.0 2.5 3.0 4.0 | NULL NULL NULL NULL"},
        {"m4", "77.0 NULL NULL NULL | 80.5 NULL NULL NULL | 80.5 NULL NULL NULL"},
        {"m5", "NULL NULL NULL NULL | NULL NULL NULL NULL | NULL NULL NULL NULL"},
        /* an integer too big for 64 bits reads as a double (as json_extract); an array is not
         * a number */
        {"m6",
         "1.23456789012345671677e+19 100.0 0.0 NULL | NULL NULL NULL NULL | NULL NULL NULL NULL"},
    };
    char q[600];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(q, sizeof(q), "%s'%s'", sql, rows[i].id);
        query_text(c, q, v, sizeof(v));
        assert_string_equal(v, rows[i].want);
    }
    /* the triggers keep them: a rescored baseline moves its follow-up's baseline values */
    assert_int_equal(cb_conn_exec(c, "UPDATE measures SET result = '{\"raw\":{\"weight_kg\":"
                                     "90}}' WHERE id = 'm3'"),
                     CB_OK);
    snprintf(q, sizeof(q), "%s'm4'", sql);
    query_text(c, q, v, sizeof(v));
    assert_string_equal(v, "77.0 NULL NULL NULL | 90.0 NULL NULL NULL | 90.0 NULL NULL NULL");
    /* migration 13: live contacts of canonical time by team, month and person (e5 is
     * tombstoned, e6's time is not canonical: read from encounters_odd_time instead) */
    query_text(
        c,
        "SELECT group_concat(team || ' ' || month || ' ' || participant_id || ' ' || n || ' ' "
        "|| c_drop_in || c_one_to_one || c_phone || c_video || c_group || c_dna, '; ') FROM "
        "(SELECT * FROM contact_months ORDER BY 1, 2, 3)",
        v, sizeof(v));
    assert_string_equal(v, "prestwich 2026-01 pa 3 002001; prestwich 2026-12 pa 1 000100; "
                           "radcliffe 2026-01 pa 1 001000");
    /* migration 15: the same per year, built from contact_months */
    query_text(
        c,
        "SELECT group_concat(team || ' ' || year || ' ' || participant_id || ' ' || n || ' ' "
        "|| c_drop_in || c_one_to_one || c_phone || c_video || c_group || c_dna, '; ') FROM "
        "(SELECT * FROM contact_years ORDER BY 1, 2, 3)",
        v, sizeof(v));
    assert_string_equal(v, "prestwich 2026 pa 4 002101; radcliffe 2026 pa 1 001000");
    query_text(c,
               "SELECT group_concat(id) FROM encounters INDEXED BY encounters_odd_time WHERE "
               "NOT " CB_CANON_TIME("occurred_at"),
               v, sizeof(v));
    assert_string_equal(v, "e6");
    cb_store_close(s);
}

/*
 * BUG (store.c, conn_open / cb_store_open): a newer database that is not in
 * WAL mode (e.g. a restored backup made with VACUUM INTO or the sqlite3 CLI
 * .backup) is modified before it is refused: conn_open() runs
 * "PRAGMA journal_mode=WAL" before migrate() checks user_version, which
 * rewrites the file header (bytes 18-19) and leaves the file in WAL mode.
 * store.h says such a database is refused; the brief says "left untouched".
 */
static void test_BUG_newer_rollback_journal_db_is_modified(void **state)
{
    (void)state;
    char dir[256], path[300];
    new_dir(dir, sizeof(dir));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/coachbox.db", dir);
    raw_exec(path, "CREATE TABLE future(x); INSERT INTO future VALUES (1);"
                   "PRAGMA user_version=999;");
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);
    assert_true(n0 >= 100);
    assert_int_equal(before[18], 1); /* legacy (rollback journal) format */
    struct cb_store *out = NULL;
    assert_int_equal(cb_store_open(dir, &out), CB_ESCHEMA);
    assert_null(out);
    unsigned char *after = slurp(path, &n1);
    int same = n0 == n1 && memcmp(before, after, n0) == 0;
    if (!same) {
        print_error("file changed: header bytes 18,19 were %d,%d and are now %d,%d\n", before[18],
                    before[19], n1 > 19 ? after[18] : -1, n1 > 19 ? after[19] : -1);
    }
    free(before);
    free(after);
    assert_true(same);
}

static void test_not_a_database_refused_unchanged(void **state)
{
    (void)state;
    char dir[256], path[300], wal[320];
    new_dir(dir, sizeof(dir));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/coachbox.db", dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 400; i++) {
        fprintf(f, "this is not a database, line %d\n", i);
    }
    fclose(f);
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);
    struct cb_store *out = NULL;
    int rc = cb_store_open(dir, &out);
    assert_int_equal(rc, CB_ECORRUPT);
    assert_null(out);
    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_false(file_exists(wal));
    free(before);
    free(after);
}

static void test_bad_data_dir(void **state)
{
    (void)state;
    char dir[256], file[300], deep[300];
    struct cb_store *out = NULL;
    /* A path that is a regular file. */
    new_dir(file, sizeof(file));
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(cb_store_open(file, &out), CB_EIO);
    assert_null(out);
    /* A directory whose parent does not exist. */
    new_dir(dir, sizeof(dir));
    snprintf(deep, sizeof(deep), "%s/missing/child", dir);
    assert_int_equal(cb_store_open(deep, &out), CB_EIO);
    assert_null(out);
    assert_false(file_exists(deep));
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */
/* ------------------------------------------------------------------------ */

static void check_pragmas(struct cb_conn *c)
{
    char mode[32];
    query_text(c, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(query_int(c, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(query_int(c, "PRAGMA foreign_keys"), 1);
}

struct thread_arg {
    struct cb_store *s;
    pthread_barrier_t *barrier;
    struct cb_conn *conn; /* freed when the thread exits: compare, never use */
    sqlite3 *db;
    int rc;
    long long teams;
    char mode[32];
    long long sync;
    long long fk;
    const char *setting_key; /* if set, read this setting */
    int setting_rc;
    char setting[64];
};

static void *conn_thread(void *p)
{
    struct thread_arg *a = p;
    a->rc = cb_store_conn(a->s, &a->conn);
    if (a->rc == CB_OK) {
        sqlite3_stmt *st = NULL;
        a->db = cb_conn_db(a->conn);
        if (cb_conn_prepare(a->conn, "SELECT count(*) FROM teams", &st) == CB_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            a->teams = sqlite3_column_int64(st, 0);
        }
        cb_stmt_done(st);
        if (cb_conn_prepare(a->conn, "PRAGMA journal_mode", &st) == CB_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            snprintf(a->mode, sizeof(a->mode), "%s", (const char *)sqlite3_column_text(st, 0));
        }
        cb_stmt_done(st);
        if (cb_conn_prepare(a->conn, "PRAGMA synchronous", &st) == CB_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            a->sync = sqlite3_column_int64(st, 0);
        }
        cb_stmt_done(st);
        if (cb_conn_prepare(a->conn, "PRAGMA foreign_keys", &st) == CB_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            a->fk = sqlite3_column_int64(st, 0);
        }
        cb_stmt_done(st);
        if (a->setting_key) {
            a->setting_rc = cb_setting_get(a->conn, a->setting_key, a->setting, sizeof(a->setting));
        }
    }
    if (a->barrier) {
        /* Stay alive until every thread has its connection. */
        pthread_barrier_wait(a->barrier);
    }
    return NULL;
}

static void test_connection_pragmas(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    check_pragmas(c);
    int timeout = -1;
    /* busy timeout is set (non-zero) */
    sqlite3 *db = cb_conn_db(c);
    assert_non_null(db);
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(c, "PRAGMA busy_timeout", &st), CB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    timeout = sqlite3_column_int(st, 0);
    cb_stmt_done(st);
    assert_true(timeout > 0);

    /* A connection opened later by another thread is configured the same. */
    struct thread_arg a;
    memset(&a, 0, sizeof(a));
    a.s = s;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, conn_thread, &a), 0);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, CB_OK);
    assert_string_equal(a.mode, "wal");
    assert_int_equal(a.sync, 2);
    assert_int_equal(a.fk, 1);
    cb_store_close(s);
}

/* PRAGMA temp_store of c (0 default, 1 file, 2 memory). */
static int temp_store_of(struct cb_conn *c)
{
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(c, "PRAGMA temp_store", &st), CB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    cb_stmt_done(st);
    return v;
}

/* Sync connections (a thread's own and lent ones) keep statement journals in
 * memory: past 64 KiB SQLite would write the journal of a statement that writes
 * many rows to a temporary file, a pwrite per page.  Ordinary ones keep SQLite's
 * default.  The journal still rolls a failed statement back: a row refused by a
 * unique key leaves the transaction's earlier rows and no part of the statement.
 * And triggers do not fire on sync connections (derived.h); on others they do. */
static void test_sync_connections_journal_in_memory(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *own, *lent, *plain;
    assert_int_equal(cb_store_sync_conn(s, &own), CB_OK);
    assert_int_equal(cb_store_sync_conn_take(s, &lent), CB_OK);
    assert_int_equal(cb_store_conn(s, &plain), CB_OK);
    assert_int_equal(temp_store_of(own), 2);
    assert_int_equal(temp_store_of(lent), 2);
    assert_int_equal(temp_store_of(plain), 0);

    assert_int_equal(cb_conn_exec(own, "CREATE TABLE t(a INTEGER UNIQUE, b TEXT);"
                                       "CREATE TABLE n(c INTEGER);"
                                       "CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN "
                                       "INSERT INTO n VALUES (NEW.a); END;"),
                     CB_OK);
    assert_int_equal(cb_conn_begin(own), CB_OK);
    assert_int_equal(cb_conn_exec(own, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                       "FROM k WHERE i < 2000) INSERT INTO t SELECT i, "
                                       "printf('%0500d', i) FROM k"),
                     CB_OK);
    /* Writes 1,000 rows (well past 64 KiB of journal), then fails. */
    assert_int_not_equal(cb_conn_exec(own, "WITH RECURSIVE k(i) AS (SELECT 3001 UNION ALL SELECT "
                                           "i - 1 FROM k WHERE i > 1) INSERT INTO t SELECT i, "
                                           "printf('%0500d', i) FROM k"),
                         CB_OK);
    assert_int_equal(cb_conn_commit(own), CB_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        cb_conn_prepare(own, "SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM n)", &st),
        CB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2000);
    assert_int_equal(sqlite3_column_int(st, 1), 0); /* no trigger on a sync connection */
    cb_stmt_done(st);
    assert_int_equal(cb_conn_exec(plain, "INSERT INTO t VALUES (5000, 'x')"), CB_OK);
    assert_int_equal(query_int(plain, "SELECT count(*) FROM n WHERE c = 5000"), 1);
    assert_int_equal(cb_conn_exec(lent, "INSERT INTO t VALUES (5001, 'x')"), CB_OK);
    assert_int_equal(query_int(lent, "SELECT count(*) FROM n"), 1);
    cb_store_sync_conn_put(s, lent);
    cb_store_close(s);
}

static void test_connection_per_thread(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c0, *c0b;
    assert_int_equal(cb_store_conn(s, &c0), CB_OK);
    assert_int_equal(cb_store_conn(s, &c0b), CB_OK);
    assert_ptr_equal(c0, c0b); /* same thread, same connection */

    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    struct thread_arg a[2];
    pthread_t th[2];
    memset(a, 0, sizeof(a));
    for (int i = 0; i < 2; i++) {
        a[i].s = s;
        a[i].barrier = &barrier;
        assert_int_equal(pthread_create(&th[i], NULL, conn_thread, &a[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(a[i].rc, CB_OK);
        assert_non_null(a[i].conn);
        assert_int_equal(a[i].teams, 5);
        assert_ptr_not_equal(a[i].conn, c0);
    }
    assert_ptr_not_equal(a[0].conn, a[1].conn);
    assert_ptr_not_equal(a[0].db, a[1].db);
    assert_ptr_not_equal(a[0].db, cb_conn_db(c0));
    /* The main thread's connection survives the other threads' exit. */
    assert_int_equal(cb_store_conn(s, &c0b), CB_OK);
    assert_ptr_equal(c0, c0b);
    assert_int_equal(query_int(c0, "SELECT count(*) FROM teams"), 5);
    cb_store_close(s);
}

static void test_two_stores_in_one_thread(void **state)
{
    (void)state;
    char d1[256], d2[256];
    struct cb_store *s1 = open_fresh(d1, sizeof(d1));
    struct cb_store *s2 = open_fresh(d2, sizeof(d2));
    struct cb_conn *c1, *c2;
    assert_int_equal(cb_store_conn(s1, &c1), CB_OK);
    assert_int_equal(cb_store_conn(s2, &c2), CB_OK);
    assert_ptr_not_equal(c1, c2);
    assert_int_equal(cb_setting_set(c1, "k", "one"), CB_OK);
    char v[16];
    assert_int_equal(cb_setting_get(c2, "k", v, sizeof(v)), CB_ENOTFOUND);
    cb_store_close(s1);
    cb_store_close(s2);
}

/* A worker's request on another thread: borrows, checks, gives back. */
struct lend_arg {
    struct cb_store *s;
    struct cb_conn *lent;   /* compare only */
    struct cb_conn *inside; /* what cb_store_conn returned while it was lent */
    int rc, teams;
};

static void *lend_thread(void *p)
{
    struct lend_arg *a = p;
    a->rc = cb_store_request_begin(a->s, &a->lent);
    if (a->rc == CB_OK) {
        if (cb_store_conn(a->s, &a->inside) != CB_OK) {
            a->inside = NULL;
        }
        a->teams = (int)query_int(a->lent, "SELECT count(*) FROM teams");
        cb_store_request_end(a->s, a->lent);
    }
    return NULL;
}

static void test_connections_lent_per_request(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    /* Requests on two threads one after the other share one connection: the
     * first gives it back, the second borrows it; while lent it is the
     * thread's connection. */
    struct lend_arg a[2];
    memset(a, 0, sizeof(a));
    for (int i = 0; i < 2; i++) {
        pthread_t th;
        a[i].s = s;
        assert_int_equal(pthread_create(&th, NULL, lend_thread, &a[i]), 0);
        pthread_join(th, NULL);
        assert_int_equal(a[i].rc, CB_OK);
        assert_ptr_equal(a[i].inside, a[i].lent);
        assert_int_equal(a[i].teams, 5);
    }
    assert_ptr_equal(a[0].lent, a[1].lent);
    check_pragmas(a[0].lent); /* foreign keys on: an ordinary connection */

    /* The main thread opens a connection of its own: a new one (the lent one
     * is on the spare list, not this thread's). */
    struct cb_conn *own, *own2;
    assert_int_equal(cb_store_conn(s, &own), CB_OK);
    assert_ptr_not_equal(own, a[0].lent);
    /* A thread with a connection of its own keeps it: nothing is lent. */
    assert_int_equal(cb_store_request_begin(s, &own2), CB_OK);
    assert_ptr_equal(own2, own);
    cb_store_request_end(s, own2);
    assert_int_equal(cb_store_conn(s, &own2), CB_OK);
    assert_ptr_equal(own2, own); /* still this thread's */
    cb_store_request_end(s, NULL);
    cb_store_close(s);
}

static void test_sync_connections_lent(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c[3], *again;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cb_store_sync_conn_take(s, &c[i]), CB_OK);
        assert_int_equal(query_int(c[i], "PRAGMA foreign_keys"), 0);
    }
    assert_ptr_not_equal(c[0], c[1]);
    assert_ptr_not_equal(c[1], c[2]);
    /* A transaction left open is not lent again. */
    assert_int_equal(cb_conn_begin(c[2]), CB_OK);
    cb_store_sync_conn_put(s, c[2]);
    cb_store_sync_conn_put(s, c[0]);
    cb_store_sync_conn_put(s, c[1]);
    cb_store_sync_conn_put(s, NULL);
    /* Newest first: c[1], then c[0]; c[2] was closed (its write lock with it,
     * so a new write transaction can start). */
    assert_int_equal(cb_store_sync_conn_take(s, &again), CB_OK);
    assert_ptr_equal(again, c[1]);
    assert_int_equal(cb_conn_begin(again), CB_OK);
    assert_int_equal(cb_setting_set(again, "lent", "yes"), CB_OK);
    assert_int_equal(cb_conn_commit(again), CB_OK);
    cb_store_sync_conn_put(s, again);
    struct cb_conn *ord;
    char v[8];
    assert_int_equal(cb_store_conn(s, &ord), CB_OK);
    assert_int_equal(cb_setting_get(ord, "lent", v, sizeof(v)), CB_OK);
    assert_string_equal(v, "yes");
    cb_store_close(s);
}

static long long cache_used(struct cb_conn *c)
{
    int cur = 0, hi = 0;
    assert_int_equal(sqlite3_db_status(cb_conn_db(c), SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0),
                     SQLITE_OK);
    return cur;
}

static long long file_size(const char *dir, const char *name)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/*
 * Of the idle lent sync connections only the last one given back keeps its page
 * cache; their commits leave the WAL to cb_store_checkpoint.
 */
static void test_sync_connection_warm_and_checkpoint(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c0, *c1, *ord, *again;
    assert_int_equal(cb_store_conn(s, &ord), CB_OK);
    cb_store_checkpoint(ord); /* the migrations' pages */
    long long before = file_size(dir, "coachbox.db");
    assert_int_equal(cb_store_sync_conn_take(s, &c0), CB_OK);
    assert_int_equal(cb_store_sync_conn_take(s, &c1), CB_OK);
    /* ~6 MiB in one transaction: past SQLite's automatic checkpoint (1,000 pages). */
    assert_int_equal(cb_conn_begin(c0), CB_OK);
    assert_int_equal(cb_conn_exec(c0, "CREATE TABLE big(x BLOB); WITH RECURSIVE n(i) AS "
                                      "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000) "
                                      "INSERT INTO big SELECT randomblob(1000) FROM n"),
                     CB_OK);
    assert_int_equal(cb_conn_commit(c0), CB_OK);
    /* Not checkpointed at commit: the database file has not grown. */
    assert_true(file_size(dir, "coachbox.db") < before + 1024 * 1024);
    assert_true(file_size(dir, "coachbox.db-wal") > 5 * 1024 * 1024);
    assert_int_equal(cb_conn_exec(c0, "SELECT sum(length(x)) FROM big"), CB_OK);
    assert_int_equal(cb_conn_exec(c1, "SELECT sum(length(x)) FROM big"), CB_OK);
    assert_true(cache_used(c0) > 4 * 1024 * 1024);
    assert_true(cache_used(c1) > 4 * 1024 * 1024);
    /* c1 goes back first, then c0 on top of it: c1's cache is released, c0's kept. */
    cb_store_sync_conn_put(s, c1);
    assert_true(cache_used(c1) > 4 * 1024 * 1024); /* alone on the list: kept */
    cb_store_sync_conn_put(s, c0);
    assert_true(cache_used(c1) < 1024 * 1024);
    assert_true(cache_used(c0) > 4 * 1024 * 1024);
    assert_int_equal(cb_store_sync_conn_take(s, &again), CB_OK);
    assert_ptr_equal(again, c0);
    cb_store_sync_conn_put(s, again);
    /* A passive checkpoint on any connection copies the pages into the database. */
    cb_store_checkpoint(ord);
    assert_true(file_size(dir, "coachbox.db") > before + 5 * 1024 * 1024);
    cb_store_close(s);
}

/*
 * A VFS over the default one that counts the syncs of WAL files (syncs_wal):
 * registered as the default for one test, so the store's connections use it.
 */
static atomic_int syncs_wal;
static sqlite3_vfs count_vfs;
static sqlite3_vfs *real_vfs;
static struct sqlite3_io_methods count_io;

struct count_file {
    sqlite3_file base; /* pMethods: count_io, or the real file's own */
    int wal;
    /* the real file follows, szOsFile bytes */
};

static sqlite3_file *real_of(sqlite3_file *f)
{
    return (sqlite3_file *)(void *)((char *)f + sizeof(struct count_file));
}

static atomic_int fail_wal_sync; /* 1: WAL syncs fail (SQLITE_IOERR_FSYNC) */

static int count_sync(sqlite3_file *f, int flags)
{
    if (((struct count_file *)(void *)f)->wal) {
        atomic_fetch_add(&syncs_wal, 1);
        if (atomic_load(&fail_wal_sync)) {
            return SQLITE_IOERR_FSYNC;
        }
    }
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

#define FWD(name, sig, args)                                                                       \
    static int count_##name sig                                                                    \
    {                                                                                              \
        return real_of(f)->pMethods->x##name args;                                                 \
    }
FWD(Close, (sqlite3_file * f), (real_of(f)))
FWD(Read, (sqlite3_file * f, void *b, int n, sqlite3_int64 o), (real_of(f), b, n, o))
FWD(Write, (sqlite3_file * f, const void *b, int n, sqlite3_int64 o), (real_of(f), b, n, o))
FWD(Truncate, (sqlite3_file * f, sqlite3_int64 n), (real_of(f), n))
FWD(FileSize, (sqlite3_file * f, sqlite3_int64 *n), (real_of(f), n))
FWD(Lock, (sqlite3_file * f, int l), (real_of(f), l))
FWD(Unlock, (sqlite3_file * f, int l), (real_of(f), l))
FWD(CheckReservedLock, (sqlite3_file * f, int *o), (real_of(f), o))
FWD(FileControl, (sqlite3_file * f, int op, void *a), (real_of(f), op, a))
FWD(SectorSize, (sqlite3_file * f), (real_of(f)))
FWD(DeviceCharacteristics, (sqlite3_file * f), (real_of(f)))
FWD(ShmMap, (sqlite3_file * f, int i, int n, int e, void volatile **p), (real_of(f), i, n, e, p))
FWD(ShmLock, (sqlite3_file * f, int o, int n, int fl), (real_of(f), o, n, fl))
FWD(ShmUnmap, (sqlite3_file * f, int d), (real_of(f), d))
static void count_ShmBarrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}
#undef FWD

static int count_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    struct count_file *cf = (struct count_file *)(void *)f;
    cf->base.pMethods = NULL;
    cf->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = real_vfs->xOpen(real_vfs, name, real_of(f), flags, out);
    if (rc == SQLITE_OK && real_of(f)->pMethods) {
        assert_true(real_of(f)->pMethods->iVersion >= 2);
        cf->base.pMethods = &count_io;
    }
    return rc;
}

/* Install the counting VFS as the default (once). */
static void count_vfs_install(void)
{
    if (real_vfs) {
        return;
    }
    real_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(real_vfs);
    count_vfs = *real_vfs;
    count_vfs.zName = "coachbox-count";
    count_vfs.szOsFile = (int)sizeof(struct count_file) + real_vfs->szOsFile;
    count_vfs.xOpen = count_open;
    count_io = (struct sqlite3_io_methods){2,
                                           count_Close,
                                           count_Read,
                                           count_Write,
                                           count_Truncate,
                                           count_sync,
                                           count_FileSize,
                                           count_Lock,
                                           count_Unlock,
                                           count_CheckReservedLock,
                                           count_FileControl,
                                           count_SectorSize,
                                           count_DeviceCharacteristics,
                                           count_ShmMap,
                                           count_ShmLock,
                                           count_ShmBarrier,
                                           count_ShmUnmap,
                                           NULL,
                                           NULL};
    assert_int_equal(sqlite3_vfs_register(&count_vfs, 1), SQLITE_OK);
}

/*
 * cb_conn_begin_unsynced: its commits do not sync the WAL; cb_conn_sync_wal
 * does (once, and only then), and puts the connection back to
 * synchronous=FULL; a connection given back unsynced is synced by
 * cb_store_sync_conn_put; a thread's own sync connection works the same way.
 */
static void test_sync_connection_unsynced_commit(void **state)
{
    (void)state;
    char dir[256];
    count_vfs_install();
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c, *again;
    assert_int_equal(cb_store_sync_conn_take(s, &c), CB_OK);
    assert_int_equal(query_int(c, "PRAGMA synchronous"), 2);
    /* An ordinary commit waits for the disk. */
    int n0 = atomic_load(&syncs_wal);
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(cb_setting_set(c, "k", "1"), CB_OK);
    assert_int_equal(cb_conn_commit(c), CB_OK);
    assert_true(atomic_load(&syncs_wal) > n0);
    /* Unsynced: visible at once, nothing synced until cb_conn_sync_wal. */
    for (int i = 0; i < 2; i++) {
        n0 = atomic_load(&syncs_wal);
        assert_int_equal(cb_conn_begin_unsynced(c), CB_OK);
        assert_int_equal(query_int(c, "PRAGMA synchronous"), 1);
        assert_int_equal(cb_setting_set(c, "k", i ? "3" : "2"), CB_OK);
        assert_int_equal(cb_conn_commit(c), CB_OK);
        assert_int_equal(atomic_load(&syncs_wal), n0);
    }
    struct cb_conn *ord;
    char v[8];
    assert_int_equal(cb_store_conn(s, &ord), CB_OK);
    assert_int_equal(cb_setting_get(ord, "k", v, sizeof(v)), CB_OK);
    assert_string_equal(v, "3");
    assert_int_equal(cb_conn_sync_wal(c), CB_OK);
    assert_int_equal(atomic_load(&syncs_wal), n0 + 1);
    assert_int_equal(query_int(c, "PRAGMA synchronous"), 2);
    /* Nothing to do on a connection whose commits were synced. */
    assert_int_equal(cb_conn_sync_wal(c), CB_OK);
    assert_int_equal(atomic_load(&syncs_wal), n0 + 1);
    /* Given back unsynced: put syncs, and the connection is lent again as FULL. */
    assert_int_equal(cb_conn_begin_unsynced(c), CB_OK);
    assert_int_equal(cb_setting_set(c, "k", "4"), CB_OK);
    assert_int_equal(cb_conn_commit(c), CB_OK);
    n0 = atomic_load(&syncs_wal);
    cb_store_sync_conn_put(s, c);
    assert_int_equal(atomic_load(&syncs_wal), n0 + 1);
    assert_int_equal(cb_store_sync_conn_take(s, &again), CB_OK);
    assert_ptr_equal(again, c);
    assert_int_equal(query_int(again, "PRAGMA synchronous"), 2);
    cb_store_sync_conn_put(s, again);
    /* A thread's own sync connection (a site's rounds) too. */
    struct cb_conn *own;
    assert_int_equal(cb_store_sync_conn(s, &own), CB_OK);
    n0 = atomic_load(&syncs_wal);
    assert_int_equal(cb_conn_begin_unsynced(own), CB_OK);
    assert_int_equal(cb_setting_set(own, "k", "5"), CB_OK);
    assert_int_equal(cb_conn_commit(own), CB_OK);
    assert_int_equal(atomic_load(&syncs_wal), n0);
    assert_int_equal(cb_conn_sync_wal(own), CB_OK);
    assert_int_equal(atomic_load(&syncs_wal), n0 + 1);
    assert_int_equal(query_int(own, "PRAGMA synchronous"), 2);
    /* A plain begin on a connection left unsynced syncs it first. */
    assert_int_equal(cb_conn_begin_unsynced(own), CB_OK);
    assert_int_equal(cb_setting_set(own, "k", "6"), CB_OK);
    assert_int_equal(cb_conn_commit(own), CB_OK);
    n0 = atomic_load(&syncs_wal);
    assert_int_equal(cb_conn_begin(own), CB_OK);
    assert_int_equal(atomic_load(&syncs_wal), n0 + 1);
    assert_int_equal(cb_setting_set(own, "k", "7"), CB_OK);
    assert_int_equal(cb_conn_commit(own), CB_OK); /* FULL again: synced by COMMIT */
    assert_int_equal(atomic_load(&syncs_wal), n0 + 2);
    /* A failed sync: CB_EIO, the store marked for good, the connection not lent again. */
    assert_int_equal(cb_store_wal_failed(s), 0);
    struct cb_conn *bad, *next;
    assert_int_equal(cb_store_sync_conn_take(s, &bad), CB_OK);
    assert_int_equal(cb_conn_begin_unsynced(bad), CB_OK);
    assert_int_equal(cb_setting_set(bad, "k", "8"), CB_OK);
    assert_int_equal(cb_conn_commit(bad), CB_OK);
    atomic_store(&fail_wal_sync, 1);
    assert_int_equal(cb_conn_sync_wal(bad), CB_EIO);
    assert_int_equal(cb_store_wal_failed(s), 1);
    assert_int_equal(query_int(bad, "PRAGMA synchronous"), 1);
    cb_store_sync_conn_put(s, bad); /* its sync fails again: closed, not lent */
    atomic_store(&fail_wal_sync, 0);
    assert_int_equal(cb_store_sync_conn_take(s, &next), CB_OK);
    assert_int_equal(query_int(next, "PRAGMA synchronous"), 2);
    cb_store_sync_conn_put(s, next);
    assert_int_equal(cb_store_wal_failed(s), 1);
    cb_store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Statements                                                                */
/* ------------------------------------------------------------------------ */

static void test_statement_cache_reuse(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    const char *sql = "SELECT id FROM teams WHERE id >= ?1 ORDER BY id";
    sqlite3_stmt *a, *b, *other;
    assert_int_equal(cb_conn_prepare(c, sql, &a), CB_OK);
    sqlite3_bind_text(a, 1, "r", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(a, 0), "radcliffe");
    /* Left mid-iteration with a binding: the cache hands it back reset and cleared. */
    assert_int_equal(cb_conn_prepare(c, sql, &b), CB_OK);
    assert_ptr_equal(a, b);
    assert_int_equal(sqlite3_step(b), SQLITE_DONE); /* ?1 is NULL now: no rows */
    cb_stmt_done(b);
    /* A copy of the SQL text in another buffer hits the same entry. */
    char copy[128];
    snprintf(copy, sizeof(copy), "%s", sql);
    assert_int_equal(cb_conn_prepare(c, copy, &b), CB_OK);
    assert_ptr_equal(a, b);
    cb_stmt_done(b);
    assert_int_equal(cb_conn_prepare(c, "SELECT count(*) FROM teams", &other), CB_OK);
    assert_ptr_not_equal(other, a);
    cb_stmt_done(other);

    /* cb_stmt_done resets and clears */
    assert_int_equal(cb_conn_prepare(c, "SELECT ?1", &a), CB_OK);
    sqlite3_bind_int(a, 1, 42);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(a, 0), 42);
    cb_stmt_done(a);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(a, 0), SQLITE_NULL);
    cb_stmt_done(a);
    cb_stmt_done(NULL); /* safe */
    cb_store_close(s);
}

static void test_statement_cache_eviction(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    /* Far more distinct statements than the cache holds, forwards then backwards,
     * their texts of every length modulo 8 (the hash reads 8 bytes at a time):
     * each is the statement of its own text, and the same handle while kept. */
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < 250; k++) {
            int i = round ? 249 - k : k;
            char sql[64];
            sqlite3_stmt *st, *again;
            snprintf(sql, sizeof(sql), "SELECT %d + count(*) FROM teams%*s", i, i % 17, "");
            assert_int_equal(query_int(c, sql), i + 5);
            assert_int_equal(cb_conn_prepare(c, sql, &st), CB_OK);
            assert_int_equal(cb_conn_prepare(c, sql, &again), CB_OK);
            assert_ptr_equal(st, again);
            assert_string_equal(sqlite3_sql(again), sql);
            cb_stmt_done(again);
        }
    }
    cb_store_close(s);
}

static void test_prepare_and_exec_errors(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    sqlite3_stmt *st = NULL;
    int rc = cb_conn_prepare(c, "SELECT nope FROM no_such_table", &st);
    assert_int_not_equal(rc, CB_OK);
    assert_int_equal(rc, CB_EDB);
    /* And a bad statement is not cached: asking again fails again. */
    assert_int_equal(cb_conn_prepare(c, "SELECT nope FROM no_such_table", &st), CB_EDB);
    assert_int_equal(cb_conn_exec(c, "THIS IS NOT SQL"), CB_EDB);
    assert_int_equal(cb_conn_exec(c, "CREATE TABLE t(x)"), CB_OK);
    assert_int_equal(cb_conn_exec(c, "INSERT INTO t VALUES (1)"), CB_OK);
    assert_int_equal(query_int(c, "SELECT x FROM t"), 1);
    cb_store_close(s);
}

static void test_store_rc_mapping(void **state)
{
    (void)state;
    assert_int_equal(cb_store_rc(SQLITE_OK), CB_OK);
    assert_int_equal(cb_store_rc(SQLITE_ROW), CB_OK);
    assert_int_equal(cb_store_rc(SQLITE_DONE), CB_OK);
    assert_int_equal(cb_store_rc(SQLITE_NOMEM), CB_ENOMEM);
    assert_int_equal(cb_store_rc(SQLITE_BUSY), CB_EBUSY);
    assert_int_equal(cb_store_rc(SQLITE_BUSY_SNAPSHOT), CB_EBUSY);
    assert_int_equal(cb_store_rc(SQLITE_LOCKED), CB_EBUSY);
    assert_int_equal(cb_store_rc(SQLITE_CONSTRAINT), CB_ECONFLICT);
    assert_int_equal(cb_store_rc(SQLITE_CONSTRAINT_UNIQUE), CB_ECONFLICT);
    assert_int_equal(cb_store_rc(SQLITE_CONSTRAINT_FOREIGNKEY), CB_ECONFLICT);
    assert_int_equal(cb_store_rc(SQLITE_FULL), CB_EFULL);
    assert_int_equal(cb_store_rc(SQLITE_READONLY), CB_EREADONLY);
    assert_int_equal(cb_store_rc(SQLITE_READONLY_DBMOVED), CB_EREADONLY);
    assert_int_equal(cb_store_rc(SQLITE_CORRUPT), CB_ECORRUPT);
    assert_int_equal(cb_store_rc(SQLITE_NOTADB), CB_ECORRUPT);
    assert_int_equal(cb_store_rc(SQLITE_CANTOPEN), CB_EIO);
    assert_int_equal(cb_store_rc(SQLITE_IOERR_WRITE), CB_EIO);
    assert_int_equal(cb_store_rc(SQLITE_PERM), CB_EIO);
    assert_int_equal(cb_store_rc(SQLITE_TOOBIG), CB_ETOOLARGE);
    assert_int_equal(cb_store_rc(SQLITE_ERROR), CB_EDB);
    assert_int_equal(cb_store_rc(SQLITE_MISUSE), CB_EDB);
}

/* ------------------------------------------------------------------------ */
/* Settings and transactions                                                 */
/* ------------------------------------------------------------------------ */

static void test_settings(void **state)
{
    (void)state;
    char dir[256], v[64];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(cb_setting_get(c, "site", v, sizeof(v)), CB_ENOTFOUND);
    assert_int_equal(cb_setting_set(c, "site", "bury"), CB_OK);
    assert_int_equal(cb_setting_get(c, "site", v, sizeof(v)), CB_OK);
    assert_string_equal(v, "bury");
    assert_int_equal(cb_setting_set(c, "site", "radcliffe-library"), CB_OK); /* overwrite */
    assert_int_equal(cb_setting_get(c, "site", v, sizeof(v)), CB_OK);
    assert_string_equal(v, "radcliffe-library");
    assert_int_equal(query_int(c, "SELECT count(*) FROM settings WHERE key='site'"), 1);
    /* Truncated to outlen, always terminated. */
    memset(v, 'x', sizeof(v));
    assert_int_equal(cb_setting_get(c, "site", v, 5), CB_OK);
    assert_string_equal(v, "radc");
    /* Keys are independent and exact. */
    assert_int_equal(cb_setting_set(c, "colour", "teal"), CB_OK);
    assert_int_equal(cb_setting_get(c, "Site", v, sizeof(v)), CB_ENOTFOUND);
    assert_int_equal(cb_setting_get(c, "colour", v, sizeof(v)), CB_OK);
    assert_string_equal(v, "teal");
    assert_int_equal(cb_setting_set(c, "empty", ""), CB_OK);
    assert_int_equal(cb_setting_get(c, "empty", v, sizeof(v)), CB_OK);
    assert_string_equal(v, "");
    cb_store_close(s);

    /* Persisted across a reopen. */
    s = NULL;
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(cb_setting_get(c, "colour", v, sizeof(v)), CB_OK);
    assert_string_equal(v, "teal");
    cb_store_close(s);
}

static int read_setting_in_thread(struct cb_store *s, const char *key, char *out, size_t len)
{
    struct thread_arg a;
    memset(&a, 0, sizeof(a));
    a.s = s;
    a.setting_key = key;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, conn_thread, &a), 0);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, CB_OK);
    snprintf(out, len, "%s", a.setting);
    return a.setting_rc;
}

static void test_transactions_commit_and_rollback(void **state)
{
    (void)state;
    char dir[256], v[64];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    sqlite3 *db = cb_conn_db(c);

    /* Rolled back: nothing of it remains. */
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(sqlite3_get_autocommit(db), 0);
    assert_int_equal(cb_setting_set(c, "a", "1"), CB_OK);
    assert_int_equal(cb_setting_set(c, "b", "2"), CB_OK);
    assert_int_equal(cb_setting_get(c, "a", v, sizeof(v)), CB_OK); /* visible inside */
    cb_conn_rollback(c);
    assert_int_equal(sqlite3_get_autocommit(db), 1);
    assert_int_equal(cb_setting_get(c, "a", v, sizeof(v)), CB_ENOTFOUND);
    assert_int_equal(cb_setting_get(c, "b", v, sizeof(v)), CB_ENOTFOUND);

    /* Uncommitted writes are invisible to another thread's connection. */
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(cb_setting_set(c, "a", "1"), CB_OK);
    assert_int_equal(cb_setting_set(c, "b", "2"), CB_OK);
    assert_int_equal(read_setting_in_thread(s, "a", v, sizeof(v)), CB_ENOTFOUND);
    assert_int_equal(cb_conn_commit(c), CB_OK);
    assert_int_equal(sqlite3_get_autocommit(db), 1);
    assert_int_equal(read_setting_in_thread(s, "b", v, sizeof(v)), CB_OK);
    assert_string_equal(v, "2");
    assert_int_equal(cb_setting_get(c, "a", v, sizeof(v)), CB_OK);

    /* Rollback outside a transaction is a harmless no-op. */
    cb_conn_rollback(c);
    assert_int_equal(cb_setting_get(c, "a", v, sizeof(v)), CB_OK);
    /* Nested BEGIN is refused and leaves the outer transaction intact. */
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_not_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(sqlite3_get_autocommit(db), 0);
    assert_int_equal(cb_setting_set(c, "c", "3"), CB_OK);
    assert_int_equal(cb_conn_commit(c), CB_OK);
    assert_int_equal(cb_setting_get(c, "c", v, sizeof(v)), CB_OK);
    /* COMMIT without a transaction is an error. */
    assert_int_not_equal(cb_conn_commit(c), CB_OK);
    cb_store_close(s);
}

static void test_failed_commit_rolls_back(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    /* A deferred foreign key violation fails at COMMIT time. */
    assert_int_equal(cb_conn_exec(c, "CREATE TABLE parent(id TEXT PRIMARY KEY);"
                                     "CREATE TABLE child(p TEXT REFERENCES parent(id) "
                                     "DEFERRABLE INITIALLY DEFERRED)"),
                     CB_OK);
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(cb_conn_exec(c, "INSERT INTO child VALUES ('orphan')"), CB_OK);
    assert_int_equal(cb_conn_commit(c), CB_ECONFLICT);
    assert_int_equal(sqlite3_get_autocommit(cb_conn_db(c)), 1); /* rolled back */
    assert_int_equal(query_int(c, "SELECT count(*) FROM child"), 0);
    cb_store_close(s);
}

static void test_foreign_keys_enforced(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(
        cb_conn_exec(c, "INSERT INTO participants(id, given_name, family_name, date_of_birth, "
                        "team, created_at, updated_at) VALUES ('p1', 'A', 'B', '1980-01-01', "
                        "'atlantis', 'x', 'x')"),
        CB_ECONFLICT);
    assert_int_equal(query_int(c, "SELECT count(*) FROM participants"), 0);
    cb_store_close(s);
}

static void test_audit_events_append_only(void **state)
{
    (void)state;
    char dir[256], v[64];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(cb_conn_exec(c, "INSERT INTO audit_events(at, action, outcome) "
                                     "VALUES ('2026-01-01T00:00:00.000Z', 'test', 'ok')"),
                     CB_OK);
    long long n = query_int(c, "SELECT count(*) FROM audit_events");
    assert_true(n >= 1);
    assert_int_not_equal(cb_conn_exec(c, "UPDATE audit_events SET action = 'forged'"), CB_OK);
    assert_int_not_equal(cb_conn_exec(c, "UPDATE audit_events SET outcome = 'denied' "
                                         "WHERE action = 'test'"),
                         CB_OK);
    assert_int_not_equal(cb_conn_exec(c, "DELETE FROM audit_events"), CB_OK);
    assert_int_not_equal(cb_conn_exec(c, "DELETE FROM audit_events WHERE action = 'test'"), CB_OK);
    assert_int_equal(query_int(c, "SELECT count(*) FROM audit_events"), n);
    assert_int_equal(query_int(c, "SELECT count(*) FROM audit_events WHERE action='forged'"), 0);
    query_text(c, "SELECT outcome FROM audit_events WHERE action='test'", v, sizeof(v));
    assert_string_equal(v, "ok");
    /* Also inside a transaction, and the transaction stays usable. */
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_not_equal(cb_conn_exec(c, "DELETE FROM audit_events"), CB_OK);
    assert_int_equal(cb_conn_commit(c), CB_OK);
    assert_int_equal(query_int(c, "SELECT count(*) FROM audit_events"), n);
    cb_store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Derived rows on sync connections (derived.h) against the triggers         */
/* ------------------------------------------------------------------------ */

/* Writes to measures: inserts, then updates of every watched column (a move to
 * another person, to and from instruments with pairs), a tombstone, a delete. */
static const char *const baseline_writes[] = {
#define M(id, inst, pid, tp, at, complete, score, team, result)                                    \
    "INSERT INTO measures(id, instrument, participant_id, timepoint, taken_at, responses, "        \
    "rule_version, complete, score, team, result, created_at, updated_at) VALUES ('" id            \
    "', '" inst "', '" pid "', '" tp "', '" at "', '{}', 'r1', " complete ", " score ", '" team    \
    "', " result ", '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"
    M("m1", "bmi", "p1", "baseline", "2026-01-03", "1", "27.5", "t1",
      "'{\"raw\":{\"weight_kg\":80.5}}'"),
    M("m2", "bmi", "p1", "baseline", "2026-01-02", "1", "28.5", "t2",
      "'{\"raw\":{\"weight_kg\":82}}'"),
    M("m3", "bmi", "p1", "follow_up", "2026-02-01", "1", "26.0", "t1",
      "'{\"raw\":{\"weight_kg\":\"heavy\"}}'"),
    M("m4", "bmi", "p1", "baseline", "2026-01-01", "0", "30.0", "t1", "NULL"),
    M("m5", "swemwbs", "p1", "baseline", "2026-01-05", "1", "40", "t1", "NULL"),
    M("m6", "swemwbs", "p2", "baseline", "2026-01-05", "1", "NULL", "t1", "NULL"),
    M("m7", "ons4", "p2", "baseline", "2026-01-04", "1", "NULL", "t1",
      "'{\"raw\":{\"q1\":7,\"q2\":6,\"q3\":3,\"q4\":2}}'"),
    M("m8", "phq9", "p2", "baseline", "2026-01-04", "1", "9", "t1", "NULL"),
    M("m9", "bmi", "p2", "baseline", "2026-01-09", "1", "31", "t2",
      "'{\"raw\":{\"weight_kg\":90}}'"),
    M("m10", "bmi", "p2", "follow_up", "2026-03-09", "1", "29", "t2",
      "'{\"raw\":{\"weight_kg\":86.25}}'"),
    M("m11", "ons4", "p2", "follow_up", "2026-03-04", "1", "NULL", "t1",
      "'{\"raw\":{\"q1\":8,\"q2\":7}}'"),
#undef M
    "UPDATE measures SET taken_at = '2026-01-10' WHERE id = 'm2'",
    "UPDATE measures SET timepoint = 'follow_up' WHERE id = 'm1'",
    "UPDATE measures SET team = 't2' WHERE id = 'm1'",
    "UPDATE measures SET complete = 1 WHERE id = 'm4'",
    "UPDATE measures SET responses = '{\"a\":1}' WHERE id = 'm3'",
    "UPDATE measures SET result = '{\"raw\":{\"q1\":9,\"q2\":1,\"q3\":0,\"q4\":10}}' "
    "WHERE id = 'm7'",
    "UPDATE measures SET participant_id = 'p2' WHERE id = 'm2'",
    "UPDATE measures SET instrument = 'phq9' WHERE id = 'm9'",
    "UPDATE measures SET instrument = 'phq9' WHERE id = 'm11'",
    "UPDATE measures SET instrument = 'swemwbs' WHERE id = 'm8'",
    "UPDATE measures SET deleted = 1 WHERE id = 'm5'",
    "UPDATE measures SET score = 41 WHERE id = 'm6'",
    "DELETE FROM measures WHERE id = 'm4'",
};

/* Every measure's derived columns on c, one line each in id order, then
 * measure_latest's rows. */
static void baselines_text(struct cb_conn *c, char *out, size_t len)
{
    static const char *const sql[] = {
        "SELECT id, rowid, quote(pb_at), quote(pb_score), quote(pb_row), quote(pbt_at), "
        "quote(pbt_score), quote(pbt_row), quote(rv1), quote(rv2), quote(rv3), quote(rv4), "
        "quote(pb_v1), quote(pb_v2), quote(pb_v3), quote(pb_v4), quote(pbt_v1), quote(pbt_v2), "
        "quote(pbt_v3), quote(pbt_v4) FROM measures ORDER BY id",
        "SELECT participant_id, instrument, row, taken_at, baseline FROM measure_latest ORDER BY "
        "participant_id, instrument"};
    size_t n = 0;
    out[0] = '\0';
    for (int q = 0; q < 2; q++) {
        sqlite3_stmt *st;
        assert_int_equal(cb_conn_prepare(c, sql[q], &st), CB_OK);
        int cols = sqlite3_column_count(st);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int i = 0; i < cols; i++) {
                const char *v = (const char *)sqlite3_column_text(st, i);
                int k =
                    snprintf(out + n, len - n, "%s%s", v ? v : "NULL", i == cols - 1 ? "\n" : " ");
                assert_true(k > 0 && (size_t)k < len - n);
                n += (size_t)k;
            }
        }
        cb_stmt_done(st);
    }
}

/*
 * Each statement of a group refresh reads only the group: a seek on (instrument,
 * participant) or by rowid, never a scan of measures nor measures_pairs from an
 * instrument's start (that index covers the values too, and SQLite chose it
 * once, making every measure write read every measure of its instrument); and
 * in index order, with no temporary b-tree to sort or to hold a list (migration 17).
 */
/* The plan of stmt (vals bound to ?1..) has no scan, no temporary b-tree and
 * no list subquery; measures: nor measures_pairs; contacts: no encounter read,
 * the counts' row found by its primary key. */
static void assert_group_plan(struct cb_conn *c, const char *stmt, const char *const *vals,
                              int nvals, int contacts)
{
    char sql[8192];
    int n = snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", stmt);
    assert_true(n > 0 && (size_t)n < sizeof(sql));
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(cb_conn_db(c), sql, -1, &st, NULL), SQLITE_OK);
    for (int i = 0; i < nvals; i++) {
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    }
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        assert_non_null(d);
        int bad = strncmp(d, "SCAN", 4) == 0 || strstr(d, "TEMP B-TREE") ||
                  strstr(d, "LIST SUBQUERY") ||
                  (contacts ? strstr(d, "encounters") != NULL || !strstr(d, "PRIMARY KEY")
                            : strstr(d, "measures_pairs") != NULL);
        if (bad) {
            fail_msg("%s reads or sorts too much: %s", stmt, d);
        }
        rows++;
    }
    sqlite3_finalize(st);
    /* (an INSERT of VALUES has no plan: it reads nothing) */
    assert_true(rows > 0 ||
                (contacts && strncmp(stmt, "INSERT", 6) == 0 && !strstr(stmt, "SELECT")));
}

static void test_refresh_reads_only_the_group(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    static const char *const group[] = {"bmi", "p1"};
    for (int i = 0; cb_migrations_measures_refresh[i]; i++) {
        assert_group_plan(c, cb_migrations_measures_refresh[i], group, 2, 0);
    }
    /* the contact counts move by a delta: the group's row by its key, and no
     * contact is read at all */
    static const char *const month[] = {"prestwich", "2026-01", "p1"};
    static const char *const year[] = {"prestwich", "2026", "p1"};
    for (int i = 0; cb_migrations_contacts_delta[i]; i++) {
        assert_group_plan(c, cb_migrations_contacts_delta[i], i < 2 ? month : year, 3, 1);
    }
    cb_store_close(s);
}

/*
 * The measures' triggers (migration 17) open no temporary b-tree: every write
 * path's program (insert, an update of every watched column, delete), the
 * triggers' sub-programs included, has no OpenEphemeral.  They opened four to
 * six on every firing before (a sort per baseline pick, an IN list).
 */
static void test_measures_triggers_no_temp_btrees(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    static const char *const writes[] = {
        "INSERT INTO measures(id, participant_id, instrument, timepoint, taken_at, responses,"
        " rule_version, complete, team, created_at, updated_at) VALUES ('m', 'p', 'bmi',"
        " 'baseline', 't', '{}', 'r', 1, 'prestwich', 't', 't')",
        "UPDATE measures SET participant_id = 'q', instrument = 'ons4', timepoint = 'exit',"
        " taken_at = 'u', complete = 0, score = 1, team = 'radcliffe', deleted = 1, result = '{}'"
        " WHERE id = 'm'",
        "DELETE FROM measures WHERE id = 'm'",
    };
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        char sql[1024];
        int n = snprintf(sql, sizeof(sql), "EXPLAIN %s", writes[i]);
        assert_true(n > 0 && (size_t)n < sizeof(sql));
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(cb_conn_db(c), sql, -1, &st, NULL), SQLITE_OK);
        int ops = 0, programs = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *op = (const char *)sqlite3_column_text(st, 1);
            assert_non_null(op);
            if (strcmp(op, "OpenEphemeral") == 0) {
                fail_msg("write %zu opens a temporary b-tree at %d", i, sqlite3_column_int(st, 0));
            }
            programs += strcmp(op, "Program") == 0;
            ops++;
        }
        sqlite3_finalize(st);
        /* the triggers are there, and their programs were listed */
        assert_true(programs >= 2);
        assert_true(ops > 200);
    }
    cb_store_close(s);
}

/* Writes to encounters: inserts, a tombstone, a move of month, team and
 * person, odd times (one made canonical), a delete, an edit that moves no
 * count, a deleted flag that is not a number, a restore and a tombstone again. */
static const char *const contact_writes[] = {
#define E(id, pid, type, at, team)                                                                 \
    "INSERT INTO encounters(id, participant_id, type, occurred_at, team, created_at, updated_at)"  \
    " VALUES ('" id "', '" pid "', '" type "', '" at "', '" team "', '2026-01-01T00:00:00.000Z', " \
    "'2026-01-01T00:00:00.000Z')"
    E("e1", "p1", "phone", "2026-01-05T10:00:00.000Z", "t1"),
    E("e2", "p1", "drop_in", "2026-01-31T23:59:59.999Z", "t1"),
    E("e3", "p1", "dna", "2026-02-01T00:00:00.000Z", "t1"),
    E("e4", "p2", "group", "2025-12-31T10:00:00.000Z", "t2"),
    E("e5", "p2", "video", "2026-01-05 10:00", "t2"),
    E("e6", "p2", "one_to_one", "2026-03-05T10:00:00.000Z", "t2"),
    /* a type without a column of its own; times almost canonical */
    E("e7", "p3", "email", "2026-04-01T10:00:00.000Z", "t4"),
    E("e8", "p3", "phone", "2026-13-01T10:00:00.000Z", "t4"),
    E("e9", "p3", "phone", "2026-04-00T10:00:00.000Z", "t4"),
    E("e10", "p3", "phone", "2026-04-02T10:00:00.000Zx", "t4"),
    E("e11", "p3", "video", "2026-04-02T10:00:00,000Z", "t4"),
    E("e12", "p3", "video", "2026-13-02T10:00:00.000Z", "t4"),
    E("e13", "p3", "video", "2026-00-02T10:00:00.000Z", "t4"),
#undef E
    "UPDATE encounters SET deleted = 1 WHERE id = 'e2'",
    "UPDATE encounters SET occurred_at = '2026-02-10T10:00:00.000Z' WHERE id = 'e1'",
    "UPDATE encounters SET team = 't2' WHERE id = 'e3'",
    "UPDATE encounters SET participant_id = 'p2', type = 'phone' WHERE id = 'e6'",
    "UPDATE encounters SET occurred_at = '2026-01-06T10:00:00.000Z' WHERE id = 'e5'",
    "DELETE FROM encounters WHERE id = 'e4'",
    "UPDATE encounters SET team = 't3' WHERE participant_id = 'p1'",
    "UPDATE encounters SET notes = 'no count changes' WHERE id = 'e7'",
    "UPDATE encounters SET occurred_at = '2026-04-09T10:00:00.000Z' WHERE id = 'e8'",
    "UPDATE encounters SET type = 'dna' WHERE id = 'e10'",
    "UPDATE encounters SET deleted = 'no' WHERE id = 'e7'",
    "UPDATE encounters SET deleted = 0 WHERE id = 'e2'",
    "UPDATE encounters SET deleted = 1 WHERE id = 'e2'",
};

/* contact_months and contact_years on c, one line a row, in key order. */
static void contacts_text(struct cb_conn *c, char *out, size_t len)
{
    static const char *const sql =
        "SELECT 'm', team, month, participant_id, n, c_drop_in, c_one_to_one, c_phone, c_video,"
        " c_group, c_dna FROM contact_months UNION ALL SELECT 'y', team, year, participant_id, n,"
        " c_drop_in, c_one_to_one, c_phone, c_video, c_group, c_dna FROM contact_years ORDER BY"
        " 1, 2, 3, 4";
    size_t n = 0;
    sqlite3_stmt *st;
    out[0] = '\0';
    assert_int_equal(cb_conn_prepare(c, sql, &st), CB_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < 11; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            int k = snprintf(out + n, len - n, "%s%s", v ? v : "NULL", i == 10 ? "\n" : " ");
            assert_true(k > 0 && (size_t)k < len - n);
            n += (size_t)k;
        }
    }
    cb_stmt_done(st);
}

/* Run on c, in one transaction, the inserts (phase 0) or the other writes
 * (phase 1) of baseline_writes and contact_writes. */
static void derived_writes(struct cb_conn *c, int phase)
{
    assert_int_equal(cb_conn_begin(c), CB_OK);
    for (int list = 0; list < 2; list++) {
        const char *const *w = list ? contact_writes : baseline_writes;
        size_t n = list ? sizeof(contact_writes) / sizeof(contact_writes[0])
                        : sizeof(baseline_writes) / sizeof(baseline_writes[0]);
        for (size_t i = 0; i < n; i++) {
            if ((strncmp(w[i], "INSERT", 6) == 0) == (phase == 0)) {
                assert_int_equal(cb_conn_exec(c, w[i]), CB_OK);
            }
        }
    }
}

/* c's derived columns and contact counts are the texts want and cwant. */
static void derived_as(struct cb_conn *c, const char *want, const char *cwant)
{
    char got[16384], cgot[4096];
    baselines_text(c, got, sizeof(got));
    contacts_text(c, cgot, sizeof(cgot));
    assert_string_equal(got, want);
    assert_string_equal(cgot, cwant);
}

/*
 * A sync connection has no triggers: its writes note the groups they touch
 * and cb_conn_commit recomputes each (derived.h).  The result is what the
 * triggers give on an ordinary connection, for every derived column of the
 * measures, measure_latest, contact_months and contact_years, over inserts,
 * updates of every watched column (a change of instrument and of person
 * included), tombstones and deletes.  Nothing is recomputed before the commit
 * (or cb_conn_refresh_derived); a rollback drops what was noted.
 */
static void test_sync_connection_derived_match_triggers(void **state)
{
    (void)state;
    char dir1[256], dir2[256], with[16384], cwith[4096];
    struct cb_store *s1 = open_fresh(dir1, sizeof(dir1));
    struct cb_store *s2 = open_fresh(dir2, sizeof(dir2));
    struct cb_conn *c1, *c2;
    /* The triggers, after every write: an ordinary connection (foreign keys off
     * for these person-less rows); the inserts, then in a second transaction
     * the moves, tombstones and deletes (whose old groups only the rows as
     * they were name). */
    assert_int_equal(cb_store_conn(s1, &c1), CB_OK);
    assert_int_equal(cb_conn_exec(c1, "PRAGMA foreign_keys=OFF"), CB_OK);
    derived_writes(c1, 0);
    assert_int_equal(cb_conn_commit(c1), CB_OK);
    derived_writes(c1, 1);
    assert_int_equal(cb_conn_commit(c1), CB_OK);
    baselines_text(c1, with, sizeof(with));
    contacts_text(c1, cwith, sizeof(cwith));
    assert_non_null(strstr(with, "m10 10 '2026-01-10' 28.5 2 '2026-01-10' 28.5 2 86.25 NULL "
                                 "NULL NULL 82.0 NULL NULL NULL 82.0 NULL NULL NULL\n"));
    /* m9 left bmi for phq9 (no pairs): no baselines */
    assert_non_null(strstr(with, "m9 9 NULL NULL NULL NULL NULL NULL NULL NULL NULL NULL NULL "
                                 "NULL NULL NULL NULL NULL NULL NULL\n"));
    assert_non_null(strstr(with, "p2 ons4 7 2026-01-04 1\n"));
    assert_non_null(strstr(cwith, "m t3 2026-02 p1 2 0 0 1 0 0 1\n"));
    assert_non_null(strstr(cwith, "y t3 2026 p1 2 0 0 1 0 0 1\n"));
    assert_non_null(strstr(cwith, "m t2 2026-01 p2 1 0 0 0 1 0 0\n"));
    assert_non_null(strstr(cwith, "y t2 2026 p2 2 0 0 1 1 0 0\n"));
    assert_null(strstr(cwith, "2025"));
    assert_null(strstr(cwith, "t1 ")); /* every group moved out of t1 is gone */
    /* p3: the email contact counted, then not (its deleted flag is no number);
     * the month-13 one counted once made canonical; the others never */
    assert_non_null(strstr(cwith, "m t4 2026-04 p3 1 0 0 1 0 0 0\n"));
    assert_non_null(strstr(cwith, "y t4 2026 p3 1 0 0 1 0 0 0\n"));

    /* The sync connection, the same two transactions: nothing derived until a
     * commit; then what the triggers left. */
    assert_int_equal(cb_store_sync_conn(s2, &c2), CB_OK);
    derived_writes(c2, 0);
    assert_int_equal(query_int(c2, "SELECT count(*) FROM measures WHERE pb_at IS NOT NULL"), 0);
    assert_int_equal(query_int(c2, "SELECT count(*) FROM measure_latest"), 0);
    assert_int_equal(query_int(c2, "SELECT count(*) FROM contact_months"), 0);
    assert_int_equal(cb_conn_commit(c2), CB_OK);
    assert_true(query_int(c2, "SELECT count(*) FROM contact_months WHERE team = 't1'") > 0);
    derived_writes(c2, 1);
    assert_int_equal(cb_conn_commit(c2), CB_OK);
    derived_as(c2, with, cwith);

    /* Rolled back: the rows go and so do their groups (derived_noted, below,
     * counts them); the data is as it was. */
    assert_int_equal(cb_conn_begin(c2), CB_OK);
    assert_int_equal(cb_conn_exec(c2, "UPDATE measures SET taken_at = '2025-12-01' WHERE id = "
                                      "'m6'"),
                     CB_OK);
    assert_int_equal(cb_conn_exec(c2, "DELETE FROM encounters WHERE id = 'e1'"), CB_OK);
    cb_conn_rollback(c2);
    assert_int_equal(cb_conn_begin(c2), CB_OK);
    assert_int_equal(cb_conn_refresh_derived(c2), CB_OK);
    assert_int_equal(cb_conn_commit(c2), CB_OK);
    derived_as(c2, with, cwith);

    /* cb_conn_refresh_derived inside the transaction: read back before the commit. */
    assert_int_equal(cb_conn_begin(c2), CB_OK);
    assert_int_equal(cb_conn_exec(c2, "UPDATE measures SET taken_at = '2025-12-01' WHERE id = "
                                      "'m6'"),
                     CB_OK);
    assert_int_equal(cb_conn_refresh_derived(c2), CB_OK);
    assert_int_equal(query_int(c2, "SELECT count(*) FROM measures WHERE id = 'm6' AND "
                                   "pb_at = '2025-12-01'"),
                     1);
    assert_int_equal(cb_conn_commit(c2), CB_OK);
    assert_int_equal(query_int(c2, "SELECT count(*) FROM measure_latest WHERE participant_id = "
                                   "'p2' AND instrument = 'swemwbs' AND taken_at = '2026-01-04'"),
                     1);

    /* Another connection to the same database still runs the triggers at once. */
    struct cb_conn *o2;
    assert_int_equal(cb_store_conn(s2, &o2), CB_OK);
    assert_int_equal(cb_conn_exec(o2, "UPDATE measures SET deleted = 1 WHERE id = 'm10'"), CB_OK);
    assert_int_equal(query_int(o2, "SELECT count(*) FROM measure_latest WHERE participant_id = "
                                   "'p2' AND instrument = 'bmi' AND row = 2"),
                     1);
    cb_store_close(s1);
    cb_store_close(s2);
}

/* xorshift64*: the random writes below, the same on every run. */
static uint64_t rnd_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ULL;
}

static const char *rnd_pick(uint64_t *x, const char *const *list, size_t n)
{
    return list[rnd_next(x) % n];
}

/* A column of the random writes and the SQL literals it may take. */
struct rnd_col {
    const char *name;
    const char *const *vals;
    size_t n;
};
#define RND_COL(name, list)                                                                        \
    {                                                                                              \
        name, list, sizeof(list) / sizeof(list[0])                                                 \
    }

static const char *const rnd_pids[] = {"'p1'", "'p2'", "'p3'"};
static const char *const rnd_teams[] = {"'t1'", "'t2'", "'t3'"};
static const char *const rnd_types[] = {"'drop_in'", "'one_to_one'", "'phone'", "'video'",
                                        "'group'",   "'dna'",        "'email'"};
static const char *const rnd_times[] = {"'2026-01-05T10:00:00.000Z'", "'2026-01-31T23:59:59.999Z'",
                                        "'2026-02-01T00:00:00.000Z'", "'2025-12-31T10:00:00.000Z'",
                                        "'2026-13-01T10:00:00.000Z'", "'2026-01-05 10:00'",
                                        "'2026-04-00T10:00:00.000Z'"};
static const char *const rnd_deleted[] = {"0", "1", "'x'", "0.0"};
static const char *const rnd_notes[] = {"'n'"};
static const char *const rnd_instruments[] = {"'bmi'", "'ons4'", "'swemwbs'", "'phq9'", "'gppaq'"};
static const char *const rnd_timepoints[] = {"'baseline'", "'follow_up'"};
static const char *const rnd_days[] = {"'2026-01-02'", "'2026-01-03'", "'2026-02-01'"};
static const char *const rnd_flags[] = {"0", "1", "1"};
static const char *const rnd_scores[] = {"NULL", "27.5", "30", "41", "9"};
static const char *const rnd_results[] = {"NULL", "'{\"raw\":{\"weight_kg\":80.5}}'",
                                          "'{\"raw\":{\"q1\":7,\"q2\":6,\"q3\":3,\"q4\":2}}'"};
static const struct rnd_col rnd_encounter_cols[] = {
    RND_COL("participant_id", rnd_pids), RND_COL("type", rnd_types),
    RND_COL("occurred_at", rnd_times),   RND_COL("team", rnd_teams),
    RND_COL("deleted", rnd_deleted),     RND_COL("notes", rnd_notes)};
static const struct rnd_col rnd_measure_cols[] = {
    RND_COL("participant_id", rnd_pids),  RND_COL("instrument", rnd_instruments),
    RND_COL("timepoint", rnd_timepoints), RND_COL("taken_at", rnd_days),
    RND_COL("complete", rnd_flags),       RND_COL("score", rnd_scores),
    RND_COL("team", rnd_teams),           RND_COL("result", rnd_results),
    RND_COL("deleted", rnd_flags)};

/* One random write to encounters or measures (SQL into sql): an insert (the
 * first four or eight columns random), an update of one random column, or a
 * delete.  *ne and *nm count the rows inserted so far (ids e1.., m1..). */
static void random_write(uint64_t *x, int *ne, int *nm, char *sql, size_t len)
{
    int measures = rnd_next(x) % 2;
    const struct rnd_col *cols = measures ? rnd_measure_cols : rnd_encounter_cols;
    size_t ncols = measures ? sizeof(rnd_measure_cols) / sizeof(rnd_measure_cols[0])
                            : sizeof(rnd_encounter_cols) / sizeof(rnd_encounter_cols[0]);
    const char *table = measures ? "measures" : "encounters";
    int *n = measures ? nm : ne;
    char prefix = measures ? 'm' : 'e';
    int k;
    if (rnd_next(x) % 5 < 2) {
        const char *v[8];
        for (size_t i = 0; i < 8; i++) {
            v[i] = i < ncols ? rnd_pick(x, cols[i].vals, cols[i].n) : "";
        }
        k = measures ? snprintf(sql, len,
                                "INSERT INTO measures(id, participant_id, instrument, timepoint, "
                                "taken_at, complete, score, team, result, responses, "
                                "rule_version, created_at, updated_at) VALUES ('m%d', %s, %s, %s, "
                                "%s, %s, %s, %s, %s, '{}', 'r1', '2026-01-01T00:00:00.000Z', "
                                "'2026-01-01T00:00:00.000Z')",
                                ++*n, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7])
                     : snprintf(sql, len,
                                "INSERT INTO encounters(id, participant_id, type, occurred_at, "
                                "team, created_at, updated_at) VALUES ('e%d', %s, %s, %s, %s, "
                                "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
                                ++*n, v[0], v[1], v[2], v[3]);
    } else {
        int id = *n ? (int)(rnd_next(x) % (uint64_t)*n) + 1 : 1;
        size_t c = rnd_next(x) % (ncols + 1);
        k = c == ncols ? snprintf(sql, len, "DELETE FROM %s WHERE id = '%c%d'", table, prefix, id)
                       : snprintf(sql, len, "UPDATE %s SET %s = %s WHERE id = '%c%d'", table,
                                  cols[c].name, rnd_pick(x, cols[c].vals, cols[c].n), prefix, id);
    }
    assert_true(k > 0 && (size_t)k < len);
}

/*
 * Random transactions of writes to encounters and measures, the same on an
 * ordinary connection (the triggers) and on a sync connection (derived.c: the
 * measures recomputed per group, the contact counts moved by deltas), some
 * rolled back: after each, every derived column and row is the same on both.
 */
static void test_sync_connection_derived_random(void **state)
{
    (void)state;
    enum { TEXT = 1 << 20 };
    char dir1[256], dir2[256], sql[1024];
    char *b1 = malloc(TEXT), *b2 = malloc(TEXT), *c1t = malloc(TEXT), *c2t = malloc(TEXT);
    assert_non_null(b1 && b2 && c1t && c2t);
    struct cb_store *s1 = open_fresh(dir1, sizeof(dir1));
    struct cb_store *s2 = open_fresh(dir2, sizeof(dir2));
    struct cb_conn *c1, *c2;
    assert_int_equal(cb_store_conn(s1, &c1), CB_OK);
    assert_int_equal(cb_conn_exec(c1, "PRAGMA foreign_keys=OFF"), CB_OK);
    assert_int_equal(cb_store_sync_conn(s2, &c2), CB_OK);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    int ne = 0, nm = 0;
    for (int t = 0; t < 60; t++) {
        int ne0 = ne, nm0 = nm;
        int rollback = rnd_next(&x) % 5 == 0;
        assert_int_equal(cb_conn_begin(c1), CB_OK);
        assert_int_equal(cb_conn_begin(c2), CB_OK);
        int writes = 1 + (int)(rnd_next(&x) % 30);
        for (int w = 0; w < writes; w++) {
            random_write(&x, &ne, &nm, sql, sizeof(sql));
            int r1 = cb_conn_exec(c1, sql);
            assert_int_equal(cb_conn_exec(c2, sql), r1);
        }
        if (rollback) {
            cb_conn_rollback(c1);
            cb_conn_rollback(c2);
            ne = ne0; /* the ids are free again */
            nm = nm0;
        } else {
            assert_int_equal(cb_conn_commit(c1), CB_OK);
            assert_int_equal(cb_conn_commit(c2), CB_OK);
        }
        baselines_text(c1, b1, TEXT);
        baselines_text(c2, b2, TEXT);
        contacts_text(c1, c1t, TEXT);
        contacts_text(c2, c2t, TEXT);
        if (strcmp(b1, b2) != 0 || strcmp(c1t, c2t) != 0) {
            fail_msg("transaction %d: the sync connection's derived rows differ from the "
                     "triggers'\n--- triggers:\n%s%s--- sync connection:\n%s%s",
                     t, b1, c1t, b2, c2t);
        }
    }
    /* the writes reached every kind of derived row */
    assert_true(query_int(c2, "SELECT count(*) FROM contact_months") > 0);
    assert_true(query_int(c2, "SELECT count(*) FROM measure_latest") > 0);
    assert_true(query_int(c2, "SELECT count(*) FROM measures WHERE pb_row IS NOT NULL") > 0);
    cb_store_close(s1);
    cb_store_close(s2);
    free(b1);
    free(b2);
    free(c1t);
    free(c2t);
}

/* Run sql on raw db; its SQLite result code. */
static int raw_run(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* count(*) of sql on raw db. */
static int raw_count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/*
 * derived.c on a connection of its own: the groups each write notes (a move
 * notes the group left and the group joined), a rollback's notes dropped, and
 * the commit hook: nothing noted commits unrecomputed (a write outside a
 * transaction, a COMMIT past the refresh), and the audit log stays append-only
 * although its triggers are off.  A database without the tables is refused.
 */
static void test_derived_notes_and_commit_guard(void **state)
{
    (void)state;
    char dir[256], path[320];
    struct cb_store *s = open_fresh(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/coachbox.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_extended_result_codes(db, 1);
    struct cb_derived *d = NULL;
    assert_int_equal(cb_derived_attach(db, &d), CB_OK);
#define ENC(id, team, at)                                                                          \
    "INSERT INTO encounters(id, participant_id, type, occurred_at, team, created_at, updated_at)"  \
    " VALUES ('" id "', 'p1', 'phone', '" at "', '" team "', 't', 't')"
    assert_int_equal(raw_run(db, "BEGIN"), SQLITE_OK);
    assert_int_equal(raw_run(db, ENC("e1", "t1", "2026-01-05T10:00:00.000Z")), SQLITE_OK);
    assert_int_equal(cb_derived_pending(d), 2); /* its month and its year */
    assert_int_equal(raw_run(db, ENC("e2", "t1", "2026-01-06 10:00")), SQLITE_OK);
    assert_int_equal(cb_derived_pending(d), 2); /* the same month and year */
    assert_int_equal(raw_run(db, ENC("e3", "t1", "2026")), SQLITE_OK);
    assert_int_equal(cb_derived_pending(d), 2); /* too short to be counted */
    assert_int_equal(raw_run(db, "UPDATE encounters SET team = 't2' WHERE id = 'e1'"), SQLITE_OK);
    assert_int_equal(cb_derived_pending(d), 4); /* and t2's */
    assert_int_equal(raw_run(db, "INSERT INTO measures(id, participant_id, instrument, timepoint,"
                                 " taken_at, responses, rule_version, complete, team, created_at,"
                                 " updated_at) VALUES ('m1', 'p1', 'bmi', 'baseline', 't', '{}',"
                                 " 'r', 1, 't1', 't', 't')"),
                     SQLITE_OK);
    assert_int_equal(raw_run(db, "UPDATE measures SET instrument = 'phq9' WHERE id = 'm1'"),
                     SQLITE_OK);
    assert_int_equal(cb_derived_pending(d), 6); /* (bmi, p1) and (phq9, p1) */
    assert_int_equal(raw_run(db, "ROLLBACK"), SQLITE_OK);
    cb_derived_forget(d);
    assert_int_equal(cb_derived_pending(d), 0);

    /* outside a transaction: refused at its commit, nothing stays */
    assert_int_equal(raw_run(db, ENC("e4", "t1", "2026-01-05T10:00:00.000Z")),
                     SQLITE_CONSTRAINT_COMMITHOOK);
    assert_int_equal(raw_count(db, "SELECT count(*) FROM encounters"), 0);
    /* a COMMIT past the refresh: rolled back */
    assert_int_equal(raw_run(db, "BEGIN"), SQLITE_OK);
    assert_int_equal(raw_run(db, ENC("e5", "t1", "2026-01-05T10:00:00.000Z")), SQLITE_OK);
    assert_int_equal(raw_run(db, "COMMIT"), SQLITE_CONSTRAINT_COMMITHOOK);
    assert_true(sqlite3_get_autocommit(db));
    assert_int_equal(raw_count(db, "SELECT count(*) FROM encounters"), 0);
    /* with it: committed, counted */
    assert_int_equal(raw_run(db, "BEGIN"), SQLITE_OK);
    assert_int_equal(raw_run(db, ENC("e6", "t1", "2026-01-05T10:00:00.000Z")), SQLITE_OK);
    assert_int_equal(cb_derived_refresh(d), CB_OK);
    assert_int_equal(raw_run(db, "COMMIT"), SQLITE_OK);
    assert_int_equal(raw_count(db, "SELECT count(*) FROM contact_months WHERE team = 't1' AND "
                                   "month = '2026-01' AND n = 1"),
                     1);
    assert_int_equal(raw_count(db, "SELECT count(*) FROM contact_years WHERE year = '2026'"), 1);
#undef ENC

    /* the audit log: appended to, never rewritten */
    assert_int_equal(raw_run(db, "INSERT INTO audit_events(at, action) VALUES ('t', 'a')"),
                     SQLITE_OK);
    assert_int_equal(raw_run(db, "BEGIN; UPDATE audit_events SET detail = 'x'"), SQLITE_OK);
    assert_int_equal(raw_run(db, "COMMIT"), SQLITE_CONSTRAINT_COMMITHOOK);
    assert_int_equal(raw_run(db, "DELETE FROM audit_events"), SQLITE_CONSTRAINT_COMMITHOOK);
    assert_int_equal(raw_count(db, "SELECT count(*) FROM audit_events WHERE action = 'a' AND "
                                   "detail IS NULL"),
                     1);
    cb_derived_free(d);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    cb_store_close(s);

    /* not a coachbox database */
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(cb_derived_attach(db, &d), CB_EDB);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_creates_dir_and_db),
        cmocka_unit_test(test_sync_connection_derived_match_triggers),
        cmocka_unit_test(test_sync_connection_derived_random),
        cmocka_unit_test(test_derived_notes_and_commit_guard),
        cmocka_unit_test(test_refresh_reads_only_the_group),
        cmocka_unit_test(test_measures_triggers_no_temp_btrees),
        cmocka_unit_test(test_schema_version_and_seeded_teams),
        cmocka_unit_test(test_reopen_is_idempotent),
        cmocka_unit_test(test_newer_schema_refused_and_untouched),
        cmocka_unit_test(test_migrations_12_13_report_columns),
        cmocka_unit_test(test_BUG_newer_rollback_journal_db_is_modified),
        cmocka_unit_test(test_not_a_database_refused_unchanged),
        cmocka_unit_test(test_bad_data_dir),
        cmocka_unit_test(test_connection_pragmas),
        cmocka_unit_test(test_sync_connections_journal_in_memory),
        cmocka_unit_test(test_connection_per_thread),
        cmocka_unit_test(test_two_stores_in_one_thread),
        cmocka_unit_test(test_connections_lent_per_request),
        cmocka_unit_test(test_sync_connections_lent),
        cmocka_unit_test(test_sync_connection_warm_and_checkpoint),
        cmocka_unit_test(test_sync_connection_unsynced_commit),
        cmocka_unit_test(test_statement_cache_reuse),
        cmocka_unit_test(test_statement_cache_eviction),
        cmocka_unit_test(test_prepare_and_exec_errors),
        cmocka_unit_test(test_store_rc_mapping),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_transactions_commit_and_rollback),
        cmocka_unit_test(test_failed_commit_rolls_back),
        cmocka_unit_test(test_foreign_keys_enforced),
        cmocka_unit_test(test_audit_events_append_only),
    };
    return cmocka_run_group_tests(tests, cbu_dir_setup, cbu_teardown);
}
