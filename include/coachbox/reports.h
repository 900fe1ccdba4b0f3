/*
 * reports.h - manager reporting: outcomes, reach, data quality, the quarterly
 * return and the full extract.  docs/REPORTS.md defines every figure, period
 * rule, split and column; this header states the contracts.
 *
 * Access (checked here, not only per route):
 *   outcomes, reach, data quality - managers: every team, or one with team=;
 *       coaches and leads: their own team only (another team is
 *       CB_EFORBIDDEN naming "team"); admins CB_EFORBIDDEN.
 *   records (people behind a figure), quarterly return - managers only.
 * Figures never name people; only cb_report_records() and the data-quality
 * lists do.
 *
 * Periods are Europe/London calendar days: from/to are inclusive dates and a
 * contact belongs to the day London's clocks showed when it happened.
 *
 * Parameters arrive as raw query strings (NULL when absent) and are
 * validated here: a bad value is CB_EINVAL with fe->field naming the
 * parameter.  Each report reads in one read transaction (a consistent
 * snapshot) on the caller's connection, then writes one audit event (action
 * "report.*", no personal data).  JSON out-parameters are new references;
 * CSV goes into the caller's cb_buf.  Nothing here writes records.
 */
#ifndef COACHBOX_REPORTS_H
#define COACHBOX_REPORTS_H

#include <jansson.h>
#include <stddef.h>

#include "coachbox/buf.h"
#include "coachbox/err.h"
#include "coachbox/participant.h"

struct cb_conn;

/* Raw query parameters of the report routes; NULL when absent. */
struct cb_report_query {
    const char *from, *to; /* YYYY-MM-DD, inclusive; required by outcomes/reach */
    const char *team;      /* one team (managers); own team only (others) */
    const char *venue;     /* venue id: contacts there, sessions there */
    const char *coach;     /* user id: contacts by them, programmes they lead */
    const char *programme; /* programme id: its group contacts and attendance */
    const char *topic;     /* a cb_topics code: contacts and goals on it */
    const char *cohort;    /* veteran | learning_disability | carer | long_term_condition */
    const char *split;     /* see CB_REPORT_SPLITS in docs/REPORTS.md */
    const char *suppress;  /* "1": apply small-number suppression to the JSON */
    const char *figure;    /* records: dotted path of a count, e.g. "swemwbs.improved" */
    const char *group;     /* records: a group key of split */
    const char *limit;     /* records: 1..5000 (default 1000) */
    const char *weeks;     /* data quality: 1..104, default setting review_weeks */
    const char *quarter;   /* quarterly: YYYYQn (calendar quarters) */
};

/* Default small-number threshold (setting small_number_threshold). */
#define CB_REPORT_THRESHOLD_DEFAULT 5
/* SWEMWBS: a change of at least this many metric points is meaningful. */
#define CB_SWEMWBS_MEANINGFUL_CHANGE 3.0
#define CB_REPORT_RECORDS_MAX        5000
#define CB_REPORT_DQ_ITEMS_MAX       1000

/*
 * The outcomes report: {"period","filters","split","age_at","suppressed",
 * "small_number_threshold","swemwbs_meaningful_change","total":FIGURES,
 * "groups":[{"key","figures":FIGURES}]} (groups only with split).
 */
int cb_report_outcomes(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
                       json_t **out, struct cb_field_error *fe);

/*
 * Activity by venue in one answer (the managers' caseload screen): for every live
 * venue, by name, {"venue","name","team","people_seen","contacts","dna"} over
 * q->from..q->to, with the outcomes report's rules for venue= (people_seen and
 * contacts.total / contacts.dna of cb_report_outcomes with that venue). q->team as for
 * outcomes (coaches and leads: their own team).  No suppression.  One audit event.
 */
int cb_report_venues(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
                     json_t **out, struct cb_field_error *fe);

/*
 * The people behind one count of the outcomes report (same parameters plus
 * figure, optional group, limit): {"figure","group","count","truncated",
 * "items":[{"id","given_name","family_name","date_of_birth","team","group"}]}
 * by family name, given name, id.  Managers only.  Unknown figure or group
 * is CB_EINVAL naming it.
 */
int cb_report_records(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
                      json_t **out, struct cb_field_error *fe);

