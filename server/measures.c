/*
 * measures.c - outcome-measure scoring, driven by one static table per
 * instrument (see the "Instrument tables" section).  To correct a rule, edit
 * that instrument's table and bump its rule_version; docs/MEASURES.md cites
 * the source of every number used here.
 */
#include "coachbox/measures.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Table types                                                               */
/* ------------------------------------------------------------------------ */

enum ftype {
    FT_INT = 1, /* whole number in [min, max] */
    FT_NUM,     /* finite number in [min, max] */
    FT_ENUM,    /* one of options[].code */
    FT_DATE,    /* "YYYY-MM-DD", a real calendar date, years 1900..2199 */
    FT_BOOL,    /* true/false (strings "true", "false", "yes", "no" too) */
    FT_TEXT,    /* text of 1..max characters, no control characters */
    FT_HOURS,   /* number of hours in [min, max] or one of options[].code */
    FT_ETHNIC   /* a cb_ethnic_groups[] code */
};

enum freq {
    F_OPTIONAL = 0, /* may be left out (see field.needed_if) */
    F_ITEM,         /* questionnaire answer: required unless ALLOW_INCOMPLETE */
    F_REQUIRED      /* always required */
};

/* A coded answer.  lo/lo_open give the hours an FT_HOURS code stands for. */
struct option {
    const char *code;
    int points;
    double lo;   /* lowest value the code stands for ... */
    int lo_open; /* ... exclusive when 1 ("some but less than 1 hour" is > 0) */
};

/*
 * A band: applies to values >= lo up to the next band's lo.  Arrays are in
 * ascending lo order and end with a {.code = NULL} sentinel.  Bands used for
 * categorical outcomes (smoking, bowel screening) ignore lo.
 */
struct band {
    double lo;
    const char *code;
    const char *flag; /* prompt raised when this band applies, or NULL */
    int points;       /* points scored (HSI items) */
};

struct field {
    const char *key;
    enum ftype type;
    enum freq req;
    double min, max;              /* numeric range; FT_TEXT: max length */
    const char *unit;             /* for messages, e.g. "cm"; may be NULL */
    const struct option *options; /* FT_ENUM, FT_HOURS; {NULL}-terminated */
    const char *needed_if;        /* required when this other key is > 0 */
    const struct band *bands;     /* per-key bands or points; may be NULL */
    const char *flag;             /* per-key prompt ... */
    double flag_at;               /* ... raised when value >= flag_at */
    const char *label;            /* what the key records (not item wording) */
};

struct run;
typedef int (*score_fn)(struct run *r);

struct instrument {
    const char *id;
    const char *title;
    const char *rule_version;
    const char *notice; /* licence notice to show with the scale, or NULL */
    const char *source; /* short citation; full detail in docs/MEASURES.md */
    int questionnaire;  /* CB_MEASURE_ALLOW_INCOMPLETE applies */
    const struct field *fields;
    const struct band *bands; /* headline bands; NULL when none */
    score_fn score;
    union {
        struct {
            const short *metric; /* raw -> metric conversion, hundredths */
            int raw_min, raw_max;
        } sum;
        struct {
            const char *key; /* the scored key */
            int dp;          /* round to dp decimals; -1: keep as entered */
        } single;
        struct {
            int occupation_cap; /* PAI is capped at this value */
        } gppaq;
        struct {
            int met10_walk, met10_moderate, met10_vigorous; /* METs x 10 */
            int cap_minutes;                                /* per day */
            int high_vig_days, high_vig_met, high_days, high_met;
            int mod_vig_days, mod_vig_minutes, mod_days, mod_minutes;
            int combo_days, combo_met;
        } ipaq;
        struct {
            const char *banding;
        } hsi;
        struct {
            int co_below;               /* CO-validated when co_ppm < this */
            int window_min, window_max; /* follow-up days after quit date */
        } smoking;
        struct {
            const struct band *lower; /* bands for lower-threshold groups */
        } bmi;
        struct {
            int postural_drop; /* standing systolic drop (mmHg) that flags */
        } bp;
    } p;
};

/* ------------------------------------------------------------------------ */
/* Table-building macros                                                     */
/* ------------------------------------------------------------------------ */

// clang-format off
#define ITEM(k, lo, hi, what) \
    {.key = (k), .type = FT_INT, .req = F_ITEM, .min = (lo), .max = (hi), .label = (what)}
#define END_FIELDS {.key = NULL}
#define END_BANDS {.code = NULL}
#define END_OPTIONS {.code = NULL}
// clang-format on

/* Shared option and band lists. */
static const struct option hours_options[] = {{.code = "none", .points = 1, .lo = 0, .lo_open = 0},
                                              {.code = "lt1", .points = 2, .lo = 0, .lo_open = 1},
                                              {.code = "1to3", .points = 3, .lo = 1, .lo_open = 0},
                                              {.code = "ge3", .points = 4, .lo = 3, .lo_open = 0},
                                              END_OPTIONS};

static const struct band ons4_positive_bands[] = {{.lo = 0, .code = "low"},
                                                  {.lo = 5, .code = "medium"},
                                                  {.lo = 7, .code = "high"},
                                                  {.lo = 9, .code = "very_high"},
                                                  END_BANDS};

static const struct band ons4_anxiety_bands[] = {{.lo = 0, .code = "very_low"},
                                                 {.lo = 2, .code = "low"},
                                                 {.lo = 4, .code = "medium"},
                                                 {.lo = 6, .code = "high"},
                                                 END_BANDS};

/* ------------------------------------------------------------------------ */
/* Scoring functions (defined below the tables)                              */
/* ------------------------------------------------------------------------ */

static int score_sum(struct run *r);
static int score_single(struct run *r);
static int score_ons4(struct run *r);
static int score_gppaq(struct run *r);
static int score_ipaq(struct run *r);
static int score_hsi(struct run *r);
static int score_smoking(struct run *r);
static int score_bmi(struct run *r);
static int score_whtr(struct run *r);
static int score_bp(struct run *r);
static int score_bowel(struct run *r);

/* ------------------------------------------------------------------------ */
/* Instrument tables                                                         */
/* ------------------------------------------------------------------------ */

/* SWEMWBS raw score 7..35 -> metric score, in hundredths (Warwick table). */
static const short swemwbs_metric[] = {700,  951,  1125, 1240, 1333, 1408, 1475, 1532, 1584, 1636,
                                       1688, 1743, 1798, 1859, 1925, 1998, 2073, 2154, 2235, 2321,
                                       2411, 2503, 2602, 2703, 2813, 2931, 3070, 3255, 3500};

static const struct instrument swemwbs = {
    .id = "swemwbs",
    .title = "Short Warwick-Edinburgh Mental Wellbeing Scale (SWEMWBS)",
    .rule_version = "swemwbs-1",
    .notice = "SWEMWBS \xC2\xA9 University of Warwick",
    .source = "University of Warwick SWEMWBS raw-to-metric conversion table",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            ITEM("q1", 1, 5, "optimistic about the future"),
            ITEM("q2", 1, 5, "feeling useful"),
            ITEM("q3", 1, 5, "feeling relaxed"),
            ITEM("q4", 1, 5, "dealing with problems well"),
            ITEM("q5", 1, 5, "thinking clearly"),
            ITEM("q6", 1, 5, "feeling close to other people"),
            ITEM("q7", 1, 5, "able to make up my own mind about things"),
            END_FIELDS,
        },
    .bands = NULL,
    .score = score_sum,
    .p.sum = {.metric = swemwbs_metric, .raw_min = 7, .raw_max = 35},
};

static const struct instrument wemwbs = {
    .id = "wemwbs",
    .title = "Warwick-Edinburgh Mental Wellbeing Scale (WEMWBS)",
    .rule_version = "wemwbs-1",
    .notice = "WEMWBS \xC2\xA9 University of Warwick",
    .source = "University of Warwick WEMWBS user guide: sum of 14 items",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            ITEM("q1", 1, 5, "item 1"),
            ITEM("q2", 1, 5, "item 2"),
            ITEM("q3", 1, 5, "item 3"),
            ITEM("q4", 1, 5, "item 4"),
            ITEM("q5", 1, 5, "item 5"),
            ITEM("q6", 1, 5, "item 6"),
            ITEM("q7", 1, 5, "item 7"),
            ITEM("q8", 1, 5, "item 8"),
            ITEM("q9", 1, 5, "item 9"),
            ITEM("q10", 1, 5, "item 10"),
            ITEM("q11", 1, 5, "item 11"),
            ITEM("q12", 1, 5, "item 12"),
            ITEM("q13", 1, 5, "item 13"),
            ITEM("q14", 1, 5, "item 14"),
            END_FIELDS,
        },
    .bands = NULL,
    .score = score_sum,
};

