#!/usr/bin/env bash
# Side-by-side sgemm (or dgemm) throughput: Dimflow's kernels, NumPy/OpenBLAS and the `gemm` crate,
# on the same square sizes, at 1 and 2 threads, in one run. Prints GFLOP/s and Dimflow's ratio
# to each (best wall time; on 1 thread also by thread-CPU time, which a shared machine disturbs
# less).
#
#   bash bench/gemm_side_by_side.sh [sizes] [threads] [f32|f64]
#   bash bench/gemm_side_by_side.sh 64,128,256,512,1024,2048 1,2 f32
#   bash bench/gemm_side_by_side.sh 128x784x10,128x784x128 1 f32     # M x K x N shapes
#   bash bench/gemm_side_by_side.sh 784x128x128t 1 f32                # `t`: A read transposed
#
# Needs: cargo; python3 with venv (NumPy is installed into bench/.venv on first use).
# The `gemm` crate is built only here, in bench/gemm-compare (not a workspace member).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sizes="${1:-64,128,256,512,1024,2048}"
threads="${2:-1,2}"
dtype="${3:-f32}"
npdtype=$([ "$dtype" = f64 ] && echo float64 || echo float32)

if [ ! -x "$here/.venv/bin/python" ]; then
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install -q "numpy>=2,<3"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/gemm-compare/target}"
(cd "$here/gemm-compare" && cargo build --release -q)
bin="$CARGO_TARGET_DIR/release/gemm-compare"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, dtype $dtype"
echo "# git $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for t in ${threads//,/ }; do
    # Rust side: Dimflow and the gemm crate, interleaved per size.
    "$bin" "$t" "$sizes" "$dtype" >>"$out"
    # NumPy side: OpenBLAS picks its own kernel and cache sizes (env overrides unset for it only).
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
        "$here/.venv/bin/python" "$here/gemm_side_by_side.py" "$t" "$sizes" "$npdtype" >>"$out"
done

python3 - "$out" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    impl, t, n, g, cpu = line.split()
    rows[(int(t), n, impl)] = (float(g), float(cpu))
order = {}
for t, n, _ in rows:
    order.setdefault((t, n), len(order))
keys = sorted(order, key=lambda key: (key[0], order[key]))
nan = (float("nan"), float("nan"))
print("GFLOP/s by best wall time; on 1 thread also by least thread-CPU time (cpu: columns)")
print(f"{'threads':>7} {'n':>12} {'dimflow':>9} {'numpy':>9} {'gemm-crate':>10} {'vs numpy':>9} {'vs gemm':>8}"
      f" {'cpu:dimflow':>12} {'cpu:numpy':>10} {'cpu:ratio':>10}")
for t, n in keys:
    d = rows.get((t, n, "dimflow"), nan)
    p = rows.get((t, n, "numpy"), nan)
    g = rows.get((t, n, "gemm-crate"), nan)
    line = f"{t:>7} {n:>12} {d[0]:>9.1f} {p[0]:>9.1f} {g[0]:>10.1f} {d[0] / p[0]:>8.2f}x {d[0] / g[0]:>7.2f}x"
    if t == 1:
        line += f" {d[1]:>12.1f} {p[1]:>10.1f} {d[1] / p[1]:>9.2f}x"
    print(line)
PY
