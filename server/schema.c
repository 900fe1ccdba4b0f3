/*
 * schema.c - the field tables of the record types (see record.h).  The SQL
 * columns in migrations.c must match these names.  Wire names are the
 * column names.
 */
#include "coachbox/record.h"
#include "coachbox/measures.h"

#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define LINE(n, max, fl)                                                                           \
    {                                                                                              \
        .name = n, .type = CB_F_LINE, .flags = fl, .max_chars = max                                \
    }
#define TEXT(n, max, fl)                                                                           \
    {                                                                                              \
        .name = n, .type = CB_F_TEXT, .flags = fl, .max_chars = max                                \
    }
#define INT(n, lo, hi, fl)                                                                         \
    {                                                                                              \
        .name = n, .type = CB_F_INT, .flags = fl, .min = lo, .max = hi                             \
    }
#define REAL(n, lo, hi, fl)                                                                        \
    {                                                                                              \
        .name = n, .type = CB_F_REAL, .flags = fl, .min = lo, .max = hi                            \
    }
#define BOOL(n, fl)                                                                                \
    {                                                                                              \
        .name = n, .type = CB_F_BOOL, .flags = fl                                                  \
    }
#define DATE(n, fl)                                                                                \
    {                                                                                              \
        .name = n, .type = CB_F_DATE, .flags = fl                                                  \
    }
#define TIME(n, fl)                                                                                \
    {                                                                                              \
        .name = n, .type = CB_F_TIME, .flags = fl                                                  \
    }
#define ENUM(n, v, fl)                                                                             \
    {                                                                                              \
        .name = n, .type = CB_F_ENUM, .flags = fl, .values = v                                     \
    }
#define ENUMD(n, v, d, fl)                                                                         \
    {                                                                                              \
        .name = n, .type = CB_F_ENUM, .flags = fl, .values = v, .def = d                           \
    }
#define SET(n, v, fl)                                                                              \
    {                                                                                              \
        .name = n, .type = CB_F_STRSET, .flags = fl, .values = v                                   \
    }
#define REF(n, t, fl)                                                                              \
    {                                                                                              \
        .name = n, .type = CB_F_REF, .flags = fl, .ref_table = t                                   \
    }
#define TEAM(n, fl)                                                                                \
    {                                                                                              \
        .name = n, .type = CB_F_TEAM, .flags = fl                                                  \
    }
#define CODE(n, fn, fl)                                                                            \
    {                                                                                              \
        .name = n, .type = CB_F_CODE, .flags = fl, .check = fn                                     \
    }
#define JSON(n, fl)                                                                                \
    {                                                                                              \
        .name = n, .type = CB_F_JSON, .flags = fl                                                  \
    }
#define TYPED(n, t, fl)                                                                            \
    {                                                                                              \
        .name = n, .type = t, .flags = fl                                                          \
    }

#define REQ  CB_FF_REQUIRED
#define SRV  CB_FF_SERVER
#define IMM  CB_FF_IMMUTABLE
#define PAST CB_FF_PAST

/* ---- code lists (wire values) ---- */

const char *const cb_topics[] = {
    "smoking",          "physical_activity", "weight",          "diet",
    "alcohol",          "blood_pressure",    "bowel_screening", "frailty_falls",
    "mental_wellbeing", "work_health",       "other",           NULL};
static const char *const sexes[] = {"female", "male", "not_stated", NULL};
static const char *const contact_prefs[] = {"phone", "sms", "email", "letter", NULL};
const char *const cb_employment_statuses[] = {"in_work", "out_of_work", "economically_inactive",
                                              "not_stated", NULL};
const char *const cb_referral_sources[] = {"self",      "gp",       "social_prescriber",
                                           "jobcentre", "employer", "community_organisation",
                                           "other",     NULL};
const char *const cb_main_barriers[] = {
    "mental_health",         "musculoskeletal", "autism", "heart_blood_pressure",
    "learning_difficulties", "other",           NULL};
static const char *const participant_statuses[] = {"active", "discharged", NULL};
const char *const cb_encounter_types[] = {"drop_in", "one_to_one", "phone", "video",
                                          "group",   "dna",        NULL};
static const char *const consent_kinds[] = {"service", "contact", "share_gp", NULL};
static const char *const timepoints[] = {"baseline", "review", "exit", NULL};
const char *const cb_goal_statuses[] = {"agreed", "partly_achieved", "fully_achieved",
                                        "not_achieved", NULL};
const char *const cb_referral_destinations[] = {
    "stop_smoking",       "exercise_referral", "weight_management",  "bowel_screening", "gp",
    "social_prescribing", "mental_health",     "employment_support", "other",           NULL};
const char *const cb_referral_statuses[] = {"sent", "accepted", "declined", "attended", NULL};
static const char *const programme_statuses[] = {"planned", "running", "finished", "cancelled",
                                                 NULL};
static const char *const enrolment_statuses[] = {"enrolled", "completed", "withdrawn", NULL};
const char *const cb_attendance_statuses[] = {"attended", "absent", "apologies", NULL};
const char *const cb_checkin_statuses[] = {"waiting", "with_coach", "seen", "left", NULL};

