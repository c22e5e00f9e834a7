#!/usr/bin/env bash
# Installs what catdog needs to build, run and test, and nothing else.
# Debian packages by name (apt-get), npm packages from package.json.
# Quiet when everything is already there, so `make run` / `make test` can call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config
  libdnnl-dev libopenblas-dev libhdf5-dev libjansson-dev libzip-dev
  libjpeg-dev libpng-dev libwebp-dev libexif-dev
  libmicrohttpd-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  # serve --db postgresql://... (libpq); the tests start a throwaway PostgreSQL 15 server (tests/web/pg_lib.sh).
  libpq-dev postgresql
  libcmocka-dev valgrind curl
  # data-parallel training (mpirun -np N catdog train): built with MPI when found
  libopenmpi-dev openmpi-bin
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  # tests/onnx: PyTorch exports (torch.onnx.export, python3-torch below; torchvision models) and ONNX's checker.
  python3-onnx python3-torchvision
  clang libfuzzer-14-dev libclang-rt-14-dev
  chromium
  systemd man-db
  # tests/web/test_nginx_replicas.sh runs deploy/nginx/catdog.conf in front of replicas.
  nginx
  python3-h5py python3-numpy
  # The tests' independent Keras reader (tests/oracle/keras_reader.py).
  python3-torch python3-pil
)
# Benchmarks' peers (Flask, wrk) are only needed by `make bench`.
if [ "${CATDOG_BENCH_DEPS:-0}" = 1 ]; then
  PKGS+=(python3-flask wrk)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node may come from Debian (nodejs + npm) or elsewhere (npm bundled): check the commands.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Front-end assets (MaterializeCSS), the browser-test driver and ONNX Runtime (the ONNX tests'
# oracle) come from npm.  --ignore-scripts: onnxruntime-node's install script downloads CUDA
# libraries; its CPU library ships in the package and needs no script.
if [ -f package.json ]; then
  if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ]; then
    echo "install-deps: npm install"
    npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  fi
fi

# The Node.js peer of bench/web_bench.sh (sharp, better-sqlite3, busboy: its own
# package.json) is only needed by `make bench`; better-sqlite3 is built from source there.
if [ "${CATDOG_BENCH_DEPS:-0}" = 1 ] && [ -x bench/web_node_peer/install.sh ]; then
  bench/web_node_peer/install.sh
fi
