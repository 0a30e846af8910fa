#!/usr/bin/env bash
# Before/after sgemm on the same machine in one run: two builds of bench/gemm-compare (one against
# an older tensor-core, one against this checkout) run alternately, `rounds` times each, and the
# best figure of each build is kept (wall and, on one thread, thread-CPU time).
#
#   bash bench/gemm_before_after.sh <old-binary> [sizes] [threads] [rounds]
#
# Build the old binary from an export of the old commit, e.g.
#   git archive <commit> | tar -x -C /tmp/old, copy this checkout's bench/gemm-compare/{Cargo.toml,
#   Cargo.lock,src/main.rs} over it, delete the tuning-knob calls the old library lacks, build.
# (see docs/kernels-gemm-tuning.md for the exact steps used).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
old="$1"
sizes="${2:-64,128,256,512,1024,2048}"
threads="${3:-1,2}"
rounds="${4:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/gemm-compare/target}"
(cd "$here/gemm-compare" && cargo build --release -q)
new="$CARGO_TARGET_DIR/release/gemm-compare"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%MZ) git $(git -C "$here" rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for t in ${threads//,/ }; do
    for _ in $(seq "$rounds"); do
        "$old" "$t" "$sizes" f32 | sed 's/^/old-/' >>"$out"
        "$new" "$t" "$sizes" f32 | sed 's/^/new-/' >>"$out"
    done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'PY'
import sys
best = {}
order = []
for line in open(sys.argv[1]):
    impl, t, n, g, cpu = line.split()
    key = (int(t), n)
    if key not in order:
        order.append(key)
    b = best.setdefault((key, impl), [0.0, 0.0])
    b[0], b[1] = max(b[0], float(g)), max(b[1], float(cpu))
print(f"{'threads':>7} {'n':>12} {'old':>7} {'new':>7} {'new/old':>8} {'cpu:old':>8} {'cpu:new':>8} {'cpu:new/old':>11}"
      f" {'gemm-crate':>10}   (GFLOP/s, best of rounds)")
for t, n in order:
    o, w = best[((t, n), "old-dimflow")], best[((t, n), "new-dimflow")]
    g = max(best[((t, n), "old-gemm-crate")][0], best[((t, n), "new-gemm-crate")][0])
    line = f"{t:>7} {n:>12} {o[0]:>7.1f} {w[0]:>7.1f} {w[0] / o[0]:>7.2f}x"
    line += f" {o[1]:>8.1f} {w[1]:>8.1f} {w[1] / o[1]:>10.2f}x" if t == 1 else " " * 30
    print(line + f" {g:>10.1f}")
PY
