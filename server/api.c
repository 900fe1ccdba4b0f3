/* api.c - the API route table (see api.h); handlers live in api_*.c. */
#include "coachbox/api.h"
#include "coachbox/kind.h"

/* Generic record-kind routes; K is the kind's wire name. */
#define KIND_CRUD(K, ctx)                                                                          \
    {"POST", "/api/" K, cb_api_kind_create, CB_ROUTE_BODY, ctx},                                   \
        {"GET", "/api/" K "/{id}", cb_api_kind_get, 0, ctx},                                       \
    {                                                                                              \
        "PATCH", "/api/" K "/{id}", cb_api_kind_patch, CB_ROUTE_BODY, ctx                          \
    }
#define KIND_DELETE(K, ctx)                                                                        \
    {                                                                                              \
        "DELETE", "/api/" K "/{id}", cb_api_kind_delete, 0, ctx                                    \
    }
#define KIND_BY_PARTICIPANT(K, ctx)                                                                \
    {                                                                                              \
        "GET", "/api/participants/{id}/" K, cb_api_kind_list_participant, 0, ctx                   \
    }
#define KIND_BY_PROGRAMME(K, ctx)                                                                  \
    {                                                                                              \
        "GET", "/api/programmes/{id}/" K, cb_api_kind_list_programme, 0, ctx                       \
    }

const struct cb_route cb_api_routes[] = {
    {"GET", "/healthz", cb_api_healthz, CB_ROUTE_PUBLIC, NULL},
    {"POST", "/api/login", cb_api_login, CB_ROUTE_PUBLIC | CB_ROUTE_BODY, NULL},
    {"POST", "/api/logout", cb_api_logout, 0, NULL},
    {"GET", "/api/me", cb_api_me, 0, NULL},
    {"POST", "/api/me/password", cb_api_me_password, CB_ROUTE_BODY, NULL},
    {"DELETE", "/api/users/{id}/sessions", cb_api_user_sessions_end, 0, NULL},
    {"GET", "/api/teams", cb_api_teams_list, 0, NULL},
    {"GET", "/api/measures/instruments", cb_api_instruments, 0, NULL},
    {"GET", "/api/participants", cb_api_participants_search, 0, NULL},
    {"POST", "/api/participants", cb_api_participants_create, CB_ROUTE_BODY, NULL},
    {"GET", "/api/participants/{id}", cb_api_participants_get, 0, NULL},
    {"PATCH", "/api/participants/{id}", cb_api_participants_patch, CB_ROUTE_BODY, NULL},
    /* participant-scoped kinds */
    KIND_CRUD("encounters", &cb_kind_encounters),
    KIND_DELETE("encounters", &cb_kind_encounters),
    KIND_BY_PARTICIPANT("encounters", &cb_kind_encounters),
    KIND_CRUD("consents", &cb_kind_consents),
    KIND_BY_PARTICIPANT("consents", &cb_kind_consents),
    KIND_CRUD("measures", &cb_kind_measures),
    KIND_DELETE("measures", &cb_kind_measures),
    KIND_BY_PARTICIPANT("measures", &cb_kind_measures),
    KIND_CRUD("goals", &cb_kind_goals),
    KIND_DELETE("goals", &cb_kind_goals),
    KIND_BY_PARTICIPANT("goals", &cb_kind_goals),
    KIND_CRUD("goal-reviews", &cb_kind_goal_reviews),
    KIND_BY_PARTICIPANT("goal-reviews", &cb_kind_goal_reviews),
    KIND_CRUD("referrals", &cb_kind_referrals),
    KIND_DELETE("referrals", &cb_kind_referrals),
    KIND_BY_PARTICIPANT("referrals", &cb_kind_referrals),
    KIND_CRUD("enrolments", &cb_kind_enrolments),
    KIND_DELETE("enrolments", &cb_kind_enrolments),
    KIND_BY_PARTICIPANT("enrolments", &cb_kind_enrolments),
    KIND_BY_PROGRAMME("enrolments", &cb_kind_enrolments),
    KIND_CRUD("attendance", &cb_kind_attendance),
    KIND_DELETE("attendance", &cb_kind_attendance),
    KIND_BY_PARTICIPANT("attendance", &cb_kind_attendance),
    KIND_BY_PROGRAMME("attendance", &cb_kind_attendance),
    KIND_CRUD("checkins", &cb_kind_checkins),
    KIND_DELETE("checkins", &cb_kind_checkins),
    KIND_BY_PARTICIPANT("checkins", &cb_kind_checkins),
    /* team-scoped and programme-scoped kinds */
    KIND_CRUD("programmes", &cb_kind_programmes),
    KIND_DELETE("programmes", &cb_kind_programmes),
    KIND_CRUD("group-sessions", &cb_kind_group_sessions),
    KIND_DELETE("group-sessions", &cb_kind_group_sessions),
    KIND_BY_PROGRAMME("group-sessions", &cb_kind_group_sessions),
    {"GET", "/api/venues", cb_api_venues_list, 0, NULL},
    KIND_CRUD("venues", &cb_kind_venues),
};

const size_t cb_api_routes_count = sizeof(cb_api_routes) / sizeof(cb_api_routes[0]);

const struct cb_route_set cb_api_route_sets[] = {
    {cb_api_routes, &cb_api_routes_count},         {cb_routes_records, &cb_routes_records_count},
    {cb_routes_groups, &cb_routes_groups_count},   {cb_routes_caseload, &cb_routes_caseload_count},
    {cb_routes_syncapi, &cb_routes_syncapi_count}, {cb_routes_sync, &cb_routes_sync_count},
    {cb_routes_reports, &cb_routes_reports_count},
};

const size_t cb_api_route_sets_count = sizeof(cb_api_route_sets) / sizeof(cb_api_route_sets[0]);
