/*
 * http.h - the embedded, hardened CivetWeb server, request routing, and the
 * JSON request/response helpers every API handler uses.
 *
 * Threads: CivetWeb runs a fixed pool of worker threads; each request is
 * handled start to finish on one worker, which uses its own store connection
 * (store.h).  Handlers must not keep pointers into a cb_req after returning.
 *
 * Every response (API, assets, errors, CivetWeb's own errors) carries the
 * security headers of design.md section 6.  API responses are JSON with
 * Cache-Control: no-store; errors are {"error":{"code","message","field"}}.
 */
#ifndef COACHBOX_HTTP_H
#define COACHBOX_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "coachbox/auth.h"
#include "coachbox/buf.h"
#include "coachbox/err.h"
#include "coachbox/participant.h"

struct mg_connection;
struct mg_request_info;
struct cb_store;
struct cb_throttle;
struct cb_conn;
struct cb_writer;

#define CB_MAX_BODY_DEFAULT (1024 * 1024)

/* Process-wide server state shared by all workers (read-only once started). */
struct cb_app {
    struct cb_store *store;
    struct cb_throttle *throttle;      /* failed logins per account */
    struct cb_throttle *throttle_addr; /* failed logins per client address */
    struct cb_session_policy sessions;
    const char *role;         /* "field" or "central" */
    int allow_test_nhs;       /* demo / test data may use 999 NHS numbers */
    size_t max_body;          /* cap on request bodies, bytes */
    struct cb_writer *writer; /* group-commit writer (writer.h), or NULL */
};

struct cb_http_config {
    const char *listen; /* "ADDR:PORT"; PORT 0 picks a free port */
    const char *cert;   /* PEM with certificate and key: serve HTTPS; or NULL */
    int threads;        /* worker threads */
    int request_timeout_ms;
};

struct cb_http;

/*
 * Start serving.  Prints nothing; cb_http_url() gives the bound URL.
 * CB_EINVAL for a bad listen address; CB_EIO if the port cannot be bound or
 * the certificate cannot be loaded.
 */
int cb_http_start(struct cb_app *app, const struct cb_http_config *cfg, struct cb_http **out);
/* 1 if a listen address "HOST:PORT" is on the loopback interface. */
int cb_http_listen_is_loopback(const char *listen);
/* Stop accepting, let in-flight requests finish, join the workers, free h. */
void cb_http_stop(struct cb_http *h);
/* "http://127.0.0.1:8080" (owned by h). */
const char *cb_http_url(const struct cb_http *h);

struct cb_jarena;

/* One request being handled. */
struct cb_req {
    struct mg_connection *mc;
    const struct mg_request_info *ri;
    struct cb_app *app;
    const struct cb_route *route; /* the matched route */
    struct cb_conn *db;           /* this worker's store connection */
    const char *params[2];        /* path parameters ({id}), in order */
    json_t *body;                 /* parsed JSON body (object) for routes with CB_ROUTE_BODY */
    const char *raw_body;         /* the body bytes as received (valid during the handler) */
    size_t raw_len;
    struct cb_buf bodybuf;   /* owns raw_body */
    struct cb_jarena *arena; /* body's values, for CB_ROUTE_LARGE (jarena.h), or NULL */
    struct cb_user user;     /* the signed-in user (when authed) */
    int authed;
    char token[CB_TOKEN_STRLEN]; /* session token from the cookie, or "" */
    char csrf[CB_TOKEN_STRLEN];
    char addr[48];         /* client address */
    struct cb_actor actor; /* {&user, addr, allow_test_nhs} for domain calls */
    int tls;
    int status;         /* status sent, 0 until a response is written */
    int body_unread;    /* the request body was not consumed: close after reply */
    int large_slot;     /* holds one of the CB_LARGE_BODIES slots (CB_ROUTE_LARGE) */
    char idem_key[101]; /* Idempotency-Key of a first-time write, or "" */
    int idem_slot;      /* 1 + its claim on the keys in progress (http.c), or 0 */
};

typedef int (*cb_handler)(struct cb_req *r);

enum {
    CB_ROUTE_PUBLIC = 1u << 0,  /* no session required (and no CSRF check) */
    CB_ROUTE_BODY = 1u << 1,    /* requires a JSON object body */
    CB_ROUTE_LARGE = 1u << 2,   /* body cap CB_MAX_BODY_SYNC instead of the default */
    CB_ROUTE_CENTRAL = 1u << 3, /* served by central only: elsewhere 404 before any body */
    CB_ROUTE_GATED = 1u << 4    /* ctx is a struct cb_route_gate, run before the body */
};

#define CB_MAX_BODY_SYNC (64 * 1024 * 1024)
/* At most this many CB_ROUTE_LARGE bodies are read, parsed and held at once
 * (each up to CB_MAX_BODY_SYNC, and its parse); a request past it waits up to
 * CB_LARGE_BODY_WAIT_S for a slot, then is answered 503 busy. */
#define CB_LARGE_BODIES      3
#define CB_LARGE_BODY_WAIT_S 10

struct cb_route {
    const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *pattern; /* "/api/participants/{id}" */
    cb_handler handler;
    unsigned flags;
    const void *ctx; /* handler-specific (e.g. the record kind); CB_ROUTE_GATED: below */
};

/* The ctx of a CB_ROUTE_GATED route: a check run before the body is read
 * (cheap: headers, the store), non-zero when it refused the request, whose
 * answer it sent.  For a route whose body may be large, so that no request
 * that cannot succeed makes the server read and parse it. */
struct cb_route_gate {
    int (*gate)(struct cb_req *r);
};

/*
 * Reply with status and the JSON value body (reference stolen).  A NULL
 * body (a json_pack that failed) with a 2xx status becomes a 500 internal
 * error without the extra headers, never a success with an empty body; with
 * any other status it sends an empty object.  extra_headers: NULL or
 * "Name: value\r\n..." lines.
 */
int cb_reply_json(struct cb_req *r, int status, json_t *body, const char *extra_headers);
/*
 * Reply with status and body text out (len bytes, NUL-terminated, already
 * JSON: the caller built it, e.g. a sync page with stored JSON spliced in;
 * the caller keeps ownership).
 */
int cb_reply_json_text(struct cb_req *r, int status, const char *out, size_t len,
                       const char *extra_headers);
/* Reply with the error for code (a negative enum cb_err); fe may be NULL. */
int cb_reply_error(struct cb_req *r, int code, const struct cb_field_error *fe);
/* Reply with an explicit status, machine code, message and optional field. */
int cb_reply_problem(struct cb_req *r, int status, const char *code, const char *message,
                     const char *field, const char *extra_headers);
/*
 * Copy the decoded query parameter name into buf.  Returns 1 if present, 0
 * if absent (buf keeps what it held: a default), CB_ETOOLARGE if it does not
 * fit, CB_ENOMEM.
 */
int cb_req_query(const struct cb_req *r, const char *name, char *buf, size_t len);
/* Copy the session cookie's value into out; 1 if present, else 0. */
int cb_req_session_cookie(const struct cb_req *r, char *out, size_t len);
/* Request header value or NULL. */
const char *cb_req_header(const struct cb_req *r, const char *name);
/*
 * Run a record write: fn(c, arg) as a job of the app's group-commit writer
 * (writer.h), or on the request's own connection when there is none.  Either
 * way CB_OK means committed and durable; otherwise the caller discards what fn
 * produced and answers the error.  Blocks the worker until then.
 */
int cb_req_write(struct cb_req *r, int (*fn)(struct cb_conn *c, void *arg), void *arg);

#endif
