/*
 * sign.h - request signing for sync (HMAC-SHA256, mbedTLS).
 *
 * The signed message is METHOD "\n" PATH_AND_QUERY "\n" TIMESTAMP_MS "\n"
 * NONCE "\n" hex(SHA-384(body)) (schema 20 on; SHA-256 before); the key is
 * the site secret (hex text as issued at enrollment).  Headers: X-CB-Site,
 * X-CB-Timestamp, X-CB-Nonce, X-CB-Schema, X-CB-Signature.
 */
#ifndef COACHBOX_SIGN_H
#define COACHBOX_SIGN_H

#include <stddef.h>

#define CB_SIG_HEXLEN       65 /* 64 hex characters + NUL */
#define CB_BODY_HASH_HEXLEN 97 /* hex SHA-384: 96 characters + NUL */

/* hex(SHA-256(data)) into out. */
void cb_sha256_hex(const void *data, size_t len, char out[CB_SIG_HEXLEN]);
/* Signature of a request into out; CB_ECRYPTO on failure. */
int cb_sign(const char *secret, const char *method, const char *path_query, const char *ts,
            const char *nonce, const void *body, size_t body_len, char out[CB_SIG_HEXLEN]);

#endif
