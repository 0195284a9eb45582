"""margin.md and margin.png from the margin experiment's results.json alone (no recomputation).

    from experiments.margin.render import render
    render(json.load(open("results.json")), kd_theory.results.OutputDir("out"))
"""
from __future__ import annotations

import math

from experiments import common
from experiments.margin.analysis import RECALLED_CONSTANT

GAMMA_LIMIT = 0.25                           # γ·d → 1/4
GAMMA2_LIMIT = 1 / (2 * math.sqrt(math.pi))  # γ₂·d → 1/(2√π)


CERTIFIED_NOTES = """
- **γ_K lower / upper**: certified bounds on γ_K, the sampled margin of ONE draw of K gates (draw 0).
  γ_K is a random variable around γ (biased low: a minimum of a sample average); the certified width
  says nothing about γ_K − γ.
- **γ_K over draws**: mean ± std [min, max] of the certified midpoints over independent draws of the K gates.
- **F(q̂) fresh ± SE**: the mean of ‖Σ_i q̂_i y_i 1(zᵀx_i > 0) x_i‖ over K' fresh gates at the solver's q̂: an
  unbiased estimate of F(q̂) ≥ γ, i.e. of an **upper bound on γ**.
- **γ₂ (SVM)**: certified upper end of the SVM margin of the closed-form first-layer NTK; γ ≤ γ₂.
- **v\\* fresh min**: min_i of the margins of the primal v\\* = g_q̂/‖g_q̂‖ on fresh gates: below γ (v\\* is
  feasible), by how much measures how weak v\\* is as a population primal, **not** the Monte-Carlo error of γ_K.
- **F(q_unif) (XOR)**: noisy 2-XOR only. The uniform q is optimal by symmetry, so F(q_unif) on fresh gates (the
  brute-force sum over the support) is an unbiased estimate of γ itself.
"""


def _fmt(value, digits=5) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _pm(mean, err, digits=5) -> str:
    return "" if mean is None else f"{mean:.{digits}f} ± {err:.{digits}f}"


def _se(mean, err, digits=6) -> str:
    """mean ± SE with the SE to two significant digits."""
    return "" if mean is None else f"{mean:.{digits}f} ± {err:.2g}"


def _fit(fit) -> str:
    if not math.isfinite(fit["slope"]):
        return "n/a"
    interval = f" [{fit['low']:.4f}, {fit['high']:.4f}]" if math.isfinite(fit["low"]) else " (no interval)"
    return f"{fit['slope']:.4f}{interval}"


def certified_by_d(results) -> dict:
    return {r["d"]: r for r in results["certified"] if r["family"] == "noisy_xor"}


def dimension_markdown(results) -> str:
    """Per d: γ ± SE, γ·d ± SE, γ₂·d and, where a certified solve ran, γ_K·d (mean over draws [min, max])."""
    gamma = {r["d"]: r for r in results["gamma"]}
    svm = {r["d"]: r for r in results["svm"]}
    cert = certified_by_d(results)
    lines = ["| d | γ ± SE | γ·d ± SE | γ₂·d (exact) | certified γ_K·d: mean over draws [min, max] | gates | "
             "method | s |", "|---|---|---|---|---|---|---|---|"]
    for d in sorted(set(gamma) | set(svm) | set(cert)):
        g, s, c = gamma.get(d), svm.get(d), cert.get(d)
        certified = (f"{d * c['gamma_K_draws_mean']:.4f} [{d * c['gamma_K_draws_min']:.4f}, "
                     f"{d * c['gamma_K_draws_max']:.4f}] (K = {c['num_gates']}, {c['gate_draws']} draws)" if c else "")
        lines.append(f"| {d} | {_se(g['gamma'], g['gamma_se'], 8) if g else ''} | "
                     f"{_se(g['gamma_d'], g['gamma_d_se']) if g else ''} | {_fmt(s['gamma2_d'], 6) if s else ''} | "
                     f"{certified} | {g['num_gates'] if g else ''} | {g['method'] if g else ''} | "
                     f"{_fmt(g['seconds'], 1) if g else ''} |")
    return "\n".join(lines)