/*
 * Reach: people engaged (seen) in the period by split (required), against
 * the population table when it has figures for that split:
 * {"period","split","engaged","population_total", "groups":[{"key",
 * "engaged","share","population","population_share","rate_per_1000",
 * "representation"}]}.
 */
int cb_report_reach(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
                    json_t **out, struct cb_field_error *fe);

/*
 * Data quality of live records of active participants (optionally only
 * contacts and measures in from..to): {"as_of","team","weeks","checks":
 * {NAME:{"count","truncated","items":[...]}}}; lists hold at most
 * CB_REPORT_DQ_ITEMS_MAX items each.
 */
int cb_report_data_quality(struct cb_conn *c, const struct cb_actor *a,
                           const struct cb_report_query *q, json_t **out,
                           struct cb_field_error *fe);

/*
 * The quarterly return as CSV bytes (RFC 4180, CRLF, suppression applied)
 * appended to out.  a NULL means the command line (every team, no audit
 * actor); otherwise managers only.  team NULL or "" means every team.
 */
int cb_report_quarterly_csv(struct cb_conn *c, const struct cb_actor *a, const char *quarter,
                            const char *team, struct cb_buf *out, struct cb_field_error *fe);

/*
 * Write the full extract into directory dir (created 0700 if missing): one
 * CSV per table of live rows with the columns listed in docs/REPORTS.md,
 * plus manifest.csv; files are 0600 and replaced atomically.  Never writes
 * password hashes, sessions, sync metadata or audit events.  *files gets
 * the number of table files.  CB_EIO with fe->message on file errors.
 */
int cb_report_extract(struct cb_conn *c, const char *dir, size_t *files, struct cb_field_error *fe);

/*
 * Create the temporary file tmp of an export for writing (*fd, mode 0600):
 * whatever has that name is unlinked first, then the name is created with
 * O_EXCL | O_NOFOLLOW, so a symbolic link planted there is removed, never
 * followed, and a name re-created in between makes it fail.  CB_EIO with
 * errno set on failure.
 */
int cb_export_open_tmp(const char *tmp, int *fd);

/*
 * Append one CSV field to b with RFC 4180 quoting (quoted when it holds a
 * comma, quote, CR or LF; quotes doubled).  guard: prefix a text cell that
 * starts with = + - @ TAB or CR with an apostrophe (spreadsheet formula
 * injection).  NULL writes an empty field.
 */
int cb_csv_field(struct cb_buf *b, const char *s, int guard);

/*
 * 1 if key is a group key of split (e.g. "imd_decile", "3"), else 0; team
 * keys are looked up in c.  Used to check population files.
 */
int cb_report_group_valid(struct cb_conn *c, const char *split, const char *key);

/* The small-number threshold (setting small_number_threshold, 2..100; default 5). */
int cb_report_threshold(struct cb_conn *c, int *threshold);

/*
 * Tests only: with on set, before/after pairs are worked out from each
 * person's measure history (the from-scratch engine) instead of from the
 * baseline columns kept by triggers (migrations 11 and 12), the ONS4 and BMI
 * values from the result JSON, contacts row by row instead of from
 * contact_months (migration 13), every participant attribute is read, and
 * the people behind a figure are read by id and sorted; so a test can check
 * both give the same answers.  Off, the people behind a figure are walked in
 * name order when more than probe_max are marked (default 2000; a test sets
 * 0 to walk always).  Process-wide; not for use while reports run on other
 * threads.
 */
void cb_report_set_reference(int on);
void cb_report_set_records_probe_max(size_t probe_max);
/*
 * Threads a report's reading takes (default 2: the streams shared between
 * this thread and one more, on a second connection reading the same
 * snapshot; 1: this thread alone), so a test can check both give the same
 * answers.  Process-wide; not for use while reports run on other threads.
 */
void cb_report_set_threads(int n);
/* Threads the last report's reading on this thread took (1 or 2; 0 before any). */
int cb_report_last_threads(void);

/*
 * The command line (argv[0] is "import" or "export"):
 *   import imd --data DIR FILE.csv
 *   import population --data DIR FILE.csv
 *   export quarterly --data DIR --quarter YYYYQn [--team TEAM] [--out FILE]
 *   export extract --data DIR --out DIR
 * Returns 0 on success, 2 for usage errors, 1 for invalid input files and
 * other failures (a message naming the line and column on stderr).
 */
int cb_reports_cli(int argc, char **argv);

#endif
