"""Tests of the MDN target codec: encoding against a NumPy reference, decoding, round trip."""

import numpy as np
import pytest

from mdn_tf import MassDisplacement
from mdn_tf.data.targets import MDNCodec
from mdn_tf.skeleton import COCO, MPII


def _reference(codec, keypoints, visibility):
    """The targets written the slow way, one pixel and one edge at a time."""
    height, width = codec.map_size
    eps = codec.heatmap_radius
    valid = [
        visibility[j] > 0 and -0.5 <= keypoints[j, 0] <= width - 0.5
        and -0.5 <= keypoints[j, 1] <= height - 0.5
        for j in range(codec.num_joints)
    ]
    num_edges = codec.num_edges
    out = {
        "heatmaps": np.zeros((height, width, codec.num_joints)),
        "final": np.zeros((height, width, codec.num_joints)),
        "offsets_x": np.zeros((height, width, num_edges)),
        "offsets_y": np.zeros((height, width, num_edges)),
        "offset_weights": np.zeros((height, width, num_edges)),
    }
    for i in range(height):
        for x in range(width):
            for j in range(codec.num_joints):
                d = np.hypot(keypoints[j, 0] - x, keypoints[j, 1] - i)
                if valid[j]:
                    out["heatmaps"][i, x, j] = float(d <= eps)
                    out["final"][i, x, j] = float(d <= codec.final_radius)
            for e, (s, t) in enumerate(codec.edges):
                d = np.hypot(keypoints[s, 0] - x, keypoints[s, 1] - i)
                if valid[s] and valid[t] and d <= eps:
                    norm = eps if s == t else max(height, width)
                    out["offsets_x"][i, x, e] = (keypoints[t, 0] - x) / norm
                    out["offsets_y"][i, x, e] = (keypoints[t, 1] - i) / norm
                    out["offset_weights"][i, x, e] = 1.0
    out["joint_weights"] = np.array(valid, dtype=float)
    return out


def _person(skeleton, map_size, seed=0):
    rng = np.random.default_rng(seed)
    height, width = map_size
    keypoints = rng.uniform([2, 2], [width - 3, height - 3], (skeleton.num_joints, 2))
    visibility = np.ones(skeleton.num_joints)
    visibility[1] = 0.0  # missing
    keypoints[4] = [width + 3.0, 5.0]  # annotated but outside the crop
    return keypoints.astype(np.float32), visibility.astype(np.float32)


@pytest.mark.parametrize("skeleton,map_size,mode", [
    (MPII, (16, 16), "cross_part"), (MPII, (16, 16), "within_part"), (COCO, (16, 12), "cross_part"),
])
def test_encode_matches_the_numpy_reference(skeleton, map_size, mode):
    codec = MDNCodec(skeleton, map_size=map_size, mode=mode, heatmap_radius=2.5)
    keypoints, visibility = _person(skeleton, map_size)
    targets = {k: v.numpy() for k, v in codec.encode(keypoints, visibility).items()}
    expected = _reference(codec, keypoints, visibility)
    for key, value in expected.items():
        np.testing.assert_allclose(targets[key], value, atol=1e-5, err_msg=key)


def test_missing_and_out_of_crop_joints_get_zero_weight_everywhere():
    codec = MDNCodec(MPII, map_size=(16, 16))
    keypoints, visibility = _person(MPII, (16, 16))
    targets = codec.encode(keypoints, visibility)
    for joint in (1, 4):
        assert targets["joint_weights"][joint] == 0
        assert not np.any(targets["heatmaps"][..., joint]) and not np.any(targets["final"][..., joint])
        touching = [e for e, edge in enumerate(codec.edges) if joint in edge]
        assert not np.any(targets["offset_weights"].numpy()[..., touching])


def test_gaussian_final_targets_peak_at_one_on_the_joint():
    codec = MDNCodec(MPII, map_size=(16, 16), final_target="gaussian", final_sigma=1.5)
    keypoints = np.full((16, 2), 7.0, np.float32)
    final = codec.encode(keypoints, np.ones(16))["final"].numpy()
    assert final[7, 7, 0] == pytest.approx(1.0)
    assert final[7, 8, 0] == pytest.approx(np.exp(-1 / (2 * 1.5**2)), rel=1e-5)


