#!/usr/bin/env python3
"""early_clients.py - raw-socket clients for tests/web/test_http_early_answers.sh.

127.0.0.1 only; every wait is bounded.

  early_clients.py naive PORT DECLARED SENT [chunked]
      One POST /api/v1/predict (Content-Type: image/jpeg) that declares
      Content-Length DECLARED (or, with `chunked`, no length) and sends SENT
      body bytes before it reads anything, the way a simple client does; then
      reads the answer.  Prints the status ("000 <why>" when there was no
      answer: a reset, a closed connection).

  early_clients.py hold PORT N DECLARED
      Opens N uploads that declare Content-Length DECLARED and send one byte of
      it, so the server holds their body memory; prints "held N" once all are
      sent, then keeps them open until its standard input closes (at most
      120 s), and closes them.
"""
import select
import socket
import sys


def head(port, length_header):
    return (
        "POST /api/v1/predict HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: image/jpeg\r\n"
        f"{length_header}\r\n"
        "\r\n"
    ).encode()


def read_status(s):
    """The status code of the answer, read until the end of its headers."""
    data = b""
    while b"\r\n\r\n" not in data:
        got = s.recv(65536)
        if not got:
            break
        data += got
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) >= 2 and parts[0].startswith("HTTP/"):
        return parts[1]
    return "000 no answer (%d bytes: %r)" % (len(data), data[:60])


def naive(port, declared, sent, chunked):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        s.sendall(head(port, "Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared}"))
        block = b"\0" * 65536
        left = sent
        while left > 0:
            n = min(left, len(block))
            if chunked:
                s.sendall(b"%x\r\n" % n + block[:n] + b"\r\n")
            else:
                s.sendall(block[:n])
            left -= n
        if chunked:
            s.sendall(b"0\r\n\r\n")
        print(read_status(s))
    except OSError as e:
        print("000 %s" % e)
    finally:
        s.close()


def hold(port, n, declared):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(head(port, f"Content-Length: {declared}") + b"\0")
        conns.append(s)
    print("held %d" % len(conns), flush=True)
    # Standard input closing (or 120 s) is the signal to let go.
    while select.select([sys.stdin], [], [], 120)[0] and sys.stdin.readline():
        pass
    for s in conns:
        s.close()


if __name__ == "__main__":
    what, port = sys.argv[1], int(sys.argv[2])
    if what == "naive":
        naive(port, int(sys.argv[3]), int(sys.argv[4]), len(sys.argv) > 5 and sys.argv[5] == "chunked")
    elif what == "hold":
        hold(port, int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("usage: early_clients.py naive|hold PORT ...")
