"""Table 1 of Mandal, Lin & Srikant (2024), with a sweep over the training regime.

A wide teacher per dataset gives soft labels σ(f/T); students of a few neurons train on hard labels
or on those soft labels with projected GD. Every (dataset, width, label, temperature, seed, lr, B)
run, with the steps as checkpoints, is handed to the sweep engine as one grid.
"""
from __future__ import annotations

import math
import sys
from collections import defaultdict

import numpy as np

from experiments import common
from kd_theory import data, losses, nets, sweep, teachers

SUMMARY_METRICS = ("test_acc", "train_acc", "avg_train_loss", "avg_train_error")
REGIME_KEYS = ("lr", "B", "temperature", "steps")


def validate(config):
    datasets = tuple(config.datasets) if isinstance(config.datasets, (tuple, list)) else (config.datasets,)
    common.check(len(datasets) > 0 and set(datasets) <= set(data.DIGIT_VARIANTS)
                 and len(set(datasets)) == len(datasets), "datasets", config.datasets,
                 f"a tuple of distinct names from {data.DIGIT_VARIANTS}, e.g. ('full',)")
    common.check(config.init in nets.INIT_SCHEMES, "init", config.init, ", ".join(nets.INIT_SCHEMES))
    common.check_positive_ints(config, "student_widths", even=config.init == "symmetric",
                               even_hint="; use --config.init=standard for odd widths")
    common.check_positive_ints(config, "seeds")
    common.check_positive_ints(config, "steps")
    common.check_positive_ints(config, "teacher_width", even=True, even_hint=" (the teacher is always symmetric)")
    common.check_positive_ints(config, "kernel_teacher_gates")
    common.check(isinstance(config.seed, int) and config.seed >= 0, "seed", config.seed, "an integer ≥ 0")
    common.check_positive_ints(config, "teacher_steps")
    common.check_positive_floats(config, "lr")
    common.check_positive_floats(config, "B", allow_zero=True)
    common.check_positive_floats(config, "temperature")
    common.check_positive_floats(config, "teacher_lr")
    common.check(config.teacher in teachers.TEACHER_KINDS, "teacher", config.teacher,
                 ", ".join(teachers.TEACHER_KINDS))
    common.check(config.teacher_optimizer in ("adam", "sgd"), "teacher_optimizer", config.teacher_optimizer,
                 "adam, sgd")
    common.check(config.teacher_batch_size >= 0, "teacher_batch_size", config.teacher_batch_size,
                 "0 (full batch) or a positive batch size")
    common.check(0 < config.test_fraction < 1, "test_fraction", config.test_fraction, "a number in (0, 1)")
    common.check(config.dtype in ("float32", "float64"), "dtype", config.dtype, "float32, float64")
    common.check(config.memory_budget_gb >= 0, "memory_budget_gb", config.memory_budget_gb,
                 "0 (automatic) or a positive number of GiB")
    common.check_executor(config)
    common.check(config.teacher != "kernel" or tuple(config.temperature) == (1.0,), "temperature",
                 config.temperature, "(1.0,) with --config.teacher=kernel: the kernel-limit teacher has no "
                 "temperature (also set --config.table_temperature=1.0)")
    for key, grid_key in (("table_lr", "lr"), ("table_B", "B"), ("table_temperature", "temperature"),
                          ("table_steps", "steps")):
        common.check(config[key] in tuple(config[grid_key]), key, config[key],
                     f"one of --config.{grid_key}={tuple(config[grid_key])}")


def load_datasets(config) -> dict:
    if config.data_dir:
        return {v: data.mnist_task(config.data_dir, v, center=config.center) for v in config.datasets}
    return {v: data.digits_task(v, config.test_fraction, config.split_seed, center=config.center)
            for v in config.datasets}


