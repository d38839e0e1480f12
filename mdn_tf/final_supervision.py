"""One place that pairs a voting rule with its final-map target and loss.

The final maps of an MDN are supervised end to end (Neverova & Kokkinos,
BMVC 2018, Sec. 3, loss (c)). A loss is only right when the network that
outputs exactly the data codec's own targets (heatmaps = the eps_c disks,
displacements = Eq. 3) sits at its minimum. Two forms exist:

- `"voted"` (the default): the final target is the codec's own heatmap and
  displacement targets passed through the same vote as the model (rule,
  kernel, sigma, edges). A perfect network then reproduces its target
  exactly, for every rule, kernel and map size:
  - additive: mean squared error, 0 at the perfect network and positive
    anywhere else. The voted peak is ~29 (the pixels within eps_c that
    vote), but the mean runs over every pixel, so at initialisation the
    term is ~0.45 and its gradient norm close to the heatmap term's (0.57
    vs 1.0, one sample batch); dividing the error by the vote count made it
    ~1500 times weaker than the heatmap term, i.e. no end-to-end signal.
  - noisy-OR and max: binary cross-entropy against the soft target t in
    [0, 1], whose minimum over m is at m = t.
- `"paper"`: the paper's forms, kept for comparison: additive -> squared
  error to a Gaussian of peak 1 (sigma 1 map pixel); noisy-OR and max ->
  cross-entropy to a binary disk of radius eps_m = 1. A perfect network is
  *not* their minimum: ~29 votes pile up on each joint, so the additive
  peak is ~24-30 and the loss prefers shrunken heatmaps or unfocused votes;
  a Gaussian kernel's footprint is wider than the eps_m disk, so noisy-OR
  prefers smaller heatmaps too (docs/models.md, "Final-map supervision").

Shapes: H x W map size, J joints, E voting edges.
"""

import dataclasses

from mdn_tf.losses import FinalMapLoss
from mdn_tf.ops.voting_config import make_voting_config

FORMS = ("voted", "paper")


@dataclasses.dataclass(frozen=True)
class FinalSupervision:
    """A voting rule with the target and loss of its final maps.

    Args:
        combine: "additive", "noisy_or" or "max". Defaults to "noisy_or".
        kernel: "bilinear" or "gaussian". Defaults to "bilinear".
        kernel_size: Gaussian window (odd). Defaults to 5.
        sigma: Gaussian standard deviation in map pixels; None for
            `kernel_size / 6`. Defaults to None.
        form: "voted" or "paper" (see the module docstring). Defaults to
            "voted".
        warp: True for the STN baseline, whose final maps are the heatmaps
            backward-warped (`BilinearWarp`) instead of voted; "voted" then
            means the codec's heatmaps warped by its gather displacements
            (which `MDNCodec` then builds). Defaults to False.

    Example:

    >>> supervision = FinalSupervision("additive")
    >>> supervision.codec_target
    'voted'
    >>> FinalSupervision("additive", form="paper").codec_target
    'gaussian'
    """

    combine: str = "noisy_or"
    kernel: str = "bilinear"
    kernel_size: int = 5
    sigma: float | None = None
    form: str = "voted"
    warp: bool = False

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}. Received: form={self.form!r}")
        # The voting config checks combine, kernel, kernel_size and sigma once.
        make_voting_config(combine=self.combine, kernel=self.kernel,
                           kernel_size=self.kernel_size, sigma=self.sigma)

    @property
    def codec_target(self):
        """What `MDNCodec` builds as "final": "voted", "disk" or "gaussian"."""
        if self.form == "voted":
            return "voted"
        return "gaussian" if self.combine == "additive" else "disk"

    def loss(self, floor=None):
        """The Keras loss of the "final" output (`mdn_tf.losses.FinalMapLoss`).

        Squared error for additive, cross-entropy (optionally with a
        gradient `floor`) for noisy-OR and max, in both forms: the forms
        differ in the target, which the codec builds (`codec_target`).
        """
        return FinalMapLoss(self.combine, floor=floor)

    def vote(self, heatmaps, offsets_x, offsets_y, edges, num_targets):
        """Votes (or warps) `[B, H, W, J]` confidences by pixel offsets `[B, H, W, E]`."""
        if self.warp:
            from mdn_tf.models.stn_warp import warp_bilinear

            return warp_bilinear(heatmaps, offsets_x, offsets_y, [s for s, _ in edges],
                                 [t for _, t in edges], num_targets, combine=self.combine)
        from mdn_tf.ops.mass_displacement import mass_displacement

        return mass_displacement(
            heatmaps, offsets_x, offsets_y, combine=self.combine, kernel=self.kernel,
            kernel_size=self.kernel_size, sigma=self.sigma, edges=edges,
            num_targets=num_targets, implementation="tf",
        )

    @classmethod
    def for_model(cls, model, form="voted"):
        """The supervision matching the "final" voting layer of a pose model.

        Raises:
            ValueError: when the model's "final" layer neither votes nor warps
                (baseline models: use `FinalSupervision(combine)`).
        """
        layer = model.get_layer("final")
        config = layer.get_config()
        if type(layer).__name__ == "BilinearWarp":
            return cls(config["combine"], form=form, warp=True)
        if "kernel" not in config:
            raise ValueError(
                "model must end in a MassDisplacement or BilinearWarp layer named 'final' "
                f"(posthoc, mdn or stn variant). Received: a {type(layer).__name__} layer"
            )
        return cls(config["combine"], config["kernel"], config["kernel_size"],
                   config.get("sigma"), form)

