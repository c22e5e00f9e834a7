#!/usr/bin/env python3
"""upload_clients.py - many concurrent upload clients in one process, for the
replica tests (tests/web/test_nginx_replicas_pg.sh).

    upload_clients.py HOST PORT BASE_PHOTO N CLIENTS OUT [--no-pairs]

Makes N uploads of POST /api/v1/predict to HOST:PORT from CLIENTS threads,
each on its own keep-alive connection (re-opened after an error), so one
process drives thousands of uploads without a process per upload.  Upload i
(0..N-1) is made by client i % CLIENTS and is BASE_PHOTO plus a trailer
naming it, so every photo is distinct (a JPEG decoder stops at the end-of-image
marker; the trailer changes the bytes and so the sha256, not the picture); when
BASE_PHOTO is a folder, upload i starts from its (i mod count)-th JPEG --
except shared ones: clients c and c + CLIENTS/2 are partners, and at each
client step s with s % 20 == 10 both upload the same photo, released together
by a barrier, so two requests carrying one photo reach nginx at the same moment
and, nginx balancing them round-robin, two replicas store that photo at once
(--no-pairs: none, for a benchmark).

Each request carries the headers X-Upload-Id: i (nginx_lib.sh's access log
names the replica it went to by it) and X-Forwarded-For: 203.0.113.7 (a CDN in
front).  OUT gets one JSON line per finished upload, written as it finishes
(the test counts them to time its kills and restarts):
    {"i": i, "status": HTTP status or 0 when no answer came, "sha256": the
     photo's, "name": "u<i>.jpg", "answer": the JSON answer or null,
     "pair": "p<c>s<s>" for a shared photo, else null}
At the end it prints "# N uploads in T s (R/s) from C clients" on stdout.
"""
import hashlib
import http.client
import json
import os
import sys
import threading
import time


def multipart(name, data):
    boundary = "catdogreplicas" + hashlib.sha256(data).hexdigest()[:16]
    head = ('--%s\r\nContent-Disposition: form-data; name="inputfile"; filename="%s"\r\n'
            "Content-Type: image/jpeg\r\n\r\n" % (boundary, name)).encode()
    return head + data + ("\r\n--%s--\r\n" % boundary).encode(), "multipart/form-data; boundary=" + boundary


def main():
    host, port, base_path, n, clients, out_path = sys.argv[1:7]
    port, n, clients = int(port), int(n), int(clients)
    if os.path.isdir(base_path):  # a folder of photos (bench/replica_bench.sh): upload i has photo i % count
        files = sorted(f for f in os.listdir(base_path) if f.lower().endswith((".jpg", ".jpeg")))
        bases = [open(os.path.join(base_path, f), "rb").read() for f in files]
    else:
        bases = [open(base_path, "rb").read()]
    half = 0 if "--no-pairs" in sys.argv[7:] else clients // 2
    out = open(out_path, "w")
    out_lock = threading.Lock()
    barriers = {}
    for c in range(half):
        for s in range(10, n // clients, 20):  # steps every client reaches
            barriers[(c, s)] = threading.Barrier(2)

    def photo(i, c, s):
        if half and (c % half, s) in barriers:
            pair = "p%ds%d" % (c % half, s)
            return bases[0] + ("shared photo %s\n" % pair).encode(), pair
        return bases[i % len(bases)] + ("upload %d of %d\n" % (i, n)).encode(), None

    def client(c):
        conn = None
        for s, i in enumerate(range(c, n, clients)):
            data, pair = photo(i, c, s)
            name = "u%d.jpg" % i
            body, ctype = multipart(name, data)
            if pair:
                try:
                    barriers[(c % half, s)].wait(timeout=120)
                except threading.BrokenBarrierError:
                    pass  # the partner is gone: upload alone
            status, answer = 0, None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=120)
                conn.request("POST", "/api/v1/predict", body=body,
                             headers={"Content-Type": ctype, "X-Upload-Id": str(i),
                                      "X-Forwarded-For": "203.0.113.7"})
                r = conn.getresponse()
                raw = r.read()
                status = r.status
                try:
                    answer = json.loads(raw)
                except ValueError:
                    answer = None
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            line = json.dumps({"i": i, "status": status, "sha256": hashlib.sha256(data).hexdigest(),
                               "name": name, "answer": answer, "pair": pair})
            with out_lock:
                out.write(line + "\n")
                out.flush()
        if conn is not None:
            conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t = time.monotonic() - t0
    out.close()
    print("# %d uploads in %.1f s (%.0f/s) from %d clients" % (n, t, n / t, clients))


if __name__ == "__main__":
    main()
