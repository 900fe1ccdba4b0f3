/*
 * it_cli.c - the administrative command line: `coachbox user add|disable|
 * enable`, `coachbox team add`, `coachbox version`, and usage errors.
 * Usage and validation errors exit 2 with a message naming the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coachbox/store.h"
#include "harness.h"

#define PW "cli-password-123"

static char data[512];

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        if (strncasecmp(p, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Run args with stdin; check the exit status and that out mentions each of want[]. */
static void expect_run(const char *const *args, const char *stdin_text, int want_status,
                       const char *const *want, char *out, size_t outlen)
{
    int st = cbt_run(args, stdin_text, out, outlen);
    if (st != want_status) {
        fail_msg("coachbox %s %s: exit %d, want %d: %s", args[0] ? args[0] : "",
                 args[0] && args[1] ? args[1] : "", st, want_status, out);
    }
    for (int i = 0; want && want[i]; i++) {
        if (!contains_ci(out, want[i])) {
            fail_msg("coachbox %s %s: output lacks \"%s\": %s", args[0] ? args[0] : "",
                     args[0] && args[1] ? args[1] : "", want[i], out);
        }
    }
}

static int setup(void **state)
{
    (void)state;
    cbt_tempdir(data, sizeof(data), "itcli");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cbt_rmtree(data);
    return 0;
}

static void test_user_add(void **state)
{
    (void)state;
    char out[4096];
    const char *ok[] = {"user",           "add",       "--data", data,     "--username",
                        "cli.coach",      "--role",    "coach",  "--team", "prestwich",
                        "--display-name", "Cli Coach", NULL};
    const char *want_ok[] = {"cli.coach", "coach", NULL};
    expect_run(ok, PW "\n", 0, want_ok, out, sizeof(out));
    assert_null(strstr(out, PW)); /* the password is never echoed */

    const char *mgr[] = {"user",        "add",    "--data",  data, "--username",
                         "cli.manager", "--role", "manager", NULL};
    expect_run(mgr, PW "\n", 0, NULL, out, sizeof(out));
    /* Without a trailing newline (piped from a file) it still works. */
    const char *adm[] = {"user",      "add",    "--data", data, "--username",
                         "cli.admin", "--role", "admin",  NULL};
    expect_run(adm, PW, 0, NULL, out, sizeof(out));
}

static void test_user_add_errors(void **state)
{
    (void)state;
    char out[4096];
    const char *role[] = {"user",   "add",    "--data", data,        "--username", "bad.role",
                          "--role", "wizard", "--team", "prestwich", NULL};
    const char *w_role[] = {"role", NULL};
    expect_run(role, PW "\n", 2, w_role, out, sizeof(out));

    const char *team[] = {"user",   "add",   "--data", data,       "--username", "bad.team",
                          "--role", "coach", "--team", "atlantis", NULL};
    const char *w_team[] = {"team", "atlantis", NULL};
    expect_run(team, PW "\n", 2, w_team, out, sizeof(out));

    const char *noteam[] = {"user",    "add",    "--data", data, "--username",
                            "no.team", "--role", "coach",  NULL};
    const char *w_noteam[] = {"team", NULL};
    expect_run(noteam, PW "\n", 2, w_noteam, out, sizeof(out));

    const char *shortpw[] = {"user",   "add",   "--data", data,        "--username", "short.pw",
                             "--role", "coach", "--team", "prestwich", NULL};
    const char *w_pw[] = {"password", NULL};
    expect_run(shortpw, "short\n", 2, w_pw, out, sizeof(out));
    assert_null(strstr(out, "short\n"));
    expect_run(shortpw, "", 2, w_pw, out, sizeof(out)); /* nothing on stdin */

    char longpw[400];
    memset(longpw, 'p', 300);
    longpw[300] = '\n';
    longpw[301] = '\0';
    expect_run(shortpw, longpw, 2, w_pw, out, sizeof(out));

    const char *baduser[] = {"user",   "add",   "--data", data,        "--username", "has space",
                             "--role", "coach", "--team", "prestwich", NULL};
    const char *w_user[] = {"username", NULL};
    expect_run(baduser, PW "\n", 2, w_user, out, sizeof(out));

    const char *dup[] = {"user",   "add",   "--data", data,        "--username", "dup.user",
                         "--role", "coach", "--team", "prestwich", NULL};
    expect_run(dup, PW "\n", 0, NULL, out, sizeof(out));
    expect_run(dup, PW "\n", 2, w_user, out, sizeof(out));
    /* Usernames are case-insensitive. */
    const char *dupcase[] = {"user",   "add",   "--data", data,        "--username", "DUP.User",
                             "--role", "coach", "--team", "prestwich", NULL};
    expect_run(dupcase, PW "\n", 2, w_user, out, sizeof(out));

    const char *norole[] = {"user", "add", "--data", data, "--username", "no.role", NULL};
    const char *w_norole[] = {"--role", NULL};
    expect_run(norole, PW "\n", 2, w_norole, out, sizeof(out));
    const char *unknown[] = {"user",   "add",   "--data", data,        "--username",  "x.y",
                             "--role", "coach", "--team", "prestwich", "--superuser", NULL};
    const char *w_unknown[] = {"--superuser", NULL};
    expect_run(unknown, PW "\n", 2, w_unknown, out, sizeof(out));
    const char *novalue[] = {"user", "add", "--data", data, "--username", NULL};
    expect_run(novalue, PW "\n", 2, NULL, out, sizeof(out));
    const char *verb[] = {"user", "promote", "--data", data, NULL};
    expect_run(verb, NULL, 2, NULL, out, sizeof(out));
}