def teacher_logits(config, variant: str, ds: data.Dataset):
    """The teacher's logits on the train and test inputs. Key: fold_in(PRNGKey(seed), 2³⁰ + i) with i
    the variant's index in data.DIGIT_VARIANTS, so a data set's teacher does not depend on which
    other data sets run beside it."""
    import jax
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 2**30 + data.DIGIT_VARIANTS.index(variant))
    if config.teacher == "kernel":
        from kd_theory import margin
        both = np.concatenate([ds.X_train, ds.X_test])
        z = np.asarray(margin.kernel_teacher_logits(ds.X_train, ds.y_train, both,
                                                    num_gates=config.kernel_teacher_gates, key=key))
        return z[:len(ds.X_train)], z[len(ds.X_train):]
    params = teachers.train_network_teacher(key, ds.X_train, ds.y_train, width=config.teacher_width,
                                            steps=config.teacher_steps, learning_rate=config.teacher_lr,
                                            optimizer=config.teacher_optimizer,
                                            batch_size=config.teacher_batch_size or None)
    return np.asarray(nets.apply(params, ds.X_train)), np.asarray(nets.apply(params, ds.X_test))


def run_B(config_B: float):
    """The config's B (0 = plain GD) as the engine's B (None = no projection)."""
    return None if config_B == 0 else float(config_B)


def B_label(B) -> str:
    return "none" if B is None else f"{B:g}"


def soft_target_name(temperature: float) -> str:
    return f"soft@T={temperature:g}"


def build_grid(config, datasets: dict):
    """Tasks (targets: hard and one soft target per temperature) and the list of runs."""
    tasks, teacher_rows = {}, []
    for name, ds in datasets.items():
        f_train, f_test = teacher_logits(config, name, ds)
        targets = {"hard": np.asarray(losses.hard_target(ds.y_train))}
        for T in config.temperature:
            targets[soft_target_name(T)] = np.asarray(teachers.soft_labels(f_train, T))
        tasks[name] = sweep.Task(ds.X_train, ds.y_train, ds.X_test, ds.y_test, targets)
        # how soft the soft labels are: saturated teachers give p ∈ {0, 1}, i.e. hard labels again
        softness = {f"{T:g}": float(np.mean(np.minimum(targets[soft_target_name(T)],
                                                        1 - targets[soft_target_name(T)]) > 0.01))
                    for T in config.temperature}
        teacher_rows.append({"dataset": name, "kind": config.teacher,
                             "test_acc": float(losses.accuracy(f_test, ds.y_test)),
                             "train_acc": float(losses.accuracy(f_train, ds.y_train)),
                             "median_abs_logit": float(np.median(np.abs(f_train))),
                             "fraction_soft_labels_in_0.01_0.99": softness,
                             "n_train": len(ds.y_train), "n_test": len(ds.y_test)})
    labels = [("hard", None)] + [("soft", float(T)) for T in config.temperature]
    runs = [sweep.Run(name, int(m), "hard" if T is None else soft_target_name(T), s, float(lr),
                      run_B(B), (("label", label), ("temperature", T)))
            for name in datasets for m in config.student_widths for label, T in labels
            for s in range(config.seeds) for lr in config.lr for B in config.B]
    return tasks, runs, teacher_rows


def paired_gaps(rows):
    """soft − hard test accuracy per (dataset, width, lr, B, steps, temperature), paired by seed
    (hard and soft runs of a seed share their initialisation)."""
    hard = {(r["dataset"], r["width"], r["lr"], r["B"], r["steps"], r["seed"]): r["test_acc"]
            for r in rows if r["label"] == "hard" and r["finite"]}
    diffs = defaultdict(list)
    for r in rows:
        if r["label"] == "soft" and r["finite"]:
            k = (r["dataset"], r["width"], r["lr"], r["B"], r["steps"], r["seed"])
            if k in hard:
                diffs[(r["dataset"], r["width"], r["lr"], r["B"], r["temperature"], r["steps"])].append(
                    r["test_acc"] - hard[k])
    out = []
    for (ds, m, lr, B, T, steps), d in sorted(diffs.items(), key=lambda kv: str(kv[0])):
        mean, std = common.mean_std(d)
        out.append({"dataset": ds, "width": m, "lr": lr, "B": B, "temperature": T, "steps": steps,
                    "gap_mean": mean, "gap_se": std / math.sqrt(len(d)), "n_seeds": len(d)})
    return out


