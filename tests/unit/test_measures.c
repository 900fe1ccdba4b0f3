/* test_measures.c - every scoring rule at every band boundary, and validation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coachbox/measures.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j) {
        print_error("bad test JSON %s: %s\n", text, jerr.text);
    }
    assert_non_null(j);
    return j;
}

/* Score inputs (stolen) and return the result, failing the test on error. */
static json_t *score_obj(const char *ins, json_t *inputs, unsigned flags)
{
    struct cb_field_error fe = {{0}, {0}};
    json_t *out = NULL;
    int rc = cb_measure_score(ins, inputs, flags, &out, &fe);
    if (rc) {
        char *text = json_dumps(inputs, JSON_COMPACT);
        print_error("%s %s: rc %d, %s: %s\n", ins, text, rc, fe.field, fe.message);
        free(text);
    }
    json_decref(inputs);
    assert_int_equal(rc, 0);
    assert_non_null(out);
    return out;
}

static json_t *score_ok(const char *ins, const char *inputs)
{
    return score_obj(ins, parse(inputs), 0);
}

/* Expect CB_EINVAL naming field, with msg_part (if any) in the message. */
static void expect_err_obj(const char *ins, json_t *inputs, unsigned flags, const char *field,
                           const char *msg_part)
{
    struct cb_field_error fe = {{0}, {0}};
    json_t *out = (json_t *)NULL;
    int rc = cb_measure_score(ins, inputs, flags, &out, &fe);
    json_decref(inputs);
    if (rc != CB_EINVAL || strcmp(fe.field, field) != 0) {
        print_error("%s: expected error on %s, got rc %d field '%s' (%s)\n", ins, field, rc,
                    fe.field, fe.message);
    }
    assert_int_equal(rc, CB_EINVAL);
    assert_null(out);
    assert_string_equal(fe.field, field);
    assert_true(strlen(fe.message) > 10);
    if (msg_part && !strstr(fe.message, msg_part)) {
        print_error("message '%s' lacks '%s'\n", fe.message, msg_part);
        fail();
    }
}

static void expect_err(const char *ins, const char *inputs, const char *field, const char *msg_part)
{
    expect_err_obj(ins, parse(inputs), 0, field, msg_part);
}

static const char *band(const json_t *out)
{
    return json_string_value(json_object_get(out, "band"));
}

static double num(const json_t *out, const char *key)
{
    const json_t *v = json_object_get(out, key);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static int has_flag(const json_t *out, const char *flag)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(out, "flags"), i, f)
    {
        if (strcmp(json_string_value(f), flag) == 0) {
            return 1;
        }
    }
    return 0;
}

static size_t n_flags(const json_t *out)
{
    return json_array_size(json_object_get(out, "flags"));
}

/* Score and check band (NULL: band is null) and flag presence (flag may be NULL). */
static void check_band(const char *ins, json_t *inputs, const char *want_band, const char *flag,
                       int want_flag)
{
    json_t *out = score_obj(ins, inputs, 0);
    const char *got = band(out);
    if (want_band ? (!got || strcmp(got, want_band) != 0) : got != NULL) {
        char *text = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(15));
        print_error("%s: expected band %s in %s\n", ins, want_band ? want_band : "null", text);
        free(text);
        fail();
    }
    if (flag) {
        assert_int_equal(has_flag(out, flag), want_flag);
    }
    json_decref(out);
}

/* An object {q1: v[0], ..., qn: v[n-1]}. */
static json_t *items(int n, const int *v)
{
    json_t *o = json_object();
    char key[16];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "q%d", i + 1);
        json_object_set_new(o, key, json_integer(v[i]));
    }
    return o;
}

/* n items from lo..hi summing to total (filled from q1); v receives them. */
static json_t *items_summing(int n, int lo, int hi, int total, int *v)
{
    int left = total - n * lo;
    assert_true(left >= 0 && left <= n * (hi - lo));
    for (int i = 0; i < n; i++) {
        int add = left > hi - lo ? hi - lo : left;
        v[i] = lo + add;
        left -= add;
    }
    return items(n, v);
}

/* ------------------------------------------------------------------------ */
/* Catalogue                                                                 */
/* ------------------------------------------------------------------------ */

static void test_list_and_metadata(void **state)
{
    static const char *const want[] = {"swemwbs", "wemwbs",         "ons4",    "phq9",  "gad7",
                                       "gppaq",   "ipaq_short",     "audit_c", "hsi",   "smoking",
                                       "bmi",     "whtr",           "bp",      "qrisk", "cfs",
                                       "tug",     "bowel_screening"};
    const char *const *ids = NULL;
    size_t n = 0;
    (void)state;
    assert_int_equal(cb_measure_list(&ids, &n), 0);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        json_t *d = NULL;
        assert_string_equal(ids[i], want[i]);
        assert_true(cb_measure_known(ids[i]));
        assert_non_null(cb_measure_title(ids[i]));
        const char *rv = cb_measure_rule_version(ids[i]);
        assert_non_null(rv);
        assert_int_equal(strncmp(rv, ids[i], strlen(ids[i])), 0);
        assert_int_equal(rv[strlen(ids[i])], '-');
        assert_int_equal(cb_measure_describe(ids[i], &d, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(d, "id")), ids[i]);
        assert_true(json_array_size(json_object_get(d, "keys")) > 0);
        json_decref(d);
    }
    assert_string_equal(cb_measure_notice("swemwbs"), "SWEMWBS \xC2\xA9 University of Warwick");
    assert_string_equal(cb_measure_notice("wemwbs"), "WEMWBS \xC2\xA9 University of Warwick");
    assert_non_null(strstr(cb_measure_notice("cfs"), "Clinical Frailty Scale"));
    assert_null(cb_measure_notice("phq9"));
    assert_null(cb_measure_notice("gad7"));
    assert_null(cb_measure_notice("nope"));
    assert_null(cb_measure_notice(NULL));
    assert_false(cb_measure_known("nope"));
    assert_false(cb_measure_known(NULL));
    assert_null(cb_measure_title("nope"));
    assert_null(cb_measure_rule_version("nope"));

    struct cb_field_error fe = {{0}, {0}};
    json_t *d = NULL;
    assert_int_equal(cb_measure_describe("nope", &d, &fe), CB_EINVAL);
    assert_null(d);
    assert_string_equal(fe.field, "instrument");
}

