"""A PyTorch peer for the CUDA mass-displacement kernels, on the same card.

Times torch splats of the SAME votes the CUDA harness times: the harness
(custom_ops/mass_displacement/cuda_harness/harness.cu) writes its benchmark
inputs with ``--dump DIR`` (float32 raw arrays + meta.json per vote kind,
plus its own forward outputs), and this script reads them, builds the tap
indices and weights with vectorised torch ops (as a user would write it) and
splats them:

    additive   index_add_
    noisy-OR   scatter_reduce(..., "prod") of the factors 1 - v, m = 1 - prod
    max        scatter_reduce(..., "amax") into zeros

forward and forward+backward (autograd w.r.t. heatmaps and both offsets, with
the dumped upstream gradient), bilinear and Gaussian kf=5 and kf=13 (sigma =
kf / 6), random and converged votes, B=32, J=16, 64x64, float32, CUDA-event
medians. The vote geometry is the kernels': landing x' = j + s * ox, taps at
floor(x') + {0, 1} (bilinear) or floor(x' + 1/2) - R + {0..kf-1} (Gaussian),
off-map taps dropped, votes landing beyond the reach dropped, v = wx * (wy * c)
with c clipped to [0, 1] for noisy-OR. Off-map taps go to a dummy slot (no
boolean indexing, so no host sync).

With ``--harness-log`` it merges the harness's TIME lines into one markdown
table (ours = the kernels with their default strategy; alt = the other strategy):

    python3 benchmarks/gpu/torch_splat_peer.py --dump DIR --harness-log harness.log \
        --table peer_table.md

``--self-test`` runs a tiny problem on the CPU (no dump, no GPU) to check the
script itself. The first column compares torch's forward with the harness's
forward outputs of the same case (max |difference|), so both sides are
checked to compute the same thing.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
import time

import numpy as np
import torch

COMBINES = ("additive", "noisy_or", "max")
KERNELS = (2, 5, 13)  # 2 = bilinear, else the Gaussian kf
VOTES = ("random", "converged")


def kernel_name(kf):
    return "bilinear" if kf == 2 else "gaussian%d" % kf


def load_votes(directory, device):
    with open(os.path.join(directory, "meta.json")) as f:
        meta = json.load(f)
    B, H, W = meta["batch"], meta["height"], meta["width"]
    J, E, T = meta["num_maps"], meta["num_edges"], meta["num_targets"]

    def read(name, channels):
        array = np.fromfile(os.path.join(directory, name + ".f32"), dtype=np.float32)
        return torch.from_numpy(array.reshape(B, H, W, channels)).to(device)

    data = {
        "heatmaps": read("heatmaps", J),
        "offsets_x": read("offsets_x", E),
        "offsets_y": read("offsets_y", E),
        "grad": read("grad", T),
    }
    return meta, data


def make_splat(meta, combine, kf, device):
    """Returns forward(heatmaps, offsets_x, offsets_y) -> m [B, H, W, T]."""
    B, H, W = meta["batch"], meta["height"], meta["width"]
    T = meta["num_targets"]
    scale = float(meta["scale"])
    gaussian = kf != 2
    taps = kf if gaussian else 2
    reach = kf // 2 if gaussian else 1
    inv_two_var = 0.5 / (kf / 6.0) ** 2
    sources = torch.tensor(meta["sources"], device=device)
    targets = torch.tensor(meta["targets"], device=device)
    n_out = B * H * W * T
    f32 = torch.float32
    jj = torch.arange(W, device=device, dtype=f32).view(1, 1, W, 1)
    ii = torch.arange(H, device=device, dtype=f32).view(1, H, 1, 1)
    bb = torch.arange(B, device=device).view(B, 1, 1, 1, 1)
    k = torch.arange(taps, device=device, dtype=f32)

    def axis(land, size):
        # Taps [B, H, W, E, K] (integer coordinates) and their weights.
        first = torch.floor(land + 0.5) - reach if gaussian else torch.floor(land)
        coord = first.unsqueeze(-1) + k
        if gaussian:
            d = coord - land.unsqueeze(-1)
            weight = torch.exp(-(d * d) * inv_two_var)
        else:
            frac = (land - first).unsqueeze(-1)
            weight = torch.cat([1 - frac, frac], dim=-1)
        inside = (coord >= 0) & (coord < size)
        return coord.long(), weight, inside

    def forward(heatmaps, offsets_x, offsets_y):
        c = heatmaps[..., sources]  # [B, H, W, E]
        if combine == "noisy_or":
            c = c.clamp(0, 1)
        lx = jj + scale * offsets_x
        ly = ii + scale * offsets_y
        # Votes landing beyond the reach (or NaN / inf) are dropped.
        ok = (lx >= -(reach + 1)) & (lx <= W + reach) & (ly >= -(reach + 1)) & (ly <= H + reach)
        lx = torch.where(ok, lx, torch.zeros_like(lx))
        ly = torch.where(ok, ly, torch.zeros_like(ly))
        tx, wx, in_x = axis(lx, W)
        ty, wy, in_y = axis(ly, H)
        # v = wx * (wy * c): [B, H, W, E, Ky, Kx]
        v = wx.unsqueeze(-2) * (wy * c.unsqueeze(-1)).unsqueeze(-1)
        row = (bb * H + ty) * W  # [B, H, W, E, Ky]
        index = (row.unsqueeze(-1) + tx.unsqueeze(-2)) * T + targets.view(1, 1, 1, -1, 1, 1)
        valid = ok[..., None, None] & in_y.unsqueeze(-1) & in_x.unsqueeze(-2)
        index = torch.where(valid, index, torch.full_like(index, n_out)).reshape(-1)
        v = v.reshape(-1)
        if combine == "additive":
            out = torch.zeros(n_out + 1, device=device, dtype=f32).index_add_(0, index, v)
        elif combine == "noisy_or":
            prod = torch.ones(n_out + 1, device=device, dtype=f32).scatter_reduce(
                0, index, 1 - v, reduce="prod", include_self=True)
            out = 1 - prod
        else:
            out = torch.zeros(n_out + 1, device=device, dtype=f32).scatter_reduce(
                0, index, v, reduce="amax", include_self=True)
        return out[:n_out].view(B, H, W, T)

    return forward


def time_ms(fn, device, budget_ms=1500.0, max_reps=15):
    """Median milliseconds of fn() (CUDA events on a GPU, wall clock on the CPU)."""
    def once():
        if device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            return start.elapsed_time(stop)
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    first = once()  # warm-up (allocator, kernels)
    once()
    reps = int(max(3, min(max_reps, budget_ms / max(first, 1e-3))))
    return statistics.median(once() for _ in range(reps))


def run_case(meta, data, combine, kf, device, ours_dir=None):
    forward = make_splat(meta, combine, kf, device)
    heat, ox, oy, grad = data["heatmaps"], data["offsets_x"], data["offsets_y"], data["grad"]
    with torch.no_grad():
        fwd_ms = time_ms(lambda: forward(heat, ox, oy), device)
        out = forward(heat, ox, oy)
    diff = None
    if ours_dir is not None:
        path = os.path.join(ours_dir, "out_%s_%s.f32" % (combine, kernel_name(kf)))
        if os.path.exists(path):
            ours = torch.from_numpy(np.fromfile(path, dtype=np.float32)).to(device).view_as(out)
            d = (out - ours).abs()
            both_nan = torch.isnan(out) & torch.isnan(ours)
            d = torch.where(both_nan, torch.zeros_like(d), d)
            diff = float(torch.nan_to_num(d, nan=float("inf")).max())
    del out
    inputs = [t.detach().clone().requires_grad_(True) for t in (heat, ox, oy)]

    def forward_backward():
        m = forward(*inputs)
        return torch.autograd.grad(m, inputs, grad)

    both_ms = time_ms(forward_backward, device)
    del inputs
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return fwd_ms, both_ms, diff


TIME_RE = re.compile(
    r"^TIME impl=(?P<impl>\S+) strategy=(?P<strategy>\S+) combine=(?P<combine>\S+) "
    r"kernel=(?P<kernel>\S+) kf=(?P<kf>\d+) votes=(?P<votes>\S+) .*pass=(?P<pass>\S+) "
    r"ms=(?P<ms>[0-9.]+)")


def parse_harness(path):
    """{(impl, combine, kf, votes, pass): (ms, strategy)} from the harness's TIME lines."""
    times = {}
    if not path or not os.path.exists(path):
        return times
    with open(path) as f:
        for line in f:
            m = TIME_RE.match(line.strip())
            if not m:
                continue
            kf = int(m["kf"]) if m["kernel"] == "gaussian" else 2
            times[(m["impl"], m["combine"], kf, m["votes"], m["pass"])] = (
                float(m["ms"]), m["strategy"])
    return times


