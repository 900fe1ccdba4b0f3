/*
 * json.h - strict JSON input on top of jansson.
 *
 * Request bodies are parsed with duplicate keys rejected and must be a JSON
 * object; errors carry jansson's line and column.  Unknown keys are refused so
 * a misspelt field never silently does nothing.
 */
#ifndef COACHBOX_JSON_H
#define COACHBOX_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "coachbox/err.h"

/*
 * Parse len bytes of text as a JSON object into *out (new reference).
 * CB_EPARSE with fe->message "malformed JSON at line L, column C: ..." on
 * syntax errors, duplicate keys or a non-object top level.
 */
int cb_json_parse_object(const char *text, size_t len, json_t **out, struct cb_field_error *fe);
/* CB_EINVAL naming the first key of obj not in the NULL-terminated allowed list. */
int cb_json_only_keys(const json_t *obj, const char *const *allowed, struct cb_field_error *fe);
/* Borrowed string value of key, or NULL when absent, null or not a string. */
const char *cb_json_str(const json_t *obj, const char *key);
/* Serialise compactly into a new malloc'd string (caller frees); NULL on failure. */
char *cb_json_dump(const json_t *v);

struct cb_buf;
/*
 * Append s to b as a JSON string, for JSON text assembled around stored JSON
 * (sync pages and batches): plain printable ASCII without quotes or
 * backslashes (ids, table names) is copied, anything else is encoded by
 * jansson.  CB_ETOOLARGE past b's cap, CB_ENOMEM.
 */
int cb_json_buf_add_string(struct cb_buf *b, const char *s);
/*
 * Append v (not NULL) to b as compact JSON, the same text cb_json_dump gives
 * (members in their order, non-ASCII escaped, reals with 15 digits), without
 * jansson's per-piece callbacks: objects, arrays, plain strings, integers and
 * literals are written here, anything else by jansson.  Recursion follows v's
 * nesting (a parsed value: jansson caps it at 2048 levels).  CB_ETOOLARGE past
 * b's cap, CB_ENOMEM.
 */
int cb_json_buf_add_value(struct cb_buf *b, const json_t *v);

#endif
