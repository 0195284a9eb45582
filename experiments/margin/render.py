"""margin.md and margin.png from the margin experiment's results.json dict alone (no recomputation).

    from experiments.margin.render import render
    render(json.load(open("results.json")), kd_theory.results.OutputDir("out"))
"""
from __future__ import annotations

import numpy as np

COLUMN_NOTES = """
- **γ_K lower / upper**: certified bounds on γ_K, the sampled margin of ONE draw of K gates (gate seed 0).
  γ_K is a random variable around γ: the certified width says nothing about γ_K − γ.
- **γ_K over draws**: mean ± std [min, max] of the certified midpoints over independent draws of the K gates
  (same K, same data): the Monte-Carlo spread of γ_K itself.
- **F(q̂) fresh ± SE**: mean of ‖Σ_i q̂_i y_i 1(zᵀx_i > 0) x_i‖ over K' fresh gates at the solver's q̂ (gate seed 0),
  with its standard error: an unbiased estimate of F(q̂) = E_z‖g_q̂(z)‖ ≥ γ, i.e. of an **upper bound on γ**.
  F(q̂) − upper is how optimistic q̂'s value on its own gates was.
- **γ₂ (SVM)**: certified upper end of the SVM margin of the closed-form first-layer NTK; γ ≤ γ₂.
- **v\\* fresh min**: min_i of the margins of the primal v\\* = g_q̂/‖g_q̂‖ on fresh gates. v\\* is feasible, so
  (up to noise, and biased low by the min over n noisy values) this is below γ; its distance below γ_K measures
  how weak this v\\* is as a population primal (q̂ was fitted to the solver's gates; where g_q̂ vanishes on many
  gates, as for noisy XOR, g/‖g‖ is not the optimal primal), **not** the Monte-Carlo error of γ_K.
- **γ (XOR, symmetric est.)**: noisy 2-XOR over its whole support only. The uniform q is optimal by symmetry,
  so F(q_unif) on fresh gates is an unbiased estimate of γ itself (± SE).
"""


def _fmt(value, digits=5):
    return "" if value is None else f"{value:.{digits}f}"


def _pm(mean, err, digits=5):
    return "" if mean is None else f"{mean:.{digits}f} ± {err:.{digits}f}"


def markdown(results: dict) -> str:
    """The tables of margin.md."""
    rows, summary = results["rows"], results["summary"]
    head = ("| dataset | n | d | K | γ_K lower | γ_K upper | γ_K over draws: mean ± std [min, max] | "
            "F(q̂), K' fresh ± SE (≥ γ) | γ₂ SVM (≥ γ) | v* fresh min | γ (XOR, symmetric est.) | γ_K·d |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['dataset']} | {r['n']} | {r['d']} | {r['num_gates']} | {_fmt(r['gamma_K_lower'])} | "
        f"{_fmt(r['gamma_K_upper'])} | {_pm(r['gamma_K_seed_mean'], r['gamma_K_seed_std'])} "
        f"[{_fmt(r['gamma_K_seed_min'])}, {_fmt(r['gamma_K_seed_max'])}] ({r['gate_seeds']} draws) | "
        f"{_pm(r['gamma_upper_fresh'], r['gamma_upper_fresh_se'])} (K'={r['fresh_gates']}) | "
        f"{_fmt(r.get('gamma2_upper'))} | {_fmt(r.get('vstar_fresh_min_margin'))} | "
        f"{_pm(r.get('gamma_symmetric'), r.get('gamma_symmetric_se'))} | {r['gamma_K'] * r['d']:.3f} |\n"
        for r in rows)
    text = "# NTK margin of the limiting kernel\n\n" + head + body + "\nColumns:\n" + COLUMN_NOTES
    spread_over_width = [(r["gamma_K_seed_max"] - r["gamma_K_seed_min"]) / (r["gamma_K_upper"] - r["gamma_K_lower"])
                         for r in rows if r["gate_seeds"] > 1 and r["gamma_K_upper"] > r["gamma_K_lower"]]
    if spread_over_width:
        text += (f"\nThe range of γ_K over gate draws is {min(spread_over_width):.1f}-{max(spread_over_width):.1f}× "
                 "the certified width of one draw.\n")
    flagged = [r["dataset"] for r in rows if r["near_parallel_pairs"] or r["zero_margin_pairs"]]
    if flagged:
        text += f"\nNearly or exactly parallel opposite-label pairs in: {', '.join(flagged)} (see results.json).\n"
    if summary.get("xor_slope_certified") is not None:
        text += (f"\nNoisy 2-XOR: fitted slope of log γ vs log d = {summary['xor_slope_certified']:.3f} (γ_K "
                 f"midpoints), {summary['xor_slope_symmetric']:.3f} (symmetric estimate of γ); 1/d would be −1.\n")
    if summary.get("digits_gamma_K_ratio_reduced_over_full") is not None:
        text += (f"\nDigits: mean γ_K(reduced) / mean γ_K(full) = "
                 f"{summary['digits_gamma_K_ratio_reduced_over_full']:.3f}.\n")
    return text + f"\nComputed in {summary['seconds']} s.\n"