def fmt(ms):
    if ms is None:
        return "-"
    return "%.3f" % ms if ms < 10 else "%.1f" % ms


def ratio(a, b):
    if a is None or b is None or a <= 0:
        return "-"
    return "%.1fx" % (b / a)


def table(torch_times, harness, device_name):
    lines = [
        "B=32, J=16, 64x64, float32, %s; ms are CUDA-event medians. ours = new CUDA "
        "kernels (default strategy: tiled for Gaussian, direct for bilinear), alt = the "
        "other strategy, torch = torch splat of the same votes; "
        "speed-up = torch / ours; max|Δ| = torch forward vs ours." % device_name,
        "",
        "| case | ours fwd | ours fwd+bwd | torch fwd | torch fwd+bwd | speed-up fwd | "
        "speed-up fwd+bwd | alt fwd+bwd | max abs diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for votes in VOTES:
        for combine in COMBINES:
            for kf in KERNELS:
                def h(impl, p):
                    got = harness.get((impl, combine, kf, votes, p))
                    return got[0] if got else None
                t = torch_times.get((combine, kf, votes), {})
                ours_f, ours_b = h("new", "forward"), h("new", "forward+backward")
                tf_, tb = t.get("fwd"), t.get("both")
                diff = t.get("diff")
                lines.append("| %s %s %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    combine, kernel_name(kf), votes, fmt(ours_f), fmt(ours_b), fmt(tf_), fmt(tb),
                    ratio(ours_f, tf_), ratio(ours_b, tb), fmt(h("new_alt", "forward+backward")),
                    "-" if diff is None else "%.1e" % diff))
    return "\n".join(lines)


