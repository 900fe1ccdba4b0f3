/* auth.c - accounts, PBKDF2 password hashes and sessions; see auth.h. */
#include "coachbox/auth.h"
#include "coachbox/audit.h"
#include "coachbox/capture.h"
#include "coachbox/rng.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"
#include "coachbox/validate.h"

#include <errno.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LEN 16
#define DK_LEN   32

int cb_role_valid(const char *role)
{
    return role && (strcmp(role, "coach") == 0 || strcmp(role, "lead") == 0 ||
                    strcmp(role, "manager") == 0 || strcmp(role, "admin") == 0);
}

int cb_user_is_clinical(const struct cb_user *u)
{
    return strcmp(u->role, "coach") == 0 || strcmp(u->role, "lead") == 0 ||
           strcmp(u->role, "manager") == 0;
}

int cb_user_sees_team(const struct cb_user *u, const char *team)
{
    if (strcmp(u->role, "manager") == 0) {
        return 1;
    }
    if (strcmp(u->role, "coach") == 0 || strcmp(u->role, "lead") == 0) {
        return team && u->team[0] && strcmp(u->team, team) == 0;
    }
    return 0;
}

json_t *cb_user_json(const struct cb_user *u)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s?}", "id", u->id, "username", u->username,
                     "display_name", u->display_name, "role", u->role, "team",
                     u->team[0] ? u->team : NULL);
}

int cb_secure_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    size_t n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(a[i] ^ b[i]);
    }
    return diff == 0;
}

/* PBKDF2-HMAC-SHA256 of password into dk. */
static int pbkdf2(const char *password, const unsigned char *salt, size_t salt_len,
                  unsigned iterations, unsigned char dk[DK_LEN])
{
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    int rc = mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rc == 0) {
        rc = mbedtls_pkcs5_pbkdf2_hmac(&ctx, (const unsigned char *)password, strlen(password),
                                       salt, salt_len, iterations, DK_LEN, dk);
    }
    mbedtls_md_free(&ctx);
    return rc ? CB_ECRYPTO : CB_OK;
}

int cb_password_hash(const char *password, char *out, size_t outlen)
{
    size_t len = strlen(password);
    if (len < CB_PASSWORD_MIN || len > CB_PASSWORD_MAX) {
        return CB_EINVAL;
    }
    unsigned char salt[SALT_LEN], dk[DK_LEN];
    unsigned char salt64[32], dk64[64];
    size_t n1, n2;
    int rc = cb_rng_bytes(salt, sizeof(salt));
    if (rc == CB_OK) {
        rc = pbkdf2(password, salt, sizeof(salt), CB_PBKDF2_ITERATIONS, dk);
    }
    if (rc) {
        return rc;
    }
    if (mbedtls_base64_encode(salt64, sizeof(salt64), &n1, salt, sizeof(salt)) ||
        mbedtls_base64_encode(dk64, sizeof(dk64), &n2, dk, sizeof(dk))) {
        return CB_ECRYPTO;
    }
    int w = snprintf(out, outlen, "pbkdf2-sha256$%d$%s$%s", CB_PBKDF2_ITERATIONS,
                     (const char *)salt64, (const char *)dk64);
    return (w < 0 || (size_t)w >= outlen) ? CB_ETOOLARGE : CB_OK;
}

int cb_password_verify(const char *password, const char *stored, int *ok)
{
    char copy[CB_HASH_STRLEN];
    unsigned char salt[64], want[64], got[DK_LEN];
    size_t salt_len, want_len;
    *ok = 0;
    if (strlen(password) > CB_PASSWORD_MAX) {
        return CB_OK;
    }
    if (snprintf(copy, sizeof(copy), "%s", stored) >= (int)sizeof(copy)) {
        return CB_EINVAL;
    }
    /* Split "pbkdf2-sha256$iter$salt$hash" without strtok. */
    char *parts[4];
    char *p = copy;
    for (int i = 0; i < 4; i++) {
        parts[i] = p;
        char *d = strchr(p, '$');
        if (i < 3) {
            if (!d) {
                return CB_EINVAL;
            }
            *d = '\0';
            p = d + 1;
        }
    }
    if (strcmp(parts[0], "pbkdf2-sha256") != 0) {
        return CB_EINVAL;
    }
    errno = 0;
    char *end;
    long iter = strtol(parts[1], &end, 10);
    if (errno || *end || iter < 1 || iter > 100000000) {
        return CB_EINVAL;
    }
    if (mbedtls_base64_decode(salt, sizeof(salt), &salt_len, (const unsigned char *)parts[2],
                              strlen(parts[2])) ||
        mbedtls_base64_decode(want, sizeof(want), &want_len, (const unsigned char *)parts[3],
                              strlen(parts[3])) ||
        want_len != DK_LEN) {
        return CB_EINVAL;
    }
    int rc = pbkdf2(password, salt, salt_len, (unsigned)iter, got);
    if (rc) {
        return rc;
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < DK_LEN; i++) {
        diff |= (unsigned char)(got[i] ^ want[i]);
    }
    *ok = diff == 0;
    return CB_OK;
}

