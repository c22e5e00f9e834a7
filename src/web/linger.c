/*
 * linger.c - lingering close: half-close, drain for a bounded time (see linger.h).
 */
#include "web/linger.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "core/clock.h"

/* The longest single wait, so that a server stopping is noticed promptly. */
#define LINGER_SLICE_MS 200

linger_end linger_drain(int fd, double idle_s, double total_s, const atomic_int *cancel, linger_result *out)
{
    out->drained = 0;
    out->seconds = 0.0;
    double start = cd_monotonic_s();
    double last_byte = start;
    /* The answer is already in the socket's send buffer; the FIN goes out
     * after it, so a client reading until the end sees the whole answer. */
    if (shutdown(fd, SHUT_WR) != 0 && errno != ENOTCONN) {
        out->end = LINGER_ERROR;
        return out->end;
    }
    char buf[16384];
    for (;;) {
        double now = cd_monotonic_s();
        out->seconds = now - start;
        if (cancel && atomic_load(cancel)) {
            out->end = LINGER_CANCELLED;
            return out->end;
        }
        if (now - start >= total_s) {
            out->end = LINGER_TIMEOUT;
            return out->end;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        int pr = poll(&p, 1, LINGER_SLICE_MS);
        if (pr < 0 && errno != EINTR) {
            out->end = LINGER_ERROR;
            return out->end;
        }
        if (pr <= 0) {
            /* Idle only when the socket had nothing to read just now: on a
             * busy machine this thread may have slept while bytes came in. */
            if (pr == 0 && cd_monotonic_s() - last_byte >= idle_s) {
                out->seconds = cd_monotonic_s() - start;
                out->end = LINGER_IDLE;
                return out->end;
            }
            continue;
        }
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            out->seconds = cd_monotonic_s() - start;
            out->end = LINGER_EOF;
            return out->end;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            out->seconds = cd_monotonic_s() - start;
            out->end = LINGER_ERROR;
            return out->end;
        }
        out->drained += (size_t)n;
        last_byte = cd_monotonic_s();
    }
}

const char *linger_end_name(linger_end end)
{
    switch (end) {
    case LINGER_EOF:
        return "eof";
    case LINGER_IDLE:
        return "idle";
    case LINGER_TIMEOUT:
        return "timeout";
    case LINGER_CANCELLED:
        return "cancelled";
    case LINGER_ERROR:
        return "error";
    }
    return "?";
}
