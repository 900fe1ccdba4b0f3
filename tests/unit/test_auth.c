/* test_auth.c - passwords, accounts, sessions and visibility (auth.h).
 *
 * PBKDF2 at 600,000 iterations costs ~0.3 s per hash: this file computes
 * seven full-cost hashes and two full-cost verifications in total.  Session
 * tests insert users with SQL instead of hashing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coachbox/audit.h"
#include "coachbox/auth.h"
#include "coachbox/err.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include "unit_store.h"

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */
/* ------------------------------------------------------------------------ */

static const struct cb_session_policy default_policy = {30 * 60 * 1000LL, 12 * 3600 * 1000LL};

/* Insert a user directly (no hashing); id written to id_out. */
static void make_user(const char *username, const char *role, const char *team,
                      char id_out[CB_UUID_STRLEN])
{
    sqlite3_stmt *st;
    assert_int_equal(cb_uuid7(id_out), CB_OK);
    assert_int_equal(cb_conn_prepare(cbu.conn,
                                     "INSERT INTO users(id, username, display_name, role, team, "
                                     "password_hash, created_at, updated_at) VALUES (?1, ?2, ?2, "
                                     "?3, ?4, 'pbkdf2-sha256$1$AA==$AA==', 'x', 'x')",
                                     &st),
                     CB_OK);
    sqlite3_bind_text(st, 1, id_out, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, username, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, role, -1, SQLITE_TRANSIENT);
    if (team) {
        sqlite3_bind_text(st, 4, team, -1, SQLITE_TRANSIENT);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    cb_stmt_done(st);
}

static void set_session_times(const char *token, int64_t created_ms, int64_t last_seen_ms)
{
    char th[65];
    unsigned char d[32];
    mbedtls_sha256_ret((const unsigned char *)token, strlen(token), d, 0);
    for (int i = 0; i < 32; i++) {
        snprintf(th + 2 * i, 3, "%02x", d[i]);
    }
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(cbu.conn,
                                     "UPDATE sessions SET created_ms = ?1, last_seen_ms = ?2 "
                                     "WHERE token_hash = ?3",
                                     &st),
                     CB_OK);
    sqlite3_bind_int64(st, 1, created_ms);
    sqlite3_bind_int64(st, 2, last_seen_ms);
    sqlite3_bind_text(st, 3, th, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(cb_conn_db(cbu.conn)), 1);
    cb_stmt_done(st);
}

