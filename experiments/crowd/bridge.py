"""Part 3, the bridge to distillation: students trained on crowd labels of the digits.

Data: scikit-learn's 8×8 digits, the binary task "digit > 4" (Table 1's task), train / validation / test
as :func:`kd_theory.data.digits_task` splits them. **Task type from the data** [ours]: type 1 ("hard") =
the digits 1, 4, 7, 9 — the ones Table 1's *reduced* variant removes (4↔9 and 1↔7 are the confusable
pairs across the > 4 boundary); type 0 = the other six digits. Both types hold both labels.

Crowd of seed s [ours]: ``bridge_workers`` one-coin workers with two-type skills (variant
``bridge_variant``, :func:`kd_theory.crowd.simulate.two_type_skills`) label the training images
(``bridge_answers_per_task`` each, 0 = all workers); key fold_in(PRNGKey(crowd_seed), s). Validation and
test images keep their gold labels (validation chooses lr and steps, as experiments/table1 does).

Training targets t ∈ [0, 1] (the probability of "digit > 4") from that crowd:
  gold            the true labels (reference)
  MV_hard         majority vote, ties to the lowest label ("≤ 4")
  MV_soft         the vote share of "> 4"
  A_hard, A_soft  the aggregator A (``bridge_aggregator``, DS by default): its label / its posterior
  types+A_hard/_soft  the same after the spectral task-type partition (A per type)
Students (two-layer ReLU nets through the engine, plain GD, symmetric init) of seed s use the crowd of
seed s and the init of seed s for every target, so gaps are paired by seed; (lr, steps) are chosen per
target on the validation accuracy of seeds 0..S−1 and the test accuracy of seeds S..S+R−1 is reported.
"""
from __future__ import annotations

import jax
import numpy as np
import pandas as pd

from experiments import common
from experiments.common import seed_sets
from kd_theory import data, losses, stats, sweep
from kd_theory.crowd import MajorityVote, TaskTypeAware, partition_tasks, simulate_answers, type_recovery
from kd_theory.crowd.evaluation import make_aggregator
from kd_theory.crowd.simulate import one_coin_confusion_matrices, two_type_skills

HARD_DIGITS = data.REDUCED_REMOVED_DIGITS


def target_names(aggregator: str) -> tuple[str, ...]:
    return ("gold", "MV_hard", "MV_soft", f"{aggregator}_hard", f"{aggregator}_soft",
            f"types+{aggregator}_hard", f"types+{aggregator}_soft")


def comparisons(aggregator: str) -> tuple[tuple[str, str], ...]:
    """(treatment, baseline) pairs reported as paired gaps."""
    a, t = aggregator, f"types+{aggregator}"
    return ((f"{a}_soft", f"{a}_hard"), (f"{a}_soft", "MV_hard"), (f"{a}_hard", "MV_hard"),
            (f"{t}_soft", f"{t}_hard"), (f"{t}_soft", f"{a}_soft"), (f"{t}_hard", f"{a}_hard"),
            ("MV_soft", "MV_hard"), ("gold", f"{a}_soft"))


def digits_with_types(config) -> tuple[data.Dataset, np.ndarray]:
    """The binary digits task (labels ±1: digit > 4) and the type of every training image (1 = digit in
    1, 4, 7, 9). The 10-class split supplies the digits; its images and split are the binary task's."""
    ten = data.digits_task("full", config.test_fraction, config.split_seed, center=True,
                           val_fraction=config.val_fraction, num_classes=10)
    binary = lambda digits: np.where(digits > 4, 1.0, -1.0).astype(np.float32)  # noqa: E731
    ds = data.Dataset("digits-full", ten.X_train, binary(ten.y_train), ten.X_test, binary(ten.y_test),
                      dict(ten.info, task="digit > 4"), ten.X_val, binary(ten.y_val), num_classes=2)
    return ds, np.isin(ten.y_train, HARD_DIGITS).astype(np.int64)


