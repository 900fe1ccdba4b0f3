/* api_participants.c - /api/participants, /api/encounters, /api/teams. */
#include "coachbox/api.h"
#include "coachbox/buf.h"
#include "coachbox/measures.h"
#include "coachbox/participant.h"
#include "coachbox/store.h"
#include "coachbox/validate.h"

#include <errno.h>
#include <stdlib.h>

/* Cap on a search answer: 100 summaries of at most a few KB each. */
#define SEARCH_ANSWER_MAX (1024 * 1024)

/* Reply for a domain result: 2xx with the object, or the error. */
static int finish(struct cb_req *r, int rc, int status, json_t *out,
                  const struct cb_field_error *fe)
{
    if (rc) {
        return cb_reply_error(r, rc, fe);
    }
    return cb_reply_json(r, status, out, NULL);
}

int cb_api_teams_list(struct cb_req *r)
{
    sqlite3_stmt *st;
    int rc =
        cb_conn_prepare(r->db, "SELECT id, name FROM teams WHERE deleted = 0 ORDER BY name", &st);
    if (rc) {
        return rc;
    }
    json_t *items = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(items, json_pack("{s:s, s:s}", "id", sqlite3_column_text(st, 0),
                                               "name", sqlite3_column_text(st, 1)));
    }
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    return cb_reply_json(r, 200, json_pack("{s:o}", "items", items), NULL);
}

/* A participant create or patch, run by cb_req_write (group commit). */
struct participant_job {
    struct cb_req *r;
    json_t *out;
    struct cb_field_error fe;
};

static int create_job(struct cb_conn *c, void *arg)
{
    struct participant_job *j = arg;
    return cb_participant_create(c, &j->r->actor, j->r->body, &j->out, &j->fe);
}

static int patch_job(struct cb_conn *c, void *arg)
{
    struct participant_job *j = arg;
    return cb_participant_patch(c, &j->r->actor, j->r->params[0], j->r->body, &j->out, &j->fe);
}

/* Run fn as a write job and answer: status with the participant, or the error. */
static int write_and_finish(struct cb_req *r, int (*fn)(struct cb_conn *, void *), int status)
{
    struct participant_job j = {r, NULL, {"", ""}};
    int rc = cb_req_write(r, fn, &j);
    if (rc) {
        json_decref(j.out); /* the job succeeded but its group did not commit */
        return cb_reply_error(r, rc, &j.fe);
    }
    return cb_reply_json(r, status, j.out, NULL);
}

int cb_api_participants_create(struct cb_req *r)
{
    return write_and_finish(r, create_job, 201);
}

int cb_api_participants_search(struct cb_req *r)
{
    /* q is limited in characters (cb_participant_search): room for all of them in UTF-8 */
    char q[CB_UTF8_STRLEN(CB_SEARCH_Q_CHARS)] = "", lim[16] = "", cursor[64] = "";
    struct cb_field_error fe = {"", ""};
    if (cb_req_query(r, "q", q, sizeof(q)) < 0) {
        return cb_reply_problem(r, 400, "invalid", "q is too long", "q", NULL);
    }
    if (cb_req_query(r, "cursor", cursor, sizeof(cursor)) < 0) {
        return cb_reply_problem(r, 400, "invalid", "cursor is not valid", "cursor", NULL);
    }
    long limit = 20;
    int has = cb_req_query(r, "limit", lim, sizeof(lim));
    if (has != 0) {
        char *end;
        errno = 0;
        limit = has > 0 ? strtol(lim, &end, 10) : -1;
        if (has < 0 || errno || *end || end == lim || limit < 1 || limit > CB_SEARCH_MAX_LIMIT) {
            return cb_reply_problem(r, 400, "invalid", "limit must be a whole number from 1 to 100",
                                    "limit", NULL);
        }
    }
    struct cb_buf out;
    cb_buf_init(&out, SEARCH_ANSWER_MAX);
    int rc = cb_participant_search(r->db, &r->actor, q, (int)limit, cursor[0] ? cursor : NULL, &out,
                                   &fe);
    rc = rc ? cb_reply_error(r, rc, &fe)
            : cb_reply_json_text(r, 200, cb_buf_str(&out), out.len, NULL);
    cb_buf_free(&out);
    return rc;
}

int cb_api_participants_get(struct cb_req *r)
{
    json_t *out = NULL;
    int rc = cb_participant_get(r->db, &r->actor, r->params[0], &out);
    return finish(r, rc, 200, out, NULL);
}

int cb_api_participants_patch(struct cb_req *r)
{
    return write_and_finish(r, patch_job, 200);
}

int cb_api_venues_list(struct cb_req *r)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(r->db,
                             "SELECT id, name, team, address, postcode FROM venues "
                             "WHERE deleted = 0 ORDER BY name, id",
                             &st);
    if (rc) {
        return rc;
    }
    json_t *items = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(
            items,
            json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "id", sqlite3_column_text(st, 0), "name",
                      sqlite3_column_text(st, 1), "team", sqlite3_column_text(st, 2), "address",
                      sqlite3_column_text(st, 3), "postcode", sqlite3_column_text(st, 4)));
    }
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    return cb_reply_json(r, 200, json_pack("{s:o}", "items", items), NULL);
}

int cb_api_instruments(struct cb_req *r)
{
    const char *const *ids;
    size_t n;
    int rc = cb_measure_list(&ids, &n);
    if (rc) {
        return rc;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *d = NULL;
        if (cb_measure_describe(ids[i], &d, NULL) == CB_OK) {
            json_array_append_new(items, d);
        }
    }
    return cb_reply_json(r, 200, json_pack("{s:o}", "items", items), NULL);
}
