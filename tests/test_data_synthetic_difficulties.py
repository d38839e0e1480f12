"""Tests of the difficulties in the synthetic MPII sample and of their annotations.

A 40-image set must hold every difficulty, and its annotations must agree
with what was drawn: joints outside the image are missing (JSON -1 and
`joints_vis` 0, no point in the release `.mat`), and a joint whose pixel an
occluder or a front distractor covers has `is_visible` 0 in the release.
The masks are recovered by redrawing an image alone with `mpii_scene`.
"""

import json

import numpy as np
import pytest
import scipy.io

from mdn_tf.data import mpii, synthetic
from mdn_tf.data.sample_data import MPII_IMAGE_SIZE, mpii_scene, sample_data

SEED = 3
SET = dict(num_mpii_train=30, num_mpii_valid=10, num_coco_train=2, num_coco_val=2, seed=SEED)


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return sample_data(tmp_path_factory.mktemp("hard"), **SET)


@pytest.fixture(scope="module")
def difficulties(paths):
    with open(paths.mpii_difficulties) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def rows(paths):
    """The JSON rows of train then valid: the order of `difficulties.json`."""
    rows = []
    for path in (paths.mpii_train, paths.mpii_valid):
        with open(path) as f:
            rows += json.load(f)
    return rows


def _scene(entry):
    """Redraws the image that a `difficulties.json` entry describes."""
    name = entry["image"]
    return mpii_scene(SEED, int(name[0]), int(name[1:-4]))


def _release_is_visible(path):
    """`[N, 16]` is_visible from the release `.mat`, -1 where a joint has no point."""
    mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    result = []
    for anno in np.atleast_1d(mat["RELEASE"].annolist):
        flags = np.full(16, -1)
        for point in np.atleast_1d(anno.annorect.annopoints.point):
            flags[int(point.id)] = int(point.is_visible)
        result.append(flags)
    return np.array(result)


def test_every_difficulty_appears(difficulties, rows):
    assert [d["image"] for d in difficulties] == [r["image"] for r in rows]
    assert len(difficulties) == 40
    shapes = {s for d in difficulties for s in d["occluder_shapes"]}
    assert len(shapes) >= 2, shapes
    assert all(0 <= d["occluders"] <= 3 and len(d["occluder_shapes"]) == d["occluders"]
               for d in difficulties)
    for key in ("truncated", "distractor", "distractor_in_front", "clutter", "blur",
                "occluded_joints", "hidden_by_distractor"):
        assert any(d[key] for d in difficulties), key
    assert any(d["distractor"] and not d["distractor_in_front"] for d in difficulties)
    limb_scales = [d["limb_scale"] for d in difficulties]
    assert max(limb_scales) - min(limb_scales) > 0.3
    assert {t for d in difficulties for t in d["clothing"]} > {"flat"}


def test_difficulty_rates_are_roughly_the_documented_ones(difficulties):
    # 40 images: loose bounds (about 3 standard deviations) around the rates.
    def rate(key):
        return np.mean([bool(d[key]) for d in difficulties])

    assert 0.2 <= rate("occluders") <= 0.7  # 45%
    assert 0.05 <= rate("truncated") <= 0.45  # 22%
    assert 0.1 <= rate("distractor") <= 0.55  # 30%
    assert 0.35 <= rate("clutter") <= 0.85  # 60%
    assert 0.05 <= rate("blur") <= 0.5  # 25%


def test_truncated_people_and_only_they_miss_joints(difficulties, rows):
    for d, row in zip(difficulties, rows):
        missing = np.array(row["joints_vis"]) == 0
        assert d["truncated"] == bool(missing.any()), d["image"]
        assert d["missing_joints"] == missing.sum()
        np.testing.assert_array_equal(np.array(row["joints"])[missing], -1.0)
    truncated = [d for d in difficulties if d["truncated"]]
    assert truncated and all(d["truncated_side"] in synthetic.TRUNCATION_SIDES for d in truncated)


