/* validate.c - identifier and text validators; see validate.h. */
#include "coachbox/validate.h"
#include "coachbox/err.h"

#include <ctype.h>
#include <regex.h>
#include <string.h>

int cb_nhs_number_normalise(const char *in, int allow_test, char out[CB_NHS_STRLEN])
{
    char d[CB_NHS_STRLEN];
    size_t n = 0;
    if (!in) {
        return CB_EINVAL;
    }
    for (const char *p = in; *p; p++) {
        if (*p == ' ') {
            continue;
        }
        if (*p < '0' || *p > '9' || n >= 10) {
            return CB_EINVAL;
        }
        d[n++] = *p;
    }
    if (n != 10) {
        return CB_EINVAL;
    }
    d[10] = '\0';
    int sum = 0;
    for (int i = 0; i < 9; i++) {
        sum += (d[i] - '0') * (10 - i);
    }
    int check = 11 - sum % 11;
    if (check == 11) {
        check = 0;
    }
    if (check == 10 || check != d[9] - '0') {
        return CB_EINVAL;
    }
    if (!allow_test && strncmp(d, "999", 3) == 0) {
        return CB_EINVAL;
    }
    memcpy(out, d, CB_NHS_STRLEN);
    return CB_OK;
}

int cb_postcode_normalise(const char *in, char out[CB_POSTCODE_STRLEN])
{
    /* The format rule of shared/reference/measures.md (docs/MEASURES.md): a valid
     * format does not prove the postcode exists, so no letter-level rules here. */
    static const char *pattern = "^([A-Z][A-HJ-Y]?[0-9][A-Z0-9]?[0-9][A-Z]{2}|GIR0AA)$";
    char c[16];
    size_t n = 0;
    if (!in) {
        return CB_EINVAL;
    }
    for (const char *p = in; *p; p++) {
        if (*p == ' ') {
            continue;
        }
        if (!isalnum((unsigned char)*p) || n >= 8) {
            return CB_EINVAL;
        }
        c[n++] = (char)toupper((unsigned char)*p);
    }
    c[n] = '\0';
    if (n < 5 || n > 7) {
        return CB_EINVAL;
    }
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB)) {
        return CB_EINTERNAL;
    }
    int m = regexec(&re, c, 0, NULL, 0);
    regfree(&re);
    if (m != 0) {
        return CB_EINVAL;
    }
    memcpy(out, c, n - 3);
    out[n - 3] = ' ';
    memcpy(out + n - 2, c + n - 3, 4);
    return CB_OK;
}

int cb_email_valid(const char *s)
{
    if (!s) {
        return CB_EINVAL;
    }
    size_t len = strlen(s);
    const char *at = strchr(s, '@');
    if (len < 3 || len > 254 || !at || at == s || strchr(at + 1, '@')) {
        return CB_EINVAL;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == ',') {
            return CB_EINVAL;
        }
    }
    const char *dot = strrchr(at + 1, '.');
    if (!dot || dot == at + 1 || dot[1] == '\0') {
        return CB_EINVAL;
    }
    return CB_OK;
}

int cb_phone_normalise(const char *in, char *out, size_t outlen)
{
    char d[20];
    size_t n = 0;
    int plus = 0;
    if (!in) {
        return CB_EINVAL;
    }
    for (const char *p = in; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (n >= 15) {
                return CB_EINVAL;
            }
            d[n++] = *p;
        } else if (*p == '+' && n == 0 && !plus) {
            plus = 1;
        } else if (*p != ' ' && *p != '-' && *p != '(' && *p != ')') {
            return CB_EINVAL;
        }
    }
    if (n < 10 || n > 13 || outlen < n + 2) {
        return CB_EINVAL;
    }
    size_t o = 0;
    if (plus) {
        out[o++] = '+';
    }
    memcpy(out + o, d, n);
    out[o + n] = '\0';
    return CB_OK;
}

long cb_utf8_length(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    while (*p) {
        unsigned c = *p;
        int extra;
        unsigned min;
        if (c < 0x80) {
            extra = 0;
            min = 0;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            min = 0x80;
            c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            min = 0x800;
            c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return -1;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return -1;
            }
            c = (c << 6) | (*p & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return -1;
        }
        count++;
    }
    return count;
}

int cb_text_valid(const char *s, size_t max_chars, int single_line)
{
    if (!s) {
        return CB_EINVAL;
    }
    long n = cb_utf8_length(s);
    if (n < 0 || (size_t)n > max_chars) {
        return CB_EINVAL;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            if (single_line || (*p != '\n' && *p != '\t' && *p != '\r')) {
                return CB_EINVAL;
            }
        }
        /* C1 controls U+0080..U+009F are C2 80..C2 9F (the UTF-8 was checked above). */
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            return CB_EINVAL;
        }
    }
    return CB_OK;
}
