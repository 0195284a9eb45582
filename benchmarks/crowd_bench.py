"""Dawid-Skene EM: kd_theory.crowd (JAX) vs crowd-kit 1.4.2 (pandas), side by side in one run.

    python benchmarks/crowd_bench.py                 # 100,000 tasks × 100 workers, 10 answers/task, + relevance
    python benchmarks/crowd_bench.py --quick         # 10,000 tasks (1/10 of the answers)
    python benchmarks/crowd_bench.py --data-dir ../shared/data/crowd

Both run exactly ``--iterations`` EM iterations (tol = −∞) from the same start (majority-vote shares) on
the same answers, through the same DataFrame call ``DawidSkene(n_iter, tol).fit(df)``. Our time is
reported including compilation (first call) and excluding it (second call); crowd-kit's is one call.
The posteriors of the two are compared (max |difference|). The real crowd ``relevance`` (98,453
answers, 4 classes) runs when its folder is found. Last line: a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from kd_theory.crowd import DawidSkene, load_crowd, simulate_two_type_crowd  # noqa: E402

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "crowd"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare(name: str, answers: pd.DataFrame, iterations: int) -> dict:
    """Time both implementations on one crowd and compare their posteriors."""
    ours = lambda: DawidSkene(n_iter=iterations, tol=-np.inf).fit_predict_proba(answers)  # noqa: E731
    ours_first, with_compile = timed(ours)
    ours_probas, without_compile = timed(ours)
    row = {"crowd": name, "answers": len(answers), "tasks": int(answers["task"].nunique()),
           "classes": int(answers["label"].nunique()), "iterations": iterations,
           "ours_incl_compile_s": round(with_compile, 3), "ours_excl_compile_s": round(without_compile, 3)}
    try:
        from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene
    except ImportError:
        print(f"[{name}] crowd-kit is not installed: only our timings", flush=True)
        return row
    theirs, crowdkit_s = timed(lambda: CrowdKitDawidSkene(n_iter=iterations, tol=-np.inf).fit_predict_proba(answers))
    theirs = theirs.loc[ours_probas.index, ours_probas.columns]
    row.update(crowdkit_s=round(crowdkit_s, 3),
               speedup_excl_compile=round(crowdkit_s / without_compile, 2),
               speedup_incl_compile=round(crowdkit_s / with_compile, 2),
               max_abs_posterior_diff=float(np.abs(ours_probas.to_numpy() - theirs.to_numpy()).max()),
               same_labels_fraction=float(np.mean(ours_probas.to_numpy().argmax(1) == theirs.to_numpy().argmax(1))))
    np.testing.assert_allclose(ours_first.to_numpy(), ours_probas.to_numpy(), atol=1e-6)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 tasks instead of 100,000")
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--answers-per-task", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args()
    n_tasks = args.tasks or (10_000 if args.quick else 100_000)

    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {os.cpu_count()} CPUs", flush=True)
    crowd = simulate_two_type_crowd(jax.random.PRNGKey(0), n_tasks, args.workers, args.answers_per_task, beta=0.5)
    rows = [compare(f"simulated {n_tasks}x{args.workers}", crowd.answers(), args.iterations)]
    relevance = args.data_dir / "relevance"
    if relevance.is_dir():
        rows.append(compare("relevance", load_crowd(relevance)[0], args.iterations))
    else:
        print(f"relevance not found under {args.data_dir}: skipped", flush=True)

    for row in rows:
        print(" | ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    print(json.dumps({"benchmark": "crowd_dawid_skene", "jax": jax.__version__, "backend": jax.default_backend(),
                      "results": rows}))


if __name__ == "__main__":
    main()
