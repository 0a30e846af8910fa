#!/usr/bin/env bash
# CSV reading, Dimflow vs TensorFlow tf.data, in one run on the same generated file.
#   bench/csv_side_by_side.sh [FILE] [MB]
# Needs tensorflow-cpu in /work/venv-tf (override with TF_PYTHON). The file (default
# target/bench100.csv, ~100 MB) is generated once and never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
FILE="${1:-$PWD/target/bench100.csv}"
MB="${2:-100}"
TF_PYTHON="${TF_PYTHON:-/work/venv-tf/bin/python}"
[ -f "$FILE" ] || python3 bench/csv_side_by_side.py generate "$FILE" "$MB"
cargo bench -p tensor-nn --bench csv_side_by_side --no-run >/dev/null 2>&1
echo "machine: $(nproc) cores, $(uname -sr), commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ)"
cargo bench -p tensor-nn --bench csv_side_by_side -- "$FILE" csv 2>/dev/null
TF_CPP_MIN_LOG_LEVEL=3 "$TF_PYTHON" bench/csv_side_by_side.py tf "$FILE" 2>/dev/null
cargo bench -p tensor-nn --bench csv_side_by_side -- "$FILE" csv 2>/dev/null
cargo bench -p tensor-nn --bench csv_side_by_side -- "$FILE" prefetch 2>/dev/null
