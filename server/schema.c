/*
 * schema.c - the field tables of the record types (see record.h).  The SQL
 * columns in migrations.c must match these names.
 */
#include "coachbox/record.h"

#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct cb_field participant_fields[] = {
    {"given_name", CB_F_LINE, CB_FF_REQUIRED, 100, 0, 0, NULL, NULL},
    {"family_name", CB_F_LINE, CB_FF_REQUIRED, 100, 0, 0, NULL, NULL},
    {"date_of_birth", CB_F_DATE, CB_FF_REQUIRED | CB_FF_PAST, 0, 0, 0, NULL, NULL},
    {"nhs_number", CB_F_NHS, 0, 0, 0, 0, NULL, NULL},
    {"postcode", CB_F_POSTCODE, 0, 0, 0, 0, NULL, NULL},
    {"team", CB_F_TEAM, CB_FF_REQUIRED, 0, 0, 0, NULL, NULL},
};

const char *const cb_encounter_types[] = {"drop_in", "one_to_one", "phone", "video",
                                          "group",   "dna",        NULL};

static const struct cb_field encounter_fields[] = {
    {"participant_id", CB_F_REF, CB_FF_REQUIRED | CB_FF_IMMUTABLE, 0, 0, 0, NULL,
     "participants"},
    {"type", CB_F_ENUM, CB_FF_REQUIRED, 0, 0, 0, cb_encounter_types, NULL},
    {"occurred_at", CB_F_TIME, CB_FF_REQUIRED | CB_FF_PAST, 0, 0, 0, NULL, NULL},
    {"notes", CB_F_TEXT, 0, 10000, 0, 0, NULL, NULL},
    {"coach", CB_F_REF, CB_FF_SERVER, 0, 0, 0, NULL, "users"},
    {"team", CB_F_TEAM, CB_FF_SERVER, 0, 0, 0, NULL, NULL},
};

const struct cb_table cb_table_participants = {"participants", participant_fields,
                                               N(participant_fields)};
const struct cb_table cb_table_encounters = {"encounters", encounter_fields,
                                             N(encounter_fields)};

static const struct cb_table *const all_tables[] = {&cb_table_participants, &cb_table_encounters};

const struct cb_table *cb_table_find(const char *name)
{
    for (size_t i = 0; i < N(all_tables); i++) {
        if (strcmp(all_tables[i]->name, name) == 0) {
            return all_tables[i];
        }
    }
    return NULL;
}
