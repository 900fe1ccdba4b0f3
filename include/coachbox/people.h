/*
 * people.h - one person, one record: the duplicate check shown before a
 * registration, and merging two records of the same person (and undoing it).
 *
 * Matching (cb_people_matches): a live participant (not deleted, not merged)
 * is a likely match for the input when
 *   same_nhs_number         - the canonical NHS numbers are equal;
 *   same_dob_similar_name   - same date of birth and cb_people_names_similar();
 *   same_dob_same_postcode  - same date of birth and the canonical postcodes are equal.
 * Coaches and leads get details only of matches in their own team; matches
 * elsewhere are only counted ("other_teams").  Managers see every team.
 *
 * Merging (cb_people_merge, managers only): in one BEGIN IMMEDIATE
 * transaction every live record of every participant-scoped kind (kind.h) of
 * the duplicate is moved to the survivor through cb_record_update
 * (participant_id and team), except records that would break a unique key
 * the survivor already holds (an enrolment in the same programme, attendance
 * at the same session): those are tombstoned and the survivor's kept.  The
 * duplicate gets merged_into = survivor and is tombstoned.  A `merges` row
 * lists every (table, id, action) so that cb_people_merge_undo can reverse
 * exactly that.  Both people get an audit event.
 *
 * Tombstones go through cb_record_delete.  Undo restores tombstones with a
 * dedicated "UPDATE <table> SET deleted = 0, updated_at = ?" (the record
 * layer has no restore), captured for sync like cb_record_delete; see
 * people.c set_deleted().
 *
 * Errors: CB_EFORBIDDEN (not a manager / not clinical), CB_ENOTFOUND (no such
 * participant or merge), CB_EINVAL (fe names the input field), CB_ECONFLICT
 * (fe->message says why: already merged, already undone, a moved record was
 * deleted or moved since, ...).  Out-parameters are new references.
 */
#ifndef COACHBOX_PEOPLE_H
#define COACHBOX_PEOPLE_H

#include <jansson.h>
#include <stddef.h>

#include "coachbox/err.h"
#include "coachbox/participant.h"

struct cb_conn;

/* Most candidates (same NHS number or date of birth) looked at per check. */
#define CB_MATCH_MAX_CANDIDATES 1000

/*
 * Likely existing records of the person described by in
 * {"given_name","family_name","date_of_birth","nhs_number"?,"postcode"?,
 *  "preferred_name"?}, validated like a registration (400 naming the field).
 * *out = {"matches":[{id, given_name, preferred_name, family_name,
 * date_of_birth, nhs_number, postcode, team, status, reasons:[...]}...],
 * "other_teams": N}.  No state change except one audit event (counts only).
 */
int cb_people_matches(struct cb_conn *c, const struct cb_actor *a, const json_t *in, json_t **out,
                      struct cb_field_error *fe);

/*
 * Merge participant dup_id into in {"into": SURVIVOR_ID} (managers).
 * *out = {"merge": merge, "survivor": participant}.
 */
int cb_people_merge(struct cb_conn *c, const struct cb_actor *a, const char *dup_id,
                    const json_t *in, json_t **out, struct cb_field_error *fe);

/*
 * Undo merge merge_id (managers).  CB_ECONFLICT when already undone or when
 * a listed record can no longer be put back exactly.
 * *out = {"merge": merge, "participant": restored duplicate, "survivor": participant}.
 */
int cb_people_merge_undo(struct cb_conn *c, const struct cb_actor *a, const char *merge_id,
                         json_t **out, struct cb_field_error *fe);

/* Merges in which participant_id is survivor or duplicate, newest first, at
 * most 100 (managers).  CB_EINVAL (fe: participant_id) for a malformed id;
 * CB_ENOTFOUND if no such participant row.  *out = {"items":[merge...]}. */
int cb_people_merges_list(struct cb_conn *c, const struct cb_actor *a, const char *participant_id,
                          json_t **out, struct cb_field_error *fe);

/*
 * Where a merged (tombstoned) participant went (managers):
 * *out = {"id", "merged_into": id|null, "current_id": live end of the chain|null,
 * "merge_id": id|null}.  CB_ENOTFOUND if no such participant row at all.
 */
int cb_people_merged_into(struct cb_conn *c, const struct cb_actor *a, const char *participant_id,
                          json_t **out);

/* CB_OK if a participant row with this id exists, live, deleted or merged;
 * CB_ENOTFOUND otherwise (for manager views of tombstones, e.g. audit trails). */
int cb_people_exists(struct cb_conn *c, const char *participant_id);

/* Matching rules, exposed for unit tests.  Names are compared case-insensitively
 * (ASCII and Latin-1 letters), by Unicode code point. */

/* Levenshtein distance of two UTF-8 strings in code points, capped at cap + 1
 * (the work stops once the distance must exceed cap).  Invalid UTF-8 or
 * strings over 200 code points count as far apart (cap + 1). */
size_t cb_people_levenshtein(const char *a, const char *b, size_t cap);

/*
 * 1 if the names look like the same person's: same family name; or family
 * names within distance 2 and the same given-name initial; or given and
 * family swapped.  Given names may each be NULL-able preferred names too:
 * given_a / pref_a is compared with given_b / pref_b.
 */
int cb_people_names_similar(const char *given_a, const char *pref_a, const char *family_a,
                            const char *given_b, const char *pref_b, const char *family_b);

#endif
