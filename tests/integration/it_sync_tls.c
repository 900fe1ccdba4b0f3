/*
 * it_sync_tls.c - sync over HTTPS (docs/SYNC.md, "Authentication"): a real
 * `coachbox central --cert` on 127.0.0.1 with a certificate issued by a test
 * CA made at run time with the openssl CLI, and two field data directories:
 *
 *   - enrollment is refused, with an error that says why, when the site trusts
 *     no CA that vouches for central (no --ca, or --ca naming another CA, or
 *     only a pin: a pin is checked on top of the chain, never instead of it),
 *     or when --pin names another key; nothing reaches central (the codes
 *     stay unused);
 *   - site A enrolls trusting the CA file (--ca), site B also pinning
 *     central's public key (--pin sha256//...); a record written at A is
 *     pushed to central and pulled by B, accounts made on central reach both;
 *   - the trust settings hold for every round, not only enrollment: with its
 *     CA file replaced by another CA's, or its pin by another key's, a site's
 *     `coachbox sync` fails with that reason and changes nothing; restored, it
 *     syncs again.
 *
 * Talks only to 127.0.0.1; stops every server it starts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define PW       "tls-Sync-Password-1"
#define CODE_MAX 32

static struct {
    char dir[512];      /* everything of this test lives under it */
    char central[600];  /* central's data directory */
    char site[2][600];  /* field data directories A, B */
    char ca[700];       /* the CA that issued central's certificate */
    char other_ca[700]; /* a CA that did not */
    char pin[128];      /* sha256//... of central's public key */
    char other_pin[128];
    char code[2][CODE_MAX];
    struct cbt_server srv; /* central; its URL is https://127.0.0.1:PORT */
} G;

/* Run argv (argv[0] looked up in PATH), output discarded; its exit status or -1. */
static int run_cmd(const char *const *argv)
{
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) {
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Concatenate files a and b into out (a certificate and its key: --cert's PEM). */
static int concat(const char *a, const char *b, const char *out)
{
    FILE *o = fopen(out, "w");
    if (!o) {
        return -1;
    }
    const char *parts[] = {a, b};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        FILE *in = fopen(parts[i], "r");
        if (!in) {
            rc = -1;
            break;
        }
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
            if (fwrite(buf, 1, n, o) != n) {
                rc = -1;
            }
        }
        fclose(in);
    }
    if (fclose(o) != 0) {
        rc = -1;
    }
    chmod(out, 0600);
    return rc;
}

/* A self-signed P-256 CA: DIR/NAME.key, DIR/NAME.pem. */
static int make_ca(const char *name, char *pem, size_t len)
{
    char key[700], subj[80];
    snprintf(key, sizeof(key), "%s/%s.key", G.dir, name);
    snprintf(pem, len, "%s/%s.pem", G.dir, name);
    snprintf(subj, sizeof(subj), "/CN=coachbox test %s", name);
    const char *argv[] = {"openssl",
                          "req",
                          "-x509",
                          "-newkey",
                          "ec",
                          "-pkeyopt",
                          "ec_paramgen_curve:prime256v1",
                          "-nodes",
                          "-keyout",
                          key,
                          "-out",
                          pem,
                          "-days",
                          "2",
                          "-subj",
                          subj,
                          "-addext",
                          "basicConstraints=critical,CA:TRUE",
                          "-addext",
                          "keyUsage=critical,keyCertSign,cRLSign",
                          NULL};
    return run_cmd(argv);
}

/* "sha256//BASE64" of the public key in key_file (curl's --pinnedpubkey form). */
static int make_pin(const char *key_file, const char *tag, char *out, size_t len)
{
    char der[700], hash[700], b64[700];
    snprintf(der, sizeof(der), "%s/%s.pub.der", G.dir, tag);
    snprintf(hash, sizeof(hash), "%s/%s.pub.sha256", G.dir, tag);
    snprintf(b64, sizeof(b64), "%s/%s.pin", G.dir, tag);
    const char *pub[] = {"openssl",  "pkey", "-in",  key_file, "-pubout",
                         "-outform", "DER",  "-out", der,      NULL};
    const char *dgst[] = {"openssl", "dgst", "-sha256", "-binary", "-out", hash, der, NULL};
    const char *enc[] = {"openssl", "base64", "-A", "-in", hash, "-out", b64, NULL};
    if (run_cmd(pub) || run_cmd(dgst) || run_cmd(enc)) {
        return -1;
    }
    FILE *f = fopen(b64, "r");
    char text[100] = "";
    if (!f) {
        return -1;
    }
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    text[strcspn(text, "\r\n")] = '\0';
    if (strlen(text) != 44) {
        return -1; /* base64 of 32 bytes */
    }
    snprintf(out, len, "sha256//%s", text);
    return 0;
}

