"""Times the keras.ops voting path on the JAX (jit) or PyTorch backend.

A worker of `bench_mass_displacement.py`, which runs it once per backend in
a subprocess (Keras fixes its backend at import) and prints its cells beside
the compiled op and pure TensorFlow:

    KERAS_BACKEND=jax python benchmarks/bench_keras_backends.py --cases '["bilinear, within-part"]'

Same inputs (`make_inputs`), sizes (`--batch`, J=16, 64x64), cases and
median rule (`median_ms`) as the main benchmark. "forward" is a compiled
`jax.jit` function, or a PyTorch call under `torch.no_grad()`;
"forward+backward" also computes the gradients of all three inputs for a
fixed upstream gradient (`jax.vjp` inside the same `jax.jit`;
`torch.autograd.grad`). Prints one JSON object: {case: [forward_ms, both_ms]}.
"""

import argparse
import json
import os
import sys

import keras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_mass_displacement as bench  # noqa: E402
from mdn_tf.ops.voting_config import make_voting_config  # noqa: E402
from mdn_tf.ops.voting_keras import vote_keras  # noqa: E402


def _jax_functions(config, upstream):
    import jax

    def vote(h, x, y):
        return vote_keras(h, x, y, config)

    forward = jax.jit(vote)

    @jax.jit
    def forward_backward(h, x, y):
        _, pullback = jax.vjp(vote, h, x, y)
        return pullback(upstream)

    # Calls return before the work is done; wait for it inside the timing.
    return (lambda *a: jax.block_until_ready(forward(*a)),
            lambda *a: jax.block_until_ready(forward_backward(*a)))


def _torch_functions(config, upstream):
    import torch

    def forward(h, x, y):
        with torch.no_grad():
            return vote_keras(h, x, y, config)

    def forward_backward(h, x, y):
        inputs = [t.detach().requires_grad_(True) for t in (h, x, y)]
        return torch.autograd.grad(vote_keras(*inputs, config), inputs, grad_outputs=upstream)

    return forward, forward_backward


_FUNCTIONS = {"jax": _jax_functions, "torch": _torch_functions}


def time_cases(names, combine, budget_s):
    """{case: (forward ms, forward+backward ms)} on the running backend."""
    backend = keras.backend.backend()
    if backend not in _FUNCTIONS:
        raise SystemExit(f"run with KERAS_BACKEND=jax or torch (Keras runs on {backend!r})")
    results = {}
    for name in names:
        arguments = dict(bench.CASES[name])
        votes = arguments.pop("votes", "random")
        config = make_voting_config(combine=combine, **arguments).for_channels(bench.J)
        inputs, upstream = bench.make_inputs(bench.B, len(config.sources), votes=votes,
                                             config=config)
        inputs = [keras.ops.convert_to_tensor(t.numpy()) for t in inputs]
        upstream = keras.ops.convert_to_tensor(upstream[..., : config.num_targets].numpy())
        forward, forward_backward = _FUNCTIONS[backend](config, upstream)
        results[name] = (bench.median_ms(forward, inputs, budget_s),
                         bench.median_ms(forward_backward, inputs, budget_s))
        print(f"  {name:42s} keras.ops, {backend:5s} forward {results[name][0]:9.1f} ms   "
              f"forward+backward {results[name][1]:9.1f} ms", file=sys.stderr, flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", required=True, help="JSON list of case names (bench.CASES)")
    parser.add_argument("--combine", default="noisy_or", choices=["additive", "noisy_or", "max"])
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=bench.B)
    args = parser.parse_args(argv)
    bench.B = args.batch
    print(json.dumps(time_cases(json.loads(args.cases), args.combine, args.budget)))


if __name__ == "__main__":
    main()
