/* test_buf.c - the capped growable buffer (buf.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "coachbox/buf.h"
#include "coachbox/err.h"

static void test_init_is_empty(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.max, 100);
    assert_string_equal(cb_buf_str(&b), "");
    cb_buf_free(&b); /* freeing a never-used buffer is fine */
    assert_null(b.data);
}

static void test_add_and_nul_termination(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 1000);
    assert_int_equal(cb_buf_add(&b, "abcXYZ", 3), CB_OK);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.data[3], '\0');
    assert_string_equal(cb_buf_str(&b), "abc");
    assert_int_equal(cb_buf_adds(&b, "def"), CB_OK);
    assert_string_equal(cb_buf_str(&b), "abcdef");
    assert_int_equal(b.len, 6);
    assert_int_equal(b.data[6], '\0');
    /* Zero-length appends are fine and keep the terminator. */
    assert_int_equal(cb_buf_add(&b, "", 0), CB_OK);
    assert_int_equal(cb_buf_adds(&b, ""), CB_OK);
    assert_string_equal(cb_buf_str(&b), "abcdef");
    assert_true(b.alloc >= b.len + 1);
    cb_buf_free(&b);
}

static void test_empty_append_on_fresh_buffer_terminates(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 10);
    assert_int_equal(cb_buf_add(&b, "", 0), CB_OK);
    assert_non_null(b.data);
    assert_int_equal(b.data[0], '\0');
    assert_int_equal(b.len, 0);
    cb_buf_free(&b);

    cb_buf_init(&b, 10);
    assert_int_equal(cb_buf_addf(&b, "%s", ""), CB_OK);
    assert_string_equal(cb_buf_str(&b), "");
    assert_int_equal(b.len, 0);
    cb_buf_free(&b);
}

static void test_binary_bytes_counted(void **state)
{
    (void)state;
    struct cb_buf b;
    static const char bin[] = {'a', '\0', 'b', '\0'};
    cb_buf_init(&b, 100);
    assert_int_equal(cb_buf_add(&b, bin, sizeof(bin)), CB_OK);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, bin, 4);
    assert_int_equal(b.data[4], '\0');
    cb_buf_free(&b);
}

static void test_cap_exact_fit_then_refused_unchanged(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 10);
    assert_int_equal(cb_buf_adds(&b, "0123456789"), CB_OK); /* exactly max */
    assert_int_equal(b.len, 10);
    assert_string_equal(cb_buf_str(&b), "0123456789");
    assert_true(b.alloc <= b.max + 1);

    assert_int_equal(cb_buf_adds(&b, "x"), CB_ETOOLARGE);
    assert_int_equal(b.len, 10);
    assert_string_equal(cb_buf_str(&b), "0123456789");
    assert_int_equal(cb_buf_addf(&b, "%d", 7), CB_ETOOLARGE);
    assert_string_equal(cb_buf_str(&b), "0123456789");
    /* Empty appends still succeed at the cap. */
    assert_int_equal(cb_buf_adds(&b, ""), CB_OK);
    cb_buf_free(&b);
}

static void test_cap_partial_overflow_leaves_content(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 8);
    assert_int_equal(cb_buf_adds(&b, "abcde"), CB_OK);
    /* 5 + 4 = 9 > 8: nothing of the append may land. */
    assert_int_equal(cb_buf_adds(&b, "WXYZ"), CB_ETOOLARGE);
    assert_int_equal(b.len, 5);
    assert_string_equal(cb_buf_str(&b), "abcde");
    assert_int_equal(cb_buf_addf(&b, "%s%s", "12", "34"), CB_ETOOLARGE);
    assert_int_equal(b.len, 5);
    assert_string_equal(cb_buf_str(&b), "abcde");
    /* But a fitting append still works afterwards. */
    assert_int_equal(cb_buf_adds(&b, "fgh"), CB_OK);
    assert_string_equal(cb_buf_str(&b), "abcdefgh");
    cb_buf_free(&b);
}

static void test_cap_zero(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 0);
    assert_int_equal(cb_buf_adds(&b, "a"), CB_ETOOLARGE);
    assert_int_equal(b.len, 0);
    assert_string_equal(cb_buf_str(&b), "");
    assert_int_equal(cb_buf_adds(&b, ""), CB_OK);
    assert_string_equal(cb_buf_str(&b), "");
    cb_buf_free(&b);
}

static void test_refused_first_append_allocates_nothing(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 4);
    assert_int_equal(cb_buf_adds(&b, "too long"), CB_ETOOLARGE);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(cb_buf_str(&b), "");
    cb_buf_free(&b);
}

static void test_addf_formats(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 1000);
    assert_int_equal(cb_buf_addf(&b, "%d-%s-%05.1f", 42, "x", 3.14159), CB_OK);
    assert_string_equal(cb_buf_str(&b), "42-x-003.1");
    assert_int_equal(b.len, strlen("42-x-003.1"));
    assert_int_equal(cb_buf_addf(&b, "|%c|", 'z'), CB_OK);
    assert_string_equal(cb_buf_str(&b), "42-x-003.1|z|");
    assert_int_equal(b.data[b.len], '\0');
    cb_buf_free(&b);
}

