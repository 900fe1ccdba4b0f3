/*
 * rng.h - process-wide cryptographic random bytes (mbedTLS CTR_DRBG seeded
 * from the platform entropy source).  Thread-safe: one DRBG behind a mutex.
 */
#ifndef COACHBOX_RNG_H
#define COACHBOX_RNG_H

#include <stddef.h>

/* Seed the DRBG; idempotent.  CB_ECRYPTO if no entropy is available. */
int cb_rng_init(void);
/* Fill buf with n random bytes; seeds on first use. */
int cb_rng_bytes(void *buf, size_t n);
/* Write n random bytes as 2n lowercase hex characters plus NUL into out. */
int cb_rng_hex(char *out, size_t n);

#endif
