/*
 * soak.c - sustained-load benchmark (issue #7): a field server that syncs to a
 * central while C keep-alive connections use the API as the coach UI does.
 *
 *   1. starts `coachbox central`, adds a coach (team bury-town) and a site
 *      there, enrolls a fresh field data directory, runs a first
 *      `coachbox sync`, then starts `coachbox serve` on it: its background
 *      syncer pushes and pulls while the load runs (2 s after a write);
 *   2. signs in once, seeds participants through the API (not timed), then for
 *      D seconds every connection picks a request at random, weighted like a
 *      coach's session: search, open a record, its timeline, record a contact,
 *      score a measure, update a participant, register someone new;
 *   3. every S seconds samples VmRSS (and its anonymous, file and shmem parts)
 *      of both servers from /proc/PID/status, and
 *      polls GET /api/sync/status four times a second to count sync rounds
 *      (a new last_sync_at is a completed round, a new last_error a failed one);
 *   4. afterwards waits for the outbox to drain, compares the field's and
 *      central's row counts, stops both servers (SIGTERM, expecting exit 0)
 *      and prints requests, errors, p50/p99/max per phase and type, the RSS
 *      series and its growth after warm-up.
 *
 * Any answer other than the one the request expects (200, or 201 for a
 * create), and any transport failure, is an error.  Exit status 0 only when
 * there were no errors, no failed sync round, the stores converged and both
 * servers exited cleanly.  Loopback only; every server started is stopped.
 *
 * usage: coachbox-soak [--seconds D] [--connections C] [--warmup W]
 *                      [--participants N] [--sample S] [--server-threads T] [--keep]
 * (COACHBOX_BIN names the coachbox binary; default ./coachbox)
 */
#include "harness.h"
#include "lathist.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PW          "soak-password-1"
#define TEAM        "bury-town"
#define MAX_CONNS   256
#define MAX_PIDS    5000
#define MAX_SAMPLES 4096
#define BODY_CAP    512 /* bytes of an answer kept for error reports */
#define MAX_ERRLOG  10

enum op { OP_SEARCH, OP_OPEN, OP_TIMELINE, OP_ENCOUNTER, OP_MEASURE, OP_PATCH, OP_REGISTER, OP_N };
enum { PH_WARMUP, PH_STEADY, PH_N };

/* The mix: weights out of 100, and the status each request must get. */
static const struct {
    const char *name;
    int weight;
    long want;
} ops[OP_N] = {
    [OP_SEARCH] = {"search", 30, 200},
    [OP_OPEN] = {"open record", 20, 200},
    [OP_TIMELINE] = {"timeline", 15, 200},
    [OP_ENCOUNTER] = {"create encounter", 15, 201},
    [OP_MEASURE] = {"create measure", 10, 201},
    [OP_PATCH] = {"update participant", 8, 200},
    [OP_REGISTER] = {"register participant", 2, 201},
};
static const char *const phase_name[PH_N] = {"warm-up", "steady"};
static const char *const families[] = {"Smith", "Khan",   "Patel", "Jones",   "Taylor",
                                       "Ahmed", "Wilson", "Brown", "Hussain", "Wright"};
static const char *const givens[] = {"Amelia", "Oliver", "Aisha", "Mohammed", "Grace", "Noah"};

/* One server's resident memory (kB, /proc/PID/status): VmRSS is the sum of
 * anonymous memory (heap, stacks), file pages mapped (the binary, libraries)
 * and shared memory (SQLite's -shm WAL index would count here). */
struct rss {
    long total, anon, file, shmem;
};

struct rss_sample {
    double t;
    struct rss field, central;
};

/* Shared by the workers (read-only once they start) and the monitor. */
static struct {
    const char *url;
    struct curl_slist *cookies; /* the session cookie, Netscape format */
    char csrf[80];
    char pids[MAX_PIDS][40];
    int npids;
    double t0, warm_end, deadline;
    atomic_long requests, errors;
    pthread_mutex_t lock;
    int nerrlog;
    char errlog[MAX_ERRLOG][520];
} S;

