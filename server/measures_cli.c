/*
 * measures_cli.c - `coachbox score INSTRUMENT KEY=VALUE ...`.
 *
 * The KEY=VALUE pairs become one JSON object (numbers where a value is fully
 * a decimal number, otherwise strings) scored by cb_measure_score(), so the
 * CLI and the HTTP API share one code path.
 */
#include "coachbox/measures.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

static void usage(FILE *to)
{
    fputs("usage: coachbox score [--allow-incomplete] INSTRUMENT KEY=VALUE ...\n"
          "       coachbox score --list\n"
          "       coachbox score --describe INSTRUMENT\n"
          "Scores one outcome measure and prints the result as one JSON object.\n"
          "Questionnaire items are q1..qN in published order, e.g.\n"
          "  coachbox score phq9 q1=1 q2=0 q3=2 q4=1 q5=0 q6=0 q7=1 q8=0 q9=0\n"
          "Exit status: 0 scored, 2 invalid input or unknown instrument, 1 other error.\n",
          to);
}

/* Print a new JSON value on stdout and release it; 0 or 1 (output error). */
static int print_json(json_t *value)
{
    char *text = json_dumps(value, CLI_JSON_FLAGS);
    int rc = 0;
    json_decref(value);
    if (!text) {
        fputs("coachbox score: out of memory\n", stderr);
        return 1;
    }
    if (puts(text) == EOF || fflush(stdout) == EOF) {
        fputs("coachbox score: cannot write the result\n", stderr);
        rc = 1;
    }
    free(text);
    return rc;
}

static int list_instruments(void)
{
    const char *const *ids;
    size_t n;
    cb_measure_list(&ids, &n);
    for (size_t i = 0; i < n; i++) {
        const char *notice = cb_measure_notice(ids[i]);
        if (printf("%-16s %-18s %s%s%s\n", ids[i], cb_measure_rule_version(ids[i]),
                   cb_measure_title(ids[i]), notice ? " - " : "", notice ? notice : "") < 0) {
            return 1;
        }
    }
    return fflush(stdout) == EOF ? 1 : 0;
}

static int fail_code(int rc, const struct cb_field_error *fe)
{
    if (rc == CB_EINVAL) {
        fprintf(stderr, "coachbox score: %s: %s\n", fe->field, fe->message);
        return 2;
    }
    fprintf(stderr, "coachbox score: %s\n", cb_strerror(rc));
    return 1;
}

/* Build the inputs object from KEY=VALUE words; 0, 2 (bad word) or 1. */
static int build_inputs(int argc, char **argv, json_t *inputs)
{
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i];
        const char *eq = strchr(word, '=');
        char key[96];
        json_t *value;
        if (!eq || eq == word) {
            fprintf(stderr, "coachbox score: expected KEY=VALUE, got \"%s\"\n", word);
            return 2;
        }
        if ((size_t)(eq - word) >= sizeof(key)) {
            fprintf(stderr, "coachbox score: key too long in \"%.40s...\"\n", word);
            return 2;
        }
        memcpy(key, word, (size_t)(eq - word));
        key[eq - word] = '\0';
        if (json_object_get(inputs, key)) {
            fprintf(stderr, "coachbox score: %s: given more than once\n", key);
            return 2;
        }
        int vrc = cb_measure_value_from_text(eq + 1, &value);
        if (vrc == CB_EINVAL) {
            fprintf(stderr, "coachbox score: %s: the value is not UTF-8 text\n", key);
            return 2;
        }
        if (vrc != 0 || json_object_set_new(inputs, key, value) != 0) {
            fputs("coachbox score: out of memory\n", stderr);
            return 1;
        }
    }
    return 0;
}

int cb_measures_cli(int argc, char **argv)
{
    struct cb_field_error fe = {{0}, {0}};
    unsigned flags = 0;
    int i = 1;
    json_t *inputs, *out;
    int rc;

    assert(argc >= 1 && argv);
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            return list_instruments();
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--allow-incomplete") == 0) {
            flags |= CB_MEASURE_ALLOW_INCOMPLETE;
        } else if (strcmp(argv[i], "--describe") == 0) {
            if (i + 1 >= argc) {
                fputs("coachbox score: --describe needs an INSTRUMENT\n", stderr);
                return 2;
            }
            rc = cb_measure_describe(argv[i + 1], &out, &fe);
            if (rc) {
                fprintf(stderr, "coachbox score: unknown instrument \"%s\" (see --list)\n",
                        argv[i + 1]);
                return rc == CB_EINVAL ? 2 : 1;
            }
            return print_json(out);
        } else {
            fprintf(stderr, "coachbox score: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *instrument = argv[i++];
    if (!cb_measure_known(instrument)) {
        fprintf(stderr, "coachbox score: unknown instrument \"%s\" (see coachbox score --list)\n",
                instrument);
        return 2;
    }
    inputs = json_object();
    if (!inputs) {
        fputs("coachbox score: out of memory\n", stderr);
        return 1;
    }
    rc = build_inputs(argc - i, argv + i, inputs);
    if (rc) {
        json_decref(inputs);
        return rc;
    }
    rc = cb_measure_score(instrument, inputs, flags, &out, &fe);
    json_decref(inputs);
    if (rc) {
        return fail_code(rc, &fe);
    }
    return print_json(out);
}