static int username_valid(const char *u)
{
    size_t n = strlen(u);
    if (n < 3 || n > 64) {
        return 0;
    }
    for (const char *p = u; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            return 0;
        }
    }
    return 1;
}

static void user_from_row(sqlite3_stmt *st, struct cb_user *u)
{
    snprintf(u->id, sizeof(u->id), "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(u->username, sizeof(u->username), "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(u->display_name, sizeof(u->display_name), "%s",
             (const char *)sqlite3_column_text(st, 2));
    snprintf(u->role, sizeof(u->role), "%s", (const char *)sqlite3_column_text(st, 3));
    const unsigned char *team = sqlite3_column_text(st, 4);
    snprintf(u->team, sizeof(u->team), "%s", team ? (const char *)team : "");
    u->disabled = sqlite3_column_int(st, 5);
}

int cb_user_find(struct cb_conn *c, const char *username, struct cb_user *out, char *hash,
                 size_t hashlen)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT id, username, display_name, role, team, disabled, "
                             "password_hash FROM users WHERE lower(username) = lower(?1)",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, username, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        user_from_row(st, out);
        if (hash) {
            snprintf(hash, hashlen, "%s", (const char *)sqlite3_column_text(st, 6));
        }
        rc = CB_OK;
    } else {
        rc = s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/* A new password's length: CB_OK, or CB_EINVAL with fe naming "password". */
static int password_check(const char *password, struct cb_field_error *fe)
{
    size_t plen = password ? strlen(password) : 0;
    if (plen < CB_PASSWORD_MIN || plen > CB_PASSWORD_MAX) {
        return cb_field_fail(fe, "password", "must be %d to %d characters", CB_PASSWORD_MIN,
                             CB_PASSWORD_MAX);
    }
    return CB_OK;
}

int cb_user_create(struct cb_conn *c, const char *username, const char *display_name,
                   const char *role, const char *team, const char *password, struct cb_user *out,
                   struct cb_field_error *fe)
{
    char hash[CB_HASH_STRLEN], now[CB_TIME_STRLEN];
    struct cb_user u;
    memset(&u, 0, sizeof(u));
    if (!username || !username_valid(username)) {
        return cb_field_fail(fe, "username", "must be 3-64 letters, digits, '.', '_' or '-'");
    }
    if (!display_name) {
        display_name = username;
    }
    if (cb_text_valid(display_name, CB_NAME_CHARS, 1) || !display_name[0]) {
        return cb_field_fail(fe, "display_name", "must be 1-%d characters on one line",
                             CB_NAME_CHARS);
    }
    if (!cb_role_valid(role)) {
        return cb_field_fail(fe, "role", "must be coach, lead, manager or admin");
    }
    if ((strcmp(role, "coach") == 0 || strcmp(role, "lead") == 0) && (!team || !team[0])) {
        return cb_field_fail(fe, "team", "coaches and leads need a team");
    }
    int rc = password_check(password, fe);
    if (rc == CB_OK) {
        rc = cb_password_hash(password, hash, sizeof(hash));
    }
    if (rc) {
        return rc;
    }
    if ((rc = cb_uuid7(u.id)) != CB_OK) {
        return rc;
    }
    cb_time_format(cb_now_ms(), now);
    if ((rc = cb_conn_begin(c)) != CB_OK) {
        return rc;
    }
    sqlite3_stmt *st;
    if (team && team[0]) {
        rc = cb_conn_prepare(c, "SELECT 1 FROM teams WHERE id = ?1 AND deleted = 0", &st);
        if (rc == CB_OK) {
            sqlite3_bind_text(st, 1, team, -1, SQLITE_TRANSIENT);
            int s = sqlite3_step(st);
            cb_stmt_done(st);
            if (s != SQLITE_ROW) {
                rc = s == SQLITE_DONE ? cb_field_fail(fe, "team", "no such team: %s", team)
                                      : cb_store_rc(s);
            }
        }
    }
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c,
                             "INSERT INTO users(id, username, display_name, role, team, "
                             "password_hash, created_at, updated_at) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                             &st);
    }
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, u.id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, username, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, display_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, role, -1, SQLITE_TRANSIENT);
        if (team && team[0]) {
            sqlite3_bind_text(st, 5, team, -1, SQLITE_TRANSIENT);
        }
        sqlite3_bind_text(st, 6, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
        if (rc == CB_ECONFLICT) {
            cb_field_fail(fe, "username", "is already taken");
        }
    }
    if (rc == CB_OK) {
        json_t *f = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:b, s:s, s:n, s:i}", "username",
                              username, "display_name", display_name, "role", role, "team",
                              team && team[0] ? team : NULL, "password_hash", hash, "disabled", 0,
                              "created_at", now, "created_by", "deleted", 0);
        rc = f ? cb_capture(c, "users", u.id, f) : CB_ENOMEM;
        json_decref(f);
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {NULL, "user.create", "users", u.id, NULL, "ok", role, NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    if (rc == CB_OK && out) {
        snprintf(u.username, sizeof(u.username), "%s", username);
        snprintf(u.display_name, sizeof(u.display_name), "%s", display_name);
        snprintf(u.role, sizeof(u.role), "%s", role);
        snprintf(u.team, sizeof(u.team), "%s", team ? team : "");
        *out = u;
    }
    return rc;
}

