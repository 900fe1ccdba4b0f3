/*
 * caseload.h - a coach's working lists: caseload, follow-ups due, outcome
 * reviews due, and the drop-in queue with its "call" transition.
 *
 * Access: coaches and leads see their own team; managers see every team
 * (narrowed by an optional team); admins get CB_EFORBIDDEN.  Rows are also
 * checked with cb_user_sees_team() before they are returned, so another
 * team's people never appear.  Lists are not audited per row (like search:
 * a list does not open a record).
 *
 * Dates: "today" is the UTC date (cb_today()).  Europe/London is UTC or
 * UTC+1; the lists are read during the working day, so the hour in which the
 * two calendars differ (00:00-01:00 BST) is accepted as a known simplification.
 *
 * Parameters arrive as the raw query strings (NULL when absent) and are
 * validated here: a bad value is CB_EINVAL with fe->field naming the query
 * parameter.  Out-parameters are new references.  Every function runs on the
 * caller's connection; reads open no transaction.  The only writer,
 * cb_checkin_call(), writes through cb_kind_patch() (record layer, audit).
 */
#ifndef COACHBOX_CASELOAD_H
#define COACHBOX_CASELOAD_H

#include <jansson.h>

#include "coachbox/err.h"
#include "coachbox/participant.h"

struct cb_conn;

/* Raw query parameters of the list routes; NULL when absent. */
struct cb_list_params {
    const char *team;        /* managers: one team; others: must be their own */
    const char *coach;       /* caseload: whose (user id); default the caller */
    const char *within_days; /* follow-ups: 0..90, default 7 */
    const char *weeks;       /* reviews-due: 1..104, default settings.review_weeks */
    const char *date;        /* queue: YYYY-MM-DD, default today */
    const char *venue;       /* queue: venue id */
};

#define CB_FOLLOW_UP_DAYS_DEFAULT 7
#define CB_FOLLOW_UP_DAYS_MAX     90
#define CB_REVIEW_WEEKS_DEFAULT   12
#define CB_REVIEW_WEEKS_MAX       104
#define CB_LIST_MAX               1000

/*
 * Active participants assigned to p->coach (default: the caller), in name
 * order, each the full participant plus "last_contact_at" (time of the most
 * recent contact, or null), "next_follow_up" (that contact's date, or null)
 * and "follow_up_state": "overdue" (before today), "due" (today .. today+7),
 * "scheduled" (later) or null (none, or a contact already happened after
 * it).  Coaches may only ask for their own caseload (CB_EFORBIDDEN, field
 * "coach"); leads and managers for anyone's, limited to the teams they see.
 * *out = {"coach": id, "items": [...]}.
 */
int cb_caseload_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                     json_t **out, struct cb_field_error *fe);

/*
 * Follow-ups outstanding for active, visible participants: the
 * next_follow_up of each person's most recent contact, when no contact
 * happened after that date.  Before today is overdue; today .. today +
 * within_days is due.  Both lists are ordered by date, then name.
 * *out = {"today", "due_until", "within_days", "overdue": [...], "due": [...]};
 * an item is the participant summary (id, given_name, family_name,
 * preferred_name, date_of_birth, nhs_number, team, status, assigned_coach)
 * plus "next_follow_up" and "last_contact_at".
 */
int cb_follow_ups_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                       json_t **out, struct cb_field_error *fe);

/*
 * Outcome reviews due: per active, visible participant and instrument, the
 * most recent measure of that instrument is a baseline whose date is at
 * least `weeks` weeks before today (a later review, exit or new baseline of
 * the same instrument clears it).  Oldest baseline first.
 * *out = {"weeks", "items": [summary + "instrument", "baseline_at",
 * "baseline_id", "weeks_since"]}.
 */
int cb_reviews_due_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                        json_t **out, struct cb_field_error *fe);

/*
 * The drop-in queue of one UTC day (default today), optionally one venue:
 * check-ins of visible teams, oldest arrival first.  Managers see every team
 * unless p->team narrows it.  *out = {"date", "items": [...], "counts":
 * {"waiting","with_coach","seen","left"}}; an item has id, participant_id,
 * given_name, family_name, preferred_name, team, venue, arrived_at, status,
 * venue_name, reason, coach ({"id","display_name"} or null), updated_at and
 * waiting_minutes (whole minutes since arrival while waiting, else null).
 */
int cb_queue_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                  json_t **out, struct cb_field_error *fe);

/*
 * Call a waiting person in: status "with_coach", coach = the caller, via
 * cb_kind_patch() (validation, audit, one transaction).  Calling a check-in
 * the caller already has is a no-op returning it.  CB_ECONFLICT (fe field
 * "status") if it is seen or left, or with another coach; CB_ENOTFOUND if
 * not visible; CB_EFORBIDDEN for admins.  Calls are serialised within the
 * process so two coaches cannot both take the same person.  *out = the
 * check-in record.
 */
int cb_checkin_call(struct cb_conn *c, const struct cb_actor *a, const char *id, json_t **out,
                    struct cb_field_error *fe);

/*
 * The service settings this server keeps (table settings), as JSON:
 * {"review_weeks": N}: the default number of weeks after a baseline measure
 * with no later review before a review is due (reviews-due, and data quality's
 * baselines without a review), 1..CB_REVIEW_WEEKS_MAX.  Any signed-in user may
 * read them.  *out is a new reference.
 */
int cb_settings_get(struct cb_conn *c, json_t **out);

/*
 * Change settings from in ({"review_weeks": N}, N an integer or a string of
 * digits; no other key): in one BEGIN IMMEDIATE transaction on c, audited
 * ("settings.update", detail "review_weeks=N").  a NULL is the CLI (no role
 * check, audited without an actor); otherwise managers and admins only
 * (CB_EFORBIDDEN).  CB_EINVAL naming the key; *out = the settings after.
 */
int cb_settings_update(struct cb_conn *c, const struct cb_actor *a, json_t *in, json_t **out,
                       struct cb_field_error *fe);

#endif
