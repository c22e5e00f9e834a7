#!/usr/bin/env bash
# `make run`: serves the shipped models on http://127.0.0.1:8080 (catdog serve).
#   models/binary.h5 always (the copy built into the program when the file is
#   not here), models/transfer.h5 when its backbone weights are found; photos
#   go to saveimages/, the history to catdog.db.  Ctrl-C stops it gracefully.
# Override with CATDOG_HOST / CATDOG_PORT, or pass more `catdog serve` options:
#   make run                       scripts/run.sh build/catdog --threads 1
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/catdog}
shift || true
host=${CATDOG_HOST:-127.0.0.1}
port=${CATDOG_PORT:-8080}
echo "catdog: starting the web service on http://$host:$port/ (Ctrl-C to stop)"
exec "$bin" serve --host "$host" --port "$port" --models models --upload-dir saveimages --db catdog.db "$@"