static void test_output_shape(void **state)
{
    (void)state;
    json_t *out = score_ok("swemwbs", "{\"q1\":3,\"q2\":3,\"q3\":3,\"q4\":3,\"q5\":3,\"q6\":3,"
                                      "\"q7\":3}");
    assert_string_equal(json_string_value(json_object_get(out, "instrument")), "swemwbs");
    assert_string_equal(json_string_value(json_object_get(out, "rule_version")), "swemwbs-1");
    assert_true(json_is_true(json_object_get(out, "complete")));
    assert_true(json_is_array(json_object_get(out, "flags")));
    assert_true(json_is_object(json_object_get(out, "raw")));
    assert_int_equal(json_object_size(json_object_get(out, "raw")), 7);
    assert_string_equal(json_string_value(json_object_get(out, "notice")),
                        "SWEMWBS \xC2\xA9 University of Warwick");
    assert_null(json_object_get(out, "missing"));
    assert_true(json_is_null(json_object_get(out, "band")));
    json_decref(out);

    out = score_ok("phq9", "{\"q1\":0,\"q2\":0,\"q3\":0,\"q4\":0,\"q5\":0,\"q6\":0,\"q7\":0,"
                           "\"q8\":0,\"q9\":0}");
    assert_true(json_is_null(json_object_get(out, "notice")));
    assert_int_equal(n_flags(out), 0);
    json_decref(out);
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */
/* ------------------------------------------------------------------------ */

static void test_validation_errors(void **state)
{
    (void)state;
    const char *six = "\"q1\":3,\"q2\":3,\"q3\":3,\"q4\":3,\"q5\":3,\"q6\":3";
    char buf[256];

    /* missing item (names the first missing key) */
    snprintf(buf, sizeof(buf), "{%s}", six);
    expect_err("swemwbs", buf, "q7", "required");
    expect_err("swemwbs", "{}", "q1", "required");
    /* null counts as unanswered */
    snprintf(buf, sizeof(buf), "{%s,\"q7\":null}", six);
    expect_err("swemwbs", buf, "q7", "required");
    /* out of range, both sides; the message states the range */
    snprintf(buf, sizeof(buf), "{%s,\"q7\":0}", six);
    expect_err("swemwbs", buf, "q7", "from 1 to 5");
    snprintf(buf, sizeof(buf), "{%s,\"q7\":6}", six);
    expect_err("swemwbs", buf, "q7", "from 1 to 5");
    snprintf(buf, sizeof(buf), "{%s,\"q7\":-1}", six);
    expect_err("swemwbs", buf, "q7", "from 1 to 5");
    /* non-integer */
    snprintf(buf, sizeof(buf), "{%s,\"q7\":2.5}", six);
    expect_err("swemwbs", buf, "q7", "whole number");
    snprintf(buf, sizeof(buf), "{%s,\"q7\":\"2.5\"}", six);
    expect_err("swemwbs", buf, "q7", "whole number");
    snprintf(buf, sizeof(buf), "{%s,\"q7\":\"abc\"}", six);
    expect_err("swemwbs", buf, "q7", "whole number");
    snprintf(buf, sizeof(buf), "{%s,\"q7\":\"\"}", six);
    expect_err("swemwbs", buf, "q7", NULL);
    snprintf(buf, sizeof(buf), "{%s,\"q7\":\" 3\"}", six);
    expect_err("swemwbs", buf, "q7", NULL);
    snprintf(buf, sizeof(buf), "{%s,\"q7\":\"0x3\"}", six);
    expect_err("swemwbs", buf, "q7", NULL);
    /* wrong JSON types */
    snprintf(buf, sizeof(buf), "{%s,\"q7\":true}", six);
    expect_err("swemwbs", buf, "q7", NULL);
    snprintf(buf, sizeof(buf), "{%s,\"q7\":[3]}", six);
    expect_err("swemwbs", buf, "q7", NULL);
    snprintf(buf, sizeof(buf), "{%s,\"q7\":{}}", six);
    expect_err("swemwbs", buf, "q7", NULL);
    /* unknown key, even with everything else valid */
    snprintf(buf, sizeof(buf), "{%s,\"q7\":3,\"q8\":3}", six);
    expect_err("swemwbs", buf, "q8", "not a swemwbs key");
    expect_err("phq9", "{\"Q1\":1}", "Q1", NULL);
    expect_err("bmi", "{\"height_cm\":170,\"weight_kg\":70,\"height\":170}", "height", NULL);

    /* numeric strings and integral reals are accepted and normalised */
    snprintf(buf, sizeof(buf), "{%s,\"q7\":\"4\"}", six);
    json_t *out = score_ok("swemwbs", buf);
    assert_true(json_is_integer(json_object_get(json_object_get(out, "raw"), "q7")));
    assert_int_equal(num(out, "raw_score"), 22);
    json_decref(out);
    snprintf(buf, sizeof(buf), "{%s,\"q7\":4.0}", six);
    out = score_ok("swemwbs", buf);
    assert_true(json_is_integer(json_object_get(json_object_get(out, "raw"), "q7")));
    json_decref(out);

    /* instrument, inputs and flags themselves */
    struct cb_field_error fe = {{0}, {0}};
    json_t *in = json_object();
    out = (json_t *)in; /* must be reset to NULL on error */
    assert_int_equal(cb_measure_score("nope", in, 0, &out, &fe), CB_EINVAL);
    assert_null(out);
    assert_string_equal(fe.field, "instrument");
    assert_int_equal(cb_measure_score(NULL, in, 0, &out, &fe), CB_EINVAL);
    assert_string_equal(fe.field, "instrument");
    assert_int_equal(cb_measure_score("phq9", in, 0x80, &out, &fe), CB_EINVAL);
    assert_string_equal(fe.field, "flags");
    assert_int_equal(cb_measure_score("phq9", NULL, 0, &out, &fe), CB_EINVAL);
    assert_string_equal(fe.field, "inputs");
    json_decref(in);
    in = json_array();
    assert_int_equal(cb_measure_score("phq9", in, 0, &out, &fe), CB_EINVAL);
    assert_string_equal(fe.field, "inputs");
    /* fe may be NULL */
    assert_int_equal(cb_measure_score("phq9", in, 0, &out, NULL), CB_EINVAL);
    json_decref(in);
}

static void test_incomplete(void **state)
{
    (void)state;
    json_t *out =
        score_obj("swemwbs", parse("{\"q1\":3,\"q3\":4,\"q7\":null}"), CB_MEASURE_ALLOW_INCOMPLETE);
    assert_true(json_is_false(json_object_get(out, "complete")));
    assert_true(json_is_null(json_object_get(out, "score")));
    assert_true(json_is_null(json_object_get(out, "band")));
    assert_true(json_is_null(json_object_get(out, "raw_score")));
    json_t *missing = json_object_get(out, "missing");
    assert_int_equal(json_array_size(missing), 5);
    assert_string_equal(json_string_value(json_array_get(missing, 0)), "q2");
    assert_string_equal(json_string_value(json_array_get(missing, 4)), "q7");
    assert_int_equal(json_object_size(json_object_get(out, "raw")), 2);
    assert_non_null(json_object_get(out, "notice"));
    json_decref(out);

    /* invalid answers are still rejected on an incomplete form */
    expect_err_obj("swemwbs", parse("{\"q1\":9}"), CB_MEASURE_ALLOW_INCOMPLETE, "q1", "1 to 5");

    /* the flag does not apply to physical measures */
    expect_err_obj("bmi", parse("{\"height_cm\":170}"), CB_MEASURE_ALLOW_INCOMPLETE, "weight_kg",
                   "required");

    /* every questionnaire accepts an empty incomplete form */
    static const char *const qs[] = {"swemwbs", "wemwbs",     "ons4",    "phq9", "gad7",
                                     "gppaq",   "ipaq_short", "audit_c", "hsi"};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        out = score_obj(qs[i], json_object(), CB_MEASURE_ALLOW_INCOMPLETE);
        assert_true(json_is_false(json_object_get(out, "complete")));
        assert_true(json_is_null(json_object_get(out, "score")));
        assert_true(json_is_null(json_object_get(out, "band")));
        assert_true(json_array_size(json_object_get(out, "missing")) > 0);
        json_decref(out);
    }
}

/* ------------------------------------------------------------------------ */
/* Wellbeing                                                                 */
/* ------------------------------------------------------------------------ */

