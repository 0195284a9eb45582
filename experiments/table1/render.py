"""Tables and figures of Table 1, from results.json alone (so a report can re-render without
re-running): table1.md, table1.png (accuracy against width, both views) and regimes.png (B × T heat
maps of the matched soft − hard gap)."""
from __future__ import annotations

import math

import numpy as np

from experiments import common
from experiments.table1.analysis import B_label


def _pct(mean, std=None):
    return common.percent(mean, std, digits=2)


def _gap(g):
    """+0.40 [−0.20, +1.00]* : mean paired gap in points, Holm-level interval, * = Holm-significant."""
    return common.gap_points(g, digits=2, missing_interval=" [n/a]")


def _cell(t) -> str:
    """A table cell: mean ± std of the report seeds, or what happened when every run diverged."""
    if t is None:
        return "n/a"
    if not t["n_seeds"] and t.get("n_diverged"):
        return f"diverged ({t['n_diverged']} of {t['n_diverged']})"
    text = _pct(t["test_acc_mean"], t["test_acc_std"])
    return text + (f" ({t['n_diverged']} diverged)" if t.get("n_diverged") else "")


def _teacher_accuracy(results) -> dict:
    """{dataset: the teachers' mean test accuracy}."""
    acc = {}
    for t in results["teacher"]:
        acc.setdefault(t["dataset"], []).append(t["test_acc"])
    return {ds: float(np.mean(v)) for ds, v in acc.items()}


def _ordered_datasets(results):
    return sorted(results["grid"]["datasets"], key=lambda d: d != "reduced")  # reduced first, as in the paper


def headline_markdown(results) -> str:
    """The paper's layout: per dataset the teacher, then per width hard, soft and the paired gap, for
    each label type at its own validation-chosen regime; the unconstrained students (plain GD) and,
    for MNIST, the paper's numbers beside."""
    widths = sorted(results["grid"]["widths"], reverse=True)
    p = results["protocol"]
    head = ("| dataset | view | teacher | "
            + " | ".join(f"m={m} hard | m={m} soft | m={m} soft − hard" for m in widths) + " |")
    n_teachers = p.get("teachers", 1)
    lines = [f"# Table 1 ({results['source']}): each label type at its own validation-chosen setting", "",
             f"Test accuracy (%) of the report seeds ({n_teachers} teacher(s), each with its own students), mean ± "
             "std over the runs that did not diverge; settings (lr, B, steps, T) chosen per cell on the validation "
             "accuracy of the selection seeds "
             f"({p['select_train_set']}). soft − hard: mean paired gap in points [Holm-level "
             f"interval over the cells of its view], * = significant after Holm over those cells. 'unconstrained' = "
             "plain GD (B = none), its own lr and steps chosen the same way.", "", head,
             "|" + "---|" * (3 + 3 * len(widths))]
    teacher = _teacher_accuracy(results)
    cell = {(t["view"], t["dataset"], t["width"], t["label"]): t for t in results["table"]}
    gap = {(g["view"], g["dataset"], g["width"]): g for g in results["gaps"]}
    for ds in _ordered_datasets(results):
        for view, name in (("own_best", "own best regime"), ("unconstrained", "unconstrained")):
            parts = [ds, name, _pct(teacher.get(ds)) if view == "own_best" else ""]
            for m in widths:
                for label in ("hard", "soft"):
                    parts.append(_cell(cell.get((view, ds, m, label))))
                parts.append(_gap(gap.get((view, ds, m))))
            lines.append("| " + " | ".join(parts) + " |")
        paper = results["paper"].get(ds)
        if paper and results["source"] == "MNIST":
            parts = [ds, "paper (MNIST)", f"{paper['teacher']:.2f}"]
            for m in widths:
                h, s = paper.get(f"m={m} hard"), paper.get(f"m={m} soft")
                parts += [f"{h:.2f}" if h else "n/a", f"{s:.2f}" if s else "n/a",
                          f"{s - h:+.2f}" if h and s else "n/a"]
            lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines)


def chosen_markdown(results) -> str:
    lines = ["| dataset | m | view | label | lr | B | T | steps | validation acc (select seeds) | "
             "test acc (report seeds) | share of runs whose ball binds |", "|" + "---|" * 11]
    for t in sorted(results["table"], key=lambda t: (t["dataset"], t["width"], t["view"], t["label"])):
        T = "" if t["temperature"] is None else f"{t['temperature']:g}"
        lines.append(f"| {t['dataset']} | {t['width']} | {t['view']} | {t['label']} | {t['lr']:g} | "
                     f"{B_label(t['B'])} | {T} | {t['steps']} | {_pct(t['select_val_acc'])} | "
                     f"{_pct(t['test_acc_mean'], t['test_acc_std'])} | {t['binds']:.2f} |")
    return "\n".join(lines)