def fit_markdown(results) -> str:
    """The exponents: γ weighted by its errors (the verdict's, and the plain line), γ₂ unweighted (it is exact, so
    its interval is only the misfit of the truncated expansion)."""
    f = results["fits"]
    lines = ["| quantity | fitted over d | finite-size terms | exponent [95% interval] | χ²_red (weighted) |",
             "|---|---|---|---|---|"]
    for key, name in (("gamma", "γ (the verdict's)"), ("gamma_plain", "γ, plain log-log line (the local slope)"),
                      ("gamma2", "γ₂ (exact: the interval is the expansion's misfit)"),
                      ("gamma2_plain", "γ₂, plain log-log line")):
        fit = f[key]
        chi2 = _fmt(fit.get("reduced_chi2"), 2) or "—"
        lines.append(f"| {name} | {fit['d_min']:g} … {fit['d_max']:g} ({fit['n']} d) | {fit['corrections']} | "
                     f"{_fit(fit)} | {chi2} |")
    return "\n".join(lines)


def check_markdown(results) -> str:
    check = results["estimator_check"]
    if not check["rows"]:
        return "No d has both a certified solve and a Monte-Carlo γ: the estimator is unchecked."
    lines = [f"Each z must be ≤ {check['z_crit']:.2f} (Bonferroni over {3 * len(check['rows'])} comparisons, family "
             f"α = {check['alpha']:g}); the largest is {check['max_z']:.2f}.", "",
             "| d | γ (Monte Carlo) ± SE | mean certified lower(γ_K) ± SE over draws | z: E γ_K ≤ γ | F(q̂) ± SE | "
             "z: γ ≤ F(q̂) | F(q_unif) ± SE (brute force) | z: γ = F(q_unif) |", "|---|---|---|---|---|---|---|---|"]
    for r in check["rows"]:
        lines.append(f"| {r['d']} | {_se(r['gamma'], r['gamma_se'])} | "
                     f"{_se(r['gamma_K_lower_mean'], r['gamma_K_lower_se'])} | {r['z_saa']:+.2f} | "
                     f"{_se(r['F_qhat'], r['F_qhat_se'])} | {r['z_dual']:+.2f} | "
                     f"{_se(r['F_uniform'], r['F_uniform_se'])} | {r['z_unif']:.2f} |")
    return "\n".join(lines)


def certified_markdown(results) -> str:
    rows = results["certified"]
    head = ("| dataset | n | d | K | γ_K lower | γ_K upper | γ_K over draws: mean ± std [min, max] | "
            "F(q̂), K' fresh ± SE (≥ γ) | γ₂ SVM (≥ γ) | v* fresh min | F(q_unif) (XOR, = γ) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    body = [f"| {r['dataset']} | {r['n']} | {r['d']} | {r['num_gates']} | {_fmt(r['gamma_K_lower'])} | "
            f"{_fmt(r['gamma_K_upper'])} | {_pm(r['gamma_K_draws_mean'], r['gamma_K_draws_std'])} "
            f"[{_fmt(r['gamma_K_draws_min'])}, {_fmt(r['gamma_K_draws_max'])}] ({r['gate_draws']} draws) | "
            f"{_pm(r['gamma_upper_fresh'], r['gamma_upper_fresh_se'])} (K'={r['fresh_gates']}) | "
            f"{_fmt(r.get('gamma2_upper'))} | {_fmt(r.get('vstar_fresh_min_margin'))} | "
            f"{_pm(r.get('gamma_symmetric'), r.get('gamma_symmetric_se'))} |" for r in rows]
    return "\n".join([head] + body)