static void test_user_disable_enable(void **state)
{
    (void)state;
    char out[4096];
    const char *add[] = {"user",   "add",   "--data", data,        "--username", "toggle",
                         "--role", "coach", "--team", "radcliffe", NULL};
    expect_run(add, PW "\n", 0, NULL, out, sizeof(out));
    const char *dis[] = {"user", "disable", "--data", data, "--username", "toggle", NULL};
    expect_run(dis, NULL, 0, NULL, out, sizeof(out));
    const char *en[] = {"user", "enable", "--data", data, "--username", "TOGGLE", NULL};
    expect_run(en, NULL, 0, NULL, out, sizeof(out));
    const char *ghost[] = {"user", "disable", "--data", data, "--username", "ghost", NULL};
    const char *w_ghost[] = {"no such user", NULL};
    expect_run(ghost, NULL, 2, w_ghost, out, sizeof(out));
}

static void test_team_add(void **state)
{
    (void)state;
    char out[4096];
    const char *ok[] = {
        "team", "add", "--data", data, "--id", "tottington-north", "--name", "Tottington North",
        NULL};
    const char *w_ok[] = {"tottington-north", NULL};
    expect_run(ok, NULL, 0, w_ok, out, sizeof(out));
    /* The new team is usable. */
    const char *user[] = {"user",        "add",    "--data", data,     "--username",
                          "north.coach", "--role", "coach",  "--team", "tottington-north",
                          NULL};
    expect_run(user, PW "\n", 0, NULL, out, sizeof(out));

    const char *w_dup[] = {"id", "exists", NULL};
    expect_run(ok, NULL, 2, w_dup, out, sizeof(out));
    const char *seeded[] = {"team",      "add",    "--data",          data, "--id",
                            "prestwich", "--name", "Prestwich again", NULL};
    expect_run(seeded, NULL, 2, w_dup, out, sizeof(out));

    static const char *const bad_ids[] = {"Bad Id!", "UPPER", "x", "under_score", "", NULL};
    const char *w_id[] = {"id", NULL};
    for (int i = 0; bad_ids[i]; i++) {
        const char *bad[] = {"team",     "add",    "--data",   data, "--id",
                             bad_ids[i], "--name", "Whatever", NULL};
        expect_run(bad, NULL, 2, w_id, out, sizeof(out));
    }
    const char *noname[] = {"team", "add", "--data", data, "--id", "nameless", NULL};
    expect_run(noname, NULL, 2, NULL, out, sizeof(out));
    const char *emptyname[] = {"team",     "add",    "--data", data, "--id",
                               "nameless", "--name", "",       NULL};
    const char *w_name[] = {"name", NULL};
    expect_run(emptyname, NULL, 2, w_name, out, sizeof(out));
    const char *verb[] = {"team", "remove", "--data", data, "--id", "prestwich", NULL};
    expect_run(verb, NULL, 2, NULL, out, sizeof(out));
}

/* `coachbox settings`: shows the settings, changes the review interval,
 * refuses a bad value naming the flag (exit 2, nothing changed). */
static void test_settings(void **state)
{
    (void)state;
    char out[4096];
    const char *show[] = {"settings", "--data", data, NULL};
    const char *w12[] = {"\"review_weeks\":12", NULL};
    expect_run(show, NULL, 0, w12, out, sizeof(out));
    const char *set[] = {"settings", "--data", data, "--review-weeks", "16", NULL};
    const char *w16[] = {"\"review_weeks\":16", NULL};
    expect_run(set, NULL, 0, w16, out, sizeof(out));
    static const char *const bad[] = {"0", "105", "ten", "-3", "16x", "", NULL};
    const char *w_flag[] = {"--review-weeks", "1 to 104", NULL};
    for (int i = 0; bad[i]; i++) {
        const char *args[] = {"settings", "--data", data, "--review-weeks", bad[i], NULL};
        expect_run(args, NULL, 2, w_flag, out, sizeof(out));
    }
    expect_run(show, NULL, 0, w16, out, sizeof(out));
    const char *unknown[] = {"settings", "--data", data, "--colour", "red", NULL};
    const char *w_unknown[] = {"--colour", NULL};
    expect_run(unknown, NULL, 2, w_unknown, out, sizeof(out));
    const char *nodata[] = {"settings", NULL};
    const char *w_data[] = {"--data", NULL};
    expect_run(nodata, NULL, 2, w_data, out, sizeof(out));
}

