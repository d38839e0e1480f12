"""Synthetic articulated people and the clutter around them, for the built-in sample data.

A person is a 16-joint MPII skeleton (plus COCO's nose, eyes and ears placed
on the head) with random limb lengths, joint angles, lean, size and
position, drawn as thick anti-aliased segments and a round head onto an
RGB float image. Around the people this module draws what makes real
images hard: occluders of several shapes and fills, limb-like clutter,
people placed across the image border, varied clothing and limb widths,
and global lighting, blur and noise.

Everything is driven by a NumPy `Generator`, so a seed fixes every pixel.
Which difficulties an image gets, and how often, is decided by the caller
(`mdn_tf.data.sample_data`); the tables here only fix the mix of shapes,
fills and textures once a difficulty is drawn.

Coordinates are 0-based image pixels, pixel (row i, col j) at (x=j, y=i).
"""

import dataclasses

import numpy as np
import scipy.ndimage

# Bone lengths as fractions of the person's height (head top to ankles).
_BONES = {
    "torso": 0.30, "neck": 0.06, "head": 0.12, "hip": 0.08, "thigh": 0.24,
    "shin": 0.23, "shoulder": 0.11, "upper_arm": 0.17, "forearm": 0.15,
}
# Width of a limb as a fraction of the person's height, before `Style.limb_scale`.
LIMB_WIDTH = 0.055
# Per-person multiplier of every limb's width: thin to bulky people.
LIMB_SCALE_RANGE = (0.7, 1.4)
# Skin tones (RGB in [0, 1]), light to dark. Hands, necks, heads and some
# clutter share them, so a skin-coloured stick in the background looks like
# a forearm.
SKIN_TONES = np.array([
    [0.96, 0.80, 0.69], [0.89, 0.69, 0.56], [0.78, 0.57, 0.43],
    [0.63, 0.45, 0.32], [0.47, 0.32, 0.22], [0.33, 0.22, 0.15],
])
# Mixes of the random choices below, as {choice: probability}.
CLOTHING_TEXTURES = {"flat": 0.5, "striped": 0.25, "noisy": 0.25}
OCCLUDER_SHAPES = {"rectangle": 0.3, "ellipse": 0.3, "polygon": 0.25, "bar": 0.15}
OCCLUDER_FILLS = {"flat": 0.25, "noisy": 0.25, "striped": 0.25, "textured": 0.25}
# Borders a truncated person leaves the image through: mostly legs cut off
# at the bottom, as in photos, then the sides; rarely the head at the top.
TRUNCATION_SIDES = {"bottom": 0.4, "left": 0.25, "right": 0.25, "top": 0.1}
_SIDE_AXIS = {"bottom": (1, 1.0), "top": (1, -1.0), "left": (0, -1.0), "right": (0, 1.0)}


def _choice(rng, table, allowed=None):
    """One key of `{key: probability}`, renormalised over `allowed` keys when given."""
    keys = [k for k in table if allowed is None or k in allowed]
    p = np.array([table[k] for k in keys])
    return keys[rng.choice(len(keys), p=p / p.sum())]


def _rotate(vector, degrees):
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1]])


def _rotate_points(points, degrees):
    """`[P, 2]` points turned by `degrees` about the origin."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return points @ np.array([[c, s], [-s, c]])


def random_pose(rng, height, pelvis):
    """Returns MPII joints `[16, 2]` and COCO face points `[5, 2]` of one random person.

    The person faces the camera, so its right side is on the image's left.
    Every point is `pelvis` plus an offset, so a pose drawn at the origin can
    be moved anywhere afterwards.
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


# ----------------------------------------------------------------------------
# Placing a pose in the image: wholly inside, or across a border.


def fit_inside(rng, joints, height, shape, margin):
    """Moves a pose to a random place where every joint is `margin` px inside the image.

    A pose too large for the image is first shrunk about its pelvis, so the
    result never loses a joint.

    Args:
        rng: NumPy `Generator`.
        joints: `[J, 2]` pose (any position).
        height: the person's height in pixels.
        shape: image (h, w).
        margin: pixels to keep between every joint and the border, as a
            fraction of `height` (so it shrinks with the pose).

    Returns:
        `(joints [J, 2], height)` of the placed, possibly shrunk, person.
    """
    size = np.array([shape[1], shape[0]], float)  # (w, h), as points are (x, y)
    extent = joints.max(axis=0) - joints.min(axis=0) + 2.0 * margin * height
    shrink = min(1.0, float(np.min((size - 2.0) / extent)))
    joints = joints[6] + shrink * (joints - joints[6])
    height, pad = height * shrink, margin * height * shrink
    low = pad - joints.min(axis=0)
    high = size - 1.0 - pad - joints.max(axis=0)
    return joints + rng.uniform(low, np.maximum(low, high)), height