int cb_user_set_disabled(struct cb_conn *c, const char *username, int disabled)
{
    struct cb_user u;
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    rc = cb_user_find(c, username, &u, NULL, 0);
    sqlite3_stmt *st;
    if (rc == CB_OK) {
        rc = cb_conn_prepare(c,
                             "UPDATE users SET disabled = ?1, "
                             "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?2",
                             &st);
    }
    if (rc == CB_OK) {
        sqlite3_bind_int(st, 1, disabled ? 1 : 0);
        sqlite3_bind_text(st, 2, u.id, -1, SQLITE_STATIC);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        json_t *f = json_pack("{s:b}", "disabled", disabled ? 1 : 0);
        rc = f ? cb_capture(c, "users", u.id, f) : CB_ENOMEM;
        json_decref(f);
    }
    if (rc == CB_OK && disabled) {
        rc = cb_session_delete_user(c, u.id);
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {
            NULL, disabled ? "user.disable" : "user.enable", "users", u.id, NULL, "ok", NULL, NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    return rc;
}

/* Hex SHA-256 of token: what the sessions table stores. */
static void token_hash(const char *token, char out[CB_TOKEN_STRLEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[32];
    mbedtls_sha256_ret((const unsigned char *)token, strlen(token), d, 0);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}

/*
 * 1 if accounts are mastered on c's store: central, or a field server not
 * enrolled with central (an enrolled site's accounts are central's copies,
 * replaced at every sync: sync/capture.c logs no change of them there).  0
 * also when the setting cannot be read (refuse rather than diverge).
 */
int cb_accounts_here(struct cb_conn *c)
{
    if (strcmp(cb_store_role(cb_conn_store(c)), "central") == 0) {
        return 1;
    }
    char id[64];
    int rc = cb_setting_get(c, "site_id", id, sizeof(id));
    return rc == CB_ENOTFOUND || (rc == CB_OK && id[0] == '\0');
}

/*
 * Set user_id's password (the caller checked who may); keep_token: the one
 * session to keep (the caller's own, changing their own password), or NULL to
 * end them all.  Its own transaction on c: the new hash (logged for sync when c
 * is central's: it reaches every site, which ends the account's sessions there
 * too, site.c), every other session of the account deleted, an audit event
 * (actor: who did it, NULL for the command line).  CB_EINVAL (fe: password) for
 * a length outside the limits; CB_ENOTFOUND for no such account; *ended: how
 * many sessions were ended (may be NULL).
 */
int cb_user_set_password(struct cb_conn *c, const char *user_id, const char *password,
                         const char *keep_token, const char *actor, const char *addr, int *ended,
                         struct cb_field_error *fe)
{
    char hash[CB_HASH_STRLEN], keep[CB_TOKEN_STRLEN] = "";
    int rc = password_check(password, fe);
    if (rc == CB_OK) {
        rc = cb_password_hash(password, hash, sizeof(hash));
    }
    if (rc) {
        return rc;
    }
    if (keep_token && strlen(keep_token) == 64) {
        token_hash(keep_token, keep);
    }
    if ((rc = cb_conn_begin(c)) != CB_OK) {
        return rc;
    }
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c,
                         "UPDATE users SET password_hash = ?1, "
                         "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?2",
                         &st);
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
        if (rc == CB_OK && sqlite3_changes(cb_conn_db(c)) == 0) {
            rc = CB_ENOTFOUND;
        }
    }
    if (rc == CB_OK) {
        json_t *f = json_pack("{s:s}", "password_hash", hash);
        rc = f ? cb_capture(c, "users", user_id, f) : CB_ENOMEM;
        json_decref(f);
    }
    if (rc == CB_OK) {
        rc =
            cb_conn_prepare(c, "DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2", &st);
    }
    if (rc == CB_OK) {
        sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, keep, -1, SQLITE_STATIC);
        rc = cb_store_rc(sqlite3_step(st));
        if (rc == CB_OK && ended) {
            *ended = sqlite3_changes(cb_conn_db(c));
        }
        cb_stmt_done(st);
    }
    if (rc == CB_OK) {
        struct cb_audit_event e = {actor,
                                   "user.password",
                                   "users",
                                   user_id,
                                   addr,
                                   "ok",
                                   actor && strcmp(actor, user_id) == 0 ? "changed by the user"
                                                                        : "set by an administrator",
                                   NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    mbedtls_platform_zeroize(hash, sizeof(hash));
    return rc;
}

int cb_session_create(struct cb_conn *c, const char *user_id, char token[CB_TOKEN_STRLEN],
                      char csrf[CB_TOKEN_STRLEN])
{
    char th[CB_TOKEN_STRLEN];
    int rc = cb_rng_hex(token, 32);
    if (rc == CB_OK) {
        rc = cb_rng_hex(csrf, 32);
    }
    if (rc) {
        return rc;
    }
    token_hash(token, th);
    int64_t now = cb_now_ms();
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c,
                         "INSERT INTO sessions(token_hash, user_id, csrf_token, created_ms, "
                         "last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                         &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, th, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, csrf, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now);
    rc = cb_store_rc(sqlite3_step(st));
    cb_stmt_done(st);
    return rc;
}

/* Delete the session row with this token hash. */
static int delete_hash(struct cb_conn *c, const char *th)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "DELETE FROM sessions WHERE token_hash = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, th, -1, SQLITE_TRANSIENT);
    rc = cb_store_rc(sqlite3_step(st));
    cb_stmt_done(st);
    return rc;
}

struct seen_job {
    const char *token_hash;
    int64_t now;
};

/* Set a session's last-seen time (arg: struct seen_job) on c: one statement. */
static int touch_session(struct cb_conn *c, void *arg)
{
    const struct seen_job *j = arg;
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "UPDATE sessions SET last_seen_ms = ?1 WHERE token_hash = ?2", &st);
    if (rc == CB_OK) {
        sqlite3_bind_int64(st, 1, j->now);
        sqlite3_bind_text(st, 2, j->token_hash, -1, SQLITE_STATIC);
        rc = cb_store_rc(sqlite3_step(st));
        cb_stmt_done(st);
    }
    return rc;
}

