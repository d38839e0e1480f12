"""What `training/ablation.py` trains and how its three tables are laid out.

The paper's Tables 1-3 (Neverova & Kokkinos, BMVC 2018) in miniature:

- Table 1, within-part voting: no voting; post-hoc additive, noisy-OR and
  max voting with the bilinear kernel and Gaussian kf = 3 ... 13 (one trained
  network per seed, evaluated with every rule); the STN baseline; end-to-end
  MDN, additive and noisy-OR, with the bilinear kernel, kf = 5 and kf = 11.
- Table 2, capacity: no voting, post-hoc and MDN (bilinear) for two widths of
  the small network.
- Table 3, cross-part voting along the kinematic tree: no voting, post-hoc
  additive and MDN additive with bilinear, kf = 5, kf = 11.

A `TrainedConfig` is one network trained once per seed; a `Row` is one line
of a table: a trained config, optionally re-scored with another voting rule
(post-hoc rows), the paper's number where this project records it, and the
rows it is compared with seed by seed.
"""

import dataclasses

from mdn_tf.evaluation.voting_rules import VotingRule

GAUSSIAN_SIZES = (3, 5, 7, 9, 11, 13)
MDN_KERNELS = (("bilinear", 5), ("gaussian", 5), ("gaussian", 11))
CAPACITIES = (16, 32)  # small_filters: the network's width
DEFAULT_CAPACITY = 32

# PCKh@0.5 Mean on MPII validation reported by the paper (ResNet-152), where
# this project has the number: MDN noisy-OR 88.61 and additive 88.60, STN
# 88.28, no voting 4.3 points below the MDNs. Rows without a recorded number
# print "-".
PAPER = {
    "t1/no voting": 84.3,
    "t1/STN": 88.28,
    "t1/MDN additive, bilinear": 88.60,
    "t1/MDN noisy-OR, bilinear": 88.61,
}

_COMBINE_LABELS = {"additive": "additive", "noisy_or": "noisy-OR", "max": "max"}


def kernel_label(kernel, kernel_size):
    return "bilinear" if kernel == "bilinear" else f"kf={kernel_size}"


@dataclasses.dataclass(frozen=True)
class TrainedConfig:
    """One network trained once per seed (a `train_mpii.py` command line)."""

    variant: str
    combine: str = "noisy_or"
    kernel: str = "bilinear"
    kernel_size: int = 5
    edges: str = "within_part"
    capacity: int = DEFAULT_CAPACITY

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
        return "_".join(parts)

    def argv(self):
        return ["--variant", self.variant, "--combine", self.combine, "--kernel", self.kernel,
                "--kernel-size", str(self.kernel_size), "--edges", self.edges,
                "--small-filters", str(self.capacity)]


@dataclasses.dataclass(frozen=True)
class Row:
    """One table line: a trained config, scored as trained or with `rule`."""

    table: int
    label: str
    config: TrainedConfig
    rule: VotingRule = None  # None: the network's own output
    compare: tuple = ()  # labels of rows in the same table: paired differences

    @property
    def key(self):
        return f"t{self.table}/{self.label}"

    @property
    def paper(self):
        return PAPER.get(self.key)


def _baseline(capacity=DEFAULT_CAPACITY):
    return TrainedConfig("baseline", capacity=capacity)


def table1_rows(mdn_kernels=MDN_KERNELS):
    baseline = _baseline()
    posthoc = TrainedConfig("posthoc")
    rows = [Row(1, "no voting", baseline)]
    for combine in ("additive", "noisy_or", "max"):
        for kernel, size in [("bilinear", 5)] + [("gaussian", k) for k in GAUSSIAN_SIZES]:
            label = f"post-hoc {_COMBINE_LABELS[combine]}, {kernel_label(kernel, size)}"
            rows.append(Row(1, label, posthoc, VotingRule(combine, kernel, size),
                            compare=("no voting",)))
    rows.append(Row(1, "STN", TrainedConfig("stn", "noisy_or"), compare=("no voting",)))
    for combine in ("additive", "noisy_or"):
        for kernel, size in mdn_kernels:
            kernel_name = kernel_label(kernel, size)
            name = f"{_COMBINE_LABELS[combine]}, {kernel_name}"
            compare = ("no voting", f"post-hoc {name}")
            if combine == "noisy_or":  # the paper finds the two rules equal end to end
                compare += (f"MDN additive, {kernel_name}",)
            rows.append(Row(1, f"MDN {name}", TrainedConfig("mdn", combine, kernel, size),
                            compare=compare))
    return rows


def table2_rows(capacities=CAPACITIES):
    rows = []
    for capacity in capacities:
        width = f"width {capacity}"
        posthoc = TrainedConfig("posthoc", capacity=capacity)
        rows.append(Row(2, f"{width}: no voting", _baseline(capacity)))
        for combine in ("additive", "noisy_or"):
            name = _COMBINE_LABELS[combine]
            rows.append(Row(2, f"{width}: post-hoc {name}", posthoc, VotingRule(combine),
                            compare=(f"{width}: no voting",)))
        for combine in ("additive", "noisy_or"):
            name = _COMBINE_LABELS[combine]
            compare = (f"{width}: no voting", f"{width}: post-hoc {name}")
            if combine == "noisy_or":
                compare += (f"{width}: MDN additive",)
            rows.append(Row(2, f"{width}: MDN {name}",
                            TrainedConfig("mdn", combine, capacity=capacity), compare=compare))
    return rows


def table3_rows(mdn_kernels=MDN_KERNELS):
    posthoc = TrainedConfig("posthoc", edges="cross_part")
    rows = [Row(3, "no voting", _baseline())]
    for kernel, size in mdn_kernels:
        name = kernel_label(kernel, size)
        rows.append(Row(3, f"post-hoc additive, {name}", posthoc,
                        VotingRule("additive", kernel, size), compare=("no voting",)))
    for kernel, size in mdn_kernels:
        name = kernel_label(kernel, size)
        rows.append(Row(3, f"MDN additive, {name}",
                        TrainedConfig("mdn", "additive", kernel, size, edges="cross_part"),
                        compare=("no voting", f"post-hoc additive, {name}",
                                 f"within-part MDN additive, {name}")))
    for kernel, size in mdn_kernels:
        name = kernel_label(kernel, size)
        # The within-part MDN of Table 1, repeated so the comparison sits in this table.
        rows.append(Row(3, f"within-part MDN additive, {name}",
                        TrainedConfig("mdn", "additive", kernel, size)))
    return rows


TABLES = {1: table1_rows, 2: table2_rows, 3: table3_rows}
TABLE_TITLES = {
    1: "Table 1: within-part voting",
    2: "Table 2: network capacity (small network widths)",
    3: "Table 3: cross-part voting along the kinematic tree",
}


def plan(tables=(1, 2, 3), capacities=CAPACITIES, mdn_kernels=MDN_KERNELS):
    """Rows of the chosen tables and the distinct configs they need to train.

    Args:
        tables: which tables, from 1, 2, 3. Defaults to all three.
        capacities: Table 2's network widths. Defaults to `CAPACITIES`.
        mdn_kernels: `(kernel, kernel_size)` of the end-to-end rows of
            Tables 1 and 3. Defaults to bilinear, kf = 5 and kf = 11.
    """
    rows = []
    for table in tables:
        if table == 2:
            rows += table2_rows(capacities)
        else:
            rows += TABLES[table](mdn_kernels)
    configs = []
    for row in rows:
        if row.config not in configs:
            configs.append(row.config)
    return rows, configs
