/*
 * audit.h - the append-only audit log (table audit_events; UPDATE and
 * DELETE are refused by triggers).  Records who did what to which record,
 * when, from which address and site.  Never pass a password or token.
 * Inside the caller's transaction when one is open (so the event commits or
 * rolls back with the change); else committed on its own before cb_audit
 * returns CB_OK: as a job of the store's group-commit writer when one is
 * registered (cb_store_set_writer), otherwise as an autocommit statement.
 */
#ifndef COACHBOX_AUDIT_H
#define COACHBOX_AUDIT_H

#include <jansson.h>

struct cb_conn;

struct cb_audit_event {
    const char *actor;       /* user id, or NULL for the system / anonymous */
    const char *action;      /* e.g. "login", "participant.read" */
    const char *entity;      /* table, or NULL */
    const char *entity_id;   /* row id, or NULL */
    const char *address;     /* client address, or NULL */
    const char *outcome;     /* "ok", "denied", "failed"; NULL means "ok" */
    const char *detail;      /* short non-sensitive text, or NULL */
    const char *participant; /* the person the event is about, or NULL */
};

/* Set the site name recorded with every event of this process. */
void cb_audit_set_site(const char *site);
/* Record e (see above); CB_EINVAL if a text is not UTF-8, else a store error. */
int cb_audit(struct cb_conn *c, const struct cb_audit_event *e);
/* Events about one participant (any record of theirs), oldest first, as
 * {"items":[...]} (new reference). */
int cb_audit_list(struct cb_conn *c, const char *participant_id, json_t **out);

#endif
