/* store.c - SQLite connections, statement cache, migrations; see store.h. */
#include "coachbox/store.h"
#include "coachbox/err.h"
#include "coachbox/hlc.h"
#include "coachbox/writer.h"
#include "migrations.h"
#include "coachbox/derived.h"

#include <assert.h>
#include <jansson.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STMT_CACHE 96
#define STMT_HINTS 256 /* a power of two */
_Static_assert(STMT_CACHE < 255, "cache slots fit a hint");
/* How long a connection waits for SQLite's write lock (busy_timeout). */
#define CB_BUSY_TIMEOUT_MS 10000
/* Page cache per connection, in KiB as a negative cache_size (SQLite default: 2000). */
#define CB_PAGE_CACHE_KB "-256"
/* Page cache of a sync connection (cb_store_sync_conn), in KiB: a pushed batch or
 * pulled page (2,000 rows, their index entries, change log and versions) dirties
 * several MiB in one transaction; with a smaller cache SQLite spills dirty pages to
 * the WAL mid-transaction and reads them back (pwrite + pread per page), which was
 * ~20% of central's push.  A field server releases it after each round
 * (cb_conn_release_memory); of central's idle lent ones only one keeps it
 * (give_back). */
#define CB_SYNC_PAGE_CACHE_KB "-32768"
/* WAL size (pages) past which a lent sync connection checkpoints at commit after
 * all (sync_wal_hook): 32 MiB at 4 KiB pages, some 5 pushed batches of 2,000 records. */
#define SYNC_WAL_MAX_PAGES 8192
/* Idle lent connections kept for reuse (LIFO); one more is closed when given back. */
#define SPARE_SYNC_MAX 2
#define SPARE_MAX      64

struct stmt_slot {
    char *sql;     /* owned copy: the cache key */
    uint64_t hash; /* of sql (stmt_hash): compared before the text */
    sqlite3_stmt *st;
};

struct cb_conn {
    sqlite3 *db;
    struct cb_store *store;
    struct cb_conn *next;       /* in store->conns */
    struct cb_conn *spare_next; /* in store->spare[fk] while idle */
    int fk;                     /* foreign keys on (ordinary) or off (sync) */
    int lent;                   /* lent for one request (lend), not a thread's own */
    struct stmt_slot cache[STMT_CACHE];
    int ncache;
    int next_evict;
    /* A hint per hash bucket: 1 + the cache slot that last held a statement of
     * that bucket (0: none).  Only a hint: the slot's hash and text are checked,
     * and a miss falls back to scanning the cache. */
    uint8_t hint[STMT_HINTS];
    int group;    /* a writer group transaction is open (cb_conn_group_begin) */
    int unsynced; /* synchronous=NORMAL since cb_conn_begin_unsynced (until cb_conn_sync_wal) */
    int in_job;   /* group mode: the job's savepoint is open */
    /* sync connections: triggers off, derived rows noted and refreshed at commit
     * (derived.h); NULL on ordinary connections */
    struct cb_derived *derived;
};

struct cb_store {
    char path[4096];
    char role[16];
    atomic_int wal_failed; /* a WAL fsync failed (cb_conn_sync_wal): sticky */
    struct cb_hlc hlc;
    int hlc_ready;
    pthread_key_t key;
    pthread_key_t sync_key; /* the thread's sync connection (foreign_keys=OFF) */
    pthread_mutex_t lock;   /* guards conns, spare, nspare */
    struct cb_conn *conns;
    /* Idle lent connections, [0] sync (foreign keys OFF), [1] ordinary, linked
     * through spare_next, newest first; they stay in conns too. */
    struct cb_conn *spare[2];
    int nspare[2];
    _Atomic(struct cb_writer *) writer; /* cb_store_set_writer: takes autocommit writes */
};

int cb_store_schema_version(void)
{
    return (int)cb_migrations_count;
}

int cb_store_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return CB_OK;
    case SQLITE_NOMEM:
        return CB_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CB_EBUSY;
    case SQLITE_CONSTRAINT:
        return CB_ECONFLICT;
    case SQLITE_FULL:
        return CB_EFULL;
    case SQLITE_READONLY:
        return CB_EREADONLY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return CB_ECORRUPT;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
        return CB_EIO;
    case SQLITE_TOOBIG:
        return CB_ETOOLARGE;
    default:
        return CB_EDB;
    }
}

/* Finalize every statement and close the handle; c is freed. */
static void conn_free(struct cb_conn *c)
{
    cb_derived_free(c->derived); /* its statements, before the handle closes */
    for (int i = 0; i < c->ncache; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
    }
    sqlite3_close_v2(c->db);
    free(c);
}