/* ---- tables ---- */

static const struct cb_field participant_fields[] = {
    LINE("given_name", 100, REQ),
    LINE("family_name", 100, REQ),
    DATE("date_of_birth", REQ | PAST),
    TYPED("nhs_number", CB_F_NHS, 0),
    TYPED("postcode", CB_F_POSTCODE, 0),
    TEAM("team", REQ),
    LINE("preferred_name", 100, 0),
    ENUM("sex", sexes, 0),
    LINE("gender_identity", 100, 0),
    CODE("ethnic_group", cb_ethnic_group_valid, 0),
    TYPED("phone", CB_F_PHONE, 0),
    TYPED("email", CB_F_EMAIL, 0),
    LINE("gp_practice", 200, 0),
    SET("contact_preferences", contact_prefs, 0),
    BOOL("veteran", 0),
    BOOL("learning_disability", 0),
    BOOL("carer", 0),
    BOOL("long_term_condition", 0),
    ENUM("employment_status", cb_employment_statuses, 0),
    ENUM("referral_source", cb_referral_sources, 0),
    ENUM("main_barrier", cb_main_barriers, 0),
    SET("topics", cb_topics, 0),
    ENUMD("status", participant_statuses, "active", 0),
    LINE("discharge_reason", 200, 0),
    DATE("discharge_date", PAST),
    REF("assigned_coach", "users", 0),
    REF("merged_into", "participants", SRV),
};

static const struct cb_field encounter_fields[] = {
    REF("participant_id", "participants", REQ | IMM),
    ENUM("type", cb_encounter_types, REQ),
    TIME("occurred_at", REQ | PAST),
    TEXT("notes", 10000, 0),
    REF("coach", "users", SRV),
    TEAM("team", SRV),
    INT("duration_minutes", 0, 600, 0),
    REF("venue", "venues", 0),
    SET("topics", cb_topics, 0),
    SET("brief_advice", cb_topics, 0),
    DATE("next_follow_up", 0),
    REF("group_session_id", "group_sessions", 0),
};

static const struct cb_field consent_fields[] = {
    REF("participant_id", "participants", REQ | IMM),
    ENUM("kind", consent_kinds, REQ),
    BOOL("given", REQ),
    DATE("date", REQ | PAST),
    TEXT("notes", 2000, 0),
    REF("recorded_by", "users", SRV),
    TEAM("team", SRV),
};

static const struct cb_field measure_fields[] = {
    REF("participant_id", "participants", REQ | IMM),
    REF("encounter_id", "encounters", 0),
    CODE("instrument", cb_measure_known, REQ | IMM),
    ENUM("timepoint", timepoints, REQ),
    TIME("taken_at", REQ | PAST),
    JSON("responses", REQ),
    BOOL("allow_incomplete", 0),
    REAL("score", -1e9, 1e9, SRV),
    LINE("band", 64, SRV),
    LINE("rule_version", 64, SRV),
    BOOL("complete", SRV),
    JSON("flags", SRV),
    JSON("result", SRV),
    REF("recorded_by", "users", SRV),
    TEAM("team", SRV),
};

static const struct cb_field goal_fields[] = {
    REF("participant_id", "participants", REQ | IMM),
    TEXT("text", 1000, REQ),
    ENUM("topic", cb_topics, REQ),
    DATE("agreed_date", REQ | PAST),
    DATE("target_date", 0),
    ENUMD("status", cb_goal_statuses, "agreed", 0),
    TEAM("team", SRV),
};

static const struct cb_field goal_review_fields[] = {
    REF("participant_id", "participants", SRV),
    REF("goal_id", "goals", REQ | IMM),
    DATE("reviewed_on", REQ | PAST),
    ENUM("status", cb_goal_statuses, REQ),
    TEXT("note", 2000, 0),
    TEAM("team", SRV),
};

static const struct cb_field referral_fields[] = {
    REF("participant_id", "participants", REQ | IMM),
    ENUM("destination", cb_referral_destinations, REQ),
    LINE("destination_detail", 200, 0),
    ENUMD("status", cb_referral_statuses, "sent", 0),
    DATE("sent_date", REQ | PAST),
    DATE("status_date", PAST),
    DATE("accepted_date", PAST),
    DATE("declined_date", PAST),
    DATE("attended_date", PAST),
    TEXT("notes", 2000, 0),
    TEAM("team", SRV),
};

static const struct cb_field programme_fields[] = {
    LINE("name", 200, REQ),
    ENUM("topic", cb_topics, REQ),
    TEAM("team", REQ),
    REF("venue", "venues", 0),
    REF("lead", "users", 0),
    REF("co_lead", "users", 0),
    DATE("start_date", REQ),
    INT("weeks", 1, 104, REQ),
    ENUMD("status", programme_statuses, "planned", 0),
    TEXT("description", 2000, 0),
};

