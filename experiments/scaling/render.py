"""Tables and figures of the scaling experiment, from results.json alone: scaling.md, mstar_gamma.png
(m* against 1/γ), mstar_eps.png (m* against 1/ε), slopes.png (fitted exponents beside the theory's),
phase.png (where soft labels need fewer neurons, with γ² = ε and the exact crossover γ*(ε)) and,
when part B ran, accuracy.png (digits test accuracy against width)."""
from __future__ import annotations

import math

import numpy as np

REGIME_TITLES = {"theorem": "as the theorems say (T capped)", "equal": "equal (B, η, T)", "plain_gd": "plain GD"}
LABEL_STYLE = {"soft": ("tab:blue", "o"), "hard": ("tab:red", "s")}
WINNER_STYLE = {"soft": ("tab:blue", "o"), "hard": ("tab:red", "s"), "tie": ("0.4", "D"), "neither": ("0.8", "x")}


def _style(label):
    return LABEL_STYLE.get(label, ("tab:green" if "network" in label else "tab:cyan", "^"))


def _m(v):
    return "censored" if v is None or not math.isfinite(v) else f"{v:g}"


def _interval(p):
    return f"{_m(p['m_star'])} [{_m(p['low'])}, {_m(p['high'])}]"


def _num(v, fmt="{:.2f}"):
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def _labels(results):
    """Label names in a fixed order: soft (headline kernel scale), other kernel scales, network, hard."""
    found = {p["label"] for p in results["m_star"]}
    return [l for l in ["soft"] + sorted(l for l in found if l.startswith("soft_")) + ["hard"] if l in found]


def slopes_markdown(results) -> str:
    lines = [f"# Fitted exponents of m* ({results['definition']['slopes']})", "",
             "| regime | label | slope in 1/γ [bootstrap] (regression CI) | theory | bounds at these points | "
             "slope in 1/ε [bootstrap] (regression CI) | theory | bounds at these points | points (censored) |",
             "|" + "---|" * 9]
    for regime, by_label in results["slopes_by_regime"].items():
        for label in _labels(results):
            if label not in by_label:
                continue
            parts = [regime, label]
            for axis in ("inv_gamma", "inv_eps"):
                e = by_label[label][axis]
                parts += [f"{_num(e['value'])} [{_num(e['low'])}, {_num(e['high'])}] "
                          f"({_num(e['regression_low'])}, {_num(e['regression_high'])})",
                          str(e["theory_exponent"]), _num(e["theory_fit"])]
            g, e = by_label[label]["inv_gamma"], by_label[label]["inv_eps"]
            parts.append(f"{g['n_points']} ({g['n_censored']}) / {e['n_points']} ({e['n_censored']})")
            lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines)


def datasets_markdown(results) -> str:
    lines = ["| data set | family | n | d | γ_K (mean ± std over gate draws) | certified [lower, upper] per draw | "
             "kernel teacher p range | wide teacher train acc |", "|" + "---|" * 8]
    for name, v in results["datasets"].items():
        draws = ", ".join(f"[{lo:.4f}, {up:.4f}]" for lo, up in zip(v["gamma_lower"], v["gamma_upper"]))
        p = "; ".join(f"{k.split('@')[1]}: [{r[0]:.3f}, {r[1]:.3f}]" for k, r in v["teacher"].items()
                      if k.startswith("kernel_p_range"))
        lines.append(f"| {name} | {v['family']} | {v['n']} | {v['d']} | {v['gamma']:.4f} ± {v['gamma_std']:.4f} | "
                     f"{draws} | {p} | {100 * v['teacher']['network_train_acc']:.1f}% |")
    return "\n".join(lines)