/* pthread key destructor: the thread that owned c has exited. */
static void conn_thread_exit(void *p)
{
    struct cb_conn *c = p;
    struct cb_store *s = c->store;
    pthread_mutex_lock(&s->lock);
    for (struct cb_conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    conn_free(c);
}

int cb_conn_exec(struct cb_conn *c, const char *sql)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return cb_store_rc(rc);
}

/*
 * SQL function cb_json_number(json, key1, key2): the number at json.key1.key2
 * when the text is a JSON object and that value is a JSON number (integer or
 * real), else NULL (missing, another type, malformed text).  Pure, so it is
 * registered innocuous and deterministic: migration 12's triggers on measures
 * use it to keep the ONS4 answers and BMI weight in columns (SQLite's own JSON
 * functions are refused in the schema with trusted_schema=OFF).  Every
 * connection of the store has it; another program writing measures does not.
 */
static void sql_json_number(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc; /* registered with exactly 3 arguments */
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    const char *k1 = (const char *)sqlite3_value_text(argv[1]);
    const char *k2 = (const char *)sqlite3_value_text(argv[2]);
    if (!text || !k1 || !k2) {
        sqlite3_result_null(ctx);
        return;
    }
    /* every number as a double, as SQLite's json_extract() reads one too big for an integer */
    json_t *root =
        json_loadb(text, (size_t)sqlite3_value_bytes(argv[0]), JSON_DECODE_INT_AS_REAL, NULL);
    json_t *v = json_object_get(json_object_get(root, k1), k2);
    if (json_is_integer(v)) {
        sqlite3_result_double(ctx, (double)json_integer_value(v));
    } else if (json_is_real(v)) {
        sqlite3_result_double(ctx, json_real_value(v));
    } else {
        sqlite3_result_null(ctx);
    }
    json_decref(root);
}

/*
 * SQL function cb_derived_deferred(), which the measures' triggers test
 * (migrations 12, 14, 17): always 0 now.  Sync connections, which deferred
 * those triggers through it, run without triggers (derived.h); the function
 * stays for the triggers' text.  Innocuous (usable in triggers with
 * trusted_schema=OFF).
 */
static void sql_derived_deferred(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int(ctx, 0);
}

/*
 * Open a configured connection to s->path; the caller owns *out.  fk: whether
 * foreign keys are enforced (fixed for the connection's lifetime: changing the
 * pragma later would expire every cached statement).
 */
static int conn_open(struct cb_store *s, int fk, struct cb_conn **out)
{
    struct cb_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        return CB_ENOMEM;
    }
    c->store = s;
    int rc = sqlite3_open_v2(s->path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK) {
        int e = cb_store_rc(rc);
        conn_free(c);
        return e;
    }
    sqlite3_busy_timeout(c->db, CB_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 1);
    rc = sqlite3_create_function_v2(c->db, "cb_json_number", 3,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                    sql_json_number, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_create_function_v2(c->db, "cb_derived_deferred", 0,
                                        SQLITE_UTF8 | SQLITE_INNOCUOUS, c, sql_derived_deferred,
                                        NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        int e = cb_store_rc(rc);
        conn_free(c);
        return e;
    }
    /* cache_size: each connection's page cache is bounded (CB_PAGE_CACHE_KB);
     * the OS page cache still holds the file, so a miss is a memory copy.  A sync
     * connection keeps its statement journals in memory (temp_store): a
     * statement writing many rows (a per-group recompute, a purge) journals the
     * pages it changes, and past 64 KiB SQLite would write that journal to a
     * temporary file, a pwrite per page (~600,000 in a fresh site's pull when
     * applied rows still fired triggers). */
    rc = cb_conn_exec(c, fk ? "PRAGMA synchronous=FULL; PRAGMA cache_size=" CB_PAGE_CACHE_KB ";"
                              "PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF;"
                            : "PRAGMA synchronous=FULL; PRAGMA cache_size=" CB_SYNC_PAGE_CACHE_KB
                              "; PRAGMA foreign_keys=OFF; PRAGMA trusted_schema=OFF;"
                              "PRAGMA temp_store=MEMORY;");
    if (rc == CB_OK && !fk) {
        /* A sync connection writes thousands of rows per transaction: no triggers
         * (each would also make every write keep a statement journal); the rows
         * they keep are recomputed per group at commit (derived.h). */
        rc = cb_derived_attach(c->db, &c->derived);
    }
    if (rc) {
        conn_free(c);
        return rc;
    }
    *out = c;
    return CB_OK;
}

/* Open a connection of kind fk (foreign keys on: ordinary; off: sync) and link
 * it into s->conns, so cb_store_close frees it.  Any thread; takes s->lock. */