static void test_swemwbs_every_raw_score(void **state)
{
    /* Warwick conversion table, transcribed independently of measures.c. */
    static const double metric[] = {7.00,  9.51,  11.25, 12.40, 13.33, 14.08, 14.75, 15.32,
                                    15.84, 16.36, 16.88, 17.43, 17.98, 18.59, 19.25, 19.98,
                                    20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03,
                                    28.13, 29.31, 30.70, 32.55, 35.00};
    int v[7];
    (void)state;
    for (int raw = 7; raw <= 35; raw++) {
        json_t *out = score_obj("swemwbs", items_summing(7, 1, 5, raw, v), 0);
        assert_int_equal(num(out, "raw_score"), raw);
        assert_true(json_is_real(json_object_get(out, "score")));
        double got = num(out, "score");
        if (fabs(got - metric[raw - 7]) > 1e-9) {
            print_error("raw %d: metric %.4f, want %.2f\n", raw, got, metric[raw - 7]);
            fail();
        }
        /* 2 dp exactly as printed */
        char *text =
            json_dumps(json_object_get(out, "score"), JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        char want[16];
        snprintf(want, sizeof(want), "%.2f", metric[raw - 7]);
        /* jansson drops trailing zeros after the point except one */
        assert_true(strtod(text, NULL) == strtod(want, NULL));
        free(text);
        assert_true(json_is_null(json_object_get(out, "band")));
        json_decref(out);
    }
}

static void test_wemwbs(void **state)
{
    int v[14];
    (void)state;
    for (int total = 14; total <= 70; total += 7) {
        json_t *out = score_obj("wemwbs", items_summing(14, 1, 5, total, v), 0);
        assert_int_equal(num(out, "score"), total);
        assert_true(json_is_integer(json_object_get(out, "score")));
        assert_true(json_is_null(json_object_get(out, "band")));
        assert_string_equal(json_string_value(json_object_get(out, "notice")),
                            "WEMWBS \xC2\xA9 University of Warwick");
        json_decref(out);
    }
    json_t *out = score_obj("wemwbs", items_summing(14, 1, 5, 70, v), 0);
    assert_int_equal(num(out, "score"), 70);
    json_decref(out);
    v[13] = 6;
    expect_err_obj("wemwbs", items(14, v), 0, "q14", "1 to 5");
}

static void test_ons4_every_value(void **state)
{
    static const char *const positive[] = {"low",  "low",       "low",      "low",
                                           "low",  "medium",    "medium",   "high",
                                           "high", "very_high", "very_high"};
    static const char *const anxiety[] = {"very_low", "very_low", "low",  "low",
                                          "medium",   "medium",   "high", "high",
                                          "high",     "high",     "high"};
    (void)state;
    for (int x = 0; x <= 10; x++) {
        int v[4] = {x, x, x, x};
        json_t *out = score_obj("ons4", items(4, v), 0);
        json_t *bands = json_object_get(out, "bands");
        assert_true(json_is_null(json_object_get(out, "score")));
        assert_true(json_is_null(json_object_get(out, "band")));
        assert_string_equal(json_string_value(json_object_get(bands, "q1")), positive[x]);
        assert_string_equal(json_string_value(json_object_get(bands, "q2")), positive[x]);
        assert_string_equal(json_string_value(json_object_get(bands, "q3")), positive[x]);
        assert_string_equal(json_string_value(json_object_get(bands, "q4")), anxiety[x]);
        json_decref(out);
    }
    /* a partial ONS4 still bands the answers given */
    json_t *out = score_obj("ons4", parse("{\"q1\":8,\"q4\":1}"), CB_MEASURE_ALLOW_INCOMPLETE);
    json_t *bands = json_object_get(out, "bands");
    assert_string_equal(json_string_value(json_object_get(bands, "q1")), "high");
    assert_true(json_is_null(json_object_get(bands, "q2")));
    assert_string_equal(json_string_value(json_object_get(bands, "q4")), "very_low");
    assert_true(json_is_false(json_object_get(out, "complete")));
    json_decref(out);
    expect_err("ons4", "{\"q1\":8,\"q4\":1}", "q2", "required");
    expect_err("ons4", "{\"q1\":11,\"q2\":0,\"q3\":0,\"q4\":0}", "q1", "0 to 10");
    expect_err("ons4", "{\"q1\":-1,\"q2\":0,\"q3\":0,\"q4\":0}", "q1", "0 to 10");
}

static void test_phq9_bands_and_safeguarding(void **state)
{
    static const struct {
        int total;
        const char *band;
    } cases[] = {{0, "minimal"},
                 {4, "minimal"},
                 {5, "mild"},
                 {9, "mild"},
                 {10, "moderate"},
                 {14, "moderate"},
                 {15, "moderately_severe"},
                 {19, "moderately_severe"},
                 {20, "severe"},
                 {24, "severe"}};
    int v[9];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* q9 stays 0: items_summing fills from q1 */
        json_t *in = items_summing(9, 0, 3, cases[i].total, v);
        assert_int_equal(v[8], 0);
        json_t *out = score_obj("phq9", in, 0);
        assert_int_equal(num(out, "score"), cases[i].total);
        assert_string_equal(band(out), cases[i].band);
        assert_false(has_flag(out, "safeguarding"));
        json_decref(out);
    }
    /* q9 >= 1 always raises the safeguarding prompt, whatever the total */
    for (int q9 = 0; q9 <= 3; q9++) {
        int w[9] = {0, 0, 0, 0, 0, 0, 0, 0, q9};
        json_t *out = score_obj("phq9", items(9, w), 0);
        assert_int_equal(has_flag(out, "safeguarding"), q9 >= 1);
        assert_string_equal(band(out), "minimal");
        json_decref(out);
    }
    int all[9] = {3, 3, 3, 3, 3, 3, 3, 3, 3};
    json_t *out = score_obj("phq9", items(9, all), 0);
    assert_int_equal(num(out, "score"), 27);
    assert_string_equal(band(out), "severe");
    assert_true(has_flag(out, "safeguarding"));
    json_decref(out);
    /* ... even on an incomplete form */
    out = score_obj("phq9", parse("{\"q1\":2,\"q9\":1}"), CB_MEASURE_ALLOW_INCOMPLETE);
    assert_true(has_flag(out, "safeguarding"));
    assert_true(json_is_null(json_object_get(out, "score")));
    json_decref(out);
    out = score_obj("phq9", parse("{\"q1\":2,\"q9\":0}"), CB_MEASURE_ALLOW_INCOMPLETE);
    assert_false(has_flag(out, "safeguarding"));
    json_decref(out);
    all[8] = 4;
    expect_err_obj("phq9", items(9, all), 0, "q9", "0 to 3");
}

static void test_gad7_bands(void **state)
{
    static const struct {
        int total;
        const char *band;
    } cases[] = {{0, "minimal"},   {4, "minimal"},   {5, "mild"},    {9, "mild"},
                 {10, "moderate"}, {14, "moderate"}, {15, "severe"}, {21, "severe"}};
    int v[7];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = score_obj("gad7", items_summing(7, 0, 3, cases[i].total, v), 0);
        assert_int_equal(num(out, "score"), cases[i].total);
        assert_string_equal(band(out), cases[i].band);
        assert_int_equal(n_flags(out), 0);
        json_decref(out);
    }
    v[0] = 4;
    expect_err_obj("gad7", items(7, v), 0, "q1", "0 to 3");
}

/* ------------------------------------------------------------------------ */
/* Physical activity                                                         */
/* ------------------------------------------------------------------------ */

static json_t *gppaq_in(const char *occupation, json_t *exercise, json_t *cycling)
{
    json_t *o = json_object();
    json_object_set_new(o, "occupation", json_string(occupation));
    json_object_set_new(o, "exercise_hours", exercise);
    json_object_set_new(o, "cycling_hours", cycling);
    return o;
}

static void test_gppaq_index(void **state)
{
    static const char *const occupations[] = {"not_employed", "sedentary", "standing", "physical",
                                              "heavy_manual"};
    static const int offset[] = {0, 0, 1, 2, 3};
    static const char *const hours[] = {"none", "lt1", "1to3", "ge3"};
    static const char *const pai[] = {"", "inactive", "moderately_inactive", "moderately_active",
                                      "active"};
    (void)state;
    /* every occupation x every hours band */
    for (int o = 0; o < 5; o++) {
        for (int h = 0; h < 4; h++) {
            int want = h + 1 + offset[o];
            if (want > 4) {
                want = 4;
            }
            json_t *out = score_obj(
                "gppaq", gppaq_in(occupations[o], json_string(hours[h]), json_string("none")), 0);
            assert_int_equal(num(out, "score"), want);
            assert_string_equal(band(out), pai[want]);
            assert_int_equal(has_flag(out, "brief_intervention"), want < 4);
            assert_string_equal(json_string_value(json_object_get(out, "combined_hours")),
                                hours[h]);
            json_decref(out);
        }
    }
    /* numeric hours at each band edge (sedentary: PAI = band) */
    static const struct {
        double ex, cy;
        const char *combined;
        int pai;
    } num_cases[] = {
        {0, 0, "none", 1},    {0.01, 0, "lt1", 2},    {0.99, 0, "lt1", 2},   {1, 0, "1to3", 3},
        {2.99, 0, "1to3", 3}, {3, 0, "ge3", 4},       {0.5, 0.5, "1to3", 3}, {2.5, 0.5, "ge3", 4},
        {0, 3, "ge3", 4},     {1.5, 1.49, "1to3", 3},
    };
    for (size_t i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
        json_t *out = score_obj(
            "gppaq", gppaq_in("sedentary", json_real(num_cases[i].ex), json_real(num_cases[i].cy)),
            0);
        assert_string_equal(json_string_value(json_object_get(out, "combined_hours")),
                            num_cases[i].combined);
        assert_int_equal(num(out, "score"), num_cases[i].pai);
        json_decref(out);
    }
    /* codes combine by their lower bounds: an ambiguous total gets the lower band */
    static const struct {
        const char *ex, *cy, *combined;
    } code_cases[] = {
        {"none", "none", "none"}, {"lt1", "lt1", "lt1"},  {"lt1", "1to3", "1to3"},
        {"1to3", "1to3", "1to3"}, {"ge3", "none", "ge3"}, {"none", "ge3", "ge3"},
        {"1to3", "ge3", "ge3"},   {"none", "lt1", "lt1"},
    };
    for (size_t i = 0; i < sizeof(code_cases) / sizeof(code_cases[0]); i++) {
        json_t *out = score_obj(
            "gppaq",
            gppaq_in("sedentary", json_string(code_cases[i].ex), json_string(code_cases[i].cy)), 0);
        assert_string_equal(json_string_value(json_object_get(out, "combined_hours")),
                            code_cases[i].combined);
        json_decref(out);
    }
    /* mixed: 2.5 h + "some but less than 1 hour" is more than 2.5 h: 1to3 */
    json_t *out = score_obj("gppaq", gppaq_in("sedentary", json_real(2.5), json_string("lt1")), 0);
    assert_string_equal(json_string_value(json_object_get(out, "combined_hours")), "1to3");
    json_decref(out);
    /* walking, housework, gardening and pace are recorded, not scored */
    out = score_ok("gppaq", "{\"occupation\":\"sedentary\",\"exercise_hours\":\"none\","
                            "\"cycling_hours\":\"none\",\"walking_hours\":\"ge3\","
                            "\"housework_hours\":5,\"gardening_hours\":\"1to3\","
                            "\"walking_pace\":\"brisk\"}");
    assert_string_equal(band(out), "inactive");
    assert_true(has_flag(out, "brief_intervention"));
    assert_int_equal(json_object_size(json_object_get(out, "raw")), 7);
    json_decref(out);

    expect_err("gppaq", "{\"occupation\":\"retired\",\"exercise_hours\":1,\"cycling_hours\":0}",
               "occupation", "not_employed");
    expect_err("gppaq",
               "{\"occupation\":\"standing\",\"exercise_hours\":\"lots\",\"cycling_hours\":0}",
               "exercise_hours", "none, lt1, 1to3, ge3");
    expect_err("gppaq", "{\"occupation\":\"standing\",\"exercise_hours\":-1,\"cycling_hours\":0}",
               "exercise_hours", "0 to 168");
    expect_err("gppaq", "{\"occupation\":\"standing\",\"exercise_hours\":1,\"cycling_hours\":169}",
               "cycling_hours", "0 to 168");
    expect_err("gppaq", "{\"occupation\":\"standing\",\"exercise_hours\":1}", "cycling_hours",
               "required");
}

