/*
 * urlform.c - field lookup in urlencoded forms (see urlform.h).
 */
#include "web/urlform.h"

#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int urlform_get(const char *body, size_t len, const char *key, char *out, size_t out_size)
{
    size_t klen = strlen(key);
    if (out_size)
        out[0] = '\0';
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        const char *eq = memchr(body + i, '=', end - i);
        size_t nlen = eq ? (size_t)(eq - (body + i)) : end - i;
        if (nlen == klen && memcmp(body + i, key, klen) == 0) {
            size_t o = 0;
            if (eq) {
                for (const char *p = eq + 1; p < body + end; p++) {
                    int c = (unsigned char)*p, h, l;
                    if (c == '+') {
                        c = ' ';
                    } else if (c == '%' && (body + end) - p >= 3 &&
                               (h = hexval((unsigned char)p[1])) >= 0 && (l = hexval((unsigned char)p[2])) >= 0) {
                        c = h * 16 + l;
                        p += 2;
                    }
                    if (o + 1 < out_size)
                        out[o++] = (char)c;
                }
            }
            if (out_size)
                out[o] = '\0';
            return 1;
        }
        i = end + 1;
    }
    return 0;
}
