"""`build_pose_model`: the one entry point for every mdn_tf pose network.

    from mdn_tf.models import build_pose_model
    model = build_pose_model("resnet50", variant="mdn", num_joints=16)
    outputs = model(images)          # dict, see OUTPUT NAMES below

Output names (stable; losses, metrics and export look them up):

- "final": `[B, H, W, J]` the maps keypoints are decoded from -- voted maps
  (mdn, posthoc), warped maps (stn) or sigmoid heatmaps (baseline).
  Probabilities for noisy_or/max, sums of votes for additive.
- "heatmaps": `[B, H, W, J]` heatmap *logits* (of the last stack for
  Hourglass); `sigmoid` gives the per-pixel probabilities.
- "offsets_x", "offsets_y": `[B, H, W, E]` displacements in the units of the
  data codec's targets (summed over stacks for Hourglass); absent for
  baseline.
- "stack_{k}_heatmaps", k = 1 .. num_stacks - 1: logits of the intermediate
  Hourglass stacks (the last stack's are "heatmaps").

H x W is the output map, a quarter of the input size (64x64 for 256x256).
"""

import keras
from keras import layers

from mdn_tf import skeleton as skeleton_lib
from mdn_tf.models import heads as heads_lib
from mdn_tf.models.hourglass import (
    apply_hourglass_stem,
    apply_stacked_hourglass,
    check_hourglass_input,
)
from mdn_tf.models.resnet_os16 import build_resnet_os16
from mdn_tf.models.small_backbone import build_small_backbone
from mdn_tf.ops.voting_config import COMBINES, KERNELS

BACKBONES = ("resnet50", "resnet101", "resnet152", "hourglass", "small")
OUTPUT_STRIDE = 4
# The codec's default vicinity radius in output pixels (see `mdn_tf.data.targets`).
DEFAULT_EPSILON_C = 3.0


def resolve_edges(edges, num_joints, skeleton=None):
    """Returns the explicit `(source, target)` list for an `edges` argument.

    Args:
        edges: None (cross-part along the skeleton tree when the skeleton is
            known, else within-part), "within_part", "cross_part", or a list
            of `(source, target)` pairs.
        num_joints: J.
        skeleton: a `Skeleton`, "mpii", "coco" or None (inferred from J: 16 is
            MPII, 17 is COCO).

    Raises:
        ValueError: for an unknown mode, a skeleton that does not match J, or
            edges outside `[0, J)`.
    """
    if skeleton is None:
        skeleton = {16: "mpii", 17: "coco"}.get(num_joints)
    if skeleton is not None:
        skeleton = skeleton_lib.get_skeleton(skeleton)
        if skeleton.num_joints != num_joints:
            raise ValueError(
                f"skeleton {skeleton.name!r} has {skeleton.num_joints} joints but "
                f"num_joints={num_joints}. Received: skeleton={skeleton.name!r}"
            )
    if edges is None:
        edges = "cross_part" if skeleton is not None else "within_part"
    if isinstance(edges, str):
        if edges not in skeleton_lib.VOTING_MODES:
            raise ValueError(
                f"edges must be None, one of {skeleton_lib.VOTING_MODES} or a list "
                f"of (source, target) pairs. Received: edges={edges!r}"
            )
        if edges == "within_part":
            return [(j, j) for j in range(num_joints)]
        if skeleton is None:
            raise ValueError(
                'edges="cross_part" needs a skeleton (pass skeleton="mpii"/"coco" '
                f"or num_joints 16/17). Received: num_joints={num_joints}"
            )
        return skeleton_lib.voting_edges(skeleton, "cross_part")
    try:
        pairs = [tuple(int(v) for v in edge) for edge in edges]
    except (TypeError, ValueError):
        raise ValueError(
            f"edges must be a list of (source, target) pairs. Received: edges={edges!r}"
        ) from None
    if not pairs or any(len(p) != 2 or not all(0 <= v < num_joints for v in p) for p in pairs):
        raise ValueError(
            f"edges must be a non-empty list of (source, target) pairs of joints in "
            f"[0, {num_joints}). Received: edges={edges!r}"
        )
    missing = sorted(set(range(num_joints)) - {t for _, t in pairs})
    if missing:
        raise ValueError(
            f"every joint must receive at least one edge; joints {missing} receive "
            f"none. Received: edges={edges!r}"
        )
    return pairs