static int conn_open_listed(struct cb_store *s, int fk, struct cb_conn **out)
{
    struct cb_conn *c = NULL;
    int rc = conn_open(s, fk, &c);
    if (rc) {
        return rc;
    }
    c->fk = fk;
    pthread_mutex_lock(&s->lock);
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->lock);
    *out = c;
    return CB_OK;
}

/* The connection stored under key for this thread, opened on first use. */
static int conn_for_thread(struct cb_store *s, pthread_key_t key, int fk, struct cb_conn **out)
{
    struct cb_conn *c = pthread_getspecific(key);
    if (c) {
        *out = c;
        return CB_OK;
    }
    int rc = conn_open_listed(s, fk, &c);
    if (rc) {
        return rc;
    }
    pthread_setspecific(key, c);
    *out = c;
    return CB_OK;
}

int cb_store_conn(struct cb_store *s, struct cb_conn **out)
{
    return conn_for_thread(s, s->key, 1, out);
}

int cb_store_sync_conn(struct cb_store *s, struct cb_conn **out)
{
    return conn_for_thread(s, s->sync_key, 0, out);
}

/*
 * WAL hook of a lent sync connection (installed by lend), called after each
 * commit with the WAL's size in pages: no checkpoint on the commit path (the
 * caller runs cb_store_checkpoint once it has given its turn up), unless the
 * WAL has grown past SYNC_WAL_MAX_PAGES (checkpoints running beside back-to-back
 * batches never let a new one restart the WAL from its start): then a passive
 * checkpoint here, as SQLite's automatic one would, so the WAL stays bounded.
 */
static int sync_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)arg;
    if (pages >= SYNC_WAL_MAX_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    return SQLITE_OK;
}

