/*
 * client_addr.h - who sent a request: the connection's peer, or, when the peer
 * is a proxy the operator trusts (nginx in front of replicas, deploy/README.md),
 * the address that proxy reports in X-Forwarded-For.
 *
 * X-Forwarded-For is a list each proxy appends its peer to, so only its right
 * end can be believed, and only as far as the proxies that wrote it are
 * trusted: the client is the rightmost entry not in the trusted set (nginx's
 * real_ip_recursive, Go's and Rails' trusted-proxy rules).  A peer that is not
 * trusted is the client whatever it sends; so is anyone when no proxy is
 * trusted (the default).  An entry that is not an address stops the walk: the
 * last address seen (a trusted proxy) is logged rather than text a client made.
 *
 * The set is made once at start-up and read-only afterwards (thread-safe).
 */
#ifndef CATDOG_WEB_CLIENT_ADDR_H
#define CATDOG_WEB_CLIENT_ADDR_H

#include <stddef.h>

#include "core/error.h"

#define CLIENT_ADDR_MAX 46 /* INET6_ADDRSTRLEN */
#define TRUSTED_PROXIES_MAX 32

typedef struct trusted_proxies trusted_proxies;

/* "127.0.0.1,10.0.0.0/8,::1,fd00::/8" (addresses or CIDR blocks, commas,
 * spaces allowed) -> a set; NULL list or "" -> an empty set (trust nobody).
 * NULL with err naming the entry that is not an address or block. */
trusted_proxies *trusted_proxies_parse(const char *list, cd_err *err);
void trusted_proxies_free(trusted_proxies *t);

/* Entries in the set (0 = nobody trusted). */
int trusted_proxies_count(const trusted_proxies *t);

/* 1 when the textual address ip (IPv4, IPv6 or IPv4-mapped IPv6) is in t. */
int trusted_proxies_contains(const trusted_proxies *t, const char *ip);

/* The client of a request from `peer` carrying X-Forwarded-For `xff` (NULL when
 * absent), written to out (CLIENT_ADDR_MAX bytes): see the rule above. */
void client_addr_resolve(const trusted_proxies *t, const char *peer, const char *xff,
                         char out[CLIENT_ADDR_MAX]);

#endif