def mstar_markdown(results) -> str:
    labels = _labels(results)
    lines = ["| data set | γ_K | ε | regime | " + " | ".join(f"m* {l} [interval]" for l in labels)
             + " | theorem T (required) |", "|" + "---|" * (5 + len(labels))]
    cell = {(p["dataset"], p["eps"], p["regime"], p["label"]): p for p in results["m_star"]}
    for name, v in results["datasets"].items():
        for eps in results["epsilons"]:
            for regime in REGIME_TITLES:
                ps = [cell.get((name, eps, regime, l)) for l in labels]
                if not any(ps):
                    continue
                steps = ""
                if regime == "theorem":
                    steps = "; ".join(f"{p['label']}: {p['steps']} ({p['steps_required']:.3g})" for p in ps
                                      if p is not None and p["label"] in ("soft", "hard"))
                lines.append(f"| {name} | {v['gamma']:.4f} | {eps:g} | {regime} | "
                             + " | ".join("n/a" if p is None else _interval(p) for p in ps) + f" | {steps} |")
    return "\n".join(lines)


def phase_markdown(results) -> str:
    lines = ["| regime | soft fewer | hard fewer | tie | neither reaches ε | theory (bounds) says soft fewer | "
             "observed agrees with bounds (decided cells) |", "|" + "---|" * 7]
    for regime in REGIME_TITLES:
        cells = [c for c in results["phase"] if c["regime"] == regime]
        if not cells:
            continue
        count = {w: sum(c["winner"] == w for c in cells) for w in WINNER_STYLE}
        decided = [c for c in cells if c["winner"] in ("soft", "hard")]
        agree = sum((c["winner"] == "soft") == c["theory_soft_fewer"] for c in decided)
        lines.append(f"| {regime} | {count['soft']} | {count['hard']} | {count['tie']} | {count['neither']} | "
                     f"{sum(c['theory_soft_fewer'] for c in cells)} of {len(cells)} | {agree} of {len(decided)} |")
    return "\n".join(lines)