def markdown(results: dict) -> str:
    """margin.md: both verdicts, γ and γ₂ against d, the fits, the estimator's check, the certified table."""
    md = ["# The NTK margin γ", "", common.verdict_markdown(results, "Verdict: γ = Θ(1/d) for noisy 2-XOR"),
          common.verdict_markdown(results["bound_verdict"], "Verdict: γ ≥ 1/(50d)"),
          "## Noisy 2-XOR against d", "",
          "γ: Monte Carlo over gates (kd_theory.xor_margin; the uniform q is optimal by symmetry; *exact*: ‖g(z)‖ "
          "summed exactly, *lattice*: the large-d model). γ₂ ≥ γ: the SVM bound, exact. Limits: γ·d → 1/4, "
          f"γ₂·d → 1/(2√π) = {GAMMA2_LIMIT:.6f}. The recalled floor is γ·d ≥ 1/50.", "",
          dimension_markdown(results), "", "### Exponents", "", fit_markdown(results), "",
          "### The Monte-Carlo γ against the certified solver", "", check_markdown(results), ""]
    if results["certified"]:
        md += ["## Certified γ_K", "", certified_markdown(results), "", "Columns:", CERTIFIED_NOTES]
        widths = [(r["gamma_K_draws_max"] - r["gamma_K_draws_min"]) / (r["gamma_K_upper"] - r["gamma_K_lower"])
                  for r in results["certified"] if r["gamma_K_upper"] > r["gamma_K_lower"]]
        if widths:
            md.append(f"The range of γ_K over gate draws is {min(widths):.1f}-{max(widths):.1f}× the certified width "
                      "of one draw.\n")
        flagged = [r["dataset"] for r in results["certified"] if r["near_parallel_pairs"] or r["zero_margin_pairs"]]
        if flagged:
            md.append(f"Nearly or exactly parallel opposite-label pairs in: {', '.join(flagged)} (see results.json).\n")
    ratio = results["summary"].get("digits_gamma_K_ratio_reduced_over_full")
    if ratio is not None:
        md.append(f"Digits: mean γ_K(reduced) / mean γ_K(full) = {ratio:.3f}.\n")
    t = results["timings"]
    md.append(f"Computed in {t['total_s']} s ({t['certified_s']} s certified solves, {t['gamma_s']} s γ and γ₂).")
    return "\n".join(md) + "\n"


def _xor_panel(ax, results):
    """γ·d and γ₂·d against d (log axis), the certified γ_K·d of each draw beside, the limits and the floor."""
    from matplotlib.ticker import FuncFormatter
    gamma, svm = results["gamma"], results["svm"]
    if svm:
        ax.plot([r["d"] for r in svm], [r["gamma2_d"] for r in svm], "^-", color="C2", ms=3, lw=1,
                label="γ₂·d, SVM bound γ₂ ≥ γ (exact)")
    if gamma:
        ax.errorbar([r["d"] for r in gamma], [r["gamma_d"] for r in gamma],
                    yerr=[2 * r["gamma_d_se"] for r in gamma], fmt="o-", color="C0", ms=3.5, lw=1, capsize=2,
                    label="γ·d, Monte Carlo (± 2 SE)")
    cert = sorted(certified_by_d(results).values(), key=lambda r: r["d"])
    for i, r in enumerate(cert):
        mids = [(g["gamma_K_lower"] + g["gamma_K_upper"]) / 2 * r["d"] for g in r["draws"]]
        ax.plot([r["d"] * 1.04] * len(mids), mids, "_", color="C3", ms=7, mew=1.5,
                label=f"certified γ_K·d, each of {r['gate_draws']} draws (K = {r['num_gates']})" if i == 0 else None)
        ax.plot([r["d"] * 0.96], [r["gamma_upper_fresh"] * r["d"]], "v", color="C1", ms=3.5,
                label="F(q̂)·d ≥ γ·d, fresh gates" if i == 0 else None)
    ax.axhline(GAMMA_LIMIT, color="C0", ls=":", lw=1, label="1/4 (γ·d's limit)")
    ax.axhline(GAMMA2_LIMIT, color="C2", ls=":", lw=1, label="1/(2√π) (γ₂·d's limit)")
    ax.axhline(RECALLED_CONSTANT, color="k", ls="--", lw=1, label="1/50: the recalled floor γ ≥ 1/(50d)")
    fit = results["fits"]["gamma"]
    if math.isfinite(fit["d_min"]):
        ax.axvspan(fit["d_min"], fit["d_max"], color="0.9", zorder=0, label="fitted range")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylim(0, None)
    ax.set_xlabel("input dimension d (noisy 2-XOR over its whole support)")
    ax.set_ylabel("margin × d")
    title = "Noisy 2-XOR: γ·d and γ₂·d"
    if math.isfinite(fit["slope"]):
        title += f"; exponent of γ {_fit(fit)}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(True, which="both", alpha=0.3)


