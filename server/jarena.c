/*
 * jarena.c - region allocation for large parsed JSON documents (jarena.h).
 *
 * Each arena is one anonymous mapping of CB_JARENA_RESERVE bytes (reserved
 * without commitment; the kernel gives pages as they are touched) whose
 * address range is published in a small global table of slots.  jansson's
 * free function looks a pointer up in that table: inside a live arena it is
 * left alone, anything else was malloc'd and is freed.  The malloc function
 * bumps the calling thread's current arena, which is set only for the length
 * of cb_jarena_loadb.
 */
#include "coachbox/jarena.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "coachbox/err.h"
#include "coachbox/jload.h"

#define ALIGN 16

struct cb_jarena {
    unsigned char *base; /* the mapping: CB_JARENA_RESERVE bytes */
    size_t used;         /* bytes handed out from base */
    int slot;            /* its entry in slot_lo/slot_hi */
};

/* Published ranges [lo, hi) of live arenas; lo 0: a free slot.  Written under
 * slots_lock (hi before lo on publish, lo before hi on retire), read without it
 * by jarena_free_fn. */
static _Atomic uintptr_t slot_lo[CB_JARENA_SLOTS];
static _Atomic uintptr_t slot_hi[CB_JARENA_SLOTS];
static int slot_taken[CB_JARENA_SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

/* Retired arenas kept for reuse (their pages stay touched, so the next page's
 * parse does not fault them in again), still published in their slots: a
 * stray free of a pointer into one stays a no-op.  cb_jarena_trim unmaps them.
 * Not under AddressSanitizer, so that a value used after its arena was freed
 * faults there. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_MAX 0
#else
#define POOL_MAX 2
#endif
static struct cb_jarena *pool[POOL_MAX > 0 ? POOL_MAX : 1];
static int npool; /* under slots_lock */

/* The arena the running parse on this thread allocates from, or NULL. */
static _Thread_local struct cb_jarena *current;

/* Withdraw a's range from the slots (caller holds slots_lock). */
static void unpublish_locked(struct cb_jarena *a)
{
    atomic_store_explicit(&slot_lo[a->slot], 0, memory_order_release);
    atomic_store_explicit(&slot_hi[a->slot], 0, memory_order_relaxed);
    slot_taken[a->slot] = 0;
}

/* Unmap a's region and free a (unpublished, or never published). */
static void unmap(struct cb_jarena *a)
{
    munmap(a->base, CB_JARENA_RESERVE);
    free(a);
}

/* Is p inside a live arena's region? */
static int in_arena(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    for (int i = 0; i < CB_JARENA_SLOTS; i++) {
        uintptr_t lo = atomic_load_explicit(&slot_lo[i], memory_order_acquire);
        if (lo && a >= lo && a < atomic_load_explicit(&slot_hi[i], memory_order_relaxed)) {
            return 1;
        }
    }
    return 0;
}

/* jansson's malloc: a bump of this thread's current arena, else malloc (also
 * when the arena's reservation is used up). */
static void *jarena_malloc_fn(size_t n)
{
    struct cb_jarena *a = current;
    if (a) {
        size_t need = (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
        if (need >= n && need <= CB_JARENA_RESERVE - a->used) {
            void *p = a->base + a->used;
            a->used += need;
            return p;
        }
    }
    return malloc(n);
}

/* jansson's free: nothing for arena memory (it goes with its region). */
static void jarena_free_fn(void *p)
{
    if (p && !in_arena(p)) {
        free(p);
    }
}

void cb_jarena_install(void)
{
    json_set_alloc_funcs(jarena_malloc_fn, jarena_free_fn);
}

int cb_jarena_new(struct cb_jarena **out)
{
    *out = NULL;
    pthread_mutex_lock(&slots_lock);
    if (npool > 0) {
        *out = pool[--npool];
        (*out)->used = 0;
    }
    pthread_mutex_unlock(&slots_lock);
    if (*out) {
        return CB_OK;
    }
    struct cb_jarena *a = calloc(1, sizeof(*a));
    if (!a) {
        return CB_ENOMEM;
    }
    void *m = mmap(NULL, CB_JARENA_RESERVE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        free(a);
        return CB_ENOMEM;
    }
    a->base = m;
    a->slot = -1;
    pthread_mutex_lock(&slots_lock);
    for (int i = 0; i < CB_JARENA_SLOTS; i++) {
        if (!slot_taken[i]) {
            slot_taken[i] = 1;
            a->slot = i;
            atomic_store_explicit(&slot_hi[i], (uintptr_t)a->base + CB_JARENA_RESERVE,
                                  memory_order_relaxed);
            atomic_store_explicit(&slot_lo[i], (uintptr_t)a->base, memory_order_release);
            break;
        }
    }
    pthread_mutex_unlock(&slots_lock);
    if (a->slot < 0) {
        unmap(a);
        return CB_EBUSY;
    }
    *out = a;
    return CB_OK;
}

struct cb_jarena *cb_jarena_use(struct cb_jarena *a)
{
    struct cb_jarena *prev = current;
    current = a;
    return prev;
}

json_t *cb_jarena_loadb(struct cb_jarena *a, const char *buf, size_t len, size_t flags,
                        json_error_t *err)
{
    struct cb_jarena *prev = cb_jarena_use(a);
    json_t *v = cb_jload(buf, len, flags, err);
    cb_jarena_use(prev);
    return v;
}

int cb_jarena_owns(const struct cb_jarena *a, const void *p)
{
    return a && (uintptr_t)p >= (uintptr_t)a->base &&
           (uintptr_t)p < (uintptr_t)a->base + CB_JARENA_RESERVE;
}

size_t cb_jarena_used(const struct cb_jarena *a)
{
    return a ? a->used : 0;
}

void cb_jarena_free(struct cb_jarena *a)
{
    if (!a) {
        return;
    }
    assert(current != a);
    pthread_mutex_lock(&slots_lock);
    if (npool < POOL_MAX) {
        pool[npool++] = a;
        pthread_mutex_unlock(&slots_lock);
        return;
    }
    unpublish_locked(a);
    pthread_mutex_unlock(&slots_lock);
    unmap(a);
}

void cb_jarena_trim(void)
{
    for (;;) {
        pthread_mutex_lock(&slots_lock);
        struct cb_jarena *a = npool > 0 ? pool[--npool] : NULL;
        if (a) {
            unpublish_locked(a);
        }
        pthread_mutex_unlock(&slots_lock);
        if (!a) {
            return;
        }
        unmap(a);
    }
}