def cross_border(rng, joints, height, shape):
    """Moves a pose so that some limbs leave the image through one border.

    The side is drawn from `TRUNCATION_SIDES` among those where the body
    reaches at least 12% of its height beyond its pelvis and thorax; the
    farthest joint on that side ends 1 px plus 15-80% of that reach outside
    the image. The pelvis and thorax stay inside, so the MPII `objpos`
    between them (and the crop built around it) stays in the image.

    Returns:
        `(joints [J, 2], side)` with side in `TRUNCATION_SIDES`, or
        `(joints, None)` unchanged when no side reaches far enough.
    """
    size = (shape[1], shape[0])
    core = joints[[6, 7]]  # pelvis and thorax
    reach = {
        side: float(np.max(sign * joints[:, axis]) - np.max(sign * core[:, axis]))
        for side, (axis, sign) in _SIDE_AXIS.items()
    }
    sides = [s for s in TRUNCATION_SIDES if reach[s] >= 0.12 * height]
    if not sides:
        return joints, None
    side = _choice(rng, TRUNCATION_SIDES, sides)
    axis, sign = _SIDE_AXIS[side]
    other = 1 - axis
    overshoot = 1.0 + rng.uniform(0.15, 0.8) * reach[side]
    border = size[axis] - 1.0 if sign > 0 else 0.0
    shift = np.zeros(2)
    shift[axis] = border + sign * overshoot - sign * np.max(sign * joints[:, axis])
    # Across the other axis: anywhere the body fits, with the core kept inside.
    low, high = -joints[:, other].min(), size[other] - 1.0 - joints[:, other].max()
    shift[other] = rng.uniform(min(low, high), max(low, high))
    shift[other] = np.clip(shift[other], 2.0 - core[:, other].min(),
                           size[other] - 3.0 - core[:, other].max())
    return joints + shift, side


# ----------------------------------------------------------------------------
# Fills and textures.


