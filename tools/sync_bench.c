/*
 * sync_bench.c - throughput of sync (docs/SYNC.md) over loopback HTTP.
 *
 *   1. A fresh field data directory (site A, bury-town) is enrolled with an
 *      empty `coachbox central`, then N records (default 100,000: per 10,
 *      2 participants, 5 contacts (encounters) and 3 measures (SWEMWBS, scored
 *      on the server)) are created through the core library in this process,
 *      as a coach, so each lands in A's outbox like an edit made on the site.
 *   2. `coachbox sync --data A` pushes them: push records/s (from the start of
 *      the process to its last "push:" progress line), then pulls back what
 *      central logged for its team (the echo of its own pushes).
 *   3. A second, fresh field data directory (site B, same team) enrolls and
 *      `coachbox sync --data B` pulls everything: pull records/s.
 *   4. One edit at A, then `coachbox sync --data A`, repeated: the wall time
 *      of an incremental round and the HTTP requests it took (goal: 2).
 * Sites talk to central through a counting loopback proxy thread in this
 * process, so the bytes on the wire (request and answer, headers included)
 * and the number of requests are measured.  Prints the figures; talks only to
 * 127.0.0.1; stops every process it started.
 *
 *   5. The storage floor: the rows the push wrote at central (records and
 *      change log) written again by this process into an empty copy of
 *      central's schema, set-wise, row by row and in 32-row VALUES lists:
 *      what SQLite alone spends on them on this machine (floor_measure).
 * usage: coachbox-sync-bench [--records N] [--increments K] [--perf DIR] [--keep]
 *                            [--no-stats] [--no-floor]
 *   --perf DIR  record `perf record --call-graph dwarf` profiles of central (by pid)
 *               and of the `coachbox sync` processes for the push and the
 *               pull into DIR (timings are then perturbed by perf)
 *   --no-stats  run `coachbox sync` without --stats (a binary from before it:
 *               the applying thread's CPU is then not reported)
 *   --no-floor  skip step 5
 * (COACHBOX_BIN names the coachbox binary; default ./coachbox)
 */
#include "harness.h"
#include "relay.h"

#include "coachbox/auth.h"
#include "coachbox/err.h"
#include "coachbox/json.h"
#include "coachbox/kind.h"
#include "coachbox/participant.h"
#include "coachbox/store.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PW "sync-bench-password-1"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------- processes */

#define MAX_PROCS 8
static pid_t procs[MAX_PROCS];

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

static void track(pid_t pid, int add)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (add ? procs[i] == 0 : procs[i] == pid) {
            procs[i] = add ? pid : 0;
            return;
        }
    }
}

static void on_fatal(int sig)
{
    procs_kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Start argv (argv[0] a path) with stdout+stderr to fd out (or a log file). */
static pid_t spawn_fd(const char *const *argv, int out)
{
    pid_t pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0) {
            dup2(in, 0);
            close(in);
        }
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
            close(out);
        }
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    if (pid > 0) {
        track(pid, 1);
    }
    return pid;
}

static double last_child_cpu_s; /* user + system CPU of the last process waited for */

static int wait_exit(pid_t pid)
{
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    if (wait4(pid, &st, 0, &ru) != pid) {
        st = -1;
    }
    last_child_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    track(pid, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* CPU seconds (user + system) used so far by a running process. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    size_t got = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[got] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return 0;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---------------------------------------------------------------- counting proxy */

enum { K_PUSH, K_PULL, K_OTHER, NKINDS };

static struct {
    int lfd, port;
    pthread_t th;
    atomic_int upstream_port;
    atomic_int stop, active;
    atomic_long requests[NKINDS], up[NKINDS], down[NKINDS];
    atomic_long max_up[NKINDS], max_down[NKINDS];
} px;

static void atomic_max(atomic_long *m, long v)
{
    long cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v)) {
    }
}

