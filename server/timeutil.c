/* timeutil.c - ISO 8601 formatting and strict parsing; see timeutil.h. */
#include "coachbox/timeutil.h"
#include "coachbox/err.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t cb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cb_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Howard Hinnant's days_from_civil. */
int64_t cb_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

void cb_time_format(int64_t unix_ms, char out[CB_TIME_STRLEN])
{
    int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
    int ms = (int)(unix_ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int sod = (int)(secs - days * 86400);
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0) {
        y = 0;
    } else if (y > 9999) {
        y = 9999;
    }
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ", digit by digit (every synced row is stamped with
     * one: no printf); each field is within its width here. */
    static const struct {
        int at, width;
    } pos[7] = {{0, 4}, {5, 2}, {8, 2}, {11, 2}, {14, 2}, {17, 2}, {20, 3}};
    const int val[7] = {y, m, d, sod / 3600, sod / 60 % 60, sod % 60, ms};
    memcpy(out, "0000-00-00T00:00:00.000Z", CB_TIME_STRLEN);
    for (int i = 0; i < 7; i++) {
        int v = val[i];
        assert(v >= 0);
        for (int k = pos[i].at + pos[i].width - 1; k >= pos[i].at; k--) {
            out[k] = (char)('0' + v % 10);
            v /= 10;
        }
    }
}

void cb_today(char out[CB_DATE_STRLEN])
{
    char t[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms(), t);
    memcpy(out, t, 10);
    out[10] = '\0';
}

/* Read exactly n decimal digits from *p; advance *p.  -1 if not digits. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return -1;
        }
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }
    return dim[m - 1];
}

/* Parse "YYYY-MM-DD" at *p, advancing it. */
static int date_at(const char **p, int *y, int *m, int *d)
{
    const char *s = *p;
    int yy = digits(&s, 4);
    if (yy < 0 || *s++ != '-') {
        return CB_EPARSE;
    }
    int mm = digits(&s, 2);
    if (mm < 1 || mm > 12 || *s++ != '-') {
        return CB_EPARSE;
    }
    int dd = digits(&s, 2);
    if (dd < 1 || dd > days_in_month(yy, mm)) {
        return CB_EPARSE;
    }
    *y = yy;
    *m = mm;
    *d = dd;
    *p = s;
    return CB_OK;
}

int cb_date_parse(const char *s, int *y, int *m, int *d)
{
    if (!s || strlen(s) != 10) {
        return CB_EPARSE;
    }
    return date_at(&s, y, m, d);
}

int cb_time_parse(const char *s, int64_t *unix_ms)
{
    int y, mo, d;
    if (!s || strlen(s) > 40 || date_at(&s, &y, &mo, &d)) {
        return CB_EPARSE;
    }
    if (*s++ != 'T') {
        return CB_EPARSE;
    }
    int hh = digits(&s, 2);
    if (hh < 0 || hh > 23 || *s++ != ':') {
        return CB_EPARSE;
    }
    int mi = digits(&s, 2);
    if (mi < 0 || mi > 59) {
        return CB_EPARSE;
    }
    int ss = 0, ms = 0;
    if (*s == ':') {
        s++;
        ss = digits(&s, 2);
        if (ss < 0 || ss > 59) {
            return CB_EPARSE;
        }
        if (*s == '.') {
            s++;
            int n = 0, frac = 0;
            while (*s >= '0' && *s <= '9') {
                if (n < 3) {
                    frac = frac * 10 + (*s - '0');
                }
                n++;
                s++;
            }
            if (n == 0 || n > 9) {
                return CB_EPARSE;
            }
            for (int i = n; i < 3; i++) {
                frac *= 10;
            }
            ms = frac;
        }
    }
    int offset_min = 0;
    if (*s == 'Z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1;
        s++;
        int oh = digits(&s, 2);
        if (oh < 0 || oh > 14 || *s++ != ':') {
            return CB_EPARSE;
        }
        int om = digits(&s, 2);
        if (om < 0 || om > 59) {
            return CB_EPARSE;
        }
        offset_min = sign * (oh * 60 + om);
    } else {
        return CB_EPARSE;
    }
    if (*s != '\0') {
        return CB_EPARSE;
    }
    int64_t days = cb_days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - (int64_t)offset_min * 60;
    *unix_ms = secs * 1000 + ms;
    return CB_OK;
}
