"""What `training/ablation.py` trains and how its four tables are laid out.

The paper's Tables 1-3 (Neverova & Kokkinos, BMVC 2018) in miniature, and a
fourth table that decides the paper's key claim with power:

- Table 1, within-part voting: no voting; post-hoc additive, noisy-OR and
  max voting with the bilinear kernel and Gaussian kf = 3 ... 13 (one trained
  network per seed, scored with every rule); the STN baseline, and its own
  heatmaps without the warp; end-to-end MDN, additive and noisy-OR, with the
  bilinear kernel, kf = 5 and kf = 11.
- Table 2, capacity: no voting, post-hoc and MDN (bilinear) for two widths of
  the small network (standing for the paper's ResNet-50 and ResNet-152).
- Table 3, cross-part voting along the kinematic tree: no voting (the
  cross-part network's own heatmaps, like the paper's three-output
  baseline), post-hoc additive and MDN additive with bilinear, kf = 5, 11.
- Table 4, the verdict: MDN vs post-hoc voting vs no voting, paired. Per
  seed one post-hoc network is trained, then four arms are fine-tuned from
  it with the same data order: post-hoc (voting scored afterwards), MDN
  additive, MDN noisy-OR and the heatmaps-only baseline. The arms differ
  only in the loss of their last stage, so the per-seed differences are
  far less noisy than those of independent trainings; more seeds
  (`VERDICT_SEEDS`) narrow the intervals further.

Kernels at the paper's geometry: a row labelled kf = k means the paper's
Gaussian (kf x kf window on 64 x 64 maps, sigma = kf / 6), scaled to this
run's map size (`scaled_kernel`), so it covers the same share of the crop.

A `TrainedConfig` is one network trained once per seed; a `Row` is one line
of a table: a trained config, optionally re-scored with another voting rule
(post-hoc rows), the paper's number, and the rows it is compared with seed
by seed.
"""

import dataclasses
import math

from mdn_tf.research.voting_rules import NO_VOTING, VotingRule
from mdn_tf.research import paper_tables

GAUSSIAN_SIZES = (3, 5, 7, 9, 11, 13)
MDN_KERNELS = (("bilinear", 5), ("gaussian", 5), ("gaussian", 11))
CAPACITIES = (16, 32)  # small_filters: the network's width
DEFAULT_CAPACITY = 32
# The paper's network each width stands for in Table 2.
CAPACITY_MODELS = {16: "ResNet-50", 32: "ResNet-152"}
PAPER_MAP_SIZE = 64  # the paper's 64 x 64 output maps
VERDICT_SEEDS = 8

_COMBINE_LABELS = {"additive": "additive", "noisy_or": "noisy-OR", "max": "max"}


def scaled_kernel(kernel_size, map_size, paper_map_size=PAPER_MAP_SIZE):
    """The paper's Gaussian kf at another map size: `(window, sigma)` in map pixels.

    sigma = kf / 6 scaled by `map_size / paper_map_size`, and the smallest odd
    window at least as wide as the scaled kf (so at 64 x 64 it is kf itself).

    >>> scaled_kernel(11, 32)
    (7, 0.9166666666666666)
    >>> scaled_kernel(5, 64)
    (5, 0.8333333333333334)
    """
    ratio = map_size / paper_map_size
    half = max(1, math.ceil((kernel_size * ratio - 1.0) / 2.0 - 1e-9))
    return 2 * half + 1, kernel_size * ratio / 6.0


def kernel_label(kernel, kernel_size):
    """The row's kernel in the paper's terms: "bilinear" or "kf=k"."""
    return "bilinear" if kernel == "bilinear" else f"kf={kernel_size}"


def kernel_here(kernel, kernel_size, map_size):
    """The kernel this run votes with, e.g. "7x7, sigma 0.92 px"."""
    if kernel == "bilinear":
        return "bilinear"
    window, sigma = scaled_kernel(kernel_size, map_size)
    return f"{window}x{window}, sigma {sigma:.2f} px"


