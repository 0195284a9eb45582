"""Table and figures of the biased-soft-label experiment from results.json alone: biased_soft.md,
biased_soft.png (student test accuracy against Δ̂ + γ̂ at k and at each set's own k, the line
Δ + γ = 1 marked, coloured by generator) and delta_gamma.png (the (Δ̂, γ̂) plane at each set's own k,
coloured by student accuracy)."""
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


_pct = common.percent


def gap_text(s) -> str:
    """Paired gap to the true-label student in points, with its 95% interval and * if Holm-significant."""
    return "(reference)" if s.get("gap_mean") is None else common.gap_points(s)


def _pair(ind) -> str:
    return f"{ind['delta']:.2f}, {ind['gamma']:.2f}"


def table_markdown(results) -> str:
    """One row per soft-label set: teacher top-1, (Δ̂, γ̂) at k, k_paper and its own k (expected beside
    it where the generator has a formula), the chosen (lr, steps), the reported test accuracy and the
    paired gap to the true-label student."""
    p = results["protocol"]
    lines = [f"Students: {results['grid']['student_width']} neurons; test accuracy (%) of report seeds "
             f"{p['report_seeds']} at the (lr, steps) chosen on validation seeds {p['select_seeds']}. "
             "Gap: paired by seed vs the true-label student, points, [95% interval], * Holm-significant.", "",
             f"| soft labels | teacher top-1 % | Δ̂, γ̂ (k={p['k']}) | Δ̂, γ̂ (k={p['k_paper']}) | "
             "Δ̂, γ̂ (own k) [expected] | Δ̂+γ̂ own | lr, steps | student test % | gap (points) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in results["label_sets"]:
        ind = s["indicators"]
        own = ind["own"]
        expected = f" [{s['expected']['delta']:.2f}, {s['expected']['gamma']:.2f}]" if s.get("expected") else ""
        lines.append(f"| {s['label_set']} | {100 * s['teacher_top1']:.1f} | {_pair(ind['k'])} | {_pair(ind['k_paper'])} "
                     f"| k={own['k']}: {_pair(own)}{expected} | {own['delta'] + own['gamma']:.2f} "
                     f"({s['condition_own']}) | {s.get('lr', float('nan')):g}, {s.get('steps', 'n/a')} "
                     f"| {_pct(s.get('test_acc_mean'), s.get('test_acc_std'))} | {gap_text(s)} |")
    h = results.get("headline")
    lines.append("")
    if h is None:
        lines.append(f"Headline: no soft-label set has a teacher top-1 accuracy below {100 * p['headline_top1']:.0f}%.")
    else:
        s = next(x for x in results["label_sets"] if x["label_set"] == h["label_set"])
        lines.append(f"Headline ({h['rule']}): **{s['label_set']}**, teacher top-1 {100 * s['teacher_top1']:.1f}%, "
                     f"student {_pct(s['test_acc_mean'], s['test_acc_std'])}%, gap to the true-label student "
                     f"{gap_text(s)} points.")
    return "\n".join(lines) + "\n"


def _scatter(ax, sets, x_of, y_of):
    """One marker per set at (x_of(s), y_of(s)) with ±1 std of the student accuracy, styled by generator."""
    seen = set()
    for s in sets:
        colour, marker, label = GENERATOR_STYLE[s["generator"]]
        std = s.get("test_acc_std")
        yerr = 100 * std if std is not None and math.isfinite(std) else None
        ax.errorbar(x_of(s), y_of(s), yerr=yerr, fmt=marker, color=colour, ms=8 if marker == "*" else 6,
                    capsize=2, label=None if s["generator"] in seen else label)
        seen.add(s["generator"])


def render(results, out) -> list[str]:
    """biased_soft.md, biased_soft.png and delta_gamma.png from ``results`` alone; returns their names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.write_text("biased_soft.md", "# Learning from biased soft labels (10-class digits)\n\n" + table_markdown(results))
    sets = [s for s in results["label_sets"] if s.get("test_acc_mean") is not None]
    p = results["protocol"]
    reference = next((s for s in sets if s["generator"] == "true"), None)
    acc = lambda s: 100 * s["test_acc_mean"]

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, which, title in ((axes[0], "k", f"at k = {p['k']}"), (axes[1], "own", "at each set's own k")):
        _scatter(ax, sets, lambda s: s["indicators"][which]["delta"] + s["indicators"][which]["gamma"], acc)
        ax.axvline(1.0, color="grey", ls="--", lw=1)
        ax.axvspan(1 - p["condition_band"], 1 + p["condition_band"], color="grey", alpha=0.12, lw=0)
        ax.text(1.0, 0.02, " Δ + γ = 1", transform=ax.get_xaxis_transform(), color="grey", fontsize=8)
        if reference is not None:
            ax.axhline(acc(reference), color="black", lw=0.8, ls=":")
            ax.axhline(acc(reference) - p["close_points"], color="black", lw=0.6, ls=(0, (1, 3)))
        ax.set_xlabel(f"estimated Δ + γ {title}")
        ax.set_title(f"student test accuracy vs estimated Δ + γ {title}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("student test accuracy (%), mean ± std over report seeds")
    axes[1].legend(fontsize=8, loc="lower left")
    fig.text(0.5, -0.01, f"dotted: true-label student and {p['close_points']:g} points below it; grey band: "
             f"|Δ + γ − 1| < {p['condition_band']:g} (not judged)", ha="center", fontsize=8)
    fig.tight_layout()
    out.save_figure("biased_soft.png", fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    delta = [s["indicators"]["own"]["delta"] for s in sets]
    gamma = [s["indicators"]["own"]["gamma"] for s in sets]
    values = [acc(s) for s in sets]
    low = min(values) if values else 0.0
    high = max(values) if values else 100.0
    for s, d, g, v in zip(sets, delta, gamma, values):
        colour, marker, _ = GENERATOR_STYLE[s["generator"]]
        points = ax.scatter([d], [g], c=[v], cmap="viridis", vmin=low, vmax=high, marker=marker, s=90,
                            edgecolors=colour, linewidths=1.5)
    if sets:
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
    ax.set_title("soft-label sets in the (Δ, γ) plane; fill = student accuracy", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.save_figure("delta_gamma.png", fig)
    plt.close(fig)
    return ["biased_soft.md", "biased_soft.png", "delta_gamma.png"]
