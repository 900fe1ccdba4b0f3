/*
 * main.c - the coachbox command line: serve, user, team, score, version.
 * Each subcommand parses its own flags, prints a clear message and exits
 * non-zero (2 for usage errors, 1 for runtime failures) on any problem.
 */
#include "coachbox/auth.h"
#include "coachbox/capture.h"
#include "coachbox/caseload.h"
#include "coachbox/err.h"
#include "coachbox/http.h"
#include "coachbox/jarena.h"
#include "coachbox/json.h"
#include "coachbox/measures.h"
#include "coachbox/reports.h"
#include "coachbox/rng.h"
#include "coachbox/sites.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"
#include "coachbox/team.h"
#include "coachbox/throttle.h"
#include "coachbox/writer.h"

#include <curl/curl.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CB_SERVE_THREADS   40           /* CivetWeb workers: one per open keep-alive connection */
#define CB_MALLOC_ARENAS   2            /* glibc malloc arenas for the whole process */
#define CB_MALLOC_MMAP_MIN (128 * 1024) /* blocks this large are mmapped */
#define CB_MALLOC_TRIM_MIN (256 * 1024) /* free top of an arena given back */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(void)
{
    fputs("usage: coachbox COMMAND [options]\n"
          "\n"
          "  serve   --data DIR [--listen ADDR:PORT] [--cert FILE] [--insecure-http]\n"
          "          [--threads N] [--allow-test-nhs]\n"
          "          run a field server (default ./coachbox-data on 127.0.0.1:8080)\n"
          "  central --data DIR [--listen ADDR:PORT] [--cert FILE] [--insecure-http]\n"
          "          run the central Live Well record store (sync hub, manager views)\n"
          "  site add --data CENTRAL_DIR --name NAME --team TEAM [--team TEAM ...]\n"
          "          register a field server; prints its one-time enrollment code\n"
          "  site list|revoke --data CENTRAL_DIR [--site ID_OR_NAME]\n"
          "  enroll --data FIELD_DIR --central URL --code CODE [--ca FILE] [--pin sha256//...]\n"
          "  sync --data FIELD_DIR [--verify] [--stats]\n"
          "          sync with central now (exit 0 when complete; --stats: CPU of the pull)\n"
          "  user add --data DIR --username U --role coach|lead|manager|admin\n"
          "          [--team TEAM] [--display-name NAME]   (password read from stdin)\n"
          "  user disable|enable --data DIR --username U\n"
          "  user password --data DIR --username U   (the new password on stdin)\n"
          "  team add --data DIR --id ID --name NAME\n"
          "  settings --data DIR [--review-weeks N]   show (or change) the service settings\n"
          "  score INSTRUMENT KEY=VALUE ...   score an outcome measure (--list for all)\n"
          "  import imd|population --data DIR FILE.csv   replace report reference data\n"
          "  export quarterly --data DIR --quarter YYYYQn [--team TEAM] [--out FILE]\n"
          "  export extract --data DIR --out DIR   one CSV per table (no secrets)\n"
          "  version\n",
          stderr);
}

/* Simple flag reader: --name VALUE pairs and boolean --name flags. */
struct flags {
    int argc;
    char **argv;
};

static const char *flag_value(const struct flags *f, const char *name)
{
    for (int i = 0; i < f->argc; i++) {
        if (strcmp(f->argv[i], name) == 0) {
            return i + 1 < f->argc ? f->argv[i + 1] : NULL;
        }
    }
    return NULL;
}

