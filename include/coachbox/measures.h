/*
 * measures.h - outcome-measure scoring (pure: no database, no HTTP).
 *
 * Every instrument (questionnaire or physical measure) is described by one
 * static table in server/measures.c: its keys and their allowed ranges, its
 * scoring rule, its bands, its rule version and its licence notice.  A record
 * stores the raw inputs, the computed result and the rule_version, so a
 * corrected rule can re-score old records.  docs/MEASURES.md lists every rule,
 * its source and every choice made where sources differ.
 *
 * Inputs are one JSON object per measurement: questionnaire items are keyed
 * "q1".."qN" in published order; physical measures use named keys (see
 * cb_measure_describe() or docs/MEASURES.md).  A value may be a JSON number or
 * a string that is fully a decimal number (as the CLI and HTML forms send).
 * JSON null counts as "not answered".
 *
 * Reals in results are already rounded (e.g. SWEMWBS metric 2 dp, BMI 1 dp).
 * Serialise them with JSON_REAL_PRECISION(15) or less so that 9.51 prints as
 * 9.51 rather than jansson's default 17-digit 9.5099999999999998.
 */
#ifndef COACHBOX_MEASURES_H
#define COACHBOX_MEASURES_H

#include <stddef.h>

#include <jansson.h>

#include "coachbox/err.h"

/* cb_measure_score() flags. */
#define CB_MEASURE_ALLOW_INCOMPLETE 1u /* questionnaires: unanswered items give an incomplete */
                                       /* result (score and band null, "complete": false)    */

/*
 * Score one measurement.
 *
 * instrument is an id from cb_measure_list() (e.g. "swemwbs"); inputs is a JSON
 * object of KEY: value (borrowed, not modified).  On success returns 0 and sets
 * *out to a new object the caller owns (json_decref() it):
 *
 *   "instrument"   the id
 *   "rule_version" e.g. "swemwbs-1"
 *   "complete"     false only for a questionnaire scored with
 *                  CB_MEASURE_ALLOW_INCOMPLETE and an unanswered item
 *   "score"        headline number, or null (incomplete, or nothing to score:
 *                  ONS4 is never combined; smoking/bowel record a status)
 *   "band"         band code, or null
 *   "flags"        array of prompt codes, possibly empty: "safeguarding",
 *                  "urgent_same_day", "brief_intervention", "audit_c_positive",
 *                  "falls_risk", "postural_hypotension", "co_validated_quit",
 *                  "kit_returned_after_support"
 *   "raw"          the inputs, normalised (integers as integers, codes checked)
 *   "notice"       licence notice to show with the scale, or null
 *   "missing"      (only when incomplete) array of unanswered keys
 *   plus instrument extras, e.g. SWEMWBS "raw_score", ONS4 "bands", IPAQ
 *   "met_minutes", BMI "bmi" and "thresholds", BP "stage".
 *
 * Errors: CB_EINVAL with fe filled (fe may be NULL) naming the offending key
 * ("instrument", "inputs", "flags" or an input key): unknown instrument or key,
 * missing required key, wrong type, non-integer, out of range, inconsistent
 * keys.  CB_ENOMEM if allocation fails.  On error *out is NULL.
 * ALLOW_INCOMPLETE is ignored for instruments that are not questionnaires.
 */
int cb_measure_score(const char *instrument, const json_t *inputs, unsigned flags, json_t **out,
                     struct cb_field_error *fe);

/*
 * Set *ids to the static array of instrument ids and *n to its length.  The
 * array lives for the life of the program; do not free it.  Returns 0.
 */
int cb_measure_list(const char *const **ids, size_t *n);

/* Return 1 if instrument is a known id, else 0 (also for NULL). */
int cb_measure_known(const char *instrument);

/* Return the static title of instrument, or NULL if unknown. */
const char *cb_measure_title(const char *instrument);

/* Return the static rule version (e.g. "swemwbs-1") of instrument, or NULL. */
const char *cb_measure_rule_version(const char *instrument);

/*
 * Return the static licence notice that must be shown wherever instrument is
 * shown (e.g. "SWEMWBS © University of Warwick"), or NULL if it needs none or
 * is unknown.
 */
const char *cb_measure_notice(const char *instrument);

/*
 * Describe instrument for forms and tools: sets *out to a new object (caller
 * owns) with "id", "title", "rule_version", "notice", "source",
 * "questionnaire", "bands" (codes) and "keys" (array of {"key", "type",
 * "required", "min", "max", "unit", "values", "label"}).
 * Errors: CB_EINVAL (fe names "instrument"), CB_ENOMEM.
 */
int cb_measure_describe(const char *instrument, json_t **out, struct cb_field_error *fe);

/*
 * Convert a text value (a CLI KEY=VALUE value or an HTML form field) to JSON:
 * an integer if text is fully a decimal integer that fits, a real if fully a
 * finite decimal number, otherwise a string.  Sets *out to a new reference.
 * Errors: CB_ENOMEM.  text must not be NULL.
 */
int cb_measure_value_from_text(const char *text, json_t **out);

/*
 * The CLI: `coachbox score INSTRUMENT KEY=VALUE ...` (argv[0] is "score").
 * Options: --list, --describe INSTRUMENT, --allow-incomplete, --help.
 * Prints one JSON object on stdout and returns 0; invalid input or an unknown
 * instrument prints a message naming the key on stderr and returns 2; other
 * failures (out of memory, output error) return 1.
 */
int cb_measures_cli(int argc, char **argv);

/*
 * Ethnic group (ONS 2021 England and Wales census: 19 categories in 5 groups,
 * plus "not_stated").  Other modules use this table for validation and
 * equality monitoring; the order is the published order.
 */
struct cb_ethnic_group {
    const char *code;         /* stable wire code, e.g. "asian_indian" */
    const char *label;        /* published wording, for display */
    const char *group;        /* "asian", "black", "mixed", "white", "other", "not_stated" */
    int lower_bmi_thresholds; /* 1: use NICE lower BMI thresholds (23 / 27.5) */
};

#define CB_ETHNIC_GROUP_COUNT 20
extern const struct cb_ethnic_group cb_ethnic_groups[CB_ETHNIC_GROUP_COUNT];

/* Return 1 if code is one of cb_ethnic_groups[].code, else 0 (also for NULL). */
int cb_ethnic_group_valid(const char *code);

/*
 * Return 1 if people with ethnic group code should be assessed with NICE's
 * lower BMI thresholds, else 0 (also for unknown codes, NULL and "not_stated").
 */
int cb_ethnic_group_lower_bmi_thresholds(const char *code);

/* Return the static display label for code, or NULL if unknown. */
const char *cb_ethnic_group_label(const char *code);

#endif
