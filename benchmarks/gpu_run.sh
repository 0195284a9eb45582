#!/usr/bin/env bash
# The project's GPU figures in one command, for a lent GPU machine (Python 3.12 with jax[cuda], flax, optax,
# scikit-learn, torch preinstalled; no network). Each part resumes from what an earlier call left in .devruns/.
#
#   bash benchmarks/gpu_run.sh SECONDS PART [PART ...]
#     SECONDS  wall budget of the whole command; a part still running then is stopped (finished work stays:
#              deep_noise keeps each finished noise level, table1 each finished engine chunk)
#     PART     bench         benchmarks/sweep_bench.py on the GPU (PyTorch loops on the GPU too), alone on the card
#              deep_noise    the deep-noise experiment, MNIST preset (all 70,000 images on an accelerator;
#                            one noise level took 337 s on an H100, five ≈ 28 min: two or three calls)
#              deep_noise_15k  the same on a stratified 15,000-image subset (all five levels: 374 s on an H100)
#              table1_mnist  Table 1 on MNIST with the grid extended past the CPU run's edge (lr, steps)
#              A "+" joins parts that share the card at once (e.g. deep_noise+table1_mnist): neither is timed.
#
# Needs, in the repository root (ignored by git; the device call carries them):
#   .whl/        wheels missing on the machine (ml-collections)
#   .data/mnist  the MNIST IDX files (deep_noise, table1_mnist)
#   .devruns/    outputs of earlier calls (optional; resumed)
# Writes $OUT/gpu_run.log, $OUT/sweep_bench_gpu.json (bench) and $OUT/devruns.tgz (every part's output folder).
set -u
budget=${1:?usage: gpu_run.sh SECONDS PART [PART ...]}; shift
deadline=$(( $(date +%s) + budget - 25 ))  # keep 25 s to pack the results
OUT=${OUT:-out/gpu}; mkdir -p "$OUT" .devruns
exec > >(tee -a "$OUT/gpu_run.log") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader
python3 - <<'PY'
import jax, jax.numpy as jnp, numpy as np, flax, optax, ml_collections, sklearn
print("jax", jax.__version__, jax.devices())
# Does a float32 matmul at the default precision run in TF32 here? (it changes results in the 4th digit)
a, b = (jax.random.normal(k, (1024, 1024)) for k in jax.random.split(jax.random.PRNGKey(1)))
ref = np.asarray(a, np.float64) @ np.asarray(b, np.float64)
for prec in ("default", "float32"):
    with jax.default_matmul_precision(prec):
        out = np.asarray(jnp.dot(a, b))
    print(f"float32 matmul at precision {prec}: rel. error vs float64 {np.linalg.norm(out - ref) / np.linalg.norm(ref):.1e}")
PY

left() { echo $(( deadline - $(date +%s) )); }

run_part() {  # one part, stopped at the deadline
  local part=$1 t; t=$(left)
  if (( t < 30 )); then echo "== $part: no time left, skipped"; return; fi
  echo "== $part (up to ${t} s) $(date -u +%H:%M:%S)"
  case $part in
    bench)
      # float32 matmuls as PyTorch does them (no TF32), so that both sides of a ratio do the same arithmetic
      JAX_DEFAULT_MATMUL_PRECISION=float32 timeout "$t" python3 benchmarks/sweep_bench.py --sample 96 | tee .devruns/sweep_bench_gpu.log
      tail -n 1 .devruns/sweep_bench_gpu.log > "$OUT/sweep_bench_gpu.json" ;;
    deep_noise|deep_noise_15k)
      local out=.devruns/deep_noise_mnist subset=()
      if [[ $part == deep_noise_15k ]]; then out+=15k; subset=(--config.max_examples=15000); fi
      timeout "$t" python3 -m experiments.run --experiment=deep_noise --out="$out" \
        --config.dataset=mnist --config.data_dir=.data/mnist "${subset[@]}" ;;
    table1_mnist)
      timeout "$t" python3 -m experiments.run --experiment=table1 --out=.devruns/table1_mnist \
        --config.data_dir=.data/mnist --config.select_subset=10000 --config.select_seeds=3 \
        --config.report_seeds=10 --config.teacher_batch_size=512 --config.teacher_steps=3000 \
        --config.steps='(300,1000,3000,10000)' --config.lr='(32.0,64.0,128.0)' \
        --config.B='(0.0,2.0,4.0,8.0,16.0,64.0)' ;;
    *) echo "unknown part: $part (allowed: bench, deep_noise, deep_noise_15k, table1_mnist)"; return 2 ;;
  esac
  echo "== $part ended with $? at $(date -u +%H:%M:%S)"
}

for group in "$@"; do
  IFS=+ read -r -a parts <<< "$group"
  if (( ${#parts[@]} == 1 )); then
    run_part "${parts[0]}"
  else  # share the card: each process takes a slice of its memory instead of JAX's default 75 %
    export XLA_PYTHON_CLIENT_MEM_FRACTION=$(python3 -c "print(round(0.9 / ${#parts[@]}, 2))")
    for p in "${parts[@]}"; do run_part "$p" > ".devruns/$p.log" 2>&1 & done
    wait
    for p in "${parts[@]}"; do echo "---- $p (last lines)"; tail -n 25 ".devruns/$p.log"; done
    unset XLA_PYTHON_CLIENT_MEM_FRACTION
  fi
done
tar czf "$OUT/devruns.tgz" .devruns && echo "packed: $(du -h "$OUT/devruns.tgz" | cut -f1)"