void cb_store_checkpoint(struct cb_conn *c)
{
    /* SQLITE_BUSY (another checkpoint is running) or a reader holding old frames
     * only leave pages for the next one. */
    if (c && sqlite3_get_autocommit(c->db)) {
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
}

/* Pop an idle connection of kind fk from the spare list, or open one; the
 * caller owns it until give_back.  Any thread; takes s->lock briefly.  A new
 * sync connection gets sync_wal_hook (no automatic checkpoint at commit). */
static int lend(struct cb_store *s, int fk, struct cb_conn **out)
{
    pthread_mutex_lock(&s->lock);
    struct cb_conn *c = s->spare[fk];
    if (c) {
        s->spare[fk] = c->spare_next;
        s->nspare[fk]--;
        c->spare_next = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (!c) {
        int rc = conn_open_listed(s, fk, &c);
        if (rc) {
            return rc;
        }
        if (!fk) {
            sqlite3_wal_hook(c->db, sync_wal_hook, NULL);
        }
    }
    c->lent = 1;
    *out = c;
    return CB_OK;
}

/*
 * Return a lent connection: it goes on top of the spare list (LIFO, so the few
 * connections that concurrency needs are the ones reused), or is closed past
 * spare_max[fk] idle ones, or when a transaction is still open (a failed
 * rollback: closing ends it).  An ordinary one keeps its bounded 256 KiB
 * cache, since dropping it after every request made each search re-read its
 * index pages (-20 % searches per second).  Of the idle sync connections only
 * the top one keeps its page cache (up to 32 MiB): central's pushes take turns
 * (hub.c), so each batch takes the connection the last one gave back and
 * starts warm (a cold start cost ~25 % of a batch's CPU); the one it displaces
 * releases its cache, so at most one idle 32 MiB cache is kept.
 */
static void give_back(struct cb_store *s, struct cb_conn *c)
{
    static const int spare_max[2] = {SPARE_SYNC_MAX, SPARE_MAX};
    assert(c->lent);
    int reusable = sqlite3_get_autocommit(c->db) && !c->unsynced;
    c->lent = 0;
    pthread_mutex_lock(&s->lock);
    if (reusable && s->nspare[c->fk] < spare_max[c->fk]) {
        if (!c->fk && s->spare[0]) {
            /* Idle, so no other thread uses it; s->lock keeps lend() away. */
            sqlite3_db_release_memory(s->spare[0]->db);
        }
        c->spare_next = s->spare[c->fk];
        s->spare[c->fk] = c;
        s->nspare[c->fk]++;
        c = NULL;
    } else {
        for (struct cb_conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
            if (*pp == c) {
                *pp = c->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (c) {
        conn_free(c);
    }
}

int cb_store_sync_conn_take(struct cb_store *s, struct cb_conn **out)
{
    return lend(s, 0, out);
}

void cb_store_sync_conn_put(struct cb_store *s, struct cb_conn *c)
{
    if (c && c->unsynced && sqlite3_get_autocommit(c->db)) {
        (void)cb_conn_sync_wal(c); /* best effort: the taker did not */
    }
    if (c) {
        give_back(s, c);
    }
}

int cb_store_request_begin(struct cb_store *s, struct cb_conn **out)
{
    struct cb_conn *c = pthread_getspecific(s->key);
    if (c) {
        *out = c; /* the thread has a connection of its own: not lent */
        return CB_OK;
    }
    int rc = lend(s, 1, &c);
    if (rc) {
        return rc;
    }
    pthread_setspecific(s->key, c);
    *out = c;
    return CB_OK;
}

void cb_store_request_end(struct cb_store *s, struct cb_conn *c)
{
    if (!c || !c->lent) {
        return;
    }
    assert(pthread_getspecific(s->key) == c);
    pthread_setspecific(s->key, NULL);
    give_back(s, c);
}

/* Start c's read transaction now (a deferred BEGIN reads nothing until a statement does). */
static int conn_first_read(struct cb_conn *c)
{
    return cb_conn_exec(c, "SELECT 1 FROM sqlite_schema LIMIT 1");
}

/*
 * Pinning: lock (a third lent connection) takes SQLite's write lock with
 * BEGIN IMMEDIATE, waiting at most CB_TWIN_WAIT_MS, so no commit can fall
 * between c's first read and the twin's: both read transactions then see the
 * newest commit, the same snapshot.  The lock is held only for those two
 * reads.  SQLite's busy handler sleeps in steps, so a short timeout costs at
 * most that long when a writer (a sync push turn) holds the lock.
 */
#define CB_TWIN_WAIT_MS 20
int cb_store_read_twin(struct cb_conn *c, struct cb_conn **twin)
{
    assert(c && !sqlite3_get_autocommit(c->db));
    *twin = NULL;
    if (sqlite3_txn_state(c->db, "main") != SQLITE_TXN_NONE) {
        return CB_EINVAL; /* c already reads a snapshot: a twin could not join it */
    }
    struct cb_store *s = c->store;
    struct cb_conn *lock = NULL, *t = NULL;
    int rc = lend(s, 1, &lock);
    if (!rc) {
        rc = lend(s, 1, &t);
    }
    if (!rc) {
        sqlite3_busy_timeout(lock->db, CB_TWIN_WAIT_MS);
        rc = cb_conn_exec(lock, "BEGIN IMMEDIATE");
        sqlite3_busy_timeout(lock->db, CB_BUSY_TIMEOUT_MS);
    }
    if (!rc) {
        rc = conn_first_read(c);
        if (!rc && (rc = cb_conn_exec(t, "BEGIN")) == CB_OK && (rc = conn_first_read(t)) != CB_OK) {
            cb_conn_rollback(t);
        }
        cb_conn_rollback(lock);
    }
    if (lock) {
        give_back(s, lock);
    }
    if (rc) {
        if (t) {
            give_back(s, t);
        }
        return rc;
    }
    *twin = t;
    return CB_OK;
}

void cb_store_twin_end(struct cb_conn *twin)
{
    if (twin) {
        if (cb_conn_exec(twin, "COMMIT") != CB_OK) {
            cb_conn_rollback(twin);
        }
        give_back(twin->store, twin);
    }
}

void cb_store_set_writer(struct cb_store *s, struct cb_writer *w)
{
    assert(!w || !atomic_load(&s->writer)); /* one writer per store */
    atomic_store(&s->writer, w);
}

/*
 * Run fn(c, arg) as a job of the store's writer when c is an ordinary
 * connection outside any transaction (so the write would otherwise be a
 * BEGIN IMMEDIATE of its own racing the writer for SQLite's lock); on c itself
 * when c holds a transaction (the write belongs to it), is the writer's own
 * group connection, or no writer runs.  Either way the write is committed
 * (synchronous=FULL) when CB_OK is returned.
 */
int cb_conn_write(struct cb_conn *c, cb_conn_write_fn fn, void *arg)
{
    struct cb_writer *w = atomic_load(&c->store->writer);
    if (w && !c->group && sqlite3_get_autocommit(c->db)) {
        return cb_writer_run(w, fn, arg);
    }
    return fn(c, arg);
}

sqlite3 *cb_conn_db(struct cb_conn *c)
{
    return c->db;
}

struct cb_store *cb_conn_store(struct cb_conn *c)
{
    return c->store;
}

const char *cb_store_role(const struct cb_store *s)
{
    return s->role;
}

struct cb_hlc *cb_store_hlc(struct cb_store *s)
{
    return &s->hlc;
}

int cb_store_set_role(struct cb_store *s, const char *role)
{
    struct cb_conn *c;
    int rc = cb_store_conn(s, &c);
    if (rc == CB_OK) {
        rc = cb_setting_set(c, "role", role);
    }
    if (rc == CB_OK) {
        snprintf(s->role, sizeof(s->role), "%s", role);
    }
    return rc;
}

/*
 * A hash of the SQL text, eight bytes at a time (this runs for every statement
 * a request or a synced row uses, on texts of up to a few hundred bytes): the
 * statement cache compares hashes before texts, so it need only spread them.
 */
static uint64_t stmt_hash(const char *sql)
{
    size_t n = strlen(sql);
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    const unsigned char *p = (const unsigned char *)sql;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

/* The cache slot of statement sql (hash: stmt_hash(sql)), or -1. */
static int stmt_find(struct cb_conn *c, const char *sql, uint64_t hash)
{
    int h = c->hint[hash & (STMT_HINTS - 1)] - 1;
    if (h >= 0 && h < c->ncache && c->cache[h].hash == hash && strcmp(c->cache[h].sql, sql) == 0) {
        return h;
    }
    for (int i = 0; i < c->ncache; i++) {
        if (c->cache[i].hash == hash && strcmp(c->cache[i].sql, sql) == 0) {
            c->hint[hash & (STMT_HINTS - 1)] = (uint8_t)(i + 1);
            return i;
        }
    }
    return -1;
}

int cb_conn_prepare(struct cb_conn *c, const char *sql, sqlite3_stmt **out)
{
    uint64_t hash = stmt_hash(sql);
    int i = stmt_find(c, sql, hash);
    if (i >= 0) {
        sqlite3_reset(c->cache[i].st);
        sqlite3_clear_bindings(c->cache[i].st);
        *out = c->cache[i].st;
        return CB_OK;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "coachbox: SQL prepare failed: %s\n", sqlite3_errmsg(c->db));
        return cb_store_rc(rc) ? cb_store_rc(rc) : CB_EDB;
    }
    char *key = strdup(sql);
    if (!key) {
        sqlite3_finalize(st);
        return CB_ENOMEM;
    }
    int slot;
    if (c->ncache < STMT_CACHE) {
        slot = c->ncache++;
    } else {
        /* Evict round-robin; the evicted statement is not in use by contract. */
        slot = c->next_evict;
        c->next_evict = (c->next_evict + 1) % STMT_CACHE;
        sqlite3_finalize(c->cache[slot].st);
        free(c->cache[slot].sql);
    }
    c->cache[slot].sql = key;
    c->cache[slot].hash = hash;
    c->cache[slot].st = st;
    c->hint[hash & (STMT_HINTS - 1)] = (uint8_t)(slot + 1);
    *out = st;
    return CB_OK;
}

void cb_stmt_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Run a cached, parameterless statement once (BEGIN, COMMIT, SAVEPOINT ...). */
static int conn_run(struct cb_conn *c, const char *sql)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? CB_OK : (cb_store_rc(s) ? cb_store_rc(s) : CB_EDB);
}

/*
 * In group mode (writer.c) a caller's transaction is a savepoint inside the
 * writer's group transaction: begin opens it, commit releases it (durable only
 * when the group commits), rollback undoes only its work.
 */
int cb_conn_begin(struct cb_conn *c)
{
    if (c->group) {
        assert(!c->in_job);
        int rc = conn_run(c, "SAVEPOINT cb_job");
        c->in_job = rc == CB_OK;
        return rc;
    }
    if (c->unsynced) {
        /* Left unsynced (cb_conn_begin_unsynced): this transaction waits for the
         * disk, and so do the ones before it. */
        int rc = cb_conn_sync_wal(c);
        if (rc) {
            return rc;
        }
    }
    return conn_run(c, "BEGIN IMMEDIATE");
}

int cb_conn_commit(struct cb_conn *c)
{
    if (c->group) {
        assert(c->in_job);
        int rc = conn_run(c, "RELEASE cb_job");
        if (rc) {
            cb_conn_rollback(c);
            return rc;
        }
        c->in_job = 0;
        return CB_OK;
    }
    /* A sync connection's derived rows, recomputed for the groups its writes
     * touched, inside the transaction they commit with. */
    int rc = cb_conn_refresh_derived(c);
    if (rc == CB_OK) {
        rc = conn_run(c, "COMMIT");
    }
    if (rc) {
        cb_conn_rollback(c);
        return rc;
    }
    return CB_OK;
}

/*
 * BEGIN IMMEDIATE on a lent sync connection switched to synchronous=NORMAL
 * first (it cannot change inside a transaction): its commits write their WAL
 * frames without waiting for the disk until cb_conn_sync_wal, which
 * cb_store_sync_conn_put runs if the taker has not.
 */
int cb_conn_begin_unsynced(struct cb_conn *c)
{
    assert(!c->fk && !c->group);
    if (!c->unsynced) {
        int rc = conn_run(c, "PRAGMA synchronous=NORMAL");
        if (rc) {
            return rc;
        }
        c->unsynced = 1;
    }
    return conn_run(c, "BEGIN IMMEDIATE");
}

/*
 * If c was begun unsynced since its last sync: fdatasync the WAL through c's
 * handle on it (SQLITE_FCNTL_JOURNAL_POINTER), so every transaction committed
 * to the database so far, on any connection, is on disk (a commit's frames
 * stay in the WAL until a checkpoint has copied them into the database file,
 * which it syncs first), and put c back to synchronous=FULL (if either fails
 * it stays marked: give_back closes a lent one, the next call retries).
 * Nothing otherwise: c's commits were synced by COMMIT.  c holds no
 * transaction and is the caller's.  CB_EIO when SQLite has no WAL open on c
 * or the sync fails; a failed sync also marks the store for good
 * (cb_store_wal_failed: after a failed fsync a later one may succeed without
 * the lost pages, so nothing written since can be vouched for).
 * cb_conn_sync_wal_now: the fsync alone, on any connection, whatever its mode.
 */
/* fdatasync the WAL through c's handle on it; a failure marks the store. */
static int wal_fsync(struct cb_conn *c)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) == SQLITE_OK && f &&
        f->pMethods && f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) == SQLITE_OK) {
        return CB_OK;
    }
    atomic_store(&c->store->wal_failed, 1);
    return CB_EIO;
}

