/*
 * groups.h - group programmes beyond generic CRUD (kind.h): scheduling a run
 * of weekly sessions, taking a session's register in one request, the list of
 * people to follow up after missed sessions, and a participant's timeline
 * (every contact, attendance, measure, goal, review and referral, merged).
 *
 * Access (checked per record): a programme or group session is visible when
 * the programme's team is visible to the actor (coaches and leads their own
 * team, managers all).  Admins see no participant data: CB_EFORBIDDEN.  A
 * programme, session or participant the actor may not see is CB_ENOTFOUND,
 * and the attempt is audited as denied.  People on a programme from a team
 * the actor cannot see (enrolled by a manager) are left out of registers and
 * follow-up lists, and cannot be written through a register.
 *
 * Invalid input is CB_EINVAL with fe naming the field, e.g. "count" or
 * "entries[3].status".  Writers run one BEGIN IMMEDIATE transaction that
 * includes their audit events, and write record tables only through the
 * record layer (record.h), so change capture sees every field write.
 * Out-parameters are new references the caller must json_decref().
 */
#ifndef COACHBOX_GROUPS_H
#define COACHBOX_GROUPS_H

#include <jansson.h>

#include "coachbox/buf.h"
#include "coachbox/err.h"
#include "coachbox/participant.h"

struct cb_conn;

#define CB_SCHEDULE_MAX_COUNT    104
#define CB_SCHEDULE_MAX_INTERVAL 28
#define CB_REGISTER_MAX_ENTRIES  200
#define CB_TIMELINE_MAX          500
#define CB_TIMELINE_TEXT_MAX     (32u * 1024 * 1024) /* cap on its JSON text */

/*
 * Create the sessions of a programme.  in: {"first_session_at": time
 * (required), "count": 1..104 (default: the programme's weeks),
 * "interval_days": 1..28 (default 7)}.  Sessions are numbered after the
 * highest live session_number of the programme and keep the Europe/London
 * wall-clock time of the first across clock changes (a 10:00 class stays at
 * 10:00 after the clocks go forward).  They take the programme's venue and
 * team.  *out = {"items":[session...]} in order.  All or nothing.
 */
int cb_groups_schedule(struct cb_conn *c, const struct cb_actor *a, const char *programme_id,
                       const json_t *in, json_t **out, struct cb_field_error *fe);

/*
 * The register of a group session: *out = {"session":{...}, "programme":{...},
 * "entries":[{"participant_id", "given_name", "family_name", "preferred_name",
 * "enrolment_status", "attendance_id"|null, "status"|null}]} for everyone on
 * the programme with enrolment status enrolled or completed, plus anyone
 * else with a live enrolment whose attendance at this session is already
 * recorded (a later withdrawal does not hide a recorded attendance), by
 * family name, given name, id.  The read is audited.
 */
int cb_groups_register_get(struct cb_conn *c, const struct cb_actor *a, const char *session_id,
                           json_t **out);

/*
 * Record a register: in = {"entries":[{"participant_id", "status"}]} with
 * 1..CB_REGISTER_MAX_ENTRIES entries, each person at most once and on the
 * register (as cb_groups_register_get lists it), status one of attended,
 * absent, apologies.  Creates or updates one attendance row per entry (an
 * unchanged status is not rewritten, so a replay writes nothing); each write
 * sets programme_id, team (the participant's) and recorded_by, and is
 * audited with the participant.  One transaction: any invalid entry leaves
 * nothing written.  *out is the register as cb_groups_register_get gives it.
 */
int cb_groups_register_put(struct cb_conn *c, const struct cb_actor *a, const char *session_id,
                           const json_t *in, json_t **out, struct cb_field_error *fe);

/*
 * People to follow up after missed sessions: participants enrolled (status
 * enrolled) on the programme who were marked absent (not apologies) at the
 * most recent session whose register has been taken, or at two or more
 * sessions in all.  *out = {"items":[{"participant_id", "given_name",
 * "family_name", "preferred_name", "missed_count", "consecutive_missed",
 * "last_missed_at", "last_attended_at"|null}]} by consecutive_missed, then
 * missed_count (both descending), then name.  consecutive_missed counts the
 * registered sessions, newest first, at which the person was absent, up to
 * the first at which they were not.  The read is audited.
 */
int cb_groups_follow_ups(struct cb_conn *c, const struct cb_actor *a, const char *programme_id,
                         json_t **out);

/*
 * One participant's timeline, newest first, at most CB_TIMELINE_MAX items,
 * appended to out (empty, the caller's; its cap bounds the text, else
 * CB_ETOOLARGE) as the JSON text {"participant_id", "items":[{"kind", "at",
 * "id", ...}], "truncated"}, written item by item (no tree of the whole
 * answer); on an error out is left empty.
 * kind is encounter, attendance, measure, goal, goal_review or referral; at
 * is a time (encounter, attendance: the session's start, measure) or a date
 * (goal: agreed, goal_review: reviewed, referral: sent); a date sorts as the
 * start of its day.  Audited as "participant.timeline".
 */
int cb_timeline_get(struct cb_conn *c, const struct cb_actor *a, const char *participant_id,
                    struct cb_buf *out);

#endif