struct worker {
    pthread_t th;
    unsigned seed;
    char body[BODY_CAP + 1];
    size_t body_len;
    struct lh lat[PH_N][OP_N];
    long errors[PH_N][OP_N];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned next_rand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) & 0xffffffu;
}

/* Keep the first BODY_CAP bytes of an answer (for error reports); drop the rest. */
static size_t keep_body(char *d, size_t size, size_t n, void *ud)
{
    struct worker *w = ud;
    size_t len = size * n;
    size_t room = BODY_CAP - w->body_len;
    size_t k = len < room ? len : room;
    memcpy(w->body + w->body_len, d, k);
    w->body_len += k;
    w->body[w->body_len] = '\0';
    return len;
}

/* An ISO 8601 UTC time secs_ago seconds ago. */
static void iso_ago(long secs_ago, char out[32])
{
    time_t t = time(NULL) - secs_ago;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static enum op pick_op(unsigned r)
{
    int x = (int)(r % 100);
    for (int i = 0; i < OP_N; i++) {
        if (x < ops[i].weight) {
            return (enum op)i;
        }
        x -= ops[i].weight;
    }
    return OP_SEARCH;
}

/*
 * Build request op into url/body and set the handle's method.  The body is
 * empty for a GET.
 */
static void build(struct worker *w, CURL *k, enum op op, char *url, size_t ulen, char *body,
                  size_t blen)
{
    unsigned r = next_rand(&w->seed);
    const char *pid = S.pids[r % (unsigned)S.npids];
    char when[32];
    body[0] = '\0';
    switch (op) {
    case OP_SEARCH:
        snprintf(url, ulen, "%s/api/participants?q=%.3s&limit=20", S.url, families[r % 10]);
        break;
    case OP_OPEN:
        snprintf(url, ulen, "%s/api/participants/%s", S.url, pid);
        break;
    case OP_TIMELINE:
        snprintf(url, ulen, "%s/api/participants/%s/timeline", S.url, pid);
        break;
    case OP_ENCOUNTER:
        iso_ago(3600, when);
        snprintf(url, ulen, "%s/api/encounters", S.url);
        snprintf(body, blen,
                 "{\"participant_id\":\"%s\",\"type\":\"one_to_one\",\"occurred_at\":\"%s\","
                 "\"duration_minutes\":30,\"notes\":\"soak contact %u\"}",
                 pid, when, r);
        break;
    case OP_MEASURE:
        iso_ago(3600, when);
        snprintf(url, ulen, "%s/api/measures", S.url);
        snprintf(body, blen,
                 "{\"participant_id\":\"%s\",\"instrument\":\"swemwbs\",\"timepoint\":\"review\","
                 "\"taken_at\":\"%s\",\"responses\":{\"q1\":%u,\"q2\":%u,\"q3\":%u,\"q4\":%u,"
                 "\"q5\":%u,\"q6\":%u,\"q7\":%u}}",
                 pid, when, 1 + r % 5, 1 + (r >> 3) % 5, 1 + (r >> 6) % 5, 1 + (r >> 9) % 5,
                 1 + (r >> 12) % 5, 1 + (r >> 15) % 5, 1 + (r >> 18) % 5);
        break;
    case OP_PATCH:
        snprintf(url, ulen, "%s/api/participants/%s", S.url, pid);
        snprintf(body, blen, "{\"preferred_name\":\"%s %u\"}", givens[r % 6], r % 1000);
        break;
    case OP_REGISTER:
    default:
        snprintf(url, ulen, "%s/api/participants", S.url);
        snprintf(body, blen,
                 "{\"given_name\":\"%s\",\"family_name\":\"%sson\",\"date_of_birth\":"
                 "\"19%02u-%02u-%02u\"}",
                 givens[r % 6], families[(r >> 4) % 10], 40 + r % 60, 1 + (r >> 7) % 12,
                 1 + (r >> 11) % 28);
        break;
    }
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, op == OP_PATCH ? "PATCH" : NULL);
    if (body[0]) {
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
    }
}

