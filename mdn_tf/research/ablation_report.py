"""The ablation's tables: per-row seed statistics, markdown, JSON and a chart.

`summarize_rows` turns the per-seed scores of every job into one dict per
table row: mean ± std of PCKh@0.5 Mean, PCKh@0.1 Mean and AUC over seeds,
and, for every row it is compared with, the paired per-seed difference of
PCKh@0.5 with its 95% interval (`mdn_tf.research.seed_statistics`).
"""

import math

from mdn_tf.research.seed_statistics import paired_difference, summarize
from mdn_tf.research.ablation_plan import TABLE_TITLES
from mdn_tf.research.ablation_runner import METRICS


def row_scores(row, results, seeds):
    """`{seed: metric dict}` of one row, for the seeds whose job has a result."""
    scores = {}
    for seed in seeds:
        result = results.get((row.config.key, seed))
        if result is None:
            continue
        scores[seed] = result["own"] if row.rule is None else result["rules"][row.rule.name]
    return scores


def summarize_rows(rows, results, seeds):
    """One summary dict per row: statistics of each metric and the comparisons.

    Args:
        rows: `ablation_plan.Row`s.
        results: `{(config key, seed): job result}`; jobs without a result yet
            are left out (a partial run gives partial rows).
        seeds: the seeds of every row, or `{table: seeds}`.

    Comparisons pair the seeds both rows have.
    """
    def seeds_of(row):
        return seeds[row.table] if isinstance(seeds, dict) else seeds

    per_row = {row.key: row_scores(row, results, seeds_of(row)) for row in rows}
    summary = []
    for row in rows:
        scores = per_row[row.key]
        entry = {"table": row.table, "label": row.label, "config": row.config.key,
                 "rule": None if row.rule is None else row.rule.name, "paper": row.paper,
                 "kernel": row.kernel, "seeds": sorted(scores)}
        for metric in METRICS:
            entry[metric] = summarize([s[metric] for s in scores.values()]) if scores else None
        entry["compare"] = []
        for other in row.compare:
            other_scores = per_row[f"t{row.table}/{other}"]
            common = sorted(set(scores) & set(other_scores))
            if not common:
                continue
            difference = paired_difference([scores[s]["Mean"] for s in common],
                                           [other_scores[s]["Mean"] for s in common])
            # The same pairing at the strict threshold: where localisation shows.
            strict = paired_difference([scores[s]["Mean@0.1"] for s in common],
                                       [other_scores[s]["Mean@0.1"] for s in common])
            entry["compare"].append({"against": other, **difference, "Mean@0.1": strict})
        summary.append(entry)
    return summary


def _spread(stat):
    if stat is None:
        return "(not run yet)"
    if math.isnan(stat["std"]):
        return f"{stat['mean']:.2f}"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f}"


def _difference(comparison):
    if math.isnan(comparison["low"]):
        return f"{comparison['mean']:+.2f} vs {comparison['against']}"
    return (f"{comparison['mean']:+.2f} [{comparison['low']:+.2f}, {comparison['high']:+.2f}] "
            f"vs {comparison['against']}")


def _strict_difference(comparison):
    strict = comparison.get("Mean@0.1")
    return "" if strict is None else _difference({**strict, "against": comparison["against"]})


# Tables whose markdown also pairs PCKh@0.1 (the verdict, where precision matters).
STRICT_TABLES = (4,)


def format_markdown(summary):
    """The tables in markdown (mean ± std over seeds; paired differences)."""
    lines = []
    for table in sorted({entry["table"] for entry in summary}):
        entries = [e for e in summary if e["table"] == table]
        counts = sorted({len(e["seeds"]) for e in entries if e["seeds"]})
        n = "/".join(str(c) for c in counts) or "0"
        lines += [f"### {TABLE_TITLES[table]}", "",
                  f"PCKh on the validation split, flip test; mean ± std over {n} seeds; "
                  "kernel: the paper's kf scaled to this map size; last column: paired "
                  "per-seed difference of PCKh@0.5 Mean with its 95% interval.", "",
                  "| row | kernel here | PCKh@0.5 Mean | PCKh@0.1 Mean | AUC | "
                  "paper (PCKh@0.5) | paired difference, PCKh@0.5 |"
                  + (" paired difference, PCKh@0.1 |" if table in STRICT_TABLES else ""),
                  "|---|---|---:|---:|---:|---:|---|"
                  + ("---|" if table in STRICT_TABLES else "")]
        for e in entries:
            paper = "-" if e["paper"] is None else f"{e['paper']:.2f}"
            compare = "<br>".join(_difference(c) for c in e["compare"])
            line = (f"| {e['label']} | {e.get('kernel', '-')} | {_spread(e['Mean'])} | "
                    f"{_spread(e['Mean@0.1'])} | {_spread(e['AUC'])} | {paper} | {compare} |")
            if table in STRICT_TABLES:
                line += " " + "<br>".join(_strict_difference(c) for c in e["compare"]) + " |"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def plot_summary(summary, path):
    """Writes a PNG: per table, mean ± std of PCKh@0.5 per row with each seed's dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = [e for e in summary if e["Mean"] is not None]  # rows not run yet
    tables = sorted({entry["table"] for entry in summary})
    heights = [sum(e["table"] == t for e in summary) for t in tables]
    figure, axes = plt.subplots(len(tables), 1, figsize=(9, 1.2 + 0.28 * sum(heights)),
                                gridspec_kw={"height_ratios": heights}, squeeze=False)
    for axis, table in zip(axes[:, 0], tables):
        entries = [e for e in summary if e["table"] == table]
        positions = list(range(len(entries)))[::-1]
        for y, e in zip(positions, entries):
            stat = e["Mean"]
            color = ("tab:gray" if e["config"].startswith("baseline") else
                     "tab:orange" if e["rule"] else "tab:blue")
            std = 0.0 if math.isnan(stat["std"]) else stat["std"]
            axis.barh(y, stat["mean"], xerr=std, color=color, alpha=0.6, capsize=2)
            axis.plot(stat["values"], [y] * len(stat["values"]), "k.", markersize=3)
            if e["paper"] is not None:
                axis.plot([e["paper"]], [y], "r|", markersize=10)
        axis.set_yticks(positions)
        axis.set_yticklabels([e["label"] for e in entries], fontsize=7)
        axis.set_title(TABLE_TITLES[table], fontsize=9)
        axis.set_xlabel("PCKh@0.5 Mean (bars: mean ± std over seeds, dots: seeds, "
                        "red: paper)", fontsize=7)
        axis.tick_params(axis="x", labelsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