int cb_session_lookup(struct cb_conn *c, const char *token, const struct cb_session_policy *p,
                      int touch, struct cb_user *user, char csrf[CB_TOKEN_STRLEN])
{
    char th[CB_TOKEN_STRLEN];
    if (!token || strlen(token) != 64) {
        return CB_EUNAUTH;
    }
    token_hash(token, th);
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT u.id, u.username, u.display_name, u.role, u.team, "
                             "u.disabled, s.csrf_token, s.created_ms, s.last_seen_ms "
                             "FROM sessions s JOIN users u ON u.id = s.user_id "
                             "WHERE s.token_hash = ?1",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, th, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        cb_stmt_done(st);
        return s == SQLITE_DONE ? CB_EUNAUTH : cb_store_rc(s);
    }
    user_from_row(st, user);
    snprintf(csrf, CB_TOKEN_STRLEN, "%s", (const char *)sqlite3_column_text(st, 6));
    int64_t created = sqlite3_column_int64(st, 7);
    int64_t seen = sqlite3_column_int64(st, 8);
    cb_stmt_done(st);
    int64_t now = cb_now_ms();
    if (user->disabled || now - seen > p->idle_ms || now - created > p->absolute_ms) {
        delete_hash(c, th);
        return CB_EUNAUTH;
    }
    if (touch && now - seen > 60 * 1000) {
        struct seen_job j = {th, now};
        rc = cb_conn_write(c, touch_session, &j);
        if (rc == CB_EBUSY) {
            rc = CB_OK; /* refreshing last-seen is best effort */
        }
    }
    return rc;
}

int cb_session_delete(struct cb_conn *c, const char *token)
{
    char th[CB_TOKEN_STRLEN];
    if (!token || strlen(token) != 64) {
        return CB_OK;
    }
    token_hash(token, th);
    return delete_hash(c, th);
}

int cb_session_delete_user(struct cb_conn *c, const char *user_id)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "DELETE FROM sessions WHERE user_id = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    rc = cb_store_rc(sqlite3_step(st));
    cb_stmt_done(st);
    return rc;
}
