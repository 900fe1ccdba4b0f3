/*
 * it_durability.c - what the server acknowledged survives: SIGKILL in the
 * middle of a stream of writes (several times, restarting on the same data
 * directory), clean SIGTERM shutdown, refusal of a newer schema, and refusal
 * of unsafe or unknown command lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coachbox/store.h"
#include "harness.h"

#define PW "durable-password-1"

/* ---------------------------------------------------------------- helpers */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Run the coachbox binary with args (stdin empty), capturing stdout+stderr;
 * SIGKILL it after timeout_s.  Returns the exit status, -2 on timeout, -1 if
 * it died of a signal.
 */
static int run_timeout(const char *const *args, char *out, size_t outlen, int timeout_s)
{
    int p[2];
    if (pipe(p)) {
        return -1;
    }
    const char *argv[32];
    int n = 0;
    argv[n++] = cbt_bin();
    for (int i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
    int timed_out = 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = {p[0], POLLIN, 0};
        int pr = poll(&pf, 1, (int)left);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        char tmp[1024];
        ssize_t r = read(p[0], tmp, sizeof(tmp));
        if (r <= 0) {
            break;
        }
        if (out && got + 1 < outlen) {
            size_t k = (size_t)r < outlen - 1 - got ? (size_t)r : outlen - 1 - got;
            memcpy(out + got, tmp, k);
            got += k;
        }
    }
    if (out && outlen) {
        out[got] = '\0';
    }
    close(p[0]);
    if (timed_out) {
        kill(pid, SIGKILL);
    }
    int st;
    waitpid(pid, &st, 0);
    if (timed_out) {
        return -2;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        if (strncasecmp(p, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static void db_path(const char *data, char *out, size_t len)
{
    snprintf(out, len, "%s/coachbox.db", data);
}

/* PRAGMA integrity_check on a stopped server's database. */
static void expect_integrity_ok(const char *data)
{
    char path[700];
    db_path(data, path, sizeof(path));
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v || strcmp(v, "ok") != 0) {
            fail_msg("integrity_check: %s", v ? v : "(null)");
        }
        rows++;
    }
    assert_int_equal(rows, 1);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int user_version(const char *path)
{
    sqlite3 *db;
    int v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW) {
                v = sqlite3_column_int(st, 0);
            }
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(db);
    return v;
}

/* Whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            unsigned char *q = realloc(buf, cap);
            if (!q) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = q;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        if (k == 0) {
            break;
        }
        n += k;
    }
    fclose(f);
    *len = n;
    return buf;
}

static long post(struct cbt_client *c, const char *path, json_t *body, struct cbt_resp *r)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc = cbt_request(c, "POST", path, text, r);
    free(text);
    return rc == 0 ? r->status : -1;
}

static void iso_offset(long secs, char out[40])
{
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Start a server again on data.  The old log is removed first: the harness
 * polls DATA.log for "listening on" right after fork(), and the child only
 * truncates it after exec, so a stale log would hand back the old URL.
 */
static void restart(struct cbt_server *s, const char *data)
{
    remove(s->log);
    if (cbt_server_start(s, data, NULL) != 0) {
        fail_msg("server did not restart on %s", data);
    }
}

/* ------------------------------------------------ kill/restart durability */

#define MAX_RECS 4000

struct rec {
    char id[40];
    char name[24]; /* participants: given_name */
    int parent;    /* encounters: index into parts */
};

static struct rec parts[MAX_RECS], encs[MAX_RECS];
static int nparts, nencs;

struct killer {
    pid_t pid;
    atomic_int *acked;
    int target;
    unsigned delay_us;
    atomic_int stop;
    atomic_int fired;
};

/* Waits until target writes were acknowledged, then SIGKILLs the server. */
static void *killer_main(void *arg)
{
    struct killer *k = arg;
    while (!atomic_load(&k->stop)) {
        if (atomic_load(k->acked) >= k->target) {
            /* A little later, so the kill lands inside a request or commit. */
            struct timespec d = {0, (long)(k->delay_us % 4000) * 1000};
            nanosleep(&d, NULL);
            kill(k->pid, SIGKILL);
            atomic_store(&k->fired, 1);
            break;
        }
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* One write: 2 of 3 are participants, the rest encounters of acked ones. */
static int one_write(struct cbt_client *c, int seq)
{
    struct cbt_resp r;
    if (nparts == 0 || seq % 3 != 2) {
        if (nparts >= MAX_RECS) {
            return -1;
        }
        char name[24];
        snprintf(name, sizeof(name), "Dur%05d", seq);
        long st = post(c, "/api/participants",
                       json_pack("{s:s, s:s, s:s}", "given_name", name, "family_name",
                                 "Durabilitytest", "date_of_birth", "1990-01-01"),
                       &r);
        if (st < 0) {
            return -1; /* no answer: not acknowledged */
        }
        int ok = st == 201 && json_is_string(json_object_get(r.json, "id"));
        if (ok) {
            snprintf(parts[nparts].id, sizeof(parts[nparts].id), "%s",
                     json_string_value(json_object_get(r.json, "id")));
            snprintf(parts[nparts].name, sizeof(parts[nparts].name), "%s", name);
            nparts++;
        } else {
            fprintf(stderr, "participant write answered %ld: %s\n", st, r.body);
        }
        cbt_resp_free(&r);
        return ok ? 0 : -1;
    }
    if (nencs >= MAX_RECS) {
        return -1;
    }
    int parent = rand() % nparts;
    char when[40];
    iso_offset(-60 - seq, when);
    long st = post(c, "/api/encounters",
                   json_pack("{s:s, s:s, s:s}", "participant_id", parts[parent].id, "type",
                             "drop_in", "occurred_at", when),
                   &r);
    if (st < 0) {
        return -1;
    }
    int ok = st == 201 && json_is_string(json_object_get(r.json, "id"));
    if (ok) {
        snprintf(encs[nencs].id, sizeof(encs[nencs].id), "%s",
                 json_string_value(json_object_get(r.json, "id")));
        encs[nencs].parent = parent;
        nencs++;
    } else {
        fprintf(stderr, "encounter write answered %ld: %s\n", st, r.body);
    }
    cbt_resp_free(&r);
    return ok ? 0 : -1;
}

static void expect_me_ok(struct cbt_client *c, const char *what)
{
    struct cbt_resp r;
    assert_int_equal(cbt_request(c, "GET", "/api/me", NULL, &r), 0);
    if (r.status != 200) {
        fail_msg("%s: /api/me answered %ld", what, r.status);
    }
    cbt_resp_free(&r);
}

/* Every acknowledged record is there, through the API. */
static void verify_all(struct cbt_client *c)
{
    char path[160];
    struct cbt_resp r;
    for (int i = 0; i < nparts; i++) {
        snprintf(path, sizeof(path), "/api/participants/%.36s", parts[i].id);
        assert_int_equal(cbt_request(c, "GET", path, NULL, &r), 0);
        if (r.status != 200) {
            fail_msg("acknowledged participant %d (%s) lost: %ld", i, parts[i].id, r.status);
        }
        const char *g = json_string_value(json_object_get(r.json, "given_name"));
        if (!g || strcmp(g, parts[i].name) != 0) {
            fail_msg("participant %s has given_name %s, want %s", parts[i].id, g ? g : "(null)",
                     parts[i].name);
        }
        cbt_resp_free(&r);
    }
    /* Encounters, by listing each parent once. */
    char *checked = calloc((size_t)nparts + 1, 1);
    assert_non_null(checked);
    for (int i = 0; i < nencs; i++) {
        int p = encs[i].parent;
        if (checked[p]) {
            continue;
        }
        checked[p] = 1;
        snprintf(path, sizeof(path), "/api/participants/%s/encounters", parts[p].id);
        assert_int_equal(cbt_request(c, "GET", path, NULL, &r), 0);
        if (r.status != 200) {
            fail_msg("encounter list of %s: %ld", parts[p].id, r.status);
        }
        json_t *items = json_object_get(r.json, "items");
        for (int j = i; j < nencs; j++) {
            if (encs[j].parent != p) {
                continue;
            }
            int found = 0;
            size_t k;
            json_t *it;
            json_array_foreach(items, k, it)
            {
                const char *id = json_string_value(json_object_get(it, "id"));
                if (id && strcmp(id, encs[j].id) == 0) {
                    found = 1;
                    break;
                }
            }
            if (!found) {
                fail_msg("acknowledged encounter %s of %s lost", encs[j].id, parts[p].id);
            }
        }
        cbt_resp_free(&r);
    }
    free(checked);
}

static void test_sigkill_keeps_acknowledged_writes(void **state)
{
    (void)state;
    char data[512];
    struct cbt_server s;
    struct cbt_client c;
    cbt_tempdir(data, sizeof(data), "itdur");
    assert_int_equal(cbt_add_user(data, "dur", "coach", "prestwich", PW), 0);
    assert_int_equal(cbt_server_start(&s, data, NULL), 0);
    assert_int_equal(cbt_client_init(&c, s.url), 0);
    assert_int_equal(cbt_login(&c, "dur", PW), 200);
    nparts = nencs = 0;

    atomic_int acked;
    atomic_init(&acked, 0);
    int seq = 0;
    const int kills = 4;
    for (int round = 0; round < kills; round++) {
        struct killer k;
        k.pid = s.pid;
        k.acked = &acked;
        k.target = atomic_load(&acked) + 55 + rand() % 25;
        k.delay_us = (unsigned)rand();
        atomic_init(&k.stop, 0);
        atomic_init(&k.fired, 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, killer_main, &k), 0);
        int failures = 0;
        int64_t give_up = now_ms() + 60000;
        while (now_ms() < give_up) {
            if (one_write(&c, seq++) == 0) {
                atomic_fetch_add(&acked, 1);
            } else if (atomic_load(&k.fired)) {
                break; /* the server is gone */
            } else if (++failures > 3) {
                break;
            }
        }
        atomic_store(&k.stop, 1);
        pthread_join(th, NULL);
        if (!atomic_load(&k.fired)) {
            fail_msg("round %d: the server was not killed (failures %d, log %s)", round, failures,
                     s.log);
        }
        cbt_server_kill(&s); /* reap */

        /* Restart on the same data; the session cookie is still valid. */
        restart(&s, data);
        snprintf(c.base, sizeof(c.base), "%s", s.url);
        expect_me_ok(&c, "after restart");
        verify_all(&c);
    }
    if (nparts + nencs < 200) {
        fail_msg("only %d acknowledged writes (want >= 200)", nparts + nencs);
    }
    assert_true(nencs > 0);
    /* Writes keep working after the last restart. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(one_write(&c, seq++), 0);
    }
    verify_all(&c);
    cbt_client_free(&c);
    assert_int_equal(cbt_server_stop(&s), 0);
    expect_integrity_ok(data);
    print_message("acknowledged %d participants and %d encounters across %d SIGKILLs\n", nparts,
                  nencs, kills);
    cbt_rmtree(data);
    remove(s.log);
}

/* ------------------------------------------------------ concurrent writers */

#define WRITERS    8
#define PER_WRITER 25

struct writer {
    const char *base;
    const char *cookie; /* "Cookie: cb_session=..." */
    const char *csrf;
    int idx;
    int ok;
    long bad_status;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct cbt_client c;
    if (cbt_client_init(&c, w->base) != 0) {
        return NULL;
    }
    snprintf(c.csrf, sizeof(c.csrf), "%s", w->csrf);
    const char *hdrs[] = {w->cookie, NULL};
    for (int i = 0; i < PER_WRITER; i++) {
        char body[200];
        struct cbt_resp r;
        snprintf(body, sizeof(body),
                 "{\"given_name\":\"W%02dN%03d\",\"family_name\":\"Concurrenttest\","
                 "\"date_of_birth\":\"1985-05-05\"}",
                 w->idx, i);
        if (cbt_request_ex(&c, "POST", "/api/participants", body, strlen(body), NULL, hdrs, &r) !=
            0) {
            w->bad_status = -1;
            continue;
        }
        if (r.status == 201) {
            w->ok++;
        } else {
            w->bad_status = r.status;
        }
        cbt_resp_free(&r);
    }
    cbt_client_free(&c);
    return NULL;
}

/* Simultaneous writers on one database: every write is answered 201, none lost. */
static void test_concurrent_writers(void **state)
{
    (void)state;
    char data[512];
    struct cbt_server s;
    struct cbt_client c;
    struct cbt_resp r;
    cbt_tempdir(data, sizeof(data), "itconc");
    assert_int_equal(cbt_add_user(data, "conc", "coach", "prestwich", PW), 0);
    assert_int_equal(cbt_server_start(&s, data, NULL), 0);
    assert_int_equal(cbt_client_init(&c, s.url), 0);
    assert_int_equal(cbt_request(&c, "POST", "/api/login",
                                 "{\"username\":\"conc\",\"password\":\"" PW "\"}", &r),
                     0);
    assert_int_equal(r.status, 200);
    char sc[512], cookie[600];
    assert_true(cbt_header(&r, "Set-Cookie", sc, sizeof(sc)));
    sc[strcspn(sc, ";")] = '\0';
    snprintf(cookie, sizeof(cookie), "Cookie: %s", sc);
    snprintf(c.csrf, sizeof(c.csrf), "%s",
             json_string_value(json_object_get(r.json, "csrf_token")));
    cbt_resp_free(&r);

    pthread_t th[WRITERS];
    struct writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){s.url, cookie, c.csrf, i, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].ok != PER_WRITER) {
            fail_msg("writer %d: %d of %d acknowledged (last bad status %ld)", i, w[i].ok,
                     PER_WRITER, w[i].bad_status);
        }
        total += w[i].ok;
    }
    /* All of them are there, through paging. */
    char path[200], cursor[64] = "";
    int seen = 0;
    for (int page = 0; page < 10; page++) {
        if (cursor[0]) {
            snprintf(path, sizeof(path), "/api/participants?q=concurrenttest&limit=100&cursor=%s",
                     cursor);
        } else {
            snprintf(path, sizeof(path), "/api/participants?q=concurrenttest&limit=100");
        }
        assert_int_equal(cbt_request(&c, "GET", path, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        seen += (int)json_array_size(json_object_get(r.json, "items"));
        json_t *next = json_object_get(r.json, "next_cursor");
        int more = json_is_string(next);
        if (more) {
            snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        }
        cbt_resp_free(&r);
        if (!more) {
            break;
        }
    }
    assert_int_equal(seen, total);
    assert_int_equal(total, WRITERS * PER_WRITER);
    cbt_client_free(&c);
    assert_int_equal(cbt_server_stop(&s), 0);
    expect_integrity_ok(data);
    cbt_rmtree(data);
    remove(s.log);
}

/* ------------------------------------------------------- SIGTERM shutdown */

static void test_sigterm_clean_shutdown(void **state)
{
    (void)state;
    char data[512], id[40], path[160];
    struct cbt_server s;
    struct cbt_client c;
    struct cbt_resp r;
    cbt_tempdir(data, sizeof(data), "itterm");
    assert_int_equal(cbt_add_user(data, "term", "coach", "prestwich", PW), 0);
    assert_int_equal(cbt_server_start(&s, data, NULL), 0);
    assert_int_equal(cbt_client_init(&c, s.url), 0);
    assert_int_equal(cbt_login(&c, "term", PW), 200);
    assert_int_equal(post(&c, "/api/participants",
                          json_pack("{s:s, s:s, s:s}", "given_name", "Terry", "family_name",
                                    "Termtest", "date_of_birth", "1970-07-07"),
                          &r),
                     201);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.json, "id")));
    cbt_resp_free(&r);

    /* The client keeps its connection open across the stop. */
    int64_t t0 = now_ms();
    int st = cbt_server_stop(&s);
    int64_t took = now_ms() - t0;
    if (st != 0) {
        fail_msg("SIGTERM: exit status %d (log %s)", st, s.log);
    }
    if (took > 15000) {
        fail_msg("SIGTERM took %lld ms", (long long)took);
    }
    expect_integrity_ok(data);

    restart(&s, data);
    snprintf(c.base, sizeof(c.base), "%s", s.url);
    snprintf(path, sizeof(path), "/api/participants/%s", id);
    assert_int_equal(cbt_request(&c, "GET", path, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "family_name")), "Termtest");
    cbt_resp_free(&r);
    cbt_client_free(&c);
    assert_int_equal(cbt_server_stop(&s), 0);
    cbt_rmtree(data);
    remove(s.log);
}

