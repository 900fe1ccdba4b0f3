/*
 * harness.h - integration test and benchmark support: start and stop real
 * `coachbox` processes on loopback ports, and speak HTTP to them with libcurl
 * (cookie jar, CSRF header, JSON bodies).  Every server a test starts is
 * stopped by it (cbt_server_stop / cbt_server_kill, and an atexit guard).
 */
#ifndef COACHBOX_TEST_HARNESS_H
#define COACHBOX_TEST_HARNESS_H

#include <curl/curl.h>
#include <jansson.h>
#include <sys/types.h>

struct cbt_server {
    pid_t pid;
    char url[128];
    char data[512];
    char log[600];
    int port; /* the port it listens on, once started */
};

/* How cbt_start starts a server (all zero: any port, a fresh log). */
struct cbt_start_opts {
    int port;       /* 0: any free port */
    int append_log; /* keep DATA.log and append (a restart of the same server) */
};

/* Path of the coachbox binary ($COACHBOX_BIN, else ./coachbox). */
const char *cbt_bin(void);
/* Make a fresh temporary directory path (not created) into out. */
void cbt_tempdir(char *out, size_t len, const char *tag);
/* Remove a directory tree (rm -rf). */
void cbt_rmtree(const char *dir);
/*
 * Start `coachbox serve --data DATA --listen 127.0.0.1:0 --allow-test-nhs ARGS...`
 * and wait until it prints its URL.  data NULL makes a temp dir.  0 on success.
 */
int cbt_server_start(struct cbt_server *s, const char *data, const char *const *extra_args);
/* The same for `coachbox central` (stopped with cbt_server_stop / cbt_server_kill). */
int cbt_central_start(struct cbt_server *s, const char *data, const char *const *extra_args);
/* Either, as `coachbox CMD` (serve or central), with options (NULL: defaults). */
int cbt_start(struct cbt_server *s, const char *cmd, const char *data,
              const char *const *extra_args, const struct cbt_start_opts *opts);

/* SIGTERM, wait for exit; returns the exit status (or -1). */
int cbt_server_stop(struct cbt_server *s);
/* SIGKILL, wait. */
void cbt_server_kill(struct cbt_server *s);
/* Run the coachbox binary with args and stdin text; returns its exit status. */
int cbt_run(const char *const *args, const char *stdin_text, char *out, size_t outlen);
/* `coachbox ARGS...` (a NULL-terminated list of strings), output (stdout and
 * stderr) into out; its exit status, or -1 (out then says which signal). */
int cbt_coachbox(char *out, size_t outlen, ...);
/* `coachbox user add` with password on stdin; returns exit status. */
int cbt_add_user(const char *data, const char *username, const char *role, const char *team,
                 const char *password);

struct cbt_client {
    CURL *curl;
    char base[128];
    char csrf[80];
};

struct cbt_resp {
    long status;
    char *body; /* NUL-terminated, malloc'd */
    size_t body_len;
    char *headers; /* raw response headers, malloc'd */
    json_t *json;  /* parsed body or NULL */
};

int cbt_client_init(struct cbt_client *c, const char *base);
void cbt_client_free(struct cbt_client *c);
/*
 * Send method path with an optional body (sent as application/json unless
 * content_type is given).  Adds X-CSRF-Token when the client has one.
 * Returns 0 if an HTTP response arrived.
 */
int cbt_request(struct cbt_client *c, const char *method, const char *path, const char *body,
                struct cbt_resp *r);
int cbt_request_ex(struct cbt_client *c, const char *method, const char *path, const char *body,
                   size_t body_len, const char *content_type, const char *const *headers,
                   struct cbt_resp *r);
/* POST /api/login; on 200 keeps the CSRF token.  Returns the HTTP status. */
long cbt_login(struct cbt_client *c, const char *username, const char *password);
void cbt_resp_free(struct cbt_resp *r);
/* Value of a response header (case-insensitive name) copied into out; 1 if found. */
int cbt_header(const struct cbt_resp *r, const char *name, char *out, size_t len);
/* String at a dotted path in the JSON body ("error.field"), or NULL. */
const char *cbt_jstr(const struct cbt_resp *r, const char *path);

#endif
