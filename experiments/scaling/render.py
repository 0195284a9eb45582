"""Tables and figures of the scaling experiment, from results.json alone: scaling.md (the verdicts, the bound
tests, the exponents, m* per point, the soft/hard ratio map, part B), bound.png (m* against the bound's shape
with C·f), exponents.png (fitted exponents beside the bounds'), mstar.png (m* against 1/γ per ε), phase.png
(m*_hard / m*_soft over (ε, γ) with γ² = ε and the bounds' crossover γ*(ε)) and, when part B ran,
accuracy.png. A point that was not run, a censored m* and a diverged run are shown as such, never as a number."""
from __future__ import annotations

import math

import numpy as np

from experiments import common

LABEL_STYLE = {"soft": ("tab:blue", "o"), "hard": ("tab:red", "s")}
REGIME_TITLES = {"theorem": "each label at its theorem's (η, B, T)", "equal": "equal budget (descriptive)"}
AXES = {"inv_gamma": "1/γ", "inv_eps": "1/ε"}


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _num(v, fmt="{:.2f}") -> str:
    return fmt.format(v) if _finite(v) else "n/a"


def _m(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:g}" if math.isfinite(v) else "> grid"


def m_star_cell(p) -> str:
    """"8 [6, 10]"; "not run (T required = …)"; "> grid (censored)"; with the diverged runs counted."""
    if not p["run"]:
        return f"not run ({p['not_run']})"
    text = f"{_m(p['m_star'])} [{_m(p['low'])}, {_m(p['high'])}]"
    if p["censored"]:
        text += f" (censored: {p['censored_where']})"
    if p.get("n_diverged"):
        text += f" ({p['n_diverged']} runs diverged)"
    return text


def verdict_summary(results) -> str:
    """A few lines for the console: each label type's verdict and exponents."""
    lines = [f"# scaling: {results['verdict']}", ""]
    for label, v in results["label_verdicts"].items():
        lines.append(f"- {label}: {v['verdict']} — {v['evidence']}")
    return "\n".join(lines)


def datasets_markdown(results) -> str:
    lines = ["| data set | family | n | d | γ_K (mean ± std over gate draws) | certified [lower, upper] per draw | "
             "kernel teacher max |z| | teacher train acc |", "|" + "---|" * 8]
    for name, v in results["datasets"].items():
        draws = ", ".join(f"[{lo:.4f}, {up:.4f}]" for lo, up in zip(v["gamma_lower"], v["gamma_upper"]))
        lines.append(f"| {name} | {v['family']} | {v['n']} | {v['d']} | {v['gamma']:.4f} ± {v['gamma_std']:.4f} | "
                     f"{draws} | {v['teacher']['abs_logit_max']:.3f} | {100 * v['teacher']['train_acc']:.1f}% |")
    return "\n".join(lines)


def exponents_markdown(results) -> str:
    lines = ["| label | exponent of | fitted [interval] | bootstrap over seeds | regression t-interval | interval "
             "width | the bound's (at these points) | nominal | points (groups) | outcome |", "|" + "---|" * 10]
    for label, d in results["bound_tests"].items():
        for axis, e in d["exponents"].items():
            lines.append(f"| {label} | {AXES[axis]} | {_num(e['value'])} [{_num(e['low'])}, {_num(e['high'])}] | "
                         f"[{_num(e['bootstrap_low'])}, {_num(e['bootstrap_high'])}] | "
                         f"[{_num(e['regression_low'])}, {_num(e['regression_high'])}] | {_num(e['width'])} | "
                         f"{_num(e['bound_exponent'])} | {e['nominal_exponent']} | {e['n_points']} ({e['n_groups']}) | "
                         f"{e['outcome']} |")
    return "\n".join(lines)


def bound_markdown(results) -> str:
    """Per label type: C, the anchor, and each measured point's interval against C·f."""
    lines = ["| label | data set | γ_K | ε | m* [interval] | f = theorem's width | C·f | respects |",
             "|" + "---|" * 8]
    for label, d in results["bound_tests"].items():
        b = d["bound"]
        for c in b["checks"]:
            lines.append(f"| {label} | {c['dataset']} | {c['gamma']:.4f} | {c['eps']:g} | {_m(c['m_star'])} "
                         f"[{_m(c['low'])}, {_m(c['high'])}] | {c['bound_width']:.3g} | {c['C_times_f']:.3g} | "
                         + ("anchor (fixes C)" if c["anchor"] else ("yes" if c["respects"] else "**no**")) + " |")
    return "\n".join(lines)


