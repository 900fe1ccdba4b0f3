/* test_writer.c - group commit: jobs, savepoints, lost groups (writer.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coachbox/audit.h"
#include "coachbox/err.h"
#include "coachbox/store.h"
#include "coachbox/writer.h"

static char dir[128];
static struct cb_store *store;
static struct cb_writer *writer;
static int block_started; /* set (atomically) when a blocking job starts */

/* A fresh store with a table t(k TEXT PRIMARY KEY) and a started writer. */
static int setup(void **state)
{
    (void)state;
    char root[] = "/tmp/cb-ut-writer-XXXXXX";
    if (!mkdtemp(root)) {
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s/d", root);
    struct cb_conn *c;
    if (cb_store_open(dir, &store) || cb_store_conn(store, &c) ||
        cb_conn_exec(c, "CREATE TABLE t(k TEXT PRIMARY KEY)")) {
        return -1;
    }
    return cb_writer_start(store, &writer) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    cb_writer_stop(writer);
    cb_store_close(store);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strrchr(dir, '/') - dir), dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* 1 if t holds key k, read on this thread's own connection. */
static int has_key(const char *k)
{
    struct cb_conn *c;
    sqlite3_stmt *st;
    assert_int_equal(cb_store_conn(store, &c), CB_OK);
    assert_int_equal(cb_conn_prepare(c, "SELECT count(*) FROM t WHERE k = ?1", &st), CB_OK);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    cb_stmt_done(st);
    return n;
}

struct ins {
    const char *key;
    int fail_after;   /* insert, then fail (the job's rollback path) */
    int end_group;    /* insert, then end the whole transaction as an I/O error would */
    int leave_open;   /* insert and return without commit or rollback (a bug) */
    int wait_pending; /* before inserting, wait until this many jobs are queued */
};

/* A write job the way domain code writes: begin, insert, commit or roll back. */
static int insert_job(struct cb_conn *c, void *arg)
{
    const struct ins *in = arg;
    if (in->wait_pending) {
        __atomic_store_n(&block_started, 1, __ATOMIC_SEQ_CST);
        uint64_t jobs, groups, pending = 0;
        while (pending < (uint64_t)in->wait_pending) {
            usleep(1000);
            cb_writer_stats(writer, &jobs, &groups, &pending);
        }
    }
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c, "INSERT INTO t(k) VALUES (?1)", &st);
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, in->key, -1, SQLITE_TRANSIENT);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    if (in->leave_open) {
        return rc;
    }
    if (in->end_group) {
        cb_conn_exec(c, "ROLLBACK");
    }
    if (rc == CB_OK && in->fail_after) {
        rc = CB_EINVAL;
    }
    if (rc == CB_OK) {
        return cb_conn_commit(c);
    }
    cb_conn_rollback(c);
    return rc;
}

struct runner {
    pthread_t th;
    struct ins in;
    int rc;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->rc = cb_writer_run(writer, insert_job, &r->in);
    return NULL;
}