int cb_conn_sync_wal(struct cb_conn *c)
{
    assert(sqlite3_get_autocommit(c->db));
    if (!c->unsynced) {
        return CB_OK;
    }
    int rc = wal_fsync(c);
    /* After a failed fsync the connection stays marked: not lent again. */
    if (rc == CB_OK && conn_run(c, "PRAGMA synchronous=FULL") == CB_OK) {
        c->unsynced = 0;
    }
    return rc;
}

int cb_conn_sync_wal_now(struct cb_conn *c)
{
    return wal_fsync(c);
}

int cb_store_wal_failed(const struct cb_store *s)
{
    return atomic_load(&((struct cb_store *)(uintptr_t)s)->wal_failed);
}

int cb_conn_refresh_derived(struct cb_conn *c)
{
    return c->derived ? cb_derived_refresh(c->derived) : CB_OK;
}

void cb_conn_release_memory(struct cb_conn *c)
{
    sqlite3_db_release_memory(c->db); /* only unused pages: safe at any time */
}

int cb_store_open_checkpointer(struct cb_store *s, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_close(db);
        return cb_store_rc(rc) ? cb_store_rc(rc) : CB_EDB;
    }
    sqlite3_extended_result_codes(db, 1);
    /* A connection opens the WAL at its first read: until then a checkpoint on
     * it does nothing (it takes the database for one not in WAL mode). */
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_close(db);
        return cb_store_rc(rc) ? cb_store_rc(rc) : CB_EDB;
    }
    *out = db;
    return CB_OK;
}

