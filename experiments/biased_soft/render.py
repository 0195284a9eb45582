"""Tables and figures of the biased-soft-label experiment, from results.json alone: biased_soft.md (the two
verdicts, one table per task, the learning curve, the teachers), biased_soft.png (student accuracy against
Δ̂ + γ̂ on the largest task), delta_gamma.png (its sets in the (Δ, γ) plane) and, with several training-set
sizes, learning_curve.png."""
from __future__ import annotations

import math

from experiments import common

GENERATOR_STYLE = {  # generator -> (colour, marker, legend)
    "true": ("black", "*", "true labels"),
    "smoothing": ("tab:green", "o", "label smoothing ε"),
    "noise": ("tab:orange", "s", "Gaussian noise σ"),
    "partial": ("tab:purple", "D", "partial labels (q, r)"),
    "temperature": ("tab:blue", "^", "teacher at T"),
    "early": ("tab:cyan", "v", "teacher stopped early"),
    "sbt": ("tab:red", "P", "skillful-but-bad teacher"),
}


def _pct(mean, std=None) -> str:
    return common.percent(mean, std, digits=1)


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def reported(s) -> bool:
    """The set has a reported student (a chosen setting and a report seed that did not diverge)."""
    return _finite(s.get("test_acc_mean"))


def student_cell(s) -> str:
    """The reported accuracy, or what happened instead: every report run diverged, or no setting could be
    chosen because every one diverged on a selection seed."""
    if reported(s):
        return _pct(s["test_acc_mean"], s["test_acc_std"]) + (f" ({s['n_diverged']} diverged)" if s["n_diverged"]
                                                              else "")
    if s.get("lr") is not None and s.get("n_diverged"):
        return f"diverged ({s['n_diverged']} of {s['n_diverged']})"
    if s.get("n_diverged_all"):
        return f"diverged (every setting, {s['n_diverged_all']} runs)"
    return "n/a"


def gap_text(s) -> str:
    """Paired gap to the true-label student in points [Holm-level interval], * Holm-significant."""
    if s["label_set"] == "true":
        return "(reference)"
    return common.gap_points(s.get("gap"))


def ratio_text(s) -> str:
    """acc − ρ·acc(true) in points with its 95% interval: ≥ 0 (or an interval reaching 0) meets the paper's ratio."""
    t = s.get("ratio_test")
    if s["label_set"] == "true":
        return "(reference)"
    if t is None or not _finite(t["mean"]):
        return "n/a"
    if t["deterministic"]:
        return f"{100 * t['mean']:+.1f} (deterministic)"
    interval = f" [{100 * t['low']:+.1f}, {100 * t['high']:+.1f}]" if _finite(t["low"]) else ""
    return f"{100 * t['mean']:+.1f}{interval}"


def _pair(ind) -> str:
    return f"{ind['delta']:.2f}, {ind['gamma']:.2f}"


def task_sets(results, dataset: str) -> list[dict]:
    return [s for s in results["label_sets"] if s["dataset"] == dataset]


def _headline(results, dataset: str):
    return next((h for h in results["headline"] if h["dataset"] == dataset), None)


