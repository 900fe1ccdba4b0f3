/*
 * api.h - the route table of the JSON API.  Each resource lives in its own
 * server/api_*.c file and contributes routes here; http.c dispatches.
 * Handlers are short: parse, call the domain module, reply.
 */
#ifndef COACHBOX_API_H
#define COACHBOX_API_H

#include <stddef.h>

#include "coachbox/http.h"

/* A module's routes.  http.c tries the sets in order, routes in order. */
struct cb_route_set {
    const struct cb_route *routes;
    const size_t *count;
};
extern const struct cb_route_set cb_api_route_sets[];
extern const size_t cb_api_route_sets_count;

/* Route tables of the API modules (api.c and api_*.c). */
extern const struct cb_route cb_api_routes[];
extern const size_t cb_api_routes_count;
extern const struct cb_route cb_routes_groups[];
extern const size_t cb_routes_groups_count;
extern const struct cb_route cb_routes_caseload[];
extern const size_t cb_routes_caseload_count;
extern const struct cb_route cb_routes_records[];
extern const size_t cb_routes_records_count;
extern const struct cb_route cb_routes_syncapi[];
extern const size_t cb_routes_syncapi_count;
extern const struct cb_route cb_routes_sync[];
extern const size_t cb_routes_sync_count;
extern const struct cb_route cb_routes_reports[];
extern const size_t cb_routes_reports_count;

/* Handlers, grouped by resource file. */
int cb_api_healthz(struct cb_req *r);
int cb_api_login(struct cb_req *r);
int cb_api_logout(struct cb_req *r);
int cb_api_me(struct cb_req *r);
int cb_api_me_password(struct cb_req *r);
int cb_api_user_sessions_end(struct cb_req *r);
int cb_api_teams_list(struct cb_req *r);
int cb_api_participants_create(struct cb_req *r);
int cb_api_participants_search(struct cb_req *r);
int cb_api_participants_get(struct cb_req *r);
int cb_api_participants_patch(struct cb_req *r);
int cb_api_instruments(struct cb_req *r);
int cb_api_venues_list(struct cb_req *r);
int cb_api_kind_create(struct cb_req *r);
int cb_api_kind_get(struct cb_req *r);
int cb_api_kind_patch(struct cb_req *r);
int cb_api_kind_delete(struct cb_req *r);
int cb_api_kind_list_participant(struct cb_req *r);
int cb_api_kind_list_programme(struct cb_req *r);

#endif
