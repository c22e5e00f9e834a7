/*
 * i18n.c - the phrase table and language negotiation (see i18n.h).
 */
#include "web/i18n.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const PHRASES[I18N_COUNT][2] = {
#define I18N_ROW(k, ru, en) {ru, en},
    I18N_KEYS(I18N_ROW)
#undef I18N_ROW
};

static const char *const NAMES[I18N_COUNT] = {
#define I18N_NAME(k, ru, en) #k,
    I18N_KEYS(I18N_NAME)
#undef I18N_NAME
};

const char *i18n(i18n_lang lang, i18n_key key)
{
    if ((int)key < 0 || key >= I18N_COUNT)
        return "";
    return PHRASES[key][lang == LANG_EN ? 1 : 0];
}

const char *i18n_reason(i18n_lang lang, const char *code)
{
    for (int k = 0; k < I18N_COUNT; k++)
        if (strncmp(NAMES[k], "ERR_", 4) == 0 && strcmp(NAMES[k] + 4, code) == 0)
            return i18n(lang, (i18n_key)k);
    return i18n(lang, I18N_ERR_bad_request);
}

const char *i18n_code(i18n_lang lang)
{
    return lang == LANG_EN ? "en" : "ru";
}

int i18n_parse(const char *s)
{
    if (!s)
        return -1;
    if (strcasecmp(s, "ru") == 0)
        return LANG_RU;
    if (strcasecmp(s, "en") == 0)
        return LANG_EN;
    return -1;
}

i18n_lang i18n_from_accept(const char *h)
{
    /* "en-US,en;q=0.9,ru;q=0.8": take each language range's primary tag and q. */
    double best_q[2] = {-1, -1};
    int order = 0, first[2] = {1 << 30, 1 << 30};
    while (h && *h) {
        while (*h == ' ' || *h == ',')
            h++;
        const char *tag = h;
        while (*h && *h != ',' && *h != ';' && *h != '-' && *h != ' ')
            h++;
        size_t tlen = (size_t)(h - tag);
        double q = 1.0;
        while (*h && *h != ',') {
            if (*h == ';') {
                const char *p = h + 1;
                while (*p == ' ')
                    p++;
                if (p[0] == 'q' && p[1] == '=')
                    q = strtod(p + 2, NULL);
            }
            h++;
        }
        int lang = -1;
        if (tlen == 2 && strncasecmp(tag, "ru", 2) == 0)
            lang = LANG_RU;
        else if (tlen == 2 && strncasecmp(tag, "en", 2) == 0)
            lang = LANG_EN;
        if (lang >= 0 && q > best_q[lang]) {
            best_q[lang] = q;
            if (first[lang] > order)
                first[lang] = order;
        }
        order++;
    }
    if (best_q[LANG_EN] <= 0 && best_q[LANG_RU] <= 0)
        return LANG_RU;
    if (best_q[LANG_EN] > best_q[LANG_RU])
        return LANG_EN;
    if (best_q[LANG_EN] < best_q[LANG_RU])
        return LANG_RU;
    return first[LANG_EN] < first[LANG_RU] ? LANG_EN : LANG_RU;
}