/* ---------------------------------------------------------- newer schema */

static void test_refuses_newer_schema(void **state)
{
    (void)state;
    char data[512], path[700], out[4096];
    struct cbt_server s;
    cbt_tempdir(data, sizeof(data), "itschema");
    assert_int_equal(cbt_server_start(&s, data, NULL), 0);
    assert_int_equal(cbt_server_stop(&s), 0);
    remove(s.log);
    db_path(data, path, sizeof(path));

    int newer = cb_store_schema_version() + 1;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newer);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(user_version(path), newer);

    size_t len0 = 0, len1 = 0;
    unsigned char *before = slurp(path, &len0);
    assert_non_null(before);
    struct stat sb0, sb1;
    assert_int_equal(stat(path, &sb0), 0);

    const char *args[] = {"serve", "--data", data, "--listen", "127.0.0.1:0", NULL};
    int st = run_timeout(args, out, sizeof(out), 30);
    if (st == 0 || st == -2) {
        fail_msg("serve on a newer schema: status %d: %s", st, out);
    }
    if (!contains_ci(out, "schema")) {
        fail_msg("no mention of the schema in: %s", out);
    }
    unsigned char *after = slurp(path, &len1);
    assert_non_null(after);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    assert_int_equal(stat(path, &sb1), 0);
    assert_int_equal(sb0.st_size, sb1.st_size);
    assert_int_equal(user_version(path), newer);
    free(before);
    free(after);

    /* Other subcommands refuse it too, and leave it alone. */
    const char *team[] = {"team", "add", "--data", data, "--id", "newteam", "--name", "New", NULL};
    st = run_timeout(team, out, sizeof(out), 30);
    assert_true(st != 0 && st != -2);
    assert_true(contains_ci(out, "schema"));
    assert_int_equal(user_version(path), newer);
    cbt_rmtree(data);
}

