/*
 * capture.h - change capture for sync (design.md section 4, docs/SYNC.md).
 *
 * Every write to a synced table calls cb_capture() inside the writer's open
 * transaction with the fields it wrote (canonical JSON values), so the
 * change record commits or rolls back with the data.  A change is one write
 * to one row: {tbl, row_id, fields:{name:value...}, hlc, site}; conflicts are
 * still decided field by field, from the per-field versions in row_meta
 * (a JSON map field -> [seq, hlc, site] per row, with a row-wide entry "*"
 * for the fields last written when the row was created).
 *
 *   field server:  one outbox row per write: a per-site increasing op_id, the
 *                  fields, a fresh HLC, and base_seq = the site's pull cursor
 *                  (the highest central seq it had applied when the edit was
 *                  made).  row_meta gets the local HLC of each field.
 *   central:       one change-log row per write with a new global seq and the
 *                  team whose sites receive it (scope; scope2 = the previous
 *                  team when a participant moves); row_meta = (seq, hlc,
 *                  site) per field.  A participant moving team is re-logged in
 *                  full for the new team (cb_capture_relog_participant).
 *
 * Tables that sync: every record table (record.h), users, teams, conflicts.
 * Sessions, settings and the audit log do not.
 */
#ifndef COACHBOX_CAPTURE_H
#define COACHBOX_CAPTURE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cb_conn;

#define CB_SITE_CENTRAL  "central"
#define CB_SITE_LOCAL    "local"
#define CB_SCOPE_NOWHERE "!" /* a change no site receives (e.g. manager accounts) */
/* Cap on the JSON text of one change's fields or one row's versions (curl
 * style).  Below the cap of a whole pull page (sync/hub.c), with room for the
 * change's other members, so any change fits in a page on its own; central
 * keeps each pushed value far smaller (hub.c value_fits), so a row re-logged
 * whole stays below it too. */
#define CB_CHANGE_TEXT_MAX (60 * 1024 * 1024)

/* 1 if tbl is a synced table. */
int cb_capture_synced(const char *tbl);
/*
 * Capture the fields (object of field -> canonical value) just written to
 * row_id of tbl, with a new HLC.  Caller holds the write transaction.
 */
int cb_capture(struct cb_conn *c, const char *tbl, const char *row_id, const json_t *fields);
/* Flags of a logged change (cb_capture_append). */
enum {
    CB_CHANGE_RESTAMPED = 1u << 0, /* central replaced the site's HLC (clock too far ahead) */
    CB_CHANGE_EXACT = 1u << 1      /* fields are exactly what op op_id of site sent: that
                                      site already holds them and is not sent them back */
};
/*
 * Central only: append one change (fields as compact JSON text) to the log
 * with a new seq and the given origin and flags (CB_CHANGE_*; EXACT needs an
 * op_id); when update_meta, set each field's version to (seq, hlc, site).
 * *seq_out (may be NULL) receives the seq.
 */
int cb_capture_append(struct cb_conn *c, const char *tbl, const char *row_id, const json_t *fields,
                      uint64_t hlc, const char *site, int64_t op_id, unsigned flags,
                      const char *scope, const char *scope2, int update_meta, int64_t *seq_out);
/*
 * cb_capture_append with update_meta, for a caller that already read the row's
 * versions (cb_capture_versions, same transaction): versions is stamped in
 * place and written, not read again.  fields_text: NULL, or the text
 * cb_json_buf_add_value writes for fields (fields_len bytes, not owned), taken
 * by the caller beforehand (hub.c: before its turn) and logged as it is;
 * CB_ETOOLARGE past the change log's cap.
 */
int cb_capture_append_stamp(struct cb_conn *c, const char *tbl, const char *row_id,
                            const json_t *fields, const char *fields_text, size_t fields_len,
                            uint64_t hlc, const char *site, int64_t op_id, unsigned flags,
                            const char *scope, const char *scope2, json_t *versions);
/*
 * Central only: re-log the current value of every synced field of the
 * participant and of every record about them, keeping each value's original
 * hlc and site (relay fidelity), scoped to their current team.
 */
int cb_capture_relog_participant(struct cb_conn *c, const char *participant_id);
/*
 * Central only: after a row moved team, re-log it whole for its new scope (a
 * participant together with every record about them).
 */
int cb_capture_relog_moved(struct cb_conn *c, const char *tbl, const char *row_id);
/*
 * The team whose sites receive row row_id of tbl: copied into out, or
 * *shared = 1 (every site receives it).  CB_SCOPE_NOWHERE: no site.
 */
int cb_capture_scope(struct cb_conn *c, const char *tbl, const char *row_id, char *out,
                     size_t outlen, int *shared);
/*
 * cb_capture_scope for a row just inserted with exactly the columns in values
 * (no read): CB_ENOTFOUND when values cannot tell (accounts, whose scope
 * depends on the role; no "team" key), and the caller asks cb_capture_scope.
 */
int cb_capture_scope_values(const char *tbl, const json_t *values, char *out, size_t outlen,
                            int *shared);
/*
 * Central, once: log every existing synced row (the seeded teams, accounts
 * created before the store became central, ...) so sites receive them.
 * Opens its own transaction; a no-op after the first success.
 */
int cb_capture_bootstrap_central(struct cb_conn *c);
/*
 * Key of the row-wide entry of a version map: the version of every field that
 * has no entry of its own.  A row written whole (created, or logged whole at
 * bootstrap) gets just this entry, not one per field; later writes add entries
 * for the fields they touch.
 */
#define CB_VERSION_ROW "*"
/* The version [seq, hlc, "site"] of field in versions (borrowed): its own entry,
 * else the row-wide one; NULL if neither. */
json_t *cb_capture_version(const json_t *versions, const char *field);
/*
 * Set the version of every field in fields to [seq, hlc, site]: a whole row
 * (versions empty and fields include created_at, which only a creation writes)
 * gets one row-wide entry; otherwise one entry per field.  CB_ENOMEM.
 */
int cb_capture_stamp(json_t *versions, const json_t *fields, int64_t seq, uint64_t hlc,
                     const char *site);
/* Per-field versions of a row: *out = {"field":[seq,hlc,"site"],...} (new ref; {} if none);
 * see CB_VERSION_ROW. */
int cb_capture_versions(struct cb_conn *c, const char *tbl, const char *row_id, json_t **out);
/* Replace the per-field versions of a row. */
int cb_capture_set_versions(struct cb_conn *c, const char *tbl, const char *row_id,
                            const json_t *versions);
/*
 * The versions of a row written whole and new here (no versions yet): what
 * cb_capture_stamp on an empty map then cb_capture_set_versions write, the
 * text made without building JSON.  CB_EINVAL (nothing written) when site
 * would need escaping in JSON: the caller takes the general path.
 */
int cb_capture_set_row_version(struct cb_conn *c, const char *tbl, const char *row_id, int64_t seq,
                               uint64_t hlc, const char *site);
/* Read the row's current values of the synced columns as {"field":value} (new ref). */
int cb_capture_row_values(struct cb_conn *c, const char *tbl, const char *row_id, json_t **out);

#endif
