"""Part 3, the bridge to distillation [ours]: students trained on crowd labels of the digits.

Data: scikit-learn's 8×8 digits, the binary task "digit > 4" (Table 1's task), train / validation / test
split as :func:`kd_theory.data.digits_task` does with the "split" stream (index "digits": Table 1's
split). **Task type from the data** [ours]: type 1 ("hard") = the digits 1, 4, 7, 9 — the ones Table 1's
*reduced* variant removes (4↔9 and 1↔7 are the confusable pairs across the > 4 boundary); type 0 = the
other six digits. Both types hold both labels.

Crowd of seed s: ``bridge_workers`` one-coin workers with two-type skills (``bridge_variant``) label the
training images (``bridge_answers_per_task`` each, None = all workers); its key is the "crowd" stream at
index ("bridge", s), its partition's the "partition" stream at the same index. Validation and test images
keep their gold labels (validation chooses lr and steps).

Training targets t ∈ [0, 1] (the probability of "digit > 4"), each a :class:`kd_theory.protocol.Target`
(``targets.hard`` for gold, ``targets.crowd`` for the rest):
  gold            the true labels (reference)
  MV_hard         majority vote, ties to the lowest label ("≤ 4")
  MV_soft         the vote share of "> 4"
  A_hard, A_soft  the aggregator A (``bridge_aggregator``, DS by default): its label / its posterior
  types+A_hard/_soft  the same after the spectral task-type partition (A per type)
Students of seed s (two-layer ReLU nets through the engine, plain GD, symmetric init) use the crowd of
seed s and the init of seed s for every target, so gaps are paired by seed. Selection, report and gaps go
through :mod:`kd_theory.protocol.selection`: (lr, steps) chosen per (width, target) on the validation
accuracy of the selection seeds, the test accuracy of the report seeds reported, gaps Holm-corrected.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.common import seed_sets
from kd_theory import data, rng, sweep
from kd_theory.crowd import MajorityVote, TaskTypeAware, partition_tasks, simulate_answers, type_recovery
from kd_theory.crowd.evaluation import make_aggregator
from kd_theory.crowd.simulate import one_coin_confusion_matrices, two_type_skills
from kd_theory.progress import bar
from kd_theory.protocol import EngineConfig, Task, selection, targets

HARD_DIGITS = data.REDUCED_REMOVED_DIGITS
GROUP_KEYS = ("width", "target")
SETTING_KEYS = ("lr", "steps")


def target_names(aggregator: str) -> tuple[str, ...]:
    return ("gold", "MV_hard", "MV_soft", f"{aggregator}_hard", f"{aggregator}_soft",
            f"types+{aggregator}_hard", f"types+{aggregator}_soft")


def comparisons(aggregator: str) -> tuple[tuple[str, str], ...]:
    """(treatment, baseline) targets reported as paired gaps."""
    a, t = aggregator, f"types+{aggregator}"
    return ((f"{a}_soft", f"{a}_hard"), (f"{a}_soft", "MV_hard"), (f"{a}_hard", "MV_hard"),
            (f"{t}_soft", f"{t}_hard"), (f"{t}_soft", f"{a}_soft"), (f"{t}_hard", f"{a}_hard"),
            ("MV_soft", "MV_hard"), ("gold", f"{a}_soft"))


def digits_with_types(config) -> tuple[data.Dataset, np.ndarray]:
    """The binary digits task (labels ±1: digit > 4) and the type of every training image (1 = digit in
    1, 4, 7, 9). The 10-class split supplies the digits; its images and split are the binary task's."""
    split = rng.stream_seed(config.seed, "split", "digits")
    ten = data.digits_task("full", config.test_fraction, split, center=True, val_fraction=config.val_fraction,
                           num_classes=10)
    binary = lambda digits: np.where(digits > 4, 1.0, -1.0).astype(np.float32)  # noqa: E731
    ds = data.Dataset("digits-full", ten.X_train, binary(ten.y_train), ten.X_test, binary(ten.y_test),
                      dict(ten.info, task="digit > 4"), ten.X_val, binary(ten.y_val), num_classes=2)
    return ds, np.isin(ten.y_train, HARD_DIGITS).astype(np.int64)


