/*
 * bench.c - HTTP benchmark for a field server: starts `coachbox serve` on a
 * loopback port with a fresh data directory, seeds participants, then runs
 * three phases at C concurrent keep-alive connections for D seconds each:
 *   GET /healthz, GET /api/participants?q=<name prefix>, POST /api/encounters
 * (durable: synchronous=FULL commit per request).  Prints requests/s,
 * p50/p99 latency and error counts.  Talks only to 127.0.0.1; stops the
 * server it started.
 *
 * usage: coachbox-bench [--connections C] [--seconds D] [--participants N]
 * (COACHBOX_BIN names the coachbox binary; default ./coachbox)
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SAMPLES 2000000

static const char *const names[] = {"smi", "kha", "pat", "jon", "tay", "ahm", "wil", "bro"};

struct shared {
    const char *url;
    char cookie[200];
    char csrf[80];
    int phase; /* 0 healthz, 1 search, 2 encounter */
    double deadline;
    char pids[64][40];
    int npids;
    pthread_mutex_t lock;
    double *lat;
    size_t nlat;
    long errors;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *d, size_t s, size_t n, void *u)
{
    (void)d;
    (void)u;
    return s * n;
}

static void *worker(void *arg)
{
    struct shared *sh = arg;
    CURL *k = curl_easy_init();
    char url[512], body[512], hdr[128];
    struct curl_slist *hl = NULL;
    snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s", sh->csrf);
    hl = curl_slist_append(hl, hdr);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(k, CURLOPT_COOKIE, sh->cookie);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 30L);
    double *local = malloc(sizeof(double) * 400000);
    size_t n = 0;
    long errs = 0;
    unsigned seed = (unsigned)(uintptr_t)&local;
    while (now_s() < sh->deadline) {
        seed = seed * 1103515245u + 12345u;
        if (sh->phase == 0) {
            snprintf(url, sizeof(url), "%s/healthz", sh->url);
            curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
        } else if (sh->phase == 1) {
            snprintf(url, sizeof(url), "%s/api/participants?q=%s&limit=20", sh->url,
                     names[(seed >> 8) % 8]);
            curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
        } else {
            snprintf(url, sizeof(url), "%s/api/encounters", sh->url);
            snprintf(body, sizeof(body),
                     "{\"participant_id\":\"%s\",\"type\":\"drop_in\","
                     "\"occurred_at\":\"2026-11-20T10:00:00.000Z\",\"notes\":\"bench\"}",
                     sh->pids[(seed >> 8) % (unsigned)sh->npids]);
            curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
        }
        curl_easy_setopt(k, CURLOPT_URL, url);
        double t0 = now_s();
        CURLcode cc = curl_easy_perform(k);
        double t1 = now_s();
        long status = 0;
        curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK || status >= 400) {
            errs++;
        } else if (n < 400000) {
            local[n++] = t1 - t0;
        }
    }
    pthread_mutex_lock(&sh->lock);
    for (size_t i = 0; i < n && sh->nlat < MAX_SAMPLES; i++) {
        sh->lat[sh->nlat++] = local[i];
    }
    sh->errors += errs;
    pthread_mutex_unlock(&sh->lock);
    free(local);
    curl_slist_free_all(hl);
    curl_easy_cleanup(k);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run_phase(struct shared *sh, int phase, const char *label, int conns, int secs)
{
    pthread_t th[256];
    sh->phase = phase;
    sh->nlat = 0;
    sh->errors = 0;
    double t0 = now_s();
    sh->deadline = t0 + secs;
    for (int i = 0; i < conns; i++) {
        pthread_create(&th[i], NULL, worker, sh);
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
    }
    double el = now_s() - t0;
    qsort(sh->lat, sh->nlat, sizeof(double), cmp);
    double p50 = sh->nlat ? sh->lat[sh->nlat / 2] * 1000 : 0;
    double p99 = sh->nlat ? sh->lat[(size_t)((double)sh->nlat * 0.99)] * 1000 : 0;
    printf("%-28s %9.0f req/s   p50 %7.2f ms   p99 %7.2f ms   ok %zu   errors %ld\n", label,
           (double)sh->nlat / el, p50, p99, sh->nlat, sh->errors);
    fflush(stdout);
}

static long arg_long(int argc, char **argv, const char *name, long def, long lo, long hi)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            char *end;
            errno = 0;
            long v = strtol(argv[i + 1], &end, 10);
            if (errno || *end || v < lo || v > hi) {
                fprintf(stderr, "coachbox-bench: %s must be %ld-%ld\n", name, lo, hi);
                exit(2);
            }
            return v;
        }
    }
    return def;
}

