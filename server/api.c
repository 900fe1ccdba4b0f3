/* api.c - the API route table (see api.h); handlers live in api_*.c. */
#include "coachbox/api.h"

const struct cb_route cb_api_routes[] = {
    {"GET", "/healthz", cb_api_healthz, CB_ROUTE_PUBLIC},
    {"POST", "/api/login", cb_api_login, CB_ROUTE_PUBLIC | CB_ROUTE_BODY},
    {"POST", "/api/logout", cb_api_logout, 0},
    {"GET", "/api/me", cb_api_me, 0},
    {"GET", "/api/teams", cb_api_teams_list, 0},
    {"GET", "/api/participants", cb_api_participants_search, 0},
    {"POST", "/api/participants", cb_api_participants_create, CB_ROUTE_BODY},
    {"GET", "/api/participants/{id}", cb_api_participants_get, 0},
    {"PATCH", "/api/participants/{id}", cb_api_participants_patch, CB_ROUTE_BODY},
    {"GET", "/api/participants/{id}/encounters", cb_api_participant_encounters, 0},
    {"POST", "/api/encounters", cb_api_encounters_create, CB_ROUTE_BODY},
};

const size_t cb_api_routes_count = sizeof(cb_api_routes) / sizeof(cb_api_routes[0]);