/* Start r (a blocking job) and wait until the writer is running it. */
static void start_blocker(struct runner *r)
{
    __atomic_store_n(&block_started, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(pthread_create(&r->th, NULL, run_thread, r), 0);
    while (!__atomic_load_n(&block_started, __ATOMIC_SEQ_CST)) {
        usleep(1000);
    }
}

static void wait_queued(uint64_t n)
{
    uint64_t jobs, groups, pending = 0;
    while (pending < n) {
        usleep(1000);
        cb_writer_stats(writer, &jobs, &groups, &pending);
    }
}

/* Jobs queued while the writer is busy commit together, each durable and visible. */
static void test_concurrent_jobs_share_a_commit(void **state)
{
    (void)state;
    enum { N = 20 };
    uint64_t jobs0, groups0, pending;
    cb_writer_stats(writer, &jobs0, &groups0, &pending);
    static struct runner r[N + 1];
    static char keys[N + 1][16];
    memset(r, 0, sizeof(r));
    for (int i = 0; i <= N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "share-%d", i);
        r[i].in.key = keys[i];
    }
    r[0].in.wait_pending = N; /* holds the writer until the other N are queued */
    start_blocker(&r[0]);
    for (int i = 1; i <= N; i++) {
        assert_int_equal(pthread_create(&r[i].th, NULL, run_thread, &r[i]), 0);
    }
    for (int i = 0; i <= N; i++) {
        pthread_join(r[i].th, NULL);
        assert_int_equal(r[i].rc, CB_OK);
        assert_true(has_key(keys[i]));
    }
    uint64_t jobs, groups;
    cb_writer_stats(writer, &jobs, &groups, &pending);
    assert_int_equal(jobs - jobs0, N + 1);
    assert_int_equal(groups - groups0, 2); /* the blocker's group, then all N in one */
    assert_int_equal(pending, 0);
}

/* A failing job undoes only its own work and gets its own error. */
static void test_failing_job_rolls_back_alone(void **state)
{
    (void)state;
    struct runner r[4];
    memset(r, 0, sizeof(r));
    r[0].in = (struct ins){"fail-block", 0, 0, 0, 3};
    r[1].in = (struct ins){"fail-a", 0, 0, 0, 0};
    r[2].in = (struct ins){"fail-bad", 1, 0, 0, 0};
    r[3].in = (struct ins){"fail-b", 0, 0, 0, 0};
    start_blocker(&r[0]);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(pthread_create(&r[i].th, NULL, run_thread, &r[i]), 0);
        if (i < 3) {
            wait_queued((uint64_t)i); /* keep the queue in this order; after the 3rd the
                                       * blocker lets the writer take them all */
        }
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(r[i].th, NULL);
    }
    assert_int_equal(r[0].rc, CB_OK);
    assert_int_equal(r[1].rc, CB_OK);
    assert_int_equal(r[2].rc, CB_EINVAL);
    assert_int_equal(r[3].rc, CB_OK);
    assert_true(has_key("fail-a"));
    assert_false(has_key("fail-bad"));
    assert_true(has_key("fail-b"));
    /* A duplicate key is the job's own constraint error, nothing else is lost. */
    struct ins dup = {"fail-a", 0, 0, 0, 0};
    assert_int_equal(cb_writer_run(writer, insert_job, &dup), CB_ECONFLICT);
    assert_true(has_key("fail-a"));
}

/*
 * A job under which the whole transaction ends (as SQLite does on an I/O error
 * or a full disk): the jobs before it in the group lose their work and report
 * an error (never success); the jobs after it commit in a new group.
 */
static void test_lost_group_reports_errors(void **state)
{
    (void)state;
    struct runner r[4];
    memset(r, 0, sizeof(r));
    r[0].in = (struct ins){"lost-block", 0, 0, 0, 3};
    r[1].in = (struct ins){"lost-a", 0, 0, 0, 0};
    r[2].in = (struct ins){"lost-killer", 0, 1, 0, 0};
    r[3].in = (struct ins){"lost-b", 0, 0, 0, 0};
    start_blocker(&r[0]);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(pthread_create(&r[i].th, NULL, run_thread, &r[i]), 0);
        if (i < 3) {
            wait_queued((uint64_t)i); /* keep the queue in this order; after the 3rd the
                                       * blocker lets the writer take them all */
        }
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(r[i].th, NULL);
    }
    assert_int_equal(r[0].rc, CB_OK);
    assert_true(has_key("lost-block"));
    assert_int_not_equal(r[1].rc, CB_OK);
    assert_false(has_key("lost-a"));
    assert_int_not_equal(r[2].rc, CB_OK);
    assert_false(has_key("lost-killer"));
    assert_int_equal(r[3].rc, CB_OK);
    assert_true(has_key("lost-b"));
}