static void *px_conn(void *arg)
{
    int cfd = (int)(intptr_t)arg;
    struct cbt_buf req = {NULL, 0, 0}, resp = {NULL, 0, 0};
    struct timeval tv = {600, 0};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (cbt_read_request(cfd, &req) == 0) {
        int k = strncmp(req.p, "POST /sync/v1/push", 18) == 0  ? K_PUSH
                : strncmp(req.p, "GET /sync/v1/pull", 17) == 0 ? K_PULL
                                                               : K_OTHER;
        if (cbt_forward(atomic_load(&px.upstream_port), 600, &req, &resp) == 0) {
            cbt_send_all(cfd, resp.p, resp.len);
        }
        /* Counted when complete, so a phase's totals are final when its process exits. */
        atomic_fetch_add(&px.requests[k], 1);
        atomic_fetch_add(&px.up[k], (long)req.len);
        atomic_fetch_add(&px.down[k], (long)resp.len);
        atomic_max(&px.max_up[k], (long)req.len);
        atomic_max(&px.max_down[k], (long)resp.len);
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

static int px_start(void)
{
    px.lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(px.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (px.lfd < 0 || bind(px.lfd, (struct sockaddr *)&a, sizeof(a)) || listen(px.lfd, 64) ||
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
        for (int i = 0; i < 1000 && atomic_load(&px.active) > 0; i++) {
            sleep_ms(10);
        }
        close(px.lfd);
        px.lfd = 0;
    }
}

struct counts {
    long requests[NKINDS], up[NKINDS], down[NKINDS];
};

static void px_snapshot(struct counts *c)
{
    for (int k = 0; k < NKINDS; k++) {
        c->requests[k] = atomic_load(&px.requests[k]);
        c->up[k] = atomic_load(&px.up[k]);
        c->down[k] = atomic_load(&px.down[k]);
    }
}

static long total_requests(const struct counts *a, const struct counts *b)
{
    long n = 0;
    for (int k = 0; k < NKINDS; k++) {
        n += b->requests[k] - a->requests[k];
    }
    return n;
}

/* ---------------------------------------------------------------- coachbox commands */

static char root[512];
static char central_dir[600], log_path[700];
static pid_t central_pid;
static int central_port;
static const char *perf_dir;
static int no_stats; /* --no-stats */
static pid_t perf_central_pid;

/* Run coachbox with args; output into out; exit code. */
static int run_cb(const char *const *args, char *out, size_t outlen)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = cbt_bin();
    for (int i = 0; args[i] && n < 23; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = spawn_fd(argv, fd);
    if (fd >= 0) {
        close(fd);
    }
    int code = pid > 0 ? wait_exit(pid) : -1;
    if (out) {
        FILE *f = fopen(log_path, "r");
        size_t got = f ? fread(out, 1, outlen - 1, f) : 0;
        out[got] = '\0';
        if (f) {
            fclose(f);
        }
    }
    return code;
}

static int central_start(void)
{
    char log[700], buf[4096];
    snprintf(log, sizeof(log), "%s/central.log", root);
    const char *argv[] = {cbt_bin(),     "central",   "--data", central_dir, "--listen",
                          "127.0.0.1:0", "--threads", "8",      NULL};
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    central_pid = spawn_fd(argv, fd);
    if (fd >= 0) {
        close(fd);
    }
    for (int tries = 0; central_pid > 0 && tries < 3000; tries++) {
        FILE *f = fopen(log, "r");
        size_t got = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        buf[got] = '\0';
        if (f) {
            fclose(f);
        }
        const char *p = strstr(buf, "listening on http://127.0.0.1:");
        if (p) {
            central_port = (int)strtol(p + strlen("listening on http://127.0.0.1:"), NULL, 10);
            return 0;
        }
        sleep_ms(10);
    }
    return -1;
}

/* Add a site for bury-town and enroll data dir through the proxy. */
static int add_site(const char *name, const char *dir)
{
    char out[4096], code[32], url[64];
    const char *a1[] = {"site", "add",    "--data",    central_dir, "--name",
                        name,   "--team", "bury-town", NULL};
    if (run_cb(a1, out, sizeof(out)) != 0 || !strstr(out, "hours): ")) {
        fprintf(stderr, "coachbox-sync-bench: site add failed: %s\n", out);
        return -1;
    }
    snprintf(code, sizeof(code), "%.14s", strstr(out, "hours): ") + strlen("hours): "));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", px.port);
    const char *a2[] = {"enroll", "--data", dir, "--central", url, "--code", code, NULL};
    if (run_cb(a2, out, sizeof(out)) != 0) {
        fprintf(stderr, "coachbox-sync-bench: enroll failed: %s\n", out);
        return -1;
    }
    return 0;
}

static void perf_central_begin(const char *tag)
{
    if (!perf_dir) {
        return;
    }
    char out[800], pidtxt[32];
    snprintf(out, sizeof(out), "%s/central-%s.data", perf_dir, tag);
    snprintf(pidtxt, sizeof(pidtxt), "%d", (int)central_pid);
    const char *argv[] = {"perf", "record", "--call-graph", "dwarf,32768", "-F", "499",
                          "-o",   out,      "-p",           pidtxt,        NULL};
    char log[800];
    snprintf(log, sizeof(log), "%s/perf-central-%s.log", perf_dir, tag);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    perf_central_pid = spawn_fd(argv, fd);
    if (fd >= 0) {
        close(fd);
    }
    sleep_ms(500); /* let perf attach */
}

static void perf_central_end(void)
{
    if (perf_central_pid > 0) {
        kill(perf_central_pid, SIGINT);
        wait_exit(perf_central_pid);
        perf_central_pid = 0;
    }
}

struct round {
    int code;
    double cpu_s;                                         /* CPU of the `coachbox sync` process */
    double central_cpu0, central_cpu_push, site_cpu_push; /* CPU when the push was done */
    double total_s;                                       /* spawn to exit */
    double push_done_s; /* spawn to the last "push: N of N" line (0 if none) */
    long long pushed, pulled;
    double apply_cpu_s; /* the pull's applying thread (`coachbox sync --stats`) */
};

/* `coachbox sync --data dir`, timing its progress lines as they arrive. */
static void sync_round(const char *dir, const char *perf_tag, struct round *r)
{
    memset(r, 0, sizeof(*r));
    int p[2];
    if (pipe(p)) {
        r->code = -1;
        return;
    }
    const char *argv[16];
    int n = 0;
    char perf_out[800];
    if (perf_dir && perf_tag) {
        snprintf(perf_out, sizeof(perf_out), "%s/site-%s.data", perf_dir, perf_tag);
        argv[n++] = "perf";
        argv[n++] = "record";
        argv[n++] = "--call-graph";
        argv[n++] = "dwarf,32768";
        argv[n++] = "-F";
        argv[n++] = "499";
        argv[n++] = "-o";
        argv[n++] = perf_out;
        argv[n++] = "--";
    }
    argv[n++] = cbt_bin();
    argv[n++] = "sync";
    argv[n++] = "--data";
    argv[n++] = dir;
    if (!no_stats) {
        argv[n++] = "--stats";
    }
    argv[n] = NULL;
    double t0 = now_s();
    r->central_cpu0 = proc_cpu_s(central_pid);
    pid_t pid = spawn_fd(argv, p[1]);
    close(p[1]);
    char line[512];
    size_t ll = 0;
    char c;
    for (;;) {
        ssize_t k = read(p[0], &c, 1);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            break;
        }
        if (c != '\n' && ll + 1 < sizeof(line)) {
            line[ll++] = c;
            continue;
        }
        line[ll] = '\0';
        ll = 0;
        long long a, b;
        if (sscanf(line, "push: %lld of %lld", &a, &b) == 2 && a == b) {
            r->push_done_s = now_s() - t0;
            r->site_cpu_push = proc_cpu_s(pid);
            r->central_cpu_push = proc_cpu_s(central_pid) - r->central_cpu0;
        }
        if (strncmp(line, "sync complete", 13) == 0) {
            sscanf(line, "sync complete: pushed %lld, pulled %lld", &r->pushed, &r->pulled);
        } else if (strncmp(line, "stats: pull", 11) == 0) {
            long long applied;
            sscanf(line, "stats: pull applied %lld change(s) with %lf s", &applied,
                   &r->apply_cpu_s);
        } else if (strstr(line, "failed") || strstr(line, "refused")) {
            fprintf(stderr, "  | %s\n", line);
        }
    }
    close(p[0]);
    r->code = wait_exit(pid);
    r->total_s = now_s() - t0;
    r->cpu_s = last_child_cpu_s;
}

/* ---------------------------------------------------------------- seeding */

static int seed_records(const char *dir, long n, char first_pid[37])
{
    struct cb_store *s;
    struct cb_conn *c;
    struct cb_user u;
    if (cb_store_open(dir, &s) != CB_OK || cb_store_conn(s, &c) != CB_OK ||
        cb_user_find(c, "coach.bury", &u, NULL, 0) != CB_OK) {
        fprintf(stderr, "coachbox-sync-bench: cannot open %s as the coach\n", dir);
        return -1;
    }
    /* Seeding is not what is measured: no fsync per record here. */
    cb_conn_exec(c, "PRAGMA synchronous=OFF");
    struct cb_actor a = {&u, NULL, 1};
    static char ring[64][37];
    int nring = 0;
    long made = 0, fails = 0;
    static const char *const types[] = {"drop_in", "one_to_one", "phone", "video"};
    static const char *const given[] = {"Amelia", "Oliver", "Aisha", "Mohammed", "Grace"};
    static const char *const family[] = {"Smith", "Khan",   "Patel", "Jones",   "Taylor",
                                         "Ahmed", "Wilson", "Brown", "Hussain", "Wright"};
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        int slot = (int)(i % 10);
        json_t *in = NULL, *out = NULL;
        struct cb_field_error fe = {"", ""};
        int rc;
        if (slot < 2 || nring == 0) {
            char fam[64], dob[16], phone[16];
            snprintf(fam, sizeof(fam), "%s%ld", family[i % 10], i);
            snprintf(dob, sizeof(dob), "19%02ld-%02ld-%02ld", 40 + i % 60, 1 + i % 12, 1 + i % 28);
            snprintf(phone, sizeof(phone), "07700%06ld", i % 1000000);
            in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "given_name", given[i % 5],
                           "family_name", fam, "date_of_birth", dob, "postcode", "BL9 0EJ", "phone",
                           phone, "employment_status", "in_work", "carer", (int)(i & 1));
            rc = cb_participant_create(c, &a, in, &out, &fe);
            if (rc == CB_OK) {
                snprintf(ring[nring % 64], 37, "%s", cb_json_str(out, "id"));
                if (nring == 0) {
                    snprintf(first_pid, 37, "%s", cb_json_str(out, "id"));
                }
                nring++;
            }
        } else if (slot < 7) {
            const char *pid = ring[(i * 7) % (nring < 64 ? nring : 64)];
            in = json_pack("{s:s, s:s, s:s, s:s, s:i, s:[s,s]}", "participant_id", pid, "type",
                           types[i % 4], "occurred_at", "2025-06-01T10:00:00.000Z", "notes",
                           "Talked through goals for the next month; agreed a walking plan "
                           "and a follow-up call.",
                           "duration_minutes", (int)(15 + i % 45), "topics", "physical_activity",
                           "diet");
            rc = cb_kind_create(c, &a, &cb_kind_encounters, in, &out, &fe);
        } else {
            const char *pid = ring[(i * 13) % (nring < 64 ? nring : 64)];
            in = json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}}",
                           "participant_id", pid, "instrument", "swemwbs", "timepoint", "baseline",
                           "taken_at", "2025-06-01T10:30:00.000Z", "responses", "q1",
                           (int)(1 + i % 5), "q2", (int)(1 + (i / 5) % 5), "q3", 3, "q4", 4, "q5",
                           2, "q6", 3, "q7", 5);
            rc = cb_kind_create(c, &a, &cb_kind_measures, in, &out, &fe);
        }
        if (rc == CB_OK) {
            made++;
        } else if (fails++ < 5) {
            fprintf(stderr, "coachbox-sync-bench: create failed: %s %s %s\n", cb_strerror(rc),
                    fe.field, fe.message);
        }
        json_decref(in);
        json_decref(out);
        if ((i + 1) % 20000 == 0) {
            fprintf(stderr, "  seeded %ld records (%.0f/s)\n", i + 1,
                    (double)(i + 1) / (now_s() - t0));
        }
    }
    cb_conn_exec(c, "PRAGMA wal_checkpoint(TRUNCATE)");
    cb_store_close(s);
    return made == n ? 0 : -1;
}