def regime_summary(gaps, widths, datasets):
    """Per regime (lr, B, T, steps): the gap at each (dataset, width) and whether soft wins."""
    by_regime = defaultdict(dict)
    for g in gaps:
        by_regime[(g["lr"], g["B"], g["temperature"], g["steps"])][(g["dataset"], g["width"])] = g
    out = []
    for (lr, B, T, steps), cells in by_regime.items():
        entry = {"lr": lr, "B": B, "temperature": T, "steps": steps}
        wins = 0
        for ds in datasets:
            for m in widths:
                g = cells.get((ds, m))
                entry[f"gap_{ds}_m{m}"] = None if g is None else g["gap_mean"]
                wins += g is not None and g["gap_mean"] - 2 * g["gap_se"] > 0
            vals = [cells[(ds, m)]["gap_mean"] for m in widths if (ds, m) in cells]
            entry[f"gap_{ds}_mean"] = float(np.mean(vals)) if vals else None
        entry["significant_soft_wins"] = int(wins)
        entry["cells"] = len(datasets) * len(widths)
        entry["gap_mean"] = float(np.mean([c["gap_mean"] for c in cells.values()]))
        out.append(entry)
    return sorted(out, key=lambda e: -e["gap_mean"])


def fmt_pct(mean, std):
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def table1_markdown(summary, teacher_rows, config):
    widths = sorted(config.student_widths, reverse=True)
    head = "| dataset | teacher | " + " | ".join(f"m={m} hard | m={m} soft" for m in widths) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(widths))]
    teacher = {t["dataset"]: t["test_acc"] for t in teacher_rows}
    cell = {(s["dataset"], s["width"], s["label"]): s for s in summary}
    for ds in sorted(config.datasets, key=lambda d: d != "reduced"):  # reduced first, as in the paper
        parts = [ds, f"{100 * teacher[ds]:.2f}"]
        for m in widths:
            for label in ("hard", "soft"):
                s = cell.get((ds, m, label))
                parts.append("n/a" if s is None else fmt_pct(s["test_acc_mean"], s["test_acc_std"]))
        lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines)


def regimes_markdown(regimes, config):
    widths = sorted(config.student_widths)
    cols = [f"{ds} m={m}" for ds in config.datasets for m in widths]
    lines = ["| lr | B | T | steps | " + " | ".join(cols) + " | mean | soft wins (2 s.e.) |",
             "|" + "---|" * (6 + len(cols))]
    for e in regimes:
        gaps = [e[f"gap_{ds}_m{m}"] for ds in config.datasets for m in widths]
        lines.append(f"| {e['lr']:g} | {B_label(e['B'])} | {e['temperature']:g} | "
                     f"{e['steps']} | " + " | ".join("n/a" if g is None else f"{100 * g:+.2f}" for g in gaps)
                     + f" | {100 * e['gap_mean']:+.2f} | {e['significant_soft_wins']}/{e['cells']} |")
    return "\n".join(lines)