def probability_of_positive(probas: pd.DataFrame, n_tasks: int) -> np.ndarray:
    """P(label index 1 = "> 4") per task 0..n−1 from a task × label frame (a label nobody gave has 0)."""
    return probas.reindex(index=range(n_tasks), columns=[0, 1], fill_value=0.0)[1].to_numpy(np.float32)


def hard(p: np.ndarray) -> np.ndarray:
    """The label of a posterior as a 0/1 target: 1 iff p > 1/2 (a tie goes to the lowest label, "≤ 4")."""
    return (p > 0.5).astype(np.float32)


def crowd_targets(config, y_train: np.ndarray, types: np.ndarray, seed: int) -> tuple[dict, dict]:
    """The training targets of the crowd of ``seed`` and that crowd's summary (label quality per target,
    type recovery of the partition)."""
    skill_key, answer_key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(config.crowd_seed), seed))
    n_workers = int(config.bridge_workers)
    skills = two_type_skills(skill_key, n_workers, config.bridge_variant)
    truth = (y_train > 0).astype(np.int64)
    per_task = int(config.bridge_answers_per_task) or n_workers
    crowd = simulate_answers(answer_key, one_coin_confusion_matrices(skills, 2), types, truth, per_task, skills)
    answers, n = crowd.answers(), len(y_train)
    found = partition_tasks(crowd.matrix, seed=int(config.partition_seed))
    agg = config.bridge_aggregator
    posteriors = {
        "MV": probability_of_positive(MajorityVote().fit_predict_proba(answers), n),
        agg: probability_of_positive(make_aggregator(agg).fit_predict_proba(answers), n),
        f"types+{agg}": probability_of_positive(TaskTypeAware(make_aggregator(agg), types=pd.Series(
            found, index=crowd.matrix.task_ids)).fit_predict_proba(answers), n)}
    targets = {"gold": np.asarray(losses.hard_target(y_train), np.float32)}
    for name, p in posteriors.items():
        targets[f"{name}_hard"], targets[f"{name}_soft"] = hard(p), p
    gold = targets["gold"]
    quality = {name: {"label_acc": float(np.mean(hard(t) == gold)),
                      "mass_on_truth": float(np.mean(t * gold + (1 - t) * (1 - gold))),
                      "label_acc_by_type": [float(np.mean(hard(t)[types == g] == gold[types == g])) for g in (0, 1)]}
               for name, t in targets.items()}
    return targets, {"seed": seed, "type_recovery": type_recovery(found, types), "targets": quality,
                     "worker_skills_mean": np.asarray(skills).mean(axis=1).tolist()}


def build(config) -> tuple[dict, list, list, dict]:
    """(tasks, runs, crowd summaries, data info): one task per seed (its own crowd), every target × lr ×
    width run on it."""
    ds, types = digits_with_types(config)
    select, report = seed_sets(config)
    tasks, runs, crowds = {}, [], []
    for seed in list(select) + list(report):
        targets, summary = crowd_targets(config, ds.y_train, types, seed)
        name = f"crowd{seed}"
        tasks[name] = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, targets, X_val=ds.X_val,
                                 y_val=ds.y_val)
        role = "select" if seed in select else "report"
        crowds.append(dict(summary, role=role))
        runs += [sweep.Run(name, int(m), target, seed, float(lr), None, (("role", role),))
                 for m in config.student_widths for target in target_names(config.bridge_aggregator)
                 for lr in config.lr]
    info = dict(ds.info, n_hard_type=int(types.sum()), hard_digits=list(HARD_DIGITS))
    return tasks, runs, crowds, info


def _at(choice: dict):
    """Row filter: report-seed rows of the chosen (width, target, lr, steps)."""
    keys = ("width", "target", "lr", "steps")
    return lambda r: r["role"] == "report" and all(r[k] == choice[k] for k in keys)


