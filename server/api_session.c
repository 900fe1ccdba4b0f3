/* api_session.c - /healthz, /api/login, /api/logout, /api/me, /api/me/password. */
#include "coachbox/api.h"
#include "coachbox/audit.h"
#include "coachbox/json.h"
#include "coachbox/store.h"
#include "coachbox/throttle.h"
#include "coachbox/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* A well-formed hash that matches no password: verified when the user is
 * unknown so a login takes the same time either way. */
static const char dummy_hash[] = "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==$"
                                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

int cb_api_healthz(struct cb_req *r)
{
    return cb_reply_json(r, 200,
                         json_pack("{s:s, s:s, s:s, s:i}", "status", "ok", "version",
                                   COACHBOX_VERSION, "role", r->app->role, "schema_version",
                                   cb_store_schema_version()),
                         NULL);
}

static void cookie_header(const struct cb_req *r, const char *token, char *out, size_t len)
{
    if (token) {
        snprintf(out, len, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict%s\r\n",
                 r->tls ? "__Host-cb_session" : "cb_session", token, r->tls ? "; Secure" : "");
    } else {
        snprintf(out, len, "Set-Cookie: %s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s\r\n",
                 r->tls ? "__Host-cb_session" : "cb_session", r->tls ? "; Secure" : "");
    }
}

static void login_audit(struct cb_req *r, const char *actor, const char *outcome,
                        const char *detail)
{
    struct cb_audit_event e = {actor, "login", "users", actor, r->addr, outcome, detail, NULL};
    cb_audit(r->db, &e);
}

int cb_api_login(struct cb_req *r)
{
    static const char *const keys[] = {"username", "password", NULL};
    struct cb_field_error fe = {"", ""};
    int rc = cb_json_only_keys(r->body, keys, &fe);
    if (rc) {
        return cb_reply_error(r, rc, &fe);
    }
    const char *username = cb_json_str(r->body, "username");
    const char *password = cb_json_str(r->body, "password");
    if (!username || !username[0] || strlen(username) > 64) {
        return cb_reply_problem(r, 400, "invalid", "username is required", "username", NULL);
    }
    if (!password || !password[0]) {
        return cb_reply_problem(r, 400, "invalid", "password is required", "password", NULL);
    }
    char ukey[96], akey[80];
    snprintf(ukey, sizeof(ukey), "user:");
    for (size_t i = 0; username[i] && i < 64; i++) {
        ukey[5 + i] = (char)tolower((unsigned char)username[i]);
        ukey[6 + i] = '\0';
    }
    snprintf(akey, sizeof(akey), "addr:%s", r->addr);
    int64_t now = cb_mono_ms();
    int wait = 0;
    /* Each attempt is admitted (counted in flight) before the password is checked,
     * and ended with its outcome after: concurrent guesses count as they start. */
    int user_in = cb_throttle_begin(r->app->throttle, ukey, now, &wait) == CB_OK;
    int addr_in = user_in && cb_throttle_begin(r->app->throttle_addr, akey, now, &wait) == CB_OK;
    if (!addr_in) {
        if (user_in) {
            cb_throttle_end(r->app->throttle, ukey, now, CB_THROTTLE_KEEP);
        }
        char hdr[48];
        snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", wait);
        login_audit(r, NULL, "throttled", NULL);
        return cb_reply_problem(r, 429, "throttled",
                                "too many failed sign-in attempts; try again later", NULL, hdr);
    }
    struct cb_user u;
    char hash[CB_HASH_STRLEN];
    int found = cb_user_find(r->db, username, &u, hash, sizeof(hash)) == CB_OK;
    int ok = 0;
    rc = cb_password_verify(password, found ? hash : dummy_hash, &ok);
    int64_t end = cb_mono_ms();
    if (rc || !found || !ok || u.disabled) {
        cb_throttle_end(r->app->throttle, ukey, end, CB_THROTTLE_FAILED);
        cb_throttle_end(r->app->throttle_addr, akey, end, CB_THROTTLE_FAILED);
        login_audit(r, found ? u.id : NULL, "failed",
                    found ? (u.disabled ? "account disabled" : "wrong password")
                          : "unknown username");
        return cb_reply_problem(r, 401, "unauthenticated", "wrong username or password", NULL,
                                NULL);
    }
    cb_throttle_end(r->app->throttle, ukey, end, CB_THROTTLE_CLEAR);
    cb_throttle_end(r->app->throttle_addr, akey, end, CB_THROTTLE_KEEP);
    /* Rotation: a session cookie the browser already had is ended. */
    char old[CB_TOKEN_STRLEN];
    if (cb_req_session_cookie(r, old, sizeof(old))) {
        cb_session_delete(r->db, old);
    }
    /* The account's wire form first: one that cannot be built is a 500 and no
     * session, never a cookie with an empty body. */
    json_t *user = cb_user_json(&u);
    if (!user) {
        return cb_reply_error(r, CB_EINTERNAL, NULL);
    }
    char token[CB_TOKEN_STRLEN], csrf[CB_TOKEN_STRLEN], cookie[200];
    rc = cb_session_create(r->db, u.id, token, csrf);
    if (rc) {
        json_decref(user);
        return cb_reply_error(r, rc, NULL);
    }
    json_t *body = json_pack("{s:o, s:s, s:I}", "user", user, "csrf_token", csrf, "idle_timeout_s",
                             (json_int_t)(r->app->sessions.idle_ms / 1000)); /* steals user */
    if (!body) {
        cb_session_delete(r->db, token);
        return cb_reply_error(r, CB_ENOMEM, NULL);
    }
    login_audit(r, u.id, "ok", NULL);
    cookie_header(r, token, cookie, sizeof(cookie));
    return cb_reply_json(r, 200, body, cookie);
}

