/*
 * urlform.h - reading one field of an application/x-www-form-urlencoded body
 * (the feedback buttons and the language switch post such small forms).
 * A pure function of its input, bounded by the given length.
 */
#ifndef CATDOG_WEB_URLFORM_H
#define CATDOG_WEB_URLFORM_H

#include <stddef.h>

/* Finds `key` in body[0..len) ("a=1&b=two+words"), percent- and '+'-decodes its
 * value into out (truncated to out_size-1 bytes, NUL-terminated).  Returns 1 when
 * found, 0 when not (out is then ""). */
int urlform_get(const char *body, size_t len, const char *key, char *out, size_t out_size);

#endif