def test_visibility_flags_agree_with_the_drawn_masks(paths, difficulties, rows):
    is_visible = _release_is_visible(paths.mpii_release)
    records = mpii.load_annotations(paths.mpii_release)
    assert len(is_visible) == len(records) == len(difficulties)
    hidden_total = 0
    for d, row, flags, record in zip(difficulties, rows, is_visible, records):
        scene = _scene(d)
        assert scene.difficulties == {k: v for k, v in d.items() if k not in ("image", "split")}
        present = synthetic.inside_image(scene.joints, MPII_IMAGE_SIZE)
        hidden = synthetic.covered(scene.hiding_mask, scene.joints)
        # Annotated = inside the image, in every format.
        np.testing.assert_array_equal(np.array(row["joints_vis"]), present.astype(int))
        np.testing.assert_array_equal(record.visibility, present.astype(np.float32))
        np.testing.assert_allclose(np.array(row["joints"])[present], scene.joints[present] + 1.0,
                                   atol=1e-3)
        # The release has no point for a missing joint, and is_visible = not hidden.
        np.testing.assert_array_equal(flags[~present], -1)
        np.testing.assert_array_equal(flags[present], (~hidden[present]).astype(int))
        assert d["occluded_joints"] == np.sum(hidden & present)
        hidden_total += np.sum(hidden & present)
    assert hidden_total > 0


def test_occluders_cover_the_pixels_their_masks_claim():
    rng = np.random.default_rng(0)
    for shape in synthetic.OCCLUDER_SHAPES:
        image = np.zeros((60, 80, 3))
        mask = synthetic.occluder_mask(rng, shape, np.array([40.0, 30.0]), 30.0, (60, 80))
        assert 20 < mask.sum() < 60 * 80, shape
        # All but a star-shaped polygon with a wide gap between vertices hold their centre.
        assert mask[30, 40] or shape == "polygon", shape
        image[mask] = 1.0
        assert np.all(image[~mask] == 0.0)


def test_crop_holds_untruncated_people_and_objpos_is_in_the_image(difficulties, rows, paths):
    records = mpii.load_annotations(paths.mpii_release)
    for d, row, record in zip(difficulties, rows, records):
        objpos = np.array(row["center"]) - 1.0  # 1-based in the file
        assert synthetic.inside_image(objpos[None], MPII_IMAGE_SIZE)[0], d["image"]
        if d["truncated"]:
            continue
        half = 100.0 * record.scale  # the crop box is 200 * scale px wide and high
        joints = record.joints[record.visibility > 0]
        assert np.all(np.abs(joints - record.center) <= half), d["image"]


def test_a_scene_is_the_same_for_the_same_seed_and_index():
    a, b = mpii_scene(7, 1, 5), mpii_scene(7, 1, 5)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.joints, b.joints)
    assert a.difficulties == b.difficulties
    assert not np.array_equal(a.image, mpii_scene(7, 1, 6).image)


def test_same_seed_gives_the_same_bytes(paths, tmp_path):
    small = dict(SET, num_mpii_train=4, num_mpii_valid=3)
    first, second = sample_data(tmp_path / "a", **small), sample_data(tmp_path / "b", **small)
    for name in ("mpii_train", "mpii_valid", "mpii_difficulties", "coco_train"):
        with open(getattr(first, name), "rb") as f, open(getattr(second, name), "rb") as g:
            assert f.read() == g.read(), name
    for index in range(4):
        image = f"0{index:08d}.jpg"
        with open(f"{first.mpii_images}/{image}", "rb") as f, \
                open(f"{second.mpii_images}/{image}", "rb") as g:
            assert f.read() == g.read()
    # A smaller set is a prefix of a larger one: every image has its own stream.
    with open(f"{paths.mpii_images}/000000000.jpg", "rb") as f, \
            open(f"{first.mpii_images}/000000000.jpg", "rb") as g:
        assert f.read() == g.read()
