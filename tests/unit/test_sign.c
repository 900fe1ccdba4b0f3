/*
 * test_sign.c - sync request signatures (sign.h): SHA-256 hex, and the
 * HMAC-SHA256 over METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n hex(SHA-384(body)).
 * Reference values computed independently with `openssl dgst -sha384` (the
 * body's hash) and `openssl dgst -sha256 -hmac KEY` (the signature).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "coachbox/err.h"
#include "coachbox/sign.h"

#define SECRET "k3y-secret"
#define PATH   "/sync/v1/push"
#define TS     "1700000000000"
#define NONCE  "00112233445566778899aabbccddeeff"
#define BODY   "{\"ops\":[]}"

static void sign(const char *secret, const char *method, const char *path, const char *ts,
                 const char *nonce, const char *body, size_t len, char out[CB_SIG_HEXLEN])
{
    memset(out, 'x', CB_SIG_HEXLEN);
    assert_int_equal(cb_sign(secret, method, path, ts, nonce, body, len, out), CB_OK);
    assert_int_equal(strlen(out), 64);
    for (int i = 0; i < 64; i++) {
        assert_true(isxdigit((unsigned char)out[i]) && !isupper((unsigned char)out[i]));
    }
}

static void test_sha256_hex_known_values(void **state)
{
    (void)state;
    char out[CB_SIG_HEXLEN];
    cb_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cb_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cb_sha256_hex(BODY, strlen(BODY), out);
    assert_string_equal(out, "b2f0effc1a37cecc88986e93381ca24c017e5b7a288ea14a9462ae9b4c466f0c");
}

static void test_sign_known_values(void **state)
{
    (void)state;
    char sig[CB_SIG_HEXLEN];
    sign(SECRET, "POST", PATH, TS, NONCE, BODY, strlen(BODY), sig);
    assert_string_equal(sig, "885044f5c9d128eba8ceff714ae83e44c15bfbaf50a92dfe74914ddb71604657");
    /* A GET with a query and no body signs the hash of the empty body. */
    sign(SECRET, "GET", "/sync/v1/pull?since=0&limit=2000", TS, "abcdefabcdefabcdef", NULL, 0, sig);
    assert_string_equal(sig, "d1fc25c9141e17bca34d68d6f3aa892c1ca5480842edaa267887f4278bd599cb");
}

static void test_sign_is_deterministic(void **state)
{
    (void)state;
    char a[CB_SIG_HEXLEN], b[CB_SIG_HEXLEN];
    sign(SECRET, "POST", PATH, TS, NONCE, BODY, strlen(BODY), a);
    for (int i = 0; i < 5; i++) {
        sign(SECRET, "POST", PATH, TS, NONCE, BODY, strlen(BODY), b);
        assert_string_equal(a, b);
    }
    /* No body and an empty body are the same message. */
    sign(SECRET, "GET", PATH, TS, NONCE, NULL, 0, a);
    sign(SECRET, "GET", PATH, TS, NONCE, "", 0, b);
    assert_string_equal(a, b);
    /* Only body_len bytes of the body count. */
    sign(SECRET, "POST", PATH, TS, NONCE, BODY "trailing", strlen(BODY), b);
    sign(SECRET, "POST", PATH, TS, NONCE, BODY, strlen(BODY), a);
    assert_string_equal(a, b);
}

static void test_sign_changes_with_every_input(void **state)
{
    (void)state;
    char base[CB_SIG_HEXLEN], other[CB_SIG_HEXLEN];
    sign(SECRET, "POST", PATH, TS, NONCE, BODY, strlen(BODY), base);

    sign("k3y-secreT", "POST", PATH, TS, NONCE, BODY, strlen(BODY), other);
    assert_string_not_equal(base, other);
    sign("", "POST", PATH, TS, NONCE, BODY, strlen(BODY), other);
    assert_string_not_equal(base, other);
    sign(SECRET, "GET", PATH, TS, NONCE, BODY, strlen(BODY), other);
    assert_string_not_equal(base, other);
    sign(SECRET, "POST", "/sync/v1/pull", TS, NONCE, BODY, strlen(BODY), other);
    assert_string_not_equal(base, other);
    sign(SECRET, "POST", PATH "?x=1", TS, NONCE, BODY, strlen(BODY), other);
    assert_string_not_equal(base, other);
    sign(SECRET, "POST", PATH, "1700000000001", NONCE, BODY, strlen(BODY), other);
    assert_string_not_equal(base, other);
    sign(SECRET, "POST", PATH, TS, "00112233445566778899aabbccddeefe", BODY, strlen(BODY), other);
    assert_string_not_equal(base, other);
    sign(SECRET, "POST", PATH, TS, NONCE, "{\"ops\":[1]}", strlen("{\"ops\":[1]}"), other);
    assert_string_not_equal(base, other);
    sign(SECRET, "POST", PATH, TS, NONCE, BODY, strlen(BODY) - 1, other);
    assert_string_not_equal(base, other);
    sign(SECRET, "POST", PATH, TS, NONCE, NULL, 0, other);
    assert_string_not_equal(base, other);
    /* Field boundaries matter: moving a character between path and timestamp changes it. */
    char x[CB_SIG_HEXLEN], y[CB_SIG_HEXLEN];
    sign(SECRET, "GET", "/a1", "23", NONCE, NULL, 0, x);
    sign(SECRET, "GET", "/a", "123", NONCE, NULL, 0, y);
    assert_string_not_equal(x, y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_hex_known_values),
        cmocka_unit_test(test_sign_known_values),
        cmocka_unit_test(test_sign_is_deterministic),
        cmocka_unit_test(test_sign_changes_with_every_input),
    };
    return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