static json_t *ipaq(int vd, int vm, int md, int mm, int wd, int wm)
{
    json_t *o = json_object();
    json_object_set_new(o, "vigorous_days", json_integer(vd));
    json_object_set_new(o, "vigorous_minutes", json_integer(vm));
    json_object_set_new(o, "moderate_days", json_integer(md));
    json_object_set_new(o, "moderate_minutes", json_integer(mm));
    json_object_set_new(o, "walking_days", json_integer(wd));
    json_object_set_new(o, "walking_minutes", json_integer(wm));
    return o;
}

static void test_ipaq(void **state)
{
    static const struct {
        int vd, vm, md, mm, wd, wm;
        double met;
        const char *band;
    } cases[] = {
        {0, 0, 0, 0, 0, 0, 0, "low"},
        /* high: vigorous >= 3 days and >= 1500 MET-min */
        {3, 50, 3, 25, 0, 0, 1500, "high"},
        {3, 50, 3, 24, 0, 0, 1488, "moderate"},
        /* high: 7+ days of any combination and >= 3000 */
        {1, 165, 7, 60, 0, 0, 3000, "high"},
        {1, 164, 7, 60, 0, 0, 2992, "moderate"},
        /* moderate: vigorous >= 20 min on >= 3 days */
        {3, 20, 0, 0, 0, 0, 480, "moderate"},
        {3, 19, 0, 0, 0, 0, 456, "low"},
        {2, 20, 0, 0, 0, 0, 320, "low"},
        /* moderate: moderate and/or walking >= 30 min on >= 5 days */
        {0, 0, 0, 0, 5, 30, 495, "moderate"},
        {0, 0, 0, 0, 5, 29, 478.5, "low"},
        {0, 0, 0, 0, 4, 30, 396, "low"},
        {0, 0, 5, 30, 0, 0, 600, "moderate"},
        {0, 0, 3, 30, 2, 30, 558, "moderate"},
        {0, 0, 3, 30, 2, 29, 551.4, "low"},
        /* moderate: any combination on >= 5 days reaching 600 */
        {2, 19, 3, 25, 0, 0, 604, "moderate"},
        {2, 19, 3, 24, 0, 0, 592, "low"},
        /* minutes per day over 180 are truncated to 180 */
        {0, 0, 0, 0, 7, 200, 4158, "high"},
        {0, 0, 0, 0, 7, 180, 4158, "high"},
        {3, 1440, 0, 0, 0, 0, 4320, "high"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = score_obj(
            "ipaq_short",
            ipaq(cases[i].vd, cases[i].vm, cases[i].md, cases[i].mm, cases[i].wd, cases[i].wm), 0);
        if (fabs(num(out, "met_minutes") - cases[i].met) > 1e-9 ||
            strcmp(band(out), cases[i].band) != 0) {
            print_error("ipaq case %zu: met %.2f band %s, want %.2f %s\n", i,
                        num(out, "met_minutes"), band(out), cases[i].met, cases[i].band);
            fail();
        }
        assert_true(fabs(num(out, "score") - cases[i].met) < 1e-9);
        json_decref(out);
    }
    json_t *out = score_obj("ipaq_short", ipaq(1, 30, 2, 45, 3, 20), 0);
    json_t *by = json_object_get(out, "met_minutes_by_type");
    assert_true(fabs(num(by, "vigorous") - 240) < 1e-9);
    assert_true(fabs(num(by, "moderate") - 360) < 1e-9);
    assert_true(fabs(num(by, "walking") - 198) < 1e-9);
    json_decref(out);

    /* minutes may be left out when days is 0, and are needed otherwise */
    out = score_ok("ipaq_short", "{\"vigorous_days\":0,\"moderate_days\":0,\"walking_days\":5,"
                                 "\"walking_minutes\":30}");
    assert_string_equal(band(out), "moderate");
    json_decref(out);
    expect_err("ipaq_short", "{\"vigorous_days\":2,\"moderate_days\":0,\"walking_days\":0}",
               "vigorous_minutes", "vigorous_days");
    out = score_obj("ipaq_short",
                    parse("{\"vigorous_days\":2,\"moderate_days\":0,\"walking_days\":0}"),
                    CB_MEASURE_ALLOW_INCOMPLETE);
    assert_true(json_is_false(json_object_get(out, "complete")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(out, "missing"), 0)),
                        "vigorous_minutes");
    json_decref(out);
    expect_err("ipaq_short",
               "{\"vigorous_days\":8,\"vigorous_minutes\":10,\"moderate_days\":0,"
               "\"walking_days\":0}",
               "vigorous_days", "0 to 7");
    expect_err("ipaq_short",
               "{\"vigorous_days\":1,\"vigorous_minutes\":1441,\"moderate_days\":0,"
               "\"walking_days\":0}",
               "vigorous_minutes", "0 to 1440");
    expect_err("ipaq_short", "{\"vigorous_days\":0,\"moderate_days\":0}", "walking_days",
               "required");
}

/* ------------------------------------------------------------------------ */
/* Alcohol and smoking                                                       */
/* ------------------------------------------------------------------------ */

static void test_audit_c(void **state)
{
    static const struct {
        int v[3];
        const char *band;
    } cases[] = {{{0, 0, 0}, "negative"}, {{4, 0, 0}, "negative"}, {{2, 2, 0}, "negative"},
                 {{4, 1, 0}, "positive"}, {{2, 2, 1}, "positive"}, {{4, 4, 4}, "positive"}};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = score_obj("audit_c", items(3, cases[i].v), 0);
        int total = cases[i].v[0] + cases[i].v[1] + cases[i].v[2];
        assert_int_equal(num(out, "score"), total);
        assert_string_equal(band(out), cases[i].band);
        assert_int_equal(has_flag(out, "audit_c_positive"), total >= 5);
        json_decref(out);
    }
    int bad[3] = {5, 0, 0};
    expect_err_obj("audit_c", items(3, bad), 0, "q1", "0 to 4");
    bad[0] = 0;
    bad[2] = -1;
    expect_err_obj("audit_c", items(3, bad), 0, "q3", "0 to 4");
}

static json_t *hsi_in(int minutes, int cpd)
{
    json_t *o = json_object();
    json_object_set_new(o, "minutes_to_first", json_integer(minutes));
    json_object_set_new(o, "cigarettes_per_day", json_integer(cpd));
    return o;
}

static void test_hsi(void **state)
{
    static const struct {
        int minutes, points;
    } tff[] = {{0, 3}, {5, 3}, {6, 2}, {30, 2}, {31, 1}, {60, 1}, {61, 0}, {1440, 0}};
    static const struct {
        int cpd, points;
    } cpd[] = {{1, 0}, {10, 0}, {11, 1}, {20, 1}, {21, 2}, {30, 2}, {31, 3}, {200, 3}};
    static const char *const bands[] = {"low",      "low",  "moderate", "moderate",
                                        "moderate", "high", "high"};
    (void)state;
    for (size_t i = 0; i < sizeof(tff) / sizeof(tff[0]); i++) {
        json_t *out = score_obj("hsi", hsi_in(tff[i].minutes, 1), 0);
        assert_int_equal(num(json_object_get(out, "points"), "minutes_to_first"), tff[i].points);
        assert_int_equal(num(out, "score"), tff[i].points);
        json_decref(out);
    }
    for (size_t i = 0; i < sizeof(cpd) / sizeof(cpd[0]); i++) {
        json_t *out = score_obj("hsi", hsi_in(61, cpd[i].cpd), 0);
        assert_int_equal(num(json_object_get(out, "points"), "cigarettes_per_day"), cpd[i].points);
        assert_int_equal(num(out, "score"), cpd[i].points);
        json_decref(out);
    }
    /* every total 0..6 and its band (boundaries 1/2 and 4/5) */
    static const struct {
        int minutes, cpd, total;
    } totals[] = {{61, 5, 0}, {31, 10, 1}, {30, 5, 2}, {30, 20, 3},
                  {6, 21, 4}, {5, 21, 5},  {5, 31, 6}};
    for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
        json_t *out = score_obj("hsi", hsi_in(totals[i].minutes, totals[i].cpd), 0);
        assert_int_equal(num(out, "score"), totals[i].total);
        assert_string_equal(band(out), bands[totals[i].total]);
        assert_string_equal(json_string_value(json_object_get(out, "banding")), "0-1/2-4/5-6");
        json_decref(out);
    }
    expect_err_obj("hsi", hsi_in(-1, 10), 0, "minutes_to_first", "0 to 1440");
    expect_err_obj("hsi", hsi_in(5, 0), 0, "cigarettes_per_day", "1 to 200");
    expect_err_obj("hsi", hsi_in(5, 201), 0, "cigarettes_per_day", "1 to 200");
}

