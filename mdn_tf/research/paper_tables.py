"""The paper's numbers (Neverova & Kokkinos, BMVC 2018, Tables 1-3), transcribed.

PCKh@0.5 Mean on the MPII validation split, ResNet-152 unless stated,
keyed by the ablation's row keys (`ablation_plan.Row.key`: "t<table>/<label>").
Kernel labels are the paper's kf (a Gaussian window of kf x kf pixels on
64 x 64 maps, sigma = kf / 6); the ablation scales the kernel to its own map
size (`ablation_plan.scaled_kernel`). Source: shared/paper/tables.md.
"""

_KFS = ("bilinear", "kf=3", "kf=5", "kf=7", "kf=9", "kf=11", "kf=13")

# Table 1: within-part voting, ResNet-152.
_POSTHOC = {
    "additive": (87.54, 87.70, 88.01, 88.11, 88.15, 88.19, 88.19),
    "noisy-OR": (87.49, 87.63, 87.84, 87.98, 88.08, 88.19, 88.11),
    "max": (86.69, 86.38, 86.22, 86.03, 85.96, 85.34, 85.12),
}
_MDN = {
    "additive": {"bilinear": 88.60, "kf=5": 88.63, "kf=11": 88.61},
    "noisy-OR": {"bilinear": 88.61, "kf=5": 88.58, "kf=11": 88.32},
}
NO_VOTING = 84.31
STN = 88.28

# Table 2: capacity. The ablation's narrow network stands for ResNet-50, its
# default width (the network of Tables 1 and 3) for ResNet-152.
CAPACITY = {
    "ResNet-50": {"no voting": 83.29, "post-hoc additive": 86.50, "post-hoc noisy-OR": 86.42,
                  "MDN additive": 87.23, "MDN noisy-OR": 87.25},
    "ResNet-101": {"no voting": 84.28, "post-hoc additive": 87.50, "post-hoc noisy-OR": 87.46,
                   "MDN additive": 88.42, "MDN noisy-OR": 88.52},
    "ResNet-152": {"no voting": 84.31, "post-hoc additive": 87.54, "post-hoc noisy-OR": 87.49,
                   "MDN additive": 88.60, "MDN noisy-OR": 88.61},
    "Hourglass-8": {"no voting": 89.24, "post-hoc additive": 89.43, "post-hoc noisy-OR": 89.49,
                    "MDN additive": 89.72, "MDN noisy-OR": 89.64},
}

# Table 3: cross-part voting, ResNet-152 (its baseline also predicts within- and
# cross-part displacements, hence its own no-voting number).
CROSS_PART = {
    "no voting": 83.96,
    "post-hoc additive": {"bilinear": 87.72, "kf=5": 87.64, "kf=11": 87.73},
    "MDN additive": {"bilinear": 88.05, "kf=5": 88.08, "kf=11": 87.83},
}


def table1():
    """`{row label: PCKh@0.5}` of Table 1."""
    rows = {"no voting": NO_VOTING, "STN": STN}
    for rule, values in _POSTHOC.items():
        rows.update({f"post-hoc {rule}, {kf}": value for kf, value in zip(_KFS, values)})
    for rule, values in _MDN.items():
        rows.update({f"MDN {rule}, {kf}": value for kf, value in values.items()})
    return rows


def table3():
    """`{row label: PCKh@0.5}` of Table 3 (within-part rows from Table 1)."""
    rows = {"no voting": CROSS_PART["no voting"]}
    for name in ("post-hoc additive", "MDN additive"):
        rows.update({f"{name}, {kf}": value for kf, value in CROSS_PART[name].items()})
    rows.update({f"within-part MDN additive, {kf}": value
                 for kf, value in _MDN["additive"].items()})
    return rows
