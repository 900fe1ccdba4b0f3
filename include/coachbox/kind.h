/*
 * kind.h - record kinds: the generic create / read / update / delete / list
 * of every record type that belongs to a participant or a programme, with
 * access checks, server-set fields, audit and per-kind hooks (e.g. measures
 * are scored on the server).  Handlers for goals, referrals, consents,
 * measures, encounters, enrolments, attendance, check-ins, programmes,
 * group sessions and venues all go through here.
 *
 * Access (checked per record, never only per route):
 *   CB_SCOPE_PARTICIPANT - visible when its participant is (participant.h);
 *                          team copied from the participant.
 *   CB_SCOPE_PROGRAMME   - visible when its programme's team is; team copied.
 *   CB_SCOPE_TEAM        - the record's own team field decides.
 * A record the actor may not see is CB_ENOTFOUND (404).  Invalid input is
 * CB_EINVAL with fe naming the field.  Writers run one BEGIN IMMEDIATE
 * transaction including the audit event.  Out-parameters are new references.
 */
#ifndef COACHBOX_KIND_H
#define COACHBOX_KIND_H

#include <jansson.h>

#include "coachbox/participant.h"
#include "coachbox/record.h"

struct cb_conn;

enum cb_scope { CB_SCOPE_PARTICIPANT, CB_SCOPE_PROGRAMME, CB_SCOPE_TEAM };

/* Context passed to hooks. */
struct cb_kind_ctx {
    struct cb_conn *c;
    const struct cb_actor *a;
    const json_t *current;     /* existing record (update), or NULL (create) */
    const json_t *participant; /* the participant (PARTICIPANT scope), else NULL */
};

struct cb_kind {
    const char *name;  /* wire name and route segment: "goals" */
    const char *audit; /* audit action prefix: "goal" */
    const struct cb_table *table;
    enum cb_scope scope;
    const char *order_by; /* ORDER BY for lists, e.g. "agreed_date DESC, id DESC" */
    int deletable;        /* DELETE (tombstone) allowed */
    /* Derive fields the scope needs (e.g. participant_id from goal_id) before access checks. */
    int (*resolve)(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe);
    /* Set server fields / check cross-field rules before the write. */
    int (*prepare)(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe);
    /* Follow-up writes in the same transaction after the write. */
    int (*after)(const struct cb_kind_ctx *k, const char *id, const json_t *vals);
};

/* The kinds (kind.c). */
extern const struct cb_kind cb_kind_encounters;
extern const struct cb_kind cb_kind_consents;
extern const struct cb_kind cb_kind_measures;
extern const struct cb_kind cb_kind_goals;
extern const struct cb_kind cb_kind_goal_reviews;
extern const struct cb_kind cb_kind_referrals;
extern const struct cb_kind cb_kind_enrolments;
extern const struct cb_kind cb_kind_attendance;
extern const struct cb_kind cb_kind_checkins;
extern const struct cb_kind cb_kind_programmes;
extern const struct cb_kind cb_kind_group_sessions;
extern const struct cb_kind cb_kind_venues;
extern const struct cb_kind cb_kind_conflicts;

/* The kind with this wire name, or NULL. */
const struct cb_kind *cb_kind_find(const char *name);
/* All kinds, for iteration: 0 <= i < cb_kind_count(). */
size_t cb_kind_count(void);
const struct cb_kind *cb_kind_at(size_t i);

int cb_kind_create(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                   const json_t *in, json_t **out, struct cb_field_error *fe);
int cb_kind_get(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                const char *id, json_t **out);
int cb_kind_patch(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                  const char *id, const json_t *in, json_t **out, struct cb_field_error *fe);
int cb_kind_delete(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                   const char *id);
/*
 * Records of kind k whose parent_field equals parent_id, after checking the
 * parent is visible (parent_field "participant_id" or "programme_id"; any
 * other field requires a visible record of kind k's own scope per row).
 * *out = {"items":[...]} in k->order_by order, at most 1000.
 */
int cb_kind_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                 const char *parent_field, const char *parent_id, json_t **out);

/*
 * Is the record of kind k with this id visible to the actor?  On success
 * *rec (may be NULL) receives the record.  CB_ENOTFOUND otherwise.
 */
int cb_kind_visible(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                    const char *id, json_t **rec);

/* Re-stamp the team of every participant-scoped record of participant_id. */
int cb_kind_retag_participant(struct cb_conn *c, const char *participant_id, const char *team);

#endif
