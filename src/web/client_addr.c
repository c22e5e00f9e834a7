/*
 * client_addr.c - the trusted-proxy set and the X-Forwarded-For rule (see
 * client_addr.h).  Addresses are compared as 16-byte IPv6 values, IPv4 ones
 * mapped (::ffff:a.b.c.d), so one block type serves both families.
 */
#include "web/client_addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    unsigned char addr[16];
    int bits; /* prefix length over the 16-byte form */
} block;

struct trusted_proxies {
    int n;
    block b[TRUSTED_PROXIES_MAX];
};

/* Text -> 16-byte form; 0 on success. */
static int to16(const char *text, unsigned char out[16])
{
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, text, &a6) == 1) {
        memcpy(out, &a6, 16);
        return 0;
    }
    return -1;
}

static int in_block(const block *b, const unsigned char a[16])
{
    int full = b->bits / 8, rest = b->bits % 8;
    if (memcmp(a, b->addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b->addr[full] & mask);
}

/* One entry "ADDR" or "ADDR/BITS" into b; 0 on success. */
static int parse_block(const char *entry, block *b)
{
    char text[64];
    if (strlen(entry) >= sizeof text)
        return -1;
    strcpy(text, entry);
    char *slash = strchr(text, '/');
    int bits = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || v < 0 || v > 128)
            return -1;
        bits = (int)v;
    }
    int v4 = strchr(text, ':') == NULL;
    if (to16(text, b->addr) != 0)
        return -1;
    if (bits < 0)
        bits = v4 ? 32 : 128;
    if (v4 && bits > 32)
        return -1;
    b->bits = v4 ? 96 + bits : bits;
    return 0;
}

trusted_proxies *trusted_proxies_parse(const char *list, cd_err *err)
{
    trusted_proxies *t = calloc(1, sizeof *t);
    if (!t) {
        cd_err_set(err, CD_ERR_NOMEM, "out of memory reading --trusted-proxy");
        return NULL;
    }
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            break;
        char entry[64];
        if (len >= sizeof entry || t->n == TRUSTED_PROXIES_MAX ||
            (memcpy(entry, p, len), entry[len] = '\0', parse_block(entry, &t->b[t->n]) != 0)) {
            if (t->n == TRUSTED_PROXIES_MAX)
                cd_err_set(err, CD_ERR_INVALID, "--trusted-proxy: more than %d entries", TRUSTED_PROXIES_MAX);
            else
                cd_err_set(err, CD_ERR_INVALID,
                           "--trusted-proxy: '%.*s' is not an address or a block like 10.0.0.0/8 or fd00::/8",
                           (int)(len < 60 ? len : 60), p);
            free(t);
            return NULL;
        }
        t->n++;
        p += len;
    }
    return t;
}

void trusted_proxies_free(trusted_proxies *t)
{
    free(t);
}

int trusted_proxies_count(const trusted_proxies *t)
{
    return t ? t->n : 0;
}

int trusted_proxies_contains(const trusted_proxies *t, const char *ip)
{
    unsigned char a[16];
    if (!t || to16(ip, a) != 0)
        return 0;
    for (int i = 0; i < t->n; i++)
        if (in_block(&t->b[i], a))
            return 1;
    return 0;
}

static void put(char out[CLIENT_ADDR_MAX], const char *s, size_t len)
{
    if (len >= CLIENT_ADDR_MAX)
        len = CLIENT_ADDR_MAX - 1;
    memcpy(out, s, len);
    out[len] = '\0';
}

void client_addr_resolve(const trusted_proxies *t, const char *peer, const char *xff,
                         char out[CLIENT_ADDR_MAX])
{
    put(out, peer, strlen(peer));
    if (!xff || !trusted_proxies_contains(t, peer))
        return;
    /* From the right: each entry was appended by the hop to its right, which
     * is trusted so far; the first entry not trusted is the client. */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && isspace((unsigned char)xff[a]))
            a++;
        while (b > a && isspace((unsigned char)xff[b - 1]))
            b--;
        char entry[CLIENT_ADDR_MAX];
        unsigned char bin[16];
        if (b - a == 0 || b - a >= sizeof entry)
            return;
        memcpy(entry, xff + a, b - a);
        entry[b - a] = '\0';
        if (to16(entry, bin) != 0)
            return; /* not an address: keep the last trusted hop */
        put(out, entry, b - a);
        if (!trusted_proxies_contains(t, entry))
            return;
        end = start > 0 ? start - 1 : 0;
    }
}