def matched_markdown(results) -> str:
    """Per regime (lr, B, T, steps): the matched gap in every (dataset, width) cell (* = significant
    after Holm over the whole grid), the share of hard runs whose ball binds, wins and losses."""
    datasets, widths = results["grid"]["datasets"], sorted(results["grid"]["widths"])
    cells = {}
    for c in results["matched"]:
        cells.setdefault((c["lr"], c["B"], c["temperature"], c["steps"]), {})[(c["dataset"], c["width"])] = c
    cols = [f"{ds} m={m}" for ds in datasets for m in widths]
    lines = ["| lr | B | T | steps | " + " | ".join(cols) + " | hard binds | soft wins / losses (Holm) |",
             "|" + "---|" * (6 + len(cols))]
    order = sorted(cells, key=lambda k: (k[0], math.inf if k[1] is None else k[1], k[2], k[3]))
    for lr, B, T, steps in order:
        row = cells[(lr, B, T, steps)]
        gaps = []
        for ds in datasets:
            for m in widths:
                c = row.get((ds, m))
                gaps.append("n/a" if c is None else f"{100 * c['gap_mean']:+.2f}{'*' if c['significant'] else ''}")
        binds = [c["hard_binds"] for c in row.values() if c.get("hard_binds") is not None]
        wins = sum(c["significant"] and c["gap_mean"] > 0 for c in row.values())
        losses = sum(c["significant"] and c["gap_mean"] < 0 for c in row.values())
        lines.append(f"| {lr:g} | {B_label(B)} | {T:g} | {steps} | " + " | ".join(gaps)
                     + f" | {np.mean(binds) if binds else float('nan'):.2f} | {wins} / {losses} |")
    return "\n".join(lines)