def displacement_scales(edges, map_height, map_width, epsilon_c=DEFAULT_EPSILON_C):
    """Per-edge factors d_e from codec units to pixels: `(scales_x, scales_y)`.

    Matches `mdn_tf.data.targets.MDNCodec.edge_normalisers` (paper, Eq. 3):
    a within-part edge (j -> j) is normalised by d = epsilon_c, a cross-part
    edge (j -> k) by the map size max(H, W), on both axes.
    """
    size = float(max(map_height, map_width))
    scales = [float(epsilon_c) if s == t else size for s, t in edges]
    return scales, list(scales)


def _check_choice(arg, value, choices):
    if value not in choices:
        raise ValueError(f"{arg} must be one of {choices}. Received: {arg}={value!r}")


def _check_positive_int(arg, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{arg} must be a positive integer. Received: {arg}={value!r}")


def build_pose_model(
    backbone="resnet50",
    variant="mdn",
    num_joints=16,
    edges=None,
    combine="noisy_or",
    kernel="bilinear",
    kernel_size=5,
    input_shape=(256, 256, 3),
    weights=None,
    *,
    kernel_sigma=None,
    skeleton=None,
    epsilon_c=DEFAULT_EPSILON_C,
    input_range=1.0,
    bottleneck_filters=512,
    num_stacks=8,
    hourglass_filters=256,
    hourglass_depth=4,
    small_filters=32,
    implementation="auto",
    name=None,
):
    """Builds a pose network with heatmap, displacement and voting outputs.

    Args:
        backbone: "resnet50", "resnet101", "resnet152" (ImageNet ResNets at
            output stride 16, then a 1x1 bottleneck and x4 bilinear
            upsampling), "hourglass" (stacked hourglass, heads after every
            stack) or "small" (a CPU-sized network). Defaults to "resnet50".
        variant: "baseline", "posthoc", "stn" or "mdn" (see `heads.py`).
            Defaults to "mdn".
        num_joints: J. Defaults to 16 (MPII).
        edges: voting edges: None (cross-part along the skeleton tree for
            MPII/COCO, within-part otherwise), "within_part", "cross_part" or
            a list of `(source, target)` pairs. Defaults to None.
        combine: "noisy_or", "additive" or "max". Defaults to "noisy_or".
        kernel: "bilinear" or "gaussian". Defaults to "bilinear".
        kernel_size: Gaussian window (odd). Defaults to 5.
        kernel_sigma: Gaussian standard deviation in map pixels; None for
            `kernel_size / 6`. Defaults to None.
        input_shape: `(H, W, 3)`, multiples of 16 (ResNet), 8 (small) or
            `4 * 2**hourglass_depth` (Hourglass). Defaults to `(256, 256, 3)`.
        weights: ResNet backbone weights: None, "imagenet" or a local file
            of the stock Keras `include_top=False` model. Must be None for
            the other backbones. Defaults to None.
        skeleton: "mpii", "coco", a `Skeleton` or None (inferred from J).
        epsilon_c: the codec's vicinity radius in output pixels (within-part
            displacement unit). Defaults to 3.0.
        input_range: value of a white pixel in the input images (1.0 for
            `[0, 1]` floats, 255.0 for bytes). Defaults to 1.0.
        bottleneck_filters: ResNet bottleneck width. Defaults to 512.
        num_stacks: Hourglass stacks (8 for Hourglass-8). Defaults to 8.
        hourglass_filters: Hourglass feature width. Defaults to 256.
        hourglass_depth: Hourglass down/up levels. Defaults to 4.
        small_filters: width of the small backbone. Defaults to 32.
        implementation: `MassDisplacement` implementation. Defaults to "auto".
        name: model name. Defaults to f"{backbone}_{variant}".

    Returns:
        A functional `keras.Model` from images `[B, H, W, 3]` to the dict of
        outputs described in the module docstring.

    Raises:
        ValueError: naming the argument and echoing the value received.

    Example:

        model = build_pose_model("small", "mdn", input_shape=(128, 128, 3))
        outputs = model(np.zeros((1, 128, 128, 3), "float32"))
        outputs["final"].shape         # (1, 32, 32, 16)
        outputs["offsets_x"].shape     # (1, 32, 32, 31): MPII cross-part edges
    """
    _check_choice("backbone", backbone, BACKBONES)
    _check_choice("variant", variant, heads_lib.VARIANTS)
    _check_choice("combine", combine, COMBINES)
    _check_choice("kernel", kernel, KERNELS)
    _check_positive_int("num_joints", num_joints)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or (
        kernel_size < 1 or kernel_size % 2 == 0
    ):
        raise ValueError(
            f"kernel_size must be a positive odd integer. Received: kernel_size={kernel_size!r}"
        )
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            f"input_shape must be (height, width, 3). Received: input_shape={input_shape!r}"
        )
    if weights is not None and not backbone.startswith("resnet"):
        raise ValueError(
            f"weights only applies to the ResNet backbones; backbone={backbone!r} "
            f"starts from random weights. Received: weights={weights!r}"
        )
    if not (isinstance(epsilon_c, (int, float)) and epsilon_c > 0):
        raise ValueError(f"epsilon_c must be a positive number. Received: epsilon_c={epsilon_c!r}")
    edges = resolve_edges(edges, num_joints, skeleton)
    num_edges = 0 if variant == "baseline" else len(edges)

    images = keras.Input(shape=input_shape, name="image")
    stack_heads = []
    if backbone.startswith("resnet"):
        _check_positive_int("bottleneck_filters", bottleneck_filters)
        if input_shape[0] % 16 or input_shape[1] % 16:
            raise ValueError(
                "ResNet backbones need input height and width divisible by 16. "
                f"Received: input_shape={input_shape}"
            )
        x = heads_lib.CaffePreprocess(input_range, name="caffe_preprocess")(images)
        resnet = build_resnet_os16(int(backbone[6:]), input_shape, weights)
        x = resnet(x)
        x = heads_lib.apply_bottleneck(x, bottleneck_filters, name="bottleneck")
        x = heads_lib.apply_upsampling(x, 16 // OUTPUT_STRIDE, name="upsample")
        stack_heads.append(heads_lib.apply_pose_heads(x, num_joints, num_edges, name="head"))
    elif backbone == "small":
        _check_positive_int("small_filters", small_filters)
        x = layers.Rescaling(1.0 / input_range, offset=-0.5, name="normalise")(images)
        x = build_small_backbone(input_shape, small_filters)(x)
        stack_heads.append(heads_lib.apply_pose_heads(x, num_joints, num_edges, name="head"))
    else:
        for arg in ("num_stacks", "hourglass_filters", "hourglass_depth"):
            _check_positive_int(arg, locals()[arg])
        check_hourglass_input(input_shape, hourglass_depth)
        x = layers.Rescaling(1.0 / input_range, offset=-0.5, name="normalise")(images)
        x = apply_hourglass_stem(x, hourglass_filters, name="hg_stem")
        stack_heads = apply_stacked_hourglass(
            x, num_stacks, hourglass_filters, hourglass_depth,
            head_fn=lambda features, prefix: heads_lib.apply_pose_heads(
                features, num_joints, num_edges, name=f"{prefix}_head"
            ),
            name="stack",
        )

    outputs = {}
    for index, (stack_logits, _, _) in enumerate(stack_heads[:-1], start=1):
        outputs[f"stack_{index}_heatmaps"] = stack_logits
    logits, offsets_x, offsets_y = stack_heads[-1]
    if num_edges and len(stack_heads) > 1:
        # Paper, Sec. 3.1: displacement predictions of all stacks are summed.
        offsets_x = layers.Add(name="offsets_x_sum", dtype="float32")(
            [heads[1] for heads in stack_heads]
        )
        offsets_y = layers.Add(name="offsets_y_sum", dtype="float32")(
            [heads[2] for heads in stack_heads]
        )
    if variant == "stn":
        offsets_x = heads_lib.SoftBound(dtype="float32", name="stn_bound_x")(offsets_x)
        offsets_y = heads_lib.SoftBound(dtype="float32", name="stn_bound_y")(offsets_y)
    map_height, map_width = input_shape[0] // OUTPUT_STRIDE, input_shape[1] // OUTPUT_STRIDE
    scales_x, scales_y = displacement_scales(edges, map_height, map_width, epsilon_c)
    outputs["final"] = heads_lib.apply_variant(
        variant, logits, offsets_x, offsets_y, edges, scales_x, scales_y,
        combine=combine, kernel=kernel, kernel_size=kernel_size, kernel_sigma=kernel_sigma,
        implementation=implementation, name="final",
    )
    outputs["heatmaps"] = logits
    if num_edges:
        outputs["offsets_x"] = offsets_x
        outputs["offsets_y"] = offsets_y
    # Output layers carry the output names, so `model.output_names`, the keys
    # of `model(images)` and the loss dict of `mdn_tf.losses` all agree.
    outputs = {
        key: tensor if key == "final" else layers.Identity(name=key, dtype="float32")(tensor)
        for key, tensor in outputs.items()
    }
    return keras.Model(images, outputs, name=name or f"{backbone}_{variant}")
