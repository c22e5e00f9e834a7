#!/usr/bin/env bash
# `make run`: the main job on the shipped default model.
# Until the web service lands this classifies sample photos from ../shared.
set -euo pipefail
bin=${1:-build/catdog}
"$bin" version