def plot_table1(summary, teacher_rows, config, regime_label):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(config.datasets), figsize=(5 * len(config.datasets), 4), sharey=True,
                             squeeze=False)
    teacher = {t["dataset"]: t["test_acc"] for t in teacher_rows}
    for ax, ds in zip(axes[0], config.datasets):
        for label, color, shift, marker in (("hard", "tab:red", -0.06, "s"), ("soft", "tab:blue", 0.06, "o")):
            pts = sorted((s["width"], s["test_acc_mean"], s["test_acc_std"], s["n_seeds"]) for s in summary
                         if s["dataset"] == ds and s["label"] == label)
            if pts:  # hard and soft drawn side by side so that equal values stay visible
                w, mu, sd, n = map(np.asarray, zip(*pts))
                ax.errorbar(w + shift, 100 * mu, yerr=100 * sd, marker=marker, capsize=4, color=color,
                            label=f"{label} labels ({n.min()} seeds)")
        ax.axhline(100 * teacher[ds], ls="--", color="gray", label=f"teacher ({config.teacher_width} neurons)")
        ax.set_title(f"{ds}")
        ax.set_xlabel("student width m (neurons)")
        ax.set_xticks(sorted(config.student_widths))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)  mean ± std over seeds")
    axes[0][0].legend(loc="lower right")
    fig.suptitle(f"Soft vs hard labels, digit > 4 ({'MNIST' if config.data_dir else 'sklearn digits 8×8'}); "
                 f"{regime_label}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_regimes(gaps, config):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    m = min(config.student_widths)
    regime = lambda g: (g["lr"], g["B"] if g["B"] is not None else 0.0, g["temperature"], g["steps"])  # sortable
    regimes = sorted({regime(g) for g in gaps})
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(regimes) + 1.5))
    y = np.arange(len(regimes))
    for k, (ds, color) in enumerate(zip(config.datasets, ("tab:purple", "tab:green", "tab:orange"))):
        cell = {regime(g): g for g in gaps if g["dataset"] == ds and g["width"] == m}
        mu = np.array([100 * cell[r]["gap_mean"] if r in cell else np.nan for r in regimes])
        se = np.array([100 * cell[r]["gap_se"] if r in cell else np.nan for r in regimes])
        ax.errorbar(mu, y + (k - 0.5) * 0.3, xerr=2 * se, fmt="o", color=color, capsize=2, label=f"{ds}")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"lr={lr:g} B={B_label(run_B(B))} T={T:g} steps={s}"
                        for lr, B, T, s in regimes], fontsize=7)
    ax.set_xlabel(f"soft − hard test accuracy at m={m} (points; ± 2 s.e., paired by seed)")
    ax.set_title("Where soft labels beat hard labels")
    ax.legend()
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def run(config, out):
    datasets = load_datasets(config)
    tasks, runs, teacher_rows = build_grid(config, datasets)
    for t in teacher_rows:
        print(f"teacher on {t['dataset']}: test accuracy {100 * t['test_acc']:.2f}%, median |logit| "
              f"{t['median_abs_logit']:.1f}, share of soft labels in (0.01, 0.99) by temperature: "
              f"{t['fraction_soft_labels_in_0.01_0.99']}", file=sys.stderr)
    options = sweep.EngineOptions(steps=tuple(config.steps), init=config.init,
                                  train_output_layer=config.train_output_layer, dtype=config.dtype,
                                  base_seed=config.seed)
    result = sweep.run_sweep(runs, tasks, options, out_dir=out.path,
                             memory_budget_gb=config.memory_budget_gb or None,
                             executor=common.executor_from_config(config, out.path), progress=config.progress)
    rows = result.rows
    nonfinite = [{k: r[k] for k in ("dataset", "width", "label", "temperature", "seed", "lr", "B", "steps")}
                 for r in rows if not r["finite"]]
    for r in nonfinite:
        print(f"warning: non-finite loss in run {r}; left out of the means", file=sys.stderr)

    keys = ("dataset", "width", "label", "temperature", "lr", "B", "steps")
    summary = common.summarise(rows, keys, SUMMARY_METRICS)
    gaps = paired_gaps(rows)
    regimes = regime_summary(gaps, sorted(config.student_widths), list(config.datasets))
    B_table = run_B(config.table_B)
    in_table = lambda s: (s["lr"] == config.table_lr and s["B"] == B_table and s["steps"] == config.table_steps
                          and (s["label"] == "hard" or s["temperature"] == config.table_temperature))
    table = [s for s in summary if in_table(s)]
    regime_label = (f"lr={config.table_lr:g}, B={B_label(B_table)}, "
                    f"T={config.table_temperature:g}, steps={config.table_steps}")

    results = {"experiment": "table1", "rows": summary, "teacher": teacher_rows,
               "table_regime": {"lr": config.table_lr, "B": B_table, "temperature": config.table_temperature,
                                "steps": config.table_steps},
               "table": table, "gaps": gaps, "regimes": regimes, "nonfinite_runs": nonfinite,
               "n_runs": len(runs), "timings": result.timings}
    md = [f"# Table 1: soft vs hard labels ({regime_label})", "",
          "Test accuracy (%), mean ± std over seeds.", "", table1_markdown(table, teacher_rows, config), "",
          "# Soft − hard test accuracy in every regime (points, mean over seeds, paired)", "",
          regimes_markdown(regimes, config), ""]
    if nonfinite:
        md += [f"**{len(nonfinite)} runs had a non-finite loss** and are left out: see results.json."]
    out.write_csv("runs.csv", rows)
    out.write_json("results.json", results)
    out.write_text("table1.md", "\n".join(md))
    out.save_figure("table1.png", plot_table1(table, teacher_rows, config, regime_label))
    out.save_figure("regimes.png", plot_regimes(gaps, config))
    print("\n".join(md[:5]))
    print(f"wrote {out.path}: runs.csv results.json table1.md table1.png regimes.png config.json "
          f"({len(runs)} runs, {result.timings['total_s']:.1f}s)", file=sys.stderr)