/*
 * The test PKI: CA "ca" issues central's certificate for 127.0.0.1/localhost
 * (DIR/central.pem: certificate and key, for --cert); CA "other" issues
 * nothing.  Pins of central's key and of the other CA's key.
 */
static int make_pki(char *cert_pem, size_t len)
{
    char key[700], csr[700], crt[700], ext[700], serial[700], other_key[700];
    snprintf(key, sizeof(key), "%s/central.key", G.dir);
    snprintf(csr, sizeof(csr), "%s/central.csr", G.dir);
    snprintf(crt, sizeof(crt), "%s/central.crt", G.dir);
    snprintf(ext, sizeof(ext), "%s/central.ext", G.dir);
    snprintf(serial, sizeof(serial), "%s/ca.srl", G.dir);
    snprintf(cert_pem, len, "%s/central.pem", G.dir);
    snprintf(other_key, sizeof(other_key), "%s/other.key", G.dir);
    char ca_key[700];
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", G.dir);
    if (make_ca("ca", G.ca, sizeof(G.ca)) || make_ca("other", G.other_ca, sizeof(G.other_ca))) {
        return -1;
    }
    const char *req[] = {
        "openssl", "req",     "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes",  "-keyout", key,    "-out",    csr,  "-subj",    "/CN=localhost",
        NULL};
    if (run_cmd(req) || write_file(ext, "basicConstraints=CA:FALSE\n"
                                        "keyUsage=critical,digitalSignature\n"
                                        "extendedKeyUsage=serverAuth\n"
                                        "subjectAltName=DNS:localhost,IP:127.0.0.1\n")) {
        return -1;
    }
    const char *sign[] = {"openssl",   "x509",     "-req",   "-in",  csr,
                          "-CA",       G.ca,       "-CAkey", ca_key, "-CAcreateserial",
                          "-CAserial", serial,     "-out",   crt,    "-days",
                          "2",         "-extfile", ext,      NULL};
    if (run_cmd(sign) || concat(crt, key, cert_pem)) {
        return -1;
    }
    return make_pin(key, "central", G.pin, sizeof(G.pin)) ||
                   make_pin(other_key, "other", G.other_pin, sizeof(G.other_pin))
               ? -1
               : 0;
}

/* Start `coachbox central --cert PEM` on 127.0.0.1:0 (its https:// URL in G.srv.url). */
static int central_start(const char *cert_pem)
{
    const char *extra[] = {"--cert", cert_pem, NULL};
    return cbt_central_start(&G.srv, G.central, extra);
}

/* Parse "site NAME (ID) ... hours): CODE" from `coachbox site add`. */
static int parse_code(const char *out, char code[CODE_MAX])
{
    const char *c = strstr(out, "hours): ");
    if (!c) {
        return -1;
    }
    c += strlen("hours): ");
    size_t k = strcspn(c, " \r\n");
    if (k == 0 || k >= CODE_MAX) {
        return -1;
    }
    memcpy(code, c, k);
    code[k] = '\0';
    return 0;
}

