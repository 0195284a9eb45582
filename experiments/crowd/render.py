"""Tables and figures of the crowd experiment from results.json alone.

crowd_real.md / crowd_real.png: accuracy of every aggregator on each real crowd, plain and after the
partition, and the published figures beside ours. crowd_simulated.md / crowd_simulated.png: type recovery
and accuracy (plain / partition / oracle) against n_workers / ln(n_tasks). crowd_bridge.md /
crowd_bridge.png: test accuracy of the digits students per training target and the paired gaps.
"""
from __future__ import annotations

import math

from experiments import common

MODE_STYLE = {"plain": ("tab:red", "o", "plain"), "partition": ("tab:blue", "s", "spectral partition"),
              "oracle": ("black", "^", "oracle types")}


def pct(value, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f}"


def pct_std(mean, std, digits: int = 1) -> str:
    if mean is None or not math.isfinite(mean):
        return "n/a"
    return f"{100 * mean:.{digits}f} ± {pct(std, digits)}"


def gap_text(g, digits: int = 1) -> str:
    """+x.x [low, high] in points, * when significant (if the gap has a Holm flag)."""
    return common.gap_points(g, digits) if math.isfinite(g["gap_mean"]) else "n/a"


# ------------------------------------------------------------------------------------------ real crowds

def real_accuracy_table(real) -> str:
    """One row per (crowd, aggregator): plain, partition, partition − plain (points)."""
    lines = ["| crowd | tasks × workers (answers, classes) | aggregator | plain | partition | partition − plain |",
             "|---|---|---|---|---|---|"]
    for c in real["crowds"]:
        shape = f"{c['n_tasks']} × {c['n_workers']} ({c['n_answers']}, K={c['n_classes']})"
        for agg, acc in c["accuracy"].items():
            part = acc.get("partition")
            diff = (f"{100 * (part - acc['plain']):+.2f}" if part is not None and math.isfinite(part)
                    and math.isfinite(acc["plain"]) else "—")
            lines.append(f"| {c['crowd']} | {shape} | {agg} | {pct(acc['plain'])} | "
                         f"{pct(part) if part is not None else '—'} | {diff} |")
    return "\n".join(lines)


def published_table(real) -> str:
    lines = ["| crowd | method | published | ours | ours − published | counts in verdict | source |",
             "|---|---|---|---|---|---|---|"]
    for p in real["published"]:
        lines.append(f"| {p['crowd']} | {p['method']} | {p['accuracy']:.2f} | {p['ours_value']:.2f} ({p['ours']}) | "
                     f"{p['difference']:+.2f} | {'yes' if p['verified'] else 'no (unverified)'} | {p['source']} |")
    return "\n".join(lines)


def partition_effect_table(real) -> str:
    crowds = [c["crowd"] for c in real["crowds"]]
    lines = ["| aggregator | " + " | ".join(crowds) + " | helps / same / hurts (±0.5 point) |",
             "|---|" + "---|" * (len(crowds) + 1)]
    for e in real["partition_effect"]:
        cells = [f"{e['difference'][c]:+.2f}" if c in e["difference"] and math.isfinite(e["difference"][c])
                 else "—" for c in crowds]
        lines.append(f"| {e['aggregator']} | " + " | ".join(cells) + f" | {e['helps']} / {e['same']} / {e['hurts']} |")
    return "\n".join(lines)


