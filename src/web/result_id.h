/*
 * result_id.h - the address of one visitor's result: 128 random bits.
 *
 * A result page (/result/<id>) and its photo are reachable by whoever holds
 * the id and by nobody else: the id is 32 lowercase hex digits from the
 * kernel's random source (getrandom(2)), so it cannot be guessed, unlike the
 * photo's sha256 (which anyone holding the same photo can compute).
 */
#ifndef CATDOG_WEB_RESULT_ID_H
#define CATDOG_WEB_RESULT_ID_H

#include "core/error.h"

#define RESULT_ID_HEX 32
#define RESULT_ID_SIZE (RESULT_ID_HEX + 1)

/* A new id into out.  Returns 0, or -1 with err when the kernel gives no
 * random bytes (the upload is then refused: a predictable id is worse). */
int result_id_new(char out[RESULT_ID_SIZE], cd_err *err);

/* 1 when s is RESULT_ID_HEX lowercase hex digits and nothing else. */
int result_id_valid(const char *s);

#endif