def mstar_markdown(results, regime: str) -> str:
    lines = ["| data set | γ_K | ε | label | η | B | T | m* [interval] | success share by width |", "|" + "---|" * 9]
    for p in results["m_star"]:
        if p["regime"] != regime:
            continue
        B = "none" if p["B"] is None else f"{p['B']:.3g}"
        share = "" if p["success_share"] is None else " ".join(f"{s:g}" for s in p["success_share"])
        lines.append(f"| {p['dataset']} | {p['gamma']:.4f} | {p['eps']:g} | {p['label']} | {p['lr']:.3g} | {B} | "
                     f"{p['T']:,} | {m_star_cell(p)} | {share} |")
    return "\n".join(lines)


def phase_markdown(results) -> str:
    lines = ["| regime | data set | γ_K | ε | m* hard | m* soft | m*_hard / m*_soft [interval] | bounds' ratio | "
             "γ² < ε |", "|" + "---|" * 9]
    for c in results["phase"]:
        r = "n/a (both censored)" if not _finite(c["ratio"]) and c["ratio"] != math.inf else _num(c["ratio"])
        if c["ratio"] == math.inf:
            r = "> (hard censored)"
        lines.append(f"| {c['regime']} | {c['dataset']} | {c['gamma']:.4f} | {c['eps']:g} | {_m(c['m_star_hard'])} | "
                     f"{_m(c['m_star_soft'])} | {r} [{_num(c['low'])}, {_num(c['high'])}] | {c['bound_ratio']:.3g} | "
                     f"{'yes' if c['rule_of_thumb_soft_fewer'] else 'no'} |")
    return "\n".join(lines)


def accuracy_markdown(acc) -> str:
    teacher = {t["dataset"]: t["test_acc"] for t in acc["teacher"]}
    lines = ["| task | teacher test acc | target | m* hard [interval] | m* soft [interval] |", "|---|---|---|---|---|"]
    cell = {(p["dataset"], p["target_share"], p["label"]): p for p in acc["m_star"]}
    for ds, share in sorted({(p["dataset"], p["target_share"]) for p in acc["m_star"]}):
        parts = []
        for label in ("hard", "soft"):
            p = cell.get((ds, share, label))
            parts.append("n/a" if p is None else f"{_m(p['m_star'])} [{_m(p['low'])}, {_m(p['high'])}]")
        lines.append(f"| {ds} | {common.percent(teacher[ds], digits=2)}% | {100 * share:g}% of the teacher "
                     f"({common.percent(share * teacher[ds], digits=2)}%) | {parts[0]} | {parts[1]} |")
    return "\n".join(lines)