static const struct instrument ons4 = {
    .id = "ons4",
    .title = "ONS personal wellbeing (ONS4)",
    .rule_version = "ons4-1",
    .notice = NULL,
    .source = "ONS personal well-being thresholds; the four answers are never combined",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            {.key = "q1",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 10,
             .bands = ons4_positive_bands,
             .label = "life satisfaction"},
            {.key = "q2",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 10,
             .bands = ons4_positive_bands,
             .label = "things done in life are worthwhile"},
            {.key = "q3",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 10,
             .bands = ons4_positive_bands,
             .label = "happiness yesterday"},
            {.key = "q4",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 10,
             .bands = ons4_anxiety_bands,
             .label = "anxiety yesterday"},
            END_FIELDS,
        },
    .bands = NULL,
    .score = score_ons4,
};

static const struct instrument phq9 = {
    .id = "phq9",
    .title = "Patient Health Questionnaire (PHQ-9)",
    .rule_version = "phq9-1",
    .notice = NULL,
    .source = "Kroenke, Spitzer & Williams 2001: sum of 9 items, bands at 5/10/15/20",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            ITEM("q1", 0, 3, "little interest or pleasure"),
            ITEM("q2", 0, 3, "feeling down, depressed or hopeless"),
            ITEM("q3", 0, 3, "sleep problems"),
            ITEM("q4", 0, 3, "tired or little energy"),
            ITEM("q5", 0, 3, "appetite"),
            ITEM("q6", 0, 3, "feeling bad about yourself"),
            ITEM("q7", 0, 3, "trouble concentrating"),
            ITEM("q8", 0, 3, "moving or speaking slowly, or restless"),
            {.key = "q9",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 3,
             .flag = "safeguarding",
             .flag_at = 1,
             .label = "thoughts of being better off dead or of self-harm"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "minimal"},
            {.lo = 5, .code = "mild"},
            {.lo = 10, .code = "moderate"},
            {.lo = 15, .code = "moderately_severe"},
            {.lo = 20, .code = "severe"},
            END_BANDS,
        },
    .score = score_sum,
};

static const struct instrument gad7 = {
    .id = "gad7",
    .title = "Generalised Anxiety Disorder assessment (GAD-7)",
    .rule_version = "gad7-1",
    .notice = NULL,
    .source = "Spitzer et al. 2006: sum of 7 items, bands at 5/10/15",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            ITEM("q1", 0, 3, "nervous, anxious or on edge"),
            ITEM("q2", 0, 3, "not able to stop or control worrying"),
            ITEM("q3", 0, 3, "worrying too much"),
            ITEM("q4", 0, 3, "trouble relaxing"),
            ITEM("q5", 0, 3, "so restless it is hard to sit still"),
            ITEM("q6", 0, 3, "easily annoyed or irritable"),
            ITEM("q7", 0, 3, "afraid as if something awful might happen"),
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "minimal"},
            {.lo = 5, .code = "mild"},
            {.lo = 10, .code = "moderate"},
            {.lo = 15, .code = "severe"},
            END_BANDS,
        },
    .score = score_sum,
};

static const struct instrument gppaq = {
    .id = "gppaq",
    .title = "General Practice Physical Activity Questionnaire (GPPAQ)",
    .rule_version = "gppaq-1",
    .notice = NULL,
    .source = "DH 2009 GPPAQ guidance, Annex 1 (Physical Activity Index)",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            {.key = "occupation",
             .type = FT_ENUM,
             .req = F_ITEM,
             .options =
                 (const struct option[]){
                     {.code = "not_employed", .points = 0},
                     {.code = "sedentary", .points = 0},
                     {.code = "standing", .points = 1},
                     {.code = "physical", .points = 2},
                     {.code = "heavy_manual", .points = 3},
                     END_OPTIONS,
                 },
             .label = "type and amount of physical activity at work"},
            {.key = "exercise_hours",
             .type = FT_HOURS,
             .req = F_ITEM,
             .min = 0,
             .max = 168,
             .unit = "hours",
             .options = hours_options,
             .label = "physical exercise last week (hours, or none/lt1/1to3/ge3)"},
            {.key = "cycling_hours",
             .type = FT_HOURS,
             .req = F_ITEM,
             .min = 0,
             .max = 168,
             .unit = "hours",
             .options = hours_options,
             .label = "cycling last week (hours, or none/lt1/1to3/ge3)"},
            {.key = "walking_hours",
             .type = FT_HOURS,
             .req = F_OPTIONAL,
             .min = 0,
             .max = 168,
             .unit = "hours",
             .options = hours_options,
             .label = "walking last week (not scored)"},
            {.key = "housework_hours",
             .type = FT_HOURS,
             .req = F_OPTIONAL,
             .min = 0,
             .max = 168,
             .unit = "hours",
             .options = hours_options,
             .label = "housework/childcare last week (not scored)"},
            {.key = "gardening_hours",
             .type = FT_HOURS,
             .req = F_OPTIONAL,
             .min = 0,
             .max = 168,
             .unit = "hours",
             .options = hours_options,
             .label = "gardening/DIY last week (not scored)"},
            {.key = "walking_pace",
             .type = FT_ENUM,
             .req = F_OPTIONAL,
             .options =
                 (const struct option[]){
                     {.code = "slow"},
                     {.code = "steady"},
                     {.code = "brisk"},
                     {.code = "fast"},
                     END_OPTIONS,
                 },
             .label = "usual walking pace (not scored)"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 1, .code = "inactive", .flag = "brief_intervention"},
            {.lo = 2, .code = "moderately_inactive", .flag = "brief_intervention"},
            {.lo = 3, .code = "moderately_active", .flag = "brief_intervention"},
            {.lo = 4, .code = "active"},
            END_BANDS,
        },
    .score = score_gppaq,
    .p.gppaq = {.occupation_cap = 4},
};

static const struct instrument ipaq_short = {
    .id = "ipaq_short",
    .title = "International Physical Activity Questionnaire, short form (IPAQ-SF)",
    .rule_version = "ipaq_short-1",
    .notice = NULL,
    .source = "IPAQ scoring protocol (short form), Nov 2005",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            {.key = "vigorous_days",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 7,
             .unit = "days",
             .label = "days of vigorous activity, last 7 days"},
            {.key = "vigorous_minutes",
             .type = FT_INT,
             .req = F_OPTIONAL,
             .min = 0,
             .max = 1440,
             .unit = "minutes",
             .needed_if = "vigorous_days",
             .label = "minutes of vigorous activity on one of those days"},
            {.key = "moderate_days",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 7,
             .unit = "days",
             .label = "days of moderate activity, last 7 days"},
            {.key = "moderate_minutes",
             .type = FT_INT,
             .req = F_OPTIONAL,
             .min = 0,
             .max = 1440,
             .unit = "minutes",
             .needed_if = "moderate_days",
             .label = "minutes of moderate activity on one of those days"},
            {.key = "walking_days",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 7,
             .unit = "days",
             .label = "days walking at least 10 minutes, last 7 days"},
            {.key = "walking_minutes",
             .type = FT_INT,
             .req = F_OPTIONAL,
             .min = 0,
             .max = 1440,
             .unit = "minutes",
             .needed_if = "walking_days",
             .label = "minutes walking on one of those days"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "low"},
            {.lo = 1, .code = "moderate"},
            {.lo = 2, .code = "high"},
            END_BANDS,
        },
    .score = score_ipaq,
    .p.ipaq =
        {
            .met10_walk = 33,
            .met10_moderate = 40,
            .met10_vigorous = 80,
            .cap_minutes = 180,
            .high_vig_days = 3,
            .high_vig_met = 1500,
            .high_days = 7,
            .high_met = 3000,
            .mod_vig_days = 3,
            .mod_vig_minutes = 20,
            .mod_days = 5,
            .mod_minutes = 30,
            .combo_days = 5,
            .combo_met = 600,
        },
};

static const struct instrument audit_c = {
    .id = "audit_c",
    .title = "AUDIT-C (UK)",
    .rule_version = "audit_c-1",
    .notice = NULL,
    .source = "UK AUDIT-C (DHSC/OHID): 3 items 0-4, positive at 5 or more",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            ITEM("q1", 0, 4, "how often a drink containing alcohol"),
            ITEM("q2", 0, 4, "units on a typical drinking day"),
            ITEM("q3", 0, 4, "how often 6+ (female) / 8+ (male) units on one occasion"),
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "negative"},
            {.lo = 5, .code = "positive", .flag = "audit_c_positive"},
            END_BANDS,
        },
    .score = score_sum,
};