def probability_of_positive(probas: pd.DataFrame, n_tasks: int) -> np.ndarray:
    """P(label index 1 = "> 4") per task 0..n−1 from a task × label frame (a label nobody gave has 0)."""
    return probas.reindex(index=range(n_tasks), columns=[0, 1], fill_value=0.0)[1].to_numpy(np.float32)


def crowd_posteriors(config, y_train: np.ndarray, types: np.ndarray, seed: int) -> tuple[dict, dict]:
    """P("> 4") per training image from the crowd of ``seed``: {"MV", A, "types+A"}, and that crowd's
    summary (the partition's type recovery, the workers' mean skills)."""
    import jax
    index = ("bridge", int(seed))
    skill_key, answer_key = jax.random.split(rng.stream_key(config.seed, "crowd", *index))
    n_workers = int(config.bridge_workers)
    skills = two_type_skills(skill_key, n_workers, config.bridge_variant)
    truth = (y_train > 0).astype(np.int64)
    per_task = n_workers if config.bridge_answers_per_task is None else int(config.bridge_answers_per_task)
    crowd = simulate_answers(answer_key, one_coin_confusion_matrices(skills, 2), types, truth, per_task, skills)
    answers, n = crowd.answers(), len(y_train)
    found = partition_tasks(crowd.matrix, seed=rng.stream_seed(config.seed, "partition", *index))
    agg = config.bridge_aggregator
    found_types = pd.Series(found, index=crowd.matrix.task_ids)
    posteriors = {
        "MV": probability_of_positive(MajorityVote().fit_predict_proba(answers), n),
        agg: probability_of_positive(make_aggregator(agg).fit_predict_proba(answers), n),
        f"types+{agg}": probability_of_positive(
            TaskTypeAware(make_aggregator(agg), types=found_types).fit_predict_proba(answers), n)}
    return posteriors, {"seed": int(seed), "type_recovery": type_recovery(found, types),
                        "worker_skills_mean": np.asarray(skills).mean(axis=1).tolist()}


def crowd_task(config, ds: data.Dataset, types: np.ndarray, seed: int) -> tuple[Task, dict]:
    """The task of seed ``seed``: the digits with gold and this crowd's targets, and the crowd's summary with
    the quality of each target on the training images (label accuracy, mean probability on the truth)."""
    posteriors, summary = crowd_posteriors(config, ds.y_train, types, seed)
    made = [targets.hard(ds, name="gold")]
    for source, p in posteriors.items():
        made += [targets.crowd(f"{source}_hard", p, source, hard_label=True), targets.crowd(f"{source}_soft", p,
                                                                                            source)]
    task = Task.build(ds, made, name=f"crowd{seed}")
    gold = task.targets["gold"].values
    quality = {}
    for name, t in task.targets.items():
        label = (t.values > 0.5).astype(np.float32)
        quality[name] = {"label_acc": float(np.mean(label == gold)),
                         "mass_on_truth": float(np.mean(t.values * gold + (1 - t.values) * (1 - gold))),
                         "label_acc_by_type": [float(np.mean(label[types == g] == gold[types == g])) for g in (0, 1)]}
    return task, dict(summary, targets=quality)


def build(config) -> tuple[dict, list, list, dict]:
    """(tasks, runs, crowd summaries, data info): one task per seed (its own crowd), every target × lr ×
    width run on it."""
    ds, types = digits_with_types(config)
    select, report = seed_sets(config)
    tasks, runs, crowds = {}, [], []
    for seed in bar(list(select) + list(report), "bridge crowds", enabled=bool(config.engine.progress)):
        task, summary = crowd_task(config, ds, types, seed)
        tasks[task.name] = task
        role = selection.SELECT if seed in select else selection.REPORT
        crowds.append(dict(summary, role=role))
        runs += [sweep.Run(task.name, int(m), target, seed, float(lr), None, (("role", role),))
                 for m in config.student_widths for target in target_names(config.bridge_aggregator)
                 for lr in config.lr]
    info = dict(ds.info, n_hard_type=int(types.sum()), hard_digits=list(HARD_DIGITS),
                **next(iter(tasks.values())).split_sizes())
    return tasks, runs, crowds, info


