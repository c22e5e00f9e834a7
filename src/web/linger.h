/*
 * linger.h - the "lingering close" of a connection answered before its
 * request body was read (413 from the Content-Length alone, 503 when the
 * server is full or stopping).
 *
 * Closing a TCP socket that still has unread data (or that receives more
 * afterwards) makes the kernel send a reset.  A client still sending its body
 * then fails its write, or loses the answer already in its receive buffer,
 * and reports no status at all instead of the 413 or 503 it was sent.
 * nginx and Apache avoid this the same way: after the answer has gone out,
 * half-close the sending side (the client sees the end of the answer), read
 * and throw away what the client still sends until it closes, for a bounded
 * time, and only then close.
 *
 * The caller owns the socket and closes it afterwards; linger_drain only
 * shuts down its sending side and reads from it.  Thread-safe (no state).
 */
#ifndef CATDOG_WEB_LINGER_H
#define CATDOG_WEB_LINGER_H

#include <stdatomic.h>
#include <stddef.h>

/* How long a refused client may keep sending: nginx's lingering_timeout (5 s
 * without a byte) and a total bound (nginx: 30 s; shorter here because with a
 * thread per connection each lingering client holds a thread). */
#define LINGER_IDLE_S 5.0
#define LINGER_TOTAL_S 15.0

typedef enum linger_end {
    LINGER_EOF,       /* the client closed its side: safe to close */
    LINGER_IDLE,      /* nothing came for idle_s */
    LINGER_TIMEOUT,   /* the client was still sending after total_s */
    LINGER_CANCELLED, /* *cancel became non-zero (server stopping) */
    LINGER_ERROR      /* the socket failed (a reset from the client, ...) */
} linger_end;

typedef struct linger_result {
    linger_end end;
    size_t drained;   /* bytes read and thrown away */
    double seconds;   /* time spent */
} linger_result;

/* Half-closes fd for writing, then reads and discards until the client
 * closes, nothing arrives for idle_s, total_s have passed, or *cancel (may be
 * NULL) becomes non-zero.  Fills *out and returns out->end.  Does not close fd. */
linger_end linger_drain(int fd, double idle_s, double total_s, const atomic_int *cancel, linger_result *out);

/* "eof", "idle", ... for logs. */
const char *linger_end_name(linger_end end);

#endif
