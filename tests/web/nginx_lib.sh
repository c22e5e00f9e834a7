# shellcheck shell=bash
# nginx_lib.sh - nginx running the shipped deploy/nginx/catdog.conf in front of
# three replicas, for the replica tests.  Sourced after lib.sh, not run.
#
# nginx_start P1 P2 P3: nginx on a free loopback port (sets NGPORT, NG and
# NGINX_PID) with the shipped server block, only its three upstream addresses
# (8081..8083 -> P1..P3) and its `listen 80;` replaced, inside a minimal main
# configuration whose access log ($WORK/nginx/logs/access.log) has one line
# per request: "UPLOAD_ID STATUS UPSTREAM_ADDR", where UPLOAD_ID is the
# request's X-Upload-Id header ("-" without one) and UPSTREAM_ADDR the replica
# (or replicas, comma-separated, when nginx tried several) it went to.
# Waits until nginx answers /healthz from a replica.  nginx_stop stops it.

NGINX_PID=""
NGPORT=""
NG=""

# free_port: a loopback TCP port free when chosen (a start that then loses it
# to another process fails with a message, not silently).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

nginx_start() {
    NGPORT=$(free_port)
    mkdir -p "$WORK/nginx/tmp" "$WORK/nginx/logs"
    sed -e "s|server 127.0.0.1:8081 |server 127.0.0.1:$1 |" \
        -e "s|server 127.0.0.1:8082 |server 127.0.0.1:$2 |" \
        -e "s|server 127.0.0.1:8083 |server 127.0.0.1:$3 |" \
        -e "s|^    listen 80;|    listen 127.0.0.1:$NGPORT;|" \
        "$CATDOG_SOURCE_DIR/deploy/nginx/catdog.conf" >"$WORK/nginx/catdog.conf"
    local p
    for p in "$1" "$2" "$3"; do
        grep -q "127.0.0.1:$p " "$WORK/nginx/catdog.conf" || fail "the shipped config has no upstream server to replace by port $p"
    done
    grep -q "listen 127.0.0.1:$NGPORT;" "$WORK/nginx/catdog.conf" || fail "the shipped config has no 'listen 80;' to replace"
    cat >"$WORK/nginx/nginx.conf" <<NGINX
user $(id -un) $(id -gn);
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 512; }
http {
    log_format upload '\$http_x_upload_id \$status \$upstream_addr';
    access_log $WORK/nginx/logs/access.log upload;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    include $WORK/nginx/catdog.conf;
}
NGINX
    nginx -t -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/t.log" 2>&1 ||
        fail "nginx -t refuses the shipped config: $(cat "$WORK/nginx/t.log")"
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2>>"$WORK/nginx/logs/stderr.log" &
    NGINX_PID=$!
    NG="http://127.0.0.1:$NGPORT"
    for _ in $(seq 1 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$NG/healthz" || true)" = 200 ] && return 0
        kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx did not start: $(cat "$WORK/nginx/logs/"*)"
        sleep 0.1
    done
    fail "nginx on port $NGPORT did not answer /healthz from a replica within 30 s"
}

nginx_stop() {
    if [ -n "$NGINX_PID" ]; then
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=""
    fi
}