static void test_smoking(void **state)
{
    (void)state;
    check_band("smoking", parse("{\"status\":\"never\"}"), "never_smoked", NULL, 0);
    check_band("smoking", parse("{\"status\":\"current\",\"co_ppm\":25}"), "current_smoker", NULL,
               0);
    check_band("smoking", parse("{\"status\":\"ex_smoker\",\"quit_date\":\"2019-05-01\"}"),
               "ex_smoker", NULL, 0);
    check_band("smoking", parse("{\"status\":\"quit_attempt\",\"quit_date\":\"2024-01-01\"}"),
               "awaiting_followup", "co_validated_quit", 0);

    /* CO < 10 ppm validates a self-reported quit; 10 does not */
#define QUIT_BASE                                                                                  \
    "{\"status\":\"quit_attempt\",\"quit_date\":\"2024-01-01\","                                   \
    "\"followup_date\":\"2024-01-29\",\"self_reported_quit\":%s%s}"
    char buf[300];
    snprintf(buf, sizeof(buf), QUIT_BASE, "true", ",\"co_ppm\":9");
    check_band("smoking", parse(buf), "quit_co_validated", "co_validated_quit", 1);
    snprintf(buf, sizeof(buf), QUIT_BASE, "true", ",\"co_ppm\":0");
    check_band("smoking", parse(buf), "quit_co_validated", "co_validated_quit", 1);
    snprintf(buf, sizeof(buf), QUIT_BASE, "true", ",\"co_ppm\":10");
    check_band("smoking", parse(buf), "quit_not_co_validated", "co_validated_quit", 0);
    snprintf(buf, sizeof(buf), QUIT_BASE, "true", "");
    check_band("smoking", parse(buf), "quit_self_reported", "co_validated_quit", 0);
    snprintf(buf, sizeof(buf), QUIT_BASE, "false", ",\"co_ppm\":3");
    check_band("smoking", parse(buf), "not_quit", "co_validated_quit", 0);
    snprintf(buf, sizeof(buf), QUIT_BASE, "\"yes\"", ",\"co_ppm\":\"4\"");
    check_band("smoking", parse(buf), "quit_co_validated", "co_validated_quit", 1);

    /* follow-up window: 25..42 days after the quit date */
    static const struct {
        const char *date;
        int days;
        const char *band;
    } window[] = {{"2024-01-25", 24, "outside_followup_window"},
                  {"2024-01-26", 25, "quit_co_validated"},
                  {"2024-02-12", 42, "quit_co_validated"},
                  {"2024-02-13", 43, "outside_followup_window"}};
    for (size_t i = 0; i < sizeof(window) / sizeof(window[0]); i++) {
        snprintf(buf, sizeof(buf),
                 "{\"status\":\"quit_attempt\",\"quit_date\":\"2024-01-01\","
                 "\"followup_date\":\"%s\",\"self_reported_quit\":true,\"co_ppm\":5}",
                 window[i].date);
        json_t *out = score_ok("smoking", buf);
        assert_int_equal(num(out, "days_to_followup"), window[i].days);
        assert_string_equal(band(out), window[i].band);
        assert_int_equal(has_flag(out, "co_validated_quit"),
                         strcmp(window[i].band, "quit_co_validated") == 0);
        assert_true(json_is_null(json_object_get(out, "score")));
        json_decref(out);
    }

    expect_err("smoking", "{}", "status", "required");
    expect_err("smoking", "{\"status\":\"sometimes\"}", "status", "quit_attempt");
    expect_err("smoking", "{\"status\":\"quit_attempt\"}", "quit_date", "required");
    expect_err("smoking", "{\"status\":\"never\",\"quit_date\":\"2024-01-01\"}", "quit_date", NULL);
    expect_err("smoking", "{\"status\":\"current\",\"followup_date\":\"2024-01-01\"}",
               "followup_date", NULL);
    expect_err("smoking", "{\"status\":\"ex_smoker\",\"self_reported_quit\":true}",
               "self_reported_quit", NULL);
    expect_err("smoking",
               "{\"status\":\"quit_attempt\",\"quit_date\":\"2024-01-01\","
               "\"self_reported_quit\":true}",
               "followup_date", "required");
    expect_err("smoking",
               "{\"status\":\"quit_attempt\",\"quit_date\":\"2024-01-01\","
               "\"followup_date\":\"2024-01-29\"}",
               "self_reported_quit", "required");
    expect_err("smoking",
               "{\"status\":\"quit_attempt\",\"quit_date\":\"2024-02-01\","
               "\"followup_date\":\"2024-01-29\",\"self_reported_quit\":true}",
               "followup_date", "before");
    expect_err("smoking", "{\"status\":\"quit_attempt\",\"quit_date\":\"2024-02-30\"}", "quit_date",
               "YYYY-MM-DD");
    expect_err("smoking", "{\"status\":\"quit_attempt\",\"quit_date\":\"2024-1-01\"}", "quit_date",
               NULL);
    expect_err("smoking", "{\"status\":\"quit_attempt\",\"quit_date\":20240101}", "quit_date",
               NULL);
    expect_err("smoking", "{\"status\":\"current\",\"co_ppm\":201}", "co_ppm", "0 to 200");
    expect_err("smoking", "{\"status\":\"current\",\"co_ppm\":9.5}", "co_ppm", "whole number");
    expect_err("smoking",
               "{\"status\":\"quit_attempt\",\"quit_date\":\"2024-01-01\","
               "\"followup_date\":\"2024-01-29\",\"self_reported_quit\":\"maybe\"}",
               "self_reported_quit", "true or false");
}

