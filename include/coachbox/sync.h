/*
 * sync.h - the field server's side of sync (docs/SYNC.md): enrollment,
 * push / pull rounds against central, scope exits, revocation wipe,
 * digests and verification, and the background syncer of `coachbox serve`.
 *
 * Site settings (table settings): site_id, site_secret, site_name,
 * site_teams (JSON array), central_url, central_ca, central_pin,
 * sync_cursor (highest central seq applied), last_sync_at, last_error,
 * sync_own_floor (set while a site restored from a backup catches up: the
 * last op id it held when restored).
 *
 * Every round is: push the outbox in op_id order in batches (central answers
 * with the highest op_id it has durably applied; only then is the outbox
 * cleared up to it), then pull pages of changes since the cursor, each page
 * applied together with the new cursor in one transaction.  A pulled value
 * never overwrites a field with a local edit still waiting to be pushed.
 * A site restored from a backup is recognised by central (an op id reused
 * with other content: 409 op_ids_reused; or central's last_op_id above the
 * site's outbox sequence in a pull answer): the site renumbers its waiting
 * ops past central's mark and pulls back its own writes it no longer has.
 */
#ifndef COACHBOX_SYNC_H
#define COACHBOX_SYNC_H

#include <jansson.h>
#include <stdint.h>

#include "coachbox/err.h"

struct cb_conn;
struct cb_store;

/* TLS and transport options for talking to central. */
struct cb_sync_tls {
    const char *ca_file; /* PEM bundle to verify central with, or NULL (system) */
    const char *pin;     /* "sha256//BASE64" public-key pin, or NULL */
};

struct cb_sync_result {
    int64_t pushed;          /* ops central acknowledged this round */
    int64_t pulled;          /* changes applied this round */
    int64_t conflicts;       /* conflicts central reported for our pushes */
    int64_t rejected;        /* ops central refused (outside scope, ...) */
    int64_t pending;         /* ops still waiting after the round */
    int revoked;             /* central revoked this site; its data was wiped */
    int restored;            /* this round found the site restored from a backup (docs/SYNC.md) */
    double pull_apply_cpu_s; /* CPU time of the thread that applied the pulled pages (the
                              * fetch and parse of the next page run beside it) */
    char error[256];         /* empty on success */
};

/* Progress callback: phase "push" or "pull", done and total (total -1 if unknown). */
typedef void (*cb_sync_progress)(void *ud, const char *phase, int64_t done, int64_t total);

/*
 * Enroll this field server with central at url using a one-time code.
 * Plain http:// only for loopback.  Stores the site credentials and teams.
 * CB_EUNAUTH for a bad code, CB_ESCHEMA for a schema mismatch, CB_EIO if
 * central is unreachable; msg receives a sentence for a person.
 */
int cb_sync_enroll(struct cb_store *s, const char *url, const char *code,
                   const struct cb_sync_tls *tls, char *msg, size_t msglen);
/* 1 if this store is enrolled (has site credentials). */
int cb_sync_enrolled(struct cb_store *s);
/*
 * One full round (push everything, then pull everything).  Returns CB_OK
 * when everything was pushed and pulled; otherwise an error with
 * res->error set (CB_EIO unreachable, CB_EFORBIDDEN revoked (and wiped),
 * CB_ESCHEMA schema mismatch, CB_EUNAUTH credentials refused).
 */
int cb_sync_round(struct cb_store *s, cb_sync_progress progress, void *ud,
                  struct cb_sync_result *res);
/*
 * Compare digests with central: *report = {"in_sync":bool,"tables":{tbl:{
 * "local":{count,hash},"central":{count,hash}}},"differences":[{"table",
 * "row_id","local","central"}]} (new reference).
 */
int cb_sync_verify(struct cb_store *s, json_t **report, char *msg, size_t msglen);
/*
 * Digest of the current state of the synced tables in scope of teams:
 * table NULL -> {"tables":{tbl:{"count","hash"}}}; a table name ->
 * {"table":tbl,"rows":{id:hash}}.  CB_EINVAL for an unknown table.
 */
int cb_sync_digest(struct cb_conn *c, const json_t *teams, const char *table, json_t **out);
/* Field status for GET /api/sync/status (new reference). */
int cb_sync_status(struct cb_store *s, json_t **out);
/* Delete every synced record and the site credentials (revocation).  c must be a
 * sync connection (cb_store_sync_conn: foreign keys off). */
int cb_sync_wipe(struct cb_conn *c);

/* Background syncer for `coachbox serve` (no-op until enrolled). */
int cb_syncer_start(struct cb_store *s);
/* Ask for a round soon (after a local change; debounced). */
void cb_syncer_kick(void);
void cb_syncer_stop(void);
/* 1 while a round is running. */
int cb_syncer_busy(void);

#endif
