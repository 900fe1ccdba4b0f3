/*
 * api.h - the route table of the JSON API.  Each resource lives in its own
 * server/api_*.c file and contributes routes here; http.c dispatches.
 * Handlers are short: parse, call the domain module, reply.
 */
#ifndef COACHBOX_API_H
#define COACHBOX_API_H

#include <stddef.h>

#include "coachbox/http.h"

extern const struct cb_route cb_api_routes[];
extern const size_t cb_api_routes_count;

/* Handlers, grouped by resource file. */
int cb_api_healthz(struct cb_req *r);
int cb_api_login(struct cb_req *r);
int cb_api_logout(struct cb_req *r);
int cb_api_me(struct cb_req *r);
int cb_api_teams_list(struct cb_req *r);
int cb_api_participants_create(struct cb_req *r);
int cb_api_participants_search(struct cb_req *r);
int cb_api_participants_get(struct cb_req *r);
int cb_api_participants_patch(struct cb_req *r);
int cb_api_participant_encounters(struct cb_req *r);
int cb_api_encounters_create(struct cb_req *r);

#endif
