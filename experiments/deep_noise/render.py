"""Tables and figures of the deep experiment from results.json alone: deep_noise.md (the two verdicts, ours
beside the paper's Figure-1 numbers, the paired soft − hard gaps), deep_noise.png (test accuracy against
noise variance, ±1 std; the paper's curves beside when the data are CIFAR) and deep_noise_gap.png
(soft − hard against noise variance with its Holm-level intervals, beside the paper's gap)."""
from __future__ import annotations

import math

from experiments import common
from experiments.deep_noise.analysis import MODELS, PAPER_FIGURE1, PAPER_GAP, PAPER_WIDENING
from kd_theory.protocol import verdicts

COLOURS = {"teacher": "black", "hard": "tab:red", "soft": "tab:blue"}
LABELS = {"teacher": "teacher (VGG 8+3)", "hard": "student, hard labels", "soft": "student, soft labels"}

_gap = common.gap_points


def paper_value(results, model, v):
    """The paper's accuracy (%) of ``model`` at variance v, or None where Figure 1 has no such level."""
    paper = results["paper"]
    for pv, acc in zip(paper["noise_var"], paper[model]):
        if math.isclose(pv, v):
            return acc
    return None


def cell(row) -> str:
    """mean ± std of a table row in %; "diverged (k runs)" when every run diverged; the count beside otherwise."""
    if row is None:
        return "n/a"
    if row["n_seeds"] == 0 and row.get("n_diverged"):
        return f"diverged ({row['n_diverged']} runs)"
    text = common.percent(row["test_acc_mean"], row["test_acc_std"])
    return text + (f" ({row['n_diverged']} diverged)" if row.get("n_diverged") else "")


def gap_cell(g) -> str:
    if g is None:
        return "n/a"
    if g["n_seeds"] == 0 and g.get("n_diverged"):
        return "diverged"
    return _gap(g)


def table_markdown(results) -> str:
    """Per noise level: ours (mean ± std over the report seeds) and the paper's, the chosen T and the gap."""
    p = results["protocol"]
    rows = {(r["noise_var"], r["model"]): r for r in results["rows"]}
    gaps = {g["noise_var"]: g for g in results["gaps"]}
    seeds = lambda s: f"{s[0]}-{s[-1]}" if s else "none"
    lines = [f"# Deep experiment ({results['data']['source']}): test accuracy (%) vs input noise variance", "",
             f"Ours: report seeds {seeds(p['report_seeds'])}, mean ± std, at the early-stopping point; T chosen per "
             f"noise level on the validation accuracy of seeds {seeds(p['select_seeds'])}. soft − hard: mean paired "
             "gap in points [Holm-level interval over the levels], * = significant after Holm over "
             "the noise levels. Paper: CIFAR-10 cat/dog, Figure 1, read off the plot (±0.2).", "",
             "| noise var | teacher | hard | soft | T | soft − hard | paper teacher | paper hard | paper soft | "
             "paper soft − hard |", "|" + "---|" * 10]
    for v in results["grid"]["noise_vars"]:
        ours = [rows.get((v, m)) for m in MODELS]
        paper = [paper_value(results, m, v) for m in MODELS]
        paper_txt = [f"{a:.1f}" if a is not None else "n/a" for a in paper]
        paper_gap = f"{paper[2] - paper[1]:+.1f}" if None not in paper else "n/a"
        T = ours[2]["temperature"] if ours[2] is not None and ours[2]["temperature"] is not None else None
        lines.append(f"| {v:g} | " + " | ".join(cell(r) for r in ours) + f" | {'n/a' if T is None else f'{T:g}'} | "
                     f"{gap_cell(gaps.get(v))} | " + " | ".join(paper_txt) + f" | {paper_gap} |")
    w = results.get("gap_widening")
    if w and w["n_seeds"] >= 2 and math.isfinite(w["mean"]):
        interval = ("(deterministic)" if w["deterministic"] else
                    f"[{100 * w['low']:+.1f}, {100 * w['high']:+.1f}], p = {w['p_value']:.3g}")
        lines += ["", f"Widening of the gap from variance {w['low_noise_var']:g} to {w['high_noise_var']:g} (paired "
                      f"by seed): {100 * w['mean']:+.1f} points {interval} (n = {w['n_seeds']}); the paper's: "
                      f"{PAPER_WIDENING:+.1f} points (0.01 → 0.2)."]
    leads = results.get("teacher_lead", [])
    if leads:
        lines += ["", "Teacher lead over the best student (points): " + ", ".join(
            f"v = {l['noise_var']:g}: {l['lead_points']:+.1f}" if math.isfinite(l["lead_points"]) else
            f"v = {l['noise_var']:g}: n/a" for l in leads) + "; the paper's: " + ", ".join(
            f"{t - max(h, s):+.1f}" for t, h, s in zip(PAPER_FIGURE1["teacher"], PAPER_FIGURE1["hard"],
                                                       PAPER_FIGURE1["soft"])) + "."]
    softness = results.get("label_softness") or []
    if softness:
        by_level = {}
        for x in softness:
            by_level.setdefault(x["noise_var"], []).append(f"T = {x['temperature']:g}: {x['max_over_seeds']:.4f}")
        lines += ["", "Soft labels' mean distance from the teacher's hard labels (worst seed; ≤ "
                  f"{verdicts.SATURATED_LABELS:g} at the lowest T ends the T grid): "
                  + "; ".join(f"v = {v:g}: " + ", ".join(items) for v, items in by_level.items()) + "."]
    return "\n".join(lines)