static void log_error(const char *what, const char *url, long status, const char *detail)
{
    pthread_mutex_lock(&S.lock);
    if (S.nerrlog < MAX_ERRLOG) {
        /* truncated on purpose: an excerpt of the URL and of the answer is enough */
        snprintf(S.errlog[S.nerrlog++], sizeof(S.errlog[0]), "%.40s %.160s -> %ld %.300s", what,
                 url, status, detail);
    }
    pthread_mutex_unlock(&S.lock);
}

/* One connection: requests from the mix until the deadline. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    CURL *k = curl_easy_init();
    struct curl_slist *hl = NULL;
    char hdr[128], url[512], body[768];
    if (!k) {
        atomic_fetch_add(&S.errors, 1);
        return NULL;
    }
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", S.csrf);
    hl = curl_slist_append(hl, hdr);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    for (struct curl_slist *c = S.cookies; c; c = c->next) {
        curl_easy_setopt(k, CURLOPT_COOKIELIST, c->data);
    }
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 60L);
    for (;;) {
        double t0 = now_s();
        if (t0 >= S.deadline) {
            break;
        }
        int ph = t0 < S.warm_end ? PH_WARMUP : PH_STEADY;
        enum op op = pick_op(next_rand(&w->seed));
        build(w, k, op, url, sizeof(url), body, sizeof(body));
        curl_easy_setopt(k, CURLOPT_URL, url);
        w->body_len = 0;
        w->body[0] = '\0';
        CURLcode cc = curl_easy_perform(k);
        double t1 = now_s();
        long status = 0;
        curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
        atomic_fetch_add(&S.requests, 1);
        if (cc != CURLE_OK || status != ops[op].want) {
            w->errors[ph][op]++;
            atomic_fetch_add(&S.errors, 1);
            log_error(ops[op].name, url, status, cc != CURLE_OK ? curl_easy_strerror(cc) : w->body);
        } else {
            lh_add(&w->lat[ph][op], t1 - t0);
        }
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(k);
    return NULL;
}

/* The kB figure of line key ("VmRSS:", "RssAnon:") in /proc/PID/status, or -1. */
static long status_kb(pid_t pid, const char *key)
{
    size_t klen = strlen(key);
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) == 0) {
            char *end;
            errno = 0;
            long v = strtol(line + klen, &end, 10);
            kb = errno || end == line + klen ? -1 : v;
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

static struct rss rss_of(pid_t pid)
{
    struct rss r = {status_kb(pid, "VmRSS:"), status_kb(pid, "RssAnon:"),
                    status_kb(pid, "RssFile:"), status_kb(pid, "RssShmem:")};
    return r;
}

/* What the monitor learns from GET /api/sync/status. */
struct sync_watch {
    char last_ok[40], last_err[512];
    long rounds_ok, rounds_failed, status_errors;
    long long pending;
    int syncing;
};

/* Poll the sync status once and count a new completed or failed round. */
static void sync_poll(struct cbt_client *c, struct sync_watch *sw)
{
    struct cbt_resp r;
    memset(&r, 0, sizeof(r));
    int rc = cbt_request(c, "GET", "/api/sync/status", NULL, &r);
    if (rc != 0 || r.status != 200 || !r.json) {
        sw->status_errors++;
        if (rc == 0) {
            cbt_resp_free(&r);
        }
        return;
    }
    const char *ok = cbt_jstr(&r, "last_sync_at");
    const char *err = cbt_jstr(&r, "last_error");
    if (ok && strcmp(ok, sw->last_ok) != 0) {
        sw->rounds_ok++;
        snprintf(sw->last_ok, sizeof(sw->last_ok), "%s", ok);
    }
    if (err && err[0] && strcmp(err, sw->last_err) != 0) {
        sw->rounds_failed++;
        fprintf(stderr, "coachbox-soak: sync round failed: %s\n", err);
    }
    snprintf(sw->last_err, sizeof(sw->last_err), "%s", err ? err : "");
    sw->pending = (long long)json_integer_value(json_object_get(r.json, "pending"));
    sw->syncing = json_is_true(json_object_get(r.json, "syncing"));
    cbt_resp_free(&r);
}

/* count(*) of sql in the database of data dir, or -1. */
static long long db_count(const char *data, const char *sql)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/coachbox.db", data);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 10000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Options: name, value, bounds. */
struct opt {
    const char *name;
    long *value;
    long lo, hi;
};

/* Parse --name N options (and --keep); exits 2 on anything else. */
static void parse_args(int argc, char **argv, struct opt *o, size_t n, int *keep)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keep") == 0) {
            *keep = 1;
            continue;
        }
        size_t j = 0;
        while (j < n && strcmp(argv[i], o[j].name) != 0) {
            j++;
        }
        char *end = NULL;
        errno = 0;
        long v = j < n && i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
        if (j == n || !end || *end || errno || v < o[j].lo || v > o[j].hi) {
            fprintf(stderr, "usage: coachbox-soak [--seconds D] [--connections C] [--warmup W] "
                            "[--participants N] [--sample S] [--server-threads T] [--keep]\n");
            if (j < n) {
                fprintf(stderr, "coachbox-soak: %s must be %ld-%ld\n", o[j].name, o[j].lo, o[j].hi);
            }
            exit(2);
        }
        *o[j].value = v;
        i++;
    }
}

