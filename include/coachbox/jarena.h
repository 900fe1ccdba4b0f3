/*
 * jarena.h - region allocation for large parsed JSON documents.
 *
 * A pulled sync page (2,000 changes) parses into some 100,000 jansson values:
 * as many malloc calls, and as many free calls when the page is dropped, on
 * another thread than the one that parsed it (the pull's prefetch), which made
 * glibc's arena locks the busiest futexes of a pull.  A parse into an arena
 * (cb_jarena_loadb) takes its memory from one region reserved for the arena
 * instead: allocating is a pointer bump, freeing one of its values is nothing,
 * and the whole region goes back at once with cb_jarena_free.
 *
 * Rules:
 *  - cb_jarena_install() sets jansson's allocator; call it once at start,
 *    before other threads run (main).  Without it arenas are never used and a
 *    parse into one is a plain parse.  Values allocated with jansson outside
 *    an arena's parse are plain malloc/free, on every thread, before or after
 *    the install (the free function tells the two apart by address).
 *  - Only the parse itself (cb_jarena_loadb) and code run between
 *    cb_jarena_use(a) and cb_jarena_use(previous) allocate from the arena:
 *    values made at other times, even into the parsed tree (a key set on an
 *    object), are plain heap values, freed as usual when the tree drops them.
 *    While an arena is in use, text jansson returns to be free()d (json_dumps,
 *    cb_json_dump) would come from it too: switch the arena off around those
 *    (cb_jarena_use(NULL)).
 *  - The arena must outlive every reference into the tree: drop the tree
 *    (json_decref) and anything that took a reference into it, then
 *    cb_jarena_free.  A value used after that faults (the region is unmapped).
 *  - An arena belongs to one parse at a time; it may be freed on any thread.
 */
#ifndef COACHBOX_JARENA_H
#define COACHBOX_JARENA_H

#include <jansson.h>
#include <stddef.h>

/* Address space reserved per arena (not memory: pages are used as touched).  A
 * parse that outgrows it goes on in plain heap allocations. */
#define CB_JARENA_RESERVE ((size_t)512 * 1024 * 1024)
/* Arenas alive at once in a process (a pull holds two or three). */
#define CB_JARENA_SLOTS 8

struct cb_jarena;

/* Make jansson allocate through this module (idempotent; see the rules above). */
void cb_jarena_install(void);

/*
 * Reserve a new arena into *out (the caller frees it with cb_jarena_free).
 * CB_EBUSY when CB_JARENA_SLOTS are in use, CB_ENOMEM when the address space
 * cannot be reserved; either way the caller parses without one.
 */
int cb_jarena_new(struct cb_jarena **out);

/*
 * json_loadb(buf, len, flags, err) - parsed by cb_jload (jload.h), same
 * result - with every allocation of the parse from arena a (a NULL arena: a
 * plain parse).  The result is a new reference, as
 * json_loadb's; a is then in use until cb_jarena_free.
 */
json_t *cb_jarena_loadb(struct cb_jarena *a, const char *buf, size_t len, size_t flags,
                        json_error_t *err);

/*
 * Make a (NULL: none) the arena jansson allocates from on the calling thread;
 * returns the one in use before, to be put back.  See the rules above.
 */
struct cb_jarena *cb_jarena_use(struct cb_jarena *a);

/* Is p inside a's region (given out by it or not)?  For checks and tests. */
int cb_jarena_owns(const struct cb_jarena *a, const void *p);

/* Bytes of a's region in use (the parse's allocations, rounded to 16). */
size_t cb_jarena_used(const struct cb_jarena *a);

/*
 * Give a's region back (NULL: nothing).  Every value in it must be
 * unreferenced.  Up to two freed arenas are kept, pages and all, for the next
 * cb_jarena_new (the pages of a pull's next page are then already there);
 * cb_jarena_trim unmaps them.
 */
void cb_jarena_free(struct cb_jarena *a);

/* Unmap the arenas cb_jarena_free kept (at the end of a pull; any thread). */
void cb_jarena_trim(void);

#endif
