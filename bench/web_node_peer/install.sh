#!/usr/bin/env bash
# bench/web_node_peer/install.sh - installs the Node.js peer's modules (bench/web_bench.sh),
# from the npm registry only.  Run by `make bench` (scripts/install-deps.sh with
# CATDOG_BENCH_DEPS=1); quiet when they are already there.
#
#   - sharp >= 0.33 ships libvips and its own binding as npm packages
#     (@img/sharp-linux-x64, @img/sharp-libvips-linux-x64): no script needed.
#   - busboy is plain JavaScript.
#   - better-sqlite3's install script would try a prebuilt binary from GitHub
#     (prebuild-install); instead every script is skipped (--ignore-scripts) and
#     better-sqlite3 alone is rebuilt from its bundled SQLite source with
#     --build-from-source (prebuild-install then downloads nothing) and node-gyp
#     pointed at this Node's own headers (npm_config_nodedir, /usr/include/node
#     for Debian's or NodeSource's nodejs), so node-gyp fetches no headers either.
#   - onnxruntime-node is the root package.json's (scripts/install-deps.sh).
# Compiling SQLite takes a few minutes of one core.
set -euo pipefail
cd "$(dirname "$0")"
probe() { node -e "require('better-sqlite3')(':memory:').close(); require('sharp'); require('busboy')" 2>/dev/null; }
if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] && probe; then
  exit 0
fi
{ command -v node && command -v npm; } >/dev/null ||
  { echo "web_node_peer/install.sh: node and npm are needed (scripts/install-deps.sh installs them)" >&2; exit 1; }
NODEDIR=${npm_config_nodedir:-}
if [ -z "$NODEDIR" ]; then
  NODEDIR=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
fi
[ -f "$NODEDIR/include/node/node.h" ] ||
  { echo "web_node_peer/install.sh: no Node headers under $NODEDIR/include/node (set npm_config_nodedir to the folder that holds include/node)" >&2; exit 1; }
echo "web_node_peer: npm ci (scripts skipped), then better-sqlite3 from source against $NODEDIR/include/node"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
npm_config_build_from_source=true npm_config_nodedir="$NODEDIR" \
  npm rebuild better-sqlite3 --no-audit --no-fund --loglevel=error >/dev/null
probe || { echo "web_node_peer/install.sh: the modules were installed but do not load" >&2; exit 1; }
touch node_modules/.package-lock.json
