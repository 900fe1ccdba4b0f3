/*
 * it_crash.c - crash safety under load: ≥5,000 acknowledged writes through the
 * API while a second thread kills the server with SIGKILL at random moments
 * (≥20 times), restarting it each time on the same data directory.
 * Afterwards every acknowledged write is present and PRAGMA integrity_check
 * is ok.  Writes use client-minted ids, so a write whose answer was lost in a
 * kill can be retried: a 409 on its id means it had been stored.
 */
#include "harness.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coachbox/uuid.h"

#define PW          "crash-password-1"
#define WANT_WRITES 5000
#define WANT_KILLS  20

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cbt_server srv;
static char data_dir[512];
static char url[128];
static int kills, done_writing;

static void current_url(char *out, size_t len)
{
    pthread_mutex_lock(&lock);
    snprintf(out, len, "%s", url);
    pthread_mutex_unlock(&lock);
}

/* Kill and restart the server at random intervals until the writer is done. */
static void *killer(void *arg)
{
    (void)arg;
    unsigned seed = 12345;
    for (;;) {
        pthread_mutex_lock(&lock);
        int stop = done_writing;
        pthread_mutex_unlock(&lock);
        if (stop) {
            return NULL;
        }
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)(150 + (seed >> 16) % 450) * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&lock);
        cbt_server_kill(&srv);
        kills++;
        if (cbt_server_start(&srv, data_dir, NULL) == 0) {
            snprintf(url, sizeof(url), "%s", srv.url);
        } else {
            url[0] = '\0';
        }
        pthread_mutex_unlock(&lock);
    }
}

static int db_has(sqlite3 *h, const char *tbl, const char *id)
{
    char sql[128];
    sqlite3_stmt *st;
    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ?1", tbl);
    int found = 0;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return found;
}

static void test_kill_during_writes(void **state)
{
    (void)state;
    cbt_tempdir(data_dir, sizeof(data_dir), "crash");
    assert_int_equal(cbt_add_user(data_dir, "crash.coach", "coach", "bury-town", PW), 0);
    assert_int_equal(cbt_server_start(&srv, data_dir, NULL), 0);
    snprintf(url, sizeof(url), "%s", srv.url);

    struct cbt_client c;
    cbt_client_init(&c, url);
    assert_int_equal(cbt_login(&c, "crash.coach", PW), 200);
    char csrf[80];
    snprintf(csrf, sizeof(csrf), "%s", c.csrf);
    /* The session lives in the database: it survives every restart. */
    static char(*acked)[40];
    size_t cap = WANT_WRITES * 4;
    acked = calloc(cap, sizeof(*acked));
    static char pid[40];
    int nacked = 0, nparticipant = 0;
    int k; /* kills so far, read under the lock */
    pthread_t th;
    pthread_create(&th, NULL, killer, NULL);
    time_t start = time(NULL);
    for (;;) {
        pthread_mutex_lock(&lock);
        k = kills;
        pthread_mutex_unlock(&lock);
        if (nacked >= WANT_WRITES && k >= WANT_KILLS) {
            break;
        }
        if (!((size_t)nacked < cap - 1 && time(NULL) - start < 600)) {
            break;
        }
        char id[CB_UUID_STRLEN], body[512], base[128];
        int is_participant = nparticipant == 0 || nacked % 10 == 0;
        cb_uuid7(id);
        if (is_participant) {
            snprintf(body, sizeof(body),
                     "{\"id\":\"%s\",\"given_name\":\"Crash\",\"family_name\":\"Test%d\","
                     "\"date_of_birth\":\"1980-02-03\"}",
                     id, nacked);
        } else {
            snprintf(body, sizeof(body),
                     "{\"id\":\"%s\",\"participant_id\":\"%s\",\"type\":\"drop_in\","
                     "\"occurred_at\":\"2026-01-01T10:00:00Z\",\"notes\":\"write %d\"}",
                     id, pid, nacked);
        }
        /* Retry the same write (same id) until the server gives an answer. */
        for (int attempt = 0; attempt < 200; attempt++) {
            current_url(base, sizeof(base));
            if (!base[0]) {
                usleep(20000);
                continue;
            }
            snprintf(c.base, sizeof(c.base), "%s", base);
            snprintf(c.csrf, sizeof(c.csrf), "%s", csrf);
            struct cbt_resp r;
            if (cbt_request(&c, "POST", is_participant ? "/api/participants" : "/api/encounters",
                            body, &r) != 0) {
                usleep(10000);
                continue;
            }
            long status = r.status;
            cbt_resp_free(&r);
            if (status == 201 || status == 409) {
                snprintf(acked[nacked++], sizeof(acked[0]), "%c%s", is_participant ? 'p' : 'e', id);
                if (is_participant) {
                    snprintf(pid, sizeof(pid), "%s", id);
                    nparticipant++;
                }
                break;
            }
            if (status == 503) {
                usleep(10000);
                continue;
            }
            fail_msg("unexpected status %ld", status);
        }
    }
    pthread_mutex_lock(&lock);
    done_writing = 1;
    pthread_mutex_unlock(&lock);
    pthread_join(th, NULL);
    cbt_client_free(&c);
    printf("acknowledged writes: %d, kills: %d\n", nacked, kills);
    assert_true(nacked >= WANT_WRITES);
    assert_true(kills >= WANT_KILLS);
    cbt_server_kill(&srv);

    char db[600];
    snprintf(db, sizeof(db), "%s/coachbox.db", data_dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    int missing = 0;
    for (int i = 0; i < nacked; i++) {
        if (!db_has(h, acked[i][0] == 'p' ? "participants" : "encounters", acked[i] + 1)) {
            missing++;
        }
    }
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_int_equal(missing, 0);
    free(acked);
    cbt_rmtree(data_dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_writes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
