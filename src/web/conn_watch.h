/*
 * conn_watch.h - cuts off connections that take too long to send a request's
 * headers (slowloris).
 *
 * libmicrohttpd's connection timeout only measures idleness, so a client
 * trickling one header byte every few seconds could hold a connection (and,
 * with a thread per connection, a thread) for hours.  The server registers
 * every connection here when it opens, says when a request's headers are in
 * and when the request is done; a watchdog thread shuts down the socket of any
 * connection still waiting for headers after `deadline_s` seconds (counted
 * from the connection's start or its previous request's end).  libmicrohttpd
 * then sees the socket fail and cleans the connection up as usual.
 *
 * A connection is removed before libmicrohttpd closes its socket (its CLOSED
 * notification comes first), and removal and shutdown happen under one lock,
 * so a descriptor is never shut down after it was reused.  Thread-safe.
 */
#ifndef CATDOG_WEB_CONN_WATCH_H
#define CATDOG_WEB_CONN_WATCH_H

#include "core/error.h"

typedef struct conn_watch conn_watch;
typedef struct conn_watch_entry conn_watch_entry;

/* Starts the watchdog.  on_cut (may be NULL) is called, under the lock, for
 * each connection cut off, with the seconds it had waited. */
conn_watch *conn_watch_new(int deadline_s, void (*on_cut)(void *ctx, double waited_s), void *ctx, cd_err *err);
/* Stops the watchdog and frees every entry still registered. */
void conn_watch_free(conn_watch *w);

/* A connection opened on socket fd; NULL when out of memory (it is then not watched). */
conn_watch_entry *conn_watch_add(conn_watch *w, int fd);
/* The connection's request headers are in (it is not waiting any more). */
void conn_watch_request_started(conn_watch *w, conn_watch_entry *e);
/* Its request is done: the clock starts again for the next one. */
void conn_watch_request_done(conn_watch *w, conn_watch_entry *e);
/* The connection is closing (before its socket is closed). e may be NULL. */
void conn_watch_remove(conn_watch *w, conn_watch_entry *e);

#endif