static const struct cb_field group_session_fields[] = {
    REF("programme_id", "programmes", REQ | IMM),
    INT("session_number", 1, 1000, REQ),
    TIME("starts_at", REQ),
    REF("venue", "venues", 0),
    TEXT("notes", 2000, 0),
    TEAM("team", SRV),
};

static const struct cb_field enrolment_fields[] = {
    REF("participant_id", "participants", REQ | IMM),
    REF("programme_id", "programmes", REQ | IMM),
    DATE("enrolled_on", REQ | PAST),
    ENUMD("status", enrolment_statuses, "enrolled", 0),
    TEAM("team", SRV),
};

static const struct cb_field attendance_fields[] = {
    REF("participant_id", "participants", REQ | IMM),
    REF("session_id", "group_sessions", REQ | IMM),
    REF("programme_id", "programmes", SRV),
    ENUM("status", cb_attendance_statuses, REQ),
    REF("recorded_by", "users", SRV),
    TEAM("team", SRV),
};

static const struct cb_field checkin_fields[] = {
    REF("participant_id", "participants", REQ | IMM),
    REF("venue", "venues", 0),
    TIME("arrived_at", REQ | PAST),
    ENUMD("status", cb_checkin_statuses, "waiting", 0),
    REF("coach", "users", 0),
    LINE("reason", 200, 0),
    TEAM("team", SRV),
};

static const struct cb_field venue_fields[] = {
    LINE("name", 200, REQ),
    TEAM("team", REQ),
    LINE("address", 300, 0),
    TYPED("postcode", CB_F_POSTCODE, 0),
};

static const char *const roles[] = {"coach", "lead", "manager", "admin", NULL};
static const char *const conflict_statuses[] = {"open", "resolved", NULL};

/* Accounts and teams: mastered on central, synced to sites; not API kinds. */
static const struct cb_field user_fields[] = {
    LINE("username", 64, REQ), LINE("display_name", 100, REQ),  ENUM("role", roles, REQ),
    TEAM("team", 0),           LINE("password_hash", 200, REQ), BOOL("disabled", 0),
};

static const struct cb_field team_fields[] = {
    LINE("name", 100, REQ),
};

/* Conflicts are written by central's sync hub; people only resolve them. */
static const struct cb_field conflict_fields[] = {
    LINE("tbl", 64, SRV),
    LINE("row_id", 64, SRV),
    LINE("field", 64, SRV),
    INT("base_seq", 0, 9e15, SRV),
    TEXT("winner_value", 100000, SRV),
    INT("winner_hlc", 0, 9.2e18, SRV),
    LINE("winner_site", 64, SRV),
    TEXT("loser_value", 100000, SRV),
    INT("loser_hlc", 0, 9.2e18, SRV),
    LINE("loser_site", 64, SRV),
    ENUMD("status", conflict_statuses, "open", 0),
    TEXT("resolution_note", 2000, 0),
    REF("resolved_by", "users", SRV),
    TIME("resolved_at", SRV),
    REF("participant_id", "participants", SRV),
    TEAM("team", SRV),
};

#define TABLE(var, sql, fields) const struct cb_table var = {sql, fields, N(fields)}
TABLE(cb_table_participants, "participants", participant_fields);
TABLE(cb_table_encounters, "encounters", encounter_fields);
TABLE(cb_table_consents, "consents", consent_fields);
TABLE(cb_table_measures, "measures", measure_fields);
TABLE(cb_table_goals, "goals", goal_fields);
TABLE(cb_table_goal_reviews, "goal_reviews", goal_review_fields);
TABLE(cb_table_referrals, "referrals", referral_fields);
TABLE(cb_table_programmes, "programmes", programme_fields);
TABLE(cb_table_group_sessions, "group_sessions", group_session_fields);
TABLE(cb_table_enrolments, "enrolments", enrolment_fields);
TABLE(cb_table_attendance, "attendance", attendance_fields);
TABLE(cb_table_checkins, "checkins", checkin_fields);
TABLE(cb_table_venues, "venues", venue_fields);
TABLE(cb_table_users, "users", user_fields);
TABLE(cb_table_teams, "teams", team_fields);
TABLE(cb_table_conflicts, "conflicts", conflict_fields);

static const struct cb_table *const all_tables[] = {
    &cb_table_participants,   &cb_table_encounters,   &cb_table_consents,   &cb_table_measures,
    &cb_table_goals,          &cb_table_goal_reviews, &cb_table_referrals,  &cb_table_programmes,
    &cb_table_group_sessions, &cb_table_enrolments,   &cb_table_attendance, &cb_table_checkins,
    &cb_table_venues,         &cb_table_users,        &cb_table_teams,      &cb_table_conflicts};

const struct cb_table *cb_table_find(const char *name)
{
    for (size_t i = 0; i < N(all_tables); i++) {
        if (strcmp(all_tables[i]->name, name) == 0) {
            return all_tables[i];
        }
    }
    return NULL;
}

size_t cb_table_count(void)
{
    return N(all_tables);
}

const struct cb_table *cb_table_at(size_t i)
{
    return i < N(all_tables) ? all_tables[i] : NULL;
}