/* One edit at dir as the coach (fsync as in production). */
static int one_edit(const char *dir, const char *pid, long k)
{
    struct cb_store *s;
    struct cb_conn *c;
    struct cb_user u;
    if (cb_store_open(dir, &s) != CB_OK) {
        return -1;
    }
    int rc = cb_store_conn(s, &c);
    if (rc == CB_OK) {
        rc = cb_user_find(c, "coach.bury", &u, NULL, 0);
    }
    if (rc == CB_OK) {
        struct cb_actor a = {&u, NULL, 1};
        char name[64];
        snprintf(name, sizeof(name), "Preferred%ld", k);
        json_t *in = json_pack("{s:s}", "preferred_name", name), *out = NULL;
        struct cb_field_error fe = {"", ""};
        rc = cb_participant_patch(c, &a, pid, in, &out, &fe);
        json_decref(in);
        json_decref(out);
    }
    cb_store_close(s);
    return rc;
}

static long arg_long(int argc, char **argv, const char *name, long def, long lo, long hi)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            char *end;
            errno = 0;
            long v = strtol(argv[i + 1], &end, 10);
            if (errno || *end || v < lo || v > hi) {
                fprintf(stderr, "coachbox-sync-bench: %s must be %ld-%ld\n", name, lo, hi);
                exit(2);
            }
            return v;
        }
    }
    return def;
}

