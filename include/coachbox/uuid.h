/*
 * uuid.h - UUIDv7 identifiers (RFC 9562): 48-bit Unix milliseconds, version
 * and variant bits, 74 random bits from the CTR_DRBG (rng.h).  Minted where a
 * record is created, so creation never needs central.  Within one process the
 * ids are strictly increasing (a 12-bit counter in rand_a breaks ties).
 */
#ifndef COACHBOX_UUID_H
#define COACHBOX_UUID_H

#include <stdint.h>

#define CB_UUID_STRLEN 37 /* 36 characters + NUL */

/* Write a new lowercase UUIDv7 into out. */
int cb_uuid7(char out[CB_UUID_STRLEN]);
/* Same, with an explicit timestamp (tests). */
int cb_uuid7_at(int64_t unix_ms, char out[CB_UUID_STRLEN]);
/*
 * A name-based id (UUID version 8, SHA-256 of kind, a and b): the same
 * inputs give the same id on every server, so records with a natural key
 * (attendance of a person at a session, enrolment of a person in a
 * programme) created at two offline sites are one record when they sync.
 */
void cb_uuid_derived(const char *kind, const char *a, const char *b, char out[CB_UUID_STRLEN]);
/* 1 if s is a canonical (lowercase) UUID of any version, else 0. */
int cb_uuid_valid(const char *s);

#endif
