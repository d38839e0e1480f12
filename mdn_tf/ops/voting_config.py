"""Validated, normalised arguments of a mass-displacement vote.

Both implementations (pure TensorFlow and the compiled op) receive a
`VotingConfig`, never raw user arguments, so argument checking and the
resolution of defaults (sigma, edges, num_targets) happen exactly once.

Shapes used throughout mdn_tf: B batch, H x W map size, J heatmap channels,
E voting edges (one displacement channel each), T output maps.
"""

import dataclasses
import math
import numbers

COMBINES = ("additive", "noisy_or", "max")
KERNELS = ("bilinear", "gaussian")
IMPLEMENTATIONS = ("auto", "tf", "custom_op", "keras")


@dataclasses.dataclass(frozen=True)
class VotingConfig:
    """Everything a kernel needs to know, already checked.

    Attributes:
        combine: "additive", "noisy_or" or "max".
        kernel: "bilinear" or "gaussian".
        kernel_size: Gaussian window kf (odd); 2 for bilinear (its footprint).
        sigma: Gaussian standard deviation in pixels (0.0 for bilinear).
        sources: heatmap channel of each edge, length E.
        targets: output map of each edge, length E.
        num_targets: T, the number of output maps.
        displacement_scale: s, a vote lands at x + s * o(x).
        within_part: True when the user gave `edges=None` (edge j is j -> j
            and E is J, whatever J turns out to be at call time).
    """

    combine: str
    kernel: str
    kernel_size: int
    sigma: float
    sources: tuple
    targets: tuple
    num_targets: int | None
    displacement_scale: float
    within_part: bool

    @property
    def radius(self):
        """Half-width of the Gaussian window (0 for bilinear)."""
        return self.kernel_size // 2 if self.kernel == "gaussian" else 0

    def for_channels(self, num_heatmaps):
        """Returns a config with edges resolved for `num_heatmaps` channels.

        Within-part voting only knows E = J once the heatmaps are seen; this
        also checks explicit edges against J.
        """
        if self.within_part:
            num_targets = num_heatmaps if self.num_targets is None else self.num_targets
            if num_targets < num_heatmaps:
                raise ValueError(
                    "num_targets must be at least the number of heatmap channels "
                    "J for within-part voting (edges=None). Received: "
                    f"num_targets={num_targets}, J={num_heatmaps}"
                )
            channels = tuple(range(num_heatmaps))
            return dataclasses.replace(
                self, sources=channels, targets=channels, num_targets=num_targets
            )
        bad = [s for s in self.sources if s >= num_heatmaps]
        if bad:
            raise ValueError(
                f"edges refer to source map {bad[0]}, but heatmaps have only "
                f"J={num_heatmaps} channels. Received: edges="
                f"{list(zip(self.sources, self.targets))}"
            )
        return self

    def edge_list(self):
        return [list(edge) for edge in zip(self.sources, self.targets)]


def _check_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer. Received: {name}={value!r}")
    return int(value)


def _normalise_edges(edges):
    try:
        pairs = [tuple(edge) for edge in edges]
    except TypeError:
        raise ValueError(
            "edges must be None or a list of (source_map, target_map) pairs. "
            f"Received: edges={edges!r}"
        ) from None
    for pair in pairs:
        if len(pair) != 2 or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0
            for v in pair
        ):
            raise ValueError(
                "edges must be (source_map, target_map) pairs of non-negative "
                f"integers. Received: edges={edges!r}"
            )
    return tuple(int(s) for s, _ in pairs), tuple(int(t) for _, t in pairs)


def make_voting_config(
    combine="noisy_or",
    kernel="bilinear",
    kernel_size=5,
    sigma=None,
    edges=None,
    num_targets=None,
    displacement_scale=1.0,
):
    """Checks user arguments and returns a `VotingConfig`.

    Raises:
        ValueError: naming the argument and echoing the value received.
    """
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {COMBINES}. Received: combine={combine!r}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}. Received: kernel={kernel!r}")
    kernel_size = _check_int("kernel_size", kernel_size)
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size must be a positive odd integer. Received: kernel_size={kernel_size}"
        )
    if sigma is not None:
        if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not (
            math.isfinite(sigma) and sigma > 0
        ):
            raise ValueError(f"sigma must be a positive number or None. Received: sigma={sigma!r}")
    if (
        isinstance(displacement_scale, bool)
        or not isinstance(displacement_scale, numbers.Real)
        or not math.isfinite(displacement_scale)
    ):
        raise ValueError(
            "displacement_scale must be a finite number. "
            f"Received: displacement_scale={displacement_scale!r}"
        )
    if num_targets is not None:
        num_targets = _check_int("num_targets", num_targets)
        if num_targets < 1:
            raise ValueError(
                f"num_targets must be a positive integer or None. Received: num_targets={num_targets}"
            )

    within_part = edges is None
    if within_part:
        sources = targets = ()
    else:
        sources, targets = _normalise_edges(edges)
        if targets:
            needed = max(targets) + 1
            if num_targets is None:
                num_targets = needed
            elif num_targets < needed:
                raise ValueError(
                    f"edges target map {needed - 1}, which is out of range for "
                    f"num_targets={num_targets}. Received: edges={edges!r}"
                )
        elif num_targets is None:
            raise ValueError(
                "edges is empty, so num_targets must be given (the number of "
                "output maps, all zero). Received: edges=[], num_targets=None"
            )

    if kernel == "gaussian":
        resolved_sigma = float(sigma) if sigma is not None else kernel_size / 6.0
        footprint = kernel_size
    else:
        resolved_sigma, footprint = 0.0, 2
    return VotingConfig(
        combine=combine,
        kernel=kernel,
        kernel_size=footprint,
        sigma=resolved_sigma,
        sources=sources,
        targets=targets,
        num_targets=num_targets,
        displacement_scale=float(displacement_scale),
        within_part=within_part,
    )
