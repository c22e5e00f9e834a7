#!/usr/bin/env bash
# test_http_drain.sh - readiness and draining, as a load balancer sees them:
#   - /healthz (readiness) answers 200 "ok", ready true, while serving; /livez 200 "alive";
#   - serve --drain N: after SIGTERM, /healthz answers 503 "draining" (ready false) while
#     uploads are still classified (200) and /livez still says alive; the same on
#     --metrics-listen's internal address;
#   - a second SIGTERM ends the drain at once: the server exits with status 0 long before N;
#   - without --drain, SIGTERM stops the server (status 0) as before.
# No timing assertion: every wait is for a condition, with a generous limit.
. "$(dirname "$0")/lib.sh"

make_model "$WORK/models"
P=$(photo jpeg 64 48 1)

start_server --drain 600 --metrics-listen 127.0.0.1:0
MPORT=$(sed -n 's|.*metrics on .*(port \([0-9]*\)).*|\1|p' "$WORK/server.out" | head -n 1)
[ -n "$MPORT" ] || fail "cannot read the metrics port from: $(cat "$WORK/server.out")"

req GET /healthz
expect_status 200 "healthz while serving"
json_check 'j["status"] == "ok" and j["ready"] is True and j["history"] == "ok"' "ready while serving"
req GET /livez
expect_status 200 "livez while serving"
json_check 'j["status"] == "alive"' "alive"
ok "/healthz 200 ok (ready), /livez 200 alive"

kill -TERM "$SERVER_PID"
# Wait until the server says it drains (the log line comes after the flag is set).
for i in $(seq 1 600); do
    grep -q "draining for 600 s" "$WORK/server.err" && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited on SIGTERM instead of draining"
    sleep 0.1
done
grep -q "draining for 600 s" "$WORK/server.err" || fail "no 'draining' line after SIGTERM with --drain"

req GET /healthz
expect_status 503 "healthz while draining"
json_check 'j["status"] == "draining" and j["ready"] is False' "not ready while draining"
STATUS=$(curl -s --max-time 60 -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz") || true
expect_status 503 "healthz on --metrics-listen while draining"
json_check 'j["status"] == "draining"' "the internal address says draining too"
req GET /livez
expect_status 200 "livez while draining"
ok "after SIGTERM with --drain: /healthz 503 draining (public and internal), /livez 200"

req POST /api/v1/predict -F "inputfile=@$P"
expect_status 200 "an upload while draining"
json_check 'j["label"] in ("cat", "dog")' "an upload while draining is classified"
ok "uploads are still classified while draining"

# A second SIGTERM ends the drain now (600 s would outlast any test limit).
kill -TERM "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[ $rc -eq 0 ] || fail "the server exited with status $rc after the second SIGTERM"
grep -q "drain ended early" "$WORK/server.err" || fail "no 'drain ended early' line after the second SIGTERM"
ok "a second SIGTERM ends the drain; exit status 0"

start_server
req GET /healthz
expect_status 200 "healthz without --drain"
stop_server TERM
ok "without --drain, SIGTERM stops the server (status 0)"

echo "all $N_CHECKS checks passed"
