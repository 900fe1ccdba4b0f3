/*
 * it_sync_sim.c - the multi-site simulation the sync protocol must survive
 * (docs/SYNC.md).
 *
 * A real `coachbox central` and six field data directories (sites): two for
 * bury-town, two for prestwich, one for whitefield, and one for radcliffe and
 * whitefield, so the same field of a bury-town, prestwich or whitefield record
 * can be edited at two sites at once (ramsbottom-tottington has no site: people
 * moved there leave every site).  Edits
 * go through the core library in this process (cb_store_open on a site's data
 * directory, cb_participant_* / cb_kind_* as a coach of the record's team:
 * every write lands in the site's outbox); team moves are a manager's job, made
 * on central's own API (PATCH /api/participants/ID); sync rounds are separate
 * `coachbox sync --data SITE` processes, so they can be SIGKILLed at random
 * moments.  Thousands of random edits (creates, same-field edits at two sites
 * of one team, delete/edit races in either order, team moves and edits racing
 * them) are interleaved with sync rounds in random order, under faults:
 *   - `coachbox sync` SIGKILLed at random points of push and pull (the kill
 *     time is drawn within each site's usual round time);
 *   - now and then a second `coachbox sync` on the same data directory at
 *     the same time (an operator's round beside the syncer of `coachbox
 *     serve`; COACHBOX_SIM_TWINS=0 turns this off);
 *   - central SIGKILLed and restarted a few times;
 *   - a fault-injecting loopback HTTP proxy thread between the sites and
 *     central (sites enroll through its URL) that drops requests, drops or
 *     truncates responses after central has applied them, delays, and
 *     duplicates requests (the copy must be refused as a replay).
 * Then the faults stop and every site syncs until `coachbox sync` exits 0
 * twice in a row for all of them, and the test asserts:
 *   - convergence: `coachbox sync --verify` says "in sync" for every site and
 *     the scope digests of site and central (computed here) agree; no site
 *     keeps a person outside its scope;
 *   - no lost edit: every committed edit's value is the final value on
 *     central, or is kept in a conflict on central (winner or loser), or was
 *     overwritten by a later edit made by someone who had seen it;
 *   - no refused op, no pulled page that fails to apply, every created row
 *     exists on central, no duplicate (site, op_id) in central's change log;
 *   - forward-only cursors (settings.sync_cursor, sampled every few
 *     milliseconds while rounds run and after each round, never decreases);
 *   - every outbox empty, every database passes PRAGMA integrity_check;
 *   - every duplicated request was refused as a replay.
 *
 * Environment: COACHBOX_SIM_SEED (RNG seed; printed), COACHBOX_SIM_EDITS
 * (edits besides bursts of new contacts, default 2500; the bursts add a few
 * thousand more), COACHBOX_SIM_CENTRAL_KILLS (default 3), COACHBOX_SIM_TWINS,
 * COACHBOX_SIM_SECONDS (time budget of the edit phase, default 150),
 * COACHBOX_SIM_KEEP=1 keeps the data directories for inspection.
 * Timing-dependent events (kills, proxy faults) make a run reproducible only
 * approximately; the seed fixes the edit sequence's choices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coachbox/auth.h"
#include "coachbox/err.h"
#include "coachbox/json.h"
#include "coachbox/kind.h"
#include "coachbox/participant.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"
#include "harness.h"
#include "relay.h"

#define PW            "simulation-password-1"
#define NSITES        6
#define MAX_RUNNING   2   /* concurrent `coachbox sync` processes (2 cores) */
#define MAX_FAILURES  400 /* failure lines kept for the report */
#define DEFAULT_SEED  20261126ULL
#define DEFAULT_EDITS 2500

/* ---------------------------------------------------------------- time, RNG */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static int rng_int(struct rng *r, int n)
{
    return n > 0 ? (int)(rng_next(r) % (uint64_t)n) : 0;
}

static int rng_pct(struct rng *r, int pct)
{
    return rng_int(r, 100) < pct;
}

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = getenv(name);
    if (!v || !v[0]) {
        return def;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 0);
    if (errno || *end || x < lo || x > hi) {
        fprintf(stderr, "it_sync_sim: ignoring %s=%s (want %ld..%ld)\n", name, v, lo, hi);
        return def;
    }
    return (long)x;
}

/* ---------------------------------------------------------------- failures */

static char *failures[MAX_FAILURES];
static int nfailures, nfailures_dropped;

static void fail_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_note(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (nfailures < MAX_FAILURES) {
        failures[nfailures++] = strdup(buf);
    } else {
        nfailures_dropped++;
    }
}

/* ---------------------------------------------------------------- processes */

#define MAX_PROCS 32
static pid_t procs[MAX_PROCS];
static int procs_atexit;

static void procs_kill_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (procs[i] > 0) {
            kill(procs[i], SIGKILL);
            waitpid(procs[i], NULL, 0);
            procs[i] = 0;
        }
    }
}

static void proc_track(pid_t pid, int add)
{
    if (!procs_atexit) {
        atexit(procs_kill_all);
        procs_atexit = 1;
    }
    for (int i = 0; i < MAX_PROCS; i++) {
        if (add ? procs[i] == 0 : procs[i] == pid) {
            procs[i] = add ? pid : 0;
            return;
        }
    }
}

/* Start the coachbox binary with args (NULL-terminated), output to log. */
static pid_t spawn(const char *const *args, const char *log)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = cbt_bin();
    for (int i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (in >= 0) {
            dup2(in, 0);
            close(in);
        }
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    if (pid > 0) {
        proc_track(pid, 1);
    }
    return pid;
}

/* waitpid with bookkeeping; returns the exit code, -1 for a signal. */
static int reap(pid_t pid, int nohang, int *done)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, nohang ? WNOHANG : 0);
    if (r == 0) {
        *done = 0;
        return 0;
    }
    *done = 1;
    proc_track(pid, 0);
    if (r < 0) {
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void read_file(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t got = fread(out, 1, len - 1, f);
        out[got] = '\0';
        fclose(f);
    }
}

/* Run coachbox with args to completion (SIGKILL after timeout_s); output into out. */
static int run_cmd(const char *const *args, const char *log, char *out, size_t outlen,
                   int timeout_s)
{
    pid_t pid = spawn(args, log);
    if (pid <= 0) {
        return -1;
    }
    int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
    int done = 0, code = -1;
    while (!done) {
        code = reap(pid, 1, &done);
        if (!done) {
            if (mono_ms() > deadline) {
                kill(pid, SIGKILL);
                code = reap(pid, 0, &done);
                code = -2;
                break;
            }
            sleep_ms(3);
        }
    }
    if (out) {
        read_file(log, out, outlen);
    }
    return code;
}

/* ---------------------------------------------------------------- central */

static struct {
    pid_t pid;
    int port;
    char dir[600];
    char root[512];
    int starts;
} central;

static int central_start(void)
{
    char log[700], buf[8192];
    snprintf(log, sizeof(log), "%s/central-%d.log", central.root, ++central.starts);
    const char *args[] = {"central",     "--data",    central.dir, "--listen",
                          "127.0.0.1:0", "--threads", "16",        NULL};
    central.pid = spawn(args, log);
    if (central.pid <= 0) {
        return -1;
    }
    for (int tries = 0; tries < 3000; tries++) {
        read_file(log, buf, sizeof(buf));
        const char *p = strstr(buf, "listening on http://127.0.0.1:");
        if (p) {
            central.port = (int)strtol(p + strlen("listening on http://127.0.0.1:"), NULL, 10);
            return central.port > 0 ? 0 : -1;
        }
        int done;
        reap(central.pid, 1, &done);
        if (done) {
            central.pid = 0;
            fprintf(stderr, "it_sync_sim: central exited at start:\n%s\n", buf);
            return -1;
        }
        sleep_ms(10);
    }
    return -1;
}

static void central_kill(void)
{
    if (central.pid > 0) {
        int done;
        kill(central.pid, SIGKILL);
        reap(central.pid, 0, &done);
        central.pid = 0;
    }
}

/* ---------------------------------------------------------------- fault proxy */

/*
 * A loopback HTTP proxy: one thread accepts, one thread per connection reads
 * one request (headers + Content-Length body), asks for "Connection: close"
 * upstream, and with faults on may drop it, delay it, forward it twice, or
 * forward it and then drop or truncate the answer.
 */
static struct {
    int lfd, port;
    pthread_t th;
    atomic_int upstream_port;
    atomic_int faults;
    atomic_int stop;
    atomic_int active;
    pthread_mutex_t lock;
    struct rng rng;
    atomic_long requests, drop_req, drop_resp, truncated, delayed, duplicated, dup_refused,
        dup_unrefused, upstream_fail, odd_answers;
    char dup_unrefused_example[300];
    char odd_example[600];
} px;