/* One integer from a database (a1 bound to ?1 when given); fails the test on error. */
static long long db_int(const char *dir, const char *sql, const char *a1)
{
    char path[700];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof(path), "%s/coachbox.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_msg("SQL %s on %s: %s", sql, dir, db ? sqlite3_errmsg(db) : "cannot open");
    }
    if (a1) {
        sqlite3_bind_text(st, 1, a1, -1, SQLITE_TRANSIENT);
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        fail_msg("SQL %s on %s: no row", sql, dir);
    }
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Set a site's setting (central_ca / central_pin) as `coachbox enroll` stores it. */
static void set_setting(const char *dir, const char *key, const char *value)
{
    char path[700];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof(path), "%s/coachbox.db", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    assert_int_equal(
        sqlite3_prepare_v2(db, "UPDATE settings SET value = ?2 WHERE key = ?1", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

static int group_setup(void **state)
{
    (void)state;
    char cert[700], out[4096];
    memset(&G, 0, sizeof(G));
    cbt_tempdir(G.dir, sizeof(G.dir), "sync-tls");
    if (mkdir(G.dir, 0700) != 0) {
        return -1;
    }
    snprintf(G.central, sizeof(G.central), "%s/central", G.dir);
    snprintf(G.site[0], sizeof(G.site[0]), "%s/siteA", G.dir);
    snprintf(G.site[1], sizeof(G.site[1]), "%s/siteB", G.dir);
    if (make_pki(cert, sizeof(cert)) != 0) {
        fprintf(stderr, "it_sync_tls: openssl could not make the test certificates\n");
        return -1;
    }
    if (cbt_add_user(G.central, "coach.tls", "coach", "bury-town", PW) != 0) {
        fprintf(stderr, "it_sync_tls: cannot add a user on central\n");
        return -1;
    }
    if (central_start(cert) != 0 || strncmp(G.srv.url, "https://", 8) != 0) {
        fprintf(stderr, "it_sync_tls: central --cert did not start on https (log %s)\n", G.srv.log);
        return -1;
    }
    const char *names[] = {"tls-a", "tls-b"};
    for (int i = 0; i < 2; i++) {
        int st = cbt_coachbox(out, sizeof(out), "site", "add", "--data", G.central, "--name",
                              names[i], "--team", "bury-town", NULL);
        if (st != 0 || parse_code(out, G.code[i]) != 0) {
            fprintf(stderr, "it_sync_tls: site add: exit %d: %s\n", st, out);
            return -1;
        }
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cbt_server_stop(&G.srv);
    if (!getenv("CB_KEEP")) {
        cbt_rmtree(G.dir);
    }
    return 0;
}

static long long enrolled_sites(void)
{
    return db_int(G.central, "SELECT count(*) FROM sites WHERE enrolled_at IS NOT NULL", NULL);
}

/* Without trust in central's CA, or with another key pinned, enrollment is refused. */
static void test_enroll_refused_without_trust(void **state)
{
    (void)state;
    char out[4096];
    /* No --ca: the system's CAs do not know the test CA. */
    int st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.site[0], "--central", G.srv.url,
                          "--code", G.code[0], NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "not trusted")) {
        fail_msg("enroll without --ca: want a certificate error, got: %s", out);
    }
    /* --ca naming a CA that did not issue central's certificate. */
    st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.site[0], "--central", G.srv.url,
                      "--code", G.code[0], "--ca", G.other_ca, NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "not trusted") || !contains(out, "--ca")) {
        fail_msg("enroll with another CA: want a certificate error, got: %s", out);
    }
    /* A pin is checked on top of the certificate chain, never instead of it: central's own
     * key pinned does not make a certificate from an unknown CA acceptable. */
    st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.site[1], "--central", G.srv.url,
                      "--code", G.code[1], "--pin", G.pin, NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "not trusted")) {
        fail_msg("enroll with a pin but no trusted CA: want a certificate error, got: %s", out);
    }
    /* The right CA, but another key pinned. */
    st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.site[1], "--central", G.srv.url,
                      "--code", G.code[1], "--ca", G.ca, "--pin", G.other_pin, NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "pinned")) {
        fail_msg("enroll with the CA and another key's pin: want a pin error, got: %s", out);
    }
    /* Nothing reached central: no site is enrolled, the codes are unused. */
    assert_int_equal(enrolled_sites(), 0);
}