def _xor_panel(ax, xor_rows, digits_rows, slope):
    dims = np.array([r["d"] for r in xor_rows], float)
    for r in xor_rows:
        mids = [(g["gamma_K_lower"] + g["gamma_K_upper"]) / 2 for g in r["gate_draws"]]
        ax.plot([r["d"]] * len(mids), mids, ".", color="C0", ms=4, alpha=0.6)
    ax.plot(dims, [r["gamma_K"] for r in xor_rows], "o-", color="C0", ms=4,
            label=f"certified γ_K, one draw (K={xor_rows[0]['num_gates']}); dots: other draws")
    ax.errorbar(dims, [r["gamma_symmetric"] for r in xor_rows], yerr=[2 * r["gamma_symmetric_se"] for r in xor_rows],
                fmt="s", ms=5, color="C1", mfc="none", label="γ: uniform q on fresh gates (± 2 SE)")
    ax.plot(dims, [r["gamma_upper_fresh"] for r in xor_rows], "v", color="C3", ms=4,
            label="F(q̂) ≥ γ on fresh gates (solver's q̂)")
    if "gamma2_upper" in xor_rows[0]:
        ax.plot(dims, [r["gamma2_upper"] for r in xor_rows], "^--", color="C2", ms=4, label="SVM bound γ₂ ≥ γ")
    anchor = xor_rows[-1]["gamma_symmetric"] * dims[-1]
    grid = np.geomspace(dims[0], dims[-1], 50)
    ax.plot(grid, anchor / grid, "k:", label=f"∝ 1/d through d={int(dims[-1])}")
    for r, color in zip(digits_rows, ("C4", "C5")):
        ax.axhline(r["gamma_K_seed_mean"], color=color, lw=1, ls="-.",
                   label=f"{r['dataset']} (d={r['d']}): γ_K ≈ {r['gamma_K_seed_mean']:.4f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(dims)
    ax.set_xticklabels([str(int(d)) for d in dims])
    ax.minorticks_off()
    lo_y, hi_y = ax.get_ylim()
    yticks = [t for t in (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5) if lo_y <= t <= hi_y]
    ax.set_yticks(yticks)
    ax.set_yticklabels([f"{t:g}" for t in yticks])
    ax.set_xlabel("input dimension d (noisy 2-XOR, whole support)")
    ax.set_ylabel("NTK margin")
    ax.set_title("Noisy 2-XOR" + ("" if slope is None else f": log-log slope of γ (uniform-q estimate) {slope:.2f}"))
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)


def _digits_panel(ax, digits_rows):
    """Per data set, in % of its mean γ_K: the γ_K draws (certified intervals), F(q̂) ± 2 SE and γ₂."""
    notes = []
    for i, r in enumerate(digits_rows):
        ref = r["gamma_K_seed_mean"]
        pct = lambda v: 100.0 * (v / ref - 1.0)
        draws = r["gate_draws"]
        for j, g in enumerate(draws):
            lo, up = pct(g["gamma_K_lower"]), pct(g["gamma_K_upper"])
            ax.errorbar([i + 0.06 * (j - (len(draws) - 1) / 2)], [(lo + up) / 2], yerr=[[(up - lo) / 2], [(up - lo) / 2]],
                        fmt="o", ms=3, color="C0", capsize=2, label="γ_K of each gate draw (certified)" if i == j == 0 else None)
        ax.errorbar([i + 0.25], [pct(r["gamma_upper_fresh"])], yerr=[200.0 * r["gamma_upper_fresh_se"] / ref],
                    fmt="v", ms=5, color="C3", capsize=2, label="F(q̂) ≥ γ, fresh gates (± 2 SE)" if i == 0 else None)
        if "gamma2_upper" in r:
            ax.plot([i + 0.4], [pct(r["gamma2_upper"])], "^", color="C2", ms=5, label="SVM bound γ₂ ≥ γ" if i == 0 else None)
        if "vstar_fresh_min_margin" in r:
            notes.append(f"{r['dataset']}: v* fresh min {pct(r['vstar_fresh_min_margin']):+.0f}%")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(range(len(digits_rows)))
    ax.set_xticklabels([f"{r['dataset']}\nγ_K ≈ {r['gamma_K_seed_mean']:.4f}" for r in digits_rows], fontsize=8)
    ax.set_xlim(-0.5, len(digits_rows) - 0.3)
    ax.set_ylabel("% of the mean γ_K over gate draws")
    ax.set_title(f"Digits: K = {digits_rows[0]['num_gates']} gates per draw")
    if notes:
        ax.text(0.02, 0.02, "off scale (feasible primal, below γ):\n" + "\n".join(notes), transform=ax.transAxes,
                fontsize=7, va="bottom")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.35 * (hi - lo))  # headroom: the legend sits above the markers
    ax.legend(fontsize=7, loc="upper center")
    ax.grid(True, axis="y", alpha=0.3)


def figure(results: dict):
    """margin.png: noisy-XOR γ vs d (log-log) and, beside it, where γ lies for the digits sets."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = results["rows"]
    xor_rows = [r for r in rows if r["family"] == "noisy_xor"]
    digits_rows = [r for r in rows if r["family"] == "digits"]
    panels = [p for p, rs in (("xor", xor_rows), ("digits", digits_rows)) if rs]
    widths = {"xor": 1.6, "digits": 1.0}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * sum(widths[p] for p in panels), 4.8),
                             gridspec_kw={"width_ratios": [widths[p] for p in panels]}, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "xor":
            _xor_panel(ax, xor_rows, digits_rows, results["summary"].get("xor_slope_symmetric"))
        else:
            _digits_panel(ax, digits_rows)
    fig.suptitle("Margin of the limiting NTK: γ_K (one draw of K gates, certified) and what bounds γ", fontsize=10)
    fig.tight_layout()
    return fig


def render(results: dict, out) -> None:
    """Write margin.md and margin.png into ``out`` (a kd_theory.results.OutputDir) from ``results``."""
    import matplotlib.pyplot as plt
    out.write_text("margin.md", markdown(results))
    fig = figure(results)
    out.save_figure("margin.png", fig)
    plt.close(fig)
