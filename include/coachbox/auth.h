/*
 * auth.h - accounts, password hashing and sessions (design.md section 6).
 *
 * Passwords: PBKDF2-HMAC-SHA256 (mbedTLS) with a 16-byte random salt and
 * CB_PBKDF2_ITERATIONS iterations, stored as
 * "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>" so the cost can be
 * raised later without invalidating old hashes.  Passwords are capped at
 * CB_PASSWORD_MAX bytes so a login cannot be made arbitrarily expensive.
 *
 * Sessions: a 256-bit random token (CTR_DRBG) goes to the browser; only its
 * SHA-256 is stored.  Each session has its own CSRF token.  Sessions end on
 * logout, on idle or absolute timeout, and when the account is disabled.
 *
 * All functions use the caller's connection; the ones that write open and
 * commit their own transaction unless stated otherwise.
 */
#ifndef COACHBOX_AUTH_H
#define COACHBOX_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "coachbox/err.h"
#include "coachbox/validate.h"

struct cb_conn;

#define CB_PBKDF2_ITERATIONS 600000
#define CB_PASSWORD_MIN      10
#define CB_PASSWORD_MAX      256
#define CB_HASH_STRLEN       160
#define CB_TOKEN_STRLEN      65 /* 64 hex characters + NUL */

struct cb_user {
    char id[37];
    char username[65];
    char display_name[CB_UTF8_STRLEN(CB_NAME_CHARS)]; /* 1-100 characters */
    char role[16];                                    /* coach | lead | manager | admin */
    char team[65];                                    /* "" when none (managers, admins) */
    int disabled;
};

/* 1 if role is one of coach, lead, manager, admin. */
int cb_role_valid(const char *role);
/* 1 if user may see records of team: managers see all; coaches and leads their own. */
int cb_user_sees_team(const struct cb_user *u, const char *team);
/* 1 if the role may read and write the coaching record at all (not admins). */
int cb_user_is_clinical(const struct cb_user *u);
/* The wire form {"id","username","display_name","role","team"} (new reference). */
json_t *cb_user_json(const struct cb_user *u);

/* Hash password into out; CB_EINVAL if its length is outside the limits. */
int cb_password_hash(const char *password, char *out, size_t outlen);
/* Set *ok to 1 if password matches stored (constant-time compare). */
int cb_password_verify(const char *password, const char *stored, int *ok);

/*
 * Create an account.  CB_EINVAL (fe names the field) for a bad username
 * (3-64 of [A-Za-z0-9._-]), role, team or password; CB_ECONFLICT if the
 * username is taken.  Writes an audit event.
 */
int cb_user_create(struct cb_conn *c, const char *username, const char *display_name,
                   const char *role, const char *team, const char *password, struct cb_user *out,
                   struct cb_field_error *fe);
/* Look up by username (case-insensitive); hash may be NULL. CB_ENOTFOUND. */
int cb_user_find(struct cb_conn *c, const char *username, struct cb_user *out, char *hash,
                 size_t hashlen);
/* Disable (1) or enable (0) an account; disabling ends all its sessions. */
int cb_user_set_disabled(struct cb_conn *c, const char *username, int disabled);

/*
 * Set an account's password: its own transaction; every session of the account
 * but keep_token's (NULL: all) ends; audited (actor NULL: the command line).
 * CB_EINVAL (fe names "password") for a bad length, CB_ENOTFOUND.  Accounts are
 * mastered where they are created: central, or a field server not enrolled
 * (the caller checks: cb_accounts_here).
 */
int cb_user_set_password(struct cb_conn *c, const char *user_id, const char *password,
                         const char *keep_token, const char *actor, const char *addr, int *ended,
                         struct cb_field_error *fe);
/* 1 if accounts are mastered on c's store (central, or a field server not enrolled). */
int cb_accounts_here(struct cb_conn *c);
/* Session timeouts. */
struct cb_session_policy {
    int64_t idle_ms;     /* default 30 minutes */
    int64_t absolute_ms; /* default 12 hours */
};

/* Start a session for user_id; token and csrf receive new random values. */
int cb_session_create(struct cb_conn *c, const char *user_id, char token[CB_TOKEN_STRLEN],
                      char csrf[CB_TOKEN_STRLEN]);
/*
 * Resolve token to its user and CSRF token.  CB_EUNAUTH if unknown, expired
 * (the row is deleted) or the account is disabled.  touch: the request is the
 * user's own doing, so it refreshes last-seen (at most once a minute); 0 for a
 * page's automatic refresh (X-CB-Background), which must not keep an
 * unattended tablet's session alive past the idle timeout.
 */
int cb_session_lookup(struct cb_conn *c, const char *token, const struct cb_session_policy *p,
                      int touch, struct cb_user *user, char csrf[CB_TOKEN_STRLEN]);
/* End the session with this token (no error if none). */
int cb_session_delete(struct cb_conn *c, const char *token);
/* End every session of user_id. */
int cb_session_delete_user(struct cb_conn *c, const char *user_id);

/* Constant-time comparison of two NUL-terminated strings; 1 if equal. */
int cb_secure_streq(const char *a, const char *b);

#endif
