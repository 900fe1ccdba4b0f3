/*
 * record.h - table-driven records: one field table per synced record type
 * drives input validation, canonicalisation, SQL and JSON output, so a rule
 * lives in one place and sync can treat every record as a set of fields.
 *
 * Every record table has the columns id (UUIDv7 text), the declared fields,
 * created_at, updated_at, created_by and deleted (a tombstone flag).
 *
 * Ownership: functions taking json_t borrow it; functions returning json_t
 * through an out-parameter return a new reference the caller must decref.
 * Connection: all functions use the caller's cb_conn; writers expect the
 * caller to have begun the transaction (cb_conn_begin).
 */
#ifndef COACHBOX_RECORD_H
#define COACHBOX_RECORD_H

#include <jansson.h>
#include <stddef.h>

#include "coachbox/err.h"

struct cb_conn;

enum cb_ftype {
    CB_F_LINE,     /* single-line text */
    CB_F_TEXT,     /* multi-line text */
    CB_F_INT,      /* integer within [min, max] */
    CB_F_REAL,     /* number within [min, max] */
    CB_F_BOOL,     /* true / false, stored 0 / 1 */
    CB_F_DATE,     /* "YYYY-MM-DD" */
    CB_F_TIME,     /* ISO 8601 with zone; stored as UTC with milliseconds */
    CB_F_ENUM,     /* one of values[] */
    CB_F_NHS,      /* NHS number, stored as 10 digits */
    CB_F_POSTCODE, /* UK postcode, stored canonical */
    CB_F_EMAIL,
    CB_F_PHONE,
    CB_F_REF,    /* UUID of a row in ref_table */
    CB_F_TEAM,   /* id of a row in teams */
    CB_F_JSON,   /* arbitrary JSON (object or array), stored as text */
    CB_F_STRSET, /* array of distinct values[] strings, stored as JSON text */
    CB_F_CODE    /* string accepted by check() (a code list owned by another module) */
};

enum {
    CB_FF_REQUIRED = 1u << 0,  /* must be present (non-null) on create */
    CB_FF_SERVER = 1u << 1,    /* set by the server only; never accepted as input */
    CB_FF_IMMUTABLE = 1u << 2, /* accepted on create, refused on update */
    CB_FF_PAST = 1u << 3       /* DATE/TIME: not in the future (and DATE >= 1900-01-01) */
};

struct cb_field {
    const char *name;
    enum cb_ftype type;
    unsigned flags;
    size_t max_chars;           /* LINE / TEXT */
    double min, max;            /* INT / REAL */
    const char *const *values;  /* ENUM / STRSET: NULL-terminated */
    const char *ref_table;      /* REF */
    int (*check)(const char *); /* CODE: 1 if the code is valid */
    const char *def;            /* ENUM: value set on create when absent */
};

struct cb_table {
    const char *name; /* SQL table and wire entity name */
    const struct cb_field *fields;
    size_t nfields;
};

/* The record tables (schema.c). */
extern const struct cb_table cb_table_participants;
extern const struct cb_table cb_table_encounters;
extern const struct cb_table cb_table_consents;
extern const struct cb_table cb_table_measures;
extern const struct cb_table cb_table_goals;
extern const struct cb_table cb_table_goal_reviews;
extern const struct cb_table cb_table_referrals;
extern const struct cb_table cb_table_programmes;
extern const struct cb_table cb_table_group_sessions;
extern const struct cb_table cb_table_enrolments;
extern const struct cb_table cb_table_attendance;
extern const struct cb_table cb_table_checkins;
extern const struct cb_table cb_table_venues;
extern const struct cb_table cb_table_users;
extern const struct cb_table cb_table_teams;
extern const struct cb_table cb_table_conflicts;

/* Code lists (NULL-terminated), shared with reports. */
extern const char *const cb_topics[];
extern const char *const cb_encounter_types[];
extern const char *const cb_employment_statuses[];
extern const char *const cb_referral_sources[];
extern const char *const cb_main_barriers[];
extern const char *const cb_goal_statuses[];
extern const char *const cb_referral_destinations[];
extern const char *const cb_referral_statuses[];
extern const char *const cb_attendance_statuses[];
extern const char *const cb_checkin_statuses[];

/* Iterate all record tables: 0 <= i < cb_table_count(). */
size_t cb_table_count(void);
const struct cb_table *cb_table_at(size_t i);

/* Look a table up by name; NULL if unknown. */
const struct cb_table *cb_table_find(const char *name);
const struct cb_field *cb_table_field(const struct cb_table *t, const char *name);

/* Options for cb_record_validate. */
struct cb_validate_opts {
    int creating;       /* 1: create (required fields enforced; id allowed) */
    int allow_test_nhs; /* accept 999 test NHS numbers (demo / test data) */
};