int cb_api_logout(struct cb_req *r)
{
    char cookie[200];
    int rc = cb_session_delete(r->db, r->token);
    if (rc) {
        return cb_reply_error(r, rc, NULL);
    }
    struct cb_audit_event e = {r->user.id, "logout", "users", r->user.id,
                               r->addr,    "ok",     NULL,    NULL};
    cb_audit(r->db, &e);
    cookie_header(r, NULL, cookie, sizeof(cookie));
    return cb_reply_json(r, 200, json_pack("{s:b}", "ok", 1), cookie);
}

/* GET /api/me: the account and the session's CSRF token; 500 if they cannot be built. */
int cb_api_me(struct cb_req *r)
{
    json_t *user = cb_user_json(&r->user);
    if (!user) {
        return cb_reply_error(r, CB_EINTERNAL, NULL);
    }
    json_t *body = json_pack("{s:o, s:s, s:I}", "user", user, "csrf_token", r->csrf,
                             "idle_timeout_s", (json_int_t)(r->app->sessions.idle_ms / 1000));
    return body ? cb_reply_json(r, 200, body, NULL) : cb_reply_error(r, CB_ENOMEM, NULL);
}

/*
 * POST /api/me/password {"current_password", "new_password"} - the caller
 * changes their own password: the current one is checked (and counted by the
 * sign-in throttle like a sign-in: a borrowed session cannot guess it), every
 * other session of the account ends, this one stays.  409 accounts_on_central
 * on an enrolled field server (its accounts are central's copies).
 */