/* Central with a coach and a site; the field enrolled and synced once. 0 on success. */
static int setup_sites(const char *central_dir, const char *field_dir, struct cbt_server *central)
{
    char out[4096], code[32];
    if (cbt_central_start(central, central_dir, NULL) != 0) {
        fprintf(stderr, "coachbox-soak: central did not start (see %s)\n", central->log);
        return -1;
    }
    if (cbt_add_user(central_dir, "soak.coach", "coach", TEAM, PW) != 0) {
        fprintf(stderr, "coachbox-soak: cannot add the coach on central\n");
        return -1;
    }
    const char *add[] = {"site",         "add",    "--data", central_dir, "--name",
                         "Soak library", "--team", TEAM,     NULL};
    const char *p;
    if (cbt_run(add, NULL, out, sizeof(out)) != 0 || !(p = strstr(out, "hours): "))) {
        fprintf(stderr, "coachbox-soak: site add failed: %s\n", out);
        return -1;
    }
    snprintf(code, sizeof(code), "%.14s", p + strlen("hours): "));
    const char *enroll[] = {"enroll",     "--data", field_dir, "--central",
                            central->url, "--code", code,      NULL};
    const char *sync[] = {"sync", "--data", field_dir, NULL};
    if (cbt_run(enroll, NULL, out, sizeof(out)) != 0) {
        fprintf(stderr, "coachbox-soak: enroll failed: %s\n", out);
        return -1;
    }
    if (cbt_run(sync, NULL, out, sizeof(out)) != 0) {
        fprintf(stderr, "coachbox-soak: first sync failed: %s\n", out);
        return -1;
    }
    return 0;
}

/* Seed n participants through the API, keeping their ids. 0 on success. */
static int seed(struct cbt_client *c, long n)
{
    for (long i = 0; i < n; i++) {
        char body[256];
        struct cbt_resp r;
        snprintf(body, sizeof(body),
                 "{\"given_name\":\"%s\",\"family_name\":\"%s\",\"date_of_birth\":"
                 "\"19%02ld-%02ld-%02ld\",\"postcode\":\"BL9 0EJ\"}",
                 givens[i % 6], families[i % 10], 40 + i % 60, 1 + i % 12, 1 + i % 28);
        if (cbt_request(c, "POST", "/api/participants", body, &r) != 0) {
            fprintf(stderr, "coachbox-soak: seeding: no answer\n");
            return -1;
        }
        if (r.status != 201 || !cbt_jstr(&r, "id")) {
            fprintf(stderr, "coachbox-soak: seeding: HTTP %ld %.300s\n", r.status, r.body);
            cbt_resp_free(&r);
            return -1;
        }
        snprintf(S.pids[S.npids++], sizeof(S.pids[0]), "%s", cbt_jstr(&r, "id"));
        cbt_resp_free(&r);
    }
    return 0;
}

