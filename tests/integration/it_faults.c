/*
 * it_faults.c - storage faults give a clear error, never a silent loss or a
 * half-written record:
 *   - disk full (a 2 MiB tmpfs): writes are refused with 507 disk_full, every
 *     acknowledged write is present, the database passes integrity_check;
 *   - a read-only database file, a data directory without permissions, a
 *     corrupted database file and a non-directory: the server refuses to start
 *     and says why (exit 1), leaving the file untouched.
 * Mounting tmpfs and dropping privileges need root (CI runs as root); without
 * root those tests fail loudly rather than pretend to pass.
 */
#include "harness.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define PW "fault-password-1"

/* Run `coachbox serve` on dir as uid/gid (if >= 0) for at most 5 s; capture output. */
static int serve_once(const char *dir, int uid, char *out, size_t outlen)
{
    int p[2];
    if (pipe(p)) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        if (uid >= 0 && (setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0)) {
            _exit(126);
        }
        execl(cbt_bin(), cbt_bin(), "serve", "--data", dir, "--listen", "127.0.0.1:0",
              (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(p[0], out + got, outlen - 1 - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        if (strstr(out, "listening on")) {
            kill(pid, SIGTERM);
        }
        if (got + 1 >= outlen) {
            break;
        }
    }
    out[got] = '\0';
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void file_bytes(const char *path, char *out, size_t len, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *n = f ? fread(out, 1, len, f) : 0;
    if (f) {
        fclose(f);
    }
}

static void make_store(const char *dir)
{
    assert_int_equal(cbt_add_user(dir, "fault.coach", "coach", "bury-town", PW), 0);
}

static void test_corrupt_database(void **state)
{
    (void)state;
    char dir[512], db[600], out[4096], before[64], after[64];
    size_t n1, n2;
    cbt_tempdir(dir, sizeof(dir), "corrupt");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(db, sizeof(db), "%s/coachbox.db", dir);
    FILE *f = fopen(db, "wb");
    assert_non_null(f);
    fputs("this is not a database, but somebody's precious file\n", f);
    fclose(f);
    file_bytes(db, before, sizeof(before), &n1);
    int st = serve_once(dir, -1, out, sizeof(out));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "corrupt"));
    file_bytes(db, after, sizeof(after), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    cbt_rmtree(dir);
}

static void test_not_a_directory(void **state)
{
    (void)state;
    char path[512], out[4096];
    cbt_tempdir(path, sizeof(path), "notdir");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(serve_once(path, -1, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "not a directory"));
    unlink(path);
}

static void test_read_only_database(void **state)
{
    (void)state;
    char dir[512], db[600], out[4096];
    if (geteuid() != 0) {
        fail_msg("needs root to run the server as another user (CI runs as root)");
    }
    cbt_tempdir(dir, sizeof(dir), "rodb");
    make_store(dir);
    snprintf(db, sizeof(db), "%s/coachbox.db", dir);
    assert_int_equal(chown(dir, 65534, 65534), 0);
    assert_int_equal(chown(db, 65534, 65534), 0);
    assert_int_equal(chmod(db, 0444), 0);
    int st = serve_once(dir, 65534, out, sizeof(out));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "read-only"));
    cbt_rmtree(dir);
}

static void test_directory_without_permission(void **state)
{
    (void)state;
    char dir[512], out[4096];
    if (geteuid() != 0) {
        fail_msg("needs root to run the server as another user (CI runs as root)");
    }
    cbt_tempdir(dir, sizeof(dir), "noperm");
    make_store(dir);
    assert_int_equal(chmod(dir, 0700), 0); /* owned by root: nobody cannot enter it */
    int st = serve_once(dir, 65534, out, sizeof(out));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "Permission denied"));
    cbt_rmtree(dir);
}

/* Count rows of a table in a database file opened read-only. */
static int db_count(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            n = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return n;
}

static void test_disk_full(void **state)
{
    (void)state;
    char mnt[512], dir[600], db[700], body[12000], notes[10001];
    if (geteuid() != 0) {
        fail_msg("needs root to mount a small tmpfs (CI runs as root)");
    }
    cbt_tempdir(mnt, sizeof(mnt), "full");
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m") != 0) {
        fail_msg("cannot mount tmpfs on %s: %s", mnt, strerror(errno));
    }
    snprintf(dir, sizeof(dir), "%s/data", mnt);
    make_store(dir);
    struct cbt_server srv;
    assert_int_equal(cbt_server_start(&srv, dir, NULL), 0);
    struct cbt_client c;
    cbt_client_init(&c, srv.url);
    assert_int_equal(cbt_login(&c, "fault.coach", PW), 200);
    memset(notes, 'x', sizeof(notes) - 1);
    notes[sizeof(notes) - 1] = '\0';
    /* One participant, then contacts of 10 KB notes until the disk is full. */
    struct cbt_resp r;
    assert_int_equal(cbt_request(&c, "POST", "/api/participants",
                                 "{\"given_name\":\"Disk\",\"family_name\":\"Full\","
                                 "\"date_of_birth\":\"1970-01-01\"}",
                                 &r),
                     0);
    assert_int_equal(r.status, 201);
    char pid[40];
    snprintf(pid, sizeof(pid), "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
    static char acked[400][40];
    int nacked = 0, full = 0;
    for (int i = 0; i < 400 && !full; i++) {
        snprintf(body, sizeof(body),
                 "{\"participant_id\":\"%s\",\"type\":\"drop_in\","
                 "\"occurred_at\":\"2026-01-01T10:00:00Z\",\"notes\":\"%s\"}",
                 pid, notes);
        assert_int_equal(cbt_request(&c, "POST", "/api/encounters", body, &r), 0);
        if (r.status == 201) {
            snprintf(acked[nacked++], sizeof(acked[0]), "%s", cbt_jstr(&r, "id"));
        } else {
            assert_int_equal(r.status, 507);
            assert_string_equal(cbt_jstr(&r, "error.code"), "disk_full");
            full = 1;
        }
        cbt_resp_free(&r);
    }
    assert_true(full);
    assert_true(nacked > 10);
    /* The server is still alive and says so. */
    assert_int_equal(cbt_request(&c, "GET", "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    cbt_resp_free(&r);
    cbt_client_free(&c);
    assert_int_equal(cbt_server_stop(&srv), 0);
    /* Every acknowledged contact is stored, nothing half-written. */
    snprintf(db, sizeof(db), "%s/coachbox.db", dir);
    assert_int_equal(db_count(db, "SELECT count(*) FROM encounters"), nacked);
    for (int i = 0; i < nacked; i++) {
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM encounters WHERE id = '%.36s'", acked[i]);
        assert_int_equal(db_count(db, sql), 1);
    }
    assert_int_equal(db_count(db, "SELECT count(*) FROM pragma_integrity_check "
                                  "WHERE integrity_check = 'ok'"),
                     1);
    /* Every stored contact has its change record (same transaction). */
    assert_int_equal(db_count(db, "SELECT count(*) FROM outbox WHERE tbl = 'encounters'"), nacked);
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corrupt_database),
        cmocka_unit_test(test_not_a_directory),
        cmocka_unit_test(test_read_only_database),
        cmocka_unit_test(test_directory_without_permission),
        cmocka_unit_test(test_disk_full),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