static int resp_status(const struct cbt_buf *b)
{
    const char *sp = b->p ? strchr(b->p, ' ') : NULL;
    return sp ? (int)strtol(sp + 1, NULL, 10) : 0;
}

/* A 200 answer that does not fit its request (a push answer without "ack", a page without
 * "changes"). */
static void px_check_answer(const struct cbt_buf *req, const struct cbt_buf *resp)
{
    if (resp_status(resp) != 200) {
        return;
    }
    const char *want = strncmp(req->p, "POST /sync/v1/push", 18) == 0  ? "\"ack\""
                       : strncmp(req->p, "GET /sync/v1/pull", 17) == 0 ? "\"changes\""
                                                                       : NULL;
    if (want && !strstr(resp->p, want)) {
        atomic_fetch_add(&px.odd_answers, 1);
        pthread_mutex_lock(&px.lock);
        const char *eol = strstr(req->p, "\r\n");
        snprintf(px.odd_example, sizeof(px.odd_example), "%.*s -> %.*s",
                 (int)(eol ? eol - req->p : 40), req->p, (int)(resp->len < 400 ? resp->len : 400),
                 resp->p);
        pthread_mutex_unlock(&px.lock);
    }
}

static int px_roll(int n)
{
    pthread_mutex_lock(&px.lock);
    int v = rng_int(&px.rng, n);
    pthread_mutex_unlock(&px.lock);
    return v;
}

static void *px_conn(void *arg)
{
    int cfd = (int)(intptr_t)arg;
    struct cbt_buf req = {NULL, 0, 0}, resp = {NULL, 0, 0};
    cbt_set_timeouts(cfd, 120);
    if (cbt_read_request(cfd, &req) == 0) {
        atomic_fetch_add(&px.requests, 1);
        int roll = atomic_load(&px.faults) ? px_roll(1000) : 1000;
        if (roll < 40) {
            atomic_fetch_add(&px.drop_req, 1); /* never reaches central */
        } else if (roll < 100) {
            /* Central applies it; the site hears nothing, or half an answer. */
            if (cbt_forward(atomic_load(&px.upstream_port), 120, &req, &resp) == 0) {
                if (roll < 80) {
                    atomic_fetch_add(&px.drop_resp, 1);
                } else {
                    atomic_fetch_add(&px.truncated, 1);
                    cbt_send_all(cfd, resp.p, resp.len / 2);
                }
            } else {
                atomic_fetch_add(&px.upstream_fail, 1);
            }
        } else if (roll < 140) {
            /* The same bytes twice: the copy must be refused as a replay. */
            struct cbt_buf resp2 = {NULL, 0, 0};
            int ok1 = cbt_forward(atomic_load(&px.upstream_port), 120, &req, &resp) == 0;
            int ok2 = ok1 && cbt_forward(atomic_load(&px.upstream_port), 120, &req, &resp2) == 0;
            if (ok2) {
                atomic_fetch_add(&px.duplicated, 1);
                if (resp_status(&resp2) == 401 && strstr(resp2.p, "\"replayed\"")) {
                    atomic_fetch_add(&px.dup_refused, 1);
                } else {
                    atomic_fetch_add(&px.dup_unrefused, 1);
                    pthread_mutex_lock(&px.lock);
                    snprintf(px.dup_unrefused_example, sizeof(px.dup_unrefused_example), "%.*s",
                             (int)(resp2.len < 250 ? resp2.len : 250), resp2.p);
                    pthread_mutex_unlock(&px.lock);
                }
            }
            if (ok1) {
                /* Usually the first answer; sometimes the refusal of the copy. */
                const struct cbt_buf *back = ok2 && px_roll(4) == 0 ? &resp2 : &resp;
                cbt_send_all(cfd, back->p, back->len);
            } else {
                atomic_fetch_add(&px.upstream_fail, 1);
            }
            free(resp2.p);
        } else {
            if (roll < 200) {
                atomic_fetch_add(&px.delayed, 1);
                sleep_ms(20 + px_roll(1200));
            }
            if (cbt_forward(atomic_load(&px.upstream_port), 120, &req, &resp) == 0) {
                px_check_answer(&req, &resp);
                cbt_send_all(cfd, resp.p, resp.len);
            } else {
                atomic_fetch_add(&px.upstream_fail, 1);
            }
        }
    }
    free(req.p);
    free(resp.p);
    close(cfd);
    atomic_fetch_sub(&px.active, 1);
    return NULL;
}