static void test_dates(void **state)
{
    static const char *const good[] = {"2024-02-29", "2000-02-29", "1900-01-01", "2199-12-31",
                                       "2023-12-31"};
    static const char *const bad[] = {"2023-02-29", "1900-02-29", "1899-12-31",       "2200-01-01",
                                      "2024-00-10", "2024-13-01", "2024-04-31",       "2024-01-00",
                                      "2024/01/01", "24-01-01",   "2024-01-01T00:00", ""};
    char buf[128];
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"score\":5,\"date\":\"%s\",\"source\":\"GP record\"}",
                 good[i]);
        json_decref(score_ok("qrisk", buf));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"score\":5,\"date\":\"%s\",\"source\":\"GP record\"}",
                 bad[i]);
        expect_err("qrisk", buf, "date", NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* Body measures and cardiovascular risk                                     */
/* ------------------------------------------------------------------------ */

static json_t *bmi_in(double height, double weight, const char *ethnic)
{
    json_t *o = json_object();
    json_object_set_new(o, "height_cm", json_real(height));
    json_object_set_new(o, "weight_kg", json_real(weight));
    if (ethnic) {
        json_object_set_new(o, "ethnic_group", json_string(ethnic));
    }
    return o;
}

static void check_bmi(double weight_at_2m, const char *ethnic, double want_bmi,
                      const char *want_band, const char *want_thresholds)
{
    json_t *out = score_obj("bmi", bmi_in(200, weight_at_2m, ethnic), 0);
    if (fabs(num(out, "bmi") - want_bmi) > 1e-9 || strcmp(band(out), want_band) != 0) {
        print_error("bmi %.2f kg at 2 m (%s): got %.4f %s, want %.1f %s\n", weight_at_2m,
                    ethnic ? ethnic : "-", num(out, "bmi"), band(out), want_bmi, want_band);
        fail();
    }
    assert_true(fabs(num(out, "score") - want_bmi) < 1e-9);
    assert_string_equal(json_string_value(json_object_get(out, "thresholds")), want_thresholds);
    json_decref(out);
}

static void test_bmi_standard(void **state)
{
    /* At 2 m, BMI = weight / 4. */
    static const struct {
        double weight, bmi;
        const char *band;
    } cases[] = {
        {73.6, 18.4, "underweight"},
        {74.0, 18.5, "healthy"},
        {99.6, 24.9, "healthy"},
        {100.0, 25.0, "overweight"},
        {119.6, 29.9, "overweight"},
        {120.0, 30.0, "obesity_1"},
        {139.6, 34.9, "obesity_1"},
        {140.0, 35.0, "obesity_2"},
        {159.6, 39.9, "obesity_2"},
        {160.0, 40.0, "obesity_3"},
        {400.0, 100.0, "obesity_3"},
        /* rounding: banded on the 1 dp value that is shown */
        {99.8, 25.0, "overweight"},
        {99.76, 24.9, "healthy"},
        {73.8, 18.5, "healthy"},
        {73.79, 18.4, "underweight"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_bmi(cases[i].weight, NULL, cases[i].bmi, cases[i].band, "standard");
        check_bmi(cases[i].weight, "white_british", cases[i].bmi, cases[i].band, "standard");
        check_bmi(cases[i].weight, "not_stated", cases[i].bmi, cases[i].band, "standard");
    }
    /* an everyday example: 70 kg, 175 cm -> 22.857 -> 22.9 */
    json_t *out = score_obj("bmi", bmi_in(175, 70, NULL), 0);
    assert_true(fabs(num(out, "bmi") - 22.9) < 1e-9);
    assert_string_equal(band(out), "healthy");
    json_decref(out);
}

static void test_bmi_lower_thresholds(void **state)
{
    static const struct {
        double weight, bmi;
        const char *band;
    } cases[] = {
        {73.6, 18.4, "underweight"}, {74.0, 18.5, "healthy"},     {91.6, 22.9, "healthy"},
        {92.0, 23.0, "overweight"},  {109.6, 27.4, "overweight"}, {110.0, 27.5, "obesity"},
        {160.0, 40.0, "obesity"},    {91.8, 23.0, "overweight"},  {91.78, 22.9, "healthy"},
    };
    (void)state;
    for (size_t g = 0; g < CB_ETHNIC_GROUP_COUNT; g++) {
        const struct cb_ethnic_group *eg = &cb_ethnic_groups[g];
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            if (eg->lower_bmi_thresholds) {
                check_bmi(cases[i].weight, eg->code, cases[i].bmi, cases[i].band,
                          "south_asian_etc");
            }
        }
        /* 24 is overweight on the lower thresholds, healthy on the standard */
        check_bmi(96.0, eg->code, 24.0, eg->lower_bmi_thresholds ? "overweight" : "healthy",
                  eg->lower_bmi_thresholds ? "south_asian_etc" : "standard");
    }
}

static void test_bmi_validation(void **state)
{
    (void)state;
    json_decref(score_obj("bmi", bmi_in(50, 20, NULL), 0));
    json_decref(score_obj("bmi", bmi_in(250, 400, NULL), 0));
    expect_err_obj("bmi", bmi_in(49.9, 60, NULL), 0, "height_cm", "50 to 250 cm");
    expect_err_obj("bmi", bmi_in(250.1, 60, NULL), 0, "height_cm", "50 to 250 cm");
    expect_err_obj("bmi", bmi_in(170, 19.9, NULL), 0, "weight_kg", "20 to 400 kg");
    expect_err_obj("bmi", bmi_in(170, 400.1, NULL), 0, "weight_kg", "20 to 400 kg");
    expect_err_obj("bmi", bmi_in(170, 70, "asian"), 0, "ethnic_group", "ethnic group");
    expect_err_obj("bmi", bmi_in(170, 70, "Asian_Indian"), 0, "ethnic_group", NULL);
    expect_err("bmi", "{\"height_cm\":\"tall\",\"weight_kg\":70}", "height_cm", NULL);
    expect_err("bmi", "{\"height_cm\":1.7,\"weight_kg\":70}", "height_cm", "50 to 250");
    expect_err("bmi", "{\"weight_kg\":70}", "height_cm", "required");
    expect_err("bmi", "{\"height_cm\":170}", "weight_kg", "required");
    expect_err("bmi", "{\"height_cm\":170,\"weight_kg\":70,\"ethnic_group\":7}", "ethnic_group",
               NULL);
    /* strings from the CLI/forms */
    json_t *out = score_ok("bmi", "{\"height_cm\":\"200\",\"weight_kg\":\"100.0\"}");
    assert_string_equal(band(out), "overweight");
    json_decref(out);
}

static void test_ethnic_groups(void **state)
{
    static const char *const lower[] = {"asian_bangladeshi",
                                        "asian_chinese",
                                        "asian_indian",
                                        "asian_pakistani",
                                        "asian_other",
                                        "black_african",
                                        "black_caribbean",
                                        "black_other",
                                        "mixed_white_asian",
                                        "mixed_white_black_african",
                                        "mixed_white_black_caribbean",
                                        "other_arab"};
    static const char *const standard[] = {
        "mixed_other", "white_british", "white_irish", "white_gypsy_traveller",
        "white_roma",  "white_other",   "other_any",   "not_stated"};
    (void)state;
    assert_int_equal(CB_ETHNIC_GROUP_COUNT, 20);
    assert_int_equal(sizeof(lower) / sizeof(lower[0]) + sizeof(standard) / sizeof(standard[0]),
                     CB_ETHNIC_GROUP_COUNT);
    for (size_t i = 0; i < CB_ETHNIC_GROUP_COUNT; i++) {
        assert_true(cb_ethnic_group_valid(cb_ethnic_groups[i].code));
        assert_non_null(cb_ethnic_groups[i].label);
        assert_non_null(cb_ethnic_groups[i].group);
        assert_string_equal(cb_ethnic_group_label(cb_ethnic_groups[i].code),
                            cb_ethnic_groups[i].label);
        for (size_t j = i + 1; j < CB_ETHNIC_GROUP_COUNT; j++) {
            assert_string_not_equal(cb_ethnic_groups[i].code, cb_ethnic_groups[j].code);
        }
    }
    for (size_t i = 0; i < sizeof(lower) / sizeof(lower[0]); i++) {
        assert_true(cb_ethnic_group_valid(lower[i]));
        assert_true(cb_ethnic_group_lower_bmi_thresholds(lower[i]));
    }
    for (size_t i = 0; i < sizeof(standard) / sizeof(standard[0]); i++) {
        assert_true(cb_ethnic_group_valid(standard[i]));
        assert_false(cb_ethnic_group_lower_bmi_thresholds(standard[i]));
    }
    assert_string_equal(cb_ethnic_groups[CB_ETHNIC_GROUP_COUNT - 1].code, "not_stated");
    assert_false(cb_ethnic_group_valid(NULL));
    assert_false(cb_ethnic_group_valid(""));
    assert_false(cb_ethnic_group_valid("Asian_Indian"));
    assert_false(cb_ethnic_group_lower_bmi_thresholds(NULL));
    assert_false(cb_ethnic_group_lower_bmi_thresholds("martian"));
    assert_null(cb_ethnic_group_label("martian"));
}

static void test_whtr(void **state)
{
    static const struct {
        double waist, ratio;
        const char *band;
    } cases[] = {
        {78, 0.39, "below_range"},       {80, 0.40, "healthy"},         {98, 0.49, "healthy"},
        {100, 0.50, "increased_risk"},   {118, 0.59, "increased_risk"}, {120, 0.60, "high_risk"},
        {99, 0.50, "increased_risk"},    {98.9, 0.49, "healthy"},       {119, 0.60, "high_risk"},
        {118.9, 0.59, "increased_risk"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = json_object();
        json_object_set_new(in, "waist_cm", json_real(cases[i].waist));
        json_object_set_new(in, "height_cm", json_integer(200));
        json_t *out = score_obj("whtr", in, 0);
        assert_true(fabs(num(out, "score") - cases[i].ratio) < 1e-9);
        assert_string_equal(band(out), cases[i].band);
        json_decref(out);
    }
    expect_err("whtr", "{\"waist_cm\":29.9,\"height_cm\":170}", "waist_cm", "30 to 250 cm");
    expect_err("whtr", "{\"waist_cm\":80,\"height_cm\":251}", "height_cm", "50 to 250 cm");
    expect_err("whtr", "{\"waist_cm\":80}", "height_cm", "required");
}

static json_t *bp_in(int sys, int dia, int standing)
{
    json_t *o = json_object();
    json_object_set_new(o, "systolic", json_integer(sys));
    json_object_set_new(o, "diastolic", json_integer(dia));
    if (standing) {
        json_object_set_new(o, "standing_systolic", json_integer(standing));
    }
    return o;
}

static void test_bp(void **state)
{
    static const struct {
        int sys, dia, stage;
        const char *band;
    } cases[] = {
        /* systolic edges with a normal diastolic */
        {139, 80, 0, "normal_range"},
        {140, 80, 1, "stage_1"},
        {159, 80, 1, "stage_1"},
        {160, 80, 2, "stage_2"},
        {179, 80, 2, "stage_2"},
        {180, 80, 3, "severe"},
        /* diastolic edges with a normal systolic */
        {130, 89, 0, "normal_range"},
        {130, 90, 1, "stage_1"},
        {130, 99, 1, "stage_1"},
        {130, 100, 2, "stage_2"},
        {130, 119, 2, "stage_2"},
        {130, 120, 3, "severe"},
        /* the higher of the two categories */
        {165, 95, 2, "stage_2"},
        {145, 105, 2, "stage_2"},
        {150, 125, 3, "severe"},
        {185, 60, 3, "severe"},
        {100, 60, 0, "normal_range"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = score_obj("bp", bp_in(cases[i].sys, cases[i].dia, 0), 0);
        assert_int_equal(num(out, "stage"), cases[i].stage);
        assert_string_equal(band(out), cases[i].band);
        assert_int_equal(has_flag(out, "urgent_same_day"), cases[i].stage == 3);
        assert_false(has_flag(out, "postural_hypotension"));
        assert_null(json_object_get(out, "postural_drop"));
        json_decref(out);
    }
    /* postural drop: 20 mmHg or more flags */
    json_t *out = score_obj("bp", bp_in(130, 80, 111), 0);
    assert_int_equal(num(out, "postural_drop"), 19);
    assert_false(has_flag(out, "postural_hypotension"));
    json_decref(out);
    out = score_obj("bp", bp_in(130, 80, 110), 0);
    assert_int_equal(num(out, "postural_drop"), 20);
    assert_true(has_flag(out, "postural_hypotension"));
    assert_false(has_flag(out, "urgent_same_day"));
    json_decref(out);
    out = score_obj("bp", bp_in(130, 80, 140), 0);
    assert_int_equal(num(out, "postural_drop"), -10);
    assert_false(has_flag(out, "postural_hypotension"));
    json_decref(out);

    expect_err_obj("bp", bp_in(49, 30, 0), 0, "systolic", "50 to 300 mmHg");
    expect_err_obj("bp", bp_in(301, 80, 0), 0, "systolic", "50 to 300 mmHg");
    expect_err_obj("bp", bp_in(120, 19, 0), 0, "diastolic", "20 to 200 mmHg");
    expect_err_obj("bp", bp_in(250, 201, 0), 0, "diastolic", "20 to 200 mmHg");
    expect_err_obj("bp", bp_in(80, 120, 0), 0, "diastolic", "lower than systolic");
    expect_err_obj("bp", bp_in(120, 120, 0), 0, "diastolic", "lower than systolic");
    expect_err_obj("bp", bp_in(120, 80, 49), 0, "standing_systolic", "50 to 300");
    expect_err("bp", "{\"systolic\":120.5,\"diastolic\":80}", "systolic", "whole number");
    expect_err("bp", "{\"systolic\":120}", "diastolic", "required");
}

static void test_qrisk(void **state)
{
    (void)state;
    json_t *out =
        score_ok("qrisk", "{\"score\":12.3,\"date\":\"2024-03-01\",\"source\":\"GP record\"}");
    assert_true(fabs(num(out, "score") - 12.3) < 1e-9);
    assert_true(json_is_null(json_object_get(out, "band")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "raw"), "source")),
                        "GP record");
    json_decref(out);
    out = score_ok("qrisk", "{\"score\":0,\"date\":\"2024-03-01\",\"source\":\"GP\"}");
    json_decref(out);
    expect_err("qrisk", "{\"score\":100.1,\"date\":\"2024-03-01\",\"source\":\"GP\"}", "score",
               "0 to 100");
    expect_err("qrisk", "{\"score\":-1,\"date\":\"2024-03-01\",\"source\":\"GP\"}", "score", NULL);
    expect_err("qrisk", "{\"score\":10,\"source\":\"GP\"}", "date", "required");
    expect_err("qrisk", "{\"score\":10,\"date\":\"2024-03-01\"}", "source", "required");
    expect_err("qrisk", "{\"score\":10,\"date\":\"2024-03-01\",\"source\":\"\"}", "source", NULL);
    expect_err("qrisk", "{\"score\":10,\"date\":\"2024-03-01\",\"source\":\"GP\\nrecord\"}",
               "source", "one line");
    expect_err("qrisk", "{\"score\":10,\"date\":\"2024-03-01\",\"source\":42}", "source", NULL);
    char buf[256];
    char src[102];
    memset(src, 'x', 101);
    src[101] = '\0';
    snprintf(buf, sizeof(buf), "{\"score\":10,\"date\":\"2024-03-01\",\"source\":\"%s\"}", src);
    expect_err("qrisk", buf, "source", "100");
    src[100] = '\0';
    snprintf(buf, sizeof(buf), "{\"score\":10,\"date\":\"2024-03-01\",\"source\":\"%s\"}", src);
    json_decref(score_ok("qrisk", buf));
}

/* ------------------------------------------------------------------------ */
/* Frailty and falls                                                         */
/* ------------------------------------------------------------------------ */

static void test_cfs(void **state)
{
    static const char *const levels[] = {"",
                                         "very_fit",
                                         "fit",
                                         "managing_well",
                                         "living_with_very_mild_frailty",
                                         "living_with_mild_frailty",
                                         "living_with_moderate_frailty",
                                         "living_with_severe_frailty",
                                         "living_with_very_severe_frailty",
                                         "terminally_ill"};
    char buf[32];
    (void)state;
    for (int level = 1; level <= 9; level++) {
        snprintf(buf, sizeof(buf), "{\"level\":%d}", level);
        json_t *out = score_ok("cfs", buf);
        assert_int_equal(num(out, "score"), level);
        assert_true(json_is_integer(json_object_get(out, "score")));
        assert_string_equal(band(out), levels[level]);
        assert_non_null(
            strstr(json_string_value(json_object_get(out, "notice")), "Clinical Frailty Scale"));
        json_decref(out);
    }
    expect_err("cfs", "{\"level\":0}", "level", "1 to 9");
    expect_err("cfs", "{\"level\":10}", "level", "1 to 9");
    expect_err("cfs", "{\"level\":4.5}", "level", NULL);
    expect_err("cfs", "{}", "level", "required");
}

static void test_tug(void **state)
{
    static const struct {
        double seconds, shown;
        int flagged;
    } cases[] = {
        {1, 1.0, 0},   {11.9, 11.9, 0}, {11.94, 11.9, 0}, {11.95, 12.0, 1},
        {12, 12.0, 1}, {12.1, 12.1, 1}, {30, 30.0, 1},    {300, 300.0, 1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *in = json_object();
        json_object_set_new(in, "seconds", json_real(cases[i].seconds));
        json_t *out = score_obj("tug", in, 0);
        assert_true(fabs(num(out, "score") - cases[i].shown) < 1e-9);
        assert_int_equal(has_flag(out, "falls_risk"), cases[i].flagged);
        assert_string_equal(band(out), cases[i].flagged ? "raised_falls_risk" : "below_threshold");
        json_decref(out);
    }
    expect_err("tug", "{\"seconds\":0.5}", "seconds", "1 to 300 seconds");
    expect_err("tug", "{\"seconds\":300.5}", "seconds", "1 to 300 seconds");
    expect_err("tug", "{\"seconds\":\"slow\"}", "seconds", NULL);
}

static void test_bowel_screening(void **state)
{
    static const char *const statuses[] = {"not_yet_eligible", "kit_not_received",
                                           "kit_received_not_returned", "kit_returned", "declined"};
    char buf[256];
    (void)state;
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"status\":\"%s\",\"status_date\":\"2024-05-01\"}",
                 statuses[i]);
        json_t *out = score_ok("bowel_screening", buf);
        assert_string_equal(band(out), statuses[i]);
        assert_true(json_is_null(json_object_get(out, "score")));
        assert_int_equal(n_flags(out), 0);
        json_decref(out);
    }
    check_band("bowel_screening",
               parse("{\"status\":\"kit_returned\",\"kit_received_date\":\"2024-05-01\","
                     "\"kit_returned_date\":\"2024-05-01\",\"after_support\":true}"),
               "kit_returned", "kit_returned_after_support", 1);
    check_band("bowel_screening", parse("{\"status\":\"kit_returned\",\"after_support\":false}"),
               "kit_returned", "kit_returned_after_support", 0);
    check_band(
        "bowel_screening",
        parse("{\"status\":\"kit_received_not_returned\",\"kit_received_date\":\"2024-05-01\"}"),
        "kit_received_not_returned", NULL, 0);
    expect_err("bowel_screening", "{\"status\":\"lost\"}", "status", "kit_returned");
    expect_err("bowel_screening", "{}", "status", "required");
    expect_err("bowel_screening", "{\"status\":\"declined\",\"kit_returned_date\":\"2024-05-01\"}",
               "kit_returned_date", NULL);
    expect_err("bowel_screening",
               "{\"status\":\"not_yet_eligible\",\"kit_received_date\":\"2024-05-01\"}",
               "kit_received_date", NULL);
    expect_err("bowel_screening", "{\"status\":\"declined\",\"after_support\":true}",
               "after_support", NULL);
    expect_err("bowel_screening",
               "{\"status\":\"kit_returned\",\"kit_received_date\":\"2024-05-02\","
               "\"kit_returned_date\":\"2024-05-01\"}",
               "kit_returned_date", "before");
    expect_err("bowel_screening", "{\"status\":\"kit_returned\",\"status_date\":\"yesterday\"}",
               "status_date", NULL);
}

