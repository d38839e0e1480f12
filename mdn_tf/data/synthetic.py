"""Synthetic articulated people: poses and drawings for the built-in sample data.

A person is a 16-joint MPII skeleton (plus COCO's nose, eyes and ears placed
on the head) with random limb lengths, joint angles, lean, size and
position, drawn as thick anti-aliased segments and a round head onto an
RGB float image. Everything is driven by a NumPy `Generator`, so a seed
fixes every pixel.

Coordinates are 0-based image pixels, pixel (row i, col j) at (x=j, y=i).
"""

import numpy as np

# Bone lengths as fractions of the person's height (head top to ankles).
_BONES = {
    "torso": 0.30, "neck": 0.06, "head": 0.12, "hip": 0.08, "thigh": 0.24,
    "shin": 0.23, "shoulder": 0.11, "upper_arm": 0.17, "forearm": 0.15,
}


def _rotate(vector, degrees):
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1]])


def random_pose(rng, height, pelvis):
    """Returns MPII joints `[16, 2]` and COCO face points `[5, 2]` of one random person.

    The person faces the camera, so its right side is on the image's left.
    """
    bone = {k: v * height * rng.uniform(0.9, 1.1) for k, v in _BONES.items()}
    lean = rng.normal(0.0, 12.0) if rng.uniform() > 0.1 else rng.uniform(-90.0, 90.0)
    up = _rotate(np.array([0.0, -1.0]), lean)
    left = _rotate(np.array([1.0, 0.0]), lean)  # the person's left = image right
    joints = np.zeros((16, 2))
    joints[6] = pelvis
    joints[7] = pelvis + bone["torso"] * up
    joints[8] = joints[7] + bone["neck"] * up
    head_dir = _rotate(up, rng.normal(0.0, 10.0))
    joints[9] = joints[8] + bone["head"] * head_dir
    for side, (hip, knee, ankle, shoulder, elbow, wrist) in (
        (-1.0, (2, 1, 0, 12, 11, 10)),
        (1.0, (3, 4, 5, 13, 14, 15)),
    ):
        joints[hip] = pelvis + side * bone["hip"] * left
        # A positive angle of -side * t swings the limb outwards, away from the body.
        thigh = _rotate(-up, -side * rng.uniform(-15.0, 40.0))
        joints[knee] = joints[hip] + bone["thigh"] * thigh
        shin = _rotate(thigh, -side * rng.uniform(-60.0, 10.0))
        joints[ankle] = joints[knee] + bone["shin"] * shin
        joints[shoulder] = joints[7] + side * bone["shoulder"] * left - 0.02 * height * up
        upper = _rotate(-up, -side * rng.uniform(-30.0, 170.0))
        joints[elbow] = joints[shoulder] + bone["upper_arm"] * upper
        fore = _rotate(upper, -side * rng.uniform(-20.0, 140.0))
        joints[wrist] = joints[elbow] + bone["forearm"] * fore
    head_center = 0.5 * (joints[8] + joints[9])
    head_left = _rotate(head_dir, 90.0)  # towards the person's left, as `left` is `up` turned 90 degrees
    unit = 0.01 * height
    face = np.stack([
        head_center - 1.5 * unit * head_dir,  # nose
        head_center + 2.2 * unit * head_left + 0.8 * unit * head_dir,  # left eye
        head_center - 2.2 * unit * head_left + 0.8 * unit * head_dir,  # right eye
        head_center + 5.0 * unit * head_left,  # left ear
        head_center - 5.0 * unit * head_left,  # right ear
    ])
    return joints, face


