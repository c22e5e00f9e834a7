/*
 * result_id.c - random result ids (see result_id.h).
 */
#include "web/result_id.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int result_id_new(char out[RESULT_ID_SIZE], cd_err *err)
{
    unsigned char raw[RESULT_ID_HEX / 2];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return cd_err_set(err, CD_ERR_IO, "getrandom: %s", n < 0 ? strerror(errno) : "no bytes");
        got += (size_t)n;
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[RESULT_ID_HEX] = '\0';
    return 0;
}

int result_id_valid(const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < RESULT_ID_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[RESULT_ID_HEX] == '\0';
}