def types_table(real) -> str:
    lines = ["| crowd | type 0 tasks (gold) | MV on type 0 | type 1 tasks (gold) | MV on type 1 |", "|---|---|---|---|---|"]
    for c in real["crowds"]:
        t = c["types"]
        cells = [f"{t[g]['n_tasks']} ({t[g]['n_gold']}) | {pct(t[g]['mv_random_ties'])}" if g in t else "0 | —"
                 for g in ("0", "1")]
        lines.append(f"| {c['crowd']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def real_markdown(real) -> str:
    parts = [f"# Real crowds: accuracy (%) on the gold tasks ({real['crowd_dir']})", "",
             f"Tie rule: {real['tie_rule']}. Partition: {real['partition']}.", "", real_accuracy_table(real)]
    if real["published"]:
        parts += ["", "## Published figures beside ours (points)", "", published_table(real)]
    parts += ["", "## Does the task-type partition help on real crowds? partition − plain (points)", "",
              partition_effect_table(real), "", "## The two types the partition finds (MV with random ties)", "",
              types_table(real)]
    if real["skipped"]:
        parts += ["", "Skipped: " + "; ".join(f"{s['crowd']} ({s['reason']})" for s in real["skipped"])]
    errors = [f"{c['crowd']}: {k}: {v}" for c in real["crowds"] for k, v in c["errors"].items()]
    if errors:
        parts += ["", "Errors (scored n/a): " + "; ".join(errors)]
    return "\n".join(parts) + "\n"


def real_figure(real):
    import matplotlib.pyplot as plt
    crowds = real["crowds"]
    fig, axes = plt.subplots(1, len(crowds), figsize=(3.2 * len(crowds) + 1, 3.4), squeeze=False)
    for ax, c in zip(axes[0], crowds):
        names = [a for a in c["accuracy"] if "partition" in c["accuracy"][a]]
        for mode in ("plain", "partition"):
            colour, marker, label = MODE_STYLE[mode]
            ax.plot(range(len(names)), [100 * c["accuracy"][a][mode] for a in names], marker, color=colour,
                    label=label, alpha=0.8)
        mv = 100 * c["accuracy"]["MV (random ties)"]["plain"]
        ax.axhline(mv, color="grey", lw=0.8, ls=":", label="MV, random ties")
        for p in c["published"]:
            ax.axhline(p["accuracy"], color="tab:green" if p["method"] == "DS" else "tab:olive", lw=0.8, ls="--",
                       label=f"published {p['method']}")
        ax.set_xticks(range(len(names)), names, rotation=45, fontsize=8)
        ax.set_title(f"{c['crowd']} ({c['n_tasks']} tasks)", fontsize=9)
        ax.set_ylabel("accuracy on gold tasks (%)")
    unique = {}  # the legend entries of every panel (published lines exist only on some crowds)
    for ax in axes[0]:
        handles, labels = ax.get_legend_handles_labels()
        unique.update((label, handle) for label, handle in zip(labels, handles) if label not in unique)
    fig.legend(unique.values(), unique.keys(), loc="lower center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ simulated

def recovery_table(sim) -> str:
    lines = ["| variant | ratio n/ln d | workers n | type recovery (mean ± std) | min | seeds with perfect recovery |",
             "|---|---|---|---|---|---|"]
    for r in sim["recovery"]:
        lines.append(f"| {r['variant']} | {r['ratio']:g} | {r['n_workers']} | "
                     f"{pct_std(r['type_recovery_mean'], r['type_recovery_std'], 2)} | {pct(r['type_recovery_min'])} | "
                     f"{100 * r['perfect_share']:.0f}% |")
    return "\n".join(lines)


def simulated_accuracy_table(sim) -> str:
    """Per (variant, ratio, aggregator): plain / partition / oracle (mean ± std) and the paired gaps."""
    acc = {(a["variant"], a["ratio"], a["aggregator"], a["mode"]): a for a in sim["accuracy"]}
    gaps = {(g["variant"], g["ratio"], g["aggregator"], g["mode"]): g for g in sim["gaps"]}
    lines = ["| variant | n/ln d (n) | aggregator | plain | partition | oracle | partition − plain | oracle − plain |",
             "|---|---|---|---|---|---|---|---|"]
    g = sim["grid"]
    for variant in g["variants"]:
        for ratio, n in zip(g["ratios"], g["n_workers"]):
            for agg in g["aggregators"]:
                cells = [pct_std(acc[k]["accuracy_mean"], acc[k]["accuracy_std"]) if (k := (variant, ratio, agg, m))
                         in acc else "n/a" for m in ("plain", "partition", "oracle")]
                diffs = [gap_text(gaps[k]) if (k := (variant, ratio, agg, m)) in gaps else "n/a"
                         for m in ("partition", "oracle")]
                lines.append(f"| {variant} | {ratio:g} ({n}) | {agg} | " + " | ".join(cells + diffs) + " |")
    return "\n".join(lines)


def simulated_markdown(sim) -> str:
    g = sim["grid"]
    text = [f"# Simulated two-type crowds: d = {g['n_tasks']} tasks (ln d = {g['ln_n_tasks']:.2f}), "
            f"answers per task: {g['answers_per_task']}, β = {g['beta']:g}, {g['seeds']} seeds", "",
            "Type recovery = share of tasks whose type the spectral partition finds (up to naming the types).", "",
            recovery_table(sim), "",
            "Accuracy (%) over seeds, mean ± std; gaps in points, paired by seed (same crowd), [95% t-interval].", "",
            simulated_accuracy_table(sim)]
    if sim["errors"]:
        text += ["", "Errors (scored n/a): " + "; ".join(sim["errors"])]
    return "\n".join(text) + "\n"


def simulated_figure(sim):
    import matplotlib.pyplot as plt
    g = sim["grid"]
    variants, aggs = g["variants"], g["aggregators"]
    fig, axes = plt.subplots(len(variants), len(aggs) + 1, figsize=(2.7 * (len(aggs) + 1), 2.6 * len(variants)),
                             squeeze=False, sharex=True)
    acc = {(a["variant"], a["ratio"], a["aggregator"], a["mode"]): a for a in sim["accuracy"]}
    rec = {(r["variant"], r["ratio"]): r for r in sim["recovery"]}
    for row, variant in zip(axes, variants):
        ax = row[0]
        means = [100 * rec[(variant, r)]["type_recovery_mean"] for r in g["ratios"]]
        stds = [100 * (rec[(variant, r)]["type_recovery_std"] or 0) for r in g["ratios"]]
        ax.errorbar(g["ratios"], means, yerr=stds, marker="o", color="tab:purple", capsize=2)
        ax.axhline(100, color="grey", lw=0.6, ls=":")
        ax.set_title(f"{variant}: type recovery (%)", fontsize=9)
        for ax, agg in zip(row[1:], aggs):
            for mode, (colour, marker, label) in MODE_STYLE.items():
                pts = [(r, acc[k]) for r in g["ratios"] if (k := (variant, r, agg, mode)) in acc]
                ax.errorbar([r for r, _ in pts], [100 * a["accuracy_mean"] for _, a in pts],
                            yerr=[100 * (a["accuracy_std"] if math.isfinite(a["accuracy_std"]) else 0) for _, a in pts],
                            marker=marker, color=colour, label=label, capsize=2, ms=4, alpha=0.85)
            ax.set_title(f"{variant}: {agg} accuracy (%)", fontsize=9)
    for ax in axes.ravel():
        ax.set_xscale("log", base=2)
        ax.tick_params(labelsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("n_workers / ln(n_tasks)", fontsize=8)
    handles, labels = axes[0][1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ bridge

def bridge_markdown(bridge) -> str:
    p = bridge["protocol"]
    q = bridge["label_quality"]
    lines = ["# Bridge: digits students (\"digit > 4\") trained on crowd labels", "",
             f"Crowd: {p['crowd']}; task types: {p['types']}. Students: {p['students']}. Seeds {p['select_seeds']} "
             f"choose (lr, steps) per target on validation accuracy, seeds {p['report_seeds']} report test accuracy. "
             f"Partition type recovery {pct_std(*bridge['type_recovery'], 1)} %.", "",
             "| width | target | lr | steps | test acc (%) | target's label accuracy on train (%) | "
             "mean probability on the true label |", "|---|---|---|---|---|---|---|"]
    for r in bridge["table"]:
        acc, mass = q[r["target"]]["label_acc"], q[r["target"]]["mass_on_truth"]
        lines.append(f"| {r['width']} | {r['target']} | {r['lr']:g} | {r['steps']} | "
                     f"{pct_std(r['test_acc_mean'], r['test_acc_std'], 2)} | {pct_std(acc[0], acc[1])} | "
                     f"{mass[0]:.3f} |")
    lines += ["", f"Paired gaps (points, {p['gap_test']}; * = significant):", "",
              "| width | treatment − baseline | gap [95% interval] | p (Holm) | seeds |", "|---|---|---|---|---|"]
    for g in bridge["gaps"]:
        lines.append(f"| {g['width']} | {g['treatment']} − {g['baseline']} | {gap_text(g, 2)} | "
                     f"{g['p_holm']:.3g} | {g['n_seeds']} |")
    return "\n".join(lines) + "\n"


def bridge_figure(bridge):
    import matplotlib.pyplot as plt
    widths = sorted({r["width"] for r in bridge["table"]})
    fig, axes = plt.subplots(1, len(widths), figsize=(6.5 * len(widths), 3.4), squeeze=False)
    for ax, m in zip(axes[0], widths):
        rows = [r for r in bridge["table"] if r["width"] == m]
        colours = ["black" if r["target"] == "gold" else "tab:blue" if r["target"].endswith("_soft") else "tab:red"
                   for r in rows]
        ax.bar(range(len(rows)), [100 * r["test_acc_mean"] for r in rows],
               yerr=[100 * (r["test_acc_std"] if math.isfinite(r["test_acc_std"]) else 0) for r in rows],
               color=colours, alpha=0.75, capsize=3)
        low = min(100 * r["test_acc_mean"] for r in rows)
        ax.set_ylim(max(0, low - 6), 100)
        ax.set_xticks(range(len(rows)), [r["target"] for r in rows], rotation=30, fontsize=8)
        ax.set_ylabel("test accuracy (%), report seeds")
        ax.set_title(f"width {m}: red = hard targets, blue = soft, black = gold", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ all

def headline_markdown(results) -> str:
    """A few lines for the terminal: the headline numbers of each part that ran."""
    lines = []
    if "real" in results:
        for c in results["real"]["crowds"]:
            a = c["accuracy"]
            lines.append(f"{c['crowd']}: " + ", ".join(f"{k} {pct(v['plain'])}" for k, v in a.items()))
    if "simulated" in results:
        for r in results["simulated"]["recovery"]:
            lines.append(f"{r['variant']} n/ln d = {r['ratio']:g}: type recovery {pct(r['type_recovery_mean'])}%")
    if "bridge" in results:
        lines += [f"bridge width {r['width']} {r['target']}: test {pct_std(r['test_acc_mean'], r['test_acc_std'], 2)}%"
                  for r in results["bridge"]["table"]]
    return "\n".join(lines)


def render(results, out) -> list[str]:
    """Write every table and figure of the parts present in ``results``; returns the file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []
    parts = (("real", real_markdown, real_figure), ("simulated", simulated_markdown, simulated_figure),
             ("bridge", bridge_markdown, bridge_figure))
    for part, markdown, figure in parts:
        if part not in results or (part == "real" and not results["real"]["crowds"]):
            continue
        out.write_text(f"crowd_{part}.md", markdown(results[part]))
        fig = figure(results[part])
        out.save_figure(f"crowd_{part}.png", fig)
        plt.close(fig)
        written += [f"crowd_{part}.md", f"crowd_{part}.png"]
    return written