int main(int argc, char **argv)
{
    int conns = (int)arg_long(argc, argv, "--connections", 32, 1, 256);
    int secs = (int)arg_long(argc, argv, "--seconds", 10, 1, 600);
    int npart = (int)arg_long(argc, argv, "--participants", 5000, 10, 1000000);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct cbt_server srv;
    char data[512];
    cbt_tempdir(data, sizeof(data), "bench");
    if (cbt_add_user(data, "bench.coach", "coach", "bury-town", "bench-password-1") != 0) {
        fprintf(stderr, "coachbox-bench: cannot create the bench user\n");
        return 1;
    }
    const char *args[] = {"--threads", "64", NULL};
    if (cbt_server_start(&srv, data, args)) {
        fprintf(stderr, "coachbox-bench: server did not start (see %s)\n", srv.log);
        return 1;
    }
    struct cbt_client c;
    cbt_client_init(&c, srv.url);
    if (cbt_login(&c, "bench.coach", "bench-password-1") != 200) {
        fprintf(stderr, "coachbox-bench: login failed\n");
        cbt_server_stop(&srv);
        return 1;
    }
    static struct shared sh;
    memset(&sh, 0, sizeof(sh));
    pthread_mutex_init(&sh.lock, NULL);
    sh.url = srv.url;
    snprintf(sh.csrf, sizeof(sh.csrf), "%s", c.csrf);
    struct curl_slist *cookies = NULL;
    curl_easy_getinfo(c.curl, CURLINFO_COOKIELIST, &cookies);
    for (struct curl_slist *p = cookies; p; p = p->next) {
        const char *tab = strrchr(p->data, '\t');
        const char *name_end = tab;
        if (!tab) {
            continue;
        }
        const char *name = name_end - 1;
        while (name > p->data && name[-1] != '\t') {
            name--;
        }
        snprintf(sh.cookie, sizeof(sh.cookie), "%.*s=%s", (int)(name_end - name), name, tab + 1);
    }
    curl_slist_free_all(cookies);
    printf("coachbox-bench: %s, %d connections, %d s per phase, seeding %d participants\n", srv.url,
           conns, secs, npart);
    fflush(stdout);
    static const char *const given[] = {"Amelia", "Oliver", "Aisha", "Mohammed", "Grace"};
    static const char *const family[] = {"Smith", "Khan",   "Patel", "Jones",   "Taylor",
                                         "Ahmed", "Wilson", "Brown", "Hussain", "Wright"};
    for (int i = 0; i < npart; i++) {
        char body[256];
        struct cbt_resp r;
        snprintf(
            body, sizeof(body),
            "{\"given_name\":\"%s\",\"family_name\":\"%s%d\",\"date_of_birth\":\"19%02d-0%d-1%d\"}",
            given[i % 5], family[i % 10], i, 40 + i % 60, 1 + i % 9, i % 10);
        if (cbt_request(&c, "POST", "/api/participants", body, &r) || r.status != 201) {
            fprintf(stderr, "coachbox-bench: seeding failed (%ld)\n", r.status);
            cbt_server_stop(&srv);
            return 1;
        }
        if (sh.npids < 64) {
            snprintf(sh.pids[sh.npids++], sizeof(sh.pids[0]), "%s", cbt_jstr(&r, "id"));
        }
        cbt_resp_free(&r);
    }
    sh.lat = malloc(sizeof(double) * MAX_SAMPLES);
    run_phase(&sh, 0, "GET /healthz", conns, secs);
    run_phase(&sh, 1, "GET /api/participants?q=", conns, secs);
    run_phase(&sh, 2, "POST /api/encounters", conns, secs);
    free(sh.lat);
    cbt_client_free(&c);
    cbt_server_stop(&srv);
    /* The server's own count of writes and group commits (seeding included). */
    FILE *lf = fopen(srv.log, "r");
    char line[256];
    while (lf && fgets(line, sizeof(line), lf)) {
        if (strstr(line, "coachbox: writer:")) {
            printf("server: %s", line + strlen("coachbox: "));
        }
    }
    if (lf) {
        fclose(lf);
    }
    cbt_rmtree(data);
    char log[600];
    snprintf(log, sizeof(log), "%s.log", data);
    remove(log);
    curl_global_cleanup();
    return 0;
}
