/*
 * jload.h - jansson's json_loadb, lexed by YAJL.
 *
 * Parsing a sync page or push batch with json_loadb costs ~150 instructions
 * per byte: jansson's lexer reads the text one byte at a time through two
 * function calls and appends each byte of a string to a buffer.  That was
 * ~40 % of a fresh site's pull (docs/PERFORMANCE.md, session 9).  YAJL
 * (Debian's libyajl) lexes the same text about ten times faster; this module
 * builds the same jansson tree from its callbacks.
 *
 * Contract: cb_jload(text, len, flags, err) returns what json_loadb(text, len,
 * flags, err) returns — the same values, types, key order and, on failure, the
 * same error (line, column, text).  Whenever YAJL's stricter-or-looser corners
 * could differ from jansson's, the text is handed to json_loadb itself:
 *   - any parse YAJL or this module refuses (bad syntax, a duplicate key under
 *     JSON_REJECT_DUPLICATES, NUL in a string or key, invalid UTF-8, an integer
 *     or real out of range, anything but white space after the document, a
 *     top-level scalar), so every error message is jansson's;
 *   - a text with a \u escape of a UTF-16 surrogate (YAJL decodes an unpaired
 *     one to '?', jansson refuses it) or a form feed or vertical tab byte (YAJL
 *     takes them as white space, jansson does not);
 *   - flags other than JSON_REJECT_DUPLICATES and JSON_DECODE_ANY.
 * The one difference: a text nested deeper than CB_JLOAD_MAX_DEPTH is refused
 * here with an error of this module's (below); json_loadb would take it.
 * Strings and keys are checked as UTF-8 by jansson (json_stringn,
 * json_object_setn_new).  tests/unit/test_jload.c compares both parsers on a
 * table of corner cases and on mutated texts; tests/fuzz/fuzz_jload.c does so
 * on whatever libFuzzer finds.
 *
 * Allocation: the tree's values come from jansson's allocator (so a parse
 * between cb_jarena_use() calls fills the arena, jarena.h); YAJL's own state is
 * malloc'd and freed before return.  Thread-safe (no shared state).
 */
#ifndef COACHBOX_JLOAD_H
#define COACHBOX_JLOAD_H

#include <jansson.h>
#include <stddef.h>

/* Nesting allowed.  Deeper texts are refused by cb_jload itself, never handed
 * to json_loadb: jansson recurses once per level up to 2048, and ~900 levels
 * overflowed a server worker's stack (docs/SECURITY.md, F47). */
#define CB_JLOAD_MAX_DEPTH 256

/*
 * json_loadb(text, len, flags, err), faster: see the contract above - with one
 * exception: a text nested deeper than CB_JLOAD_MAX_DEPTH (cb_jload_too_deep)
 * is refused with err->text "nested more than 256 levels deep" at the bracket
 * that went past it, where json_loadb would accept it up to 2048 levels.
 */
json_t *cb_jload(const char *text, size_t len, size_t flags, json_error_t *err);

/* 0, or 1 + the offset of the first '[' or '{' (outside strings) that opens a
 * level past CB_JLOAD_MAX_DEPTH. */
size_t cb_jload_too_deep(const char *text, size_t len);

/*
 * The fast path alone, for tests and fuzzers: the tree, or NULL when this
 * module would hand the text to json_loadb (refused, or one of the cases
 * above).  Whatever it returns, json_loadb returns too (equal values, types
 * and key order).
 */
json_t *cb_jload_fast(const char *text, size_t len, size_t flags);

#endif