def test_edge_normalisers_are_eps_c_within_part_and_map_size_across():
    codec = MDNCodec(COCO, map_size=(64, 48), heatmap_radius=2.0)
    norm = codec.edge_normalisers()
    assert norm.shape == (33,)
    np.testing.assert_array_equal(norm[:17], 2.0)
    np.testing.assert_array_equal(norm[17:], 64.0)


def test_decode_recovers_a_subpixel_bilinear_splat():
    maps = np.zeros((2, 10, 12, 3), np.float32)
    for b, j, (x, y) in [(0, 0, (3.25, 4.5)), (0, 1, (0.0, 9.0)), (1, 2, (10.75, 0.1))]:
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for dy, dx, w in [(0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)),
                          (1, 0, (1 - fx) * fy), (1, 1, fx * fy)]:
            if y0 + dy < 10 and x0 + dx < 12:
                maps[b, y0 + dy, x0 + dx, j] += 2.0 * w
    keypoints, scores = MDNCodec(MPII).decode(maps)
    assert keypoints.shape == (2, 3, 2) and scores.shape == (2, 3)
    np.testing.assert_allclose(keypoints[0, 0], [3.25, 4.5], atol=1e-5)
    np.testing.assert_allclose(keypoints[0, 1], [0.0, 9.0], atol=1e-5)
    np.testing.assert_allclose(keypoints[1, 2], [10.75, 0.1], atol=1e-5)


@pytest.mark.parametrize("mode", ["within_part", "cross_part"])
@pytest.mark.parametrize("combine,kernel", [
    ("additive", "bilinear"), ("noisy_or", "bilinear"), ("max", "bilinear"), ("additive", "gaussian"),
])
@pytest.mark.parametrize("skeleton,map_size", [(MPII, (64, 64)), (COCO, (64, 48))])
def test_targets_voted_by_mass_displacement_decode_onto_the_keypoints(
    mode, combine, kernel, skeleton, map_size
):
    codec = MDNCodec(skeleton, map_size=map_size, mode=mode)
    keypoints, visibility = _person(skeleton, map_size, seed=3)
    targets = codec.encode(keypoints, visibility)
    norm = codec.edge_normalisers()
    layer = MassDisplacement(edges=codec.edges, combine=combine, kernel=kernel,
                             num_targets=skeleton.num_joints)
    voted = layer(targets["heatmaps"][None], targets["offsets_x"][None] * norm,
                  targets["offsets_y"][None] * norm)
    decoded, _ = codec.decode(voted.numpy()[0])
    valid = targets["joint_weights"].numpy() > 0
    error = np.linalg.norm(decoded - keypoints, axis=-1)[valid]
    assert error.max() < 1.0, error


def test_within_part_targets_also_vote_with_a_scalar_displacement_scale():
    codec = MDNCodec(MPII, map_size=(32, 32), mode="within_part", heatmap_radius=2.0)
    keypoints, visibility = _person(MPII, (32, 32), seed=4)
    targets = codec.encode(keypoints, visibility)
    voted = MassDisplacement(combine="additive", displacement_scale=codec.heatmap_radius)(
        targets["heatmaps"][None], targets["offsets_x"][None], targets["offsets_y"][None])
    decoded, _ = codec.decode(voted.numpy()[0])
    valid = targets["joint_weights"].numpy() > 0
    np.testing.assert_allclose(decoded[valid], keypoints[valid], atol=1e-3)


@pytest.mark.parametrize("kwargs,match", [
    ({"map_size": (64,)}, "map_size must be a \\(height, width\\) pair"),
    ({"mode": "all"}, "mode must be one of"),
    ({"final_target": "box"}, "final_target must be one of"),
    ({"heatmap_radius": 0}, "heatmap_radius must be positive. Received: heatmap_radius=0"),
])
def test_codec_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MDNCodec(MPII, **kwargs)