def self_test():
    """Tiny CPU problem: the splat against a direct loop over votes and taps."""
    device = torch.device("cpu")
    rng = np.random.default_rng(0)
    B, H, W, J = 2, 7, 9, 3
    sources, targets = [0, 1, 2, 1], [0, 1, 2, 0]
    E, T = len(sources), J
    meta = dict(batch=B, height=H, width=W, num_maps=J, num_edges=E, num_targets=T, scale=1.0,
                sources=sources, targets=targets)
    heat = rng.uniform(-0.2, 1.2, (B, H, W, J)).astype(np.float32)
    ox = rng.normal(0, 2.5, (B, H, W, E)).astype(np.float32)
    oy = rng.normal(0, 2.5, (B, H, W, E)).astype(np.float32)
    ox.flat[::7] = np.round(ox.flat[::7])
    ox[0, 0, 0, 0] = np.nan
    oy[0, 0, 1, 0] = 1e30
    worst = 0.0
    for combine in COMBINES:
        for kf in KERNELS:
            gaussian = kf != 2
            taps, reach = (kf, kf // 2) if gaussian else (2, 1)
            ref = np.zeros((B, H, W, T)) if combine != "noisy_or" else np.ones((B, H, W, T))
            for b in range(B):
                for i in range(H):
                    for j in range(W):
                        for e in range(E):
                            c = float(heat[b, i, j, sources[e]])
                            if combine == "noisy_or":
                                c = min(max(c, 0.0), 1.0)
                            lx, ly = j + float(ox[b, i, j, e]), i + float(oy[b, i, j, e])
                            if not (-(reach + 1) <= lx <= W + reach and -(reach + 1) <= ly <= H + reach):
                                continue
                            fx = math.floor(lx + 0.5) - reach if gaussian else math.floor(lx)
                            fy = math.floor(ly + 0.5) - reach if gaussian else math.floor(ly)
                            for ky in range(taps):
                                for kx in range(taps):
                                    x, y = fx + kx, fy + ky
                                    if not (0 <= x < W and 0 <= y < H):
                                        continue
                                    if gaussian:
                                        s2 = 2 * (kf / 6.0) ** 2
                                        w = math.exp(-(x - lx) ** 2 / s2) * math.exp(-(y - ly) ** 2 / s2)
                                    else:
                                        w = (1 - abs(x - lx)) * (1 - abs(y - ly))
                                    v = w * c
                                    t = targets[e]
                                    if combine == "additive":
                                        ref[b, y, x, t] += v
                                    elif combine == "noisy_or":
                                        ref[b, y, x, t] *= 1 - v
                                    else:
                                        ref[b, y, x, t] = max(ref[b, y, x, t], v)
            if combine == "noisy_or":
                ref = 1 - ref
            forward = make_splat(meta, combine, kf, device)
            args = [torch.from_numpy(a) for a in (heat, ox, oy)]
            got = forward(*args).numpy()
            err = float(np.max(np.abs(got - ref)))
            inputs = [a.clone().requires_grad_(True) for a in args]
            grads = torch.autograd.grad(forward(*inputs), inputs, torch.ones(B, H, W, T))
            finite = all(bool(torch.isfinite(g).all()) for g in grads)
            print("%s self-test %-8s %-10s max |torch - loop| %.2e, finite gradients %s" % (
                "PASS" if err < 1e-5 and finite else "FAIL", combine, kernel_name(kf), err, finite))
            worst = max(worst, err if finite else float("inf"))
    return 0 if worst < 1e-5 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dump", help="directory written by the harness's --dump")
    parser.add_argument("--harness-log", help="harness output with TIME lines, for the table")
    parser.add_argument("--table", help="write the markdown table here too")
    parser.add_argument("--json", help="write the torch timings here (JSON)")
    parser.add_argument("--self-test", action="store_true", help="tiny CPU check, then exit")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.dump:
        parser.error("--dump DIR is required (or --self-test)")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    print("torch %s on %s" % (torch.__version__, device_name), flush=True)
    torch_times = {}
    for votes in VOTES:
        meta, data = load_votes(os.path.join(args.dump, votes), device)
        for combine in COMBINES:
            for kf in KERNELS:
                fwd, both, diff = run_case(meta, data, combine, kf, device,
                                           os.path.join(args.dump, votes))
                torch_times[(combine, kf, votes)] = {"fwd": fwd, "both": both, "diff": diff}
                print("TORCH combine=%s kernel=%s votes=%s forward %.3f ms forward+backward "
                      "%.3f ms max|torch-ours| %s" % (combine, kernel_name(kf), votes, fwd, both,
                                                      "-" if diff is None else "%.2e" % diff),
                      flush=True)
        del data
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dict(combine=c, kf=k, votes=v, **t) for (c, k, v), t in torch_times.items()],
                      f, indent=1)
    text = table(torch_times, parse_harness(args.harness_log), device_name)
    print()
    print(text)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
