/* harness.c - see harness.h. */
#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACKED 16
static pid_t tracked[MAX_TRACKED];
static int atexit_set;

static void kill_tracked(void)
{
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i] > 0) {
            kill(tracked[i], SIGKILL);
            waitpid(tracked[i], NULL, 0);
            tracked[i] = 0;
        }
    }
}

static void track(pid_t pid, int add)
{
    if (!atexit_set) {
        atexit(kill_tracked);
        atexit_set = 1;
    }
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (add ? tracked[i] == 0 : tracked[i] == pid) {
            tracked[i] = add ? pid : 0;
            return;
        }
    }
}

const char *cbt_bin(void)
{
    const char *b = getenv("COACHBOX_BIN");
    return b && b[0] ? b : "./coachbox";
}

void cbt_tempdir(char *out, size_t len, const char *tag)
{
    static unsigned counter;
    const char *tmp = getenv("TMPDIR");
    snprintf(out, len, "%s/coachbox-%s-%ld-%u-%ld", tmp && tmp[0] ? tmp : "/tmp", tag,
             (long)getpid(), counter++, (long)time(NULL));
}

void cbt_rmtree(const char *dir)
{
    const char *args[] = {"rm", "-rf", dir, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execvp("rm", (char *const *)(uintptr_t)args);
        _exit(127);
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
    }
}

/*
 * Start `coachbox CMD --data DATA --listen 127.0.0.1:PORT --allow-test-nhs ARGS...`
 * (CMD is serve or central; PORT from opts, else 0: any) with its output in
 * DATA.log (appended to when opts->append_log, so a restarted server keeps one
 * log), and wait up to 30 s for the URL it prints after this start.  0 on
 * success; the process is tracked until stopped.
 */
