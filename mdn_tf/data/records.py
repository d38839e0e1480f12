"""The plain person record every reader returns and the pipeline consumes.

Coordinates are 0-based image pixels with pixel (row i, col j) at the point
(x=j, y=i); readers convert from their file's convention exactly once.

Shapes: J joints.
"""

import dataclasses

import numpy as np

# MPII's person-scale unit: `scale` is a box side in multiples of 200 px.
PIXELS_PER_SCALE = 200.0


@dataclasses.dataclass
class PoseRecord:
    """One person to crop, train or evaluate on.

    Attributes:
        image: path of the image file.
        center: `[2]` float32, crop-box centre (x, y) in image pixels.
        scale: `[2]` float32, crop-box width and height in units of 200 px.
        joints: `[J, 2]` float32, 0-based (x, y); zeros where not annotated.
        visibility: `[J]` float32, 1 for an annotated joint, 0 for a missing one.
        head_box: `[4]` float32 (x1, y1, x2, y2), 0-based, or None.
        image_id: dataset image id (COCO id, MPII file name) or None.
        score: detection score (1.0 for ground-truth boxes).
        source: "file[record]" to name this record in error messages.
    """

    image: str
    center: np.ndarray
    scale: np.ndarray
    joints: np.ndarray
    visibility: np.ndarray
    head_box: np.ndarray = None
    image_id: object = None
    score: float = 1.0
    source: str = ""


def make_record(source, num_joints, image, center, scale, joints, visibility, **extra):
    """Builds a `PoseRecord`, checking every array against the expected shape.

    Raises:
        ValueError: naming `source` when a field has the wrong size or is not
            a finite number.
    """
    center = _as_array(source, "center", center, (2,))
    scale = _as_array(source, "scale", scale, None).reshape(-1)
    if scale.size == 1:
        scale = np.repeat(scale, 2)
    if scale.size != 2 or np.any(scale <= 0):
        raise ValueError(
            f"{source}: scale must be a positive number or [w, h] pair. "
            f"Received: scale={scale.tolist()}"
        )
    joints = _as_array(source, "joints", joints, (num_joints, 2))
    visibility = _as_array(source, "visibility", visibility, (num_joints,))
    head_box = extra.pop("head_box", None)
    if head_box is not None:
        head_box = _as_array(source, "head_box", head_box, (4,))
    return PoseRecord(
        image=str(image),
        center=center,
        scale=scale,
        joints=joints,
        visibility=(visibility > 0).astype(np.float32),
        head_box=head_box,
        source=source,
        **extra,
    )


def _as_array(source, name, value, shape):
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"{source}: {name} must be numeric. Received: {name}={value!r}"
        ) from None
    if shape is not None and array.shape != shape:
        raise ValueError(
            f"{source}: {name} must have shape {list(shape)}. "
            f"Received: shape {list(array.shape)}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{source}: {name} must be finite. Received: {array.tolist()}")
    return array


def stack_records(records):
    """Stacks records into NumPy arrays for `tf.data.Dataset.from_tensor_slices`.

    Returns:
        A dict of arrays with a leading record axis N: "image" `[N]` bytes,
        "center" `[N, 2]`, "scale" `[N, 2]`, "joints" `[N, J, 2]`,
        "visibility" `[N, J]`, "head_box" `[N, 4]` (zeros when unknown),
        "score" `[N]`, "index" `[N]` (position in `records`).
    """
    if not records:
        raise ValueError("records must not be empty. Received: 0 records")
    num_joints = {r.joints.shape[0] for r in records}
    if len(num_joints) != 1:
        raise ValueError(
            f"all records must have the same number of joints. Received: {sorted(num_joints)}"
        )
    return {
        "image": np.array([r.image.encode() for r in records], dtype=object),
        "center": np.stack([r.center for r in records]).astype(np.float32),
        "scale": np.stack([r.scale for r in records]).astype(np.float32),
        "joints": np.stack([r.joints for r in records]).astype(np.float32),
        "visibility": np.stack([r.visibility for r in records]).astype(np.float32),
        "head_box": np.stack(
            [np.zeros(4, np.float32) if r.head_box is None else r.head_box for r in records]
        ),
        "score": np.array([r.score for r in records], dtype=np.float32),
        "index": np.arange(len(records), dtype=np.int64),
    }