def table_markdown(results, dataset: str) -> str:
    """One row per soft-label set of a task: teacher top-1, (Δ̂, γ̂) at k, k_paper and its own k (expected
    beside it where the generator has a formula), the chosen (lr, steps), the reported test accuracy, the
    paired gap to the true-label student and the distance to the paper's ratio."""
    p = results["protocol"]
    rho = p["headline_ratio"]
    lines = [f"| soft labels | teacher top-1 % | Δ̂, γ̂ (k={p['k']}) | Δ̂, γ̂ (k={p['k_paper']}) | "
             f"Δ̂, γ̂ (own k) [expected] | Δ̂+γ̂ own | lr, steps | student test % | gap to true (points) | "
             f"acc − {rho:.4g}·acc(true) (points) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in task_sets(results, dataset):
        ind = s["indicators"]
        own = ind["own"]
        expected = f" [{s['expected']['delta']:.2f}, {s['expected']['gamma']:.2f}]" if s.get("expected") else ""
        regime = f"{s['lr']:g}, {s['steps']}" if s.get("lr") is not None else "none chosen"
        lines.append(f"| {s['label_set']} | {100 * s['teacher_top1']:.1f} | {_pair(ind['k'])} | "
                     f"{_pair(ind['k_paper'])} | k={own['k']}: {_pair(own)}{expected} | "
                     f"{own['delta'] + own['gamma']:.2f} ({s['condition_own']}) | {regime} | {student_cell(s)} | "
                     f"{gap_text(s)} | {ratio_text(s)} |")
    return "\n".join(lines)


def headline_line(results, dataset: str) -> str:
    p = results["protocol"]
    h = _headline(results, dataset)
    if h is None:
        return f"Headline: no trained teacher has a top-1 accuracy below {100 * p['headline_top1']:.0f}% on {dataset}."
    s = next(x for x in task_sets(results, dataset) if x["label_set"] == h["label_set"])
    return (f"Headline ({h['rule']}): **{s['label_set']}**, teacher top-1 {100 * s['teacher_top1']:.1f}%, student "
            f"{student_cell(s)}%, gap to the true-label student {gap_text(s)} points, acc − "
            f"{p['headline_ratio']:.4g}·acc(true) = {ratio_text(s)} points.")


def student_text(grid: dict) -> str:
    """What the students are (results.json's grid; results written before the CNN students have no 'student')."""
    if grid.get("student") == "cnn":
        c = grid["cnn"]
        return (f"CNN students (VGG 2+3, channels {tuple(c['channels'])}, dense {tuple(c['dense'])}, Adam, early "
                f"stopping within {c['max_epochs']} epochs)")
    return f"students of {grid['student_width']} neurons"


def setting_text(grid: dict) -> str:
    return "Adam lr (the epoch by early stopping, per run)" if grid.get("student") == "cnn" else "(lr, steps)"


def headline_markdown(results) -> str:
    """The largest task's table and headline (what the launcher prints)."""
    dataset = results["protocol"]["headline_task"]
    p = results["protocol"]
    return "\n".join([
        f"# Biased soft labels ({results['source']}, {dataset}): {student_text(results['grid'])}", "",
        f"Test accuracy (%) of report seeds {p['report_seeds']} at the {setting_text(results['grid'])} chosen per "
        f"set on the validation accuracy of seeds {p['select_seeds']}. Gap: paired by seed against the true-label "
        "student, points [Holm-level interval over the sets], * Holm-significant. The last column: the student's "
        f"accuracy minus {p['headline_ratio']:.4g} × the true-label student's (the paper's 90 / 95.29), 95% "
        "interval.", "", table_markdown(results, dataset), "", headline_line(results, dataset)])


def learning_curve_markdown(results) -> str:
    """Per set, the reported test accuracy at every training-set size."""
    tasks = [t["dataset"] for t in results["tasks"]]
    by = {(s["dataset"], s["label_set"]): s for s in results["label_sets"]}
    names = list(dict.fromkeys(s["label_set"] for s in results["label_sets"]))
    lines = ["| soft labels | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for name in names:
        cells = [student_cell(by[(t, name)]) if (t, name) in by else "n/a" for t in tasks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    heads = [f"{h['dataset']}: {h['label_set']}" for h in results["headline"]]
    return "\n".join(lines) + ("\n\nHeadline set per size: " + "; ".join(heads) + "." if heads else "")


def _rho(value) -> str:
    return f"{value:+.2f}" if _finite(value) else "n/a"


def correlation_markdown(results) -> str:
    lines = ["| task | sets | ρ (own k) [interval] | ρ (k = " + str(results["protocol"]["k"]) + ") [interval] |",
             "|---|---|---|---|"]
    for c in results["correlation"]:
        lines.append(f"| {c['dataset']} | {c['n_sets']} | {_rho(c['spearman'])} [{_rho(c['low'])}, "
                     f"{_rho(c['high'])}] | {_rho(c['spearman_k'])} [{_rho(c['low_k'])}, {_rho(c['high_k'])}] |")
    return "\n".join(lines)


def teacher_lines(results) -> list[str]:
    return [f"- {t['dataset']}: {t['name']} ({t['kind']}): accuracy train {_pct(t.get('train_acc'))}%, validation "
            f"{_pct(t.get('val_acc'))}%, test {_pct(t.get('test_acc'))}%" for t in results["teachers"]]


def _scatter(ax, sets, x_of, y_of):
    """One marker per set at (x_of(s), y_of(s)) with ±1 std of the student accuracy, styled by generator."""
    seen = set()
    for s in sets:
        colour, marker, label = GENERATOR_STYLE[s["generator"]]
        std = s.get("test_acc_std")
        yerr = 100 * std if _finite(std) else None
        ax.errorbar(x_of(s), y_of(s), yerr=yerr, fmt=marker, color=colour, ms=8 if marker == "*" else 6,
                    capsize=2, label=None if s["generator"] in seen else label)
        seen.add(s["generator"])


def plot_accuracy(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    p = results["protocol"]
    dataset = p["headline_task"]
    sets = [s for s in task_sets(results, dataset) if reported(s)]
    reference = next((s for s in sets if s["generator"] == "true"), None)
    acc = lambda s: 100 * s["test_acc_mean"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, which, title in ((axes[0], "k", f"at k = {p['k']}"), (axes[1], "own", "at each set's own k")):
        _scatter(ax, sets, lambda s, w=which: s["indicators"][w]["delta"] + s["indicators"][w]["gamma"], acc)
        ax.axvline(1.0, color="grey", ls="--", lw=1)
        ax.axvspan(1 - p["condition_band"], 1 + p["condition_band"], color="grey", alpha=0.12, lw=0)
        ax.text(1.0, 0.02, " Δ + γ = 1", transform=ax.get_xaxis_transform(), color="grey", fontsize=8)
        if reference is not None:
            ax.axhline(acc(reference), color="black", lw=0.8, ls=":")
            ax.axhline(p["headline_ratio"] * acc(reference), color="black", lw=0.6, ls=(0, (1, 3)))
        ax.set_xlabel(f"estimated Δ + γ {title}")
        ax.set_title(f"student test accuracy vs estimated Δ + γ {title}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("student test accuracy (%), mean ± std over report seeds")
    axes[1].legend(fontsize=8, loc="lower left")
    fig.text(0.5, -0.01, f"{results['source']}, {dataset}. Dotted: the true-label student and "
             f"{p['headline_ratio']:.4g} × it (the paper's 90 / 95.29); grey band: |Δ + γ − 1| < "
             f"{p['condition_band']:g}", ha="center", fontsize=8)
    fig.tight_layout()
    return fig


def plot_delta_gamma(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dataset = results["protocol"]["headline_task"]
    sets = [s for s in task_sets(results, dataset) if reported(s)]
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    values = [100 * s["test_acc_mean"] for s in sets]
    low, high = (min(values), max(values)) if values else (0.0, 100.0)
    points = None
    for s, v in zip(sets, values, strict=True):
        colour, marker, _ = GENERATOR_STYLE[s["generator"]]
        own = s["indicators"]["own"]
        points = ax.scatter([own["delta"]], [own["gamma"]], c=[v], cmap="viridis", vmin=low, vmax=high,
                            marker=marker, s=90, edgecolors=colour, linewidths=1.5)
    if points is not None:
        fig.colorbar(points, ax=ax, label="student test accuracy (%)")
    ax.plot([0, 1], [1, 0], color="grey", ls="--", lw=1)
    ax.text(0.55, 0.48, "Δ + γ = 1", color="grey", rotation=-38, fontsize=9)
    present = {s["generator"] for s in sets}
    handles = [plt.Line2D([], [], ls="", marker=m, color=c, label=lbl)
               for g, (c, m, lbl) in GENERATOR_STYLE.items() if g in present]
    ax.legend(handles=handles, fontsize=7, loc="upper right")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("estimated unreliability Δ (own k)")
    ax.set_ylabel("estimated ambiguity γ (own k)")
    ax.set_title(f"soft-label sets in the (Δ, γ) plane ({dataset}); fill = student accuracy", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_learning_curve(results):
    """Student test accuracy against the training-set size, one line per set (log x)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 5))
    names = list(dict.fromkeys(s["label_set"] for s in results["label_sets"]))
    heads = {h["label_set"] for h in results["headline"]}
    for name in names:
        pts = sorted((s["train_size"], 100 * s["test_acc_mean"], s["generator"]) for s in results["label_sets"]
                     if s["label_set"] == name and reported(s))
        if not pts:
            continue
        colour, marker, _ = GENERATOR_STYLE[pts[0][2]]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=colour,
                lw=2.2 if name in heads or name == "true" else 0.9, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("training images n")
    ax.set_ylabel("student test accuracy (%), report seeds")
    ax.set_title(f"Learning curve ({results['source']}): thick lines = true labels and the headline sets",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def render(results, out) -> list[str]:
    """biased_soft.md, biased_soft.png, delta_gamma.png (and learning_curve.png with several sizes)."""
    md = [headline_markdown(results), "",
          common.verdict_markdown(results, "Verdict (a skillful-but-bad teacher teaches almost as well)"),
          common.verdict_markdown(results["degradation_verdict"], "Verdict (accuracy degrades as Δ + γ → 1)"),
          "## Rank correlation of Δ̂ + γ̂ and student accuracy", "",
          f"Spearman's ρ over the sets of each task, {100 * results['correlation'][0]['level']:.0f}% bootstrap "
          "interval (sets and report seeds resampled together).", "", correlation_markdown(results), ""]
    if len(results["tasks"]) > 1:
        md += ["## Learning curve: student test accuracy (%) by training-set size", "",
               learning_curve_markdown(results), ""]
        for t in results["tasks"][:-1]:
            md += [f"## {t['dataset']}", "", table_markdown(results, t["dataset"]), "",
                   headline_line(results, t["dataset"]), ""]
    md += ["## Teachers", "", *teacher_lines(results), ""]
    if results["n_diverged"]:
        md.append(f"**{results['n_diverged']} run checkpoints diverged** (non-finite parameters or outputs, or an "
                  "accuracy outside [0, 1]); they are counted and left out of every mean and test (results.json: "
                  "diverged_runs).")
    out.write_text("biased_soft.md", "\n".join(md) + "\n")
    written = ["biased_soft.md"]
    import matplotlib.pyplot as plt
    for name, plot in (("biased_soft.png", plot_accuracy), ("delta_gamma.png", plot_delta_gamma)) + (
            (("learning_curve.png", plot_learning_curve),) if len(results["tasks"]) > 1 else ()):
        fig = plot(results)
        out.save_figure(name, fig)
        plt.close(fig)
        written.append(name)
    return written