int cbt_start(struct cbt_server *s, const char *cmd, const char *data,
              const char *const *extra_args, const struct cbt_start_opts *opts)
{
    static const struct cbt_start_opts defaults;
    if (!opts) {
        opts = &defaults;
    }
    memset(s, 0, sizeof(*s));
    if (data) {
        snprintf(s->data, sizeof(s->data), "%s", data);
    } else {
        cbt_tempdir(s->data, sizeof(s->data), "srv");
    }
    snprintf(s->log, sizeof(s->log), "%s.log", s->data);
    off_t log_from = 0;
    struct stat sb;
    if (!opts->append_log) {
        unlink(s->log); /* a stale log would hand back the previous run's URL */
    } else if (stat(s->log, &sb) == 0) {
        log_from = sb.st_size; /* read only what this start writes */
    }
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", opts->port);
    const char *args[32];
    int n = 0;
    args[n++] = cbt_bin();
    args[n++] = cmd;
    args[n++] = "--data";
    args[n++] = s->data;
    args[n++] = "--listen";
    args[n++] = listen;
    args[n++] = "--allow-test-nhs";
    for (int i = 0; extra_args && extra_args[i] && n < 30; i++) {
        args[n++] = extra_args[i];
    }
    args[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | (opts->append_log ? O_APPEND : O_TRUNC), 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(args[0], (char *const *)(uintptr_t)args);
        _exit(127);
    }
    s->pid = pid;
    track(pid, 1);
    /* Wait (up to 30 s) for "listening on URL". */
    for (int tries = 0; tries < 3000; tries++) {
        char buf[4096];
        FILE *f = fopen(s->log, "r");
        if (f) {
            size_t got = 0;
            if (fseeko(f, log_from, SEEK_SET) == 0) {
                got = fread(buf, 1, sizeof(buf) - 1, f);
            }
            fclose(f);
            buf[got] = '\0';
            char *p = strstr(buf, "listening on ");
            if (p) {
                p += strlen("listening on ");
                size_t k = strcspn(p, " \n");
                if (k < sizeof(s->url)) {
                    memcpy(s->url, p, k);
                    s->url[k] = '\0';
                    const char *colon = strrchr(s->url, ':');
                    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
                    s->port = port > 0 && port < 65536 ? (int)port : 0;
                    return 0;
                }
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            track(pid, 0);
            s->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cbt_server_kill(s);
    return -1;
}

int cbt_server_start(struct cbt_server *s, const char *data, const char *const *extra_args)
{
    return cbt_start(s, "serve", data, extra_args, NULL);
}

int cbt_central_start(struct cbt_server *s, const char *data, const char *const *extra_args)
{
    return cbt_start(s, "central", data, extra_args, NULL);
}

int cbt_server_stop(struct cbt_server *s)
{
    int st = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        if (waitpid(s->pid, &st, 0) == s->pid && WIFEXITED(st)) {
            st = WEXITSTATUS(st);
        } else {
            st = -1;
        }
        track(s->pid, 0);
        s->pid = 0;
    }
    return st;
}

void cbt_server_kill(struct cbt_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        track(s->pid, 0);
        s->pid = 0;
    }
}

int cbt_run(const char *const *args, const char *stdin_text, char *out, size_t outlen)
{
    int in[2], outp[2];
    if (pipe(in)) {
        return -1;
    }
    if (pipe(outp)) {
        close(in[0]);
        close(in[1]);
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
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        close(outp[0]);
        close(outp[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        dup2(outp[1], 2);
        close(in[0]);
        close(in[1]);
        close(outp[0]);
        close(outp[1]);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    if (stdin_text) {
        ssize_t w = write(in[1], stdin_text, strlen(stdin_text));
        (void)w;
    }
    close(in[1]);
    size_t got = 0;
    char tmp[1024];
    for (;;) {
        ssize_t r = read(outp[0], tmp, sizeof(tmp));
        if (r < 0 && errno == EINTR) {
            continue;
        }
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
    close(outp[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (WIFSIGNALED(st)) {
        if (out && outlen > got) {
            snprintf(out + got, outlen - got, "[killed by signal %d]", WTERMSIG(st));
        }
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int cbt_coachbox(char *out, size_t outlen, ...)
{
    const char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, outlen);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31) {
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    return cbt_run(args, NULL, out, outlen);
}

int cbt_add_user(const char *data, const char *username, const char *role, const char *team,
                 const char *password)
{
    char pw[300];
    snprintf(pw, sizeof(pw), "%s\n", password);
    const char *args[] = {"user",   "add",        "--data",
                          data,     "--username", username,
                          "--role", role,         team ? "--team" : NULL,
                          team,     NULL};
    return cbt_run(args, pw, NULL, 0);
}

int cbt_client_init(struct cbt_client *c, const char *base)
{
    memset(c, 0, sizeof(*c));
    c->curl = curl_easy_init();
    if (!c->curl) {
        return -1;
    }
    snprintf(c->base, sizeof(c->base), "%s", base);
    curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    return 0;
}

void cbt_client_free(struct cbt_client *c)
{
    if (c->curl) {
        curl_easy_cleanup(c->curl);
    }
    c->curl = NULL;
}

struct sink {
    char *p;
    size_t len;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    char *q = realloc(s->p, s->len + n + 1);
    if (!q) {
        return 0;
    }
    memcpy(q + s->len, data, n);
    s->len += n;
    q[s->len] = '\0';
    s->p = q;
    return n;
}

int cbt_request_ex(struct cbt_client *c, const char *method, const char *path, const char *body,
                   size_t body_len, const char *content_type, const char *const *headers,
                   struct cbt_resp *r)
{
    char url[1024], h[256];
    struct sink bs = {NULL, 0}, hs = {NULL, 0};
    struct curl_slist *hl = NULL;
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "%s%s", c->base, path);
    CURL *k = c->curl;
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(k, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
    }
    if (body) {
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        snprintf(h, sizeof(h), "Content-Type: %s",
                 content_type ? content_type : "application/json");
        hl = curl_slist_append(hl, h);
    } else {
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    }
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    if (c->csrf[0]) {
        snprintf(h, sizeof(h), "X-CSRF-Token: %s", c->csrf);
        hl = curl_slist_append(hl, h);
    }
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; headers && headers[i]; i++) {
        hl = curl_slist_append(hl, headers[i]);
    }
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &bs);
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, sink_write);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, &hs);
    CURLcode cc = curl_easy_perform(k);
    curl_slist_free_all(hl);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, NULL);
    if (cc != CURLE_OK) {
        free(bs.p);
        free(hs.p);
        return -1;
    }
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = bs.p ? bs.p : strdup("");
    r->body_len = bs.len;
    r->headers = hs.p ? hs.p : strdup("");
    r->json = json_loads(r->body, 0, NULL);
    return 0;
}

int cbt_request(struct cbt_client *c, const char *method, const char *path, const char *body,
                struct cbt_resp *r)
{
    return cbt_request_ex(c, method, path, body, body ? strlen(body) : 0, NULL, NULL, r);
}

long cbt_login(struct cbt_client *c, const char *username, const char *password)
{
    json_t *b = json_pack("{s:s, s:s}", "username", username, "password", password);
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    struct cbt_resp r;
    c->csrf[0] = '\0';
    long status = -1;
    if (cbt_request(c, "POST", "/api/login", text, &r) == 0) {
        status = r.status;
        const char *t = cbt_jstr(&r, "csrf_token");
        if (status == 200 && t) {
            snprintf(c->csrf, sizeof(c->csrf), "%s", t);
        }
        cbt_resp_free(&r);
    }
    free(text);
    return status;
}

void cbt_resp_free(struct cbt_resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

int cbt_header(const struct cbt_resp *r, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol) {
            break;
        }
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ') {
                v++;
            }
            size_t k = (size_t)(eol - v);
            if (k >= len) {
                k = len - 1;
            }
            memcpy(out, v, k);
            out[k] = '\0';
            return 1;
        }
        p = eol + 2;
    }
    return 0;
}

const char *cbt_jstr(const struct cbt_resp *r, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = r->json;
    char *seg = buf;
    while (v && seg) {
        char *dot = strchr(seg, '.');
        if (dot) {
            *dot = '\0';
        }
        v = json_object_get(v, seg);
        seg = dot ? dot + 1 : NULL;
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}
