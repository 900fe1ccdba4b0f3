/*
 * store.h - the SQLite record store: one database file per data directory,
 * one connection per thread, numbered migrations.
 *
 * Threads: a cb_store may be shared by any number of threads.  Each thread
 * gets its own cb_conn from cb_store_conn() (opened lazily, closed when the
 * thread exits or when the store closes).  A cb_conn must only be used by the
 * thread that obtained it.  Connections run in WAL mode with synchronous=FULL
 * (a committed write survives a power cut), foreign keys on and a busy timeout.
 *
 * Writes: cb_conn_begin() issues BEGIN IMMEDIATE; every write path is one
 * transaction that ends with cb_conn_commit() or cb_conn_rollback().
 *
 * Statements: cb_conn_prepare() returns a cached prepared statement, reset and
 * with bindings cleared; the caller calls cb_stmt_done() when finished with it
 * (so no read snapshot stays open).  The connection owns all statements.
 *
 * Errors: SQLite result codes map to enum cb_err through cb_store_rc().
 */
#ifndef COACHBOX_STORE_H
#define COACHBOX_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct cb_store;
struct cb_conn;
struct cb_writer;

/* A write run by cb_conn_write: on connection c; returns 0 or a cb_err. */
typedef int (*cb_conn_write_fn)(struct cb_conn *c, void *arg);

/* The schema version this binary writes (PRAGMA user_version). */
int cb_store_schema_version(void);

/*
 * Open (creating if needed, mode 0700/0600) DIR/coachbox.db, run pending
 * migrations, and return the store.  An existing database others could read
 * is made 0600 (said on stderr); a directory others can enter is warned about.  CB_ESCHEMA if the
 * database is newer than this binary; CB_EIO if the directory cannot be created or opened;
 * CB_ECORRUPT if the file is not a healthy database.
 */
int cb_store_open(const char *data_dir, struct cb_store **out);
/* 1 if DIR/coachbox.db exists (commands that only use a store check first). */
int cb_store_exists(const char *data_dir);
/*
 * cb_store_open for a command that only uses a store: CB_ENOTFOUND when DIR
 * holds none (a mistyped --data; none is created).  Says what failed on stderr.
 */
int cb_store_open_existing(const char *data_dir, struct cb_store **out);
/* Close every connection and free the store.  No thread may still use it. */
void cb_store_close(struct cb_store *s);
/* Path of the database file (owned by the store). */
const char *cb_store_path(const struct cb_store *s);

/* The store's role: "field" (default) or "central" (setting "role"). */
const char *cb_store_role(const struct cb_store *s);
/* Set and persist the role (CLI, before serving). */
int cb_store_set_role(struct cb_store *s, const char *role);
/* The store's hybrid logical clock (hlc.h), persisted as setting "hlc". */
struct cb_hlc *cb_store_hlc(struct cb_store *s);
/* The store a connection belongs to. */
struct cb_store *cb_conn_store(struct cb_conn *c);

/* This thread's connection to s (opened on first use). */
int cb_store_conn(struct cb_store *s, struct cb_conn **out);
/*
 * This thread's sync connection to s (opened on first use, closed like the
 * other): foreign keys OFF for its whole lifetime, because synced rows arrive
 * in scope order, not dependency order, and were checked by the server that
 * wrote them.  And no triggers: the rows they keep elsewhere (the measures'
 * report columns and latest measure, the contact counts) are noted as rows
 * are written and recomputed per group by cb_conn_commit, in the transaction
 * (derived.h); so write measures and encounters there only inside
 * cb_conn_begin/cb_conn_commit.  Only sync/ (hub.c's push, site.c's rounds)
 * uses it; it is a separate SQLite connection, so never hold a transaction
 * open on both at once.
 */