/* ------------------------------------------------------ unsafe command lines */

static void test_refuses_public_plain_http(void **state)
{
    (void)state;
    char data[512], out[4096];
    cbt_tempdir(data, sizeof(data), "itlisten");
    const char *args[] = {"serve", "--data", data, "--listen", "0.0.0.0:0", NULL};
    int st = run_timeout(args, out, sizeof(out), 30);
    if (st == 0 || st == -2 || st == -1) {
        fail_msg("serve --listen 0.0.0.0:0 without --cert: status %d: %s", st, out);
    }
    assert_true(contains_ci(out, "--cert"));
    assert_true(contains_ci(out, "--insecure-http"));
    assert_true(contains_ci(out, "0.0.0.0"));
    const char *args6[] = {"serve", "--data", data, "--listen", "192.168.1.10:8443", NULL};
    st = run_timeout(args6, out, sizeof(out), 30);
    assert_true(st != 0 && st != -2 && st != -1);
    /* A list whose first address is loopback would open the others too; a name
     * that only starts like a loopback address is not one. */
    static const char *const sneaky[] = {"127.0.0.1:0,0.0.0.0:0", "127.example.org:8080",
                                         "127.0.0.1.example.org:8080"};
    for (size_t i = 0; i < sizeof(sneaky) / sizeof(sneaky[0]); i++) {
        const char *a[] = {"serve", "--data", data, "--listen", sneaky[i], NULL};
        st = run_timeout(a, out, sizeof(out), 30);
        if (st != 2) {
            fail_msg("serve --listen %s without --cert: status %d: %s", sneaky[i], st, out);
        }
    }
    /* Enrolling: plain http only to a loopback host, read as curl reads the URL. */
    static const char *const urls[][2] = {
        {"http://127.0.0.1@example.org:18190", "user name"},
        {"http://localhost:@example.org/", "user name"},
        {"http://127.example.org:18190", "https"},
        {"http://example.org:18190", "https"},
        {"https://user:pw@example.org", "user name"},
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        const char *a[] = {"enroll", "--data",         data, "--central", urls[i][0],
                           "--code", "ABCD-EFGH-IJKL", NULL};
        st = run_timeout(a, out, sizeof(out), 30);
        if (st == 0 || st < 0 || !contains_ci(out, urls[i][1])) {
            fail_msg("enroll --central %s: status %d, want a refusal naming \"%s\": %s", urls[i][0],
                     st, urls[i][1], out);
        }
    }
    cbt_rmtree(data);
}

static void test_unknown_option(void **state)
{
    (void)state;
    char data[512], out[4096];
    cbt_tempdir(data, sizeof(data), "itopt");
    const char *args[] = {"serve", "--data", data, "--listen", "127.0.0.1:0", "--frobnicate", NULL};
    int st = run_timeout(args, out, sizeof(out), 30);
    if (st != 2) {
        fail_msg("unknown option: status %d (want 2): %s", st, out);
    }
    assert_true(contains_ci(out, "--frobnicate"));
    const char *noval[] = {"serve", "--data", NULL};
    st = run_timeout(noval, out, sizeof(out), 30);
    assert_int_equal(st, 2);
    const char *badthreads[] = {"serve", "--data", data, "--threads", "many", NULL};
    st = run_timeout(badthreads, out, sizeof(out), 30);
    assert_int_equal(st, 2);
    assert_true(contains_ci(out, "--threads"));
    cbt_rmtree(data);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_keeps_acknowledged_writes),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_sigterm_clean_shutdown),
        cmocka_unit_test(test_refuses_newer_schema),
        cmocka_unit_test(test_refuses_public_plain_http),
        cmocka_unit_test(test_unknown_option),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