def background(rng, shape):
    """A textured or noisy RGB background `[h, w, 3]` in [0, 1]."""
    h, w = shape
    kind = rng.integers(3)
    if kind == 0:  # smooth blobs: a coarse random grid, upsampled
        coarse = rng.uniform(0.0, 1.0, (h // 32 + 2, w // 32 + 2, 3))
        ys = np.linspace(0, coarse.shape[0] - 1.001, h)
        xs = np.linspace(0, coarse.shape[1] - 1.001, w)
        y0, x0 = ys.astype(int), xs.astype(int)
        fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
        image = (
            coarse[y0][:, x0] * (1 - fy) * (1 - fx) + coarse[y0 + 1][:, x0] * fy * (1 - fx)
            + coarse[y0][:, x0 + 1] * (1 - fy) * fx + coarse[y0 + 1][:, x0 + 1] * fy * fx
        )
    elif kind == 1:  # stripes at a random angle
        a = rng.uniform(0, np.pi)
        period = rng.uniform(8, 40)
        yy, xx = np.mgrid[0:h, 0:w]
        wave = 0.5 + 0.5 * np.sin((np.cos(a) * xx + np.sin(a) * yy) * 2 * np.pi / period)
        c1, c2 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        image = wave[..., None] * c1 + (1 - wave[..., None]) * c2
    else:  # flat colour
        image = np.broadcast_to(rng.uniform(0, 1, 3), (h, w, 3)).copy()
    image = image + rng.normal(0.0, rng.uniform(0.02, 0.12), (h, w, 3))
    return np.clip(image, 0.0, 1.0)


def draw_segment(image, mask, a, b, width, color):
    """Paints a thick anti-aliased segment a-b onto `image`, marking `mask`."""
    h, w = mask.shape
    r = width / 2.0 + 1.0
    x0, x1 = int(max(0, np.floor(min(a[0], b[0]) - r))), int(min(w, np.ceil(max(a[0], b[0]) + r) + 1))
    y0, y1 = int(max(0, np.floor(min(a[1], b[1]) - r))), int(min(h, np.ceil(max(a[1], b[1]) + r) + 1))
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    d = b - a
    length2 = max(float(d @ d), 1e-9)
    t = np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / length2, 0.0, 1.0)
    dist = np.hypot(xx - (a[0] + t * d[0]), yy - (a[1] + t * d[1]))
    alpha = np.clip(width / 2.0 + 0.5 - dist, 0.0, 1.0)[..., None]
    image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - alpha) + alpha * color
    mask[y0:y1, x0:x1] |= alpha[..., 0] > 0.5


def draw_person(rng, image, joints, height):
    """Draws one person; returns its `[h, w]` bool mask."""
    mask = np.zeros(image.shape[:2], bool)
    shirt, pants, skin = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3), rng.uniform(0.4, 0.9, 3)
    limb = 0.055 * height
    # Draw order: far things first is meaningless for a frontal person; the
    # torso goes first so the limbs stay visible across it.
    draw_segment(image, mask, joints[6], joints[7], 0.2 * height, shirt)
    draw_segment(image, mask, joints[2], joints[3], limb, pants)
    draw_segment(image, mask, joints[12], joints[13], limb, shirt)
    for side_shade, (hip, knee, ankle, shoulder, elbow, wrist) in (
        (1.0, (2, 1, 0, 12, 11, 10)),
        (0.75, (3, 4, 5, 13, 14, 15)),  # the left side is a shade darker: a left/right cue
    ):
        draw_segment(image, mask, joints[hip], joints[knee], limb, pants * side_shade)
        draw_segment(image, mask, joints[knee], joints[ankle], limb * 0.9, pants * side_shade)
        draw_segment(image, mask, joints[shoulder], joints[elbow], limb * 0.9, shirt * side_shade)
        draw_segment(image, mask, joints[elbow], joints[wrist], limb * 0.8, skin * side_shade)
    draw_segment(image, mask, joints[7], joints[8], limb, skin)
    head_center = 0.5 * (joints[8] + joints[9])
    draw_segment(image, mask, head_center, head_center, 0.13 * height, skin)
    return mask


def draw_occluder(rng, image, around, size):
    """Pastes a random textured rectangle near `around`; returns its bool mask."""
    h, w = image.shape[:2]
    cx, cy = around + rng.normal(0.0, size / 3.0, 2)
    bw, bh = rng.uniform(0.3, 0.8, 2) * size
    x0, x1 = int(np.clip(cx - bw / 2, 0, w)), int(np.clip(cx + bw / 2, 0, w))
    y0, y1 = int(np.clip(cy - bh / 2, 0, h)), int(np.clip(cy + bh / 2, 0, h))
    mask = np.zeros((h, w), bool)
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = np.clip(
            rng.uniform(0, 1, 3) + rng.normal(0, 0.08, (y1 - y0, x1 - x0, 3)), 0, 1
        )
        mask[y0:y1, x0:x1] = True
    return mask


def covered(mask, points):
    """`[P]` bool: whether each point's pixel lies in `mask` (False outside the image)."""
    h, w = mask.shape
    cols, rows = np.round(points[:, 0]).astype(int), np.round(points[:, 1]).astype(int)
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    result = np.zeros(len(points), bool)
    result[inside] = mask[rows[inside], cols[inside]]
    return result


def inside_image(points, shape):
    """`[P]` bool: whether each point is inside an image of `shape` (h, w)."""
    h, w = shape
    return (points[:, 0] >= 0) & (points[:, 0] <= w - 1) & (points[:, 1] >= 0) & (points[:, 1] <= h - 1)
