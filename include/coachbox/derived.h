/*
 * derived.h - derived rows on sync connections: noted as rows are written,
 * recomputed once per group before the transaction commits.
 *
 * Some data is a function of other rows: each measure's report values and
 * baselines and each person's latest measure per instrument (migrations 11-14,
 * 17), the contacts per person, team and UTC month and year (13, 15).  On
 * ordinary connections triggers keep it at every write.  A sync connection
 * (store.h: a push batch at central, a pulled page on a site) writes thousands
 * of rows per transaction; there the triggers are off
 * (SQLITE_DBCONFIG_ENABLE_TRIGGER: SQLite codes no trigger program, so a
 * single-row write needs no statement journal either), a preupdate hook notes
 * the group of every measures and encounters row written (before and after the
 * write), and cb_derived_refresh brings each noted group up to date once: a
 * measures group is recomputed from its rows (cb_migrations_measures_refresh); a
 * contacts group's counts move by the change the writes made, counted from the
 * rows' old and new images as the triggers count them
 * (cb_migrations_contacts_delta).  Either leaves them as the triggers would
 * have.  store.c calls it in cb_conn_commit.  A
 * commit hook refuses (rolls back) any commit while groups are noted and not
 * recomputed - a write outside a transaction, a COMMIT that bypassed
 * cb_conn_commit - and any transaction that updated or deleted an audit event
 * (the audit log's append-only triggers are off here too).
 */
#ifndef COACHBOX_DERIVED_H
#define COACHBOX_DERIVED_H

#include <sqlite3.h>
#include <stddef.h>

struct cb_derived;

/*
 * Turn db's triggers off and note its writes from now on in a new *out (the
 * caller frees it with cb_derived_free before closing db).  Statements db
 * prepared before keep their triggers: call this on a new connection to a
 * migrated database (CB_EDB when it lacks the measures' or encounters'
 * columns).  CB_ENOMEM, or a store error if db cannot be configured.
 */
int cb_derived_attach(sqlite3 *db, struct cb_derived **out);
/* Recompute every group noted since the last refresh or forget, on d's
 * connection, inside its open write transaction; then nothing is noted.  The
 * first error is returned (a note that could not be kept included, CB_ENOMEM or
 * CB_ETOOLARGE): the caller rolls back. */
int cb_derived_refresh(struct cb_derived *d);
/* Drop what was noted (the transaction rolled back). */
void cb_derived_forget(struct cb_derived *d);
/* Groups noted and not yet refreshed. */
size_t cb_derived_pending(const struct cb_derived *d);
/* Remove the hook, finalize d's statements and free d (before its connection
 * is closed); NULL is a no-op. */
void cb_derived_free(struct cb_derived *d);

#endif