/* ------------------------------------------------------------------------ */
/* Text values and the CLI                                                   */
/* ------------------------------------------------------------------------ */

static void test_value_from_text(void **state)
{
    static const struct {
        const char *text;
        int type; /* JSON_INTEGER, JSON_REAL, JSON_STRING */
        double value;
    } cases[] = {
        {"3", JSON_INTEGER, 3},         {"-12", JSON_INTEGER, -12},
        {"+7", JSON_INTEGER, 7},        {"0", JSON_INTEGER, 0},
        {"3.5", JSON_REAL, 3.5},        {"1e3", JSON_REAL, 1000},
        {"1.", JSON_REAL, 1},           {".5", JSON_REAL, 0.5},
        {"abc", JSON_STRING, 0},        {"", JSON_STRING, 0},
        {" 3", JSON_STRING, 0},         {"3 ", JSON_STRING, 0},
        {"0x10", JSON_STRING, 0},       {"nan", JSON_STRING, 0},
        {"inf", JSON_STRING, 0},        {"1to3", JSON_STRING, 0},
        {"2024-01-01", JSON_STRING, 0}, {"-", JSON_STRING, 0},
        {"1e999", JSON_STRING, 0},      {"e5", JSON_STRING, 0},
        {"lt1", JSON_STRING, 0},        {"99999999999999999999", JSON_REAL, 1e20},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = NULL;
        assert_int_equal(cb_measure_value_from_text(cases[i].text, &v), 0);
        assert_non_null(v);
        if ((int)json_typeof(v) != cases[i].type) {
            print_error("'%s': type %d, want %d\n", cases[i].text, json_typeof(v), cases[i].type);
            fail();
        }
        if (cases[i].type == JSON_STRING) {
            assert_string_equal(json_string_value(v), cases[i].text);
        } else {
            assert_true(fabs(json_number_value(v) - cases[i].value) <
                        1e-9 * fabs(cases[i].value) + 1e-12);
        }
        json_decref(v);
    }
}