void cb_conn_rollback(struct cb_conn *c)
{
    if (c->group) {
        /* After an error that ended the whole transaction there is nothing to undo
         * here; the writer sees the group is gone (cb_conn_group_open). */
        if (c->in_job && !sqlite3_get_autocommit(c->db)) {
            sqlite3_exec(c->db, "ROLLBACK TO cb_job; RELEASE cb_job", NULL, NULL, NULL);
        }
        c->in_job = 0;
        return;
    }
    if (!sqlite3_get_autocommit(c->db)) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (c->derived) {
        cb_derived_forget(c->derived); /* what the rolled back writes noted */
    }
}

int cb_conn_group_begin(struct cb_conn *c)
{
    assert(!c->group && !c->in_job);
    assert(!c->derived); /* the writer's connections are ordinary ones */
    int rc = conn_run(c, "BEGIN IMMEDIATE");
    c->group = rc == CB_OK;
    return rc;
}

int cb_conn_group_open(struct cb_conn *c)
{
    return c->group && !sqlite3_get_autocommit(c->db);
}

int cb_conn_group_job_abandoned(struct cb_conn *c)
{
    assert(c->group);
    if (!c->in_job) {
        return 0;
    }
    cb_conn_rollback(c);
    return 1;
}

int cb_conn_group_end(struct cb_conn *c, int commit)
{
    assert(c->group);
    if (c->in_job) {
        cb_conn_rollback(c); /* a job that returned without ending its transaction */
    }
    c->group = 0;
    if (sqlite3_get_autocommit(c->db)) {
        return CB_EDB; /* SQLite already rolled the group back (I/O error, disk full) */
    }
    if (!commit) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return CB_OK;
    }
    return cb_conn_commit(c);
}

