/* uuid.c - UUIDv7 minting and validation; see uuid.h. */
#include "coachbox/uuid.h"
#include "coachbox/err.h"
#include "coachbox/rng.h"
#include "coachbox/timeutil.h"

#include <ctype.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms;
static unsigned last_seq;

int cb_uuid7_at(int64_t unix_ms, char out[CB_UUID_STRLEN])
{
    unsigned char b[16];
    int rc = cb_rng_bytes(b, sizeof(b));
    if (rc) {
        return rc;
    }
    /* Monotonic within the process: same or earlier ms bumps a 12-bit sequence. */
    pthread_mutex_lock(&uuid_lock);
    unsigned seq;
    if (unix_ms > last_ms) {
        last_ms = unix_ms;
        last_seq = ((unsigned)b[6] << 8 | b[7]) & 0x7ffu; /* random start, headroom */
    } else {
        last_seq++;
        if (last_seq > 0xfffu) {
            last_ms++;
            last_seq = 0;
        }
    }
    unix_ms = last_ms;
    seq = last_seq;
    pthread_mutex_unlock(&uuid_lock);

    uint64_t ms = (uint64_t)unix_ms;
    for (int i = 0; i < 6; i++) {
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    }
    b[6] = (unsigned char)(0x70 | ((seq >> 8) & 0x0f));
    b[7] = (unsigned char)(seq & 0xff);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    snprintf(out, CB_UUID_STRLEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return CB_OK;
}

int cb_uuid7(char out[CB_UUID_STRLEN])
{
    return cb_uuid7_at(cb_now_ms(), out);
}

int cb_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

void cb_uuid_derived(const char *kind, const char *a, const char *b, char out[CB_UUID_STRLEN])
{
    unsigned char d[32];
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts_ret(&ctx, 0);
    mbedtls_sha256_update_ret(&ctx, (const unsigned char *)kind, strlen(kind) + 1);
    mbedtls_sha256_update_ret(&ctx, (const unsigned char *)a, strlen(a) + 1);
    mbedtls_sha256_update_ret(&ctx, (const unsigned char *)b, strlen(b) + 1);
    mbedtls_sha256_finish_ret(&ctx, d);
    mbedtls_sha256_free(&ctx);
    d[6] = (unsigned char)(0x80 | (d[6] & 0x0f)); /* version 8 */
    d[8] = (unsigned char)(0x80 | (d[8] & 0x3f)); /* RFC 9562 variant */
    snprintf(out, CB_UUID_STRLEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
             d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
             d[15]);
}