static void print_latency(struct worker *w, int conns)
{
    printf("\n%-8s %-22s %9s %7s %9s %9s %9s\n", "phase", "request", "ok", "errors", "p50 ms",
           "p99 ms", "max ms");
    for (int ph = 0; ph < PH_N; ph++) {
        struct lh all;
        lh_init(&all);
        long all_err = 0;
        for (int op = 0; op < OP_N; op++) {
            struct lh h;
            lh_init(&h);
            long err = 0;
            for (int i = 0; i < conns; i++) {
                lh_merge(&h, &w[i].lat[ph][op]);
                err += w[i].errors[ph][op];
            }
            lh_merge(&all, &h);
            all_err += err;
            printf("%-8s %-22s %9llu %7ld %9.2f %9.2f %9.1f\n", phase_name[ph], ops[op].name,
                   (unsigned long long)h.count, err, lh_quantile(&h, 0.5) * 1e3,
                   lh_quantile(&h, 0.99) * 1e3, h.max_s * 1e3);
        }
        printf("%-8s %-22s %9llu %7ld %9.2f %9.2f %9.1f\n", phase_name[ph], "all",
               (unsigned long long)all.count, all_err, lh_quantile(&all, 0.5) * 1e3,
               lh_quantile(&all, 0.99) * 1e3, all.max_s * 1e3);
    }
}

/* RSS after warm-up: the sample at its end, the last one and the largest;
 * then how the first and the last split into anonymous, file and shmem pages.
 * end: when the load stopped (the last sample, s[n - 1], is taken then). */
static void print_rss(const struct rss_sample *s, int n, double warm, double end, const char *who,
                      int field)
{
    const struct rss *base = NULL, *last = NULL;
    long max = -1;
    for (int i = 0; i < n; i++) {
        const struct rss *r = field ? &s[i].field : &s[i].central;
        if (s[i].t >= warm && !base) {
            base = r;
        }
        if (base) {
            last = r;
            max = r->total > max ? r->total : max;
        }
    }
    if (!base || base->total <= 0) {
        printf("%s RSS: no sample after warm-up\n", who);
        return;
    }
    printf("%s RSS after warm-up: %ld kB at %.0f s, last %ld kB, max %ld kB: growth %+.1f %% "
           "(max %+.1f %%)\n",
           who, base->total, warm, last->total, max,
           100.0 * (double)(last->total - base->total) / (double)base->total,
           100.0 * (double)(max - base->total) / (double)base->total);
    printf("%s   anon %ld -> %ld kB, file %ld -> %ld kB, shmem %ld -> %ld kB\n", who, base->anon,
           last->anon, base->file, last->file, base->shmem, last->shmem);
    /* Like with like: every sample but the last is taken under load, with the
     * requests in flight; the last is taken as the load stops.  Compare the mean
     * of the samples in the first window after warm-up with the mean of those in
     * the last window under load (window: a minute, or a fifth of the steady
     * phase if that is shorter). */
    double win = (end - warm) / 5.0 < 60.0 ? (end - warm) / 5.0 : 60.0;
    double early = 0, late = 0;
    int ne = 0, nl = 0;
    for (int i = 0; i < n; i++) { /* the sample at the stop has t >= end: left out */
        const struct rss *r = field ? &s[i].field : &s[i].central;
        if (s[i].t >= warm && s[i].t < warm + win) {
            early += (double)r->total;
            ne++;
        }
        if (s[i].t >= end - win && s[i].t < end) {
            late += (double)r->total;
            nl++;
        }
    }
    if (ne > 0 && nl > 0) {
        early /= ne;
        late /= nl;
        printf("%s   under load, mean of %d samples at %.0f-%.0f s %.0f kB -> mean of %d at "
               "%.0f-%.0f s %.0f kB: growth %+.1f %%\n",
               who, ne, warm, warm + win, early, nl, end - win, end, late,
               100.0 * (late - early) / early);
    }
}

