/* rng.c - CTR_DRBG behind a mutex; see rng.h. */
#include "coachbox/rng.h"
#include "coachbox/err.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <pthread.h>

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static int seeded;

/* Caller holds rng_lock. */
static int seed_locked(void)
{
    static const unsigned char pers[] = "coachbox-rng";
    if (seeded) {
        return CB_OK;
    }
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof(pers) - 1)) {
        mbedtls_ctr_drbg_free(&drbg);
        mbedtls_entropy_free(&entropy);
        return CB_ECRYPTO;
    }
    mbedtls_ctr_drbg_set_prediction_resistance(&drbg, MBEDTLS_CTR_DRBG_PR_OFF);
    seeded = 1;
    return CB_OK;
}

int cb_rng_init(void)
{
    pthread_mutex_lock(&rng_lock);
    int rc = seed_locked();
    pthread_mutex_unlock(&rng_lock);
    return rc;
}

int cb_rng_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    pthread_mutex_lock(&rng_lock);
    int rc = seed_locked();
    while (rc == CB_OK && n > 0) {
        size_t chunk = n > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : n;
        if (mbedtls_ctr_drbg_random(&drbg, p, chunk)) {
            rc = CB_ECRYPTO;
        }
        p += chunk;
        n -= chunk;
    }
    pthread_mutex_unlock(&rng_lock);
    return rc;
}

int cb_rng_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char tmp[64];
    if (n > sizeof(tmp)) {
        return CB_EINVAL;
    }
    int rc = cb_rng_bytes(tmp, n);
    if (rc) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[tmp[i] >> 4];
        out[2 * i + 1] = hex[tmp[i] & 15];
    }
    out[2 * n] = '\0';
    return CB_OK;
}
