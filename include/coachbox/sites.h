/*
 * sites.h - field servers enrolled with central (central's table `sites`).
 *
 * A site is added on central with the teams it serves; it gets an id, a
 * secret (32 random bytes, hex) for HMAC-signed sync requests, and a one-time
 * enrollment code (valid 24 hours; only its SHA-256 is stored).  Revoking a
 * site refuses it from then on and tells it to wipe its synced data.
 * All functions run on the caller's connection in their own transaction.
 */
#ifndef COACHBOX_SITES_H
#define COACHBOX_SITES_H

#include <jansson.h>
#include <stdint.h>

#include "coachbox/err.h"
#include "coachbox/validate.h"

struct cb_conn;

#define CB_CODE_STRLEN 20 /* "XXXX-XXXX-XXXX" + NUL */

struct cb_site {
    char id[37];
    char name[CB_UTF8_STRLEN(CB_NAME_CHARS)]; /* 1-100 characters */
    char secret[65];
    json_t *teams; /* array of team ids (owned; cb_site_clear frees) */
    int revoked;
    int64_t last_op_id;
};

void cb_site_clear(struct cb_site *s);
/*
 * Add a site for teams (array of existing team ids).  code receives the
 * one-time enrollment code.  CB_EINVAL (fe names the field) or CB_ECONFLICT
 * (name taken).
 */
int cb_site_add(struct cb_conn *c, const char *name, const json_t *teams, struct cb_site *out,
                char code[CB_CODE_STRLEN], struct cb_field_error *fe);
/*
 * Redeem an enrollment code: marks the site enrolled, clears the code, sets
 * the op-id baseline (first_op_id - 1).  CB_EUNAUTH for an unknown, used or
 * expired code, or a revoked site.
 */
int cb_site_enroll(struct cb_conn *c, const char *code, int64_t first_op_id, struct cb_site *out);
/* Load by id; CB_ENOTFOUND. */
int cb_site_get(struct cb_conn *c, const char *id, struct cb_site *out);
/* Revoke by id or name; CB_ENOTFOUND. */
int cb_site_revoke(struct cb_conn *c, const char *id_or_name);
/* {"items":[{"id","name","teams","enrolled_at","revoked","last_seen_at","last_sync_at",
 *  "pending_reported","oldest_pending_at","last_op_id","revoked_at"}]} (never the secret). */
int cb_site_list(struct cb_conn *c, json_t **out);
/*
 * Set the site's last_sync_at to now: central has just answered its pull with
 * everything it had.  One autocommit UPDATE on the caller's connection (not
 * inside another transaction); errors from the store (e.g. CB_EBUSY).
 */
int cb_site_synced(struct cb_conn *c, const char *id);

#endif