static const struct instrument hsi = {
    .id = "hsi",
    .title = "Heaviness of Smoking Index (HSI)",
    .rule_version = "hsi-1",
    .notice = NULL,
    .source = "Heatherton et al. 1989; banding 0-1 low, 2-4 moderate, 5-6 high",
    .questionnaire = 1,
    .fields =
        (const struct field[]){
            {.key = "minutes_to_first",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 0,
             .max = 1440,
             .unit = "minutes",
             .bands =
                 (const struct band[]){
                     {.lo = 0, .code = "le5", .points = 3},
                     {.lo = 6, .code = "6to30", .points = 2},
                     {.lo = 31, .code = "31to60", .points = 1},
                     {.lo = 61, .code = "gt60", .points = 0},
                     END_BANDS,
                 },
             .label = "minutes from waking to the first cigarette"},
            {.key = "cigarettes_per_day",
             .type = FT_INT,
             .req = F_ITEM,
             .min = 1,
             .max = 200,
             .unit = "cigarettes",
             .bands =
                 (const struct band[]){
                     {.lo = 0, .code = "le10", .points = 0},
                     {.lo = 11, .code = "11to20", .points = 1},
                     {.lo = 21, .code = "21to30", .points = 2},
                     {.lo = 31, .code = "ge31", .points = 3},
                     END_BANDS,
                 },
             .label = "cigarettes smoked per day"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "low"},
            {.lo = 2, .code = "moderate"},
            {.lo = 5, .code = "high"},
            END_BANDS,
        },
    .score = score_hsi,
    .p.hsi = {.banding = "0-1/2-4/5-6"},
};

static const struct instrument smoking = {
    .id = "smoking",
    .title = "Smoking status and 4-week quit (Russell Standard)",
    .rule_version = "smoking-1",
    .notice = NULL,
    .source = "Russell Standard (Clinical): 4-week quit, CO-validated when CO < 10 ppm",
    .questionnaire = 0,
    .fields =
        (const struct field[]){
            {.key = "status",
             .type = FT_ENUM,
             .req = F_REQUIRED,
             .options =
                 (const struct option[]){
                     {.code = "never"},
                     {.code = "ex_smoker"},
                     {.code = "current"},
                     {.code = "quit_attempt"},
                     END_OPTIONS,
                 },
             .label = "smoking status"},
            {.key = "quit_date",
             .type = FT_DATE,
             .req = F_OPTIONAL,
             .label = "quit date (required for quit_attempt)"},
            {.key = "followup_date",
             .type = FT_DATE,
             .req = F_OPTIONAL,
             .label = "date of the 4-week follow-up"},
            {.key = "self_reported_quit",
             .type = FT_BOOL,
             .req = F_OPTIONAL,
             .label = "self-report at follow-up: not smoked since day 14 after the quit date"},
            {.key = "co_ppm",
             .type = FT_INT,
             .req = F_OPTIONAL,
             .min = 0,
             .max = 200,
             .unit = "ppm",
             .label = "expired-air carbon monoxide reading (at follow-up if any)"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.code = "never_smoked"},
            {.code = "ex_smoker"},
            {.code = "current_smoker"},
            {.code = "awaiting_followup"},
            {.code = "outside_followup_window"},
            {.code = "not_quit"},
            {.code = "quit_self_reported"},
            {.code = "quit_not_co_validated"},
            {.code = "quit_co_validated", .flag = "co_validated_quit"},
            END_BANDS,
        },
    .score = score_smoking,
    .p.smoking = {.co_below = 10, .window_min = 25, .window_max = 42},
};

static const struct instrument bmi = {
    .id = "bmi",
    .title = "Body mass index (BMI)",
    .rule_version = "bmi-1",
    .notice = NULL,
    .source = "NICE CG189 / NG246 BMI thresholds, incl. lower thresholds by family background",
    .questionnaire = 0,
    .fields =
        (const struct field[]){
            {.key = "height_cm",
             .type = FT_NUM,
             .req = F_REQUIRED,
             .min = 50,
             .max = 250,
             .unit = "cm",
             .label = "height"},
            {.key = "weight_kg",
             .type = FT_NUM,
             .req = F_REQUIRED,
             .min = 20,
             .max = 400,
             .unit = "kg",
             .label = "weight"},
            {.key = "ethnic_group",
             .type = FT_ETHNIC,
             .req = F_OPTIONAL,
             .label = "ONS 2021 ethnic group code (absent: standard thresholds)"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "underweight"},
            {.lo = 18.5, .code = "healthy"},
            {.lo = 25, .code = "overweight"},
            {.lo = 30, .code = "obesity_1"},
            {.lo = 35, .code = "obesity_2"},
            {.lo = 40, .code = "obesity_3"},
            END_BANDS,
        },
    .score = score_bmi,
    .p.bmi =
        {
            .lower =
                (const struct band[]){
                    {.lo = 0, .code = "underweight"},
                    {.lo = 18.5, .code = "healthy"},
                    {.lo = 23, .code = "overweight"},
                    {.lo = 27.5, .code = "obesity"},
                    END_BANDS,
                },
        },
};

static const struct instrument whtr = {
    .id = "whtr",
    .title = "Waist-to-height ratio",
    .rule_version = "whtr-1",
    .notice = NULL,
    .source = "NICE NG246 (2022 update of CG189): waist-to-height ratio bands, adults",
    .questionnaire = 0,
    .fields =
        (const struct field[]){
            {.key = "waist_cm",
             .type = FT_NUM,
             .req = F_REQUIRED,
             .min = 30,
             .max = 250,
             .unit = "cm",
             .label = "waist circumference"},
            {.key = "height_cm",
             .type = FT_NUM,
             .req = F_REQUIRED,
             .min = 50,
             .max = 250,
             .unit = "cm",
             .label = "height"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "below_range"},
            {.lo = 0.4, .code = "healthy"},
            {.lo = 0.5, .code = "increased_risk"},
            {.lo = 0.6, .code = "high_risk"},
            END_BANDS,
        },
    .score = score_whtr,
};

/* BP: the level of each reading is its band index; the higher level wins. */
static const struct instrument bp = {
    .id = "bp",
    .title = "Clinic blood pressure (NICE NG136)",
    .rule_version = "bp-1",
    .notice = NULL,
    .source = "NICE NG136 clinic thresholds; postural drop of 20 mmHg or more",
    .questionnaire = 0,
    .fields =
        (const struct field[]){
            {.key = "systolic",
             .type = FT_INT,
             .req = F_REQUIRED,
             .min = 50,
             .max = 300,
             .unit = "mmHg",
             .bands =
                 (const struct band[]){
                     {.lo = 0, .code = "normal_range"},
                     {.lo = 140, .code = "stage_1"},
                     {.lo = 160, .code = "stage_2"},
                     {.lo = 180, .code = "severe"},
                     END_BANDS,
                 },
             .label = "clinic systolic (sitting)"},
            {.key = "diastolic",
             .type = FT_INT,
             .req = F_REQUIRED,
             .min = 20,
             .max = 200,
             .unit = "mmHg",
             .bands =
                 (const struct band[]){
                     {.lo = 0, .code = "normal_range"},
                     {.lo = 90, .code = "stage_1"},
                     {.lo = 100, .code = "stage_2"},
                     {.lo = 120, .code = "severe"},
                     END_BANDS,
                 },
             .label = "clinic diastolic (sitting)"},
            {.key = "standing_systolic",
             .type = FT_INT,
             .req = F_OPTIONAL,
             .min = 50,
             .max = 300,
             .unit = "mmHg",
             .label = "systolic after standing (postural drop)"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "normal_range"},
            {.lo = 1, .code = "stage_1"},
            {.lo = 2, .code = "stage_2"},
            {.lo = 3, .code = "severe", .flag = "urgent_same_day"},
            END_BANDS,
        },
    .score = score_bp,
    .p.bp = {.postural_drop = 20},
};

static const struct instrument qrisk = {
    .id = "qrisk",
    .title = "QRISK score entered from the GP record (not computed)",
    .rule_version = "qrisk-1",
    .notice = NULL,
    .source = "Recorded as entered; QRISK is not computed here",
    .questionnaire = 0,
    .fields =
        (const struct field[]){
            {.key = "score",
             .type = FT_NUM,
             .req = F_REQUIRED,
             .min = 0,
             .max = 100,
             .unit = "%",
             .label = "10-year risk as recorded (%)"},
            {.key = "date", .type = FT_DATE, .req = F_REQUIRED, .label = "date of the score"},
            {.key = "source",
             .type = FT_TEXT,
             .req = F_REQUIRED,
             .max = 100,
             .label = "where it was taken from, e.g. GP record"},
            END_FIELDS,
        },
    .bands = NULL,
    .score = score_single,
    .p.single = {.key = "score", .dp = -1},
};

