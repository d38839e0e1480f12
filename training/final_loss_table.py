#!/usr/bin/env python3
"""Is a perfect network the minimum of the final-map loss? The table behind issue 18.

    python training/final_loss_table.py                       # markdown on stdout (~30 s)
    python training/final_loss_table.py --output docs/results/final_loss_minimum.md

For each final-target form ("paper": the paper's disks and Gaussians;
"voted": the codec's targets voted like the model), rule, kernel (bilinear,
the paper's kf = 5 and 11 at 64 x 64, and the same kf scaled to 32 x 32) and
map size, the final-map loss of a network that outputs exactly the codec's
targets, and of the perturbation that scores best against it
(`mdn_tf.research.loss_minimum`). A form is consistent when "perfect" is
the best row.
"""

import argparse
import os
import sys

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KERNELS = (("bilinear", 5), ("gaussian", 5), ("gaussian", 11))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="also write the markdown here")
    parser.add_argument("--people", type=int, default=4, help="random people per cell")
    args = parser.parse_args(argv)

    from mdn_tf.research.loss_minimum import perturbation_losses
    from mdn_tf.final_supervision import FinalSupervision
    from mdn_tf.research.ablation_plan import scaled_kernel

    lines = ["| form | rule | kernel (paper kf) | map | voted peak | perfect | best perturbation "
             "| its loss | perfect is the minimum |", "|---|---|---|---:|---:|---:|---|---:|---|"]
    for form in ("paper", "voted"):
        for combine in ("additive", "noisy_or", "max"):
            for kernel, kf in KERNELS:
                for size in (32, 64):
                    window, sigma = (5, None) if kernel == "bilinear" else scaled_kernel(kf, size)
                    supervision = FinalSupervision(combine, kernel, window, sigma, form=form)
                    results = perturbation_losses(supervision, (size, size), people=args.people)
                    perfect = results["perfect"]["final"]
                    best = min(results, key=lambda name: results[name]["final"])
                    label = "bilinear" if kernel == "bilinear" else (
                        f"kf={kf} ({window}x{window}, sigma {sigma:.2f})")
                    ok = "yes" if best == "perfect" else "**no**"
                    lines.append(
                        f"| {form} | {combine} | {label} | {size} | "
                        f"{results['perfect']['peak']:.2f} | {perfect:.3g} | {best} | "
                        f"{results[best]['final']:.3g} | {ok} |")
                    print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write("Final-map loss (mean per pixel) of a perfect network and of its best "
                    "perturbation, 4 random people per cell "
                    "(`python training/final_loss_table.py`).\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
