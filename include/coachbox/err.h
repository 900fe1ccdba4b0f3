/*
 * err.h - the one project-wide error enum (libuv style).
 *
 * Every coachbox function that can fail returns 0 (CB_OK) or one of the
 * negative codes below; results travel through out-parameters.  cb_strerror()
 * is the only place that maps a code to text.  cb_err_http_status() maps a code
 * to the HTTP status an API handler answers with.
 */
#ifndef COACHBOX_ERR_H
#define COACHBOX_ERR_H

enum cb_err {
    CB_OK = 0,
    CB_ENOMEM = -1,      /* allocation failed */
    CB_EINVAL = -2,      /* invalid argument or input (validation) */
    CB_ENOTFOUND = -3,   /* no such record (or not visible to the caller) */
    CB_ECONFLICT = -4,   /* uniqueness or state conflict */
    CB_ETOOLARGE = -5,   /* a capped buffer or body would exceed its cap */
    CB_EIO = -6,         /* file or socket I/O failed */
    CB_EDB = -7,         /* SQLite reported an error */
    CB_EBUSY = -8,       /* database locked beyond busy_timeout */
    CB_EUNAUTH = -9,     /* no valid session / bad credentials */
    CB_EFORBIDDEN = -10, /* authenticated but not allowed */
    CB_ECSRF = -11,      /* missing or wrong CSRF token */
    CB_ETHROTTLED = -12, /* too many attempts; retry later */
    CB_ESCHEMA = -13,    /* database schema newer than this binary */
    CB_ECRYPTO = -14,    /* mbedTLS failure */
    CB_EPARSE = -15,     /* malformed input (JSON, number, date) */
    CB_EFULL = -16,      /* disk full */
    CB_EREADONLY = -17,  /* storage is read-only */
    CB_ECORRUPT = -18,   /* database file is corrupt */
    CB_EMETHOD = -19,    /* HTTP method not allowed on a route */
    CB_EINTERNAL = -20,  /* invariant broken; a bug */
    CB_ERR_MIN = -20
};

/*
 * A validation failure that names the offending input.  field is the wire name
 * (e.g. "nhs_number", "q3", "items[2].weight_kg"); message is for a person.
 * Both are NUL-terminated and truncated to fit.
 */
struct cb_field_error {
    char field[96];
    char message[256];
};

/* Fill fe (which may be NULL) and return CB_EINVAL; printf-style message. */
int cb_field_fail(struct cb_field_error *fe, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Return a static, human-readable message for code (never NULL). */
const char *cb_strerror(int code);

/* Return the short machine name of code, e.g. "not_found" (never NULL). */
const char *cb_errname(int code);

/* Return the HTTP status that an API response for code should carry. */
int cb_err_http_status(int code);

#endif