static int flag_present(const struct flags *f, const char *name)
{
    for (int i = 0; i < f->argc; i++) {
        if (strcmp(f->argv[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Refuse flags not in known (value flags end with '=', e.g. "--data=").
 * Returns 0 when every argument is known and value flags have values.
 */
static int flags_check(const struct flags *f, const char *const *known)
{
    for (int i = 0; i < f->argc; i++) {
        int ok = 0;
        for (const char *const *k = known; *k; k++) {
            size_t n = strlen(*k);
            int takes_value = (*k)[n - 1] == '=';
            if (takes_value ? (strncmp(f->argv[i], *k, n - 1) == 0 && f->argv[i][n - 1] == '\0')
                            : strcmp(f->argv[i], *k) == 0) {
                ok = 1;
                if (takes_value) {
                    if (i + 1 >= f->argc) {
                        fprintf(stderr, "coachbox: %s needs a value\n", f->argv[i]);
                        return -1;
                    }
                    i++;
                }
                break;
            }
        }
        if (!ok) {
            fprintf(stderr, "coachbox: unknown option '%s'\n", f->argv[i]);
            return -1;
        }
    }
    return 0;
}

static int open_store(const char *dir, struct cb_store **s)
{
    int rc = cb_store_open(dir, s);
    if (rc) {
        fprintf(stderr, "coachbox: cannot open the data directory %s: %s\n", dir, cb_strerror(rc));
    }
    return rc;
}

static int cmd_serve(struct flags *f, const char *role)
{
    static const char *const known[] = {
        "--data=",    "--listen=",        "--cert=",         "--insecure-http",
        "--threads=", "--allow-test-nhs", "--idle-timeout=", NULL};
    if (flags_check(f, known)) {
        return 2;
    }
    const char *data = flag_value(f, "--data") ? flag_value(f, "--data") : "./coachbox-data";
    const char *listen = flag_value(f, "--listen") ? flag_value(f, "--listen") : "127.0.0.1:8080";
    const char *cert = flag_value(f, "--cert");
    int threads = CB_SERVE_THREADS;
    if (flag_value(f, "--threads")) {
        char *end;
        errno = 0;
        long t = strtol(flag_value(f, "--threads"), &end, 10);
        if (errno || *end || t < 2 || t > 256) {
            fprintf(stderr, "coachbox: --threads must be a number from 2 to 256\n");
            return 2;
        }
        threads = (int)t;
    }
    int64_t idle_ms = 30 * 60 * 1000;
    if (flag_value(f, "--idle-timeout")) {
        char *end;
        errno = 0;
        long t = strtol(flag_value(f, "--idle-timeout"), &end, 10);
        if (errno || *end || t < 1 || t > 86400) {
            fprintf(stderr, "coachbox: --idle-timeout must be seconds from 1 to 86400\n");
            return 2;
        }
        idle_ms = (int64_t)t * 1000;
    }
    if (strchr(listen, ',')) {
        /* CivetWeb would take a list and open every address in it. */
        fprintf(stderr, "coachbox: --listen takes one address (HOST:PORT), not a list: %s\n",
                listen);
        return 2;
    }
    if (!cb_http_listen_is_loopback(listen) && !cert && !flag_present(f, "--insecure-http")) {
        fprintf(stderr,
                "coachbox: refusing plain HTTP on %s: it is not a loopback address.\n"
                "  Serve HTTPS with --cert FILE (certificate and key, PEM), or pass\n"
                "  --insecure-http if this network is otherwise protected.\n",
                listen);
        return 2;
    }
    if (cert && access(cert, R_OK) != 0) {
        fprintf(stderr, "coachbox: cannot read certificate %s: %s\n", cert, strerror(errno));
        return 2;
    }
    if (cb_rng_init()) {
        fprintf(stderr, "coachbox: no entropy source for the random generator\n");
        return 1;
    }
    struct cb_app app;
    memset(&app, 0, sizeof(app));
    if (open_store(data, &app.store)) {
        return 1;
    }
    if (strcmp(role, "central") == 0) {
        struct cb_conn *c;
        int brc = cb_store_set_role(app.store, "central");
        if (brc == CB_OK) {
            brc = cb_store_conn(app.store, &c);
        }
        if (brc == CB_OK) {
            brc = cb_capture_bootstrap_central(c);
        }
        if (brc) {
            fprintf(stderr, "coachbox: cannot prepare the central store: %s\n", cb_strerror(brc));
            cb_store_close(app.store);
            return 1;
        }
    } else if (strcmp(cb_store_role(app.store), "central") == 0) {
        fprintf(stderr, "coachbox: %s holds a central store: run `coachbox central`\n", data);
        cb_store_close(app.store);
        return 2;
    }
    app.role = cb_store_role(app.store);
    app.sessions.idle_ms = idle_ms;
    app.sessions.absolute_ms = 12LL * 3600 * 1000;
    app.allow_test_nhs = flag_present(f, "--allow-test-nhs");
    app.max_body = CB_MAX_BODY_DEFAULT;
    if (cb_throttle_new(5, 30 * 1000, 15 * 60 * 1000, &app.throttle) ||
        cb_throttle_new(20, 30 * 1000, 15 * 60 * 1000, &app.throttle_addr)) {
        cb_store_close(app.store);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct cb_http_config cfg = {listen, cert, threads, 10000};
    struct cb_http *h = NULL;
    int rc = cb_writer_start(app.store, &app.writer);
    if (rc) {
        fprintf(stderr, "coachbox: cannot start the writer thread: %s\n", cb_strerror(rc));
        cb_throttle_free(app.throttle);
        cb_throttle_free(app.throttle_addr);
        cb_store_close(app.store);
        return 1;
    }
    cb_store_set_writer(app.store, app.writer); /* audits of reads queue with the writes */
    rc = cb_http_start(&app, &cfg, &h);
    if (rc) {
        fprintf(stderr, "coachbox: cannot listen on %s: %s\n", listen,
                rc == CB_EINVAL ? "expected ADDR:PORT" : "address in use, or bad certificate");
        cb_store_set_writer(app.store, NULL);
        cb_writer_stop(app.writer);
        cb_throttle_free(app.throttle);
        cb_throttle_free(app.throttle_addr);
        cb_store_close(app.store);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(app.role, "field") == 0) {
        cb_syncer_start(app.store);
    }
    printf("coachbox: %s server listening on %s (data in %s)\n", app.role, cb_http_url(h), data);
    fflush(stdout);
    while (!stop_requested) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    printf("coachbox: stopping\n");
    fflush(stdout);
    cb_syncer_stop();
    cb_http_stop(h); /* finishes in-flight requests, which may wait on the writer */
    uint64_t jobs, groups, pending;
    cb_writer_stats(app.writer, &jobs, &groups, &pending);
    printf("coachbox: writer: %llu writes in %llu group commits\n", (unsigned long long)jobs,
           (unsigned long long)groups);
    fflush(stdout);
    cb_store_set_writer(app.store, NULL); /* no thread writes any more */
    cb_writer_stop(app.writer);           /* then no job can be queued any more */
    cb_store_close(app.store);
    cb_throttle_free(app.throttle);
    cb_throttle_free(app.throttle_addr);
    return 0;
}

/* Read one line (the password) from stdin without the newline. */
static int read_password(char *buf, size_t len)
{
    if (!fgets(buf, (int)len, stdin)) {
        return -1;
    }
    size_t n = strlen(buf);
    if (n == len - 1 && buf[n - 1] != '\n') {
        return -2;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    return 0;
}

/* Why an enrolled field server changes no account itself. */
#define ENROLLED_ACCOUNTS                                                                          \
    "this field server is enrolled with central, which manages its accounts: make the change "     \
    "on central (it reaches this site at its next sync)"

/* read_password, saying what went wrong (what: "the password"): 0, or -1 after
 * a message on stderr. */
static int password_from_stdin(char *pw, size_t len, const char *what)
{
    int prc = read_password(pw, len);
    if (prc == -2) {
        fprintf(stderr, "coachbox: password is longer than 256 characters\n");
    } else if (prc) {
        fprintf(stderr, "coachbox: expected %s on standard input\n", what);
    }
    return prc ? -1 : 0;
}

/*
 * `user password --data DIR --username U`: a new password from standard input
 * (an administrator's reset: every session of the account ends).  Refused on an
 * enrolled field server, whose accounts are central's copies.  Exit 0, 2 for
 * bad input or no such user or the wrong place, 1 for a storage failure.
 */
static int user_password(struct flags *f, const char *data, const char *username)
{
    static const char *const known[] = {"--data=", "--username=", NULL};
    if (flags_check(f, known)) {
        return 2;
    }
    if (!data || !username) {
        fprintf(stderr, "coachbox: user password needs --data and --username\n");
        return 2;
    }
    char pw[CB_PASSWORD_MAX + 2];
    if (password_from_stdin(pw, sizeof(pw), "the new password")) {
        return 2;
    }
    struct cb_store *s;
    struct cb_conn *c;
    if (cb_store_open_existing(data, &s) || cb_store_conn(s, &c)) {
        memset(pw, 0, sizeof(pw));
        return 1;
    }
    struct cb_user u;
    struct cb_field_error fe = {"", ""};
    int ended = 0, rc;
    const char *why = NULL;
    if (!cb_accounts_here(c)) {
        rc = CB_EINVAL;
        why = ENROLLED_ACCOUNTS;
    } else if ((rc = cb_user_find(c, username, &u, NULL, 0)) == CB_ENOTFOUND) {
        why = "no such user";
    } else if (rc == CB_OK) {
        rc = cb_user_set_password(c, u.id, pw, NULL, NULL, NULL, &ended, &fe);
    }
    memset(pw, 0, sizeof(pw));
    cb_store_close(s);
    if (rc) {
        fprintf(stderr, "coachbox: cannot set the password of %s: %s%s%s\n", username,
                why ? "" : fe.field, !why && fe.field[0] ? " " : "",
                why             ? why
                : fe.message[0] ? fe.message
                                : cb_strerror(rc));
        return rc == CB_EINVAL || rc == CB_ENOTFOUND ? 2 : 1;
    }
    printf("set the password of %s; %d session%s ended\n", username, ended, ended == 1 ? "" : "s");
    return 0;
}

static int cmd_user(int argc, char **argv)
{
    if (argc < 1) {
        usage();
        return 2;
    }
    struct flags f = {argc - 1, argv + 1};
    const char *data = flag_value(&f, "--data");
    const char *username = flag_value(&f, "--username");
    if (strcmp(argv[0], "add") == 0) {
        static const char *const known[] = {
            "--data=", "--username=", "--role=", "--team=", "--display-name=", NULL};
        if (flags_check(&f, known)) {
            return 2;
        }
        if (!data || !username || !flag_value(&f, "--role")) {
            fprintf(stderr, "coachbox: user add needs --data, --username and --role\n");
            return 2;
        }
        char pw[CB_PASSWORD_MAX + 2];
        if (password_from_stdin(pw, sizeof(pw), "the password")) {
            return 2;
        }
        struct cb_store *s;
        struct cb_conn *c;
        if (open_store(data, &s) || cb_store_conn(s, &c)) {
            return 1;
        }
        if (!cb_accounts_here(c)) {
            memset(pw, 0, sizeof(pw));
            cb_store_close(s);
            fprintf(stderr, "coachbox: cannot add user: %s\n", ENROLLED_ACCOUNTS);
            return 2;
        }
        struct cb_field_error fe = {"", ""};
        struct cb_user u;
        int rc = cb_user_create(c, username, flag_value(&f, "--display-name"),
                                flag_value(&f, "--role"), flag_value(&f, "--team"), pw, &u, &fe);
        memset(pw, 0, sizeof(pw));
        cb_store_close(s);
        if (rc) {
            fprintf(stderr, "coachbox: cannot add user: %s%s%s\n", fe.field, fe.field[0] ? " " : "",
                    fe.message[0] ? fe.message : cb_strerror(rc));
            return rc == CB_EINVAL || rc == CB_ECONFLICT ? 2 : 1;
        }
        printf("added %s user %s (%s)\n", u.role, u.username, u.id);
        return 0;
    }
    if (strcmp(argv[0], "password") == 0) {
        return user_password(&f, data, username);
    }
    if (strcmp(argv[0], "disable") == 0 || strcmp(argv[0], "enable") == 0) {
        static const char *const known[] = {"--data=", "--username=", NULL};
        if (flags_check(&f, known)) {
            return 2;
        }
        if (!data || !username) {
            fprintf(stderr, "coachbox: user %s needs --data and --username\n", argv[0]);
            return 2;
        }
        struct cb_store *s;
        struct cb_conn *c;
        if (cb_store_open_existing(data, &s) || cb_store_conn(s, &c)) {
            return 1;
        }
        /* Disabling stays possible at an enrolled site (a lost tablet while central
         * cannot be reached); enabling is central's, or the site would diverge. */
        if (strcmp(argv[0], "enable") == 0 && !cb_accounts_here(c)) {
            cb_store_close(s);
            fprintf(stderr, "coachbox: cannot enable %s: %s\n", username, ENROLLED_ACCOUNTS);
            return 2;
        }
        int rc = cb_user_set_disabled(c, username, strcmp(argv[0], "disable") == 0);
        cb_store_close(s);
        if (rc) {
            fprintf(stderr, "coachbox: cannot %s %s: %s\n", argv[0], username,
                    rc == CB_ENOTFOUND ? "no such user" : cb_strerror(rc));
            return rc == CB_ENOTFOUND ? 2 : 1;
        }
        printf("%sd user %s\n", argv[0], username);
        return 0;
    }
    usage();
    return 2;
}

static int cmd_team(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "add") != 0) {
        usage();
        return 2;
    }
    struct flags f = {argc - 1, argv + 1};
    static const char *const known[] = {"--data=", "--id=", "--name=", NULL};
    if (flags_check(&f, known)) {
        return 2;
    }
    const char *data = flag_value(&f, "--data"), *id = flag_value(&f, "--id"),
               *name = flag_value(&f, "--name");
    if (!data || !id || !name) {
        fprintf(stderr, "coachbox: team add needs --data, --id and --name\n");
        return 2;
    }
    struct cb_store *s;
    struct cb_conn *c;
    if (open_store(data, &s) || cb_store_conn(s, &c)) {
        return 1;
    }
    if (!cb_accounts_here(c)) {
        cb_store_close(s);
        fprintf(stderr, "coachbox: cannot add team: this field server is enrolled with central, "
                        "which manages teams: add it on central (it reaches this site at its "
                        "next sync)\n");
        return 2;
    }
    struct cb_field_error fe = {"", ""};
    int rc = cb_team_add(c, id, name, &fe);
    cb_store_close(s);
    if (rc) {
        fprintf(stderr, "coachbox: cannot add team: %s%s%s\n", fe.field, fe.field[0] ? " " : "",
                fe.message[0] ? fe.message : cb_strerror(rc));
        return rc == CB_EINVAL || rc == CB_ECONFLICT ? 2 : 1;
    }
    printf("added team %s (%s)\n", id, name);
    return 0;
}

/*
 * `coachbox settings --data DIR [--review-weeks N]`: change what is given
 * (caseload.h cb_settings_update: validated, audited), then print the
 * settings as JSON.  Exit 2 naming the flag for a bad value.
 */
static int cmd_settings(struct flags *f)
{
    static const char *const known[] = {"--data=", "--review-weeks=", NULL};
    if (flags_check(f, known)) {
        return 2;
    }
    const char *data = flag_value(f, "--data"), *weeks = flag_value(f, "--review-weeks");
    if (!data) {
        fprintf(stderr, "coachbox: settings needs --data DIR\n");
        return 2;
    }
    struct cb_store *s;
    struct cb_conn *c;
    if (cb_store_open_existing(data, &s) || cb_store_conn(s, &c)) {
        return 1;
    }
    json_t *out = NULL;
    struct cb_field_error fe = {"", ""};
    int rc;
    if (weeks) {
        json_t *in = json_pack("{s:s}", "review_weeks", weeks);
        rc = in ? cb_settings_update(c, NULL, in, &out, &fe) : CB_ENOMEM;
        json_decref(in);
    } else {
        rc = cb_settings_get(c, &out);
    }
    cb_store_close(s);
    if (rc) {
        fprintf(stderr, "coachbox: settings: %s%s%s\n",
                strcmp(fe.field, "review_weeks") == 0 ? "--review-weeks" : fe.field,
                fe.field[0] ? " " : "", fe.message[0] ? fe.message : cb_strerror(rc));
        return rc == CB_EINVAL ? 2 : 1;
    }
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (!text) {
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

/* Values of a repeatable --name flag as a JSON array of strings. */
static json_t *flag_values(const struct flags *f, const char *name)
{
    json_t *a = json_array();
    for (int i = 0; i + 1 < f->argc; i++) {
        if (strcmp(f->argv[i], name) == 0) {
            json_array_append_new(a, json_string(f->argv[i + 1]));
            i++;
        }
    }
    return a;
}

static int open_central(const char *data, struct cb_store **s, struct cb_conn **c)
{
    if (cb_store_open_existing(data, s)) {
        return 1;
    }
    if (strcmp(cb_store_role(*s), "central") != 0) {
        fprintf(stderr,
                "coachbox: %s is not a central store (start it once with "
                "`coachbox central --data %s`)\n",
                data, data);
        cb_store_close(*s);
        return 2;
    }
    if (cb_store_conn(*s, c)) {
        cb_store_close(*s);
        return 1;
    }
    return 0;
}

static int cmd_site(int argc, char **argv)
{
    if (argc < 1) {
        usage();
        return 2;
    }
    struct flags f = {argc - 1, argv + 1};
    static const char *const known[] = {"--data=", "--name=", "--team=", "--site=", NULL};
    if (flags_check(&f, known)) {
        return 2;
    }
    const char *data = flag_value(&f, "--data");
    if (!data) {
        fprintf(stderr, "coachbox: site %s needs --data CENTRAL_DIR\n", argv[0]);
        return 2;
    }
    struct cb_store *s;
    struct cb_conn *c;
    int orc = open_central(data, &s, &c);
    if (orc) {
        return orc;
    }
    int rc;
    if (strcmp(argv[0], "add") == 0) {
        struct cb_site site;
        struct cb_field_error fe = {"", ""};
        char code[CB_CODE_STRLEN];
        json_t *teams = flag_values(&f, "--team");
        rc = cb_site_add(c, flag_value(&f, "--name"), teams, &site, code, &fe);
        json_decref(teams);
        if (rc == CB_OK) {
            printf("site %s (%s) added.\nEnrollment code (one use, valid 24 hours): %s\n",
                   site.name, site.id, code);
            cb_site_clear(&site);
        } else {
            fprintf(stderr, "coachbox: cannot add site: %s%s%s\n", fe.field, fe.field[0] ? " " : "",
                    fe.message[0] ? fe.message : cb_strerror(rc));
        }
    } else if (strcmp(argv[0], "revoke") == 0) {
        const char *site = flag_value(&f, "--site");
        rc = site ? cb_site_revoke(c, site) : CB_EINVAL;
        if (rc == CB_OK) {
            printf("site %s revoked: it is refused from now on and wipes its synced data at "
                   "its next contact\n",
                   site);
        } else {
            fprintf(stderr, "coachbox: cannot revoke: %s\n",
                    !site                ? "give --site ID_OR_NAME"
                    : rc == CB_ENOTFOUND ? "no such site"
                                         : cb_strerror(rc));
        }
    } else if (strcmp(argv[0], "list") == 0) {
        json_t *out = NULL;
        rc = cb_site_list(c, &out);
        if (rc == CB_OK) {
            char *text = json_dumps(out, JSON_INDENT(2));
            printf("%s\n", text ? text : "{}");
            free(text);
            json_decref(out);
        }
    } else {
        usage();
        rc = CB_EINVAL;
    }
    cb_store_close(s);
    return rc == CB_OK ? 0 : (rc == CB_EINVAL || rc == CB_ECONFLICT || rc == CB_ENOTFOUND) ? 2 : 1;
}

static int cmd_enroll(struct flags *f)
{
    static const char *const known[] = {
        "--data=", "--central=", "--code=", "--ca=", "--pin=", NULL};
    if (flags_check(f, known)) {
        return 2;
    }
    const char *data = flag_value(f, "--data"), *url = flag_value(f, "--central"),
               *code = flag_value(f, "--code");
    if (!data || !url || !code) {
        fprintf(stderr, "coachbox: enroll needs --data, --central and --code\n");
        return 2;
    }
    if (flag_value(f, "--pin") && strncmp(flag_value(f, "--pin"), "sha256//", 8) != 0) {
        fprintf(stderr, "coachbox: --pin must look like sha256//BASE64\n");
        return 2;
    }
    struct cb_store *s;
    if (open_store(data, &s)) {
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct cb_sync_tls tls = {flag_value(f, "--ca"), flag_value(f, "--pin")};
    char msg[512];
    int rc = cb_sync_enroll(s, url, code, &tls, msg, sizeof(msg));
    cb_store_close(s);
    curl_global_cleanup();
    if (rc) {
        fprintf(stderr, "coachbox: enrollment failed: %s\n", msg[0] ? msg : cb_strerror(rc));
        return rc == CB_EINVAL || rc == CB_EUNAUTH || rc == CB_ECONFLICT ? 2 : 1;
    }
    printf("%s\n", msg);
    return 0;
}

struct progress_state {
    int tty;
    const char *last_phase;
};

/* A bar on a terminal, plain lines otherwise. */
static void on_progress(void *ud, const char *phase, int64_t done, int64_t total)
{
    struct progress_state *p = ud;
    if (p->tty) {
        if (total > 0) {
            int width = 30, fill = (int)(done * width / total);
            fprintf(stderr, "\r%s [%.*s%*s] %lld/%lld", phase, fill,
                    "##############################", width - fill, "", (long long)done,
                    (long long)total);
        } else {
            fprintf(stderr, "\r%s %lld changes", phase, (long long)done);
        }
    } else {
        if (total > 0) {
            fprintf(stderr, "%s: %lld of %lld\n", phase, (long long)done, (long long)total);
        } else {
            fprintf(stderr, "%s: %lld\n", phase, (long long)done);
        }
    }
    if (p->tty && p->last_phase && strcmp(p->last_phase, phase) != 0) {
        fputc('\n', stderr);
    }
    p->last_phase = phase;
}

static int cmd_sync(struct flags *f)
{
    static const char *const known[] = {"--data=", "--verify", "--stats", NULL};
    if (flags_check(f, known)) {
        return 2;
    }
    const char *data = flag_value(f, "--data") ? flag_value(f, "--data") : "./coachbox-data";
    struct cb_store *s;
    if (cb_store_open_existing(data, &s)) {
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct progress_state ps = {isatty(2), NULL};
    struct cb_sync_result res;
    int rc = cb_sync_round(s, on_progress, &ps, &res);
    if (ps.tty) {
        fputc('\n', stderr);
    }
    int status = 0;
    if (rc) {
        fprintf(stderr, "coachbox: sync failed: %s\n", res.error[0] ? res.error : cb_strerror(rc));
        fprintf(stderr, "coachbox: %lld change(s) still waiting; nothing was lost\n",
                (long long)res.pending);
        status = rc == CB_EINVAL ? 2 : 1;
    } else {
        printf("sync complete: pushed %lld, pulled %lld, conflicts %lld, refused %lld, waiting "
               "%lld\n",
               (long long)res.pushed, (long long)res.pulled, (long long)res.conflicts,
               (long long)res.rejected, (long long)res.pending);
        if (res.restored) {
            printf("this data directory was restored from a backup: central's copy of the writes "
                   "made after the backup was brought back, and new writes were numbered after "
                   "central's (audit: sync.restored)\n");
        }
        if (flag_present(f, "--stats")) {
            /* For benchmarks (tools/sync_bench.c): the pull's applying thread alone. */
            printf("stats: pull applied %lld change(s) with %.3f s of CPU on the applying "
                   "thread\n",
                   (long long)res.pulled, res.pull_apply_cpu_s);
        }
        if (res.pending > 0) {
            status = 1;
        }
    }
    if (status == 0 && flag_present(f, "--verify")) {
        json_t *report = NULL;
        char msg[512];
        rc = cb_sync_verify(s, &report, msg, sizeof(msg));
        if (rc) {
            fprintf(stderr, "coachbox: verify failed: %s\n", msg[0] ? msg : cb_strerror(rc));
            status = 1;
        } else if (json_is_true(json_object_get(report, "in_sync"))) {
            printf("in sync\n");
        } else {
            printf("NOT in sync:\n");
            const char *tbl;
            json_t *v;
            json_object_foreach(json_object_get(report, "tables"), tbl, v)
            {
                json_t *l = json_object_get(v, "local"), *cc = json_object_get(v, "central");
                if (!json_equal(l, cc)) {
                    printf("  %s: local %lld rows, central %lld rows\n", tbl,
                           (long long)json_integer_value(json_object_get(l, "count")),
                           (long long)json_integer_value(json_object_get(cc, "count")));
                }
            }
            size_t i;
            json_array_foreach(json_object_get(report, "differences"), i, v)
            {
                printf("  %s %s: local %s, central %s\n", cb_json_str(v, "table"),
                       cb_json_str(v, "row_id"), cb_json_str(v, "local"),
                       cb_json_str(v, "central"));
            }
            status = 1;
        }
        json_decref(report);
    }
    cb_store_close(s);
    curl_global_cleanup();
    return status;
}

/*
 * Cap glibc's malloc arenas before any thread starts.  By default every thread
 * that contends gets an arena of its own (up to 8 per core), each keeping its
 * high-water mark, so RSS crept with the worker count (PERFORMANCE.md, soak).
 * Two arenas keep the contention of 2 cores low.  MALLOC_ARENA_MAX in the
 * environment still wins, for experiments.
 */
static void bound_malloc_arenas(void)
{
#ifdef __GLIBC__
    if (!getenv("MALLOC_ARENA_MAX")) {
        mallopt(M_ARENA_MAX, CB_MALLOC_ARENAS);
    }
    /* Fixed thresholds: by default glibc raises the mmap threshold to the size
     * of each mmapped block freed (up to 32 MiB), so after the first large
     * answer every later one (sync pages, long timelines) was carved from the
     * arenas and left its high-water mark there.  With the threshold fixed a
     * block of 128 KiB or more is mmapped and unmapped when freed. */
    if (!getenv("MALLOC_MMAP_THRESHOLD_")) {
        mallopt(M_MMAP_THRESHOLD, CB_MALLOC_MMAP_MIN);
    }
    if (!getenv("MALLOC_TRIM_THRESHOLD_")) {
        mallopt(M_TRIM_THRESHOLD, CB_MALLOC_TRIM_MIN);
    }
#endif
}

#define TCACHE_OFF "glibc.malloc.tcache_count=0"

/*
 * For the servers only: start again (same pid, arguments and descriptors)
 * with glibc's per-thread malloc caches off, which only GLIBC_TUNABLES at
 * process start can do.  Each thread's tcache keeps up to 7 freed chunks of
 * every small size that neither free() nor malloc_trim() returns; 40 workers
 * filled theirs for minutes, and that was what RSS still grew by under the
 * soak once connections and arenas were bounded (PERFORMANCE.md, soak).
 * Nothing is done when GLIBC_TUNABLES already sets tcache_count (the
 * operator's choice, or this re-exec done), under valgrind (the new image
 * would run outside the tool), or if the exec fails (the server then runs
 * with the caches).
 */
static void tcache_off_reexec(char **argv)
{
#ifdef __GLIBC__
    const char *t = getenv("GLIBC_TUNABLES");
    const char *pre = getenv("LD_PRELOAD");
    if ((t && strstr(t, "glibc.malloc.tcache_count")) || (pre && strstr(pre, "vgpreload"))) {
        return;
    }
    char val[1024];
    int n =
        snprintf(val, sizeof(val), "%s%s%s", t && t[0] ? t : "", t && t[0] ? ":" : "", TCACHE_OFF);
    if (n < 0 || (size_t)n >= sizeof(val) || setenv("GLIBC_TUNABLES", val, 1) != 0) {
        return;
    }
    execv("/proc/self/exe", argv);
    /* Still here: run as we are, without leaving the variable for children. */
    if (t) {
        setenv("GLIBC_TUNABLES", t, 1);
    } else {
        unsetenv("GLIBC_TUNABLES");
    }
#else
    (void)argv;
#endif
}

/*
 * No core files: a dump of a server or a sync would hold participants' data,
 * session tokens and the site's secret, written wherever the system puts
 * cores.  COACHBOX_CORE_DUMPS=1 keeps them (debugging on a test box).
 */
static void no_core_dumps(void)
{
    const char *keep = getenv("COACHBOX_CORE_DUMPS");
    if (keep && strcmp(keep, "1") == 0) {
        return;
    }
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
}

int main(int argc, char **argv)
{
    no_core_dumps();
    if (argc >= 2 && (strcmp(argv[1], "serve") == 0 || strcmp(argv[1], "central") == 0)) {
        tcache_off_reexec(argv);
    }
    bound_malloc_arenas();
    cb_jarena_install(); /* before any thread: jansson's allocator (jarena.h) */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "central") == 0) {
        struct flags f = {argc - 2, argv + 2};
        return cmd_serve(&f, cmd[0] == 'c' ? "central" : "field");
    }
    if (strcmp(cmd, "site") == 0) {
        return cmd_site(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "enroll") == 0) {
        struct flags f = {argc - 2, argv + 2};
        return cmd_enroll(&f);
    }
    if (strcmp(cmd, "sync") == 0) {
        struct flags f = {argc - 2, argv + 2};
        return cmd_sync(&f);
    }
    if (strcmp(cmd, "user") == 0) {
        return cmd_user(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "team") == 0) {
        return cmd_team(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "settings") == 0) {
        struct flags f = {argc - 2, argv + 2};
        return cmd_settings(&f);
    }
    if (strcmp(cmd, "score") == 0) {
        return cb_measures_cli(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "import") == 0 || strcmp(cmd, "export") == 0) {
        return cb_reports_cli(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("coachbox %s (schema %d)\n", COACHBOX_VERSION, cb_store_schema_version());
        return 0;
    }
    fprintf(stderr, "coachbox: unknown command '%s'\n", cmd);
    usage();
    return 2;
}