/* Read PRAGMA user_version. */
static int user_version(struct cb_conn *c, int *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return cb_store_rc(rc);
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return cb_store_rc(rc);
}

/* Apply pending migrations, each in its own IMMEDIATE transaction. */
static int migrate(struct cb_conn *c)
{
    int v = 0;
    int rc = user_version(c, &v);
    if (rc) {
        return rc;
    }
    if (v > (int)cb_migrations_count) {
        fprintf(stderr,
                "coachbox: database schema version %d is newer than this program (%d); "
                "upgrade coachbox\n",
                v, (int)cb_migrations_count);
        return CB_ESCHEMA;
    }
    /* Only now that the file is known to be ours: WAL persists in the file, so every
     * later connection runs in WAL mode too. */
    if ((rc = cb_conn_exec(c, "PRAGMA journal_mode=WAL")) != CB_OK) {
        return rc;
    }
    for (int i = v; i < (int)cb_migrations_count; i++) {
        char pragma[64];
        if ((rc = cb_conn_begin(c)) != CB_OK) {
            return rc;
        }
        rc = cb_conn_exec(c, cb_migrations[i]);
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", i + 1);
        if (rc == CB_OK) {
            rc = cb_conn_exec(c, pragma);
        }
        if (rc == CB_OK) {
            rc = cb_conn_commit(c);
        } else {
            fprintf(stderr, "coachbox: migration %d failed: %s\n", i + 1, sqlite3_errmsg(c->db));
            cb_conn_rollback(c);
        }
        if (rc) {
            return rc;
        }
    }
    return CB_OK;
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

/*
 * Process-wide SQLite settings, before SQLite initialises (see below); no memory
 * statistics, which would take one global mutex on every allocation of every
 * connection (the workers contend on it).  If SQLite was already initialised
 * (a test opened it directly) the call fails harmlessly.
 */
static void sqlite_global_init(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* No bulk page-cache block and no lookaside per connection: both are one
     * block allocated when a connection opens whose pages become resident only
     * as they are first used, so each connection's share crept up for minutes
     * under load; single allocations are freed (and trimmed) instead. */
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0);
    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
}

/*
 * Personal data is for this account only: a database (and its -wal and -shm,
 * which SQLite creates with the database's mode) that others could read loses
 * the group's and others' bits (0644 becomes 0600), saying so; a data directory others can enter is
 * warned about (it is the operator's to change).  sb: the directory's stat (NULL: just created,
 * 0700).  Best effort: nothing here stops the store opening.
 */
static void tighten_modes(const char *data_dir, const struct stat *sb)
{
    static const char *const files[] = {"coachbox.db", "coachbox.db-wal", "coachbox.db-shm"};
    char path[4200];
    struct stat st;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int n = snprintf(path, sizeof(path), "%s/%s", data_dir, files[i]);
        if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &st) != 0 || (st.st_mode & 077) == 0) {
            continue;
        }
        /* Only the group's and others' bits go: a read-only database stays so. */
        if (chmod(path, st.st_mode & 0700) == 0) {
            fprintf(stderr, "coachbox: %s could be read by other users: made %04o\n", path,
                    (unsigned)(st.st_mode & 0700));
        } else {
            fprintf(stderr,
                    "coachbox: warning: %s can be read by other users and cannot be "
                    "made 0600: %s\n",
                    path, strerror(errno));
        }
    }
    if (sb && (sb->st_mode & 077) != 0) {
        fprintf(stderr,
                "coachbox: warning: other users can enter the data directory %s (mode %03o): "
                "chmod 700 it\n",
                data_dir, (unsigned)(sb->st_mode & 0777));
    }
}

