/*
 * test_jarena.c - region allocation of parsed JSON (jarena.h): values parsed
 * into an arena live in its region and freeing them is a no-op; everything
 * else stays plain malloc/free (json_dumps text free()d by callers, values
 * set into a parsed tree later); an arena parsed on one thread may be freed
 * on another; slots run out cleanly; a parse error is reported as jansson's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachbox/err.h"
#include "coachbox/jarena.h"

/* A page-like document: n changes of a few fields each. */
static char *page_text(int n, size_t *len)
{
    size_t cap = (size_t)n * 160 + 64;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t off = (size_t)snprintf(t, cap, "{\"changes\":[");
    for (int i = 0; i < n; i++) {
        off += (size_t)snprintf(t + off, cap - off,
                                "%s{\"seq\":%d,\"tbl\":\"encounters\",\"fields\":{\"topic\":"
                                "\"smoking\",\"notes\":\"note %d \\u00e9\",\"minutes\":%d}}",
                                i ? "," : "", i + 1, i, i % 60);
    }
    off += (size_t)snprintf(t + off, cap - off, "],\"more\":false}");
    assert_true(off < cap);
    *len = off;
    return t;
}

static void test_parse_into_arena(void **state)
{
    (void)state;
    size_t len;
    char *text = page_text(2000, &len);
    struct cb_jarena *a;
    assert_int_equal(cb_jarena_new(&a), CB_OK);
    assert_int_equal(cb_jarena_used(a), 0);
    json_error_t e;
    json_t *page = cb_jarena_loadb(a, text, len, 0, &e);
    assert_non_null(page);
    size_t used = cb_jarena_used(a);
    assert_true(used > (size_t)2000 * 100); /* every value came from the region */
    json_t *changes = json_object_get(page, "changes");
    assert_int_equal(json_array_size(changes), 2000);
    json_t *first = json_array_get(changes, 0);
    assert_true(cb_jarena_owns(a, first));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(first, "fields"), "notes")),
        "note 0 \xc3\xa9");

    /* After the parse, jansson allocates on the heap again: a value set into the
     * tree, and text returned to be free()d (free() of region memory would crash). */
    json_t *team = json_string("bury-town");
    assert_false(cb_jarena_owns(a, team));
    json_object_set_new(json_object_get(first, "fields"), "team", team);
    char *dump = json_dumps(first, JSON_COMPACT);
    assert_non_null(dump);
    assert_false(cb_jarena_owns(a, dump));
    assert_non_null(strstr(dump, "\"team\":\"bury-town\""));
    free(dump);
    assert_int_equal(cb_jarena_used(a), used);

    /* A heap container holding a region value, dropped before the region. */
    json_t *holder = json_pack("{s:O}", "first", first);
    assert_false(cb_jarena_owns(a, holder));
    json_decref(holder);

    json_decref(page); /* frees the heap string set above, skips the region's */
    cb_jarena_free(a);
    cb_jarena_trim();
    free(text);
}

static void test_use_switches_and_restores(void **state)
{
    (void)state;
    struct cb_jarena *a;
    assert_int_equal(cb_jarena_new(&a), CB_OK);
    assert_null(cb_jarena_use(a));
    json_t *in = json_object();
    assert_int_equal(json_object_set_new(in, "k", json_integer(1)), 0);
    assert_true(cb_jarena_used(a) > 0);
    /* Switched off around text that is free()d. */
    struct cb_jarena *was = cb_jarena_use(NULL);
    assert_ptr_equal(was, a);
    char *t = json_dumps(in, JSON_COMPACT);
    assert_string_equal(t, "{\"k\":1}");
    free(t);
    assert_null(cb_jarena_use(a));
    assert_ptr_equal(cb_jarena_use(NULL), a);
    json_decref(in);
    cb_jarena_free(a);
    cb_jarena_trim();
}

static void test_null_arena_is_plain_parse(void **state)
{
    (void)state;
    json_error_t e;
    json_t *v = cb_jarena_loadb(NULL, "{\"a\":[1,2,3]}", 13, 0, &e);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "a")), 3);
    json_decref(v);
    cb_jarena_free(NULL);
}