def accuracy_curve_markdown(acc) -> str:
    lines = ["| task | label | width | test acc (report seeds) | chosen lr | B | T | steps |", "|" + "---|" * 8]
    seen = set()
    for p in acc["m_star"]:
        if (p["dataset"], p["label"]) in seen:
            continue
        seen.add((p["dataset"], p["label"]))
        for c in p["curve"]:
            if c.get("chosen", True) is None:
                lines.append(f"| {p['dataset']} | {p['label']} | {c['width']} | every setting diverged | | | | |")
                continue
            acc_text = (f"diverged ({c['n_diverged']} of {c['n_diverged']})" if not c["n_seeds"] and c["n_diverged"]
                        else common.percent(c["test_acc_mean"], c["test_acc_std"], digits=2)
                        + (f" ({c['n_diverged']} diverged)" if c["n_diverged"] else ""))
            B = "none" if c["B"] is None else f"{c['B']:g}"
            T = "" if c["temperature"] is None else f"{c['temperature']:g}"
            lines.append(f"| {p['dataset']} | {p['label']} | {c['width']} | {acc_text} | {c['lr']:g} | {B} | {T} | "
                         f"{c['steps']} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis over [low, high]: 10^k, else 1, 2, 5 × 10^k, else every digit × 10^k —
    the first of these with at least three ticks in range (matplotlib falls back to linear-looking ticks
    on a range inside one decade)."""
    low, high = sorted((low, high))
    if not (math.isfinite(low) and math.isfinite(high)) or high <= 0:
        return []
    low = low if low > 0 else high / 1e3
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks = []
    for subs in ((1,), (1, 2, 5), range(1, 10)):
        ticks = [s * 10.0 ** k for k in decades for s in subs if low <= s * 10.0 ** k <= high]
        if len(ticks) >= 3:
            break
    return ticks


def _log_axes(ax, widths=None):
    """Log-log axes labelled at :func:`log_ticks` (plain numbers); with ``widths``, the y axis is labelled at the
    grid's widths instead."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, Locator, NullFormatter

    class _Ticks(Locator):
        def __call__(self):
            return self.tick_values(*self.axis.get_view_interval())

        def tick_values(self, vmin, vmax):
            return log_ticks(vmin, vmax)

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(_Ticks())
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    if widths:
        ax.yaxis.set_major_locator(FixedLocator(list(widths)))


def _errorbar(ax, x, pts, color, marker, top, label=None, mfc=None):
    """m* with its interval; censored-above points as ▲ at ``top``."""
    x = np.asarray(x, float)
    m = np.array([p["m_star"] for p in pts], float)
    lo = np.array([p["low"] for p in pts], float)
    hi = np.array([min(p["high"], top) for p in pts], float)
    fin = np.isfinite(m)
    if fin.any():
        ax.errorbar(x[fin], m[fin], yerr=[m[fin] - np.minimum(lo[fin], m[fin]), np.maximum(hi[fin], m[fin]) - m[fin]],
                    fmt=marker, color=color, capsize=2, ms=4, label=label, mfc=mfc or color)
    if (~fin).any():
        ax.plot(x[~fin], np.full((~fin).sum(), top), "^", color=color, mfc="white", ms=6)


def plot_bound(results):
    """Per label type: measured m* against the bound's shape f, with the line C·f through the anchor."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), squeeze=False)
    top = 1.3 * max(results["widths"])
    for ax, label in zip(axes[0], ("soft", "hard")):
        color, marker = LABEL_STYLE[label]
        d = results["bound_tests"][label]
        pts = [p for p in results["m_star"] if p["regime"] == "theorem" and p["label"] == label and p["run"]]
        if pts:
            _errorbar(ax, [p["bound_width"] for p in pts], pts, color, marker, top, label=f"{label}: m* [interval]")
        checks = d["bound"]["checks"]
        bad = [c for c in checks if not c["respects"] and not c["anchor"]]
        if checks and _finite(d["bound"]["C"]):
            f = np.geomspace(min(c["bound_width"] for c in checks) / 1.2, max(c["bound_width"] for c in checks) * 1.2)
            ax.plot(f, d["bound"]["C"] * f, "k-", lw=1, label=f"C·f, C = {d['bound']['C']:.3g} (fixed at the anchor)")
            a = [c for c in checks if c["anchor"]][0]
            ax.plot([a["bound_width"]], [a["high"]], "k*", ms=10, label="anchor: upper end of its interval")
        if bad:
            ax.plot([c["bound_width"] for c in bad], [c["m_star"] for c in bad], "kx", ms=10, mew=2,
                    label="interval above C·f")
        ax.axhline(max(results["widths"]), color="0.6", lw=0.8, ls=":")
        _log_axes(ax, results["widths"])
        ax.set_xlabel("f(γ, ε, n): the theorem's own width (" + ("Corollary 4" if label == "soft" else
                                                                  "Proposition 5") + ")")
        ax.set_ylabel("m* (neurons)")
        n_not = d["n_not_run"]
        ax.set_title(f"{label}: {d['n_measured']} measured, {d['n_censored']} censored, {n_not} not run "
                     f"(T > max_steps) — {results['label_verdicts'][label]['verdict']}", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle("The bound tested as a bound: every m* should lie at or below C·f (▲ at the top: censored; dotted: "
                 "the largest grid width)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_exponents(results):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, axis in zip(axes, AXES):
        for i, label in enumerate(("soft", "hard")):
            e = results["bound_tests"][label]["exponents"][axis]
            color, marker = LABEL_STYLE[label]
            if _finite(e["value"]):
                lo = e["low"] if _finite(e["low"]) else e["value"]
                hi = e["high"] if _finite(e["high"]) else e["value"]
                ax.errorbar([i], [e["value"]], yerr=[[max(0, e["value"] - lo)], [max(0, hi - e["value"])]],
                            fmt=marker, color=color, capsize=4)
            else:
                ax.text(i, 0, "n/a", ha="center", fontsize=8)
            if _finite(e["bound_exponent"]):
                ax.plot([i - 0.3, i + 0.3], [e["bound_exponent"]] * 2, "k-", lw=1.5)
            if isinstance(e["nominal_exponent"], (int, float)):
                ax.plot([i - 0.3, i + 0.3], [e["nominal_exponent"]] * 2, "--", color="0.5", lw=1)
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["soft", "hard"])
        ax.set_xlim(-0.6, 1.6)
        ax.axhline(0, color="0.85", lw=0.8)
        ax.set_title(f"exponent of {AXES[axis]}", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("Fitted exponents [interval: bootstrap over seeds ∪ regression]; black: the bound's own at these "
                 "points; dashed: the theorem's nominal.\nA bound's exponent is respected when the interval starts at "
                 "or below the black line", fontsize=8)
    fig.tight_layout()
    return fig


def plot_mstar(results):
    """m* against 1/γ, one panel per (regime, ε), both label types."""
    plt = _plt()
    eps = results["epsilons"]
    regimes = [r for r in REGIME_TITLES if any(p["regime"] == r for p in results["m_star"])]
    top = 1.3 * max(results["widths"])
    fig, axes = plt.subplots(len(regimes), len(eps), figsize=(3.4 * len(eps), 2.9 * len(regimes)), squeeze=False,
                             sharex=True, sharey=True)
    for i, regime in enumerate(regimes):
        for j, e in enumerate(eps):
            ax = axes[i][j]
            for k, label in enumerate(("soft", "hard")):
                color, marker = LABEL_STYLE[label]
                pts = [p for p in results["m_star"] if p["regime"] == regime and p["eps"] == e and p["label"] == label]
                ran = [p for p in pts if p["run"]]
                if ran:
                    _errorbar(ax, [1 / p["gamma"] * (1 + 0.02 * (k - 0.5)) for p in ran], ran, color, marker, top,
                              label=label)
                skipped = [p for p in pts if not p["run"]]
                if skipped:
                    ax.plot([1 / p["gamma"] for p in skipped], [2 ** 0.5 / 2 * min(results["widths"])] * len(skipped),
                            "|", color=color, ms=8, label=f"{label}: not run")
            _log_axes(ax, results["widths"])
            ax.axhline(max(results["widths"]), color="0.6", lw=0.8, ls=":")
            ax.set_title(f"{regime}, ε = {e:g}", fontsize=8)
            ax.grid(alpha=0.3, which="both")
            if i == len(regimes) - 1:
                ax.set_xlabel("1/γ_K")
            if j == 0:
                ax.set_ylabel("m* (neurons)")
    axes[0][-1].legend(fontsize=6, loc="upper left")
    fig.suptitle("Minimum width against the measured margin (bars: bootstrap interval over seeds; ▲: censored above "
                 "the grid; |: not run, T beyond max_steps)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_phase(results):
    plt = _plt()
    regimes = [r for r in REGIME_TITLES if any(c["regime"] == r for c in results["phase"])] or ["theorem"]
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.6 * len(regimes), 3.9), squeeze=False, sharey=True)
    b = results["phase_boundary"]
    eps = np.asarray(b["eps"])
    image = None
    for ax, regime in zip(axes[0], regimes):
        cells = [c for c in results["phase"] if c["regime"] == regime]
        finite = [c for c in cells if _finite(c["ratio"]) and c["ratio"] > 0]
        if finite:
            image = ax.scatter([c["eps"] for c in finite], [c["gamma"] for c in finite],
                               c=[math.log2(c["ratio"]) for c in finite], cmap="RdBu", vmin=-3, vmax=3, s=60,
                               edgecolors="k", linewidths=0.5)
            for c in finite:
                ax.annotate(f"{c['ratio']:.2g}", (c["eps"], c["gamma"]), fontsize=6, xytext=(4, 3),
                            textcoords="offset points")
        other = [c for c in cells if c not in finite]
        if other:
            ax.scatter([c["eps"] for c in other], [c["gamma"] for c in other], marker="x", color="0.4", s=30,
                       label="a label censored")
        ax.plot(eps, np.sqrt(eps), "k--", lw=1, label="γ² = ε (rule of thumb)")
        ax.plot(eps, b["gamma_star"], "k-", lw=1.2, label=f"γ*(ε), bounds (n={b['n']}, δ={b['delta']:g})")
        _log_axes(ax)
        ax.set_xlim(eps.min(), eps.max())
        ax.set_ylim(0.02, 0.6)
        ax.set_xlabel("target training error ε")
        ax.set_title(f"{REGIME_TITLES[regime]}", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, loc="lower right")
    axes[0][0].set_ylabel("measured margin γ_K")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="log₂(m*_hard / m*_soft): blue = soft needs fewer")
    fig.suptitle("m*_hard / m*_soft per (γ, ε): the bounds say soft needs fewer below the curves (descriptive)",
                 fontsize=8)
    return fig


def plot_accuracy(acc):
    plt = _plt()
    tasks = sorted({p["dataset"] for p in acc["m_star"]})
    teacher = {t["dataset"]: t["test_acc"] for t in acc["teacher"]}
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.8), squeeze=False, sharey=True)
    for ax, ds in zip(axes[0], tasks):
        for label in ("hard", "soft"):
            pts = [p for p in acc["m_star"] if p["dataset"] == ds and p["label"] == label]
            if not pts:
                continue
            color, marker = LABEL_STYLE[label]
            curve = [c for c in pts[0]["curve"] if c["n_seeds"]]
            w = np.array([c["width"] for c in curve])
            mu = np.array([c["test_acc_mean"] for c in curve])
            sd = np.nan_to_num(np.array([c["test_acc_std"] for c in curve], float))
            ax.errorbar(w, 100 * mu, yerr=100 * sd, fmt=marker + "-", color=color, ms=3, capsize=2, label=label)
            for p in pts:
                if _finite(p["m_star"]):
                    ax.axvline(p["m_star"], color=color, ls=":", lw=1)
        for share in sorted({p["target_share"] for p in acc["m_star"]}):
            ax.axhline(100 * share * teacher[ds], color="0.5", lw=0.8, ls="--")
        ax.axhline(100 * teacher[ds], color="k", lw=1, label="teacher")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("student width m")
        ax.set_title(f"{ds}: dashed = target shares of the teacher; dotted = m*", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("test accuracy (%), report seeds, mean ± std")
    fig.tight_layout()
    return fig


def render(results, out) -> list[str]:
    acc = results.get("accuracy")
    d = results["definition"]
    md = ["# Neuron scaling: m*(γ, ε) against the theorems' bounds", "",
          common.verdict_markdown(results, "Verdict (both label types)")]
    for label, v in results["label_verdicts"].items():
        md.append(common.verdict_markdown(v, f"Verdict ({label} labels)"))
    md += ["## The bound tests", "", f"Bound's shape: {d['bound_width']}. m*: {d['m_star']}; {d['interval']}; "
           f"censored: {d['censored']}.", "", bound_markdown(results), "",
           "## Exponents", "", d["exponents"] + ".", "", exponents_markdown(results), "",
           "## Data sets and measured margins", "", d["gamma"] + ".", "", datasets_markdown(results), "",
           "## m* per point: each label type at its theorem's settings", "", d["theorem"] + ".", "",
           mstar_markdown(results, "theorem"), ""]
    if results["n_not_run"]:
        md += [f"**{results['n_not_run']} (data set, label, ε) points were not run**: their theorem's T is beyond "
               "theorem.max_steps (shown as 'not run' above; never capped).", ""]
    if any(p["regime"] == "equal" for p in results["m_star"]):
        md += ["## m* per point: equal budget (descriptive, not the verdict)", "", d["equal"] + ".", "",
               mstar_markdown(results, "equal"), ""]
    md += ["## Who needs fewer neurons (descriptive)", "", results["phase_claim"], "",
           "m*_hard / m*_soft per (data set, ε) with a bootstrap interval over seeds (hard and soft students of a seed "
           "share their initialisation); > 1: soft labels need fewer neurons.", "", phase_markdown(results), ""]
    if acc:
        md += ["## Digits: smallest width reaching a share of the teacher's test accuracy (descriptive)", "",
               acc["protocol"] + ".", "", accuracy_markdown(acc), "", accuracy_curve_markdown(acc), ""]
    n_div = results["n_diverged"] + (acc or {}).get("n_diverged", 0)
    if n_div:
        md.append(f"**{n_div} runs diverged** (non-finite parameters or outputs): each counts as a failure for m*, "
                  "never as a success (results.json: diverged_runs).")
    out.write_text("scaling.md", "\n".join(md))
    figures = {"bound.png": plot_bound(results), "exponents.png": plot_exponents(results),
               "mstar.png": plot_mstar(results), "phase.png": plot_phase(results)}
    if acc:
        figures["accuracy.png"] = plot_accuracy(acc)
    for name, fig in figures.items():
        out.save_figure(name, fig)
    return ["scaling.md"] + list(figures)
