"""Table and figure of the deep experiment from results.json alone: deep_noise.md (ours beside the
paper's Figure-1 numbers, the paired soft − hard gaps) and deep_noise.png (test accuracy against
noise variance with ±1 std error bars; the paper's curves drawn beside when the data are CIFAR)."""
from __future__ import annotations

import math

from experiments import common
from experiments.deep_noise.protocol import MODELS

SOURCES = {"digits": "sklearn digits 8x8", "mnist": "MNIST 28x28", "cifar": "CIFAR-10 cat/dog 32x32"}
COLOURS = {"teacher": "black", "hard": "tab:red", "soft": "tab:blue"}
LABELS = {"teacher": "teacher (VGG 8+3)", "hard": "student, hard labels", "soft": "student, soft labels"}


_pct = common.percent
_gap = common.gap_points


def _paper(results, model, v):
    paper = results["paper"]
    for pv, acc in zip(paper["noise_var"], paper[model]):
        if math.isclose(pv, v):
            return acc
    return None


def table_markdown(results) -> str:
    """Per noise level: ours (mean ± std over the report seeds) and the paper's, the chosen T and
    the paired gap."""
    p = results["protocol"]
    rows = {(r["noise_var"], r["model"]): r for r in results["rows"]}
    gaps = {g["noise_var"]: g for g in results["gaps"]}
    lines = [f"# Deep experiment ({results['data']['source']}): test accuracy (%) vs input noise variance", "",
             f"Ours: report seeds {p['report_seeds'][0]}-{p['report_seeds'][-1]}, mean ± std, at the early-stopping "
             f"point; T chosen per noise level on the validation accuracy of seeds {p['select_seeds'][0]}-"
             f"{p['select_seeds'][-1]}. soft − hard: mean paired gap in points [95% interval], * = significant after "
             "Holm over the noise levels. Paper: CIFAR-10 cat/dog, Figure 1, read off the plot (±0.2).", "",
             "| noise var | teacher | hard | soft | T | soft − hard | paper teacher | paper hard | paper soft | "
             "paper soft − hard |", "|" + "---|" * 10]
    for v in results["grid"]["noise_vars"]:
        ours = [rows.get((v, m)) for m in MODELS]
        paper = [_paper(results, m, v) for m in MODELS]
        paper_txt = [f"{a:.1f}" if a is not None else "n/a" for a in paper]
        paper_gap = f"{paper[2] - paper[1]:+.1f}" if None not in paper else "n/a"
        lines.append(f"| {v:g} | " + " | ".join(_pct(r["test_acc_mean"], r["test_acc_std"]) if r else "n/a"
                                                for r in ours)
                     + f" | {ours[2]['temperature']:g} | {_gap(gaps[v]) if v in gaps else 'n/a'} | "
                     + " | ".join(paper_txt) + f" | {paper_gap} |")
    w = results["gap_widening"]
    if w["n"] >= 2:
        lines += ["", f"Widening of the gap from variance {w['low_noise_var']:g} to {w['high_noise_var']:g} (paired by "
                      f"seed): {100 * w['mean']:+.1f} points [{100 * w['low']:+.1f}, {100 * w['high']:+.1f}], "
                      f"p = {w['p_value']:.3g} (n = {w['n']}); the paper's: about +7 points."]
    return "\n".join(lines)


def details_markdown(results) -> str:
    lines = ["| noise var | model | T | validation acc | best epoch | stop epoch | seeds |", "|" + "---|" * 7]
    for r in results["rows"]:
        T = "" if r["temperature"] is None else f"{r['temperature']:g}"
        lines.append(f"| {r['noise_var']:g} | {r['model']} | {T} | {_pct(r['val_acc_mean'])} | "
                     f"{r['best_epoch_mean']:.1f} | {r['stop_epoch_mean']:.1f} | {r['n_seeds']} |")
    lines += ["", "Soft students at every temperature (report seeds; no selection):", "",
              "| noise var | T | test acc | validation acc |", "|---|---|---|---|"]
    for s in sorted((s for s in results["all_temperatures"] if s["model"] == "soft"),
                    key=lambda s: (s["noise_var"], s["temperature"])):
        lines.append(f"| {s['noise_var']:g} | {s['temperature']:g} | {_pct(s['test_acc_mean'], s['test_acc_std'])} | "
                     f"{_pct(s['val_acc_mean'])} |")
    return "\n".join(lines)


def plot(results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    for model in MODELS:
        rows = sorted((r for r in results["rows"] if r["model"] == model), key=lambda r: r["noise_var"])
        ax.errorbar([r["noise_var"] for r in rows], [100 * r["test_acc_mean"] for r in rows],
                    yerr=[100 * r["test_acc_std"] for r in rows], color=COLOURS[model], marker="o", capsize=3,
                    label=f"{LABELS[model]} (ours)")
        if results["data"]["preset"] == "cifar":
            ax.plot(results["paper"]["noise_var"], results["paper"][model], color=COLOURS[model], ls="--",
                    marker="x", alpha=0.6, label=f"{LABELS[model]} (paper)")
    ax.set_xlabel("noise variance v (x + √v·ξ)")
    ax.set_ylabel("test accuracy (%)")
    n = results["rows"][0]["n_seeds"] if results["rows"] else 0
    ax.set_title(f"{results['data']['source']}: mean ± std over {n} seeds", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def render(results, out) -> list[str]:
    """Write deep_noise.md and deep_noise.png; return their names."""
    d, m, t = results["data"], results["models"], results["training"]
    setup = [f"- data: {d['source']}, classes {d['negative_classes']} (−1) vs {d['positive_classes']} (+1), "
             f"{d['n_train']} / {d['n_val']} / {d['n_test']} train / validation / test images {d['image_shape']}; "
             f"noise {d['noise']}",
             *(f"- {role}: {m[role]['name']}, conv channels {m[role]['channels']}, dense {m[role]['dense']} + 1, "
               f"feature maps after each block {m[role]['feature_maps']}" for role in ("teacher", "student")),
             f"- training: Adam lr {t['learning_rate']:g}, L2 λ = {t['l2']:g} ({t['l2_form']}), batch {t['batch_size']}, "
             f"early stopping patience {t['patience']}, at most {t['max_epochs']} epochs",
             f"- run time {results['timings']['total_s']:.0f} s"]
    md = [table_markdown(results), "", "## Setup", "", *setup, "", "## Details", "", details_markdown(results), ""]
    out.write_text("deep_noise.md", "\n".join(md))
    out.save_figure("deep_noise.png", plot(results))
    return ["deep_noise.md", "deep_noise.png"]