static const char *arg_str(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static int arg_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long long dir_bytes(const char *dir)
{
    char p[800];
    long long total = 0;
    static const char *const files[] = {"coachbox.db", "coachbox.db-wal", NULL};
    for (int i = 0; files[i]; i++) {
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        if (stat(p, &st) == 0) {
            total += (long long)st.st_size;
        }
    }
    return total;
}

/* ---------------------------------------------------------------- floor */

/* The tables a push of the bench's records writes at central (the change log
 * last), and how many source rows go into one transaction (as many as a push
 * batch has records; a batch's transaction also holds their change-log rows,
 * interleaved, where the floor writes one table at a time). */
static const char *const floor_tables[] = {"participants", "encounters", "measures", "changes"};
#define FLOOR_NTABLES    (sizeof(floor_tables) / sizeof(floor_tables[0]))
#define FLOOR_CHUNK      2000
#define FLOOR_SCHEMA_MAX 512
#define FLOOR_PER_MAX    32 /* rows in one INSERT's VALUES list, at most */
#define FLOOR_COLS_MAX   64 /* columns of a copied table, at most */
/* Page cache of the floor's connection (both databases): a sync connection's
 * (store.c, CB_SYNC_PAGE_CACHE_KB); and no checkpoint at commit before the WAL
 * holds this many pages, as central's lent sync connections (store.c,
 * SYNC_WAL_MAX_PAGES). */
#define FLOOR_CACHE_KB   "-32768"
#define FLOOR_CKPT_PAGES "8192"

/* Print the floor's failure: what, then db's message. */
static void floor_fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "coachbox-sync-bench: floor: %s: %s\n", what,
            db ? sqlite3_errmsg(db) : "out of memory");
}

/* Run sql on db; 0 or -1 (message on stderr). */
static int floor_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "coachbox-sync-bench: floor: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Attach the database file at path to db as "src", read-only: a URI whose
 * path has '%', '?' and '#' escaped, bound rather than pasted into the SQL
 * (a quote in path is then just a quote).  0 or -1. */
static int floor_attach(sqlite3 *db, const char *path)
{
    char uri[2048];
    size_t len = (size_t)snprintf(uri, sizeof(uri), "file:");
    for (const char *p = path; *p && len + 4 < sizeof(uri); p++) {
        if (*p == '%' || *p == '?' || *p == '#') {
            len += (size_t)snprintf(uri + len, sizeof(uri) - len, "%%%02X", (unsigned char)*p);
        } else {
            uri[len++] = *p;
        }
    }
    static const char ro[] = "?mode=ro";
    if (len + sizeof(ro) > sizeof(uri)) {
        fprintf(stderr, "coachbox-sync-bench: floor: path too long: %s\n", path);
        return -1;
    }
    memcpy(uri + len, ro, sizeof(ro));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "ATTACH ?1 AS src", -1, &st, NULL) != SQLITE_OK) {
        floor_fail(db, "attach");
        return -1;
    }
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    if (rc) {
        floor_fail(db, uri);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Create in db (src attached) every table then every index of src's schema,
 * as central declared them (no triggers); 0 or -1. */
static int floor_schema(sqlite3 *db)
{
    static const char *const q[] = {
        "SELECT sql FROM src.sqlite_master WHERE type = 'table' AND sql IS NOT NULL AND "
        "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
        "SELECT sql FROM src.sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY "
        "rowid"};
    for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++) {
        /* Collected first: no DDL while the schema is being read. */
        char *sql[FLOOR_SCHEMA_MAX];
        int n = 0, rc = 0, s = SQLITE_DONE;
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, q[k], -1, &st, NULL) != SQLITE_OK) {
            floor_fail(db, "schema");
            return -1;
        }
        while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            if (n == FLOOR_SCHEMA_MAX || !text || !(sql[n] = strdup(text))) {
                fprintf(stderr, "coachbox-sync-bench: floor: schema too large or out of memory\n");
                rc = -1;
                break;
            }
            n++;
        }
        if (rc == 0 && s != SQLITE_DONE) {
            floor_fail(db, "schema");
            rc = -1;
        }
        sqlite3_finalize(st);
        for (int i = 0; i < n; i++) {
            if (rc == 0) {
                rc = floor_exec(db, sql[i]);
            }
            free(sql[i]);
        }
        if (rc) {
            return rc;
        }
    }
    return 0;
}