static int64_t session_last_seen(const char *user_id)
{
    return cbu_count("SELECT max(last_seen_ms) FROM sessions WHERE user_id = ?1", user_id);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int is_hex64(const char *s)
{
    if (strlen(s) != 64) {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Passwords                                                                 */
/* ------------------------------------------------------------------------ */

static void test_password_hash_format_and_verify(void **state)
{
    (void)state;
    char h1[CB_HASH_STRLEN], h2[CB_HASH_STRLEN];
    const char *pw = "abcdefghij"; /* exactly CB_PASSWORD_MIN */
    assert_int_equal(strlen(pw), CB_PASSWORD_MIN);
    assert_int_equal(cb_password_hash(pw, h1, sizeof(h1)), CB_OK); /* hash 1 */
    const char *prefix = "pbkdf2-sha256$600000$";
    assert_memory_equal(h1, prefix, strlen(prefix));

    /* "<salt b64>$<hash b64>": 16 and 32 bytes. */
    char copy[CB_HASH_STRLEN];
    snprintf(copy, sizeof(copy), "%s", h1 + strlen(prefix));
    char *dollar = strchr(copy, '$');
    assert_non_null(dollar);
    *dollar = '\0';
    assert_null(strchr(dollar + 1, '$'));
    unsigned char raw[64];
    size_t n = 0;
    assert_int_equal(
        mbedtls_base64_decode(raw, sizeof(raw), &n, (const unsigned char *)copy, strlen(copy)), 0);
    assert_int_equal(n, 16);
    assert_int_equal(mbedtls_base64_decode(raw, sizeof(raw), &n,
                                           (const unsigned char *)(dollar + 1), strlen(dollar + 1)),
                     0);
    assert_int_equal(n, 32);

    int ok = -1;
    assert_int_equal(cb_password_verify(pw, h1, &ok), CB_OK); /* verify 1 */
    assert_int_equal(ok, 1);
    ok = -1;
    assert_int_equal(cb_password_verify("abcdefghiJ", h1, &ok), CB_OK); /* verify 2 */
    assert_int_equal(ok, 0);

    /* A fresh salt each time. */
    assert_int_equal(cb_password_hash(pw, h2, sizeof(h2)), CB_OK); /* hash 2 */
    assert_string_not_equal(h1, h2);
    assert_memory_equal(h2, prefix, strlen(prefix));

    /* Too small an output buffer is an error, not an overflow. */
    char tiny[40];
    assert_int_not_equal(cb_password_hash(pw, tiny, sizeof(tiny)), CB_OK); /* hash 3 */
}

static void test_password_length_limits(void **state)
{
    (void)state;
    char h[CB_HASH_STRLEN], pw[CB_PASSWORD_MAX + 2];
    assert_int_equal(cb_password_hash("", h, sizeof(h)), CB_EINVAL);
    assert_int_equal(cb_password_hash("123456789", h, sizeof(h)), CB_EINVAL); /* 9 */
    memset(pw, 'p', CB_PASSWORD_MAX + 1);
    pw[CB_PASSWORD_MAX + 1] = '\0';
    assert_int_equal(cb_password_hash(pw, h, sizeof(h)), CB_EINVAL); /* 257 */
    /* Verifying an over-long password is a cheap "no". */
    int ok = -1;
    assert_int_equal(cb_password_verify(pw,
                                        "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==$"
                                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                                        &ok),
                     CB_OK);
    assert_int_equal(ok, 0);
    pw[CB_PASSWORD_MAX] = '\0';
    assert_int_equal(cb_password_hash(pw, h, sizeof(h)), CB_OK); /* 256: hash 4 */
}

static void test_password_verify_honours_stored_iterations(void **state)
{
    (void)state;
    /* PBKDF2-HMAC-SHA256("password", "salt", 2 iterations, 32 bytes) (RFC 7914 style vector). */
    const char *stored = "pbkdf2-sha256$2$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=";
    int ok = -1;
    assert_int_equal(cb_password_verify("password", stored, &ok), CB_OK);
    assert_int_equal(ok, 1);
    assert_int_equal(cb_password_verify("Password", stored, &ok), CB_OK);
    assert_int_equal(ok, 0);
    assert_int_equal(cb_password_verify("", stored, &ok), CB_OK);
    assert_int_equal(ok, 0);
    /* Same hash, claimed with a different iteration count: no match. */
    assert_int_equal(
        cb_password_verify(
            "password",
            "pbkdf2-sha256$3$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=", &ok),
        CB_OK);
    assert_int_equal(ok, 0);
}

static void test_password_verify_malformed_stored(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "plaintext",
        "bcrypt$2$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=",
        "pbkdf2-sha256$0$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=",
        "pbkdf2-sha256$-1$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=",
        "pbkdf2-sha256$two$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=",
        "pbkdf2-sha256$2x$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=",
        "pbkdf2-sha256$999999999999$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=",
        "pbkdf2-sha256$2$c2FsdA==",
        "pbkdf2-sha256$2$c2FsdA==$AAAA", /* 3-byte hash */
        "pbkdf2-sha256$2$!!!!$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=",
        "pbkdf2-sha256$2$c2FsdA==$rk0Mla9rRtMtCt/5KPBt0CowP47zwlHf1uLYWpVHTEM=$extra",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int ok = -1;
        int rc = cb_password_verify("password", bad[i], &ok);
        if (rc != CB_EINVAL) {
            fail_msg("stored \"%s\" gave %d, expected CB_EINVAL", bad[i], rc);
        }
        assert_int_equal(ok, 0);
    }
    /* Longer than any real hash. */
    char huge[400];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    memcpy(huge, "pbkdf2-sha256$2$", 16);
    int ok = -1;
    assert_int_equal(cb_password_verify("password", huge, &ok), CB_EINVAL);
    assert_int_equal(ok, 0);
}

static void test_secure_streq(void **state)
{
    (void)state;
    assert_true(cb_secure_streq("abc", "abc"));
    assert_true(cb_secure_streq("", ""));
    assert_false(cb_secure_streq("abc", "abd"));
    assert_false(cb_secure_streq("abc", "ab"));
    assert_false(cb_secure_streq("ab", "abc"));
    assert_false(cb_secure_streq("", "a"));
    assert_false(cb_secure_streq("Abc", "abc"));
}

/* ------------------------------------------------------------------------ */
/* Roles and visibility                                                      */
/* ------------------------------------------------------------------------ */

static struct cb_user user_of(const char *role, const char *team)
{
    struct cb_user u;
    memset(&u, 0, sizeof(u));
    snprintf(u.id, sizeof(u.id), "01890a5d-ac96-774b-bcce-b302099a8057");
    snprintf(u.username, sizeof(u.username), "u");
    snprintf(u.display_name, sizeof(u.display_name), "U");
    snprintf(u.role, sizeof(u.role), "%s", role);
    snprintf(u.team, sizeof(u.team), "%s", team);
    return u;
}

static void test_roles(void **state)
{
    (void)state;
    assert_true(cb_role_valid("coach"));
    assert_true(cb_role_valid("lead"));
    assert_true(cb_role_valid("manager"));
    assert_true(cb_role_valid("admin"));
    assert_false(cb_role_valid("Coach"));
    assert_false(cb_role_valid("nurse"));
    assert_false(cb_role_valid(""));
    assert_false(cb_role_valid(NULL));

    struct cb_user coach = user_of("coach", "prestwich"), lead = user_of("lead", "radcliffe"),
                   manager = user_of("manager", ""), admin = user_of("admin", ""),
                   teamless = user_of("coach", ""), other = user_of("nurse", "prestwich"),
                   admin_team = user_of("admin", "prestwich");
    assert_true(cb_user_is_clinical(&coach));
    assert_true(cb_user_is_clinical(&lead));
    assert_true(cb_user_is_clinical(&manager));
    assert_false(cb_user_is_clinical(&admin));
    assert_false(cb_user_is_clinical(&other));

    /* coaches and leads: their own team only */
    assert_true(cb_user_sees_team(&coach, "prestwich"));
    assert_false(cb_user_sees_team(&coach, "whitefield"));
    assert_false(cb_user_sees_team(&coach, "Prestwich"));
    assert_false(cb_user_sees_team(&coach, "prestwich2"));
    assert_false(cb_user_sees_team(&coach, ""));
    assert_false(cb_user_sees_team(&coach, NULL));
    assert_true(cb_user_sees_team(&lead, "radcliffe"));
    assert_false(cb_user_sees_team(&lead, "prestwich"));
    /* a coach without a team sees nothing, not even the empty team */
    assert_false(cb_user_sees_team(&teamless, ""));
    assert_false(cb_user_sees_team(&teamless, "prestwich"));
    /* managers see every team */
    assert_true(cb_user_sees_team(&manager, "prestwich"));
    assert_true(cb_user_sees_team(&manager, "ramsbottom-tottington"));
    assert_true(cb_user_sees_team(&manager, "a-team-added-later"));
    /* admins and unknown roles see none, whatever their team */
    assert_false(cb_user_sees_team(&admin, "prestwich"));
    assert_false(cb_user_sees_team(&admin_team, "prestwich"));
    assert_false(cb_user_sees_team(&other, "prestwich"));
}

static void test_user_json(void **state)
{
    (void)state;
    struct cb_user coach = user_of("coach", "prestwich"), manager = user_of("manager", "");
    json_t *j = cb_user_json(&coach);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 5);
    assert_string_equal(json_string_value(json_object_get(j, "id")), coach.id);
    assert_string_equal(json_string_value(json_object_get(j, "username")), "u");
    assert_string_equal(json_string_value(json_object_get(j, "display_name")), "U");
    assert_string_equal(json_string_value(json_object_get(j, "role")), "coach");
    assert_string_equal(json_string_value(json_object_get(j, "team")), "prestwich");
    json_decref(j);
    j = cb_user_json(&manager);
    assert_true(json_is_null(json_object_get(j, "team")));
    json_decref(j);
}

/* ------------------------------------------------------------------------ */
/* Accounts                                                                  */
/* ------------------------------------------------------------------------ */

static void expect_create_error(const char *username, const char *display, const char *role,
                                const char *team, const char *password, const char *field)
{
    struct cb_field_error fe;
    struct cb_user out;
    memset(&fe, 0, sizeof(fe));
    memset(&out, 0x5a, sizeof(out));
    int rc = cb_user_create(cbu.conn, username, display, role, team, password, &out, &fe);
    if (rc != CB_EINVAL || strcmp(fe.field, field) != 0) {
        fail_msg("user_create(%s, %s, %s) gave %d on '%s' (%s); expected an error on '%s'",
                 username ? username : "(null)", role ? role : "(null)", team ? team : "(null)", rc,
                 fe.field, fe.message, field);
    }
    assert_true(strlen(fe.message) > 0);
    assert_int_equal(out.id[0], 0x5a); /* out untouched */
}

static void test_user_create_validation(void **state)
{
    (void)state;
    const char *pw = "a good long password";
    long long before = cbu_count("SELECT count(*) FROM users", NULL);
    char long_name[80];
    memset(long_name, 'u', 65);
    long_name[65] = '\0';
    /* None of these reach the (expensive) password hash. */
    expect_create_error("ab", NULL, "coach", "prestwich", pw, "username");
    expect_create_error("has space", NULL, "coach", "prestwich", pw, "username");
    expect_create_error("sm\xc3\xadth", NULL, "coach", "prestwich", pw, "username");
    expect_create_error("a@b", NULL, "coach", "prestwich", pw, "username");
    expect_create_error(long_name, NULL, "coach", "prestwich", pw, "username");
    expect_create_error("", NULL, "coach", "prestwich", pw, "username");
    expect_create_error(NULL, NULL, "coach", "prestwich", pw, "username");
    expect_create_error("valid.name", "two\nlines", "coach", "prestwich", pw, "display_name");
    expect_create_error("valid.name", "", "coach", "prestwich", pw, "display_name");
    expect_create_error("valid.name", NULL, "nurse", "prestwich", pw, "role");
    expect_create_error("valid.name", NULL, "Coach", "prestwich", pw, "role");
    expect_create_error("valid.name", NULL, NULL, "prestwich", pw, "role");
    expect_create_error("valid.name", NULL, "coach", NULL, pw, "team");
    expect_create_error("valid.name", NULL, "coach", "", pw, "team");
    expect_create_error("valid.name", NULL, "lead", NULL, pw, "team");
    expect_create_error("valid.name", NULL, "coach", "prestwich", "short", "password");
    expect_create_error("valid.name", NULL, "coach", "prestwich", "123456789", "password");
    expect_create_error("valid.name", NULL, "coach", "prestwich", NULL, "password");
    char long_pw[CB_PASSWORD_MAX + 2];
    memset(long_pw, 'p', CB_PASSWORD_MAX + 1);
    long_pw[CB_PASSWORD_MAX + 1] = '\0';
    expect_create_error("valid.name", NULL, "coach", "prestwich", long_pw, "password");
    assert_int_equal(cbu_count("SELECT count(*) FROM users", NULL), before);
    assert_int_equal(sqlite3_get_autocommit(cb_conn_db(cbu.conn)), 1);
}

static void test_user_create_find_and_conflicts(void **state)
{
    (void)state;
    struct cb_field_error fe;
    struct cb_user u, found;
    char hash[CB_HASH_STRLEN];
    memset(&fe, 0, sizeof(fe));
    /* hash 5 */
    assert_int_equal(cb_user_create(cbu.conn, "Alice.Smith", NULL, "coach", "prestwich",
                                    "correct horse battery", &u, &fe),
                     CB_OK);
    assert_true(cb_uuid_valid(u.id));
    assert_string_equal(u.username, "Alice.Smith");
    assert_string_equal(u.display_name, "Alice.Smith"); /* defaults to the username */
    assert_string_equal(u.role, "coach");
    assert_string_equal(u.team, "prestwich");
    assert_int_equal(u.disabled, 0);

    /* Found case-insensitively, with its hash. */
    assert_int_equal(cb_user_find(cbu.conn, "alice.smith", &found, hash, sizeof(hash)), CB_OK);
    assert_string_equal(found.id, u.id);
    assert_string_equal(found.username, "Alice.Smith");
    assert_string_equal(found.team, "prestwich");
    assert_memory_equal(hash, "pbkdf2-sha256$600000$", 21);
    assert_null(strstr(hash, "correct horse"));
    assert_int_equal(cb_user_find(cbu.conn, "ALICE.SMITH", &found, NULL, 0), CB_OK);
    assert_int_equal(cb_user_find(cbu.conn, "alice", &found, NULL, 0), CB_ENOTFOUND);

    /* Audited. */
    assert_int_equal(cbu_count("SELECT count(*) FROM audit_events WHERE action = "
                               "'user.create' AND entity = 'users' AND entity_id = ?1",
                               u.id),
                     1);

    /* Duplicate, differing only in case: conflict on username (hash 6). */
    memset(&fe, 0, sizeof(fe));
    assert_int_equal(cb_user_create(cbu.conn, "alice.SMITH", "Other Alice", "manager", NULL,
                                    "another long password", NULL, &fe),
                     CB_ECONFLICT);
    assert_string_equal(fe.field, "username");
    assert_int_equal(
        cbu_count("SELECT count(*) FROM users WHERE lower(username) = ?1", "alice.smith"), 1);

    /* A coach in a team that does not exist (hash 7). */
    memset(&fe, 0, sizeof(fe));
    assert_int_equal(cb_user_create(cbu.conn, "bob", "Bob", "coach", "atlantis",
                                    "a good long password", NULL, &fe),
                     CB_EINVAL);
    assert_string_equal(fe.field, "team");
    assert_int_equal(cb_user_find(cbu.conn, "bob", &found, NULL, 0), CB_ENOTFOUND);
    assert_int_equal(sqlite3_get_autocommit(cb_conn_db(cbu.conn)), 1);
}

/*
 * Finding F21: a display name is limited in characters (100), so its buffer
 * holds 100 characters of UTF-8 (up to 400 bytes): "Z" and 99 three-byte
 * characters (298 bytes) come back whole from create and find, and make a
 * wire form; 101 characters are refused whatever their bytes.
 */
static void test_user_display_name_utf8(void **state)
{
    (void)state;
    char name[400] = "Z", over[sizeof(name) + 1];
    for (int i = 0; i < 99; i++) {
        memcpy(name + 1 + 3 * i, "\xe2\x82\xac", 4); /* the euro sign and the NUL */
    }
    assert_int_equal(strlen(name), 298);
    snprintf(over, sizeof(over), "%sZ", name); /* 101 characters */
    const char *pw = "a good long password";
    expect_create_error("over.long", over, "coach", "prestwich", pw, "display_name");

    struct cb_field_error fe;
    struct cb_user u, found;
    memset(&fe, 0, sizeof(fe));
    assert_int_equal(cb_user_create(cbu.conn, "euro.name", name, "coach", "prestwich", pw, &u, &fe),
                     CB_OK);
    assert_string_equal(u.display_name, name);
    assert_int_equal(cb_user_find(cbu.conn, "euro.name", &found, NULL, 0), CB_OK);
    assert_string_equal(found.display_name, name);
    json_t *j = cb_user_json(&found);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "display_name")), name);
    json_decref(j);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