@dataclasses.dataclass(frozen=True)
class TrainedConfig:
    """One network trained once per seed (a `TrainConfig` of `mdn-tf train`).

    `kernel_size` is the paper's kf; `options(map_size)` scales it. `init`, when
    set, is the config whose trained network (same seed) this one starts from.
    """

    variant: str
    combine: str = "noisy_or"
    kernel: str = "bilinear"
    kernel_size: int = 5
    edges: str = "within_part"
    capacity: int = DEFAULT_CAPACITY
    init: "TrainedConfig" = None

    @property
    def key(self):
        """A folder name that spells out every option."""
        parts = [self.variant, f"w{self.capacity}"]
        if self.variant != "baseline":
            parts.append("cross" if self.edges == "cross_part" else "within")
        if self.variant in ("mdn", "stn"):
            parts.append(self.combine)
        if self.variant == "mdn":
            parts.append(kernel_label(self.kernel, self.kernel_size).replace("=", ""))
        if self.init is not None:
            parts.append(f"from_{self.init.key}")
        return "_".join(parts)

    def options(self, map_size):
        """The training options of this network (`TrainConfig.from_options` names)."""
        options = {"variant": self.variant, "combine": self.combine, "kernel": self.kernel,
                   "edges": self.edges, "small_filters": self.capacity}
        if self.kernel == "gaussian":
            window, sigma = scaled_kernel(self.kernel_size, map_size)
            # Six significant digits: the value the job results were saved with.
            options.update(kernel_size=window, kernel_sigma=float(f"{sigma:.6g}"))
        return options


@dataclasses.dataclass(frozen=True)
class Row:
    """One table line: a trained config, scored as trained or with `rule`."""

    table: int
    label: str
    config: TrainedConfig
    rule: VotingRule = None  # None: the network's own output
    compare: tuple = ()  # labels of rows in the same table: paired differences
    paper: float = None  # the paper's PCKh@0.5, where it has the cell
    kernel: str = "-"  # the kernel this run votes with (`kernel_here`)

    @property
    def key(self):
        return f"t{self.table}/{self.label}"


def _rule(combine, kernel, kernel_size, map_size):
    if kernel == "bilinear":
        return VotingRule(combine)
    window, sigma = scaled_kernel(kernel_size, map_size)
    return VotingRule(combine, "gaussian", window, round(sigma, 6))


def table1_rows(mdn_kernels=MDN_KERNELS, map_size=32):
    paper = paper_tables.table1()
    baseline = TrainedConfig("baseline")
    posthoc = TrainedConfig("posthoc")
    rows = [Row(1, "no voting", baseline, paper=paper["no voting"])]
    for combine in ("additive", "noisy_or", "max"):
        for kernel, size in [("bilinear", 5)] + [("gaussian", k) for k in GAUSSIAN_SIZES]:
            label = f"post-hoc {_COMBINE_LABELS[combine]}, {kernel_label(kernel, size)}"
            rows.append(Row(1, label, posthoc, _rule(combine, kernel, size, map_size),
                            compare=("no voting",), paper=paper[label],
                            kernel=kernel_here(kernel, size, map_size)))
    stn = TrainedConfig("stn", "noisy_or")
    rows.append(Row(1, "STN heatmaps (no warp)", stn, VotingRule(NO_VOTING)))
    rows.append(Row(1, "STN", stn, compare=("no voting", "STN heatmaps (no warp)"),
                    paper=paper["STN"], kernel="bilinear gather"))
    for combine in ("additive", "noisy_or"):
        for kernel, size in mdn_kernels:
            kernel_name = kernel_label(kernel, size)
            name = f"{_COMBINE_LABELS[combine]}, {kernel_name}"
            compare = ("no voting", f"post-hoc {name}")
            if combine == "noisy_or":  # the paper finds the two rules equal end to end
                compare += (f"MDN additive, {kernel_name}",)
            rows.append(Row(1, f"MDN {name}", TrainedConfig("mdn", combine, kernel, size),
                            compare=compare, paper=paper.get(f"MDN {name}"),
                            kernel=kernel_here(kernel, size, map_size)))
    return rows


def table2_rows(capacities=CAPACITIES):
    rows = []
    for capacity in capacities:
        width = f"width {capacity}"
        paper = paper_tables.CAPACITY.get(CAPACITY_MODELS.get(capacity), {})
        posthoc = TrainedConfig("posthoc", capacity=capacity)
        rows.append(Row(2, f"{width}: no voting", TrainedConfig("baseline", capacity=capacity),
                        paper=paper.get("no voting")))
        for combine in ("additive", "noisy_or"):
            name = _COMBINE_LABELS[combine]
            rows.append(Row(2, f"{width}: post-hoc {name}", posthoc, VotingRule(combine),
                            compare=(f"{width}: no voting",),
                            paper=paper.get(f"post-hoc {name}"), kernel="bilinear"))
        for combine in ("additive", "noisy_or"):
            name = _COMBINE_LABELS[combine]
            compare = (f"{width}: no voting", f"{width}: post-hoc {name}")
            if combine == "noisy_or":
                compare += (f"{width}: MDN additive",)
            rows.append(Row(2, f"{width}: MDN {name}",
                            TrainedConfig("mdn", combine, capacity=capacity), compare=compare,
                            paper=paper.get(f"MDN {name}"), kernel="bilinear"))
    return rows


