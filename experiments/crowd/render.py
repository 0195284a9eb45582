"""Tables and figures of the crowd experiment from results.json alone.

crowd.md: the verdict of Kong et al.'s two claims with its preconditions, each claim's own verdict, and
the tables the verdict reads. crowd_real.md / .png: what each real crowd holds (labels, gold labels,
repeated answers), every aggregator's accuracy pooled and per type, majority vote under three tie rules
and the published figures beside ours. crowd_simulated.md / .png: type recovery against n_workers / ln d
for every d, accuracy pooled / partition / oracle, and the gaps. crowd_bridge.md / .png: test accuracy
of the digits students per training target and the paired gaps.
"""
from __future__ import annotations

import math

from experiments import common
from experiments.crowd.analysis import signed

MODE_STYLE = {"plain": ("tab:red", "o", "pooled"), "partition": ("tab:blue", "s", "spectral partition"),
              "oracle": ("black", "^", "oracle types")}
RULE_NAMES = {"lowest": "lowest label", "first_seen": "first seen (crowd-kit 1.4.2)", "random": "random (expected)"}


def pct(value, digits: int = 2) -> str:
    return common.percent(value, digits=digits)


def pct_std(mean, std, digits: int = 1) -> str:
    return common.percent(mean, std, digits)


def gap_text(g, digits: int = 2) -> str:
    return common.gap_points(g, digits)


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


# ------------------------------------------------------------------------------------------ verdict

def verdict_markdown(results) -> str:
    lines = [common.verdict_markdown(results, "Verdict (Kong et al.'s two claims, simulated crowds)")]
    sim = results.get("simulated")
    if sim:
        lines += [common.verdict_markdown(sim["partition_verdict"], "Claim (a): the partition helps"),
                  common.verdict_markdown(sim["recovery_verdict"], "Claim (b): types are recoverable"),
                  "## The numbers the verdict reads", "", claim_tables(sim), ""]
    return "\n".join(lines)