/*
 * Validate client input for table t and produce the canonical field values in
 * *out (new object).  Refuses unknown and server-only keys, wrong types,
 * out-of-range values, missing required fields (on create) and immutable ones
 * (on update).  On create an optional "id" (a UUID, client-minted) passes
 * through.  When c is non-NULL, TEAM and REF values must name an existing,
 * live row.  Returns CB_EINVAL with fe naming the field.
 */
int cb_record_validate(struct cb_conn *c, const struct cb_table *t, const json_t *in,
                       const struct cb_validate_opts *opts, json_t **out,
                       struct cb_field_error *fe);

/*
 * Insert a row of t with the given id and canonical values (as produced by
 * cb_record_validate plus any server fields).  Sets created_at/updated_at to
 * now_iso.  CB_ECONFLICT if the id exists.  Caller holds a write transaction.
 */
int cb_record_insert(struct cb_conn *c, const struct cb_table *t, const char *id,
                     const json_t *values, const char *now_iso, const char *actor);
/*
 * Update the given fields of row id (not deleted) and updated_at.
 * CB_ENOTFOUND if no such live row.  Caller holds a write transaction.
 */
int cb_record_update(struct cb_conn *c, const struct cb_table *t, const char *id,
                     const json_t *values, const char *now_iso);
/*
 * Read row id of t as a JSON object of the wire fields plus id, created_at,
 * updated_at.  CB_ENOTFOUND if absent or deleted.
 */
int cb_record_get(struct cb_conn *c, const struct cb_table *t, const char *id, json_t **out);
/*
 * Build the JSON object for the current row of st, whose columns are
 * cb_record_columns(t) in order.
 */
json_t *cb_record_from_row(const struct cb_table *t, void *sqlite_stmt);
/* "id, f1, f2, ..., created_at, updated_at" for SELECTs (static per table). */
const char *cb_record_columns(const struct cb_table *t);

/*
 * Tombstone row id (deleted = 1), captured for sync.  CB_ENOTFOUND if no
 * live row.  Caller holds a write transaction.
 */
int cb_record_delete(struct cb_conn *c, const struct cb_table *t, const char *id,
                     const char *now_iso);
/*
 * Undo a tombstone (deleted = 0), captured for sync like cb_record_delete.
 * CB_ENOTFOUND if no tombstoned row.  Caller holds a write transaction.
 */
int cb_record_restore(struct cb_conn *c, const struct cb_table *t, const char *id,
                      const char *now_iso);
/*
 * The synced columns of row id, deleted or not: the declared fields plus
 * created_at, created_by and deleted, as JSON.  CB_ENOTFOUND if absent.
 */
int cb_record_get_synced(struct cb_conn *c, const struct cb_table *t, const char *id, json_t **out);
/*
 * Sync apply: write the given synced columns of row id (insert when absent,
 * else update), with no validation beyond the column names and no capture.
 * Unknown columns are CB_EINVAL.  Caller holds a write transaction.
 */
int cb_record_apply(struct cb_conn *c, const struct cb_table *t, const char *id,
                    const json_t *fields, const char *now_iso);
/* cb_record_apply that also sets *existed: whether the row was there before. */
int cb_record_apply_probe(struct cb_conn *c, const struct cb_table *t, const char *id,
                          const json_t *fields, const char *now_iso, int *existed);
/* cb_record_apply for a caller that has just read the row in the same
 * transaction: exists says whether it is there (no probe). */
int cb_record_apply_known(struct cb_conn *c, const struct cb_table *t, const char *id,
                          const json_t *fields, const char *now_iso, int exists);
/*
 * cb_record_apply_known (probe = 0: exists given in *existed) or
 * cb_record_apply_probe (probe = 1: *existed set), with the text of values of
 * JSON-typed columns already made: dumped (NULL: none) maps a key of fields
 * to a JSON string holding exactly cb_json_dump() of that key's value in
 * fields (a key it lacks is dumped here).  Lets a caller make that text on
 * another thread (the pull's prefetch, sync/site.c).
 */
int cb_record_apply_dumped(struct cb_conn *c, const struct cb_table *t, const char *id,
                           const json_t *fields, const json_t *dumped, const char *now_iso,
                           int probe, int *existed);
/*
 * The dumped map cb_record_apply_dumped takes for fields, a change of table t,
 * into *out: each key of a JSON-typed column (CB_F_JSON, CB_F_STRSET) whose
 * value is not null, mapped to a JSON string of cb_json_dump()'s text of that
 * value; NULL when there is none.  A value whose text passes scratch's cap is
 * left out (it is dumped when applied).  scratch is a buffer the caller reuses
 * between calls (its contents are overwritten).  Touches only fields and the
 * table declarations, so it may run on any thread; the result is the
 * caller's.  CB_OK, or CB_ENOMEM (*out NULL).
 */
struct cb_buf;
int cb_record_dump_json_fields(const struct cb_table *t, const json_t *fields,
                               struct cb_buf *scratch, json_t **out);
/* 1 if name is a synced column of t (a field, created_at, created_by or deleted). */
int cb_record_synced_column(const struct cb_table *t, const char *name);

#endif