def tie_break(s) -> tuple:
    """Among settings of equal validation accuracy: fewer steps, then a smaller lr."""
    return (s["steps"], s["lr"])


def analyse(rows: list[dict], crowds: list[dict], config) -> dict:
    """Chosen (lr, steps) per (width, target) on the selection seeds' validation accuracy; the report seeds'
    test accuracy there; the paired gaps of :func:`comparisons`, Holm over all of them."""
    from kd_theory import stats
    aggregator = config.bridge_aggregator
    chosen = selection.choose(rows, group_keys=GROUP_KEYS, setting_keys=SETTING_KEYS, tie_break=tie_break)
    reported = selection.report(rows, chosen, group_keys=GROUP_KEYS, setting_keys=SETTING_KEYS,
                                metrics=("test_acc", "val_acc"))
    order = target_names(aggregator)
    table = []
    for (m, target), c in sorted(chosen.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        s = reported.get((m, target))
        if s is None:
            continue
        table.append({"width": m, "target": target, "lr": c["lr"], "steps": c["steps"],
                      "select_val_acc": c["val_acc_mean"], "test_acc_mean": s["test_acc_mean"],
                      "test_acc_std": s["test_acc_std"], "n_seeds": s["n_seeds"], "n_diverged": s["n_diverged"]})
    pairs = [((m, t), (m, b)) for m in config.student_widths for t, b in comparisons(aggregator)]
    cells = selection.compare(rows, chosen, pairs, group_keys=GROUP_KEYS, setting_keys=SETTING_KEYS,
                              alpha=config.alpha, over="seeds (crowd and init)")
    gaps = [dict(c, width=c["treatment"]["width"], treatment=c["treatment"]["target"],
                 baseline=c["baseline"]["target"]) for c in cells]
    report_crowds = [c for c in crowds if c["role"] == selection.REPORT]
    quality = {t: {k: stats.mean_std([c["targets"][t][k] for c in report_crowds])
                   for k in ("label_acc", "mass_on_truth")} for t in order}
    diverged = [{k: r[k] for k in ("width", "target", "seed", "lr", "steps", "role")} for r in rows
                if r.get("diverged")]
    return {"table": table, "gaps": gaps, "chosen": [dict(c) for c in chosen.values()], "label_quality": quality,
            "crowds": crowds, "type_recovery": stats.mean_std([c["type_recovery"] for c in crowds]),
            "diverged_runs": diverged, "n_diverged": len(diverged)}


def run_bridge(config, out_path: str) -> tuple[list, dict]:
    tasks, runs, crowds, info = build(config)
    engine = EngineConfig.from_config(config.engine)
    result = engine.run(runs, tasks, steps=tuple(config.steps), out_dir=out_path, init="symmetric",
                        base_seed=config.seed)
    rows = [dict(r, part="bridge") for r in result.rows]
    summary = analyse(rows, crowds, config)
    select, report = seed_sets(config)
    summary.update({
        "data": info, "targets": list(target_names(config.bridge_aggregator)),
        "comparisons": [list(c) for c in comparisons(config.bridge_aggregator)],
        "protocol": {"select_seeds": list(select), "report_seeds": list(report),
                     "selection": "per (width, target): the (lr, steps) with the best mean validation accuracy "
                                  "(gold validation labels) over the selection seeds; a setting that diverged on a "
                                  "selection seed is never chosen; ties → fewer steps, smaller lr",
                     "reported": "test accuracy of the report seeds at the chosen (lr, steps), mean ± std",
                     "gap_test": f"paired by seed (same crowd, same init), t-test, Holm over all gaps shown "
                                 f"(Holm-level intervals), α = {config.alpha}",
                     "types": f"type 1 = digits {list(HARD_DIGITS)} (Table 1's reduced variant removes them), "
                              "type 0 = the other digits",
                     "crowd": f"{config.bridge_workers} workers, {config.bridge_variant} skills, "
                              f"{config.bridge_answers_per_task or 'all'} answers per training image",
                     "students": f"two-layer ReLU, widths {list(config.student_widths)}, plain GD (no projection), "
                                 f"symmetric init, lr {list(config.lr)}, steps {list(config.steps)}"},
        "timings": result.timings})
    return rows, summary