def analyse(rows: list[dict], crowds: list[dict], config) -> dict:
    """Chosen (lr, steps) per (width, target) on the selection seeds' validation accuracy; the report
    seeds' test accuracy there; paired gaps of :func:`comparisons` (Holm over all of them)."""
    select = stats.summarise(rows, ("width", "target", "lr", "steps"), ("val_acc", "test_acc"),
                             include=lambda r: r["role"] == "select")
    chosen = stats.select_best(select, group_keys=("width", "target"), score="val_acc_mean",
                               tie_break=lambda s: (s["steps"], s["lr"]))
    reported = {(s["width"], s["target"], s["lr"], s["steps"]): s
                for s in stats.summarise(rows, ("width", "target", "lr", "steps"), ("test_acc", "val_acc"),
                                         include=lambda r: r["role"] == "report")}
    table = []
    for (m, target), c in sorted(chosen.items(), key=lambda kv: (kv[0][0], target_names(
            config.bridge_aggregator).index(kv[0][1]))):
        s = reported[(m, target, c["lr"], c["steps"])]
        table.append({"width": m, "target": target, "lr": c["lr"], "steps": c["steps"],
                      "select_val_acc": c["val_acc_mean"], "test_acc_mean": s["test_acc_mean"],
                      "test_acc_std": s["test_acc_std"], "n_seeds": s["n_seeds"]})
    gaps = []
    for m in config.student_widths:
        for treatment, baseline in comparisons(config.bridge_aggregator):
            cells = stats.paired_gaps(rows, treatment=_at(chosen[(m, treatment)]),
                                      baseline=_at(chosen[(m, baseline)]), match_keys=("width",),
                                      cell_keys=("width",), metric="test_acc")
            gaps += [dict(c, treatment=treatment, baseline=baseline) for c in cells]
    report_crowds = [c for c in crowds if c["role"] == "report"]
    quality = {t: {k: stats.mean_std([c["targets"][t][k] for c in report_crowds])
                   for k in ("label_acc", "mass_on_truth")}
               for t in target_names(config.bridge_aggregator)}
    return {"table": table, "gaps": stats.add_holm(gaps, config.alpha),
            "chosen": [dict(c) for c in chosen.values()], "label_quality": quality, "crowds": crowds,
            "type_recovery": stats.mean_std([c["type_recovery"] for c in crowds])}


def run_bridge(config, out_path: str) -> tuple[list, dict]:
    tasks, runs, crowds, info = build(config)
    options = sweep.EngineOptions(steps=tuple(config.steps), init="symmetric", dtype=config.dtype,
                                  base_seed=config.seed)
    result = sweep.run_sweep(runs, tasks, options, out_dir=None, memory_budget_gb=config.memory_budget_gb or None,
                             executor=common.executor_from_config(config, out_path), progress=config.progress)
    rows = [dict(r, part="bridge") for r in result.rows]
    summary = analyse(rows, crowds, config)
    select, report = seed_sets(config)
    summary.update({
        "data": info, "targets": list(target_names(config.bridge_aggregator)),
        "comparisons": [list(c) for c in comparisons(config.bridge_aggregator)],
        "protocol": {"select_seeds": list(select), "report_seeds": list(report),
                     "selection": "per (width, target): the (lr, steps) with the best mean validation accuracy "
                                  "(gold validation labels) over the selection seeds; ties → fewer steps, smaller lr",
                     "reported": "test accuracy of the report seeds at the chosen (lr, steps), mean ± std",
                     "gap_test": f"paired by seed (same crowd, same init), 95% t-interval, Holm over all gaps shown, "
                                 f"α = {config.alpha}",
                     "types": f"type 1 = digits {list(HARD_DIGITS)} (Table 1's reduced variant removes them), "
                              "type 0 = the other digits",
                     "crowd": f"{config.bridge_workers} workers, {config.bridge_variant} skills, "
                              f"{int(config.bridge_answers_per_task) or 'all'} answers per training image",
                     "students": f"two-layer ReLU, widths {list(config.student_widths)}, plain GD (no projection), "
                                 f"symmetric init, lr {list(config.lr)}, steps {list(config.steps)}"},
        "timings": result.timings})
    return rows, summary