/* A trusts the CA file, B also pins central's key: both enroll and sync. */
static void test_enroll_and_sync_with_ca_and_pin(void **state)
{
    (void)state;
    char out[8192];
    int st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.site[0], "--central", G.srv.url,
                          "--code", G.code[0], "--ca", G.ca, NULL);
    if (st != 0) {
        fail_msg("enroll --ca: exit %d: %s", st, out);
    }
    st = cbt_coachbox(out, sizeof(out), "enroll", "--data", G.site[1], "--central", G.srv.url,
                      "--code", G.code[1], "--ca", G.ca, "--pin", G.pin, NULL);
    if (st != 0) {
        fail_msg("enroll --pin: exit %d: %s", st, out);
    }
    assert_int_equal(enrolled_sites(), 2);
    for (int i = 0; i < 2; i++) {
        st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.site[i], NULL);
        if (st != 0) {
            fail_msg("sync at site %c over https: exit %d: %s", 'A' + i, st, out);
        }
        /* The coach's account made on central arrived over TLS. */
        assert_int_equal(
            db_int(G.site[i], "SELECT count(*) FROM users WHERE username = ?1", "coach.tls"), 1);
    }

    /* A record written at A (through its API, by the synced coach) travels A -> central -> B. */
    struct cbt_server srv;
    struct cbt_client cl;
    struct cbt_resp r;
    if (cbt_server_start(&srv, G.site[0], NULL) != 0) {
        fail_msg("field server A did not start");
    }
    cbt_client_init(&cl, srv.url);
    long login = cbt_login(&cl, "coach.tls", PW);
    int created = login == 200 && cbt_request(&cl, "POST", "/api/participants",
                                              "{\"given_name\":\"Tess\",\"family_name\":\"Layer\","
                                              "\"date_of_birth\":\"1980-05-06\"}",
                                              &r) == 0;
    char id[40] = "";
    if (created) {
        created = r.status == 201 && cbt_jstr(&r, "id");
        if (created) {
            snprintf(id, sizeof(id), "%s", cbt_jstr(&r, "id"));
        }
        cbt_resp_free(&r);
    }
    cbt_client_free(&cl);
    assert_int_equal(cbt_server_stop(&srv), 0);
    if (!created) {
        fail_msg("could not create a participant at A (login %ld)", login);
    }
    st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.site[0], NULL);
    if (st != 0) {
        fail_msg("sync at A: exit %d: %s", st, out);
    }
    assert_int_equal(db_int(G.site[0], "SELECT count(*) FROM outbox", NULL), 0);
    assert_int_equal(db_int(G.central, "SELECT count(*) FROM participants WHERE id = ?1", id), 1);
    st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.site[1], NULL);
    if (st != 0) {
        fail_msg("sync at B: exit %d: %s", st, out);
    }
    assert_int_equal(db_int(G.site[1], "SELECT count(*) FROM participants WHERE id = ?1", id), 1);
}

/* The trust settings apply to every round: a wrong CA or pin refuses central, with the reason. */
static void test_round_refused_with_wrong_ca_or_pin(void **state)
{
    (void)state;
    char out[8192];
    long long cursor_b =
        db_int(G.site[1], "SELECT value FROM settings WHERE key = 'sync_cursor'", NULL);
    set_setting(G.site[0], "central_ca", G.other_ca);
    int st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.site[0], NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "not trusted")) {
        fail_msg("sync at A trusting another CA: want a certificate error, got: %s", out);
    }
    set_setting(G.site[1], "central_pin", G.other_pin);
    st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.site[1], NULL);
    assert_int_not_equal(st, 0);
    if (!contains(out, "pinned")) {
        fail_msg("sync at B pinning another key: want a pin error, got: %s", out);
    }
    /* Nothing was pulled by the refused round. */
    assert_int_equal(
        db_int(G.site[1], "SELECT value FROM settings WHERE key = 'sync_cursor'", NULL), cursor_b);
    /* The status the UI shows names the reason too. */
    char err[600] = "";
    {
        char path[700];
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;
        snprintf(path, sizeof(path), "%s/coachbox.db", G.site[1]);
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key = 'last_error'", -1, &q,
                               NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW) {
            snprintf(err, sizeof(err), "%s", (const char *)sqlite3_column_text(q, 0));
        }
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    if (!contains(err, "pinned")) {
        fail_msg("B's last_error should name the pin: %s", err);
    }
    /* Restored, both sync again. */
    set_setting(G.site[0], "central_ca", G.ca);
    set_setting(G.site[1], "central_pin", G.pin);
    for (int i = 0; i < 2; i++) {
        st = cbt_coachbox(out, sizeof(out), "sync", "--data", G.site[i], NULL);
        if (st != 0) {
            fail_msg("sync at site %c after restoring its trust: exit %d: %s", 'A' + i, st, out);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enroll_refused_without_trust),
        cmocka_unit_test(test_enroll_and_sync_with_ca_and_pin),
        cmocka_unit_test(test_round_refused_with_wrong_ca_or_pin),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