def plot_table1(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    datasets = _ordered_datasets(results)
    widths = sorted(results["grid"]["widths"])
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4.2), sharey=True, squeeze=False)
    teacher = _teacher_accuracy(results)
    styles = {("own_best", "hard"): ("tab:red", "-", "s", -0.09), ("own_best", "soft"): ("tab:blue", "-", "o", -0.03),
              ("unconstrained", "hard"): ("tab:red", ":", "s", 0.03),
              ("unconstrained", "soft"): ("tab:blue", ":", "o", 0.09)}
    for ax, ds in zip(axes[0], datasets):
        for (view, label), (color, ls, marker, shift) in styles.items():
            pts = sorted((t["width"], t["test_acc_mean"], t["test_acc_std"], t["n_seeds"]) for t in results["table"]
                         if t["dataset"] == ds and t["view"] == view and t["label"] == label and t["n_seeds"])
            if not pts:
                continue
            w, mu, sd, n = map(np.asarray, zip(*pts))
            ax.errorbar(w + shift, 100 * mu, yerr=100 * np.nan_to_num(sd), marker=marker, ls=ls, capsize=3, color=color,
                        mfc=color if view == "own_best" else "white",
                        label=f"{label}, {'own best regime' if view == 'own_best' else 'plain GD'} ({n.min()} seeds)")
        ax.axhline(100 * teacher[ds], ls="--", color="gray", lw=1, label="teacher")
        paper = results["paper"].get(ds)
        if paper and results["source"] == "MNIST":
            for label, color in (("hard", "tab:red"), ("soft", "tab:blue")):
                pw = [m for m in widths if f"m={m} {label}" in paper]
                ax.plot(pw, [paper[f"m={m} {label}"] for m in pw], "x", color=color, ms=9, mew=2,
                        label=f"paper, {label}")
        ax.set_title(ds)
        ax.set_xlabel("student width m (neurons)")
        ax.set_xticks(widths)
        ax.set_xlim(min(widths) - 1, max(widths) + 1)   # the markers' offsets (±0.09) read as offsets, even at one width
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%), report seeds, mean ± std")
    axes[0][-1].legend(loc="lower right", fontsize=7)
    fig.suptitle(f"Soft vs hard labels, digit > 4 ({results['source']}): regimes chosen on validation data",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_regimes(results):
    """One panel per (dataset, width): rows B, columns (lr, T), colour = matched soft − hard gap at the
    longest training; * = Holm-significant, ▲ in the corner = most hard runs' balls bind."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    datasets, widths = _ordered_datasets(results), sorted(results["grid"]["widths"])
    steps = max(results["grid"]["steps"])
    cells = [c for c in results["matched"] if c["steps"] == steps]
    Bs = sorted({c["B"] for c in cells}, key=lambda b: math.inf if b is None else b)
    cols = sorted({(c["lr"], c["temperature"]) for c in cells})
    vmax = max([abs(100 * c["gap_mean"]) for c in cells] + [0.5])
    fig, axes = plt.subplots(len(datasets), len(widths), figsize=(2.1 + 1.0 * len(cols) * len(widths),
                                                                  1.2 + 0.42 * len(Bs) * len(datasets)),
                             squeeze=False, sharex=True, sharey=True)
    image = None
    for i, ds in enumerate(datasets):
        for j, m in enumerate(widths):
            ax = axes[i][j]
            grid = np.full((len(Bs), len(cols)), np.nan)
            for c in cells:
                if c["dataset"] == ds and c["width"] == m:
                    r, k = Bs.index(c["B"]), cols.index((c["lr"], c["temperature"]))
                    grid[r, k] = 100 * c["gap_mean"]
                    text = f"{100 * c['gap_mean']:+.1f}{'*' if c['significant'] else ''}"
                    ax.text(k, r, text, ha="center", va="center", fontsize=6.5)
                    if (c.get("hard_binds") or 0) >= 0.5:  # a small corner mark keeps the numbers legible
                        ax.plot(k - 0.4, r - 0.3, marker="^", ms=3.5, color="0.25", ls="none")
            image = ax.imshow(grid, cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
            ax.set_title(f"{ds}, m={m}", fontsize=8)
            ax.set_xticks(range(len(cols)))
            ax.set_xticklabels([f"lr={lr:g}\nT={T:g}" for lr, T in cols], fontsize=6)
            ax.set_yticks(range(len(Bs)))
            ax.set_yticklabels([f"B={B_label(b)}" for b in Bs], fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.8, label="soft − hard test accuracy (points)")
    fig.suptitle(f"Matched regimes at {steps} steps: soft − hard, paired by seed "
                 f"(blue: soft better; * Holm-significant; ▲ the ball binds for most hard runs)", fontsize=8)
    return fig


def render(results, out) -> list[str]:
    """Write table1.md, table1.png and regimes.png; return their names."""
    p = results["protocol"]
    teacher_lines = [f"- {t['dataset']}: teacher {t['teacher']} ({t['kind']}) test {_pct(t['test_acc'])}%, validation "
                     f"{_pct(t['val_acc'])}%; soft labels in (0.01, 0.99) by T: "
                     + ", ".join(f"T={T}: {100 * v:.0f}%" for T, v in t["fraction_soft_labels_in_0.01_0.99"].items())
                     + ("; mean distance from its hard labels by T: "
                        + ", ".join(f"T={T}: {v:.4f}" for T, v in t["label_softness"].items())
                        if "label_softness" in t else "")
                     + f"; n = {t['n_train']} train ({t['n_select_train']} for selection) / {t['n_val']} validation / "
                       f"{t['n_test']} test" for t in results["teacher"]]
    md = [headline_markdown(results), "", common.verdict_markdown(results, "Verdict (the headline cell)")]
    if results.get("interaction_verdict"):
        md.append(common.verdict_markdown(results["interaction_verdict"], "Verdict (the gap grows with difficulty)"))
    spread = [s for s in results.get("teacher_spread", []) if s["view"] == "own_best" and len(s["teacher_gaps"]) > 1]
    if spread:
        md += ["## Spread across teachers", "", "| dataset | m | gap per teacher (points) | std across teachers | "
               "mean std across seeds (within a teacher) |", "|---|---|---|---|---|"]
        md += [f"| {s['dataset']} | {s['width']} | {', '.join(f'{100 * g:+.2f}' for g in s['teacher_gaps'])} | "
               f"{100 * s['across_teachers_std']:.2f} | {100 * s['within_teacher_seed_std']:.2f} |" for s in spread]
        md.append("")
    md += ["## Teachers", "", *teacher_lines, "",
          "## The chosen regimes", "", chosen_markdown(results), "",
          "## Matched regimes: soft − hard at the same (lr, B, steps)", "",
          f"Mean paired gap (points) per cell; source: {p['matched_source']}. * = significant after Holm over all "
          f"{len(results['matched'])} cells (α from the config). 'hard binds' = share of hard runs whose ball is "
          f"active at the end ({p['bind_rule']}).", "", matched_markdown(results), ""]
    if results["n_diverged"]:
        md.append(f"**{results['n_diverged']} run checkpoints diverged** (non-finite parameters or outputs, or an "
                  "accuracy outside [0, 1]); they are counted and left out of every mean and test (results.json: "
                  "diverged_runs).")
    out.write_text("table1.md", "\n".join(md))
    out.save_figure("table1.png", plot_table1(results))
    out.save_figure("regimes.png", plot_regimes(results))
    return ["table1.md", "table1.png", "regimes.png"]