static void test_session_create_lookup_delete(void **state)
{
    (void)state;
    char uid[CB_UUID_STRLEN], token[CB_TOKEN_STRLEN], csrf[CB_TOKEN_STRLEN],
        token2[CB_TOKEN_STRLEN], csrf2[CB_TOKEN_STRLEN], got_csrf[CB_TOKEN_STRLEN];
    make_user("sess.user", "lead", "whitefield", uid);
    assert_int_equal(cb_session_create(cbu.conn, uid, token, csrf), CB_OK);
    assert_true(is_hex64(token));
    assert_true(is_hex64(csrf));
    assert_string_not_equal(token, csrf);
    assert_int_equal(cb_session_create(cbu.conn, uid, token2, csrf2), CB_OK);
    assert_string_not_equal(token, token2);
    assert_string_not_equal(csrf, csrf2);

    /* Only the SHA-256 of the token is stored. */
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE token_hash = ?1", token), 0);
    char th[65];
    unsigned char d[32];
    mbedtls_sha256_ret((const unsigned char *)token, 64, d, 0);
    for (int i = 0; i < 32; i++) {
        snprintf(th + 2 * i, 3, "%02x", d[i]);
    }
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE token_hash = ?1", th), 1);

    struct cb_user u;
    memset(&u, 0, sizeof(u));
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, got_csrf), CB_OK);
    assert_string_equal(u.id, uid);
    assert_string_equal(u.username, "sess.user");
    assert_string_equal(u.role, "lead");
    assert_string_equal(u.team, "whitefield");
    assert_int_equal(u.disabled, 0);
    assert_string_equal(got_csrf, csrf);
    assert_int_equal(cb_session_lookup(cbu.conn, token2, &default_policy, 1, &u, got_csrf), CB_OK);
    assert_string_equal(got_csrf, csrf2);

    /* Unknown or malformed tokens. */
    char wrong[CB_TOKEN_STRLEN];
    memcpy(wrong, token, sizeof(wrong));
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    assert_int_equal(cb_session_lookup(cbu.conn, wrong, &default_policy, 1, &u, got_csrf),
                     CB_EUNAUTH);
    assert_int_equal(cb_session_lookup(cbu.conn, "", &default_policy, 1, &u, got_csrf), CB_EUNAUTH);
    assert_int_equal(cb_session_lookup(cbu.conn, NULL, &default_policy, 1, &u, got_csrf),
                     CB_EUNAUTH);
    char shortened[64];
    memcpy(shortened, token, 63);
    shortened[63] = '\0';
    assert_int_equal(cb_session_lookup(cbu.conn, shortened, &default_policy, 1, &u, got_csrf),
                     CB_EUNAUTH);
    /* The stored hash itself is not a token. */
    assert_int_equal(cb_session_lookup(cbu.conn, th, &default_policy, 1, &u, got_csrf), CB_EUNAUTH);

    /* Logout ends that session only. */
    assert_int_equal(cb_session_delete(cbu.conn, token), CB_OK);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, got_csrf),
                     CB_EUNAUTH);
    assert_int_equal(cb_session_lookup(cbu.conn, token2, &default_policy, 1, &u, got_csrf), CB_OK);
    assert_int_equal(cb_session_delete(cbu.conn, token), CB_OK); /* again: no error */
    assert_int_equal(cb_session_delete(cbu.conn, "short"), CB_OK);
    assert_int_equal(cb_session_delete(cbu.conn, NULL), CB_OK);
    assert_int_equal(cb_session_delete_user(cbu.conn, uid), CB_OK);
    assert_int_equal(cb_session_lookup(cbu.conn, token2, &default_policy, 1, &u, got_csrf),
                     CB_EUNAUTH);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1", uid), 0);
}