static const struct instrument cfs = {
    .id = "cfs",
    .title = "Clinical Frailty Scale v2.0",
    .rule_version = "cfs-1",
    .notice = "Clinical Frailty Scale v2.0 \xC2\xA9 2005-2020 Rockwood, Dalhousie University. "
              "Free for not-for-profit care; must not be altered.",
    .source = "Rockwood & Theou 2020 (CFS version 2.0 level names)",
    .questionnaire = 0,
    .fields =
        (const struct field[]){
            {.key = "level",
             .type = FT_INT,
             .req = F_REQUIRED,
             .min = 1,
             .max = 9,
             .label = "clinician's judgement, 1 very fit .. 9 terminally ill"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 1, .code = "very_fit"},
            {.lo = 2, .code = "fit"},
            {.lo = 3, .code = "managing_well"},
            {.lo = 4, .code = "living_with_very_mild_frailty"},
            {.lo = 5, .code = "living_with_mild_frailty"},
            {.lo = 6, .code = "living_with_moderate_frailty"},
            {.lo = 7, .code = "living_with_severe_frailty"},
            {.lo = 8, .code = "living_with_very_severe_frailty"},
            {.lo = 9, .code = "terminally_ill"},
            END_BANDS,
        },
    .score = score_single,
    .p.single = {.key = "level", .dp = 0},
};

static const struct instrument tug = {
    .id = "tug",
    .title = "Timed Up and Go (TUG)",
    .rule_version = "tug-1",
    .notice = NULL,
    .source = "NICE CG161 / AGS-BGS falls guidance; 12 s threshold (community studies 12-13.5 s)",
    .questionnaire = 0,
    .fields =
        (const struct field[]){
            {.key = "seconds",
             .type = FT_NUM,
             .req = F_REQUIRED,
             .min = 1,
             .max = 300,
             .unit = "seconds",
             .label = "time to stand, walk 3 m, turn, return and sit"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.lo = 0, .code = "below_threshold"},
            {.lo = 12, .code = "raised_falls_risk", .flag = "falls_risk"},
            END_BANDS,
        },
    .score = score_single,
    .p.single = {.key = "seconds", .dp = 1},
};

/* The band codes are the status codes; bands only name them. */
static const struct instrument bowel_screening = {
    .id = "bowel_screening",
    .title = "Bowel cancer screening status (NHS BCSP kit)",
    .rule_version = "bowel_screening-1",
    .notice = NULL,
    .source = "Coaching outcome: kit returned after support",
    .questionnaire = 0,
    .fields =
        (const struct field[]){
            {.key = "status",
             .type = FT_ENUM,
             .req = F_REQUIRED,
             .options =
                 (const struct option[]){
                     {.code = "not_yet_eligible"},
                     {.code = "kit_not_received"},
                     {.code = "kit_received_not_returned"},
                     {.code = "kit_returned"},
                     {.code = "declined"},
                     END_OPTIONS,
                 },
             .label = "screening status"},
            {.key = "status_date",
             .type = FT_DATE,
             .req = F_OPTIONAL,
             .label = "date the status was recorded"},
            {.key = "kit_received_date",
             .type = FT_DATE,
             .req = F_OPTIONAL,
             .label = "date the kit arrived"},
            {.key = "kit_returned_date",
             .type = FT_DATE,
             .req = F_OPTIONAL,
             .label = "date the kit was returned"},
            {.key = "after_support",
             .type = FT_BOOL,
             .req = F_OPTIONAL,
             .label = "kit returned after coaching support"},
            END_FIELDS,
        },
    .bands =
        (const struct band[]){
            {.code = "not_yet_eligible"},
            {.code = "kit_not_received"},
            {.code = "kit_received_not_returned"},
            {.code = "kit_returned"},
            {.code = "declined"},
            END_BANDS,
        },
    .score = score_bowel,
};

static const struct instrument *const instruments[] = {
    &swemwbs, &wemwbs, &ons4, &phq9, &gad7,  &gppaq, &ipaq_short, &audit_c,         &hsi,
    &smoking, &bmi,    &whtr, &bp,   &qrisk, &cfs,   &tug,        &bowel_screening,
};

/* Same order as instruments[]; checked by cb_measure_list() and the tests. */
static const char *const instrument_ids[] = {
    "swemwbs", "wemwbs", "ons4", "phq9", "gad7",  "gppaq", "ipaq_short", "audit_c",         "hsi",
    "smoking", "bmi",    "whtr", "bp",   "qrisk", "cfs",   "tug",        "bowel_screening",
};

#define N_INSTRUMENTS (sizeof(instruments) / sizeof(instruments[0]))
_Static_assert(sizeof(instrument_ids) / sizeof(instrument_ids[0]) == N_INSTRUMENTS,
               "instrument_ids[] must match instruments[]");

/* ------------------------------------------------------------------------ */
/* Ethnic groups (ONS 2021, England and Wales)                               */
/* ------------------------------------------------------------------------ */

const struct cb_ethnic_group cb_ethnic_groups[CB_ETHNIC_GROUP_COUNT] = {
    {"asian_bangladeshi", "Asian, Asian British or Asian Welsh: Bangladeshi", "asian", 1},
    {"asian_chinese", "Asian, Asian British or Asian Welsh: Chinese", "asian", 1},
    {"asian_indian", "Asian, Asian British or Asian Welsh: Indian", "asian", 1},
    {"asian_pakistani", "Asian, Asian British or Asian Welsh: Pakistani", "asian", 1},
    {"asian_other", "Asian, Asian British or Asian Welsh: Other Asian", "asian", 1},
    {"black_african", "Black, Black British, Black Welsh, Caribbean or African: African", "black",
     1},
    {"black_caribbean", "Black, Black British, Black Welsh, Caribbean or African: Caribbean",
     "black", 1},
    {"black_other", "Black, Black British, Black Welsh, Caribbean or African: Other Black", "black",
     1},
    {"mixed_white_asian", "Mixed or Multiple ethnic groups: White and Asian", "mixed", 1},
    {"mixed_white_black_african", "Mixed or Multiple ethnic groups: White and Black African",
     "mixed", 1},
    {"mixed_white_black_caribbean", "Mixed or Multiple ethnic groups: White and Black Caribbean",
     "mixed", 1},
    {"mixed_other", "Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups",
     "mixed", 0},
    {"white_british", "White: English, Welsh, Scottish, Northern Irish or British", "white", 0},
    {"white_irish", "White: Irish", "white", 0},
    {"white_gypsy_traveller", "White: Gypsy or Irish Traveller", "white", 0},
    {"white_roma", "White: Roma", "white", 0},
    {"white_other", "White: Other White", "white", 0},
    {"other_arab", "Other ethnic group: Arab", "other", 1},
    {"other_any", "Other ethnic group: Any other ethnic group", "other", 0},
    {"not_stated", "Not stated", "not_stated", 0},
};

static const struct cb_ethnic_group *ethnic_find(const char *code)
{
    if (!code) {
        return NULL;
    }
    for (size_t i = 0; i < CB_ETHNIC_GROUP_COUNT; i++) {
        if (strcmp(cb_ethnic_groups[i].code, code) == 0) {
            return &cb_ethnic_groups[i];
        }
    }
    return NULL;
}

int cb_ethnic_group_valid(const char *code)
{
    return ethnic_find(code) != NULL;
}

int cb_ethnic_group_lower_bmi_thresholds(const char *code)
{
    const struct cb_ethnic_group *g = ethnic_find(code);
    return g ? g->lower_bmi_thresholds : 0;
}

const char *cb_ethnic_group_label(const char *code)
{
    const struct cb_ethnic_group *g = ethnic_find(code);
    return g ? g->label : NULL;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

#define MAX_FIELDS 16

/* A validated input value. */
struct val {
    int present;
    double num;               /* FT_INT, FT_NUM, FT_HOURS (numeric), FT_BOOL (0/1) */
    const char *str;          /* FT_ENUM/FT_HOURS code, FT_DATE, FT_TEXT, FT_ETHNIC */
    const struct option *opt; /* FT_ENUM, FT_HOURS given as a code */
    long days;                /* FT_DATE: days since 1970-01-01 */
};

struct run {
    const struct instrument *ins;
    struct val v[MAX_FIELDS];
    int complete;
    json_t *out;   /* the result being built (owned) */
    json_t *flags; /* borrowed from out */
    struct cb_field_error *fe;
};

static const struct instrument *find_instrument(const char *id)
{
    if (!id) {
        return NULL;
    }
    for (size_t i = 0; i < N_INSTRUMENTS; i++) {
        if (strcmp(instruments[i]->id, id) == 0) {
            return instruments[i];
        }
    }
    return NULL;
}

/* Index of key in ins->fields, or -1. */
static int field_index(const struct instrument *ins, const char *key)
{
    for (int i = 0; ins->fields[i].key; i++) {
        if (strcmp(ins->fields[i].key, key) == 0) {
            return i;
        }
    }
    return -1;
}

/* The validated value of key, which must be in the instrument's table. */
static const struct val *val_of(const struct run *r, const char *key)
{
    int i = field_index(r->ins, key);
    assert(i >= 0 && i < MAX_FIELDS);
    return &r->v[i];
}

/* The band containing x (bands ascending, sentinel-terminated), or NULL. */
static const struct band *band_for(const struct band *bands, double x)
{
    const struct band *found = NULL;
    if (!bands) {
        return NULL;
    }
    for (const struct band *b = bands; b->code; b++) {
        if (x >= b->lo - 1e-9) {
            found = b;
        }
    }
    return found;
}

/* The instrument band named code (categorical outcomes). */
static const struct band *band_named(const struct instrument *ins, const char *code)
{
    assert(ins->bands);
    for (const struct band *b = ins->bands; b->code; b++) {
        if (strcmp(b->code, code) == 0) {
            return b;
        }
    }
    assert(!"band code missing from the instrument table");
    return NULL;
}

/*
 * Round a non-negative value to dp decimals, half away from zero.  The small
 * epsilon absorbs binary error in values entered with few decimals (99.8 kg
 * over 4 m^2 is 24.95, not 24.9499999...).
 */
static double round_dp(double x, int dp)
{
    double scale = pow(10.0, dp);
    assert(x >= 0 && dp >= 0 && dp <= 4);
    return floor(x * scale + 0.5 + 1e-7) / scale;
}

static int put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new(obj, key, value) ? CB_ENOMEM : 0;
}

