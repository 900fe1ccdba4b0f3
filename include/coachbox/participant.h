/*
 * participant.h - the participant and encounter (contact) domain: access
 * rules, validation (through record.h), audit, and the queries the API needs.
 *
 * Access: coaches and leads see participants of their own team; managers see
 * all; admins see none (they manage accounts, not records).  A participant the
 * actor may not see is reported as CB_ENOTFOUND (an API 404), never 403, so a
 * record's existence does not leak; the denial is still audited.
 *
 * Every function runs on the caller's thread connection.  Writers open and
 * commit their own BEGIN IMMEDIATE transaction, which includes the audit event.
 * Reads of a single record are audited.  Out-parameters are new references.
 */
#ifndef COACHBOX_PARTICIPANT_H
#define COACHBOX_PARTICIPANT_H

#include <jansson.h>

#include "coachbox/auth.h"
#include "coachbox/err.h"

struct cb_buf;

struct cb_conn;

struct cb_actor {
    const struct cb_user *user;
    const char *address; /* client address for the audit log, or NULL */
    int allow_test_nhs;  /* accept 999 test NHS numbers (demo / test data) */
};

#define CB_SEARCH_MAX_LIMIT 100
#define CB_SEARCH_Q_CHARS   200 /* a search text: at most 200 characters (code points) */

int cb_participant_create(struct cb_conn *c, const struct cb_actor *a, const json_t *in,
                          json_t **out, struct cb_field_error *fe);
int cb_participant_get(struct cb_conn *c, const struct cb_actor *a, const char *id, json_t **out);
int cb_participant_patch(struct cb_conn *c, const struct cb_actor *a, const char *id,
                         const json_t *in, json_t **out, struct cb_field_error *fe);
/*
 * Search visible participants.  q: "" (everyone), an NHS number (10 digits,
 * spaces allowed), a date of birth YYYY-MM-DD, or one or two name prefixes
 * (given and/or family, either order, case-insensitive).  Keyset paging by
 * (family, given, id): cursor is the id of the last item of the previous
 * page, or NULL.  Appends to out (initialised by the caller, whose cap bounds
 * the answer: CB_ETOOLARGE) the JSON text {"items":[summary...],
 * "next_cursor": id|null}, where a summary is id, given_name, family_name,
 * preferred_name, date_of_birth, nhs_number, postcode, team, status,
 * assigned_coach, updated_at.  On an error out holds a partial text.
 */
int cb_participant_search(struct cb_conn *c, const struct cb_actor *a, const char *q, int limit,
                          const char *cursor, struct cb_buf *out, struct cb_field_error *fe);

#endif