int cb_api_me_password(struct cb_req *r)
{
    static const char *const keys[] = {"current_password", "new_password", NULL};
    struct cb_field_error fe = {"", ""};
    int rc = cb_json_only_keys(r->body, keys, &fe);
    if (rc) {
        return cb_reply_error(r, rc, &fe);
    }
    const char *cur = cb_json_str(r->body, "current_password");
    const char *pw = cb_json_str(r->body, "new_password");
    if (!cur || !cur[0]) {
        return cb_reply_problem(r, 400, "invalid", "current_password is required",
                                "current_password", NULL);
    }
    if (!pw) {
        return cb_reply_problem(r, 400, "invalid", "new_password is required", "new_password",
                                NULL);
    }
    size_t plen = strlen(pw);
    if (plen < CB_PASSWORD_MIN || plen > CB_PASSWORD_MAX) {
        char msg[80];
        snprintf(msg, sizeof(msg), "new_password must be %d to %d characters", CB_PASSWORD_MIN,
                 CB_PASSWORD_MAX);
        return cb_reply_problem(r, 400, "invalid", msg, "new_password", NULL);
    }
    if (strcmp(cur, pw) == 0) {
        return cb_reply_problem(r, 400, "invalid",
                                "new_password must differ from the current password",
                                "new_password", NULL);
    }
    if (!cb_accounts_here(r->db)) {
        return cb_reply_problem(r, 409, "accounts_on_central",
                                "this venue's server is enrolled with central, which manages "
                                "accounts: change your password on central (it reaches this "
                                "server at its next sync)",
                                NULL, NULL);
    }
    char ukey[96];
    snprintf(ukey, sizeof(ukey), "user:");
    for (size_t i = 0; r->user.username[i] && i < 64; i++) {
        ukey[5 + i] = (char)tolower((unsigned char)r->user.username[i]);
        ukey[6 + i] = '\0';
    }
    int wait = 0;
    if (cb_throttle_begin(r->app->throttle, ukey, cb_mono_ms(), &wait) != CB_OK) {
        char hdr[48];
        snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", wait);
        return cb_reply_problem(r, 429, "throttled",
                                "too many wrong passwords for this account; try again later", NULL,
                                hdr);
    }
    struct cb_user u;
    char hash[CB_HASH_STRLEN];
    int ok = 0;
    rc = cb_user_find(r->db, r->user.username, &u, hash, sizeof(hash));
    if (rc == CB_OK) {
        rc = cb_password_verify(cur, hash, &ok);
    }
    if (rc || !ok) {
        cb_throttle_end(r->app->throttle, ukey, cb_mono_ms(),
                        rc ? CB_THROTTLE_KEEP : CB_THROTTLE_FAILED);
        if (rc) {
            return cb_reply_error(r, rc, NULL);
        }
        struct cb_audit_event e = {
            r->user.id, "user.password",          "users", r->user.id, r->addr,
            "failed",   "wrong current password", NULL};
        cb_audit(r->db, &e);
        return cb_reply_problem(r, 422, "invalid", "current_password is not your password",
                                "current_password", NULL);
    }
    cb_throttle_end(r->app->throttle, ukey, cb_mono_ms(), CB_THROTTLE_CLEAR);
    int ended = 0;
    rc = cb_user_set_password(r->db, r->user.id, pw, r->token, r->user.id, r->addr, &ended, &fe);
    if (rc) {
        return cb_reply_error(r, rc, &fe);
    }
    return cb_reply_json(r, 200, json_pack("{s:b, s:i}", "ok", 1, "sessions_ended", ended), NULL);
}

/*
 * DELETE /api/users/{id}/sessions - end every session of an account without
 * disabling it (a lost or stolen tablet).  Admins only; audited.
 */
int cb_api_user_sessions_end(struct cb_req *r)
{
    if (strcmp(r->user.role, "admin") != 0) {
        return cb_reply_problem(r, 403, "forbidden", "only admins can end a user's sessions", NULL,
                                NULL);
    }
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(r->db, "SELECT 1 FROM users WHERE id = ?1 AND deleted = 0", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, r->params[0], -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    cb_stmt_done(st);
    if (!found) {
        return CB_ENOTFOUND;
    }
    rc = cb_conn_begin(r->db);
    if (rc == CB_OK) {
        rc = cb_session_delete_user(r->db, r->params[0]);
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {
            r->user.id, "user.sessions_end", "users", r->params[0], r->addr, "ok", NULL, NULL};
        rc = cb_audit(r->db, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(r->db);
    } else {
        cb_conn_rollback(r->db);
    }
    return rc ? rc : cb_reply_json(r, 200, json_pack("{s:b}", "ok", 1), NULL);
}