def accuracy_markdown(acc) -> str:
    teacher = {t["dataset"]: t["test_acc"] for t in acc["teacher"]}
    lines = ["| task | teacher test acc | target | m* hard [interval] | m* soft [interval] |", "|---|---|---|---|---|"]
    cell = {(p["dataset"], p["target_share"], p["label"]): p for p in acc["m_star"]}
    for ds, share in sorted({(p["dataset"], p["target_share"]) for p in acc["m_star"]}):
        h, s = cell.get((ds, share, "hard")), cell.get((ds, share, "soft"))
        lines.append(f"| {ds} | {100 * teacher[ds]:.2f}% | {100 * share:g}% of teacher ({100 * share * teacher[ds]:.2f}%)"
                     f" | {'n/a' if h is None else _interval(h)} | {'n/a' if s is None else _interval(s)} |")
    return "\n".join(lines)


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _log_axes(ax):
    """Log-log axes with plain numbers at the major ticks and no labels at the minor ones."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _plot_mstar(ax, xs, pts, label, top, shift=1.0, legend=True):
    """m* with its bootstrap interval; censored points drawn as ▲ at ``top`` (beyond the grid)."""
    color, marker = _style(label)
    xs = np.asarray(xs, float) * shift
    m = np.array([p["m_star"] for p in pts], float)
    lo = np.array([p["low"] for p in pts], float)
    hi = np.array([min(p["high"], top) for p in pts], float)
    fin = np.isfinite(m)
    order = np.argsort(xs)
    ax.plot(xs[order][fin[order]], m[order][fin[order]], "-", color=color, alpha=0.5)
    ax.errorbar(xs[fin], m[fin], yerr=[m[fin] - np.minimum(lo[fin], m[fin]), np.maximum(hi[fin], m[fin]) - m[fin]],
                fmt=marker, color=color, capsize=2, ms=4, label=label if legend else None,
                mfc=color if legend else "white")
    if (~fin).any():
        ax.plot(xs[~fin], np.full((~fin).sum(), top), "^", color=color, mfc="white", ms=6)


def plot_mstar_gamma(results):
    plt = _plt()
    eps, labels = results["epsilons"], _labels(results)
    regimes = [r for r in REGIME_TITLES if r in results["slopes_by_regime"]]
    top = 1.3 * max(results["widths"])
    fig, axes = plt.subplots(len(regimes), len(eps), figsize=(3.4 * len(eps), 2.9 * len(regimes)), squeeze=False,
                             sharex=True, sharey=True)
    for i, regime in enumerate(regimes):
        for j, e in enumerate(eps):
            ax = axes[i][j]
            for k, label in enumerate(labels):
                for family, fill in (("xor", True), ("separable", False)):
                    pts = [p for p in results["m_star"] if p["regime"] == regime and p["eps"] == e
                           and p["label"] == label and p["family"] == family]
                    if pts:
                        _plot_mstar(ax, [1 / p["gamma"] for p in pts], pts, label, top,
                                    shift=1 + 0.02 * (k - 1), legend=fill)
            _log_axes(ax)
            ax.axhline(max(results["widths"]), color="0.6", lw=0.8, ls=":")
            ax.set_title(f"{regime}, ε = {e:g}", fontsize=8)
            ax.grid(alpha=0.3, which="both")
            if i == len(regimes) - 1:
                ax.set_xlabel("1/γ_K (filled: xor; open: separable)")
            if j == 0:
                ax.set_ylabel("m* (neurons)")
    axes[0][-1].legend(fontsize=6, loc="upper left")
    fig.suptitle("Minimum width m* against the measured margin (bars: bootstrap interval over seeds; "
                 "▲ at the top: censored, no grid width reaches ε; dotted: largest width)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_mstar_eps(results):
    plt = _plt()
    labels = _labels(results)
    regimes = [r for r in REGIME_TITLES if r in results["slopes_by_regime"]]
    names = list(results["datasets"])
    cmap = plt.get_cmap("viridis")
    top = 1.3 * max(results["widths"])
    fig, axes = plt.subplots(len(regimes), len(labels), figsize=(3.3 * len(labels), 2.9 * len(regimes)),
                             squeeze=False, sharex=True, sharey=True)
    for i, regime in enumerate(regimes):
        for j, label in enumerate(labels):
            ax = axes[i][j]
            for k, name in enumerate(names):
                pts = sorted((p for p in results["m_star"] if p["regime"] == regime and p["label"] == label
                              and p["dataset"] == name), key=lambda p: p["eps"])
                if not pts:
                    continue
                color = cmap(k / max(1, len(names) - 1))
                xs = np.array([1 / p["eps"] for p in pts])
                m = np.array([p["m_star"] for p in pts], float)
                fin = np.isfinite(m)
                ax.plot(xs[fin], m[fin], "o-", color=color, ms=3, label=name)
                ax.plot(xs[~fin], np.full((~fin).sum(), top), "^", color=color, mfc="white", ms=5)
            s = results["slopes_by_regime"][regime].get(label, {}).get("inv_eps")
            slope = "" if s is None else f" slope {_num(s['value'])} [{_num(s['low'])}, {_num(s['high'])}]"
            ax.set_title(f"{regime}, {label}:{slope}", fontsize=7)
            _log_axes(ax)
            ax.grid(alpha=0.3, which="both")
            if i == len(regimes) - 1:
                ax.set_xlabel("1/ε")
            if j == 0:
                ax.set_ylabel("m* (neurons)")
    axes[0][-1].legend(fontsize=5, loc="upper left")
    fig.suptitle("Minimum width against the target training error (▲ at the top: censored)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_slopes(results):
    """Fitted exponents with their bootstrap intervals per (regime, label), beside the theory's."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = _labels(results)
    regimes = [r for r in REGIME_TITLES if r in results["slopes_by_regime"]]
    for ax, axis, title in zip(axes, ("inv_gamma", "inv_eps"), ("exponent of 1/γ", "exponent of 1/ε")):
        ticks = []
        for i, regime in enumerate(regimes):
            for j, label in enumerate(labels):
                e = results["slopes_by_regime"][regime].get(label, {}).get(axis)
                if e is None:
                    continue
                x = i * (len(labels) + 1) + j
                color, marker = _style(label)
                if math.isfinite(e["value"]):
                    lo = e["low"] if math.isfinite(e["low"]) else e["value"]
                    hi = e["high"] if math.isfinite(e["high"]) else e["value"]
                    ax.errorbar([x], [e["value"]], yerr=[[max(0, e["value"] - lo)], [max(0, hi - e["value"])]],
                                fmt=marker, color=color, capsize=3)
                else:
                    ax.text(x, 0, "n/a", ha="center", fontsize=6)
                theory = e["theory_exponent"]
                if isinstance(theory, float):
                    ax.plot([x - 0.4, x + 0.4], [theory, theory], "-", color="k", lw=1.5)
                ax.plot([x - 0.4, x + 0.4], [e["theory_fit"]] * 2, "--", color="0.5", lw=1)
                ticks.append((x, f"{regime}\n{label}"))
        ax.set_xticks([t[0] for t in ticks])
        ax.set_xticklabels([t[1] for t in ticks], fontsize=5, rotation=90)
        ax.axhline(0, color="0.8", lw=0.8)
        ax.set_title(f"{title}: fit [bootstrap]; black: theory; dashed: bounds at these points", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_phase(results):
    plt = _plt()
    regimes = [r for r in REGIME_TITLES if any(c["regime"] == r for c in results["phase"])]
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.2 * len(regimes), 3.8), squeeze=False, sharey=True)
    b = results["phase_boundary"]
    eps = np.asarray(b["eps"])
    for ax, regime in zip(axes[0], regimes):
        cells = [c for c in results["phase"] if c["regime"] == regime]
        for winner, (color, marker) in WINNER_STYLE.items():
            pts = [c for c in cells if c["winner"] == winner]
            if pts:
                jitter = np.array([1 + 0.04 * ((hash(c["dataset"]) % 5) - 2) for c in pts])
                ax.scatter([c["eps"] * j for c, j in zip(pts, jitter)], [c["gamma"] for c in pts], c=color,
                           marker=marker, s=28, label=f"{winner} ({len(pts)})")
        ax.plot(eps, np.sqrt(eps), "k--", lw=1, label="γ² = ε (rule of thumb)")
        ax.plot(eps, b["gamma_star"], "k-", lw=1.2, label=f"γ*(ε), bounds (n={b['n']}, δ={b['delta']:g})")
        _log_axes(ax)
        ax.set_xlim(eps.min(), eps.max())
        ax.set_ylim(0.01, 0.5)
        ax.set_xlabel("target training error ε")
        ax.set_title(f"{REGIME_TITLES[regime]}: who needs fewer neurons", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, loc="lower right")
    axes[0][0].set_ylabel("measured margin γ_K")
    fig.suptitle("Theory: soft labels need fewer neurons below the curves (γ < γ*(ε)); points: observed m* "
                 "comparison (soft = kernel teacher, headline scale)", fontsize=8)
    fig.tight_layout()
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
            color, marker = _style(label)
            curve = pts[0]["curve"]
            w = np.array([c["width"] for c in curve])
            mu = np.array([c["test_acc_mean"] for c in curve])
            sd = np.nan_to_num(np.array([c["test_acc_std"] for c in curve]))
            ax.errorbar(w, 100 * mu, yerr=100 * sd, fmt=marker + "-", color=color, ms=3, capsize=2, label=label)
            for p in pts:
                if math.isfinite(p["m_star"]):
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
    md = ["# Neuron scaling of soft vs hard labels", "", "## Data sets and measured margins", "",
          datasets_markdown(results), "", slopes_markdown(results), "", "## Who needs fewer neurons", "",
          phase_markdown(results), "", "## m* per point", "", f"{results['definition']['m_star']}; "
          f"{results['definition']['interval']}. Theorem regime: {results['definition']['theorem_cap']}, "
          f"Corollary 4 read as {results['definition']['corollary4_reading']}.", "", mstar_markdown(results), ""]
    if acc:
        md += ["## Digits: smallest width reaching a share of the teacher's test accuracy", "", acc["protocol"], "",
               accuracy_markdown(acc), ""]
    out.write_text("scaling.md", "\n".join(md))
    figures = {"mstar_gamma.png": plot_mstar_gamma(results), "mstar_eps.png": plot_mstar_eps(results),
               "slopes.png": plot_slopes(results), "phase.png": plot_phase(results)}
    if acc:
        figures["accuracy.png"] = plot_accuracy(acc)
    for name, fig in figures.items():
        out.save_figure(name, fig)
    return ["scaling.md"] + list(figures)
