#!/usr/bin/env python3
"""clients.py - misbehaving HTTP clients for tests/faults/test_fault_clients.sh.

Raw sockets, 127.0.0.1 only; every wait is bounded.

  clients.py abandon PORT N DECLARED SENT
      N uploads (10 at a time) that declare Content-Length DECLARED, send SENT
      bytes of it and go away: odd ones close normally, even ones reset the
      connection (SO_LINGER 0).  Prints how many really sent their SENT
      bytes (a client whose connection failed, or that never ran, is not
      counted), and the reason of the first failure on standard error.

  clients.py slow PORT N DECLARED MAX_SECONDS
      N uploads that declare Content-Length DECLARED and then send one byte a
      second.  Waits until the server has closed every connection or
      MAX_SECONDS passed; prints JSON: how many were cut off by the server, the
      most bytes any of them got in, and how many were still open at the end.
"""
import json
import socket
import struct
import sys
import threading
import time

BOUNDARY = "faultclientboundary"


def head(port, declared):
    return (
        "POST /api/v1/predict HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {declared}\r\n"
        "\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="inputfile"; filename="slow.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()


def abandon_one(port, declared, sent, reset, outcome, i):
    """Sets outcome[i] to "sent" once all `sent` bytes went out, else to the error."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
    except OSError as e:
        outcome[i] = "connect: %s" % e
        return
    try:
        h = head(port, declared)
        s.sendall(h)
        chunk = b"\xff" * 65536
        left = max(0, sent - len(h))
        while left > 0:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
        outcome[i] = "sent"
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError as e:
        outcome[i] = "send: %s" % e
    finally:
        s.close()


def abandon(port, n, declared, sent):
    outcome = [None] * n
    for start in range(0, n, 10):
        threads = [
            threading.Thread(target=abandon_one, args=(port, declared, sent, i % 2 == 0, outcome, i))
            for i in range(start, min(n, start + 10))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    failed = [o for o in outcome if o != "sent"]
    if failed:
        print("%d of %d clients did not send their bytes; first: %s" % (len(failed), n, failed[0] or "did not finish"),
              file=sys.stderr)
    print(sum(1 for o in outcome if o == "sent"))


def slow(port, n, declared, max_seconds):
    results = [None] * n
    stop = time.monotonic() + max_seconds

    def one(i):
        sent = 0
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(head(port, declared))
            s.settimeout(1.0)
            while time.monotonic() < stop:
                try:
                    if s.recv(4096) == b"":
                        results[i] = ("cut", sent)  # the server closed it
                        s.close()
                        return
                except socket.timeout:
                    pass
                except OSError:
                    results[i] = ("cut", sent)
                    return
                try:
                    s.sendall(b"\xff")
                    sent += 1
                except OSError:
                    results[i] = ("cut", sent)
                    return
            results[i] = ("open", sent)
            s.close()
        except OSError:
            results[i] = ("refused", sent)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 30)
    print(json.dumps({
        "cut": sum(1 for r in results if r and r[0] == "cut"),
        "open": sum(1 for r in results if r and r[0] == "open"),
        "refused": sum(1 for r in results if r and r[0] == "refused"),
        "max_sent": max((r[1] for r in results if r), default=0),
    }))


if __name__ == "__main__":
    what, port = sys.argv[1], int(sys.argv[2])
    if what == "abandon":
        abandon(port, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif what == "slow":
        slow(port, int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit("usage: clients.py abandon|slow PORT ...")