static void test_session_idle_timeout(void **state)
{
    (void)state;
    char uid[CB_UUID_STRLEN], token[CB_TOKEN_STRLEN], csrf[CB_TOKEN_STRLEN];
    struct cb_user u;
    make_user("idle.user", "coach", "radcliffe", uid);
    assert_int_equal(cb_session_create(cbu.conn, uid, token, csrf), CB_OK);
    int64_t now = cb_now_ms();
    /* 29 minutes idle: still fine. */
    set_session_times(token, now - 40 * 60 * 1000LL, now - 29 * 60 * 1000LL);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, csrf), CB_OK);
    /* 31 minutes idle: ended, and the row is gone. */
    set_session_times(token, now - 40 * 60 * 1000LL, now - 31 * 60 * 1000LL);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, csrf), CB_EUNAUTH);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1", uid), 0);

    /* The same with a tiny policy and the real clock. */
    const struct cb_session_policy tiny = {150, 60 * 1000};
    assert_int_equal(cb_session_create(cbu.conn, uid, token, csrf), CB_OK);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &tiny, 1, &u, csrf), CB_OK);
    sleep_ms(350);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &tiny, 1, &u, csrf), CB_EUNAUTH);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1", uid), 0);
}

/* A page's automatic refresh (touch 0) does not keep a session alive: last-seen
 * stays, so an unattended tablet's session still ends after the idle time. */
