#!/usr/bin/env bash
# The project's GPU figures in one command, for a lent GPU machine (Python 3.12 with jax[cuda], flax, optax,
# scikit-learn, torch preinstalled; no network). Each part resumes from what an earlier call left in .devruns/.
#
#   bash benchmarks/gpu_run.sh [SECONDS] PART [PART ...]
#     SECONDS  wall budget of the whole command (default 590); a part still running then is stopped (finished work
#              stays: deep_noise keeps each finished noise level, table1 each finished engine chunk)
#     PART     issue 25, the engine on the accelerator (each part stopped after PART_S = 300 s; expected times in
#              BUILD_NOTES.md §5.7):
#              engine_reference  sweep_bench.py --workloads reference: cold / warm / JAX-cache compile, run, PyTorch
#                                and jitted loops on the GPU (all 128 runs), roofline            (≈ 1.5 min)
#              engine_table1     the Table-1 workload (loops on 24 of the 960 runs, extrapolated)  (≈ 2 min)
#              engine_big        the paper-sized sweep, 5,632 runs × 1,000 steps, one cold run, the engine
#                                alone at the experiments' matmul precision                      (≈ 2-4 min)
#              engine_variants   the reference sweep's engine alone with XLA autotuning off and with the CPU's
#                                slice layout (map) forced: what each choice costs or saves    (≈ 1.5 min)
#              engine_rerun      benchmarks/rerun_bench.py: table1 tiny twice, the second run's compile (< 1 s)
#              engine_tests      the engine-equality tests on the GPU (vmapped slices against the reference trainer)
#              the project's other GPU runs (no cap):
#              deep_noise    the deep-noise experiment, MNIST preset (all 70,000 images on an accelerator;
#                            one noise level took 337 s on an H100, five ≈ 28 min: two or three calls)
#              deep_noise_15k  the same on a stratified 15,000-image subset (all five levels: 374 s on an H100)
#              table1_mnist  Table 1 on MNIST, the paper preset (3 teachers, the grid past the landed run's edges)
#              deep_noise_cifar   issue 24: Figure 1 on CIFAR cat/dog, the paper preset (VGG-11 widths, 10 report
#                            seeds, five levels; ≤ 110 PFLOP, BUILD_NOTES §7.4: two or three calls, levels resume)
#              biased_soft_cifar  issue 24: biased soft labels on CIFAR-10, CNN students (the cifar preset's sets) on
#                            all 40,000 training images and 10,000 validation images, wider CNNs, 2 + 6 seeds
#              scaling_paper  issue 23 part 2: neuron scaling, the paper preset (7 margins, noisy 2-XOR, ε down to
#                            0.1, widths to 256, 16 seeds; ≈ 6·10⁶ soft-label steps: several calls, chunks resume)
#              biased_soft_mnist60k  issue 23 part 4: biased soft labels on all 60,000 MNIST images (the paper preset)
#              table1_standard_init  issue 23 part 1: the standard-init ablation settled (its preset with soft steps to
#                            30,000 and 16 report seeds; ≈ 4.4 h of 2 CPU cores, BUILD_NOTES §7.1; chunks resume)
#              A "+" joins parts that share the card at once (e.g. deep_noise+table1_mnist): neither is timed.
#   TINY=1     every engine_* part at tiny size (sweep_bench --quick, one test): checks the script on a CPU, e.g.
#              TINY=1 PYTHON=.venv/bin/python OUT=/tmp/gpu_out bash benchmarks/gpu_run.sh engine_reference
#
# Needs, in the repository root (ignored by git; the device call carries them):
#   .whl/        wheels missing on the machine (ml-collections)
#   .data/mnist  the MNIST IDX files (deep_noise, table1_mnist)
#   .devruns/    outputs of earlier calls (optional; resumed)
# Writes $OUT/gpu_run.log, $OUT/bench-<device>/*.json (the engine_* parts: commit them as
# docs/results/bench-<device>/) and $OUT/devruns.tgz (every part's output folder and log).
set -u
budget=590
if [[ ${1:-} =~ ^[0-9]+$ ]]; then budget=$1; shift; fi
(( $# )) || { echo "usage: gpu_run.sh [SECONDS] PART [PART ...] (parts: see the head of this file)"; exit 2; }
deadline=$(( $(date +%s) + budget - 25 ))  # keep 25 s to pack the results
PART_S=${PART_S:-300} TINY=${TINY:-} PY=${PYTHON:-python3}
OUT=${OUT:-out/gpu}; mkdir -p "$OUT" .devruns
exec > >(tee -a "$OUT/gpu_run.log") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader
fi
"$PY" - <<'PY'
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

bench() {  # bench FOLDER PRECISION SECONDS ARGS: sweep_bench.py into $OUT/FOLDER-<device>/. PRECISION float32:
           # matmuls as PyTorch does them (no TF32), so that both sides of a ratio do the same arithmetic;
           # default: as the experiments run (TF32 on a recent GPU). TINY: quick sizes, a few runs of each loop
  local folder=$1 precision=$2 t=$3; shift 3
  local tiny=() env=(env JAX_DEFAULT_MATMUL_PRECISION=float32)
  [[ -n $TINY ]] && tiny=(--quick --sample 4)
  [[ $precision == default ]] && env=(env -u JAX_DEFAULT_MATMUL_PRECISION)
  "${env[@]}" timeout "$t" "$PY" benchmarks/sweep_bench.py --out "$OUT/$folder-{device}" "${tiny[@]}" "$@" 2>&1 \
    | tee -a ".devruns/$folder.log"
  return "${PIPESTATUS[0]}"
}

run_part() {  # one part, stopped at the deadline (the engine_* parts also after PART_S seconds)
  local part=$1 t; t=$(left)
  if (( t < 30 )); then echo "== $part: no time left, skipped"; return; fi
  [[ $part == engine_* ]] && (( t > PART_S )) && t=$PART_S
  echo "== $part (up to ${t} s) $(date -u +%H:%M:%S)"
  case $part in
    engine_reference) bench bench float32 "$t" --workloads reference ;;
    engine_table1)    bench bench float32 "$t" --workloads table1 --sample table1=24 ;;
    engine_big)       # float32 cannot reach a minute (80 s at the float32 roofline, BUILD_NOTES §5.8): the engine alone
      bench bench default "$t" --workloads big --skip torch_loop,jit_loop ;;
    engine_variants)  # what autotuning and the slice layout cost: the reference sweep's engine alone
      XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_autotune_level=0" \
        bench autotune0 float32 $(( t / 2 )) --workloads reference --skip torch_loop,jit_loop
      bench slice-map float32 $(( t / 2 )) --workloads reference --skip torch_loop,jit_loop --engine slice_layout=map ;;
    engine_rerun)
      timeout "$t" "$PY" benchmarks/rerun_bench.py --experiment=table1 --preset=tiny | tee -a .devruns/rerun.log
      (exit "${PIPESTATUS[0]}") ;;
    engine_tests)
      local select=(-k "engine_equals_runs_one_by_one or every_layout")
      [[ -n $TINY ]] && select=(-k "engine_equals_runs_one_by_one and vmap")
      # float32 products on both sides: TF32 would round the engine and the reference trainer apart (≈ 1e-3)
      JAX_DEFAULT_MATMUL_PRECISION=float32 timeout "$t" "$PY" -m pytest -q -p no:cacheprovider tests/kd_theory/sweep/test_sweep.py \
        tests/kd_theory/sweep/test_layout.py "${select[@]}" 2>&1 | tee -a .devruns/engine_tests.log
      (exit "${PIPESTATUS[0]}") ;;
    deep_noise|deep_noise_15k)
      local out=.devruns/deep_noise_mnist subset=()
      if [[ $part == deep_noise_15k ]]; then out+=15k; subset=(--config.max_examples=15000); fi
      timeout "$t" "$PY" -m experiments.run --experiment=deep_noise --out="$out" \
        --config.dataset=mnist --config.data_dir=.data/mnist "${subset[@]}" ;;
    table1_mnist)
      timeout "$t" "$PY" -m experiments.run --experiment=table1 --preset=paper --out=.devruns/table1_mnist \
        --config.data_dir=.data/mnist ;;
    deep_noise_cifar)   # ../shared travels with the working tree
      timeout "$t" "$PY" -m experiments.run --experiment=deep_noise --preset=paper --out=.devruns/deep_noise_cifar \
        --config.progress=false ;;
    biased_soft_cifar)
      timeout "$t" "$PY" -m experiments.run --experiment=biased_soft --preset=cifar --out=.devruns/biased_soft_cifar \
        --config.train_sizes='(40000,)' --config.cnn.val_size=10000 --config.cnn.channels='(32,64)' \
        --config.cnn.dense='(128,128)' --config.cnn.lr='(0.0003,0.001,0.003)' --config.select_seeds=2 \
        --config.report_seeds=6 --config.cnn.max_epochs=60 --config.cnn.patience=10 --config.teacher.width=512 \
        --config.teacher.steps=2000 --config.teacher.batch_size=512 --config.sbt.steps=2000 ;;
    scaling_paper)
      timeout "$t" "$PY" -m experiments.run --experiment=scaling --preset=paper --out=.devruns/scaling_paper ;;
    biased_soft_mnist60k)   # ../shared travels with the working tree
      timeout "$t" "$PY" -m experiments.run --experiment=biased_soft --preset=paper --out=.devruns/biased_soft_mnist60k ;;
    table1_standard_init)   # ../shared travels with the working tree
      timeout "$t" "$PY" -m experiments.run --experiment=table1 --preset=standard_init \
        --out=.devruns/table1_standard_init '--config.steps=(30,100,300,1000,3000,10000,30000)' \
        --config.report_seeds=16 ;;
    *) echo "unknown part: $part (allowed: engine_reference, engine_table1, engine_big, engine_variants, engine_rerun,"\
            "engine_tests, deep_noise, deep_noise_15k, table1_mnist, deep_noise_cifar, biased_soft_cifar,"\
            "scaling_paper, biased_soft_mnist60k, table1_standard_init)"; return 2 ;;
  esac
  echo "== $part ended with $? at $(date -u +%H:%M:%S)"
}

for group in "$@"; do
  IFS=+ read -r -a parts <<< "$group"
  if (( ${#parts[@]} == 1 )); then
    run_part "${parts[0]}"
  else  # share the card: each process takes a slice of its memory instead of JAX's default 75 %
    export XLA_PYTHON_CLIENT_MEM_FRACTION=$("$PY" -c "print(round(0.9 / ${#parts[@]}, 2))")
    for p in "${parts[@]}"; do run_part "$p" > ".devruns/$p.log" 2>&1 & done
    wait
    for p in "${parts[@]}"; do echo "---- $p (last lines)"; tail -n 25 ".devruns/$p.log"; done
    unset XLA_PYTHON_CLIENT_MEM_FRACTION
  fi
done
tar czf "$OUT/devruns.tgz" .devruns && echo "packed: $(du -h "$OUT/devruns.tgz" | cut -f1)"