def details_markdown(results) -> str:
    lines = ["| noise var | model | T | validation acc | best epoch | stop epoch | stopped early or settled | "
             "seeds | diverged |", "|" + "---|" * 9]
    for r in results["rows"]:
        T = "" if r["temperature"] is None else f"{r['temperature']:g}"
        num = lambda x, f="{:.1f}": f.format(x) if x is not None and math.isfinite(x) else "n/a"
        lines.append(f"| {r['noise_var']:g} | {r['model']} | {T} | {common.percent(r['val_acc_mean'])} | "
                     f"{num(r['best_epoch_mean'])} | {num(r['stop_epoch_mean'])} | {num(r['settled_share'], '{:.0%}')} "
                     f"| {r['n_seeds']} | {r['n_diverged']} |")
    lines += ["", "Soft students at every temperature (report seeds; no selection):", "",
              "| noise var | T | test acc | validation acc | diverged |", "|---|---|---|---|---|"]
    for s in sorted((s for s in results["all_temperatures"] if s["model"] == "soft"),
                    key=lambda s: (s["noise_var"], s["temperature"])):
        lines.append(f"| {s['noise_var']:g} | {s['temperature']:g} | "
                     f"{common.percent(s['test_acc_mean'], s['test_acc_std'])} | {common.percent(s['val_acc_mean'])} | "
                     f"{s['n_diverged']} |")
    return "\n".join(lines)


def _new_axes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(6.2, 4.2))


def plot_accuracy(results):
    fig, ax = _new_axes()
    for model in MODELS:
        rows = sorted((r for r in results["rows"] if r["model"] == model and r["n_seeds"]),
                      key=lambda r: r["noise_var"])
        ax.errorbar([r["noise_var"] for r in rows], [100 * r["test_acc_mean"] for r in rows],
                    yerr=[100 * (r["test_acc_std"] if math.isfinite(r["test_acc_std"]) else 0.0) for r in rows],
                    color=COLOURS[model], marker="o", capsize=3, label=f"{LABELS[model]} (ours)")
        if results["data"]["dataset"] == "cifar":
            ax.plot(results["paper"]["noise_var"], results["paper"][model], color=COLOURS[model], ls="--",
                    marker="x", alpha=0.6, label=f"{LABELS[model]} (paper)")
    ax.set_xlabel("noise variance v (x + √v·ξ)")
    ax.set_ylabel("test accuracy (%)")
    n = max((r["n_seeds"] for r in results["rows"]), default=0)
    ax.set_title(f"{results['data']['source']}: mean ± std over {n} seeds", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def plot_gap(results):
    """soft − hard (points) against the noise variance: ours with its Holm-level interval, the paper's beside."""
    fig, ax = _new_axes()
    gaps = sorted((g for g in results["gaps"] if g["n_seeds"] and math.isfinite(g["gap_mean"])),
                  key=lambda g: g["noise_var"])
    if gaps:
        mean = [100 * g["gap_mean"] for g in gaps]
        low = [100 * g["gap_low_adj"] if math.isfinite(g["gap_low_adj"]) else m for g, m in zip(gaps, mean)]
        high = [100 * g["gap_high_adj"] if math.isfinite(g["gap_high_adj"]) else m for g, m in zip(gaps, mean)]
        ax.errorbar([g["noise_var"] for g in gaps], mean, yerr=[[m - l for m, l in zip(mean, low)],
                                                                [h - m for m, h in zip(mean, high)]],
                    color="tab:blue", marker="o", capsize=3,
                    label=f"ours ({results['data']['source']}), Holm-level interval")
    ax.plot(list(PAPER_GAP), list(PAPER_GAP.values()), color="tab:blue", ls="--", marker="x", alpha=0.6,
            label="paper (CIFAR-10 cat/dog, Figure 1)")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xlabel("noise variance v")
    ax.set_ylabel("soft − hard test accuracy (points)")
    ax.set_title("The soft-label advantage against input noise", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def render(results, out) -> list[str]:
    """Write deep_noise.md, deep_noise.png and deep_noise_gap.png; return their names."""
    d, m, t = results["data"], results["models"], results["training"]
    setup = [f"- data: {d['source']}, classes {d['negative_classes']} (−1) vs {d['positive_classes']} (+1), "
             f"{d['n_train']} / {d['n_val']} / {d['n_test']} train / validation / test images {d['image_shape']}; "
             f"noise {d['noise']}",
             *(f"- {role}: {m[role]['name']}, conv channels {m[role]['channels']}, dense {m[role]['dense']} + 1, "
               "feature maps after each block " + ", ".join(f"{h}×{w}" for h, w in m[role]["feature_maps"])
               for role in ("teacher", "student")),
             f"- training: Adam lr {t['learning_rate']:g}, L2 λ = {t['l2']:g} ({t['l2_form']}), "
             f"batch {t['batch_size']}, "
             f"early stopping patience {t['patience']}, at most {t['max_epochs']} epochs",
             f"- run time {results['timings']['total_s']:.0f} s"]
    md = [table_markdown(results), "", common.verdict_markdown(results, "Verdict (the gap at high noise)"),
          common.verdict_markdown(results["widening_verdict"], "Verdict (the gap grows with the noise)")]
    if results["n_diverged"]:
        md += [f"**{results['n_diverged']} runs diverged** (non-finite parameters or loss, or an accuracy outside "
               "[0, 1]); they are counted and left out of every mean and test (results.json: diverged_runs).", ""]
    md += ["## Setup", "", *setup, "", "## Details", "", details_markdown(results), ""]
    out.write_text("deep_noise.md", "\n".join(md))
    out.save_figure("deep_noise.png", plot_accuracy(results))
    out.save_figure("deep_noise_gap.png", plot_gap(results))
    return ["deep_noise.md", "deep_noise.png", "deep_noise_gap.png"]