static int add_flag(struct run *r, const char *flag)
{
    size_t i;
    json_t *f;
    json_array_foreach(r->flags, i, f)
    {
        if (strcmp(json_string_value(f), flag) == 0) {
            return 0;
        }
    }
    return json_array_append_new(r->flags, json_string(flag)) ? CB_ENOMEM : 0;
}

/* Set "band" (and its prompt) from b, which may be NULL (band null). */
static int set_band(struct run *r, const struct band *b)
{
    int rc = put(r->out, "band", b ? json_string(b->code) : json_null());
    if (rc == 0 && b && b->flag) {
        rc = add_flag(r, b->flag);
    }
    return rc;
}

/*
 * Put "score" (reference stolen; NULL is out of memory) and, when bands is
 * not NULL, the band x falls in (set_band).  0 or CB_ENOMEM.
 */
static int put_score(struct run *r, json_t *score, const struct band *bands, double x)
{
    int rc = put(r->out, "score", score);
    if (rc == 0 && bands) {
        rc = set_band(r, band_for(bands, x));
    }
    return rc;
}

/* jansson's iterator API takes json_t *; we only read through it. */
static json_t *unconst(const json_t *j)
{
    union {
        const json_t *c;
        json_t *m;
    } u = {.c = j};
    return u.m;
}

/* Append "a, b, c" (the instrument's keys) to buf, truncating with "...". */
static void join_keys(const struct instrument *ins, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; ins->fields[i].key; i++) {
        int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", ins->fields[i].key);
        if (n < 0 || (size_t)n >= size - len) {
            if (size > 4) {
                snprintf(buf + size - 4, 4, "...");
            }
            return;
        }
        len += (size_t)n;
    }
}

static void join_options(const struct option *opts, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; opts[i].code; i++) {
        int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", opts[i].code);
        if (n < 0 || (size_t)n >= size - len) {
            return;
        }
        len += (size_t)n;
    }
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Parse s if it is entirely a decimal number (no spaces, no hex, no inf/nan).
 * Returns 1 and sets *is_int, *iv and *dv, or 0 if s is not such a number.
 */
static int parse_number(const char *s, int *is_int, json_int_t *iv, double *dv)
{
    size_t n = strlen(s);
    int digits = 0;
    char *end;
    if (n == 0 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            digits = 1;
        } else if (!strchr("+-.eE", s[i])) {
            return 0;
        }
    }
    if (!digits) {
        return 0;
    }
    errno = 0;
    long long l = strtoll(s, &end, 10);
    if (end != s && *end == '\0' && errno == 0) {
        *is_int = 1;
        *iv = (json_int_t)l;
        *dv = (double)l;
        return 1;
    }
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(d)) {
        return 0;
    }
    *is_int = 0;
    *iv = 0;
    *dv = d;
    return 1;
}

int cb_measure_value_from_text(const char *text, json_t **out)
{
    int is_int;
    json_int_t iv;
    double dv;
    assert(text && out);
    if (parse_number(text, &is_int, &iv, &dv)) {
        *out = is_int ? json_integer(iv) : json_real(dv);
    } else {
        *out = json_string(text);
        if (!*out) {
            /* json_string also refuses text that is not UTF-8: bad input, not memory. */
            json_t *probe = json_string("");
            int oom = probe == NULL;
            json_decref(probe);
            return oom ? CB_ENOMEM : CB_EINVAL;
        }
    }
    return *out ? 0 : CB_ENOMEM;
}

/* Get a number from a JSON number or numeric string; 0 if j is neither. */
static int json_number(const json_t *j, double *d)
{
    int is_int;
    json_int_t iv;
    if (json_is_integer(j)) {
        *d = (double)json_integer_value(j);
        return 1;
    }
    if (json_is_real(j)) {
        *d = json_real_value(j);
        return isfinite(*d);
    }
    if (json_is_string(j)) {
        return parse_number(json_string_value(j), &is_int, &iv, d);
    }
    return 0;
}

static int is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's method). */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parse a strict "YYYY-MM-DD" (years 1900..2199); 0 if invalid. */
static int parse_date(const char *s, long *days)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    long y = 0, m = 0, d = 0;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
        return 0;
    }
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            continue;
        }
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        long digit = s[i] - '0';
        if (i < 4) {
            y = y * 10 + digit;
        } else if (i < 7) {
            m = m * 10 + digit;
        } else {
            d = d * 10 + digit;
        }
    }
    if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1) {
        return 0;
    }
    if (d > mdays[m - 1] + (m == 2 && is_leap(y))) {
        return 0;
    }
    *days = days_from_civil(y, m, d);
    return 1;
}

static const char *unit_suffix(const struct field *f, char *buf, size_t size)
{
    if (f->unit) {
        snprintf(buf, size, " %s", f->unit);
    } else {
        buf[0] = '\0';
    }
    return buf;
}

/* Validate one present value against its field; on success *norm is new. */
static int normalise(const struct field *f, const json_t *j, struct val *v, json_t **norm,
                     struct cb_field_error *fe)
{
    char unit[24];
    char list[200];
    double d;
    *norm = NULL;
    switch (f->type) {
    case FT_INT:
        if (!json_number(j, &d) || d != floor(d) || d < f->min || d > f->max) {
            return cb_field_fail(fe, f->key, "%s must be a whole number from %g to %g%s.", f->key,
                                 f->min, f->max, unit_suffix(f, unit, sizeof(unit)));
        }
        v->num = d;
        *norm = json_integer((json_int_t)d);
        break;
    case FT_NUM:
        if (!json_number(j, &d) || d < f->min || d > f->max) {
            return cb_field_fail(fe, f->key, "%s must be a number from %g to %g%s.", f->key, f->min,
                                 f->max, unit_suffix(f, unit, sizeof(unit)));
        }
        v->num = d;
        *norm = json_real(d);
        break;
    case FT_HOURS:
        if (json_is_string(j)) {
            for (const struct option *o = f->options; o->code; o++) {
                if (strcmp(o->code, json_string_value(j)) == 0) {
                    v->opt = o;
                    v->str = o->code;
                    *norm = json_string(o->code);
                    break;
                }
            }
        }
        if (!v->opt) {
            if (!json_number(j, &d) || d < f->min || d > f->max) {
                join_options(f->options, list, sizeof(list));
                return cb_field_fail(fe, f->key,
                                     "%s must be a number of hours from %g to %g, or one of: %s.",
                                     f->key, f->min, f->max, list);
            }
            v->num = d;
            *norm = json_real(d);
        }
        break;
    case FT_ENUM:
        if (json_is_string(j)) {
            for (const struct option *o = f->options; o->code; o++) {
                if (strcmp(o->code, json_string_value(j)) == 0) {
                    v->opt = o;
                    v->str = o->code;
                    v->num = o->points;
                    *norm = json_string(o->code);
                    break;
                }
            }
        }
        if (!v->opt) {
            join_options(f->options, list, sizeof(list));
            return cb_field_fail(fe, f->key, "%s must be one of: %s.", f->key, list);
        }
        break;
    case FT_ETHNIC:
        if (!json_is_string(j) || !cb_ethnic_group_valid(json_string_value(j))) {
            return cb_field_fail(fe, f->key,
                                 "%s must be an ONS 2021 ethnic group code such as "
                                 "white_british, asian_indian or not_stated.",
                                 f->key);
        }
        v->str = json_string_value(j);
        *norm = json_string(v->str);
        break;
    case FT_DATE:
        if (!json_is_string(j) || !parse_date(json_string_value(j), &v->days)) {
            return cb_field_fail(fe, f->key,
                                 "%s must be a real date written YYYY-MM-DD (years 1900 to 2199).",
                                 f->key);
        }
        v->str = json_string_value(j);
        *norm = json_string(v->str);
        break;
    case FT_BOOL:
        if (json_is_boolean(j)) {
            v->num = json_is_true(j);
        } else if (json_is_string(j) && (strcmp(json_string_value(j), "true") == 0 ||
                                         strcmp(json_string_value(j), "yes") == 0)) {
            v->num = 1;
        } else if (json_is_string(j) && (strcmp(json_string_value(j), "false") == 0 ||
                                         strcmp(json_string_value(j), "no") == 0)) {
            v->num = 0;
        } else {
            return cb_field_fail(fe, f->key, "%s must be true or false (or yes or no).", f->key);
        }
        *norm = json_boolean(v->num != 0);
        break;
    case FT_TEXT: {
        const char *s = json_is_string(j) ? json_string_value(j) : NULL;
        size_t len = s ? json_string_length(j) : 0;
        int ok = s && len >= 1 && len <= (size_t)f->max && strlen(s) == len;
        for (size_t i = 0; ok && i < len; i++) {
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
                ok = 0;
            }
        }
        if (!ok) {
            return cb_field_fail(fe, f->key, "%s must be text of 1 to %g characters on one line.",
                                 f->key, f->max);
        }
        v->str = s;
        *norm = json_string(s);
        break;
    }
    default:
        assert(!"unknown field type");
        return CB_EINTERNAL;
    }
    if (!*norm) {
        return CB_ENOMEM;
    }
    v->present = 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                                */