/* The statement inserting n rows of ncol columns into main.t (prepared into
 * *slot on first use); 0 or -1. */
static int floor_insert(sqlite3 *db, const char *t, int ncol, int n, sqlite3_stmt **slot)
{
    if (*slot) {
        return 0;
    }
    size_t cap = 64 + strlen(t) + (size_t)n * ((size_t)ncol * 3 + 4), len = 0;
    char *sql = malloc(cap);
    if (!sql) {
        floor_fail(NULL, t);
        return -1;
    }
    len += (size_t)snprintf(sql, cap, "INSERT INTO main.%s VALUES ", t);
    for (int r = 0; r < n && len < cap; r++) {
        for (int i = 0; i < ncol && len < cap; i++) {
            len += (size_t)snprintf(sql + len, cap - len, "%s?", i == 0 ? (r ? ", (" : "(") : ", ");
        }
        if (len < cap) {
            len += (size_t)snprintf(sql + len, cap - len, ")");
        }
    }
    int rc = len < cap && sqlite3_prepare_v2(db, sql, -1, slot, NULL) == SQLITE_OK ? 0 : -1;
    if (rc) {
        floor_fail(db, t);
    }
    free(sql);
    return rc;
}

/* Step the insert of n rows (nothing for 0), then reset it; 0 or -1. */
static int floor_step(sqlite3 *db, sqlite3_stmt *ins, int n)
{
    if (n == 0) {
        return 0;
    }
    int rc = sqlite3_step(ins) == SQLITE_DONE ? 0 : -1;
    if (rc) {
        floor_fail(db, "insert");
    }
    sqlite3_reset(ins);
    return rc;
}

/* Bind value v to parameter i of ins without a copy of its text or blob (v
 * outlives the step; the caller clears the bindings before it frees v). */
static int floor_bind(sqlite3_stmt *ins, int i, sqlite3_value *v)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_TEXT:
        return sqlite3_bind_text(ins, i, (const char *)sqlite3_value_text(v),
                                 sqlite3_value_bytes(v), SQLITE_STATIC);
    case SQLITE_BLOB:
        return sqlite3_bind_blob(ins, i, sqlite3_value_blob(v), sqlite3_value_bytes(v),
                                 SQLITE_STATIC);
    default:
        return sqlite3_bind_value(ins, i, v);
    }
}

/* The last of the next FLOOR_CHUNK rowids of src table t after `after` into
 * *last (untimed); 0, 1 when there is none, or -1. */