def table3_rows(mdn_kernels=MDN_KERNELS, map_size=32):
    paper = paper_tables.table3()
    posthoc = TrainedConfig("posthoc", edges="cross_part")
    # The cross-part network's own heatmaps: the paper's three-output baseline.
    rows = [Row(3, "no voting", posthoc, VotingRule(NO_VOTING), paper=paper["no voting"])]
    for kernel, size in mdn_kernels:
        name = kernel_label(kernel, size)
        rows.append(Row(3, f"post-hoc additive, {name}", posthoc,
                        _rule("additive", kernel, size, map_size), compare=("no voting",),
                        paper=paper[f"post-hoc additive, {name}"],
                        kernel=kernel_here(kernel, size, map_size)))
    for kernel, size in mdn_kernels:
        name = kernel_label(kernel, size)
        rows.append(Row(3, f"MDN additive, {name}",
                        TrainedConfig("mdn", "additive", kernel, size, edges="cross_part"),
                        compare=("no voting", f"post-hoc additive, {name}",
                                 f"within-part MDN additive, {name}"),
                        paper=paper[f"MDN additive, {name}"],
                        kernel=kernel_here(kernel, size, map_size)))
    for kernel, size in mdn_kernels:
        name = kernel_label(kernel, size)
        # The within-part MDN of Table 1, repeated so the comparison sits in this table.
        rows.append(Row(3, f"within-part MDN additive, {name}",
                        TrainedConfig("mdn", "additive", kernel, size),
                        paper=paper[f"within-part MDN additive, {name}"],
                        kernel=kernel_here(kernel, size, map_size)))
    return rows


def table4_rows():
    """The paired verdict: four arms fine-tuned from one post-hoc network per seed."""
    paper = paper_tables.table1()
    start = TrainedConfig("posthoc")
    posthoc = TrainedConfig("posthoc", init=start)
    rows = [Row(4, "no voting", TrainedConfig("baseline", init=start), paper=paper["no voting"])]
    for combine in ("additive", "noisy_or"):
        label = f"post-hoc {_COMBINE_LABELS[combine]}, bilinear"
        rows.append(Row(4, label, posthoc, VotingRule(combine), compare=("no voting",),
                        paper=paper[label], kernel="bilinear"))
    for combine in ("additive", "noisy_or"):
        name = f"{_COMBINE_LABELS[combine]}, bilinear"
        compare = ("no voting", f"post-hoc {name}")
        if combine == "noisy_or":
            compare += ("MDN additive, bilinear",)
        rows.append(Row(4, f"MDN {name}", TrainedConfig("mdn", combine, init=start),
                        compare=compare, paper=paper[f"MDN {name}"], kernel="bilinear"))
    return rows


TABLE_TITLES = {
    1: "Table 1: within-part voting",
    2: "Table 2: network capacity (small network widths; paper: ResNet-50 for width 16, "
       "ResNet-152 for width 32)",
    3: "Table 3: cross-part voting along the kinematic tree",
    4: "Table 4: the verdict, paired (every arm fine-tuned from one post-hoc network per seed)",
}


def plan(tables=(1, 2, 3, 4), capacities=CAPACITIES, mdn_kernels=MDN_KERNELS, map_size=32):
    """Rows of the chosen tables and the distinct configs they need to train.

    Args:
        tables: which tables, from 1, 2, 3, 4. Defaults to all four.
        capacities: Table 2's network widths. Defaults to `CAPACITIES`.
        mdn_kernels: `(kernel, paper kf)` of the end-to-end rows of Tables 1
            and 3. Defaults to bilinear, kf = 5 and kf = 11.
        map_size: this run's output map size (the kernels are scaled to it).
            Defaults to 32 (the built-in sample's 128-pixel crops).

    Returns:
        `(rows, configs)`; a config that initialises others comes before them.
    """
    rows = []
    for table in tables:
        if table == 1:
            rows += table1_rows(mdn_kernels, map_size)
        elif table == 2:
            rows += table2_rows(capacities)
        elif table == 3:
            rows += table3_rows(mdn_kernels, map_size)
        else:
            rows += table4_rows()
    configs = []
    for row in rows:
        for config in (row.config.init, row.config):
            if config is not None and config not in configs:
                configs.append(config)
    return rows, configs