int cb_store_exists(const char *data_dir)
{
    char path[4200];
    struct stat st;
    int n = snprintf(path, sizeof(path), "%s/coachbox.db", data_dir);
    return n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cb_store_open_existing(const char *data_dir, struct cb_store **out)
{
    if (!cb_store_exists(data_dir)) {
        fprintf(stderr, "coachbox: no coachbox data in %s (is --data right?)\n", data_dir);
        return CB_ENOTFOUND;
    }
    int rc = cb_store_open(data_dir, out);
    if (rc) {
        fprintf(stderr, "coachbox: cannot open the data directory %s: %s\n", data_dir,
                cb_strerror(rc));
    }
    return rc;
}

int cb_store_open(const char *data_dir, struct cb_store **out)
{
    pthread_once(&sqlite_once, sqlite_global_init);
    struct stat sb;
    int created = 0;
    if (stat(data_dir, &sb) != 0) {
        if (errno != ENOENT || mkdir(data_dir, 0700) != 0) {
            fprintf(stderr, "coachbox: cannot create data directory %s: %s\n", data_dir,
                    strerror(errno));
            return CB_EIO;
        }
        created = 1;
    } else if (!S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "coachbox: %s is not a directory\n", data_dir);
        return CB_EIO;
    }
    /* SQLite needs to create its -wal and -shm files beside the database. */
    if (access(data_dir, R_OK | W_OK | X_OK) != 0) {
        fprintf(stderr, "coachbox: the data directory %s is not readable and writable: %s\n",
                data_dir, strerror(errno));
        return CB_EIO;
    }
    tighten_modes(data_dir, created ? NULL : &sb);
    struct cb_store *s = calloc(1, sizeof(*s));
    if (!s) {
        return CB_ENOMEM;
    }
    int n = snprintf(s->path, sizeof(s->path), "%s/coachbox.db", data_dir);
    if (n < 0 || (size_t)n >= sizeof(s->path)) {
        free(s);
        return CB_ETOOLARGE;
    }
    if (pthread_key_create(&s->key, conn_thread_exit) != 0) {
        free(s);
        return CB_ENOMEM;
    }
    if (pthread_key_create(&s->sync_key, conn_thread_exit) != 0) {
        pthread_key_delete(s->key);
        free(s);
        return CB_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    mode_t old = umask(077);
    struct cb_conn *c;
    int rc = cb_store_conn(s, &c);
    if (rc == CB_OK && sqlite3_db_readonly(c->db, "main") == 1) {
        fprintf(stderr,
                "coachbox: the database %s is read-only (check its permissions): "
                "refusing to start, nothing could be stored\n",
                s->path);
        rc = CB_EREADONLY;
    }
    if (rc == CB_OK) {
        /* Touch the file so a non-database is detected before migrating. */
        rc = cb_conn_exec(c, "SELECT count(*) FROM sqlite_schema");
        if (rc == CB_OK) {
            rc = migrate(c);
        }
    }
    umask(old);
    if (rc == CB_OK) {
        char buf[32];
        snprintf(s->role, sizeof(s->role), "field");
        if (cb_setting_get(c, "role", buf, sizeof(buf)) == CB_OK && strcmp(buf, "central") == 0) {
            snprintf(s->role, sizeof(s->role), "central");
        }
        uint64_t persisted = 0;
        if (cb_setting_get(c, "hlc", buf, sizeof(buf)) == CB_OK) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(buf, &end, 10);
            if (errno == 0 && *end == '\0') {
                persisted = (uint64_t)v;
            }
        }
        cb_hlc_init(&s->hlc, persisted);
        s->hlc_ready = 1;
    }
    if (rc) {
        if (rc != CB_ESCHEMA) {
            fprintf(stderr, "coachbox: cannot open database %s: %s\n", s->path, cb_strerror(rc));
        }
        cb_store_close(s);
        return rc;
    }
    *out = s;
    return CB_OK;
}

void cb_store_close(struct cb_store *s)
{
    if (!s) {
        return;
    }
    pthread_setspecific(s->key, NULL);
    pthread_setspecific(s->sync_key, NULL);
    pthread_mutex_lock(&s->lock);
    struct cb_conn *c = s->conns;
    s->conns = NULL;
    pthread_mutex_unlock(&s->lock);
    while (c) {
        struct cb_conn *next = c->next;
        conn_free(c);
        c = next;
    }
    pthread_key_delete(s->key);
    pthread_key_delete(s->sync_key);
    pthread_mutex_destroy(&s->lock);
    if (s->hlc_ready) {
        cb_hlc_destroy(&s->hlc);
    }
    free(s);
}

const char *cb_store_path(const struct cb_store *s)
{
    return s->path;
}

int cb_setting_get(struct cb_conn *c, const char *key, char *out, size_t outlen)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT value FROM settings WHERE key = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = CB_OK;
    } else {
        rc = s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

int cb_setting_set(struct cb_conn *c, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "INSERT INTO settings(key, value) VALUES (?1, ?2) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    rc = cb_store_rc(sqlite3_step(st));
    cb_stmt_done(st);
    return rc;
}