int main(int argc, char **argv)
{
    long secs = 600, conns = 32, warm = -1, npart = 500, sample = 10, threads = 0;
    int keep = 0;
    struct opt o[] = {
        {"--seconds", &secs, 10, 86400}, {"--connections", &conns, 1, MAX_CONNS},
        {"--warmup", &warm, 0, 3600},    {"--participants", &npart, 10, MAX_PIDS},
        {"--sample", &sample, 1, 600},   {"--server-threads", &threads, 0, 1024},
    };
    parse_args(argc, argv, o, sizeof(o) / sizeof(o[0]), &keep);
    if (warm < 0) {
        warm = secs >= 300 ? 60 : secs / 5;
    }
    if (warm >= secs) {
        fprintf(stderr, "coachbox-soak: --warmup must be shorter than --seconds\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&S.lock, NULL);
    char root[512], central_dir[600], field_dir[600];
    cbt_tempdir(root, sizeof(root), "soak");
    if (mkdir(root, 0700) != 0) {
        fprintf(stderr, "coachbox-soak: cannot create %s\n", root);
        return 1;
    }
    snprintf(central_dir, sizeof(central_dir), "%s/central", root);
    snprintf(field_dir, sizeof(field_dir), "%s/field", root);
    struct cbt_server central, field;
    memset(&field, 0, sizeof(field));
    memset(&central, 0, sizeof(central));
    int failed = 1;
    struct cbt_client c;
    memset(&c, 0, sizeof(c));
    static struct worker w[MAX_CONNS];
    static struct rss_sample rs[MAX_SAMPLES];
    int nrs = 0;
    struct sync_watch sw;
    memset(&sw, 0, sizeof(sw));

    if (setup_sites(central_dir, field_dir, &central) != 0) {
        goto out;
    }
    char tbuf[16];
    snprintf(tbuf, sizeof(tbuf), "%ld", threads);
    const char *serve_args[] = {"--threads", tbuf, NULL};
    if (cbt_server_start(&field, field_dir, threads ? serve_args : NULL) != 0) {
        fprintf(stderr, "coachbox-soak: field server did not start (see %s)\n", field.log);
        goto out;
    }
    cbt_client_init(&c, field.url);
    if (cbt_login(&c, "soak.coach", PW) != 200) {
        fprintf(stderr, "coachbox-soak: sign-in at the field server failed\n");
        goto out;
    }
    curl_easy_getinfo(c.curl, CURLINFO_COOKIELIST, &S.cookies);
    snprintf(S.csrf, sizeof(S.csrf), "%s", c.csrf);
    S.url = field.url;
    printf("coachbox-soak: field %s (pid %ld) syncing to central %s (pid %ld); %ld connections, "
           "%ld s (warm-up %ld s), %ld participants seeded\n",
           field.url, (long)field.pid, central.url, (long)central.pid, conns, secs, warm, npart);
    fflush(stdout);
    if (seed(&c, npart) != 0) {
        goto out;
    }

    S.t0 = now_s();
    S.warm_end = S.t0 + (double)warm;
    S.deadline = S.t0 + (double)secs;
    for (long i = 0; i < conns; i++) {
        w[i].seed = 0x9e3779b9u * (unsigned)(i + 1);
        for (int ph = 0; ph < PH_N; ph++) {
            for (int op = 0; op < OP_N; op++) {
                lh_init(&w[i].lat[ph][op]);
            }
        }
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "coachbox-soak: cannot start a connection thread\n");
            S.deadline = 0;
            conns = i;
            break;
        }
    }
    printf("%8s %10s %7s %13s %10s %10s %15s %10s %10s %10s %8s\n", "t s", "requests", "errors",
           "field RSS kB", "(anon)", "(file+shm)", "central RSS kB", "(anon)", "sync ok",
           "sync fail", "pending");
    double next_sample = S.t0;
    for (double t = now_s(); t < S.deadline; t = now_s()) {
        sync_poll(&c, &sw);
        if (t >= next_sample && nrs < MAX_SAMPLES) {
            struct rss_sample *r = &rs[nrs++];
            r->t = t - S.t0;
            r->field = rss_of(field.pid);
            r->central = rss_of(central.pid);
            printf("%8.0f %10ld %7ld %13ld %10ld %10ld %15ld %10ld %10ld %10ld %8lld\n", r->t,
                   atomic_load(&S.requests), atomic_load(&S.errors), r->field.total, r->field.anon,
                   r->field.file + r->field.shmem, r->central.total, r->central.anon, sw.rounds_ok,
                   sw.rounds_failed, sw.pending);
            fflush(stdout);
            next_sample += (double)sample;
        }
        usleep(250 * 1000);
    }
    for (long i = 0; i < conns; i++) {
        pthread_join(w[i].th, NULL);
    }
    double elapsed = now_s() - S.t0;
    if (nrs < MAX_SAMPLES) {
        rs[nrs].t = elapsed;
        rs[nrs].field = rss_of(field.pid);
        rs[nrs].central = rss_of(central.pid);
        nrs++;
    }

    /* Let the syncer finish what the load left in the outbox. */
    double drain0 = now_s();
    do {
        usleep(250 * 1000);
        sync_poll(&c, &sw);
    } while ((sw.pending > 0 || sw.syncing) && now_s() - drain0 < 300);
    double drained = now_s() - drain0;

    long reqs = atomic_load(&S.requests), errs = atomic_load(&S.errors);
    printf("\n%ld requests in %.0f s = %.0f req/s at %ld connections; errors %ld\n", reqs, elapsed,
           (double)reqs / elapsed, conns, errs);
    for (int i = 0; i < S.nerrlog; i++) {
        printf("  error: %.400s\n", S.errlog[i]);
    }
    print_latency(w, (int)conns);
    printf("\n");
    print_rss(rs, nrs, (double)warm, (double)secs, "field  ", 1);
    print_rss(rs, nrs, (double)warm, (double)secs, "central", 0);
    printf("sync: %ld rounds completed, %ld failed (seen by polling /api/sync/status every "
           "250 ms); outbox %s after %.1f s (%lld pending)%s\n",
           sw.rounds_ok, sw.rounds_failed, sw.pending == 0 ? "drained" : "NOT drained", drained,
           sw.pending, sw.status_errors ? " - some status polls failed" : "");

    static const char *const counts[][2] = {
        {"participants", "SELECT count(*) FROM participants WHERE team = '" TEAM "'"},
        {"encounters", "SELECT count(*) FROM encounters"},
        {"measures", "SELECT count(*) FROM measures"},
    };
    int converged = sw.pending == 0;
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        long long f = db_count(field_dir, counts[i][1]), ce = db_count(central_dir, counts[i][1]);
        printf("%-13s field %lld, central %lld%s\n", counts[i][0], f, ce,
               f == ce && f >= 0 ? "" : "  MISMATCH");
        converged = converged && f == ce && f >= 0;
    }
    int field_exit = cbt_server_stop(&field), central_exit = cbt_server_stop(&central);
    printf("servers stopped: field exit %d, central exit %d\n", field_exit, central_exit);
    failed =
        errs != 0 || sw.rounds_failed != 0 || !converged || field_exit != 0 || central_exit != 0;
    printf("result: %s\n", failed ? "FAILED" : "ok");

out:
    cbt_client_free(&c);
    curl_slist_free_all(S.cookies);
    cbt_server_stop(&field);
    cbt_server_stop(&central);
    if (keep) {
        printf("data kept in %s\n", root);
    } else {
        cbt_rmtree(root);
    }
    curl_global_cleanup();
    return failed;
}