/* ------------------------------------------------------------------------ */

static int check_unknown_keys(const struct instrument *ins, const json_t *inputs,
                              struct cb_field_error *fe)
{
    const char *key;
    json_t *value;
    char keys[160];
    json_object_foreach(unconst(inputs), key, value)
    {
        (void)value;
        if (field_index(ins, key) < 0) {
            join_keys(ins, keys, sizeof(keys));
            return cb_field_fail(fe, key, "\"%.40s\" is not a %s key; the keys are: %s.", key,
                                 ins->id, keys);
        }
    }
    return 0;
}

/* Validate every present key, then check what is required. */
static int read_inputs(struct run *r, const json_t *inputs, unsigned flags, json_t *raw,
                       json_t *missing)
{
    const struct instrument *ins = r->ins;
    int allow = (flags & CB_MEASURE_ALLOW_INCOMPLETE) && ins->questionnaire;
    int rc;

    for (int i = 0; ins->fields[i].key; i++) {
        const struct field *f = &ins->fields[i];
        const json_t *j = json_object_get(inputs, f->key);
        json_t *norm;
        assert(i < MAX_FIELDS);
        if (!j || json_is_null(j)) {
            continue;
        }
        rc = normalise(f, j, &r->v[i], &norm, r->fe);
        if (rc) {
            return rc;
        }
        rc = put(raw, f->key, norm);
        if (rc) {
            return rc;
        }
    }

    r->complete = 1;
    for (int i = 0; ins->fields[i].key; i++) {
        const struct field *f = &ins->fields[i];
        const struct val *ctl = f->needed_if ? val_of(r, f->needed_if) : NULL;
        int needed = f->req != F_OPTIONAL || (ctl && ctl->present && ctl->num > 0);
        if (r->v[i].present || !needed) {
            continue;
        }
        if (allow && f->req != F_REQUIRED) {
            r->complete = 0;
            if (json_array_append_new(missing, json_string(f->key))) {
                return CB_ENOMEM;
            }
        } else if (ctl) {
            return cb_field_fail(r->fe, f->key, "%s is required when %s is more than 0.", f->key,
                                 f->needed_if);
        } else if (f->req == F_ITEM) {
            return cb_field_fail(r->fe, f->key,
                                 "%s is required: answer every item, or save the form as "
                                 "incomplete.",
                                 f->key);
        } else {
            return cb_field_fail(r->fe, f->key, "%s is required.", f->key);
        }
    }

    /* Per-item prompts are raised even on an incomplete form. */
    for (int i = 0; ins->fields[i].key; i++) {
        const struct field *f = &ins->fields[i];
        if (f->flag && r->v[i].present && r->v[i].num >= f->flag_at) {
            rc = add_flag(r, f->flag);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

int cb_measure_score(const char *instrument, const json_t *inputs, unsigned flags, json_t **out,
                     struct cb_field_error *fe)
{
    struct run r;
    json_t *raw, *missing;
    int rc;

    assert(out);
    *out = NULL;
    const struct instrument *ins = find_instrument(instrument);
    if (!ins) {
        return cb_field_fail(fe, "instrument", "Unknown instrument \"%.40s\".",
                             instrument ? instrument : "");
    }
    if (flags & ~CB_MEASURE_ALLOW_INCOMPLETE) {
        return cb_field_fail(fe, "flags", "Unknown scoring flags 0x%x.", flags);
    }
    if (!json_is_object(inputs)) {
        return cb_field_fail(fe, "inputs", "The inputs must be a JSON object of keys and values.");
    }
    rc = check_unknown_keys(ins, inputs, fe);
    if (rc) {
        return rc;
    }

    memset(&r, 0, sizeof(r));
    r.ins = ins;
    r.fe = fe;
    r.out = json_object();
    raw = json_object();
    missing = json_array();
    r.flags = json_array();
    if (!r.out || !raw || !missing || !r.flags) {
        json_decref(r.out);
        json_decref(raw);
        json_decref(missing);
        json_decref(r.flags);
        return CB_ENOMEM;
    }
    rc = read_inputs(&r, inputs, flags, raw, missing);
    if (rc == 0) {
        if ((rc = put(r.out, "instrument", json_string(ins->id))) == 0 &&
            (rc = put(r.out, "rule_version", json_string(ins->rule_version))) == 0 &&
            (rc = put(r.out, "complete", json_boolean(r.complete))) == 0 &&
            (rc = put(r.out, "score", json_null())) == 0 &&
            (rc = put(r.out, "band", json_null())) == 0) {
            json_incref(r.flags);
            rc = put(r.out, "flags", r.flags);
        }
    }
    if (rc == 0) {
        json_incref(raw);
        rc = put(r.out, "raw", raw);
    }
    if (rc == 0) {
        rc = put(r.out, "notice", ins->notice ? json_string(ins->notice) : json_null());
    }
    if (rc == 0 && !r.complete) {
        json_incref(missing);
        rc = put(r.out, "missing", missing);
    }
    if (rc == 0) {
        rc = ins->score(&r);
    }
    json_decref(raw);
    json_decref(missing);
    json_decref(r.flags);
    if (rc) {
        json_decref(r.out);
        return rc;
    }
    *out = r.out;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Scoring rules                                                             */
/* ------------------------------------------------------------------------ */

/* Sum of the items; optional raw->metric conversion; optional bands. */
static int score_sum(struct run *r)
{
    const struct instrument *ins = r->ins;
    long sum = 0;
    int rc;
    if (!r->complete) {
        return ins->p.sum.metric ? put(r->out, "raw_score", json_null()) : 0;
    }
    for (int i = 0; ins->fields[i].key; i++) {
        assert(r->v[i].present && ins->fields[i].type == FT_INT);
        sum += (long)r->v[i].num;
    }
    if (ins->p.sum.metric) {
        assert(sum >= ins->p.sum.raw_min && sum <= ins->p.sum.raw_max);
        double metric = ins->p.sum.metric[sum - ins->p.sum.raw_min] / 100.0;
        rc = put(r->out, "raw_score", json_integer(sum));
        return rc ? rc : put_score(r, json_real(metric), ins->bands, metric);
    }
    return put_score(r, json_integer(sum), ins->bands, (double)sum);
}

/* One scored key: the score is its value (rounded to dp), banded. */
static int score_single(struct run *r)
{
    const struct instrument *ins = r->ins;
    const struct val *v = val_of(r, ins->p.single.key);
    int dp = ins->p.single.dp;
    assert(v->present);
    json_t *score = dp == 0 ? json_integer((json_int_t)v->num)
                            : json_real(dp > 0 ? round_dp(v->num, dp) : v->num);
    return put_score(r, score, ins->bands, dp >= 0 ? round_dp(v->num, dp) : v->num);
}

/* ONS4: never combined; each answer has its own band. */
static int score_ons4(struct run *r)
{
    const struct instrument *ins = r->ins;
    json_t *bands = json_object();
    int rc;
    if (!bands) {
        return CB_ENOMEM;
    }
    rc = put(r->out, "bands", bands);
    for (int i = 0; rc == 0 && ins->fields[i].key; i++) {
        const struct band *b = r->v[i].present ? band_for(ins->fields[i].bands, r->v[i].num) : NULL;
        rc = put(bands, ins->fields[i].key, b ? json_string(b->code) : json_null());
    }
    return rc;
}

/*
 * GPPAQ Physical Activity Index: exercise + cycling hours, banded
 * none/lt1/1to3/ge3 (1..4), plus the occupation offset, capped.  A code
 * stands for a range of hours; the sum uses each range's lower bound (open
 * when the code is "some but less than 1 hour"), so an ambiguous total gets
 * the lowest band it could be in.
 */
static int score_gppaq(struct run *r)
{
    const struct val *ex = val_of(r, "exercise_hours");
    const struct val *cy = val_of(r, "cycling_hours");
    const struct val *occ = val_of(r, "occupation");
    const struct field *hf = &r->ins->fields[field_index(r->ins, "exercise_hours")];
    const struct option *combined = NULL;
    double lo = 0;
    int open = 0, rc;

    if (!r->complete) {
        return put(r->out, "combined_hours", json_null());
    }
    const struct val *parts[] = {ex, cy};
    for (size_t i = 0; i < 2; i++) {
        if (parts[i]->opt) {
            lo += parts[i]->opt->lo;
            open |= parts[i]->opt->lo_open;
        } else {
            lo += parts[i]->num;
        }
    }
    for (const struct option *o = hf->options; o->code; o++) {
        if (o->lo < lo || (o->lo == lo && (open || !o->lo_open))) {
            combined = o;
        }
    }
    assert(combined && occ->opt);
    int pai = combined->points + occ->opt->points;
    if (pai > r->ins->p.gppaq.occupation_cap) {
        pai = r->ins->p.gppaq.occupation_cap;
    }
    rc = put(r->out, "combined_hours", json_string(combined->code));
    return rc ? rc : put_score(r, json_integer(pai), r->ins->bands, pai);
}

/* IPAQ short form: MET-minutes/week in tenths (3.3 is not exact in binary). */
static int score_ipaq(struct run *r)
{
    static const char *const kinds[] = {"walking", "moderate", "vigorous"};
    static const char *const day_keys[] = {"walking_days", "moderate_days", "vigorous_days"};
    static const char *const min_keys[] = {"walking_minutes", "moderate_minutes",
                                           "vigorous_minutes"};
    const struct instrument *ins = r->ins;
    int met10[3] = {ins->p.ipaq.met10_walk, ins->p.ipaq.met10_moderate, ins->p.ipaq.met10_vigorous};
    long days[3], mins[3], tenths[3], total = 0, all_days = 0;
    json_t *by_type;
    int rc, level;

    if (!r->complete) {
        rc = put(r->out, "met_minutes", json_null());
        return rc ? rc : put(r->out, "met_minutes_by_type", json_null());
    }
    for (int k = 0; k < 3; k++) {
        const struct val *d = val_of(r, day_keys[k]);
        const struct val *m = val_of(r, min_keys[k]);
        days[k] = (long)d->num;
        mins[k] = days[k] > 0 && m->present ? (long)m->num : 0;
        if (mins[k] > ins->p.ipaq.cap_minutes) {
            mins[k] = ins->p.ipaq.cap_minutes;
        }
        tenths[k] = met10[k] * mins[k] * days[k];
        total += tenths[k];
        all_days += days[k];
    }
    /* k: 0 walking, 1 moderate, 2 vigorous */
    long mw_days = (mins[0] >= ins->p.ipaq.mod_minutes ? days[0] : 0) +
                   (mins[1] >= ins->p.ipaq.mod_minutes ? days[1] : 0);
    if ((days[2] >= ins->p.ipaq.high_vig_days && total >= 10L * ins->p.ipaq.high_vig_met) ||
        (all_days >= ins->p.ipaq.high_days && total >= 10L * ins->p.ipaq.high_met)) {
        level = 2;
    } else if ((days[2] >= ins->p.ipaq.mod_vig_days && mins[2] >= ins->p.ipaq.mod_vig_minutes) ||
               mw_days >= ins->p.ipaq.mod_days ||
               (all_days >= ins->p.ipaq.combo_days && total >= 10L * ins->p.ipaq.combo_met)) {
        level = 1;
    } else {
        level = 0;
    }

    by_type = json_object();
    if (!by_type) {
        return CB_ENOMEM;
    }
    rc = put(r->out, "met_minutes_by_type", by_type);
    for (int k = 0; rc == 0 && k < 3; k++) {
        rc = put(by_type, kinds[k], json_real(tenths[k] / 10.0));
    }
    if (rc == 0) {
        rc = put(r->out, "met_minutes", json_real(total / 10.0));
    }
    return rc ? rc : put_score(r, json_real(total / 10.0), ins->bands, level);
}

/* HSI: points per answer from the key's own band table, then banded. */
static int score_hsi(struct run *r)
{
    const struct instrument *ins = r->ins;
    json_t *points;
    int total = 0, rc;
    if (!r->complete) {
        return put(r->out, "points", json_null());
    }
    points = json_object();
    if (!points) {
        return CB_ENOMEM;
    }
    rc = put(r->out, "points", points);
    for (int i = 0; rc == 0 && ins->fields[i].key; i++) {
        const struct band *b = band_for(ins->fields[i].bands, r->v[i].num);
        assert(b);
        total += b->points;
        rc = put(points, ins->fields[i].key, json_integer(b->points));
    }
    if (rc == 0) {
        rc = put(r->out, "score", json_integer(total));
    }
    if (rc == 0) {
        rc = put(r->out, "banding", json_string(ins->p.hsi.banding));
    }
    if (rc == 0) {
        rc = set_band(r, band_for(ins->bands, total));
    }
    return rc;
}

/* Smoking status; for a quit attempt, the Russell Standard 4-week outcome. */
static int score_smoking(struct run *r)
{
    const struct instrument *ins = r->ins;
    const char *status = val_of(r, "status")->str;
    const struct val *quit = val_of(r, "quit_date");
    const struct val *fu = val_of(r, "followup_date");
    const struct val *self = val_of(r, "self_reported_quit");
    const struct val *co = val_of(r, "co_ppm");
    const char *outcome;
    int rc;

    if (strcmp(status, "quit_attempt") != 0) {
        if (quit->present && strcmp(status, "ex_smoker") != 0) {
            return cb_field_fail(r->fe, "quit_date",
                                 "quit_date applies only when status is quit_attempt or "
                                 "ex_smoker.");
        }
        if (fu->present) {
            return cb_field_fail(r->fe, "followup_date",
                                 "followup_date applies only when status is quit_attempt.");
        }
        if (self->present) {
            return cb_field_fail(r->fe, "self_reported_quit",
                                 "self_reported_quit applies only when status is quit_attempt.");
        }
        outcome = strcmp(status, "never") == 0     ? "never_smoked"
                  : strcmp(status, "current") == 0 ? "current_smoker"
                                                   : "ex_smoker";
        return set_band(r, band_named(ins, outcome));
    }

    if (!quit->present) {
        return cb_field_fail(r->fe, "quit_date",
                             "quit_date is required when status is quit_attempt.");
    }
    if (!fu->present) {
        if (self->present) {
            return cb_field_fail(r->fe, "followup_date",
                                 "followup_date is required when self_reported_quit is given.");
        }
        return set_band(r, band_named(ins, "awaiting_followup"));
    }
    if (fu->days < quit->days) {
        return cb_field_fail(r->fe, "followup_date", "followup_date cannot be before quit_date.");
    }
    if (!self->present) {
        return cb_field_fail(r->fe, "self_reported_quit",
                             "self_reported_quit is required once followup_date is recorded.");
    }
    long gap = fu->days - quit->days;
    rc = put(r->out, "days_to_followup", json_integer(gap));
    if (rc) {
        return rc;
    }
    if (gap < ins->p.smoking.window_min || gap > ins->p.smoking.window_max) {
        outcome = "outside_followup_window";
    } else if (!self->num) {
        outcome = "not_quit";
    } else if (!co->present) {
        outcome = "quit_self_reported";
    } else if (co->num < ins->p.smoking.co_below) {
        outcome = "quit_co_validated";
    } else {
        outcome = "quit_not_co_validated";
    }
    return set_band(r, band_named(ins, outcome));
}

/* BMI to 1 dp; banded on the rounded value so display and band agree. */
static int score_bmi(struct run *r)
{
    const struct val *h = val_of(r, "height_cm");
    const struct val *w = val_of(r, "weight_kg");
    const struct val *eth = val_of(r, "ethnic_group");
    int lower = eth->present && cb_ethnic_group_lower_bmi_thresholds(eth->str);
    double value = round_dp(w->num * 10000.0 / (h->num * h->num), 1);
    int rc = put(r->out, "score", json_real(value));
    if (rc == 0) {
        rc = put(r->out, "bmi", json_real(value));
    }
    if (rc == 0) {
        rc = put(r->out, "thresholds", json_string(lower ? "south_asian_etc" : "standard"));
    }
    if (rc == 0) {
        rc = set_band(r, band_for(lower ? r->ins->p.bmi.lower : r->ins->bands, value));
    }
    return rc;
}

/* Waist-to-height ratio to 2 dp; banded on the rounded value. */
static int score_whtr(struct run *r)
{
    const struct val *waist = val_of(r, "waist_cm");
    const struct val *h = val_of(r, "height_cm");
    double ratio = round_dp(waist->num / h->num, 2);
    return put_score(r, json_real(ratio), r->ins->bands, ratio);
}

/* Index of b within its sentinel-terminated array. */
static int band_level(const struct band *bands, const struct band *b)
{
    assert(b && b >= bands);
    return (int)(b - bands);
}

/* NICE NG136 clinic BP: the higher of the systolic and diastolic stages. */
static int score_bp(struct run *r)
{
    const struct instrument *ins = r->ins;
    const struct field *sf = &ins->fields[field_index(ins, "systolic")];
    const struct field *df = &ins->fields[field_index(ins, "diastolic")];
    const struct val *sys = val_of(r, "systolic");
    const struct val *dia = val_of(r, "diastolic");
    const struct val *standing = val_of(r, "standing_systolic");
    int rc;

    if (dia->num >= sys->num) {
        return cb_field_fail(r->fe, "diastolic",
                             "diastolic must be lower than systolic (check the readings were not "
                             "swapped).");
    }
    int ls = band_level(sf->bands, band_for(sf->bands, sys->num));
    int ld = band_level(df->bands, band_for(df->bands, dia->num));
    int stage = ls > ld ? ls : ld;
    rc = put(r->out, "stage", json_integer(stage));
    if (rc == 0) {
        rc = set_band(r, band_for(ins->bands, stage));
    }
    if (rc == 0 && standing->present) {
        long drop = (long)sys->num - (long)standing->num;
        rc = put(r->out, "postural_drop", json_integer(drop));
        if (rc == 0 && drop >= ins->p.bp.postural_drop) {
            rc = add_flag(r, "postural_hypotension");
        }
    }
    return rc;
}

/* Bowel screening: a status, not a score; dates must fit the status. */
static int score_bowel(struct run *r)
{
    const char *status = val_of(r, "status")->str;
    const struct val *received = val_of(r, "kit_received_date");
    const struct val *returned = val_of(r, "kit_returned_date");
    const struct val *support = val_of(r, "after_support");
    int is_returned = strcmp(status, "kit_returned") == 0;
    int rc;

    if (received->present && !is_returned && strcmp(status, "kit_received_not_returned") != 0) {
        return cb_field_fail(r->fe, "kit_received_date",
                             "kit_received_date applies only when status is "
                             "kit_received_not_returned or kit_returned.");
    }
    if (returned->present && !is_returned) {
        return cb_field_fail(r->fe, "kit_returned_date",
                             "kit_returned_date applies only when status is kit_returned.");
    }
    if (support->present && !is_returned) {
        return cb_field_fail(r->fe, "after_support",
                             "after_support applies only when status is kit_returned.");
    }
    if (received->present && returned->present && returned->days < received->days) {
        return cb_field_fail(r->fe, "kit_returned_date",
                             "kit_returned_date cannot be before kit_received_date.");
    }
    rc = set_band(r, band_named(r->ins, status));
    if (rc == 0 && is_returned && support->present && support->num) {
        rc = add_flag(r, "kit_returned_after_support");
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Catalogue                                                                 */
/* ------------------------------------------------------------------------ */

int cb_measure_list(const char *const **ids, size_t *n)
{
    assert(ids && n);
#ifndef NDEBUG
    for (size_t i = 0; i < N_INSTRUMENTS; i++) {
        assert(strcmp(instrument_ids[i], instruments[i]->id) == 0);
    }
#endif
    *ids = instrument_ids;
    *n = N_INSTRUMENTS;
    return 0;
}

int cb_measure_known(const char *instrument)
{
    return find_instrument(instrument) != NULL;
}

const char *cb_measure_title(const char *instrument)
{
    const struct instrument *ins = find_instrument(instrument);
    return ins ? ins->title : NULL;
}

const char *cb_measure_rule_version(const char *instrument)
{
    const struct instrument *ins = find_instrument(instrument);
    return ins ? ins->rule_version : NULL;
}

const char *cb_measure_notice(const char *instrument)
{
    const struct instrument *ins = find_instrument(instrument);
    return ins ? ins->notice : NULL;
}

static const char *type_name(enum ftype t)
{
    switch (t) {
    case FT_INT:
        return "integer";
    case FT_NUM:
        return "number";
    case FT_ENUM:
        return "code";
    case FT_DATE:
        return "date";
    case FT_BOOL:
        return "boolean";
    case FT_TEXT:
        return "text";
    case FT_HOURS:
        return "hours_or_code";
    case FT_ETHNIC:
        return "ethnic_group";
    }
    return "unknown";
}

static json_t *describe_field(const struct field *f)
{
    json_t *o = json_object();
    json_t *values = NULL;
    char req[80];
    int rc;
    if (!o) {
        return NULL;
    }
    if (f->req == F_ITEM) {
        snprintf(req, sizeof(req), "item");
    } else if (f->req == F_REQUIRED) {
        snprintf(req, sizeof(req), "always");
    } else if (f->needed_if) {
        snprintf(req, sizeof(req), "when %s > 0", f->needed_if);
    } else {
        snprintf(req, sizeof(req), "optional");
    }
    rc = put(o, "key", json_string(f->key));
    if (rc == 0) {
        rc = put(o, "type", json_string(type_name(f->type)));
    }
    if (rc == 0) {
        rc = put(o, "required", json_string(req));
    }
    if (rc == 0 && (f->type == FT_INT || f->type == FT_NUM || f->type == FT_HOURS)) {
        rc = put(o, "min", json_real(f->min));
        if (rc == 0) {
            rc = put(o, "max", json_real(f->max));
        }
    }
    if (rc == 0 && f->type == FT_TEXT) {
        rc = put(o, "max_length", json_integer((json_int_t)f->max));
    }
    if (rc == 0 && f->unit) {
        rc = put(o, "unit", json_string(f->unit));
    }
    if (rc == 0 && (f->options || f->type == FT_ETHNIC)) {
        values = json_array();
        rc = put(o, "values", values);
        if (f->options) {
            for (const struct option *opt = f->options; rc == 0 && opt->code; opt++) {
                rc = json_array_append_new(values, json_string(opt->code)) ? CB_ENOMEM : 0;
            }
        } else {
            for (size_t i = 0; rc == 0 && i < CB_ETHNIC_GROUP_COUNT; i++) {
                rc = json_array_append_new(values, json_string(cb_ethnic_groups[i].code))
                         ? CB_ENOMEM
                         : 0;
            }
        }
    }
    if (rc == 0) {
        rc = put(o, "label", json_string(f->label ? f->label : ""));
    }
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int cb_measure_describe(const char *instrument, json_t **out, struct cb_field_error *fe)
{
    const struct instrument *ins = find_instrument(instrument);
    json_t *o, *keys, *bands;
    int rc;
    assert(out);
    *out = NULL;
    if (!ins) {
        return cb_field_fail(fe, "instrument", "Unknown instrument \"%.40s\".",
                             instrument ? instrument : "");
    }
    o = json_object();
    if (!o) {
        return CB_ENOMEM;
    }
    rc = put(o, "id", json_string(ins->id));
    if (rc == 0) {
        rc = put(o, "title", json_string(ins->title));
    }
    if (rc == 0) {
        rc = put(o, "rule_version", json_string(ins->rule_version));
    }
    if (rc == 0) {
        rc = put(o, "notice", ins->notice ? json_string(ins->notice) : json_null());
    }
    if (rc == 0) {
        rc = put(o, "source", json_string(ins->source));
    }
    if (rc == 0) {
        rc = put(o, "questionnaire", json_boolean(ins->questionnaire));
    }
    if (rc == 0) {
        bands = json_array();
        rc = put(o, "bands", bands);
        for (const struct band *b = ins->bands; rc == 0 && b && b->code; b++) {
            rc = json_array_append_new(bands, json_string(b->code)) ? CB_ENOMEM : 0;
        }
    }
    if (rc == 0) {
        keys = json_array();
        rc = put(o, "keys", keys);
        for (int i = 0; rc == 0 && ins->fields[i].key; i++) {
            rc = json_array_append_new(keys, describe_field(&ins->fields[i])) ? CB_ENOMEM : 0;
        }
    }
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}