static void test_addf_exact_cap(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 6);
    assert_int_equal(cb_buf_addf(&b, "%s", "abc"), CB_OK);
    assert_int_equal(cb_buf_addf(&b, "%03d", 7), CB_OK); /* lands exactly on the cap */
    assert_string_equal(cb_buf_str(&b), "abc007");
    assert_int_equal(b.len, 6);
    assert_int_equal(cb_buf_addf(&b, "%s", "!"), CB_ETOOLARGE);
    assert_string_equal(cb_buf_str(&b), "abc007");
    cb_buf_free(&b);
}

static void test_growth_preserves_content(void **state)
{
    (void)state;
    struct cb_buf b;
    char chunk[1000];
    const size_t max = 50000;
    cb_buf_init(&b, max);
    size_t total = 0;
    for (int i = 0; i < 50; i++) {
        memset(chunk, 'a' + (i % 26), sizeof(chunk));
        assert_int_equal(cb_buf_add(&b, chunk, sizeof(chunk)), CB_OK);
        total += sizeof(chunk);
        assert_int_equal(b.len, total);
        assert_true(b.alloc >= b.len + 1);
        assert_true(b.alloc <= b.max + 1);
    }
    assert_int_equal(b.len, max);
    for (size_t i = 0; i < total; i++) {
        if (b.data[i] != (char)('a' + (int)((i / 1000) % 26))) {
            fail_msg("byte %zu is wrong", i);
        }
    }
    assert_int_equal(b.data[total], '\0');
    assert_int_equal(strlen(cb_buf_str(&b)), max);
    assert_int_equal(cb_buf_add(&b, "x", 1), CB_ETOOLARGE);
    assert_int_equal(b.len, max);
    cb_buf_free(&b);
}

static void test_many_small_appends(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 5000);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(cb_buf_addf(&b, "%d,", i % 10), CB_OK);
    }
    assert_int_equal(b.len, 2000);
    assert_memory_equal(b.data, "0,1,2,3,4,5,6,7,8,9,0,", 22);
    assert_memory_equal(b.data + 1980, "0,1,2,3,4,5,6,7,8,9,", 20);
    assert_int_equal(b.data[2000], '\0');
    cb_buf_free(&b);
}

static void test_reset_keeps_memory_and_reuses(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 10);
    assert_int_equal(cb_buf_adds(&b, "0123456789"), CB_OK);
    const char *before = b.data;
    cb_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(cb_buf_str(&b), "");
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.max, 10);
    /* The whole capacity is available again. */
    assert_int_equal(cb_buf_adds(&b, "abcdefghij"), CB_OK);
    assert_string_equal(cb_buf_str(&b), "abcdefghij");
    assert_int_equal(cb_buf_adds(&b, "k"), CB_ETOOLARGE);
    cb_buf_free(&b);

    /* reset on a never-used buffer is harmless */
    cb_buf_init(&b, 10);
    cb_buf_reset(&b);
    assert_null(b.data);
    assert_string_equal(cb_buf_str(&b), "");
}

/* Truncating gives the buffer as it was at that length: terminated, and
 * appends carry on from there. */
static void test_truncate(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 16);
    assert_int_equal(cb_buf_adds(&b, "abc,defgh"), CB_OK);
    cb_buf_truncate(&b, 9); /* its own length: unchanged */
    assert_string_equal(cb_buf_str(&b), "abc,defgh");
    cb_buf_truncate(&b, 3);
    assert_int_equal(b.len, 3);
    assert_string_equal(cb_buf_str(&b), "abc");
    assert_int_equal(cb_buf_adds(&b, "-xyz"), CB_OK);
    assert_string_equal(cb_buf_str(&b), "abc-xyz");
    cb_buf_truncate(&b, 0);
    assert_string_equal(cb_buf_str(&b), "");
    cb_buf_free(&b);
}

static void test_free_resets_and_keeps_cap(void **state)
{
    (void)state;
    struct cb_buf b;
    cb_buf_init(&b, 12);
    assert_int_equal(cb_buf_adds(&b, "hello"), CB_OK);
    cb_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.max, 12);
    assert_string_equal(cb_buf_str(&b), "");
    /* Reusable after free, with the same cap. */
    assert_int_equal(cb_buf_adds(&b, "hello world!"), CB_OK);
    assert_int_equal(cb_buf_adds(&b, "?"), CB_ETOOLARGE);
    assert_string_equal(cb_buf_str(&b), "hello world!");
    cb_buf_free(&b);
    cb_buf_free(&b); /* double free is safe: data was reset to NULL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_empty),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_add_and_nul_termination),
        cmocka_unit_test(test_empty_append_on_fresh_buffer_terminates),
        cmocka_unit_test(test_binary_bytes_counted),
        cmocka_unit_test(test_cap_exact_fit_then_refused_unchanged),
        cmocka_unit_test(test_cap_partial_overflow_leaves_content),
        cmocka_unit_test(test_cap_zero),
        cmocka_unit_test(test_refused_first_append_allocates_nothing),
        cmocka_unit_test(test_addf_formats),
        cmocka_unit_test(test_addf_exact_cap),
        cmocka_unit_test(test_growth_preserves_content),
        cmocka_unit_test(test_many_small_appends),
        cmocka_unit_test(test_reset_keeps_memory_and_reuses),
        cmocka_unit_test(test_free_resets_and_keeps_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