/* A command that only uses a store makes none where there is none (a mistyped
 * --data): a clear message, exit non-zero, no directory left behind. */
static void test_missing_data_dir(void **state)
{
    (void)state;
    char out[4096], typo[600];
    snprintf(typo, sizeof(typo), "%s-typo", data);
    const char *const cmds[][8] = {
        {"site", "list", "--data", typo, NULL},
        {"sync", "--data", typo, NULL},
        {"settings", "--data", typo, NULL},
        {"user", "disable", "--data", typo, "--username", "toggle", NULL},
        {"export", "quarterly", "--data", typo, "--quarter", "2026Q1", NULL},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int st = cbt_run(cmds[i], NULL, out, sizeof(out));
        if (st == 0 || !contains_ci(out, "no coachbox data") || access(typo, F_OK) == 0) {
            fail_msg("coachbox %s %s --data <missing>: exit %d, %s: %s", cmds[i][0], cmds[i][1], st,
                     access(typo, F_OK) == 0 ? "created it" : "not created", out);
        }
    }
}

/* A database others could read (copied in with a loose umask) is made 0600 when
 * opened, and a directory others can enter is warned about. */
static void test_loose_modes_tightened(void **state)
{
    (void)state;
    char out[4096], db[600];
    snprintf(db, sizeof(db), "%s/coachbox.db", data);
    assert_int_equal(chmod(db, 0644), 0);
    assert_int_equal(chmod(data, 0755), 0);
    const char *show[] = {"settings", "--data", data, NULL};
    const char *w[] = {"0600", "chmod 700", NULL};
    expect_run(show, NULL, 0, w, out, sizeof(out));
    struct stat st;
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(chmod(data, 0700), 0);
}

static void test_version_and_usage(void **state)
{
    (void)state;
    char out[4096], want[64];
    const char *ver[] = {"version", NULL};
    snprintf(want, sizeof(want), "schema %d", cb_store_schema_version());
    const char *w_ver[] = {"coachbox ", COACHBOX_VERSION, want, NULL};
    expect_run(ver, NULL, 0, w_ver, out, sizeof(out));

    const char *unknown[] = {"frobnicate", NULL};
    const char *w_unknown[] = {"frobnicate", "usage", NULL};
    expect_run(unknown, NULL, 2, w_unknown, out, sizeof(out));
    const char *none[] = {NULL};
    const char *w_usage[] = {"usage", NULL};
    expect_run(none, NULL, 2, w_usage, out, sizeof(out));
    const char *help[] = {"--help", NULL};
    expect_run(help, NULL, 0, w_usage, out, sizeof(out));
}

/* What `user add` stored is what a person signs in with. */
static void test_added_user_can_sign_in(void **state)
{
    (void)state;
    char out[4096];
    const char *add[] = {"user",   "add",   "--data", data,         "--username", "signin.coach",
                         "--role", "coach", "--team", "whitefield", NULL};
    expect_run(add, PW "\r\n", 0, NULL, out, sizeof(out));
    struct cbt_server s;
    struct cbt_client c;
    assert_int_equal(cbt_server_start(&s, data, NULL), 0);
    assert_int_equal(cbt_client_init(&c, s.url), 0);
    assert_int_equal(cbt_login(&c, "signin.coach", PW), 200);
    struct cbt_resp r;
    assert_int_equal(cbt_request(&c, "GET", "/api/me", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(cbt_jstr(&r, "user.team"), "whitefield");
    assert_string_equal(cbt_jstr(&r, "user.role"), "coach");
    cbt_resp_free(&r);
    /* The disabled-then-enabled account works again. */
    assert_int_equal(cbt_login(&c, "toggle", PW), 200);
    cbt_client_free(&c);
    assert_int_equal(cbt_server_stop(&s), 0);
    remove(s.log);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_add),
        cmocka_unit_test(test_user_add_errors),
        cmocka_unit_test(test_user_disable_enable),
        cmocka_unit_test(test_team_add),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_missing_data_dir),
        cmocka_unit_test(test_loose_modes_tightened),
        cmocka_unit_test(test_version_and_usage),
        cmocka_unit_test(test_added_user_can_sign_in),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return failed;
}