/* A job that returns without ending its transaction is undone and reported. */
static void test_abandoned_job_is_undone(void **state)
{
    (void)state;
    struct ins open = {"abandoned", 0, 0, 1, 0};
    assert_int_equal(cb_writer_run(writer, insert_job, &open), CB_EINTERNAL);
    assert_false(has_key("abandoned"));
    struct ins next = {"after-abandoned", 0, 0, 0, 0};
    assert_int_equal(cb_writer_run(writer, insert_job, &next), CB_OK);
    assert_true(has_key("after-abandoned"));
}

/* Outside group mode the same job code is a plain transaction of its own. */
static void test_same_job_without_writer(void **state)
{
    (void)state;
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(store, &c), CB_OK);
    struct ins ok = {"direct", 0, 0, 0, 0}, bad = {"direct-bad", 1, 0, 0, 0};
    assert_int_equal(insert_job(c, &ok), CB_OK);
    assert_int_equal(insert_job(c, &bad), CB_EINVAL);
    assert_true(has_key("direct"));
    assert_false(has_key("direct-bad"));
    assert_int_equal(sqlite3_get_autocommit(cb_conn_db(c)), 1);
}

/* Audit events about participant p, read on this thread's own connection. */
static int audit_rows(const char *p)
{
    struct cb_conn *c;
    sqlite3_stmt *st;
    assert_int_equal(cb_store_conn(store, &c), CB_OK);
    assert_int_equal(
        cb_conn_prepare(c, "SELECT count(*) FROM audit_events WHERE participant_id = ?1", &st),
        CB_OK);
    sqlite3_bind_text(st, 1, p, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    cb_stmt_done(st);
    return n;
}

static uint64_t writer_jobs(void)
{
    uint64_t jobs, groups, pending;
    cb_writer_stats(writer, &jobs, &groups, &pending);
    return jobs;
}

/*
 * With the writer registered for the store, an audit written outside a
 * transaction (an audited read) is a job of the writer, committed when
 * cb_audit returns; one written inside the caller's transaction stays part of
 * it (and rolls back with it); with no writer registered it commits directly.
 */
static void test_autocommit_audit_goes_through_writer(void **state)
{
    (void)state;
    struct cb_conn *c;
    assert_int_equal(cb_store_conn(store, &c), CB_OK);
    struct cb_audit_event e = {NULL, "participant.read", "participants", "p-writer", NULL, "ok",
                               NULL, "p-writer"};
    cb_store_set_writer(store, writer);
    uint64_t jobs0 = writer_jobs();
    assert_int_equal(cb_audit(c, &e), CB_OK);
    assert_int_equal(writer_jobs(), jobs0 + 1);
    assert_int_equal(audit_rows("p-writer"), 1);

    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(cb_audit(c, &e), CB_OK);
    assert_int_equal(writer_jobs(), jobs0 + 1); /* in c's own transaction */
    cb_conn_rollback(c);
    assert_int_equal(audit_rows("p-writer"), 1);

    struct cb_audit_event bad = e;
    bad.detail = "\xff"; /* not UTF-8: the job's own error, nothing written */
    assert_int_equal(cb_audit(c, &bad), CB_EINVAL);
    assert_int_equal(writer_jobs(), jobs0 + 2);
    assert_int_equal(audit_rows("p-writer"), 1);

    cb_store_set_writer(store, NULL);
    assert_int_equal(cb_audit(c, &e), CB_OK);
    assert_int_equal(writer_jobs(), jobs0 + 2);
    assert_int_equal(audit_rows("p-writer"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_jobs_share_a_commit),
        cmocka_unit_test(test_failing_job_rolls_back_alone),
        cmocka_unit_test(test_lost_group_reports_errors),
        cmocka_unit_test(test_abandoned_job_is_undone),
        cmocka_unit_test(test_same_job_without_writer),
        cmocka_unit_test(test_autocommit_audit_goes_through_writer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