def _digits_panel(ax, digits_rows):
    """Per data set, in % of its mean γ_K: the γ_K draws (certified intervals), F(q̂) ± 2 SE and γ₂."""
    notes = []
    for i, r in enumerate(digits_rows):
        def pct(v, ref=r["gamma_K_draws_mean"]):
            return 100.0 * (v / ref - 1.0)
        draws = r["draws"]
        for j, g in enumerate(draws):
            lo, up = pct(g["gamma_K_lower"]), pct(g["gamma_K_upper"])
            half = (up - lo) / 2
            ax.errorbar([i + 0.06 * (j - (len(draws) - 1) / 2)], [(lo + up) / 2], yerr=[[half], [half]], fmt="o",
                        ms=3, color="C0", capsize=2, label="γ_K of each gate draw (certified)" if i == j == 0 else None)
        two_se = pct(r["gamma_upper_fresh"] + 2 * r["gamma_upper_fresh_se"]) - pct(r["gamma_upper_fresh"])
        ax.errorbar([i + 0.25], [pct(r["gamma_upper_fresh"])], yerr=[two_se], fmt="v", ms=5, color="C3",
                    capsize=2, label="F(q̂) ≥ γ, fresh gates (± 2 SE)" if i == 0 else None)
        if "gamma2_upper" in r:
            ax.plot([i + 0.4], [pct(r["gamma2_upper"])], "^", color="C2", ms=5,
                    label="SVM bound γ₂ ≥ γ" if i == 0 else None)
        if "vstar_fresh_min_margin" in r:
            notes.append(f"{r['dataset']}: v* fresh min {pct(r['vstar_fresh_min_margin']):+.0f}%")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(range(len(digits_rows)))
    ax.set_xticklabels([f"{r['dataset']}\nγ_K ≈ {r['gamma_K_draws_mean']:.4f}" for r in digits_rows], fontsize=8)
    ax.set_xlim(-0.5, len(digits_rows) - 0.3)
    ax.set_ylabel("% of the mean γ_K over gate draws")
    ax.set_title(f"Digits: K = {digits_rows[0]['num_gates']} gates per draw", fontsize=9)
    if notes:
        ax.text(0.02, 0.02, "off scale (feasible primal, below γ):\n" + "\n".join(notes), transform=ax.transAxes,
                fontsize=7, va="bottom")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.35 * (hi - lo))  # headroom: the legend sits above the markers
    ax.legend(fontsize=7, loc="upper center")
    ax.grid(True, axis="y", alpha=0.3)


def figure(results: dict):
    """margin.png: noisy 2-XOR's γ·d and γ₂·d against d and, beside it, where γ lies for the digits sets."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    digits_rows = [r for r in results["certified"] if r["family"] == "digits"]
    widths = [1.7] + ([1.0] if digits_rows else [])
    fig, axes = plt.subplots(1, len(widths), figsize=(5.2 * sum(widths), 5.0), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    _xor_panel(axes[0][0], results)
    if digits_rows:
        _digits_panel(axes[0][1], digits_rows)
    fig.suptitle(f"The margin of the limiting NTK (rate: {results['verdict']}; bound γ ≥ 1/(50d): "
                 f"{results['bound_verdict']['verdict']})", fontsize=10)
    fig.tight_layout()
    return fig


def render(results: dict, out) -> list[str]:
    """Write margin.md and margin.png into ``out`` (a kd_theory.results.OutputDir) from ``results``."""
    import matplotlib.pyplot as plt
    out.write_text("margin.md", markdown(results))
    fig = figure(results)
    out.save_figure("margin.png", fig)
    plt.close(fig)
    return ["margin.md", "margin.png"]