def claim_tables(sim) -> str:
    a, b = sim["partition_test"], sim["recovery_test"]
    if a["at"] is None:
        return "No simulated crowds."
    lines = [f"(a) at d = {a['at']['n_tasks']:,}, n/ln d = {a['at']['ratio']:g}, DS (points; Holm-level intervals, "
             "* = significant):", "",
             "| variant | partition − pooled | oracle − pooled (mean) | excess over the control | outcome |",
             "|---|---|---|---|---|"]
    for c in a["cells"]:
        v = c["variant"]
        spec = next((s for s in a["specific"] if s["variant"] == v), None)
        lines.append(f"| {v} | {gap_text(c)} | {signed(100 * a['oracle'][v])} | {gap_text(spec)} | "
                     f"{a['outcomes'][v]} |")
    if a.get("control"):
        lines.append(f"| same_skills (control) | {gap_text(a['control'])} | — | — | — |")
    if b.get("at"):
        at = b["at"]
        lines += ["", f"(b) recovery error (points): d = {at['smaller_d']:,} minus d = {at['larger_d']:,} at "
                      f"n/ln d = {at['ratio']:g}; n/ln d = {at['smaller_ratio']:g} minus {at['ratio']:g} at "
                      f"d = {at['larger_d']:,}:", "",
                  "| variant | error at smallest d | fall with d | fall with n/ln d | outcome |",
                  "|---|---|---|---|---|"]
        for c in b["d_trend"]:
            v = c["variant"]
            r = next(x for x in b["rho_trend"] if x["variant"] == v)
            lines.append(f"| {v} | {100 * b['error_at_smallest_d'][v]:.2f} | {gap_text(c)} | {gap_text(r)} | "
                         f"{b['outcomes'][v]} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ real crowds

def record_table(real) -> str:
    lines = ["| crowd | answers (used) | tasks | workers | labels (answers) | gold labels | repeated (task, worker) "
             "pairs | duplicates rule |", "|---|---|---|---|---|---|---|---|"]
    for c in real["crowds"] + real["skipped"]:
        r = c["record"]
        counts = ", ".join(f"{k}: {v:,}" for k, v in r["label_counts"].items())
        gold = ", ".join(f"{k}: {v:,}" for k, v in (r["gold_label_counts"] or {}).items()) or "none"
        lines.append(f"| {c['crowd']} | {r['n_answers']:,} ({r['n_answers_used']:,}) | {r['n_tasks']:,} | "
                     f"{r['n_workers']:,} | {counts} | {gold} | {r['duplicated_pairs']:,} "
                     f"({r['conflicting_pairs']:,} conflicting) | {r['duplicates']} |")
    return "\n".join(lines)


def real_accuracy_table(real) -> str:
    """One row per (crowd, aggregator): pooled, per type of the partition, the difference (points)."""
    lines = ["| crowd | aggregator | pooled | partition | partition − pooled |", "|---|---|---|---|---|"]
    for c in real["crowds"]:
        for agg, acc in c["accuracy"].items():
            part = acc.get("partition")
            diff = signed(100 * (part - acc["plain"])) if _finite(part) and _finite(acc["plain"]) else "—"
            lines.append(f"| {c['crowd']} | {agg} | {pct(acc['plain'])} | {pct(part) if part is not None else '—'} | "
                         f"{diff} |")
    return "\n".join(lines)


def tie_rule_table(real) -> str:
    lines = ["| crowd | gold tasks tied | MV, " + " | MV, ".join(RULE_NAMES.values()) + " |",
             "|---|---|" + "---|" * len(RULE_NAMES)]
    for c in real["crowds"]:
        mv = c["mv_tie_rules"]
        lines.append(f"| {c['crowd']} | {mv['n_tied_gold']:,} | " + " | ".join(pct(mv[r]) for r in RULE_NAMES) + " |")
    return "\n".join(lines)


def published_table(real) -> str:
    lines = ["| crowd | method | published | source's tie rule | ours (" + ", ".join(RULE_NAMES.values())
             + " for MV) | closest | verified | source |", "|---|---|---|---|---|---|---|---|"]
    for c in real["crowds"]:
        for p in c["published"]:
            ours = ", ".join(f"{v:.2f} ({signed(v - p['accuracy'])})" if _finite(v) else "n/a"
                             for v in p["ours"].values())
            closest = ("—" if p["method"] != "MV" else RULE_NAMES.get(p["closest_rule"], "the rules agree"))
            lines.append(f"| {c['crowd']} | {p['method']} | {p['accuracy']:.2f} | {p['tie_rule'] or '—'} | {ours} | "
                         f"{closest} | {'yes' if p['verified'] else 'no'} | {p['source']} |")
    return "\n".join(lines)


def types_table(real) -> str:
    lines = ["| crowd | type 0 tasks (gold) | MV on type 0 | type 1 tasks (gold) | MV on type 1 |",
             "|---|---|---|---|---|"]
    for c in real["crowds"]:
        t = c["types"]
        cells = [f"{t[g]['n_tasks']:,} ({t[g]['n_gold']:,}) | {pct(t[g]['mv_random_ties'])}" if g in t else "0 | —"
                 for g in ("0", "1")]
        lines.append(f"| {c['crowd']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def real_markdown(real) -> str:
    parts = [f"# Real crowds ({real['crowd_dir']})", "",
             "Descriptive: the real crowds' task types are unknown, so they are not evidence for the verdict.", "",
             "## What the crowds hold", "", record_table(real), "",
             "## Accuracy (%) on the gold tasks, pooled and per type of the spectral partition", "",
             f"Partition: {real['partition']}. MV: ties to the lowest label.", "", real_accuracy_table(real), "",
             "## Majority vote under three tie rules (%)", "",
             "; ".join(f"{k}: {v}" for k, v in real["tie_rules"].items()) + ".", "", tie_rule_table(real)]
    if any(c["published"] for c in real["crowds"]):
        parts += ["", "## Published figures beside ours (%, ours − published in brackets)", "", published_table(real)]
    parts += ["", "## The two types the partition finds (MV with random ties, %)", "", types_table(real)]
    notes = [f"{c['crowd']}: {w}" for c in real["crowds"] + real["skipped"] for w in c["warnings"]]
    if notes:
        parts += ["", "Reader warnings: " + "; ".join(notes)]
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
    for ax, c in zip(axes[0], crowds, strict=True):
        names = list(c["accuracy"])
        for mode in ("plain", "partition"):
            colour, marker, label = MODE_STYLE[mode]
            pts = [(i, 100 * c["accuracy"][a][mode]) for i, a in enumerate(names) if mode in c["accuracy"][a]]
            ax.plot([i for i, _ in pts], [v for _, v in pts], marker, color=colour, label=label, alpha=0.8)
        for rule, style in (("first_seen", ":"), ("random", "-.")):
            ax.axhline(100 * c["mv_tie_rules"][rule], color="grey", lw=0.8, ls=style, label=f"MV, {RULE_NAMES[rule]}")
        for p in c["published"]:
            ax.axhline(p["accuracy"], color="tab:green" if p["method"] == "DS" else "tab:olive", lw=0.8, ls="--",
                       label=f"published {p['method']}")
        ax.set_xticks(range(len(names)), names, rotation=45, fontsize=8)
        ax.set_title(f"{c['crowd']} ({c['n_tasks']:,} tasks)", fontsize=9)
        ax.set_ylabel("accuracy on gold tasks (%)")
    unique = {}  # the legend entries of every panel (published lines exist only on some crowds)
    for ax in axes[0]:
        handles, labels = ax.get_legend_handles_labels()
        unique.update((label, handle) for label, handle in zip(labels, handles, strict=True) if label not in unique)
    fig.legend(unique.values(), unique.keys(), loc="lower center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, -0.16))
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ simulated

def recovery_table(sim) -> str:
    lines = ["| variant | d | n/ln d | workers n | type recovery (%, mean ± std) | min | crowds recovered perfectly |",
             "|---|---|---|---|---|---|---|"]
    for r in sim["recovery"]:
        lines.append(f"| {r['variant']} | {r['n_tasks']:,} | {r['ratio']:g} | {r['n_workers']} | "
                     f"{pct_std(r['type_recovery_mean'], r['type_recovery_std'], 2)} | {pct(r['type_recovery_min'])} | "
                     f"{100 * r['perfect_share']:.0f}% |")
    return "\n".join(lines)


def simulated_accuracy_table(sim) -> str:
    """Per (variant, d, ρ, aggregator): pooled / partition / oracle (mean ± std) and the paired gaps."""
    acc = {(a["variant"], a["n_tasks"], a["ratio"], a["aggregator"], a["mode"]): a for a in sim["accuracy"]}
    gaps = {(g["variant"], g["n_tasks"], g["ratio"], g["aggregator"], g["mode"]): g for g in sim["gaps"]}
    lines = ["| variant | d | n/ln d (n) | aggregator | pooled | partition | oracle | partition − pooled | "
             "oracle − pooled |", "|---|---|---|---|---|---|---|---|---|"]
    g = sim["grid"]
    aggregators = list(dict.fromkeys(list(g["aggregators"]) + list(g["per_type"])))
    for variant in g["variants"]:
        for d in g["n_tasks"]:
            for ratio, n in zip(g["ratios"], g["n_workers"][str(d)], strict=True):
                for agg in aggregators:
                    cells = [pct_std(acc[k]["accuracy_mean"], acc[k]["accuracy_std"], 2)
                             if (k := (variant, d, ratio, agg, m)) in acc else "—" for m in MODE_STYLE]
                    diffs = [gap_text(gaps[k]) if (k := (variant, d, ratio, agg, m)) in gaps else "—"
                             for m in ("partition", "oracle")]
                    lines.append(f"| {variant} | {d:,} | {ratio:g} ({n}) | {agg} | " + " | ".join(cells + diffs) + " |")
    return "\n".join(lines)


def simulated_markdown(sim) -> str:
    g = sim["grid"]
    text = [f"# Simulated two-type crowds: d ∈ {{{', '.join(f'{d:,}' for d in g['n_tasks'])}}} tasks, "
            f"n = max(3, round(ρ ln d)) workers for ρ ∈ {{{', '.join(f'{r:g}' for r in g['ratios'])}}}, answers per "
            f"task: {g['answers_per_task']}, β = {g['beta']:g}, {g['seeds']} crowds per grid point", "",
            "Type recovery = share of tasks whose type the spectral partition finds (up to naming the types).", "",
            recovery_table(sim), "",
            "Accuracy (%) over crowds, mean ± std; gaps in points, paired by crowd, Holm over every cell of the "
            "table's column (Holm-level intervals, * = significant).", "", simulated_accuracy_table(sim)]
    if sim["errors"]:
        text += ["", "Errors (scored n/a): " + "; ".join(sim["errors"])]
    return "\n".join(text) + "\n"


def simulated_figure(sim):
    import matplotlib.pyplot as plt
    g = sim["grid"]
    variants = g["variants"]
    fig, axes = plt.subplots(len(variants), 3, figsize=(12, 2.9 * len(variants)), squeeze=False)
    rec = {(r["variant"], r["n_tasks"], r["ratio"]): r for r in sim["recovery"]}
    acc = {(a["variant"], a["n_tasks"], a["ratio"], a["aggregator"], a["mode"]): a for a in sim["accuracy"]}
    gaps = {(x["variant"], x["n_tasks"], x["ratio"], x["aggregator"], x["mode"]): x for x in sim["gaps"]}
    colours = plt.cm.viridis([i / max(1, len(g["n_tasks"]) - 1) * 0.85 for i in range(len(g["n_tasks"]))])
    top = max(g["ratios"])
    for row, variant in zip(axes, variants, strict=True):
        for d, colour in zip(g["n_tasks"], colours, strict=True):
            pts = [(r, rec[(variant, d, r)]) for r in g["ratios"] if (variant, d, r) in rec]
            row[0].plot([r for r, _ in pts], [100 * max(s["recovery_error_mean"], 1e-3) for _, s in pts], "o-",
                        color=colour, label=f"d = {d:,}")
            pts = [(r, gaps.get((variant, d, r, "DS", "partition"))) for r in g["ratios"]]
            pts = [(r, x) for r, x in pts if x is not None and _finite(x["gap_mean"])]
            row[1].errorbar([r for r, _ in pts], [100 * x["gap_mean"] for _, x in pts],
                            yerr=[100 * (x["gap_se"] if _finite(x["gap_se"]) else 0) for _, x in pts], marker="s",
                            color=colour, capsize=2, label=f"d = {d:,}")
        row[0].set_yscale("log")
        row[0].set_title(f"{variant}: recovery error (%)", fontsize=9)
        row[1].axhline(0, color="grey", lw=0.6)
        row[1].set_title(f"{variant}: partition+DS − pooled DS (points, ± se)", fontsize=9)
        for ax in row[:2]:
            ax.set_xscale("log", base=2)
            ax.set_xlabel("n_workers / ln d", fontsize=8)
        aggregators = list(dict.fromkeys(list(g["aggregators"]) + list(g["per_type"])))
        for agg in aggregators:
            for mode in ("plain", "partition"):
                pts = [(d, acc[k]) for d in g["n_tasks"] if (k := (variant, d, top, agg, mode)) in acc]
                if pts:
                    row[2].plot([d for d, _ in pts], [100 * a["accuracy_mean"] for _, a in pts],
                                "o-" if mode == "plain" else "s--", label=f"{agg} {MODE_STYLE[mode][2]}", ms=4)
        row[2].set_xscale("log")
        row[2].set_xlabel("d (tasks)", fontsize=8)
        row[2].set_title(f"{variant}: accuracy (%) at n/ln d = {top:g}", fontsize=9)
    for ax in axes.ravel():
        ax.tick_params(labelsize=8)
    axes[0][0].legend(fontsize=7)
    axes[0][2].legend(fontsize=7)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ bridge

def _test_cell(r) -> str:
    if not _finite(r["test_acc_mean"]) and r["n_diverged"]:
        return f"diverged ({r['n_diverged']})"
    text = pct_std(r["test_acc_mean"], r["test_acc_std"], 2)
    return text + (f", {r['n_diverged']} diverged" if r["n_diverged"] else "")


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
        lines.append(f"| {r['width']} | {r['target']} | {r['lr']:g} | {r['steps']} | {_test_cell(r)} | "
                     f"{pct_std(acc[0], acc[1])} | {mass[0]:.3f} |")
    lines += ["", f"Paired gaps (points, {p['gap_test']}; * = significant):", "",
              "| width | treatment − baseline | gap [Holm-level interval] | p (Holm) | seeds | diverged |",
              "|---|---|---|---|---|---|"]
    for g in bridge["gaps"]:
        p_holm = f"{g['p_holm']:.3g}" if _finite(g["p_holm"]) else "—"
        lines.append(f"| {g['width']} | {g['treatment']} − {g['baseline']} | {gap_text(g)} | {p_holm} | "
                     f"{g['n_seeds']} | {g['n_diverged']} |")
    if bridge["n_diverged"]:
        lines += ["", f"{bridge['n_diverged']} run checkpoints diverged: counted, never averaged."]
    return "\n".join(lines) + "\n"


def bridge_figure(bridge):
    import matplotlib.pyplot as plt
    widths = sorted({r["width"] for r in bridge["table"]})
    fig, axes = plt.subplots(1, len(widths), figsize=(6.5 * len(widths), 3.4), squeeze=False)
    for ax, m in zip(axes[0], widths, strict=True):
        rows = [r for r in bridge["table"] if r["width"] == m]
        colours = ["black" if r["target"] == "gold" else "tab:blue" if r["target"].endswith("_soft") else "tab:red"
                   for r in rows]
        means = [100 * r["test_acc_mean"] if _finite(r["test_acc_mean"]) else 0.0 for r in rows]
        ax.bar(range(len(rows)), means, yerr=[100 * r["test_acc_std"] if _finite(r["test_acc_std"]) else 0
                                              for r in rows], color=colours, alpha=0.75, capsize=3)
        low = min([v for v in means if v > 0], default=50.0)
        ax.set_ylim(max(0, low - 6), 100)
        ax.set_xticks(range(len(rows)), [r["target"] for r in rows], rotation=30, fontsize=8)
        ax.set_ylabel("test accuracy (%), report seeds")
        ax.set_title(f"width {m}: red = hard targets, blue = soft, black = gold", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ all

def headline_markdown(results) -> str:
    """A few lines for the terminal: the verdict and the headline numbers of each part that ran."""
    lines = [f"crowd: {results['verdict']} — {results['evidence']}"]
    for c in results.get("real", {}).get("crowds", []):
        a = c["accuracy"]
        ds = a.get("DS", {})
        lines.append(f"{c['crowd']}: MV {pct(c['mv_tie_rules']['lowest'])} (lowest) / "
                     f"{pct(c['mv_tie_rules']['first_seen'])} (first seen) / {pct(c['mv_tie_rules']['random'])} "
                     f"(random), DS {pct(ds.get('plain'))} pooled, {pct(ds.get('partition'))} per type")
    for r in results.get("bridge", {}).get("table", []):
        lines.append(f"bridge m={r['width']} {r['target']}: {_test_cell(r)}")
    return "\n".join(lines)


def render(results, out) -> list[str]:
    """Write crowd.md and every table and figure of the parts present in ``results``; returns the file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.write_text("crowd.md", verdict_markdown(results))
    written = ["crowd.md"]
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