struct captured {
    int rc;
    char out[8192];
    char err[1024];
};

static void slurp(FILE *f, char *buf, size_t size)
{
    size_t n;
    rewind(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
}

/* Run cb_measures_cli("score", args...) with stdout and stderr captured. */
static void run_cli(struct captured *c, int nargs, const char *const *args)
{
    char *argv[32];
    FILE *o = tmpfile(), *e = tmpfile();
    assert_true(nargs < 31);
    assert_non_null(o);
    assert_non_null(e);
    argv[0] = strdup("score");
    for (int i = 0; i < nargs; i++) {
        argv[i + 1] = strdup(args[i]);
    }
    argv[nargs + 1] = NULL;
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    c->rc = cb_measures_cli(nargs + 1, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    slurp(o, c->out, sizeof(c->out));
    slurp(e, c->err, sizeof(c->err));
    fclose(o);
    fclose(e);
    for (int i = 0; i <= nargs; i++) {
        free(argv[i]);
    }
}

static void test_cli(void **state)
{
    struct captured c;
    (void)state;

    const char *const ok[] = {"swemwbs", "q1=3", "q2=3", "q3=3", "q4=3", "q5=3", "q6=3", "q7=4"};
    run_cli(&c, 8, ok);
    assert_int_equal(c.rc, 0);
    assert_string_equal(c.err, "");
    /* exactly one JSON object on one line */
    assert_non_null(strchr(c.out, '\n'));
    assert_int_equal(strchr(c.out, '\n')[1], '\0');
    json_t *out = parse(c.out);
    assert_string_equal(json_string_value(json_object_get(out, "instrument")), "swemwbs");
    assert_true(fabs(num(out, "score") - 19.98) < 1e-9);
    assert_true(json_is_null(json_object_get(out, "band")));
    assert_non_null(strstr(c.out, "\"score\":19.98,"));
    json_decref(out);

    const char *const bmi_args[] = {"bmi", "height_cm=175", "weight_kg=72.0",
                                    "ethnic_group=asian_pakistani"};
    run_cli(&c, 4, bmi_args);
    assert_int_equal(c.rc, 0);
    out = parse(c.out);
    assert_string_equal(band(out), "overweight");
    assert_non_null(strstr(c.out, "\"bmi\":23.5"));
    json_decref(out);

    const char *const bad[] = {"phq9", "q1=1", "q2=0", "q3=2", "q4=1",
                               "q5=0", "q6=0", "q7=1", "q8=0", "q9=7"};
    run_cli(&c, 10, bad);
    assert_int_equal(c.rc, 2);
    assert_string_equal(c.out, "");
    assert_non_null(strstr(c.err, "q9"));
    assert_non_null(strstr(c.err, "0 to 3"));

    const char *const missing[] = {"gad7", "q1=1"};
    run_cli(&c, 2, missing);
    assert_int_equal(c.rc, 2);
    assert_non_null(strstr(c.err, "q2"));

    const char *const incomplete[] = {"--allow-incomplete", "gad7", "q1=1"};
    run_cli(&c, 3, incomplete);
    assert_int_equal(c.rc, 0);
    out = parse(c.out);
    assert_true(json_is_false(json_object_get(out, "complete")));
    json_decref(out);

    const char *const unknown_key[] = {"cfs", "level=3", "colour=blue"};
    run_cli(&c, 3, unknown_key);
    assert_int_equal(c.rc, 2);
    assert_non_null(strstr(c.err, "colour"));

    const char *const unknown[] = {"fitness", "a=1"};
    run_cli(&c, 2, unknown);
    assert_int_equal(c.rc, 2);
    assert_non_null(strstr(c.err, "fitness"));
    assert_string_equal(c.out, "");

    const char *const no_eq[] = {"cfs", "level"};
    run_cli(&c, 2, no_eq);
    assert_int_equal(c.rc, 2);
    assert_non_null(strstr(c.err, "KEY=VALUE"));

    const char *const dup_key[] = {"cfs", "level=3", "level=4"};
    run_cli(&c, 3, dup_key);
    assert_int_equal(c.rc, 2);
    assert_non_null(strstr(c.err, "level"));

    const char *const text_val[] = {"smoking",
                                    "status=quit_attempt",
                                    "quit_date=2024-01-01",
                                    "followup_date=2024-01-29",
                                    "self_reported_quit=yes",
                                    "co_ppm=9"};
    run_cli(&c, 6, text_val);
    assert_int_equal(c.rc, 0);
    out = parse(c.out);
    assert_true(has_flag(out, "co_validated_quit"));
    json_decref(out);

    const char *const list[] = {"--list"};
    run_cli(&c, 1, list);
    assert_int_equal(c.rc, 0);
    assert_non_null(strstr(c.out, "swemwbs"));
    assert_non_null(strstr(c.out, "bowel_screening"));
    assert_non_null(strstr(c.out, "SWEMWBS \xC2\xA9 University of Warwick"));

    const char *const describe[] = {"--describe", "ipaq_short"};
    run_cli(&c, 2, describe);
    assert_int_equal(c.rc, 0);
    out = parse(c.out);
    assert_string_equal(json_string_value(json_object_get(out, "id")), "ipaq_short");
    json_decref(out);

    const char *const describe_bad[] = {"--describe", "nope"};
    run_cli(&c, 2, describe_bad);
    assert_int_equal(c.rc, 2);

    const char *const help[] = {"--help"};
    run_cli(&c, 1, help);
    assert_int_equal(c.rc, 0);
    assert_non_null(strstr(c.out, "usage"));

    run_cli(&c, 0, NULL);
    assert_int_equal(c.rc, 2);
    assert_non_null(strstr(c.err, "usage"));

    const char *const bad_opt[] = {"--frobnicate"};
    run_cli(&c, 1, bad_opt);
    assert_int_equal(c.rc, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_metadata),
        cmocka_unit_test(test_output_shape),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_swemwbs_every_raw_score),
        cmocka_unit_test(test_wemwbs),
        cmocka_unit_test(test_ons4_every_value),
        cmocka_unit_test(test_phq9_bands_and_safeguarding),
        cmocka_unit_test(test_gad7_bands),
        cmocka_unit_test(test_gppaq_index),
        cmocka_unit_test(test_ipaq),
        cmocka_unit_test(test_audit_c),
        cmocka_unit_test(test_hsi),
        cmocka_unit_test(test_smoking),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_bmi_standard),
        cmocka_unit_test(test_bmi_lower_thresholds),
        cmocka_unit_test(test_bmi_validation),
        cmocka_unit_test(test_ethnic_groups),
        cmocka_unit_test(test_whtr),
        cmocka_unit_test(test_bp),
        cmocka_unit_test(test_qrisk),
        cmocka_unit_test(test_cfs),
        cmocka_unit_test(test_tug),
        cmocka_unit_test(test_bowel_screening),
        cmocka_unit_test(test_value_from_text),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
