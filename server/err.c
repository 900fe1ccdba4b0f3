/* err.c - messages and HTTP statuses for enum cb_err. */
#include "coachbox/err.h"

#include <stdarg.h>
#include <stdio.h>

struct err_info {
    int code;
    const char *name;
    const char *message;
    int http;
};

static const struct err_info errs[] = {
    {CB_OK, "ok", "success", 200},
    {CB_ENOMEM, "out_of_memory", "out of memory", 503},
    {CB_EINVAL, "invalid", "invalid input", 400},
    {CB_ENOTFOUND, "not_found", "not found", 404},
    {CB_ECONFLICT, "conflict", "conflicts with the current state", 409},
    {CB_ETOOLARGE, "too_large", "too large", 413},
    {CB_EIO, "io_error", "input/output error", 500},
    {CB_EDB, "database_error", "database error", 500},
    {CB_EBUSY, "busy", "the database is busy; try again", 503},
    {CB_EUNAUTH, "unauthenticated", "sign-in required", 401},
    {CB_EFORBIDDEN, "forbidden", "not allowed for this account", 403},
    {CB_ECSRF, "csrf", "missing or wrong CSRF token", 403},
    {CB_ETHROTTLED, "throttled", "too many attempts; try again later", 429},
    {CB_ESCHEMA, "schema_mismatch", "database schema is newer than this program", 500},
    {CB_ECRYPTO, "crypto_error", "cryptographic operation failed", 500},
    {CB_EPARSE, "malformed", "malformed input", 400},
    {CB_EFULL, "disk_full", "the disk is full; nothing was stored", 507},
    {CB_EREADONLY, "read_only", "storage is read-only; nothing was stored", 503},
    {CB_ECORRUPT, "corrupt", "the database file is corrupt", 500},
    {CB_EMETHOD, "method_not_allowed", "method not allowed", 405},
    {CB_EINTERNAL, "internal", "internal error", 500},
};

static const struct err_info *lookup(int code)
{
    for (unsigned i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        if (errs[i].code == code) {
            return &errs[i];
        }
    }
    return &errs[sizeof(errs) / sizeof(errs[0]) - 1];
}

const char *cb_strerror(int code)
{
    return lookup(code)->message;
}

const char *cb_errname(int code)
{
    return lookup(code)->name;
}

int cb_err_http_status(int code)
{
    return lookup(code)->http;
}

int cb_field_fail(struct cb_field_error *fe, const char *field, const char *fmt, ...)
{
    if (fe) {
        va_list ap;
        snprintf(fe->field, sizeof(fe->field), "%s", field ? field : "");
        va_start(ap, fmt);
        vsnprintf(fe->message, sizeof(fe->message), fmt, ap);
        va_end(ap);
    }
    return CB_EINVAL;
}
