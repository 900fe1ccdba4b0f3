/*
 * validate.h - validators and canonicalisers for identifiers and free text
 * (rules cited in docs/MEASURES.md, "Identifiers").  Pure functions; each
 * returns CB_OK with the canonical form in out, or CB_EINVAL.
 */
#ifndef COACHBOX_VALIDATE_H
#define COACHBOX_VALIDATE_H

#include <stddef.h>

#define CB_NHS_STRLEN      11 /* 10 digits + NUL */
#define CB_POSTCODE_STRLEN 9  /* "SW1A 1AA" + NUL */

/* The limit in characters (code points) of a display, team or site name. */
#define CB_NAME_CHARS 100
/*
 * Bytes that hold text of at most chars characters: up to 4 bytes of UTF-8
 * each, and the NUL.  A buffer for text limited in characters is sized with
 * this, never with the character count, so it is never cut mid-character.
 */
#define CB_UTF8_STRLEN(chars) ((chars)*4 + 1)

/*
 * NHS number: 10 digits, spaces accepted on input, modulus 11 check digit.
 * Test numbers (999 000 0000 - 999 999 9999) are accepted only when
 * allow_test is non-zero (demo and test data).
 */
int cb_nhs_number_normalise(const char *in, int allow_test, char out[CB_NHS_STRLEN]);
/* UK postcode, case and spacing free on input; canonical "AA9A 9AA". */
int cb_postcode_normalise(const char *in, char out[CB_POSTCODE_STRLEN]);
/* A plausible e-mail address (one @, dot in domain, no spaces), <= 254 bytes. */
int cb_email_valid(const char *s);
/* UK phone: digits, spaces, +, (), -; 10-13 digits; out gets digits and a leading +. */
int cb_phone_normalise(const char *in, char *out, size_t outlen);
/*
 * Free text: valid UTF-8, no control characters (C0 or C1) other than \n, \r
 * and \t in multi-line text (browsers send CR LF line ends) and none at all
 * when single_line; at most max_chars code points.
 */
int cb_text_valid(const char *s, size_t max_chars, int single_line);
/* Number of UTF-8 code points in s, or -1 if s is not valid UTF-8. */
long cb_utf8_length(const char *s);

#endif