static int floor_next(sqlite3 *db, const char *t, int64_t after, int64_t *last)
{
    char sql[256];
    sqlite3_stmt *st;
    snprintf(sql, sizeof(sql),
             "SELECT max(r) FROM (SELECT rowid AS r FROM src.%s WHERE rowid > ?1 ORDER BY rowid "
             "LIMIT %d)",
             t, FLOOR_CHUNK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        floor_fail(db, t);
        return -1;
    }
    sqlite3_bind_int64(st, 1, after);
    int s = sqlite3_step(st), rc = -1;
    if (s == SQLITE_ROW) {
        rc = sqlite3_column_type(st, 0) == SQLITE_NULL ? 1 : 0;
        *last = sqlite3_column_int64(st, 0);
    } else {
        floor_fail(db, t);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Copy src table t's rows into db's, FLOOR_CHUNK rows (in rowid order) per
 * transaction, as one INSERT ... SELECT per transaction (per 0), or as
 * INSERTs of per rows each (per 1: one row per INSERT; more: a VALUES list of
 * per rows, fewer when SQLite's parameter limit says so; each prepared once,
 * the last of a transaction taking what is left), their values bound without
 * a copy, as cb_record_apply binds a pushed op's: the source rows are read into
 * memory before the transaction, so only the INSERT ... SELECT pays for
 * reading them.  *secs: the wall time of the transactions; *rows: rows
 * copied.  0 or -1; a failed transaction is rolled back. */
static int floor_copy(sqlite3 *db, const char *t, int per, double *secs, long *rows)
{
    char sql[256];
    sqlite3_stmt *st = NULL, *stmts[FLOOR_PER_MAX] = {NULL};
    assert(per >= 0 && per <= FLOOR_PER_MAX);
    *secs = 0;
    *rows = 0;
    if (per) {
        snprintf(sql, sizeof(sql),
                 "SELECT * FROM src.%s WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid", t);
    } else {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO main.%s SELECT * FROM src.%s WHERE rowid > ?1 AND rowid <= ?2 "
                 "ORDER BY rowid",
                 t, t);
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        floor_fail(db, t);
        return -1;
    }
    int ncol = sqlite3_column_count(st);
    if (per && (ncol < 1 || ncol > FLOOR_COLS_MAX)) {
        fprintf(stderr, "coachbox-sync-bench: floor: %s has %d columns\n", t, ncol);
        sqlite3_finalize(st);
        return -1;
    }
    if (per > 1) {
        int most = sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, -1) / ncol;
        per = most < 1 ? 1 : (per < most ? per : most);
    }
    sqlite3_value **vals = per ? calloc((size_t)FLOOR_CHUNK * (size_t)ncol, sizeof(*vals)) : NULL;
    int rc = per && !vals ? -1 : 0;
    int64_t after = INT64_MIN, last = 0;
    while (rc == 0 && (rc = floor_next(db, t, after, &last)) == 0) {
        int held = 0, s = SQLITE_DONE;
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int64(st, 2, last);
        after = last;
        if (per) {
            /* the chunk's source rows, read before the clock starts */
            while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
                if (held == FLOOR_CHUNK) { /* FLOOR_CHUNK rowids hold no more rows */
                    fprintf(stderr, "coachbox-sync-bench: floor: %s: chunk overflow\n", t);
                    rc = -1;
                    break;
                }
                for (int i = 0; i < ncol; i++) {
                    if (!(vals[held * ncol + i] = sqlite3_value_dup(sqlite3_column_value(st, i)))) {
                        floor_fail(NULL, t);
                        rc = -1;
                    }
                }
                held++;
            }
            if (rc == 0 && s != SQLITE_DONE) {
                floor_fail(db, t);
                rc = -1;
            }
            sqlite3_reset(st);
        }
        double t0 = now_s();
        rc = rc ? rc : floor_exec(db, "BEGIN");
        if (rc == 0 && per) {
            for (int r = 0; rc == 0 && r < held; r += per) {
                int n = held - r < per ? held - r : per;
                rc = floor_insert(db, t, ncol, n, &stmts[n - 1]);
                for (int i = 0; rc == 0 && i < n * ncol; i++) {
                    if (floor_bind(stmts[n - 1], i + 1, vals[r * ncol + i]) != SQLITE_OK) {
                        floor_fail(db, "bind");
                        rc = -1;
                    }
                }
                rc = rc ? rc : floor_step(db, stmts[n - 1], n);
            }
            *rows += rc ? 0 : held;
        } else if (rc == 0) {
            if (sqlite3_step(st) != SQLITE_DONE) {
                floor_fail(db, t);
                rc = -1;
            }
            *rows += rc ? 0 : sqlite3_changes(db);
            sqlite3_reset(st);
        }
        rc = rc ? rc : floor_exec(db, "COMMIT");
        *secs += now_s() - t0;
        if (rc && !sqlite3_get_autocommit(db)) {
            floor_exec(db, "ROLLBACK");
        }
        for (int i = 0; i < FLOOR_PER_MAX; i++) {
            if (stmts[i]) {
                sqlite3_clear_bindings(stmts[i]); /* before the values they point into go */
            }
        }
        for (int i = 0; i < held * ncol; i++) {
            sqlite3_value_free(vals[i]);
        }
    }
    free(vals);
    for (int i = 0; i < FLOOR_PER_MAX; i++) {
        sqlite3_finalize(stmts[i]);
    }
    sqlite3_finalize(st);
    return rc == 1 ? 0 : rc; /* 1: no rows left */
}

/*
 * The storage floor: the rows the push wrote at central (its tables and its
 * change log) written again, by this process, into an empty copy of central's
 * schema (every table and index, no triggers: no derived rows), one table at
 * a time, FLOOR_CHUNK rows per transaction, synchronous=OFF, per rows per
 * INSERT (floor_copy), on a connection without SQLite's mutex (as central's).
 * What SQLite alone spends on those rows on this machine, without any of
 * sync's own work.  central's database is only read (it may be running).
 * secs[0], rows[0]: the records' tables; [1]: the change log.  0 or -1.
 */
