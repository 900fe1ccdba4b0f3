/*
 * writer.h - group commit for durable writes: one writer thread with its own
 * store connection runs queued write jobs, many to one transaction.
 *
 * A job is a function that writes through the usual store calls on the
 * connection it is given (cb_conn_begin ... cb_conn_commit/rollback).  The
 * writer takes every job queued (at most CB_WRITER_BATCH), opens one
 * BEGIN IMMEDIATE transaction, runs each job inside its own savepoint (a
 * failing job rolls back only its own work and gets its own error), commits
 * once with synchronous=FULL (one fsync for the whole group), then wakes each
 * waiting caller.  So when cb_writer_run() returns CB_OK the job's writes are
 * committed and durable; when it returns an error none of them are.
 *
 * Threads: cb_writer_run() may be called from any number of threads; it blocks
 * the caller until its job's group has committed or failed.  A job runs on the
 * writer thread: it must not use the caller's own connection, and whatever it
 * reads from or writes to its argument is handed over under the writer's mutex
 * (the caller does not touch it meanwhile).
 */
#ifndef COACHBOX_WRITER_H
#define COACHBOX_WRITER_H

#include <stdint.h>

#include "coachbox/err.h"

struct cb_store;
struct cb_conn;
struct cb_writer;

#define CB_WRITER_BATCH 256 /* most jobs in one group transaction */

/* A write job: runs on the writer's connection c; returns 0 or a cb_err. */
typedef int (*cb_writer_fn)(struct cb_conn *c, void *arg);

/* Start the writer thread for store s.  CB_ENOMEM, or CB_EIO if no thread. */
int cb_writer_start(struct cb_store *s, struct cb_writer **out);
/*
 * Run the jobs still queued, stop the thread and free w (NULL is a no-op).
 * No thread may call cb_writer_run() on w any more.
 */
void cb_writer_stop(struct cb_writer *w);
/*
 * Queue fn(c, arg) and wait until its group is committed.  Returns fn's own
 * error if it failed (its work undone), else the group's commit result: CB_OK
 * only once the writes are durable.  If fn succeeded but the group then
 * failed, the caller must discard whatever fn produced for its answer.
 */
int cb_writer_run(struct cb_writer *w, cb_writer_fn fn, void *arg);

/* Counters (for tests and benchmarks): jobs finished and groups committed since
 * start, and jobs queued but not yet taken by the writer. */
void cb_writer_stats(struct cb_writer *w, uint64_t *jobs, uint64_t *groups, uint64_t *pending);

#endif