static void test_parse_error_reported(void **state)
{
    (void)state;
    struct cb_jarena *a;
    assert_int_equal(cb_jarena_new(&a), CB_OK);
    json_error_t e;
    const char *bad = "{\"changes\":[{\"seq\":1},\n{\"seq\":}]}";
    assert_null(cb_jarena_loadb(a, bad, strlen(bad), 0, &e));
    assert_int_equal(e.line, 2);
    assert_true(e.column > 0);
    cb_jarena_free(a);
    cb_jarena_trim();
}

static void test_reuse_after_free(void **state)
{
    (void)state;
    size_t len;
    char *text = page_text(200, &len);
    for (int round = 0; round < 5; round++) {
        struct cb_jarena *a;
        assert_int_equal(cb_jarena_new(&a), CB_OK);
        assert_int_equal(cb_jarena_used(a), 0); /* a kept arena starts empty */
        json_t *v = cb_jarena_loadb(a, text, len, 0, NULL);
        assert_non_null(v);
        assert_int_equal(json_array_size(json_object_get(v, "changes")), 200);
        json_decref(v);
        cb_jarena_free(a);
    }
    cb_jarena_trim();
    free(text);
}

static void test_slots_run_out(void **state)
{
    (void)state;
    struct cb_jarena *a[CB_JARENA_SLOTS];
    for (int i = 0; i < CB_JARENA_SLOTS; i++) {
        assert_int_equal(cb_jarena_new(&a[i]), CB_OK);
    }
    struct cb_jarena *extra = (struct cb_jarena *)1;
    assert_int_equal(cb_jarena_new(&extra), CB_EBUSY);
    assert_null(extra);
    /* Without an arena the parse is a plain one. */
    json_t *v = cb_jarena_loadb(extra, "[1]", 3, 0, NULL);
    assert_non_null(v);
    json_decref(v);
    for (int i = 0; i < CB_JARENA_SLOTS; i++) {
        cb_jarena_free(a[i]);
    }
    cb_jarena_trim();
    struct cb_jarena *again;
    assert_int_equal(cb_jarena_new(&again), CB_OK);
    cb_jarena_free(again);
    cb_jarena_trim();
}

struct handoff {
    const char *text;
    size_t len;
    struct cb_jarena *a;
    json_t *v;
};

static void *parse_main(void *arg)
{
    struct handoff *h = arg;
    if (cb_jarena_new(&h->a) == CB_OK) {
        h->v = cb_jarena_loadb(h->a, h->text, h->len, 0, NULL);
    }
    return NULL;
}

static void *free_main(void *arg)
{
    struct handoff *h = arg;
    json_decref(h->v);
    cb_jarena_free(h->a);
    return NULL;
}

/* The pull's shape: one thread parses, another reads, a third frees. */
static void test_parse_on_one_thread_free_on_another(void **state)
{
    (void)state;
    size_t len;
    char *text = page_text(500, &len);
    for (int i = 0; i < 4; i++) {
        struct handoff h = {text, len, NULL, NULL};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, parse_main, &h), 0);
        pthread_join(t, NULL);
        assert_non_null(h.v);
        assert_int_equal(json_array_size(json_object_get(h.v, "changes")), 500);
        /* Heap allocations on this thread meanwhile are unaffected. */
        json_t *mine = json_pack("{s:s}", "k", "v");
        assert_int_equal(pthread_create(&t, NULL, free_main, &h), 0);
        pthread_join(t, NULL);
        json_decref(mine);
    }
    cb_jarena_trim();
    free(text);
}

int main(void)
{
    cb_jarena_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_into_arena),
        cmocka_unit_test(test_use_switches_and_restores),
        cmocka_unit_test(test_null_arena_is_plain_parse),
        cmocka_unit_test(test_parse_error_reported),
        cmocka_unit_test(test_reuse_after_free),
        cmocka_unit_test(test_slots_run_out),
        cmocka_unit_test(test_parse_on_one_thread_free_on_another),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