static int floor_measure(const char *dir, int per, double secs[2], long rows[2])
{
    char path[800], src[800];
    snprintf(path, sizeof(path), "%s/floor-%d.db", root, per);
    snprintf(src, sizeof(src), "%s/coachbox.db", dir);
    unlink(path);
    sqlite3 *db = NULL;
    int rc = 0;
    if (sqlite3_open_v2(path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        floor_fail(db, path);
        rc = -1;
    }
    rc = rc ? rc : floor_attach(db, src);
    rc = rc ? rc
            : floor_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
                             "PRAGMA main.cache_size=" FLOOR_CACHE_KB
                             "; PRAGMA src.cache_size=" FLOOR_CACHE_KB
                             "; PRAGMA wal_autocheckpoint=" FLOOR_CKPT_PAGES);
    rc = rc ? rc : floor_schema(db);
    secs[0] = secs[1] = 0;
    rows[0] = rows[1] = 0;
    for (size_t i = 0; rc == 0 && i < FLOOR_NTABLES; i++) {
        double s;
        long r;
        rc = floor_copy(db, floor_tables[i], per, &s, &r);
        int is_log = i + 1 == FLOOR_NTABLES;
        secs[is_log] += s;
        rows[is_log] += r;
    }
    sqlite3_close(db);
    char side[820];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    return rc;
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, "--records", 100000, 10, 10000000);
    int increments = (int)arg_long(argc, argv, "--increments", 20, 1, 1000);
    perf_dir = arg_str(argc, argv, "--perf");
    int keep = arg_flag(argc, argv, "--keep");
    int with_floor = !arg_flag(argc, argv, "--no-floor");
    no_stats = arg_flag(argc, argv, "--no-stats");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_fatal);
    signal(SIGTERM, on_fatal);
    atexit(procs_kill_all);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cbt_tempdir(root, sizeof(root), "syncbench");
    if (mkdir(root, 0700) != 0) {
        fprintf(stderr, "coachbox-sync-bench: cannot create %s\n", root);
        return 1;
    }
    if (perf_dir) {
        mkdir(perf_dir, 0755);
    }
    snprintf(central_dir, sizeof(central_dir), "%s/central", root);
    snprintf(log_path, sizeof(log_path), "%s/cli.log", root);
    char site_a[600], site_b[600];
    snprintf(site_a, sizeof(site_a), "%s/site-a", root);
    snprintf(site_b, sizeof(site_b), "%s/site-b", root);
    int status = 1;
    if (cbt_add_user(central_dir, "coach.bury", "coach", "bury-town", PW) != 0 ||
        central_start() != 0 || px_start() != 0) {
        fprintf(stderr, "coachbox-sync-bench: could not start central (%s)\n", root);
        goto out;
    }
    atomic_store(&px.upstream_port, central_port);
    printf("coachbox-sync-bench: %ld records, central pid %d on 127.0.0.1:%d, counting proxy on "
           ":%d, data in %s\n",
           n, (int)central_pid, central_port, px.port, root);
    fflush(stdout);
    struct round r;
    if (add_site("bench-a", site_a) != 0) {
        goto out;
    }
    sync_round(site_a, NULL, &r); /* the coach's account arrives */
    if (r.code != 0) {
        fprintf(stderr, "coachbox-sync-bench: first round at A failed\n");
        goto out;
    }
    char pid0[37] = "";
    double ts = now_s();
    if (seed_records(site_a, n, pid0) != 0) {
        goto out;
    }
    double seed_s = now_s() - ts;
    printf("seeded %ld records at A in %.1f s (%.0f/s, synchronous=OFF)\n", n, seed_s,
           (double)n / seed_s);
    fflush(stdout);

    /* ---- push (and the echo pull) ---- */
    struct counts c0, c1, c2, c3;
    px_snapshot(&c0);
    perf_central_begin("push");
    double ccpu0 = proc_cpu_s(central_pid);
    sync_round(site_a, "push", &r);
    double ccpu_push = proc_cpu_s(central_pid) - ccpu0;
    perf_central_end();
    px_snapshot(&c1);
    if (r.code != 0 || r.pushed != n) {
        fprintf(stderr, "coachbox-sync-bench: push round exited %d, pushed %lld of %ld\n", r.code,
                r.pushed, n);
        goto out;
    }
    double push_s = r.push_done_s > 0 ? r.push_done_s : r.total_s;
    double echo_s = r.total_s - push_s;
    long push_req = c1.requests[K_PUSH] - c0.requests[K_PUSH];
    long push_up = c1.up[K_PUSH] - c0.up[K_PUSH], push_down = c1.down[K_PUSH] - c0.down[K_PUSH];
    long echo_req = c1.requests[K_PULL] - c0.requests[K_PULL];
    long echo_down = c1.down[K_PULL] - c0.down[K_PULL];
    printf("\nPUSH   %ld records in %.2f s = %.0f records/s  (%ld requests, %.0f bytes/record up, "
           "%.1f bytes/record down; largest request %.1f MB)\n",
           n, push_s, (double)n / push_s, push_req, (double)push_up / (double)n,
           (double)push_down / (double)n, (double)atomic_load(&px.max_up[K_PUSH]) / 1e6);
    printf("ECHO   the same round then pulled back %lld changes in %.2f s = %.0f/s (%ld pages, "
           "%.0f bytes/record down)\n",
           r.pulled, echo_s, echo_s > 0 ? (double)r.pulled / echo_s : 0.0, echo_req,
           (double)echo_down / (double)n);
    /* The push is pipelined and the pull prefetched (docs/SYNC.md): the site and
     * central overlap, and each uses a second thread, so all the CPU on one core
     * is a lower bound of the CPU-bound rate, not the rate. */
    printf("       CPU of the push: site %.1f s, central %.1f s = %.0f + %.0f us/record (all on "
           "one core: %.0f records/s); of the echo: site %.1f s, central %.1f s\n",
           r.site_cpu_push, r.central_cpu_push, r.site_cpu_push * 1e6 / (double)n,
           r.central_cpu_push * 1e6 / (double)n, (double)n / (r.site_cpu_push + r.central_cpu_push),
           r.cpu_s - r.site_cpu_push, ccpu_push - r.central_cpu_push);
    fflush(stdout);

    /* ---- a fresh site pulls everything ---- */
    if (add_site("bench-b", site_b) != 0) {
        goto out;
    }
    px_snapshot(&c2);
    perf_central_begin("pull");
    ccpu0 = proc_cpu_s(central_pid);
    sync_round(site_b, "pull", &r);
    double ccpu_pull = proc_cpu_s(central_pid) - ccpu0;
    perf_central_end();
    px_snapshot(&c3);
    if (r.code != 0) {
        fprintf(stderr, "coachbox-sync-bench: pull round at B exited %d\n", r.code);
        goto out;
    }
    long pull_req = c3.requests[K_PULL] - c2.requests[K_PULL];
    long pull_down = c3.down[K_PULL] - c2.down[K_PULL], pull_up = c3.up[K_PULL] - c2.up[K_PULL];
    printf("PULL   %lld changes (%ld records) in %.2f s = %.0f records/s  (%ld pages, %.0f "
           "bytes/record down, largest page %.1f MB)\n",
           r.pulled, n, r.total_s, (double)n / r.total_s, pull_req,
           (double)(pull_down + pull_up) / (double)n,
           (double)atomic_load(&px.max_down[K_PULL]) / 1e6);
    printf("       CPU for the pull: site %.1f s, central %.1f s = %.0f + %.0f us/record "
           "(all on one core: %.0f records/s)",
           r.cpu_s, ccpu_pull, r.cpu_s * 1e6 / (double)n, ccpu_pull * 1e6 / (double)n,
           (double)n / (r.cpu_s + ccpu_pull));
    if (r.apply_cpu_s > 0) {
        printf("; the site's applying thread %.2f s = %.1f us/record", r.apply_cpu_s,
               r.apply_cpu_s * 1e6 / (double)n);
    }
    printf("\n");
    printf("DISK   central %.1f MB, site A %.1f MB, site B %.1f MB (database + WAL)\n",
           (double)dir_bytes(central_dir) / 1e6, (double)dir_bytes(site_a) / 1e6,
           (double)dir_bytes(site_b) / 1e6);
    fflush(stdout);

    /* ---- the storage floor of what the push wrote ---- */
    if (with_floor) {
        /* rows per statement: set-wise, one, a VALUES list of FLOOR_PER_MAX */
        static const int pers[] = {0, 1, FLOOR_PER_MAX};
        double secs[3][2];
        long rows[3][2];
        for (int k = 0; k < 3; k++) {
            if (floor_measure(central_dir, pers[k], secs[k], rows[k]) != 0 ||
                rows[k][0] != rows[0][0] || rows[k][1] != rows[0][1]) {
                fprintf(stderr, "coachbox-sync-bench: the floor could not be measured\n");
                goto out;
            }
        }
        printf(
            "FLOOR  the rows the push wrote at central (%ld records, %ld change-log rows) written "
            "again into an empty copy of its schema (tables and indexes; no triggers, so no "
            "derived rows), %d rows per transaction, synchronous=OFF, by one thread:\n",
            rows[0][0], rows[0][1], FLOOR_CHUNK);
        for (int k = 0; k < 3; k++) {
            double t = secs[k][0] + secs[k][1];
            if (pers[k] == 0) {
                printf("       one INSERT ... SELECT per transaction:");
            } else if (pers[k] == 1) {
                printf("       one INSERT per row (prepared once, columns bound, no copy):");
            } else {
                printf("       one INSERT per %d rows (a VALUES list, columns bound, no copy):",
                       pers[k]);
            }
            printf(" records %.2f s + change log %.2f s = %.1f us/record (%.0f records/s)\n",
                   secs[k][0], secs[k][1], t * 1e6 / (double)n, (double)n / t);
        }
        fflush(stdout);
    }

    /* ---- one change, then a round ---- */
    double *lat = calloc((size_t)increments, sizeof(double));
    long max_req = 0, sum_req = 0;
    for (int k = 0; k < increments; k++) {
        if (one_edit(site_a, pid0, k) != CB_OK) {
            fprintf(stderr, "coachbox-sync-bench: edit failed\n");
            free(lat);
            goto out;
        }
        struct counts a, b;
        px_snapshot(&a);
        sync_round(site_a, NULL, &r);
        px_snapshot(&b);
        long req = total_requests(&a, &b);
        if (r.code != 0 || r.pushed != 1) {
            fprintf(stderr, "coachbox-sync-bench: incremental round exited %d (pushed %lld)\n",
                    r.code, r.pushed);
        }
        lat[k] = r.total_s;
        sum_req += req;
        if (req > max_req) {
            max_req = req;
        }
    }
    qsort(lat, (size_t)increments, sizeof(double), cmp_double);
    printf("ONE    one edit then `coachbox sync`: median %.1f ms, max %.1f ms wall (process start "
           "included); %.1f HTTP requests per round (max %ld)\n",
           lat[increments / 2] * 1000, lat[increments - 1] * 1000, (double)sum_req / increments,
           max_req);
    free(lat);
    {
        struct counts a, b;
        px_snapshot(&a);
        sync_round(site_b, NULL, &r);
        px_snapshot(&b);
        printf("       site B then pulled those %lld changes in %.1f ms with %ld request(s)\n",
               r.pulled, r.total_s * 1000, total_requests(&a, &b));
        px_snapshot(&a);
        sync_round(site_b, NULL, &r);
        px_snapshot(&b);
        printf("       an idle round (nothing new): %.1f ms, %ld request(s)\n", r.total_s * 1000,
               total_requests(&a, &b));
    }
    status = 0;
out:
    fflush(stdout);
    px_stop();
    if (central_pid > 0) {
        kill(central_pid, SIGTERM);
        wait_exit(central_pid);
        central_pid = 0;
    }
    procs_kill_all();
    if (!keep && status == 0) {
        cbt_rmtree(root);
    } else {
        printf("data kept in %s\n", root);
    }
    curl_global_cleanup();
    return status;
}