int cb_store_sync_conn(struct cb_store *s, struct cb_conn **out);
/*
 * A sync connection lent for one request (foreign keys OFF, as above), from a
 * small store-wide spare list, so that a server whose workers all serve sync
 * requests keeps one or two sync connections, not one per worker.  Give it
 * back with cb_store_sync_conn_put, no transaction open (put(NULL) does
 * nothing); the last one given back keeps its page cache for the next taker.
 * Its commits do not checkpoint the WAL (unless the WAL has grown past 32 MiB):
 * the caller runs cb_store_checkpoint after it has released whatever lock
 * serialises its writes.  Errors: CB_ENOMEM, CB_EDB, CB_EIO.
 */
int cb_store_sync_conn_take(struct cb_store *s, struct cb_conn **out);
void cb_store_sync_conn_put(struct cb_store *s, struct cb_conn *c);
/*
 * A passive checkpoint of the WAL on c (copies the committed pages no reader
 * still needs into the database, without waiting for writers or readers);
 * nothing when c holds a transaction.  Errors (another checkpoint running) are
 * ignored: the next one copies what this one left.  Any connection, its thread.
 */
void cb_store_checkpoint(struct cb_conn *c);
/*
 * An HTTP request's connection: lent from the store's spare list (newest
 * first) and made this thread's connection (cb_store_conn returns it) until
 * cb_store_request_end, which gives it back with its unused page cache
 * released.  A thread that already has a connection of its own keeps using
 * it (nothing is lent).  So a server holds as many ordinary connections as
 * requests ever ran at once, not one per worker thread.  Errors as
 * cb_store_conn.  request_end: on the same thread, no transaction open;
 * NULL does nothing.
 */
int cb_store_request_begin(struct cb_store *s, struct cb_conn **out);
void cb_store_request_end(struct cb_store *s, struct cb_conn *c);
/*
 * A second connection reading c's snapshot, for a report read on two threads.
 * c must hold a deferred transaction (BEGIN) that has not read yet
 * (CB_EINVAL if it has: a caller's bug).  On CB_OK both c and *twin hold read
 * transactions on the same snapshot (the newest commit) and *twin is lent
 * from the spare list: use it on one other thread at a time and end it with
 * cb_store_twin_end (which ends its transaction and gives it back; NULL does
 * nothing).  CB_EBUSY when a writer held SQLite's write lock for longer than
 * a short wait; other errors as cb_store_conn.  On any error *twin is NULL
 * and c may or may not have started reading (its transaction stays open):
 * the caller reads on c alone.  While the two first reads run, every writer
 * waits (well under a millisecond with a spare connection ready).  c's
 * thread; takes the store's lock briefly.
 */
int cb_store_read_twin(struct cb_conn *c, struct cb_conn **twin);
void cb_store_twin_end(struct cb_conn *twin);
/*
 * While a group-commit writer (writer.h) runs for s, register it here (NULL
 * when it stops, before cb_writer_stop): a write that a thread would otherwise
 * commit on its own connection outside any transaction (an audit of a read,
 * a session's last-seen time) then queues as a job of the writer, in FIFO
 * order with the record writes, instead of contending for SQLite's write lock
 * (whose busy handler is not fair).  Call before other threads use s, or
 * after they stopped.
 */
void cb_store_set_writer(struct cb_store *s, struct cb_writer *w);
/*
 * Run fn(c, arg), a write that is one statement or opens its own transaction:
 * as a job of the registered writer (on the writer's connection, which fn must
 * then use instead of c) when c is outside a transaction and not the writer's;
 * otherwise on c, inside whatever transaction c holds.  CB_OK means committed
 * (durable) when c held no transaction, else part of c's transaction.
 */
int cb_conn_write(struct cb_conn *c, cb_conn_write_fn fn, void *arg);

/* The raw SQLite handle of c (for sqlite3_changes, errmsg). */
sqlite3 *cb_conn_db(struct cb_conn *c);

/* Prepared, cached statement for sql; reset with cleared bindings. */
int cb_conn_prepare(struct cb_conn *c, const char *sql, sqlite3_stmt **out);
/* Reset st and clear its bindings; safe on NULL. */
void cb_stmt_done(sqlite3_stmt *st);
/* Run sql (no results) once; for DDL and simple statements. */
int cb_conn_exec(struct cb_conn *c, const char *sql);