static void test_session_background_does_not_touch(void **state)
{
    (void)state;
    char uid[CB_UUID_STRLEN], token[CB_TOKEN_STRLEN], csrf[CB_TOKEN_STRLEN];
    struct cb_user u;
    make_user("bg.user", "coach", "radcliffe", uid);
    assert_int_equal(cb_session_create(cbu.conn, uid, token, csrf), CB_OK);
    int64_t now = cb_now_ms();
    int64_t seen = now - 20 * 60 * 1000LL;
    set_session_times(token, now - 40 * 60 * 1000LL, seen);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 0, &u, csrf), CB_OK);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1 AND "
                               "last_seen_ms < strftime('%s','now') * 1000 - 19 * 60 * 1000",
                               uid),
                     1);
    /* The user's own request refreshes it. */
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, csrf), CB_OK);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1 AND "
                               "last_seen_ms > strftime('%s','now') * 1000 - 60 * 1000",
                               uid),
                     1);
    /* Idle past the limit with only background requests: ended. */
    set_session_times(token, now - 40 * 60 * 1000LL, now - 31 * 60 * 1000LL);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 0, &u, csrf), CB_EUNAUTH);
}

static void test_session_absolute_timeout(void **state)
{
    (void)state;
    char uid[CB_UUID_STRLEN], token[CB_TOKEN_STRLEN], csrf[CB_TOKEN_STRLEN];
    struct cb_user u;
    make_user("abs.user", "coach", "bury-town", uid);
    assert_int_equal(cb_session_create(cbu.conn, uid, token, csrf), CB_OK);
    int64_t now = cb_now_ms();
    /* Active a second ago, but started 11h59m ago: fine. */
    set_session_times(token, now - (12 * 60 - 1) * 60 * 1000LL, now - 1000);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, csrf), CB_OK);
    /* Active a second ago, but started 12h01m ago: ended however busy. */
    set_session_times(token, now - (12 * 60 + 1) * 60 * 1000LL, now - 1000);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, csrf), CB_EUNAUTH);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1", uid), 0);

    /* Real clock: kept busy every 50 ms, it still ends after absolute_ms. */
    const struct cb_session_policy tiny = {60 * 1000, 250};
    assert_int_equal(cb_session_create(cbu.conn, uid, token, csrf), CB_OK);
    int rc = CB_OK;
    int64_t start = cb_now_ms();
    while (rc == CB_OK && cb_now_ms() - start < 2000) {
        rc = cb_session_lookup(cbu.conn, token, &tiny, 1, &u, csrf);
        sleep_ms(50);
    }
    assert_int_equal(rc, CB_EUNAUTH);
    assert_true(cb_now_ms() - start >= 250);
}