def smooth_noise(rng, shape, cell, channels=3):
    """Smooth random values `[h, w, channels]` in [0, 1].

    A coarse grid of random values, one per `cell`-pixel square, bilinearly
    upsampled.
    """
    h, w = shape
    coarse = rng.uniform(0.0, 1.0, (int(h // cell) + 2, int(w // cell) + 2, channels))
    ys = np.linspace(0, coarse.shape[0] - 1.001, h)
    xs = np.linspace(0, coarse.shape[1] - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    return (
        coarse[y0][:, x0] * (1 - fy) * (1 - fx) + coarse[y0 + 1][:, x0] * fy * (1 - fx)
        + coarse[y0][:, x0 + 1] * (1 - fy) * fx + coarse[y0 + 1][:, x0 + 1] * fy * fx
    )


def _stripes(rng, shape, period, sharpness):
    """`[h, w, 1]` stripes in [0, 1] at a random angle; `sharpness` > 1 squares the sine wave up."""
    h, w = shape
    a = rng.uniform(0, np.pi)
    phase = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    wave = np.sin((np.cos(a) * xx + np.sin(a) * yy) * 2 * np.pi / period + phase)
    return (0.5 + 0.5 * np.tanh(sharpness * wave))[..., None]


def pattern(rng, kind, shape, color, feature):
    """An RGB fill `[h, w, 3]` in [0, 1] around one colour.

    Args:
        rng: NumPy `Generator`.
        kind: "flat", "noisy" (per-pixel noise), "striped" (stripes of the
            colour and a second one) or "textured" (smooth blotches).
        shape: (h, w) of the fill.
        color: `[3]` base colour.
        feature: stripe period or blotch size in pixels.
    """
    color = np.asarray(color, float)
    if kind == "flat":
        return np.broadcast_to(color, (*shape, 3))
    if kind == "noisy":
        fill = color + rng.uniform(0.05, 0.15) * rng.standard_normal((*shape, 3), dtype=np.float32)
    elif kind == "striped":
        second = rng.uniform(0, 1, 3) if rng.uniform() < 0.5 else color * rng.uniform(0.2, 0.6)
        wave = _stripes(rng, shape, max(feature, 2.5), sharpness=3.0)
        fill = wave * color + (1.0 - wave) * second
    elif kind == "textured":
        fill = color * (0.4 + 1.2 * smooth_noise(rng, shape, max(feature, 2.0), channels=1))
    else:
        raise ValueError(f"unknown fill kind {kind!r}")
    return np.clip(fill, 0.0, 1.0).astype(np.float32)


def background(rng, shape):
    """A textured or noisy RGB background `[h, w, 3]` float32 in [0, 1].

    Images are float32 from here on: the whole-image steps (noise,
    lighting) take half the time of float64, and JPEG keeps 8 bits anyway.
    """
    h, w = shape
    kind = rng.integers(3)
    if kind == 0:  # smooth blobs
        image = smooth_noise(rng, shape, 32)
    elif kind == 1:  # soft stripes at a random angle
        wave = _stripes(rng, shape, rng.uniform(8, 40), sharpness=0.5)
        c1, c2 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        image = wave * c1 + (1 - wave) * c2
    else:  # flat colour
        image = np.broadcast_to(rng.uniform(0, 1, 3), (h, w, 3))
    image = image + rng.uniform(0.02, 0.12) * rng.standard_normal((h, w, 3), dtype=np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------
# People.


@dataclasses.dataclass
class Style:
    """How one person looks.

    Attributes:
        shirt, pants: `[3]` colour or `[h, w, 3]` image-sized texture layer
            that the garment's segments cut their pixels from.
        shirt_color, pants_color: `[3]` base colours (for look-alikes).
        skin: `[3]` colour of forearms, neck and head.
        limb_scale: multiplies every limb's width.
        textures: (shirt, pants) kinds of `CLOTHING_TEXTURES`.
    """

    shirt: np.ndarray
    pants: np.ndarray
    shirt_color: np.ndarray
    pants_color: np.ndarray
    skin: np.ndarray
    limb_scale: float
    textures: tuple


def random_style(rng, shape, height, like=None):
    """A random `Style` for a person of `height` px in an image of `shape`.

    With `like`, the colours are those of `like` shifted a little, and the
    garments have the same textures: a look-alike that a detector of
    "shirt colour" cannot tell apart.
    """
    if like is None:
        shirt_color, pants_color = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0.0, 0.03, 3)
        textures = (_choice(rng, CLOTHING_TEXTURES), _choice(rng, CLOTHING_TEXTURES))
    else:
        shirt_color = like.shirt_color + rng.normal(0.0, 0.05, 3)
        pants_color = like.pants_color + rng.normal(0.0, 0.05, 3)
        skin = like.skin + rng.normal(0.0, 0.03, 3)
        textures = like.textures
    shirt_color, pants_color, skin = (np.clip(c, 0.0, 1.0) for c in (shirt_color, pants_color, skin))
    # Stripes a few pixels wide, like the folds and prints of clothes at this size.
    feature = rng.uniform(0.02, 0.06) * height
    shirt = shirt_color if textures[0] == "flat" else pattern(rng, textures[0], shape, shirt_color, feature)
    pants = pants_color if textures[1] == "flat" else pattern(rng, textures[1], shape, pants_color, feature)
    return Style(shirt=shirt, pants=pants, shirt_color=shirt_color, pants_color=pants_color,
                 skin=skin, limb_scale=float(rng.uniform(*LIMB_SCALE_RANGE)), textures=textures)


def draw_segment(image, mask, a, b, width, color, shade=1.0):
    """Paints a thick anti-aliased segment a-b onto `image`, marking `mask`.

    `color` is a `[3]` colour or an image-sized `[h, w, 3]` texture layer;
    `shade` multiplies it.
    """
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
    color = np.asarray(color)
    if color.ndim == 3:
        color = color[y0:y1, x0:x1]
    image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - alpha) + alpha * (shade * color)
    mask[y0:y1, x0:x1] |= alpha[..., 0] > 0.5


def draw_person(rng, image, joints, height, style=None):
    """Draws one person; returns its `[h, w]` bool mask.

    `style` defaults to `random_style(rng, ...)`; `rng` is used only then.
    """
    if style is None:
        style = random_style(rng, image.shape[:2], height)
    mask = np.zeros(image.shape[:2], bool)
    limb = LIMB_WIDTH * height * style.limb_scale
    # The torso widens less than the limbs: bulky arms on a slim body are common.
    torso = 0.2 * height * (0.6 + 0.4 * style.limb_scale)
    # Draw order: far things first is meaningless for a frontal person; the
    # torso goes first so the limbs stay visible across it.
    draw_segment(image, mask, joints[6], joints[7], torso, style.shirt)
    draw_segment(image, mask, joints[2], joints[3], limb, style.pants)
    draw_segment(image, mask, joints[12], joints[13], limb, style.shirt)
    for side_shade, (hip, knee, ankle, shoulder, elbow, wrist) in (
        (1.0, (2, 1, 0, 12, 11, 10)),
        (0.75, (3, 4, 5, 13, 14, 15)),  # the left side is a shade darker: a left/right cue
    ):
        draw_segment(image, mask, joints[hip], joints[knee], limb, style.pants, side_shade)
        draw_segment(image, mask, joints[knee], joints[ankle], limb * 0.9, style.pants, side_shade)
        draw_segment(image, mask, joints[shoulder], joints[elbow], limb * 0.9, style.shirt, side_shade)
        draw_segment(image, mask, joints[elbow], joints[wrist], limb * 0.8, style.skin, side_shade)
    draw_segment(image, mask, joints[7], joints[8], limb, style.skin)
    head_center = 0.5 * (joints[8] + joints[9])
    draw_segment(image, mask, head_center, head_center, 0.13 * height, style.skin)
    return mask


def draw_clutter(rng, image, count, height, colors=()):
    """Paints `count` limb-like pieces anywhere in the image, as background.

    Each piece is a capsule as long and thick as an upper limb of a person
    of `height` px; half get a bent, skin-coloured second segment (a forearm).
    Colours: 40% a skin tone, 30% one of `colors` (pass the annotated
    person's clothes to make look-alike limbs), 30% random.

    Returns:
        The `[h, w]` bool mask of the clutter.
    """
    h, w = image.shape[:2]
    mask = np.zeros((h, w), bool)
    for _ in range(count):
        start = rng.uniform((0.0, 0.0), (w - 1.0, h - 1.0))
        angle = rng.uniform(0.0, 360.0)
        direction = _rotate(np.array([1.0, 0.0]), angle)
        end = start + rng.uniform(0.12, 0.28) * height * direction
        width = LIMB_WIDTH * height * rng.uniform(0.6, 1.4)
        pick = rng.uniform()
        if pick < 0.4 or not len(colors):
            color = SKIN_TONES[rng.integers(len(SKIN_TONES))]
        elif pick < 0.7:
            color = np.asarray(colors[rng.integers(len(colors))])
        else:
            color = rng.uniform(0, 1, 3)
        color = np.clip(color * rng.uniform(0.8, 1.15), 0.0, 1.0)
        draw_segment(image, mask, start, end, width, color)
        if rng.uniform() < 0.5:  # a forearm bent at the elbow
            bend = _rotate(direction, rng.choice([-1.0, 1.0]) * rng.uniform(20.0, 120.0))
            tip = end + rng.uniform(0.12, 0.22) * height * bend
            draw_segment(image, mask, end, tip, 0.85 * width, SKIN_TONES[rng.integers(len(SKIN_TONES))])
    return mask


# ----------------------------------------------------------------------------
# Occluders.


def polygon_mask(vertices, shape):
    """`[h, w]` bool: pixel centres inside the polygon `vertices` `[V, 2]` (even-odd rule)."""
    h, w = shape
    mask = np.zeros((h, w), bool)
    x0, y0 = np.maximum(0, np.floor(vertices.min(axis=0))).astype(int)
    x1, y1 = np.minimum((w, h), np.ceil(vertices.max(axis=0)) + 1).astype(int)
    if x0 >= x1 or y0 >= y1:
        return mask
    yy, xx = np.mgrid[y0:y1, x0:x1]
    yy, xx = yy[..., None].astype(float), xx[..., None].astype(float)
    xa, ya = vertices[:, 0], vertices[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    # Count the edges a ray from each pixel towards +x crosses.
    straddles = (ya > yy) != (yb > yy)
    dy = np.where(yb == ya, 1.0, yb - ya)
    crossing_x = xa + (yy - ya) * (xb - xa) / dy
    mask[y0:y1, x0:x1] = np.sum(straddles & (xx < crossing_x), axis=-1) % 2 == 1
    return mask


def ellipse_mask(center, radii, degrees, shape):
    """`[h, w]` bool: pixel centres inside the ellipse of semi-axes `radii` turned by `degrees`."""
    h, w = shape
    mask = np.zeros((h, w), bool)
    r = float(np.max(radii)) + 1.0
    x0, y0 = np.maximum(0, np.floor(center - r)).astype(int)
    x1, y1 = np.minimum((w, h), np.ceil(center + r) + 1).astype(int)
    if x0 >= x1 or y0 >= y1:
        return mask
    yy, xx = np.mgrid[y0:y1, x0:x1]
    a = np.deg2rad(degrees)
    u = (xx - center[0]) * np.cos(a) + (yy - center[1]) * np.sin(a)
    v = -(xx - center[0]) * np.sin(a) + (yy - center[1]) * np.cos(a)
    mask[y0:y1, x0:x1] = (u / radii[0]) ** 2 + (v / radii[1]) ** 2 <= 1.0
    return mask


def occluder_mask(rng, kind, center, size, shape):
    """`[h, w]` bool mask of one occluder of `kind` (see `OCCLUDER_SHAPES`), about `size` px across."""
    degrees = rng.uniform(0.0, 180.0)
    if kind == "ellipse":  # discs to elongated blobs
        return ellipse_mask(center, rng.uniform(0.2, 0.5, 2) * size, degrees, shape)
    if kind == "rectangle":
        half = rng.uniform(0.2, 0.5, 2) * size
        if rng.uniform() < 0.5:  # boxes, signs and tables are mostly upright
            degrees = 0.0
        corners = half * np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    elif kind == "bar":  # poles, railings, a held stick: long and thin
        half = np.array([rng.uniform(0.4, 0.8), rng.uniform(0.04, 0.1)]) * size
        corners = half * np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    elif kind == "polygon":  # a random star-shaped outline, convex or not
        count = rng.integers(5, 10)
        angles = np.sort(rng.uniform(0.0, 2 * np.pi, count))
        radii = rng.uniform(0.2, 0.55, count) * size
        corners = radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    else:
        raise ValueError(f"unknown occluder shape {kind!r}")
    return polygon_mask(center + _rotate_points(corners, degrees), shape)


def draw_occluder(rng, image, around, size):
    """Pastes a random occluder near the point `around` onto `image`.

    The shape comes from `OCCLUDER_SHAPES`, the fill from `OCCLUDER_FILLS`;
    edges are hard, so the returned mask is exactly the pixels it replaced.

    Returns:
        `(mask, info)`: the `[h, w]` bool mask and {"shape", "fill"}.
    """
    shape = _choice(rng, OCCLUDER_SHAPES)
    center = np.asarray(around, float) + rng.normal(0.0, size / 4.0, 2)
    mask = occluder_mask(rng, shape, center, size, image.shape[:2])
    fill = _choice(rng, OCCLUDER_FILLS)
    color, feature = rng.uniform(0, 1, 3), rng.uniform(3.0, 12.0)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows):
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        inside = mask[y0:y1, x0:x1]
        patch = pattern(rng, fill, (y1 - y0, x1 - x0), color, feature)
        image[y0:y1, x0:x1][inside] = patch[inside]
    return mask, {"shape": shape, "fill": fill}


# ----------------------------------------------------------------------------
# Whole-image photometry: applied last, after every mask is known.


def relight(rng, image):
    """Random global lighting: contrast, brightness, gamma and (half the time) a linear gradient.

    Returns:
        `(image, info)` with info {"contrast", "brightness", "gamma", "gradient"}.
    """
    h, w = image.shape[:2]
    contrast, brightness = rng.uniform(0.7, 1.3), rng.uniform(-0.12, 0.12)
    gamma = float(np.exp(rng.uniform(-0.35, 0.35)))
    image = np.clip((image - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0) ** gamma
    gradient = 0.0
    if rng.uniform() < 0.5:  # light falling from one side: +-gradient/2 at the far corners
        gradient = rng.uniform(0.2, 0.6)
        a = rng.uniform(0.0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = ((xx - w / 2) * np.cos(a) + (yy - h / 2) * np.sin(a)) / (0.5 * np.hypot(h, w))
        image = image * (1.0 + 0.5 * gradient * ramp).astype(np.float32)[..., None]
    info = {"contrast": float(contrast), "brightness": float(brightness), "gamma": gamma,
            "gradient": float(gradient)}
    return np.clip(image, 0.0, 1.0), info


def blur(image, sigma):
    """Separable Gaussian blur of the rows and columns (not the channels)."""
    return scipy.ndimage.gaussian_filter(image, (sigma, sigma, 0.0), mode="nearest")


def add_noise(rng, image, sigma):
    """Adds Gaussian sensor noise of standard deviation `sigma`; clips to [0, 1]."""
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(image + np.float32(sigma) * noise, 0.0, 1.0)


# ----------------------------------------------------------------------------
# Which points a mask covers.


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