int cb_conn_begin(struct cb_conn *c);  /* BEGIN IMMEDIATE */
int cb_conn_commit(struct cb_conn *c); /* COMMIT; rolls back on failure */
/*
 * BEGIN IMMEDIATE on a sync connection (lent or a thread's own) whose commits,
 * from now on, do not wait for the disk (synchronous=NORMAL, WAL mode): a
 * transaction is atomic and visible at its commit but survives a power loss
 * only once cb_conn_sync_wal has returned CB_OK, so call it before anyone is
 * told it is durable; it also puts the connection back to waiting
 * (synchronous=FULL), and does nothing on a connection not begun unsynced;
 * cb_conn_begin on a connection left unsynced syncs it first.
 * cb_store_sync_conn_put syncs (best effort) if the taker has not.  Lets a
 * writer give up a lock, or go on with its next transaction, before the disk
 * is waited for; one fsync then covers them all.
 */
int cb_conn_begin_unsynced(struct cb_conn *c);
int cb_conn_sync_wal(struct cb_conn *c);     /* every commit so far durable; CB_EIO */
int cb_conn_sync_wal_now(struct cb_conn *c); /* fsync the WAL now, any connection; CB_EIO */
/* A WAL fsync has failed since the store was opened (sticky): the process
 * must not acknowledge writes any more (hub.c answers 503); restart it. */
int cb_store_wal_failed(const struct cb_store *s);
void cb_conn_rollback(struct cb_conn *c); /* ROLLBACK if a transaction is open */
/*
 * A bare connection to s's database for a helper thread that only runs
 * checkpoints (sqlite3_wal_checkpoint_v2): not in the statement cache or the
 * store's list, so the caller closes it with sqlite3_close, before
 * cb_store_close.  Any thread.
 */
int cb_store_open_checkpointer(struct cb_store *s, sqlite3 **out);
/*
 * On a sync connection, recompute now the derived rows of the groups that this
 * transaction's writes touched (derived.h), as cb_conn_commit does before it
 * commits; on other connections (triggers keep them) nothing.  Errors as
 * cb_derived_refresh: the caller rolls back.
 */
int cb_conn_refresh_derived(struct cb_conn *c);
/* Free c's unused page cache (pages a transaction holds stay): a sync connection's cache
 * is large for a batch (store.c) and is not kept between batches. */
void cb_conn_release_memory(struct cb_conn *c);

/*
 * Group mode, for the writer thread (writer.h) only: cb_conn_group_begin()
 * opens one BEGIN IMMEDIATE transaction; until cb_conn_group_end(), every
 * cb_conn_begin/commit/rollback on c becomes SAVEPOINT/RELEASE/ROLLBACK TO,
 * so an unchanged write path runs as one job of the group and a failing job
 * undoes only its own work.  cb_conn_group_open() is 0 once SQLite has rolled
 * the whole group back (an I/O error, disk full).  cb_conn_group_end(c, 1)
 * commits (synchronous=FULL: durable when it returns CB_OK); (c, 0) rolls
 * back; CB_EDB if the group was already gone.
 */
int cb_conn_group_begin(struct cb_conn *c);
int cb_conn_group_open(struct cb_conn *c);
/* Roll back the savepoint of a job that returned without ending it; 1 if it had to. */
int cb_conn_group_job_abandoned(struct cb_conn *c);
int cb_conn_group_end(struct cb_conn *c, int commit);

/* Map an SQLite result code to enum cb_err (SQLITE_OK/ROW/DONE -> CB_OK). */
int cb_store_rc(int sqlite_rc);

/* Key/value settings (site id, role, ...).  get: CB_ENOTFOUND if absent;
 * value is copied into out (truncated to outlen). */
int cb_setting_get(struct cb_conn *c, const char *key, char *out, size_t outlen);
int cb_setting_set(struct cb_conn *c, const char *key, const char *value);

#endif