static void test_session_last_seen_refresh(void **state)
{
    (void)state;
    char uid[CB_UUID_STRLEN], token[CB_TOKEN_STRLEN], csrf[CB_TOKEN_STRLEN];
    struct cb_user u;
    make_user("seen.user", "coach", "prestwich", uid);
    assert_int_equal(cb_session_create(cbu.conn, uid, token, csrf), CB_OK);
    int64_t now = cb_now_ms();
    /* Seen 30 s ago: not refreshed (at most once a minute). */
    set_session_times(token, now - 3600000, now - 30000);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, csrf), CB_OK);
    assert_true(session_last_seen(uid) == now - 30000);
    /* Seen 2 minutes ago: refreshed to now. */
    set_session_times(token, now - 3600000, now - 120000);
    assert_int_equal(cb_session_lookup(cbu.conn, token, &default_policy, 1, &u, csrf), CB_OK);
    assert_true(session_last_seen(uid) >= now);
    assert_true(session_last_seen(uid) <= cb_now_ms());
    assert_int_equal(cb_session_delete_user(cbu.conn, uid), CB_OK);
}

static void test_disabled_user_sessions(void **state)
{
    (void)state;
    char bob[CB_UUID_STRLEN], carol[CB_UUID_STRLEN];
    char tb1[CB_TOKEN_STRLEN], tb2[CB_TOKEN_STRLEN], tc[CB_TOKEN_STRLEN], csrf[CB_TOKEN_STRLEN];
    struct cb_user u;
    make_user("Bob.Jones", "coach", "prestwich", bob);
    make_user("carol", "coach", "prestwich", carol);
    assert_int_equal(cb_session_create(cbu.conn, bob, tb1, csrf), CB_OK);
    assert_int_equal(cb_session_create(cbu.conn, bob, tb2, csrf), CB_OK);
    assert_int_equal(cb_session_create(cbu.conn, carol, tc, csrf), CB_OK);

    assert_int_equal(cb_user_set_disabled(cbu.conn, "bob.jones", 1), CB_OK);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1", bob), 0);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1", carol), 1);
    assert_int_equal(cb_session_lookup(cbu.conn, tb1, &default_policy, 1, &u, csrf), CB_EUNAUTH);
    assert_int_equal(cb_session_lookup(cbu.conn, tc, &default_policy, 1, &u, csrf), CB_OK);
    assert_int_equal(cb_user_find(cbu.conn, "Bob.Jones", &u, NULL, 0), CB_OK);
    assert_int_equal(u.disabled, 1);

    /* A session row for a disabled account (however it got there) is refused and removed. */
    assert_int_equal(cb_session_create(cbu.conn, bob, tb1, csrf), CB_OK);
    assert_int_equal(cb_session_lookup(cbu.conn, tb1, &default_policy, 1, &u, csrf), CB_EUNAUTH);
    assert_int_equal(cbu_count("SELECT count(*) FROM sessions WHERE user_id = ?1", bob), 0);

    /* Re-enabled: new sessions work again. */
    assert_int_equal(cb_user_set_disabled(cbu.conn, "BOB.JONES", 0), CB_OK);
    assert_int_equal(cb_session_create(cbu.conn, bob, tb1, csrf), CB_OK);
    assert_int_equal(cb_session_lookup(cbu.conn, tb1, &default_policy, 1, &u, csrf), CB_OK);
    assert_int_equal(u.disabled, 0);

    /* Audited both ways. */
    assert_int_equal(cbu_count("SELECT count(*) FROM audit_events WHERE action = "
                               "'user.disable' AND entity_id = ?1",
                               bob),
                     1);
    assert_int_equal(cbu_count("SELECT count(*) FROM audit_events WHERE action = "
                               "'user.enable' AND entity_id = ?1",
                               bob),
                     1);

    assert_int_equal(cb_user_set_disabled(cbu.conn, "nobody-here", 1), CB_ENOTFOUND);
    assert_int_equal(sqlite3_get_autocommit(cb_conn_db(cbu.conn)), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_format_and_verify),
        cmocka_unit_test(test_password_length_limits),
        cmocka_unit_test(test_password_verify_honours_stored_iterations),
        cmocka_unit_test(test_password_verify_malformed_stored),
        cmocka_unit_test(test_secure_streq),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_user_json),
        cmocka_unit_test(test_user_create_validation),
        cmocka_unit_test(test_user_create_find_and_conflicts),
        cmocka_unit_test(test_user_display_name_utf8),
        cmocka_unit_test(test_session_create_lookup_delete),
        cmocka_unit_test(test_session_idle_timeout),
        cmocka_unit_test(test_session_background_does_not_touch),
        cmocka_unit_test(test_session_absolute_timeout),
        cmocka_unit_test(test_session_last_seen_refresh),
        cmocka_unit_test(test_disabled_user_sessions),
    };
    return cmocka_run_group_tests(tests, cbu_store_setup, cbu_teardown);
}
