/* writer.c - group commit: one writer thread, one connection; see writer.h. */
#include "coachbox/writer.h"
#include "coachbox/store.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

struct job {
    cb_writer_fn fn;
    void *arg;
    int rc;
    int done;
    pthread_cond_t cond; /* signalled (under the writer's lock) when done */
    struct job *next;
};

struct cb_writer {
    struct cb_store *store;
    pthread_t thread;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t work;  /* a job was queued, or stop */
    struct job *head, *tail;
    int stopping;
    uint64_t jobs, groups;
};

/*
 * Run the n jobs of batch in group transactions on c and set each job's rc.
 * If SQLite ends the whole transaction under a job (I/O error, disk full), the
 * jobs already run in it lose their work and get that job's error; the rest
 * continue in a new group.  Writer thread only; the lock is not held.
 */
static uint64_t run_batch(struct cb_conn *c, struct job *batch, int n)
{
    uint64_t groups = 0;
    struct job *first = batch; /* first job of the current group */
    int rc = cb_conn_group_begin(c);
    for (struct job *j = batch; n > 0; j = j->next, n--) {
        if (rc) {
            j->rc = rc; /* no group could be opened */
            continue;
        }
        j->rc = j->fn(c, j->arg);
        if (cb_conn_group_job_abandoned(c) && j->rc == CB_OK) {
            j->rc = CB_EINTERNAL; /* a job must end its own transaction */
        }
        if (!cb_conn_group_open(c)) {
            int lost = j->rc ? j->rc : CB_EDB;
            for (struct job *k = first; k != j->next; k = k->next) {
                k->rc = k->rc ? k->rc : lost;
            }
            cb_conn_group_end(c, 0);
            first = j->next;
            rc = n > 1 ? cb_conn_group_begin(c) : CB_EDB;
            continue;
        }
        if (n == 1) {
            int crc = cb_conn_group_end(c, 1);
            groups += crc == CB_OK;
            for (struct job *k = first; k != j->next; k = k->next) {
                k->rc = k->rc ? k->rc : crc;
            }
        }
    }
    return groups;
}

static void *writer_main(void *arg)
{
    struct cb_writer *w = arg;
    struct cb_conn *c = NULL;
    int crc = cb_store_conn(w->store, &c);
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping) {
            pthread_cond_wait(&w->work, &w->lock);
        }
        if (!w->head) {
            break;
        }
        struct job *batch = w->head;
        int n = 1;
        struct job *last = batch;
        while (last->next && n < CB_WRITER_BATCH) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (!w->head) {
            w->tail = NULL;
        }
        last->next = NULL;
        pthread_mutex_unlock(&w->lock);
        uint64_t groups = 0;
        if (crc) {
            for (struct job *j = batch; j; j = j->next) {
                j->rc = crc;
            }
        } else {
            groups = run_batch(c, batch, n);
        }
        pthread_mutex_lock(&w->lock);
        for (struct job *j = batch; j;) {
            struct job *next = j->next; /* j is the waiter's: gone once it wakes */
            j->done = 1;
            pthread_cond_signal(&j->cond); /* only this job's caller wakes */
            j = next;
        }
        w->jobs += (uint64_t)n;
        w->groups += groups;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int cb_writer_start(struct cb_store *s, struct cb_writer **out)
{
    struct cb_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        return CB_ENOMEM;
    }
    w->store = s;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return CB_EIO;
    }
    *out = w;
    return CB_OK;
}

void cb_writer_stop(struct cb_writer *w)
{
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    assert(!w->head);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

int cb_writer_run(struct cb_writer *w, cb_writer_fn fn, void *arg)
{
    struct job j = {fn, arg, 0, 0, PTHREAD_COND_INITIALIZER, NULL};
    pthread_mutex_lock(&w->lock);
    assert(!w->stopping);
    if (w->tail) {
        w->tail->next = &j;
    } else {
        w->head = &j;
    }
    w->tail = &j;
    pthread_cond_signal(&w->work);
    while (!j.done) {
        pthread_cond_wait(&j.cond, &w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    pthread_cond_destroy(&j.cond);
    return j.rc;
}

void cb_writer_stats(struct cb_writer *w, uint64_t *jobs, uint64_t *groups, uint64_t *pending)
{
    pthread_mutex_lock(&w->lock);
    *jobs = w->jobs;
    *groups = w->groups;
    *pending = 0;
    for (const struct job *j = w->head; j; j = j->next) {
        (*pending)++;
    }
    pthread_mutex_unlock(&w->lock);
}