static void *px_accept(void *arg)
{
    (void)arg;
    while (!atomic_load(&px.stop)) {
        struct pollfd pfd = {px.lfd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        int cfd = accept(px.lfd, NULL, NULL);
        if (cfd < 0) {
            continue;
        }
        atomic_fetch_add(&px.active, 1);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, px_conn, (void *)(intptr_t)cfd) != 0) {
            close(cfd);
            atomic_fetch_sub(&px.active, 1);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

static int px_start(uint64_t seed)
{
    memset(&px, 0, sizeof(px));
    pthread_mutex_init(&px.lock, NULL);
    px.rng.s = seed ^ 0x5bd1e995ULL;
    px.lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(px.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (px.lfd < 0 || bind(px.lfd, (struct sockaddr *)&a, sizeof(a)) || listen(px.lfd, 128) ||
        getsockname(px.lfd, (struct sockaddr *)&a, &al)) {
        return -1;
    }
    px.port = ntohs(a.sin_port);
    return pthread_create(&px.th, NULL, px_accept, NULL) == 0 ? 0 : -1;
}

static void px_stop(void)
{
    if (px.lfd > 0) {
        atomic_store(&px.stop, 1);
        pthread_join(px.th, NULL);
        for (int i = 0; i < 3000 && atomic_load(&px.active) > 0; i++) {
            sleep_ms(10);
        }
        close(px.lfd);
        px.lfd = 0;
    }
}

/* ---------------------------------------------------------------- sites */

struct site {
    const char *name;
    const char *teams[2];
    int nteams;
    char dir[600];
    char teams_json[128];
    struct cb_store *store;
    struct cb_conn *c;
    struct cb_user coach[2];
    /* the running `coachbox sync` processes: slot 1 is a "twin" that overlaps
     * slot 0 on the same data directory (a CLI round beside serve's syncer) */
    pid_t pid[2];
    int64_t started_ms[2], kill_at_ms[2], pending_at_start[2];
    char slot_log[2][720];
    double round_ms; /* running average of a round's duration */
    int64_t cursor;  /* highest sync_cursor seen */
    /* statistics */
    int rounds, rounds_ok, kills, kill_push, kill_pull, twins;
};

static struct site sites[NSITES] = {
    {.name = "bury-a", .teams = {"bury-town"}, .nteams = 1},
    {.name = "bury-b", .teams = {"bury-town"}, .nteams = 1},
    {.name = "prestwich-a", .teams = {"prestwich"}, .nteams = 1},
    {.name = "prestwich-b", .teams = {"prestwich"}, .nteams = 1},
    {.name = "whitefield", .teams = {"whitefield"}, .nteams = 1},
    {.name = "radcliffe", .teams = {"radcliffe", "whitefield"}, .nteams = 2},
};

/* Teams a person can be moved to (ramsbottom-tottington: no site serves it). */
static const char *const all_teams[] = {"bury-town", "prestwich", "whitefield", "radcliffe",
                                        "ramsbottom-tottington"};
#define NTEAMS 5

/* Pairs of sites sharing a team. */
static const struct {
    int a, b;
    const char *team;
} pairs[] = {{0, 1, "bury-town"}, {2, 3, "prestwich"}, {4, 5, "whitefield"}};
#define NPAIRS 3

static const struct cb_user *coach_for(const struct site *s, const char *team)
{
    for (int i = 0; i < s->nteams; i++) {
        if (team && strcmp(s->teams[i], team) == 0) {
            return &s->coach[i];
        }
    }
    return NULL;
}

static int64_t site_cursor(struct site *s)
{
    char buf[32];
    if (cb_setting_get(s->c, "sync_cursor", buf, sizeof(buf)) != CB_OK) {
        return 0;
    }
    return strtoll(buf, NULL, 10);
}

static int64_t count_sql(struct cb_conn *c, const char *sql, const char *bind1)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (cb_conn_prepare(c, sql, &st) != CB_OK) {
        return -1;
    }
    if (bind1) {
        sqlite3_bind_text(st, 1, bind1, -1, SQLITE_TRANSIENT);
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    cb_stmt_done(st);
    return n;
}

/* ---------------------------------------------------------------- the edit log */

enum { T_PARTICIPANTS, T_ENCOUNTERS };
static const char *const tbl_names[] = {"participants", "encounters"};

struct edit {
    unsigned char tbl, site;
    char kind; /* c create, p patch, d delete, m move */
    char row[37];
    char field[24];
    char *val;   /* JSON text of the committed value */
    char *prior; /* JSON text of the site's value just before (patches), or NULL */
};

static struct edit *edits;
static size_t nedits_logged, edits_cap;
static long ops_tried, ops_refused_locally;
static long n_creates, n_patches, n_pair_edits, n_deletes, n_races, n_moves, n_move_races, n_bursts;
static long unique_counter;
static size_t burst_edits;

static void log_edit(int tbl, int site, char kind, const char *row, const char *field,
                     const json_t *val, const json_t *prior)
{
    if (nedits_logged == edits_cap) {
        edits_cap = edits_cap ? edits_cap * 2 : 4096;
        edits = realloc(edits, edits_cap * sizeof(*edits));
        assert_non_null(edits);
    }
    struct edit *e = &edits[nedits_logged++];
    memset(e, 0, sizeof(*e));
    e->tbl = (unsigned char)tbl;
    e->site = (unsigned char)site;
    e->kind = kind;
    snprintf(e->row, sizeof(e->row), "%s", row);
    snprintf(e->field, sizeof(e->field), "%s", field);
    e->val = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
    e->prior = prior ? json_dumps(prior, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

struct created {
    unsigned char tbl, site;
    char id[37];
};
static struct created *created;
static size_t ncreated, created_cap;

static void log_created(int tbl, int site, const char *id)
{
    if (ncreated == created_cap) {
        created_cap = created_cap ? created_cap * 2 : 4096;
        created = realloc(created, created_cap * sizeof(*created));
        assert_non_null(created);
    }
    created[ncreated].tbl = (unsigned char)tbl;
    created[ncreated].site = (unsigned char)site;
    snprintf(created[ncreated].id, sizeof(created[ncreated].id), "%s", id);
    ncreated++;
}

/* ---------------------------------------------------------------- picking rows */

/* A random live participant of the site's teams (optionally of one team). */
static int pick_participant(struct rng *r, struct site *s, const char *team, char id[37],
                            char *team_out, size_t team_len)
{
    char scope[160];
    if (team) {
        snprintf(scope, sizeof(scope), "[\"%s\"]", team);
    } else {
        snprintf(scope, sizeof(scope), "%s", s->teams_json);
    }
    int64_t n = count_sql(s->c,
                          "SELECT count(*) FROM participants WHERE deleted = 0 AND team IN "
                          "(SELECT value FROM json_each(?1))",
                          scope);
    if (n <= 0) {
        return -1;
    }
    sqlite3_stmt *st;
    if (cb_conn_prepare(s->c,
                        "SELECT id, team FROM participants WHERE deleted = 0 AND team IN "
                        "(SELECT value FROM json_each(?1)) ORDER BY id LIMIT 1 OFFSET ?2",
                        &st) != CB_OK) {
        return -1;
    }
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, rng_int(r, (int)n));
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(id, 37, "%s", (const char *)sqlite3_column_text(st, 0));
        if (team_out) {
            snprintf(team_out, team_len, "%s", (const char *)sqlite3_column_text(st, 1));
        }
        rc = 0;
    }
    cb_stmt_done(st);
    return rc;
}

/* A random live encounter of a live participant of the site's teams. */
static int pick_encounter(struct rng *r, struct site *s, const char *team, char id[37])
{
    char scope[160];
    if (team) {
        snprintf(scope, sizeof(scope), "[\"%s\"]", team);
    } else {
        snprintf(scope, sizeof(scope), "%s", s->teams_json);
    }
    int64_t n = count_sql(s->c,
                          "SELECT count(*) FROM encounters e JOIN participants p ON p.id = "
                          "e.participant_id WHERE e.deleted = 0 AND p.deleted = 0 AND p.team IN "
                          "(SELECT value FROM json_each(?1))",
                          scope);
    if (n <= 0) {
        return -1;
    }
    sqlite3_stmt *st;
    if (cb_conn_prepare(s->c,
                        "SELECT e.id FROM encounters e JOIN participants p ON p.id = "
                        "e.participant_id WHERE e.deleted = 0 AND p.deleted = 0 AND p.team IN "
                        "(SELECT value FROM json_each(?1)) ORDER BY e.id LIMIT 1 OFFSET ?2",
                        &st) != CB_OK) {
        return -1;
    }
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, rng_int(r, (int)n));
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(id, 37, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    cb_stmt_done(st);
    return rc;
}

/* Team of a live participant at a site ("" if absent). */
static void participant_team_at(struct site *s, const char *pid, char *team, size_t len)
{
    sqlite3_stmt *st;
    team[0] = '\0';
    if (cb_conn_prepare(s->c, "SELECT team FROM participants WHERE id = ?1 AND deleted = 0", &st) ==
        CB_OK) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(team, len, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        cb_stmt_done(st);
    }
}

/* Team (through its participant) of a live encounter at a site ("" if absent). */
static void encounter_team_at(struct site *s, const char *eid, char *team, size_t len)
{
    sqlite3_stmt *st;
    team[0] = '\0';
    if (cb_conn_prepare(s->c,
                        "SELECT p.team FROM encounters e JOIN participants p ON p.id = "
                        "e.participant_id WHERE e.id = ?1 AND e.deleted = 0 AND p.deleted = 0",
                        &st) == CB_OK) {
        sqlite3_bind_text(st, 1, eid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(team, len, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        cb_stmt_done(st);
    }
}

/* ---------------------------------------------------------------- edits */

static int site_index(const struct site *s)
{
    return (int)(s - sites);
}

static void unique_value(char *out, size_t len, const char *prefix, const struct site *s)
{
    snprintf(out, len, "%s.%s.%ld", prefix, s->name, ++unique_counter);
}

static int op_create_participant(struct rng *r, struct site *s, const char *team)
{
    char given[80], family[80], dob[48];
    if (!team) {
        team = s->teams[rng_int(r, s->nteams)];
    }
    const struct cb_user *u = coach_for(s, team);
    struct cb_actor a = {u, NULL, 1};
    unique_value(given, sizeof(given), "g", s);
    unique_value(family, sizeof(family), "f", s);
    snprintf(dob, sizeof(dob), "19%02d-%02d-%02d", 40 + rng_int(r, 60), 1 + rng_int(r, 12),
             1 + rng_int(r, 28));
    json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "given_name", given, "family_name", family,
                           "date_of_birth", dob, "team", team);
    json_t *out = NULL;
    struct cb_field_error fe = {"", ""};
    ops_tried++;
    int rc = cb_participant_create(s->c, &a, in, &out, &fe);
    if (rc == CB_OK) {
        const char *id = cb_json_str(out, "id");
        log_created(T_PARTICIPANTS, site_index(s), id);
        log_edit(T_PARTICIPANTS, site_index(s), 'c', id, "given_name",
                 json_object_get(in, "given_name"), NULL);
        log_edit(T_PARTICIPANTS, site_index(s), 'c', id, "family_name",
                 json_object_get(in, "family_name"), NULL);
        log_edit(T_PARTICIPANTS, site_index(s), 'c', id, "team", json_object_get(in, "team"), NULL);
        n_creates++;
    } else {
        ops_refused_locally++; /* not a sync failure; counted in the report */
    }
    json_decref(in);
    json_decref(out);
    return rc;
}

static int op_create_encounter(struct rng *r, struct site *s)
{
    char pid[37], team[80], notes[80];
    if (pick_participant(r, s, NULL, pid, team, sizeof(team))) {
        return op_create_participant(r, s, NULL);
    }
    const struct cb_user *u = coach_for(s, team);
    if (!u) {
        return -1;
    }
    struct cb_actor a = {u, NULL, 1};
    unique_value(notes, sizeof(notes), "n", s);
    static const char *const types[] = {"drop_in", "one_to_one", "phone", "video"};
    json_t *in =
        json_pack("{s:s, s:s, s:s, s:s}", "participant_id", pid, "type", types[rng_int(r, 4)],
                  "occurred_at", "2025-06-01T10:00:00.000Z", "notes", notes);
    json_t *out = NULL;
    struct cb_field_error fe = {"", ""};
    ops_tried++;
    int rc = cb_kind_create(s->c, &a, &cb_kind_encounters, in, &out, &fe);
    if (rc == CB_OK) {
        const char *id = cb_json_str(out, "id");
        log_created(T_ENCOUNTERS, site_index(s), id);
        log_edit(T_ENCOUNTERS, site_index(s), 'c', id, "notes", json_object_get(in, "notes"), NULL);
        n_creates++;
    } else {
        ops_refused_locally++; /* e.g. the person was purged by a concurrent pull */
    }
    json_decref(in);
    json_decref(out);
    return rc;
}

static const char *const participant_fields[] = {"given_name", "family_name", "preferred_name",
                                                 "gp_practice"};

/* Patch one field of a participant visible at s to a fresh unique value. */
static int op_patch_participant(struct site *s, const char *pid, const char *field)
{
    char team[80], val[80];
    participant_team_at(s, pid, team, sizeof(team));
    const struct cb_user *u = coach_for(s, team);
    if (!u) {
        return -1;
    }
    struct cb_actor a = {u, NULL, 1};
    json_t *cur = NULL;
    if (cb_record_get_synced(s->c, &cb_table_participants, pid, &cur) != CB_OK) {
        return -1;
    }
    unique_value(val, sizeof(val), field, s);
    json_t *in = json_pack("{s:s}", field, val);
    json_t *out = NULL;
    struct cb_field_error fe = {"", ""};
    ops_tried++;
    int rc = cb_participant_patch(s->c, &a, pid, in, &out, &fe);
    if (rc == CB_OK) {
        log_edit(T_PARTICIPANTS, site_index(s), 'p', pid, field, json_object_get(in, field),
                 json_object_get(cur, field));
        n_patches++;
    } else {
        ops_refused_locally++;
    }
    json_decref(cur);
    json_decref(in);
    json_decref(out);
    return rc;
}

static int op_patch_encounter(struct site *s, const char *eid)
{
    char team[80], val[80];
    encounter_team_at(s, eid, team, sizeof(team));
    const struct cb_user *u = coach_for(s, team);
    if (!u) {
        return -1;
    }
    struct cb_actor a = {u, NULL, 1};
    json_t *cur = NULL;
    if (cb_record_get_synced(s->c, &cb_table_encounters, eid, &cur) != CB_OK) {
        return -1;
    }
    unique_value(val, sizeof(val), "notes", s);
    json_t *in = json_pack("{s:s}", "notes", val);
    json_t *out = NULL;
    struct cb_field_error fe = {"", ""};
    ops_tried++;
    int rc = cb_kind_patch(s->c, &a, &cb_kind_encounters, eid, in, &out, &fe);
    if (rc == CB_OK) {
        log_edit(T_ENCOUNTERS, site_index(s), 'p', eid, "notes", json_object_get(in, "notes"),
                 json_object_get(cur, "notes"));
        n_patches++;
    } else {
        ops_refused_locally++;
    }
    json_decref(cur);
    json_decref(in);
    json_decref(out);
    return rc;
}

static int op_delete_encounter(struct site *s, const char *eid)
{
    char team[80];
    encounter_team_at(s, eid, team, sizeof(team));
    const struct cb_user *u = coach_for(s, team);
    if (!u) {
        return -1;
    }
    struct cb_actor a = {u, NULL, 1};
    ops_tried++;
    int rc = cb_kind_delete(s->c, &a, &cb_kind_encounters, eid);
    if (rc == CB_OK) {
        json_t *one = json_integer(1);
        log_edit(T_ENCOUNTERS, site_index(s), 'd', eid, "deleted", one, NULL);
        json_decref(one);
        n_deletes++;
    } else {
        ops_refused_locally++;
    }
    return rc;
}

/* Central, for moves: a manager's session on its API, and its store read here. */
static struct cbt_client mgr;
static struct cb_store *central_store;
static struct cb_conn *central_c;

static const char *who(int site)
{
    return site < NSITES ? sites[site].name : "central (manager)";
}

/* A random live participant on central (of team, or any). */
static int pick_central_participant(struct rng *r, char id[37], char *team, size_t team_len)
{
    int64_t n = count_sql(central_c, "SELECT count(*) FROM participants WHERE deleted = 0", NULL);
    sqlite3_stmt *st;
    int rc = -1;
    if (n <= 0 || cb_conn_prepare(central_c,
                                  "SELECT id, team FROM participants WHERE deleted = 0 ORDER BY id "
                                  "LIMIT 1 OFFSET ?1",
                                  &st) != CB_OK) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, rng_int(r, (int)n));
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(id, 37, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(team, team_len, "%s", (const char *)sqlite3_column_text(st, 1));
        rc = 0;
    }
    cb_stmt_done(st);
    return rc;
}

/*
 * Move a person to another team: a manager's job, done on central's API
 * (coaches may not move people, and managers' accounts stay on central).
 */
static int op_move_participant(struct rng *r, const char *pid)
{
    char team[80] = "", path[128], body[96];
    sqlite3_stmt *st;
    if (cb_conn_prepare(central_c, "SELECT team FROM participants WHERE id = ?1 AND deleted = 0",
                        &st) == CB_OK) {
        sqlite3_bind_text(st, 1, pid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(team, sizeof(team), "%s", (const char *)sqlite3_column_text(st, 0));
        }
        cb_stmt_done(st);
    }
    if (!team[0]) {
        return -1; /* not pushed to central yet */
    }
    const char *others[NTEAMS];
    int nothers = 0;
    for (int i = 0; i < NTEAMS; i++) {
        if (strcmp(all_teams[i], team) != 0) {
            others[nothers++] = all_teams[i];
        }
    }
    const char *to = others[rng_int(r, nothers)];
    snprintf(path, sizeof(path), "/api/participants/%s", pid);
    snprintf(body, sizeof(body), "{\"team\":\"%s\"}", to);
    ops_tried++;
    struct cbt_resp resp;
    long status = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (cbt_request(&mgr, "PATCH", path, body, &resp) == 0) {
            status = resp.status;
            cbt_resp_free(&resp);
        }
        if (status != 401 && status != 403) {
            break;
        }
        cbt_login(&mgr, "manager.sim", PW); /* the session did not survive */
    }
    if (status == 200) {
        json_t *v = json_string(to), *prior = json_string(team);
        log_edit(T_PARTICIPANTS, NSITES, 'm', pid, "team", v, prior);
        json_decref(v);
        json_decref(prior);
        n_moves++;
        return CB_OK;
    }
    ops_refused_locally++; /* not a sync failure; the coverage check sees if moves stop */
    return -1;
}

/* ---------------------------------------------------------------- sync rounds */

static long sync_rounds, sync_ok, sync_kills, sync_kills_missed, n_twins;
static int twins; /* COACHBOX_SIM_TWINS: overlapping rounds on one site */
static long refused_ops, apply_failures;

struct errcount {
    char msg[200];
    int n;
};
static struct errcount errs[64];
static int nerrs;

static void note_error(const char *msg)
{
    for (int i = 0; i < nerrs; i++) {
        if (strcmp(errs[i].msg, msg) == 0) {
            errs[i].n++;
            return;
        }
    }
    if (nerrs < 64) {
        snprintf(errs[nerrs].msg, sizeof(errs[nerrs].msg), "%s", msg);
        errs[nerrs++].n = 1;
    }
}

static void sample_cursor(struct site *s);

/* After a `coachbox sync` ended: log, cursor, refusals. */
static void after_round(struct site *s, int slot, int code, int killed)
{
    static char buf[65536];
    int64_t took = mono_ms() - s->started_ms[slot];
    read_file(s->slot_log[slot], buf, sizeof(buf));
    sync_rounds++;
    s->rounds++;
    if (code == 0) {
        sync_ok++;
        s->rounds_ok++;
    }
    if (!killed) {
        s->round_ms = 0.8 * s->round_ms + 0.2 * (double)took;
    }
    {
        /* Every round's output, in order, for diagnosis. */
        char all[800];
        snprintf(all, sizeof(all), "%s.all", s->slot_log[0]);
        FILE *f = fopen(all, "a");
        if (f) {
            fprintf(f, "==== round %d of %s%s: exit %d%s after %lld ms\n%s", s->rounds, s->name,
                    slot ? " (twin)" : "", code, killed ? " (SIGKILL)" : "", (long long)took, buf);
            fclose(f);
        }
    }
    for (const char *p = buf; (p = strstr(p, "sync: central refused ")) != NULL; p++) {
        long n = strtol(p + strlen("sync: central refused "), NULL, 10);
        refused_ops += n;
        const char *eol = strchr(p, '\n');
        fail_note("central refused %ld op(s) from %s: %.*s", n, s->name,
                  (int)(eol ? eol - p : (long)strlen(p)), p);
    }
    if (!killed && code != 0) {
        /* Group the failures by message (network faults are expected). */
        const char *p = strstr(buf, "sync failed: ");
        if (p) {
            char msg[200];
            p += strlen("sync failed: ");
            size_t k = strcspn(p, "\n");
            snprintf(msg, sizeof(msg), "%.*s", (int)(k < 120 ? k : 120), p);
            char *url = strstr(msg, "http://");
            if (url) {
                char *end = strchr(url + 7, ':');
                end = end ? strchr(end + 1, ':') : NULL;
                if (end) {
                    memmove(url + 3, end, strlen(end) + 1);
                    memcpy(url, "URL", 3);
                }
            }
            char *digits = strstr(msg, "(ack ");
            if (digits) {
                snprintf(digits, sizeof(msg) - (size_t)(digits - msg), "(ack ...)");
            }
            note_error(msg);
        }
    }
    for (const char *q = buf; (q = strstr(q, "sync apply to ")) != NULL; q++) {
        /* Central never sends a change a site cannot apply: a page that fails
         * to apply blocks the site's pull (for good, if it comes back). */
        char msg[200];
        size_t k = strcspn(q, "\n");
        snprintf(msg, sizeof(msg), "%.*s", (int)(k < 150 ? k : 150), q);
        note_error(msg);
        apply_failures++;
        if (apply_failures <= 5) {
            fail_note("%s could not apply a pulled page%s: %s", s->name,
                      slot || s->pid[1 - slot] > 0 ? " (two rounds overlapping)" : "", msg);
        }
    }
    if (s->c) {
        sample_cursor(s);
    }
}

/* Start `coachbox sync` for s in slot; SIGKILL it at a random moment with kill_pct %. */
static void start_round(struct rng *r, struct site *s, int slot, int kill_pct)
{
    const char *args[] = {"sync", "--data", s->dir, NULL};
    s->pending_at_start[slot] = s->c ? count_sql(s->c, "SELECT count(*) FROM outbox", NULL) : 0;
    s->pid[slot] = spawn(args, s->slot_log[slot]);
    s->started_ms[slot] = mono_ms();
    /* Aim inside the round: up to 1.3 times this site's usual round time. */
    int span = (int)(s->round_ms * 1.3);
    s->kill_at_ms[slot] =
        rng_pct(r, kill_pct) ? s->started_ms[slot] + 1 + rng_int(r, span < 10 ? 10 : span) : 0;
}

static int site_running(const struct site *s)
{
    return (s->pid[0] > 0) + (s->pid[1] > 0);
}

static int running_rounds(void)
{
    int n = 0;
    for (int i = 0; i < NSITES; i++) {
        n += site_running(&sites[i]);
    }
    return n;
}

/* Which phase a killed round had reached, from its progress lines. */
static int killed_in_pull(const char *buf, int64_t pending)
{
    if (strstr(buf, "pull: ") || pending == 0) {
        return 1;
    }
    const char *last = NULL;
    for (const char *p = buf; (p = strstr(p, "push: ")) != NULL; p++) {
        last = p;
    }
    long long done = 0, total = 0;
    return last && sscanf(last, "push: %lld of %lld", &done, &total) == 2 && done >= total;
}

/* The cursor never goes back, not even for a moment while rounds run. */
static void sample_cursor(struct site *s)
{
    int64_t cur = site_cursor(s);
    if (cur < s->cursor) {
        fail_note("cursor of %s went back from %lld to %lld while a round ran%s", s->name,
                  (long long)s->cursor, (long long)cur,
                  s->pid[1] > 0 ? " (two rounds overlapping)" : "");
    }
    if (cur > s->cursor) {
        s->cursor = cur;
    }
}

/* Reap finished rounds; SIGKILL the ones whose time has come. */
static void poll_rounds(void)
{
    int64_t now = mono_ms();
    for (int i = 0; i < NSITES; i++) {
        struct site *s = &sites[i];
        if (s->c && site_running(s)) {
            sample_cursor(s);
        }
        for (int slot = 0; slot < 2; slot++) {
            if (s->pid[slot] <= 0) {
                continue;
            }
            int done;
            int code = reap(s->pid[slot], 1, &done);
            if (done) {
                s->pid[slot] = 0;
                if (s->kill_at_ms[slot]) {
                    sync_kills_missed++;
                }
                after_round(s, slot, code, 0);
                continue;
            }
            if (s->kill_at_ms[slot] && now >= s->kill_at_ms[slot]) {
                static char buf[65536];
                kill(s->pid[slot], SIGKILL);
                reap(s->pid[slot], 0, &done);
                s->pid[slot] = 0;
                read_file(s->slot_log[slot], buf, sizeof(buf));
                if (killed_in_pull(buf, s->pending_at_start[slot])) {
                    s->kill_pull++;
                } else {
                    s->kill_push++;
                }
                s->kills++;
                sync_kills++;
                after_round(s, slot, -1, 1);
            }
        }
    }
}

static void wait_rounds(int max_ms)
{
    int64_t deadline = mono_ms() + max_ms;
    while (running_rounds() > 0) {
        poll_rounds();
        if (mono_ms() > deadline) {
            for (int i = 0; i < NSITES; i++) {
                for (int slot = 0; slot < 2; slot++) {
                    if (sites[i].pid[slot] > 0) {
                        sites[i].kill_at_ms[slot] = mono_ms();
                    }
                }
            }
        }
        sleep_ms(2);
    }
}

/* One blocking round, no kill; returns the exit code. */
static int round_blocking(struct site *s)
{
    const char *args[] = {"sync", "--data", s->dir, NULL};
    s->started_ms[0] = mono_ms();
    int code = run_cmd(args, s->slot_log[0], NULL, 0, 300);
    after_round(s, 0, code, 0);
    return code;
}

/* ---------------------------------------------------------------- setup */

static void setup_world(uint64_t seed)
{
    char out[4096], log[700];
    cbt_tempdir(central.root, sizeof(central.root), "syncsim");
    assert_int_equal(mkdir(central.root, 0700), 0);
    snprintf(central.dir, sizeof(central.dir), "%s/central", central.root);
    snprintf(log, sizeof(log), "%s/cli.log", central.root);
    /* One coach per served team; accounts made before the first start are
     * logged by central's bootstrap. */
    static const char *const coach_teams[] = {"bury-town", "prestwich", "whitefield", "radcliffe"};
    for (int i = 0; i < 4; i++) {
        char user[64];
        snprintf(user, sizeof(user), "coach.%s", coach_teams[i]);
        assert_int_equal(cbt_add_user(central.dir, user, "coach", coach_teams[i], PW), 0);
    }
    assert_int_equal(cbt_add_user(central.dir, "manager.sim", "manager", NULL, PW), 0);
    assert_int_equal(central_start(), 0);
    assert_int_equal(cb_store_open(central.dir, &central_store), CB_OK);
    assert_int_equal(cb_store_conn(central_store, &central_c), CB_OK);
    char curl_base[64];
    snprintf(curl_base, sizeof(curl_base), "http://127.0.0.1:%d", central.port);
    assert_int_equal(cbt_client_init(&mgr, curl_base), 0);
    assert_int_equal(cbt_login(&mgr, "manager.sim", PW), 200);
    assert_int_equal(px_start(seed), 0);
    atomic_store(&px.upstream_port, central.port);
    printf("it_sync_sim: central on port %d, proxy on port %d, data in %s\n", central.port, px.port,
           central.root);
    char proxy_url[64];
    snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%d", px.port);
    for (int i = 0; i < NSITES; i++) {
        struct site *s = &sites[i];
        snprintf(s->dir, sizeof(s->dir), "%s/%s", central.root, s->name);
        snprintf(s->slot_log[0], sizeof(s->slot_log[0]), "%s/%s.sync.log", central.root, s->name);
        snprintf(s->slot_log[1], sizeof(s->slot_log[1]), "%s/%s.twin.log", central.root, s->name);
        s->round_ms = 60;
        const char *args[12] = {"site",   "add",   "--data", central.dir,
                                "--name", s->name, "--team", s->teams[0]};
        if (s->nteams > 1) {
            args[8] = "--team";
            args[9] = s->teams[1];
        }
        assert_int_equal(run_cmd(args, log, out, sizeof(out), 60), 0);
        const char *code = strstr(out, "hours): ");
        assert_non_null(code);
        char codebuf[32];
        snprintf(codebuf, sizeof(codebuf), "%.14s", code + strlen("hours): "));
        const char *eargs[] = {"enroll",  "--data", s->dir,  "--central",
                               proxy_url, "--code", codebuf, NULL};
        int rc = run_cmd(eargs, log, out, sizeof(out), 60);
        if (rc != 0) {
            fprintf(stderr, "it_sync_sim: enroll failed: %s\n", out);
        }
        assert_int_equal(rc, 0);
        snprintf(s->teams_json, sizeof(s->teams_json), "[\"%s\"%s%s%s]", s->teams[0],
                 s->nteams > 1 ? ",\"" : "", s->nteams > 1 ? s->teams[1] : "",
                 s->nteams > 1 ? "\"" : "");
        assert_int_equal(round_blocking(s), 0); /* the accounts arrive */
        assert_int_equal(cb_store_open(s->dir, &s->store), CB_OK);
        assert_int_equal(cb_store_conn(s->store, &s->c), CB_OK);
        for (int t = 0; t < s->nteams; t++) {
            char user[64];
            snprintf(user, sizeof(user), "coach.%s", s->teams[t]);
            assert_int_equal(cb_user_find(s->c, user, &s->coach[t], NULL, 0), CB_OK);
        }
        s->cursor = site_cursor(s);
    }
}

/* ---------------------------------------------------------------- one random step */

static int site_idle(const struct site *s)
{
    return site_running(s) == 0;
}

/* A random idle site (or -1). */
static int pick_idle(struct rng *r)
{
    int idle[NSITES], n = 0;
    for (int i = 0; i < NSITES; i++) {
        if (site_idle(&sites[i])) {
            idle[n++] = i;
        }
    }
    return n ? idle[rng_int(r, n)] : -1;
}

/* n new contacts at one idle site (not counted towards the edit target). */
static void burst(struct rng *r, int n)
{
    int i = pick_idle(r);
    if (i < 0) {
        return;
    }
    size_t before = nedits_logged;
    for (int k = 0; k < n; k++) {
        op_create_encounter(r, &sites[i]);
    }
    burst_edits += nedits_logged - before;
    n_bursts++;
}

static void random_step(struct rng *r)
{
    int roll = rng_int(r, 1000);
    if (roll < 150) {
        /* Creates may run while the site's own round is pushing. */
        struct site *s = &sites[rng_int(r, NSITES)];
        if (rng_pct(r, 40)) {
            op_create_participant(r, s, NULL);
        } else {
            op_create_encounter(r, s);
        }
        return;
    }
    if (roll < 152) {
        /* A burst of contacts: a large outbox, long pushes to kill. */
        burst(r, 100 + rng_int(r, 300));
        return;
    }
    int i = pick_idle(r);
    if (i < 0) {
        return;
    }
    struct site *s = &sites[i];
    char pid[37], eid[37], team[80];
    if (roll < 450) {
        if (pick_participant(r, s, NULL, pid, team, sizeof(team)) == 0) {
            op_patch_participant(s, pid, participant_fields[rng_int(r, 4)]);
        } else {
            op_create_participant(r, s, NULL);
        }
    } else if (roll < 600) {
        if (pick_encounter(r, s, NULL, eid) == 0) {
            op_patch_encounter(s, eid);
        } else {
            op_create_encounter(r, s);
        }
    } else if (roll < 640) {
        if (pick_encounter(r, s, NULL, eid) == 0) {
            op_delete_encounter(s, eid);
        }
    } else if (roll < 665) {
        if (pick_central_participant(r, pid, team, sizeof(team)) == 0) {
            op_move_participant(r, pid);
        }
    } else {
        /* Two sites of one team, before either syncs. */
        int p = rng_int(r, NPAIRS);
        struct site *x = &sites[pairs[p].a], *y = &sites[pairs[p].b];
        if (rng_pct(r, 50)) {
            struct site *t = x;
            x = y;
            y = t;
        }
        if (!site_idle(x) || !site_idle(y)) {
            return;
        }
        const char *tm = pairs[p].team;
        char yteam[80];
        if (roll < 880) {
            /* The same field of the same person, edited at both. */
            if (pick_participant(r, x, tm, pid, NULL, 0) != 0) {
                op_create_participant(r, x, tm);
                return;
            }
            participant_team_at(y, pid, yteam, sizeof(yteam));
            if (strcmp(yteam, tm) != 0) {
                return;
            }
            const char *field = participant_fields[rng_int(r, 4)];
            op_patch_participant(x, pid, field);
            op_patch_participant(y, pid, field);
            n_pair_edits++;
        } else if (roll < 940) {
            /* The same contact's notes at both; or deleted at one, edited at the other. */
            if (pick_encounter(r, x, tm, eid) != 0) {
                return;
            }
            encounter_team_at(y, eid, yteam, sizeof(yteam));
            if (strcmp(yteam, tm) != 0) {
                return;
            }
            if (rng_pct(r, 50)) {
                op_patch_encounter(x, eid);
                op_patch_encounter(y, eid);
                n_pair_edits++;
            } else {
                /* Either order: the later HLC wins (resurrection, or the tombstone). */
                if (rng_pct(r, 50)) {
                    op_delete_encounter(x, eid);
                    op_patch_encounter(y, eid);
                } else {
                    op_patch_encounter(y, eid);
                    op_delete_encounter(x, eid);
                }
                n_races++;
            }
        } else {
            /* A person moved on central while edited at a site (and maybe at its twin). */
            if (pick_participant(r, x, tm, pid, NULL, 0) != 0) {
                return;
            }
            participant_team_at(y, pid, yteam, sizeof(yteam));
            const char *field = participant_fields[rng_int(r, 4)];
            if (rng_pct(r, 50)) {
                if (op_move_participant(r, pid) != CB_OK) {
                    return;
                }
                op_patch_participant(x, pid, field);
            } else {
                op_patch_participant(x, pid, field);
                if (op_move_participant(r, pid) != CB_OK) {
                    return;
                }
            }
            if (strcmp(yteam, tm) == 0 && rng_pct(r, 50)) {
                op_patch_participant(y, pid, field);
            }
            n_move_races++;
        }
    }
}

/* ---------------------------------------------------------------- checks */

/* Does a conflict on central keep value (JSON text) for tbl/row/field? */
static int in_conflicts(struct cb_conn *cc, const struct edit *e)
{
    sqlite3_stmt *st;
    int found = 0;
    if (cb_conn_prepare(cc,
                        "SELECT field, winner_value, loser_value FROM conflicts WHERE tbl = ?1 "
                        "AND row_id = ?2 AND (field = ?3 OR field = 'deleted')",
                        &st) != CB_OK) {
        return 0;
    }
    sqlite3_bind_text(st, 1, tbl_names[e->tbl], -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, e->row, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, e->field, -1, SQLITE_TRANSIENT);
    json_t *want = json_loads(e->val, JSON_DECODE_ANY, NULL);
    while (!found && sqlite3_step(st) == SQLITE_ROW) {
        for (int col = 1; col <= 2 && !found; col++) {
            if (sqlite3_column_type(st, col) == SQLITE_NULL) {
                continue;
            }
            json_t *v =
                json_loads((const char *)sqlite3_column_text(st, col), JSON_DECODE_ANY, NULL);
            const json_t *cmp = json_is_object(v) ? json_object_get(v, e->field) : v;
            /* A whole-row value (delete conflicts) only counts for its own field. */
            if (cmp && json_equal(cmp, want) &&
                (json_is_object(v) ||
                 strcmp((const char *)sqlite3_column_text(st, 0), e->field) == 0)) {
                found = 1;
            }
            json_decref(v);
        }
    }
    cb_stmt_done(st);
    json_decref(want);
    return found;
}

static int edit_cmp(const void *a, const void *b)
{
    const struct edit *x = a, *y = b;
    if (x->tbl != y->tbl) {
        return x->tbl - y->tbl;
    }
    int c = strcmp(x->row, y->row);
    return c ? c : strcmp(x->field, y->field);
}

static void check_lost_edits(struct cb_conn *cc)
{
    /* Group by (tbl, row, field). */
    struct edit *sorted = malloc(nedits_logged * sizeof(*sorted));
    assert_non_null(sorted);
    memcpy(sorted, edits, nedits_logged * sizeof(*sorted));
    qsort(sorted, nedits_logged, sizeof(*sorted), edit_cmp);
    long lost = 0, final_ok = 0, conflict_ok = 0, superseded_ok = 0;
    size_t i = 0;
    while (i < nedits_logged) {
        size_t j = i;
        while (j < nedits_logged && edit_cmp(&sorted[i], &sorted[j]) == 0) {
            j++;
        }
        const struct cb_table *t =
            sorted[i].tbl == T_PARTICIPANTS ? &cb_table_participants : &cb_table_encounters;
        json_t *row = NULL;
        int have = cb_record_get_synced(cc, t, sorted[i].row, &row) == CB_OK;
        for (size_t k = i; k < j; k++) {
            const struct edit *e = &sorted[k];
            json_t *want = json_loads(e->val, JSON_DECODE_ANY, NULL);
            const json_t *final = have ? json_object_get(row, e->field) : NULL;
            int ok = 0;
            if (final && json_equal(final, want)) {
                ok = 1;
                final_ok++;
            } else if (in_conflicts(cc, e)) {
                ok = 1;
                conflict_ok++;
            } else {
                /* Overwritten by an edit made on top of it (it was that edit's prior). */
                for (size_t m = i; m < j && !ok; m++) {
                    if (m != k && sorted[m].prior && strcmp(sorted[m].prior, e->val) == 0) {
                        ok = 1;
                        superseded_ok++;
                    }
                }
            }
            if (!ok) {
                lost++;
                char *fin = final ? json_dumps(final, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
                fail_note("lost edit: %s %s.%s = %s (%s at %s, prior %s); central has %s", e->row,
                          tbl_names[e->tbl], e->field, e->val,
                          e->kind == 'c'   ? "create"
                          : e->kind == 'p' ? "patch"
                          : e->kind == 'd' ? "delete"
                                           : "move",
                          who(e->site), e->prior ? e->prior : "-",
                          have ? (fin ? fin : "null") : "no such row");
                free(fin);
            }
            json_decref(want);
        }
        json_decref(row);
        i = j;
    }
    printf("it_sync_sim: edits checked %zu: final %ld, kept in a conflict %ld, overwritten on "
           "top %ld, LOST %ld\n",
           nedits_logged, final_ok, conflict_ok, superseded_ok, lost);
    free(sorted);
}

static void check_created(struct cb_conn *cc)
{
    long missing = 0;
    for (size_t i = 0; i < ncreated; i++) {
        const struct cb_table *t =
            created[i].tbl == T_PARTICIPANTS ? &cb_table_participants : &cb_table_encounters;
        json_t *row = NULL;
        if (cb_record_get_synced(cc, t, created[i].id, &row) != CB_OK) {
            missing++;
            if (missing <= 20) {
                fail_note("created %s %s (at %s) does not exist on central",
                          tbl_names[created[i].tbl], created[i].id, sites[created[i].site].name);
            }
        }
        json_decref(row);
    }
    if (missing > 20) {
        fail_note("... %ld created rows missing on central in all", missing);
    }
}

static void check_integrity(struct cb_conn *c, const char *who)
{
    sqlite3_stmt *st;
    if (cb_conn_prepare(c, "PRAGMA integrity_check", &st) != CB_OK) {
        fail_note("integrity_check could not run on %s", who);
        return;
    }
    if (sqlite3_step(st) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        fail_note("integrity_check on %s: %s", who,
                  sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "?");
    }
    cb_stmt_done(st);
}

/* Compare the site's and central's digests of the site's scope, row by row if they differ. */
static void check_digests(struct site *s, struct cb_conn *cc)
{
    json_t *teams = json_loads(s->teams_json, 0, NULL);
    json_t *a = NULL, *b = NULL;
    assert_int_equal(cb_sync_digest(s->c, teams, NULL, &a), CB_OK);
    assert_int_equal(cb_sync_digest(cc, teams, NULL, &b), CB_OK);
    const char *tbl;
    json_t *lv;
    json_object_foreach(json_object_get(a, "tables"), tbl, lv)
    {
        json_t *cv = json_object_get(json_object_get(b, "tables"), tbl);
        if (json_equal(lv, cv)) {
            continue;
        }
        fail_note("digest of %s differs at %s: site %lld rows, central %lld rows", tbl, s->name,
                  (long long)json_integer_value(json_object_get(lv, "count")),
                  (long long)json_integer_value(json_object_get(cv, "count")));
        json_t *lr = NULL, *cr = NULL;
        if (cb_sync_digest(s->c, teams, tbl, &lr) == CB_OK &&
            cb_sync_digest(cc, teams, tbl, &cr) == CB_OK) {
            int shown = 0;
            const char *id;
            json_t *h;
            const struct cb_table *t = cb_table_find(tbl);
            json_object_foreach(json_object_get(lr, "rows"), id, h)
            {
                json_t *ch = json_object_get(json_object_get(cr, "rows"), id);
                if (json_equal(h, ch) || shown >= 3) {
                    continue;
                }
                shown++;
                json_t *x = NULL, *y = NULL;
                cb_record_get_synced(s->c, t, id, &x);
                cb_record_get_synced(cc, t, id, &y);
                /* Only the differing fields. */
                json_t *dx = json_object(), *dy = json_object();
                const char *k;
                json_t *v;
                json_object_foreach(x, k, v)
                {
                    if (!json_equal(v, json_object_get(y, k))) {
                        json_object_set(dx, k, v);
                        json_object_set(dy, k, y ? json_object_get(y, k) : json_null());
                    }
                }
                char *tx = json_dumps(dx, JSON_COMPACT), *ty = json_dumps(dy, JSON_COMPACT);
                fail_note("  %s %s: site %s, central %s", tbl, id, ch ? tx : "present",
                          ch ? ty : "missing");
                free(tx);
                free(ty);
                json_decref(dx);
                json_decref(dy);
                json_decref(x);
                json_decref(y);
            }
            json_object_foreach(json_object_get(cr, "rows"), id, h)
            {
                if (!json_object_get(json_object_get(lr, "rows"), id) && shown < 6) {
                    shown++;
                    fail_note("  %s %s: missing at %s, present on central", tbl, id, s->name);
                }
            }
        }
        json_decref(lr);
        json_decref(cr);
    }
    json_decref(a);
    json_decref(b);
    json_decref(teams);
}

static void check_site(struct site *s, struct cb_conn *cc)
{
    char out[16384], log[700];
    snprintf(log, sizeof(log), "%s/%s.verify.log", central.root, s->name);
    const char *args[] = {"sync", "--data", s->dir, "--verify", NULL};
    int code = run_cmd(args, log, out, sizeof(out), 300);
    if (code != 0 || !strstr(out, "in sync")) {
        char *nl = out;
        for (int k = 0; k < 12 && nl; k++) {
            nl = strchr(nl + 1, '\n');
        }
        if (nl) {
            *nl = '\0';
        }
        fail_note("%s: coachbox sync --verify exited %d: %s", s->name, code, out);
    }
    check_digests(s, cc);
    int64_t n = count_sql(s->c, "SELECT count(*) FROM outbox", NULL);
    if (n != 0) {
        fail_note("%s: %lld change(s) still in the outbox", s->name, (long long)n);
    }
    n = count_sql(s->c, "SELECT count(*) FROM scope_exits", NULL);
    if (n != 0) {
        fail_note("%s: %lld scope exit(s) still pending", s->name, (long long)n);
    }
    n = count_sql(s->c,
                  "SELECT count(*) FROM participants WHERE team NOT IN "
                  "(SELECT value FROM json_each(?1))",
                  s->teams_json);
    if (n != 0) {
        fail_note("%s: keeps %lld person(s) outside its teams", s->name, (long long)n);
    }
    n = count_sql(s->c,
                  "SELECT count(*) FROM encounters WHERE participant_id NOT IN "
                  "(SELECT id FROM participants)",
                  NULL);
    if (n != 0) {
        fail_note("%s: keeps %lld contact(s) of people it does not hold", s->name, (long long)n);
    }
    check_integrity(s->c, s->name);
}

/* ---------------------------------------------------------------- the test */

static void teardown_world(void)
{
    for (int i = 0; i < NSITES; i++) {
        for (int slot = 0; slot < 2; slot++) {
            if (sites[i].pid[slot] > 0) {
                int done;
                kill(sites[i].pid[slot], SIGKILL);
                reap(sites[i].pid[slot], 0, &done);
                sites[i].pid[slot] = 0;
            }
        }
    }
    central_kill();
    px_stop();
    procs_kill_all();
    for (int i = 0; i < NSITES; i++) {
        if (sites[i].store) {
            cb_store_close(sites[i].store);
            sites[i].store = NULL;
        }
    }
    if (central_store) {
        cb_store_close(central_store);
        central_store = NULL;
    }
    cbt_client_free(&mgr);
}

static int teardown(void **state)
{
    (void)state;
    teardown_world();
    if (central.root[0] && !getenv("COACHBOX_SIM_KEEP") && nfailures == 0) {
        cbt_rmtree(central.root);
    }
    return 0;
}

static void test_sync_simulation(void **state)
{
    (void)state;
    uint64_t seed = (uint64_t)env_long("COACHBOX_SIM_SEED", (long)DEFAULT_SEED, 0, LONG_MAX);
    long target = env_long("COACHBOX_SIM_EDITS", DEFAULT_EDITS, 10, 10000000);
    long central_kills = env_long("COACHBOX_SIM_CENTRAL_KILLS", 3, 0, 100);
    long budget_s = env_long("COACHBOX_SIM_SECONDS", 150, 5, 86400);
    twins = (int)env_long("COACHBOX_SIM_TWINS", 1, 0, 1);
    printf("it_sync_sim: seed %llu (COACHBOX_SIM_SEED), %ld edits (COACHBOX_SIM_EDITS), %ld "
           "central kills, %ld s budget\n",
           (unsigned long long)seed, target, central_kills, budget_s);
    fflush(stdout);
    struct rng r = {seed};
    int64_t t0 = mono_ms();
    setup_world(seed);
    int64_t t_setup = mono_ms();

    /* ---- the random phase: edits, rounds and faults interleaved ---- */
    atomic_store(&px.faults, 1);
    long kills_done = 0;
    int64_t deadline = t_setup + budget_s * 1000;
    size_t big_burst_at = (size_t)(target / 5 + rng_int(&r, (int)(target * 2 / 5 + 1)));
    int big_burst_done = 0;
    while ((long)(nedits_logged - burst_edits) < target && mono_ms() < deadline) {
        poll_rounds();
        if (!big_burst_done && nedits_logged - burst_edits >= big_burst_at) {
            /* More than one push batch (2,000 ops) waiting at one site. */
            burst(&r, 2100 + rng_int(&r, 400));
            big_burst_done = 1;
        }
        /* Central dies at a few points, preferably while a round is in flight. */
        if (kills_done < central_kills && (long)(nedits_logged - burst_edits) >=
                                              (kills_done + 1) * target / (central_kills + 1)) {
            if (running_rounds() == 0) {
                int i = pick_idle(&r);
                start_round(&r, &sites[i], 0, 0);
            }
            sleep_ms(rng_int(&r, 120));
            central_kill();
            poll_rounds();
            sleep_ms(rng_int(&r, 400));
            assert_int_equal(central_start(), 0);
            atomic_store(&px.upstream_port, central.port);
            snprintf(mgr.base, sizeof(mgr.base), "http://127.0.0.1:%d", central.port);
            kills_done++;
            printf("it_sync_sim: central killed and restarted (%ld), now on port %d\n", kills_done,
                   central.port);
            fflush(stdout);
        }
        random_step(&r);
        /* Pace the edits so that rounds interleave with them. */
        for (int pause = rng_int(&r, 30); pause >= 0; pause -= 5) {
            if (running_rounds() < MAX_RUNNING && rng_pct(&r, 50)) {
                int i = pick_idle(&r);
                if (i >= 0) {
                    start_round(&r, &sites[i], 0, 40);
                    if (twins && rng_pct(&r, 4)) {
                        /* A second round on the same directory at once. */
                        start_round(&r, &sites[i], 1, 20);
                        sites[i].twins++;
                        n_twins++;
                    }
                }
            }
            sleep_ms(pause < 5 ? pause : 5);
            poll_rounds();
        }
        {
            static int64_t last_report;
            if (mono_ms() - last_report > 15000) {
                last_report = mono_ms();
                printf("it_sync_sim: %zu edits, %ld rounds (%ld ok, %ld killed), %.1f s\n",
                       nedits_logged, sync_rounds, sync_ok, sync_kills,
                       (double)(mono_ms() - t_setup) / 1000.0);
                fflush(stdout);
            }
        }
    }
    if ((long)(nedits_logged - burst_edits) < target) {
        printf("it_sync_sim: time budget reached after %zu of %ld edits\n",
               nedits_logged - burst_edits, target);
    }
    wait_rounds(60000);
    int64_t t_random = mono_ms();

    /* ---- quiesce: no faults; sync everyone until two clean passes ---- */
    atomic_store(&px.faults, 0);
    int clean = 0, passes = 0;
    while (clean < 2 && passes < 10) {
        int all = 1;
        for (int i = 0; i < NSITES; i++) {
            int code = round_blocking(&sites[i]);
            if (code != 0) {
                all = 0;
            }
        }
        passes++;
        clean = all ? clean + 1 : 0;
    }
    if (clean < 2) {
        fail_note("did not quiesce: after %d passes some site's `coachbox sync` still fails",
                  passes);
        for (int i = 0; i < NSITES; i++) {
            char buf[2048];
            read_file(sites[i].slot_log[0], buf, sizeof(buf));
            if (!strstr(buf, "sync complete")) {
                fail_note("  %s: %s", sites[i].name, buf);
            }
        }
    }
    int64_t t_quiesce = mono_ms();

    /* ---- the checks ---- */
    struct cb_conn *cc = central_c;
    for (int i = 0; i < NSITES; i++) {
        check_site(&sites[i], cc);
    }
    check_integrity(cc, "central");
    int64_t dups = count_sql(cc,
                             "SELECT count(*) FROM (SELECT site, op_id FROM changes WHERE op_id "
                             "IS NOT NULL GROUP BY site, op_id HAVING count(*) > 1)",
                             NULL);
    if (dups != 0) {
        fail_note("central's change log holds %lld (site, op_id) pair(s) more than once",
                  (long long)dups);
    }
    check_created(cc);
    check_lost_edits(cc);
    if (target >= 1000 && (n_moves == 0 || n_move_races == 0 || n_pair_edits == 0 || n_races == 0 ||
                           sync_kills == 0 || atomic_load(&px.duplicated) == 0)) {
        fail_note("the run did not cover every scenario: %ld moves, %ld move/edit races, %ld "
                  "same-field pairs, %ld delete/edit races, %ld kills, %ld duplicated requests",
                  n_moves, n_move_races, n_pair_edits, n_races, sync_kills,
                  atomic_load(&px.duplicated));
    }
    if (atomic_load(&px.odd_answers) > 0) {
        fail_note("central gave %ld answer(s) that do not fit their request, e.g. %s",
                  atomic_load(&px.odd_answers), px.odd_example);
    }
    if (atomic_load(&px.dup_unrefused) > 0) {
        fail_note("%ld duplicated request(s) were not refused as replays, e.g. %s",
                  atomic_load(&px.dup_unrefused), px.dup_unrefused_example);
    }
    int64_t nconf = count_sql(cc, "SELECT count(*) FROM conflicts", NULL);
    int64_t nchanges = count_sql(cc, "SELECT count(*) FROM changes", NULL);
    int64_t nrestamped = count_sql(cc, "SELECT count(*) FROM changes WHERE restamped = 1", NULL);
    int64_t t_end = mono_ms();

    /* ---- the report ---- */
    printf("it_sync_sim: seed %llu; %zu committed edits (%zu in bursts of contacts) in %ld ops "
           "(%ld refused locally): %ld creates, %ld patches, %ld same-field pairs, %ld deletes, "
           "%ld delete/edit races, %ld moves, %ld move/edit races, %ld bursts\n",
           (unsigned long long)seed, nedits_logged, burst_edits, ops_tried, ops_refused_locally,
           n_creates, n_patches, n_pair_edits, n_deletes, n_races, n_moves, n_move_races, n_bursts);
    printf("it_sync_sim: %ld sync rounds (%ld exited 0, %ld twins), %ld SIGKILLed mid-round "
           "(%ld kill timers fired too late), central killed %ld times\n",
           sync_rounds, sync_ok, n_twins, sync_kills, sync_kills_missed, kills_done);
    for (int i = 0; i < NSITES; i++) {
        const struct site *s = &sites[i];
        printf("  %-12s rounds %4d, %4d exited 0, %2d twins; SIGKILLed %3d (%3d in push, %3d in "
               "pull); cursor %lld\n",
               s->name, s->rounds, s->rounds_ok, s->twins, s->kills, s->kill_push, s->kill_pull,
               (long long)s->cursor);
    }
    printf("it_sync_sim: proxy: %ld requests; dropped %ld requests, %ld answers, truncated %ld; "
           "delayed %ld; duplicated %ld (%ld refused as replays); upstream down %ld\n",
           atomic_load(&px.requests), atomic_load(&px.drop_req), atomic_load(&px.drop_resp),
           atomic_load(&px.truncated), atomic_load(&px.delayed), atomic_load(&px.duplicated),
           atomic_load(&px.dup_refused), atomic_load(&px.upstream_fail));
    printf("it_sync_sim: central: %lld changes, %lld conflicts, %lld restamped; %ld ops refused "
           "by central\n",
           (long long)nchanges, (long long)nconf, (long long)nrestamped, refused_ops);
    printf("it_sync_sim: failed rounds by message:\n");
    for (int i = 0; i < nerrs; i++) {
        printf("  %5d x %s\n", errs[i].n, errs[i].msg);
    }
    printf("it_sync_sim: time: setup %.1f s, random phase %.1f s, quiesce %.1f s (%d passes), "
           "checks %.1f s, total %.1f s\n",
           (double)(t_setup - t0) / 1000, (double)(t_random - t_setup) / 1000,
           (double)(t_quiesce - t_random) / 1000, passes, (double)(t_end - t_quiesce) / 1000,
           (double)(t_end - t0) / 1000);
    if (nfailures) {
        printf("it_sync_sim: %d FAILURE(S)%s (seed %llu; data kept in %s):\n",
               nfailures + nfailures_dropped, nfailures_dropped ? ", first ones" : "",
               (unsigned long long)seed, central.root);
        for (int i = 0; i < nfailures; i++) {
            printf("  - %s\n", failures[i]);
        }
    } else {
        printf("it_sync_sim: all checks passed\n");
    }
    fflush(stdout);
    assert_int_equal(nfailures + nfailures_dropped, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sync_simulation, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
