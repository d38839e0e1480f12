"""Tests of the tf.data pipeline: shapes, determinism, evaluation inverse, errors, strategies."""

import importlib.util
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf.data import build_dataset, coco, mpii
from mdn_tf.data.sample_data import sample_data
from mdn_tf.data.transforms import map_to_image

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return sample_data(tmp_path_factory.mktemp("sample"), num_mpii_train=6, num_mpii_valid=2,
                       num_coco_train=2, num_coco_val=2)


@pytest.fixture(scope="module")
def mpii_records(small):
    return mpii.load_annotations(small.mpii_train)


def _first(dataset):
    return tf.nest.map_structure(lambda t: t.numpy(), next(iter(dataset)))


def _exact_map_keypoints(targets, num_joints):
    """Each joint from its within-part displacement targets: x_j = p + eps_c * o(p)."""
    keypoints = np.full(targets["joint_weights"].shape + (2,), np.nan)
    for b, j in zip(*np.nonzero(targets["joint_weights"])):
        i, x = np.argwhere(targets["offset_weights"][b, ..., j] > 0)[0]
        eps = 3.0
        keypoints[b, j] = [x + eps * targets["offsets_x"][b, i, x, j],
                           i + eps * targets["offsets_y"][b, i, x, j]]
    return keypoints


def test_mpii_training_batches_have_the_documented_shapes(mpii_records):
    image, targets = _first(build_dataset(mpii_records, "mpii", is_training=True, batch_size=4))
    assert image.shape == (4, 256, 256, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert targets["heatmaps"].shape == (4, 64, 64, 16)
    assert targets["final"].shape == (4, 64, 64, 16)
    for key in ("offsets_x", "offsets_y", "offset_weights"):
        assert targets[key].shape == (4, 64, 64, 31)
    assert targets["joint_weights"].shape == (4, 16)


def test_coco_batches_use_the_256_by_192_input_and_within_part_edges(small):
    records = coco.load_annotations(small.coco_train, image_dir=small.coco_train_images)
    image, targets = _first(build_dataset(records, "coco", batch_size=2, mode="within_part"))
    assert image.shape == (2, 256, 192, 3)
    assert targets["offsets_x"].shape == (2, 64, 48, 17)


def test_training_is_reproducible_for_a_seed_and_varies_across_epochs(mpii_records):
    def run(seed):
        return build_dataset(mpii_records, "mpii", is_training=True, batch_size=3, seed=seed)

    first, again = _first(run(5)), _first(run(5))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1]["offsets_x"], again[1]["offsets_x"])
    assert not np.array_equal(first[0], _first(run(6))[0])
    dataset = run(5)
    epoch1, epoch2 = _first(dataset), _first(dataset)
    assert not np.array_equal(epoch1[0], epoch2[0])


def test_evaluation_inverse_transform_returns_keypoints_to_the_image(mpii_records):
    dataset = build_dataset(mpii_records, "mpii", batch_size=6, with_meta=True)
    _, targets, meta = _first(dataset)
    np.testing.assert_array_equal(meta["index"], np.arange(6))
    on_map = _exact_map_keypoints(targets, 16)
    for b in range(6):
        valid = targets["joint_weights"][b] > 0
        assert valid.sum() >= 8
        back = map_to_image(on_map[b][valid], meta["inverse_transform"][b], stride=4)
        np.testing.assert_allclose(back, meta["joints"][b][valid], atol=0.5)


def test_evaluation_is_deterministic_and_keeps_the_last_partial_batch(mpii_records):
    a = list(build_dataset(mpii_records, "mpii", batch_size=4))
    b = list(build_dataset(mpii_records, "mpii", batch_size=4))
    assert [x[0].shape[0] for x in a] == [4, 2]
    np.testing.assert_array_equal(a[1][0].numpy(), b[1][0].numpy())


def test_cache_changes_nothing_but_speed(mpii_records):
    for is_training in (True, False):
        plain = _first(build_dataset(mpii_records, "mpii", is_training=is_training, batch_size=3))
        cached = _first(build_dataset(mpii_records, "mpii", is_training=is_training, batch_size=3,
                                      cache=True))
        np.testing.assert_array_equal(plain[0], cached[0])


@pytest.mark.parametrize("content", [b"not a jpeg at all", "truncated"])
def test_corrupt_jpeg_is_reported_with_its_path(mpii_records, tmp_path, content):
    bad = tmp_path / "broken_image.jpg"
    if content == "truncated":
        content = pathlib.Path(mpii_records[0].image).read_bytes()[:-400]
    bad.write_bytes(content)
    records = list(mpii_records[:2])
    records[1] = type(records[1])(**{**vars(records[1]), "image": str(bad)})
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"bad image .*broken_image\.jpg \(.*train\.json\[1\]\): "
                             r"(not an image file|truncated JPEG)"):
        list(build_dataset(records, "mpii", batch_size=2))


def test_damaged_jpeg_data_is_found_up_front_with_check_images(mpii_records, tmp_path):
    data = bytearray(pathlib.Path(mpii_records[1].image).read_bytes())
    data[2000:2600] = bytes(np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8))
    bad = tmp_path / "damaged.jpg"
    bad.write_bytes(bytes(data))
    records = list(mpii_records[:2])
    records[1] = type(records[1])(**{**vars(records[1]), "image": str(bad)})
    with pytest.raises(ValueError, match=r"train\.json\[1\]: cannot decode JPEG .*damaged\.jpg"):
        build_dataset(records, "mpii", check_images=True)


def test_missing_image_file_names_the_record(mpii_records, tmp_path):
    records = list(mpii_records[:3])
    records[2] = type(records[2])(**{**vars(records[2]), "image": str(tmp_path / "gone.jpg")})
    with pytest.raises(FileNotFoundError, match=r"1 of 3 records .*train\.json\[2\]: .*gone\.jpg"):
        build_dataset(records, "mpii")


def test_records_of_another_skeleton_are_rejected(mpii_records):
    with pytest.raises(ValueError, match="records have 16 joints but skeleton 'coco' has 17"):
        build_dataset(mpii_records, "coco")


def test_input_size_must_divide_by_the_stride(mpii_records):
    with pytest.raises(ValueError, match="divisible by stride=4. Received: input_size=\\(250, 250\\)"):
        build_dataset(mpii_records, "mpii", input_size=(250, 250))


def test_dataset_runs_under_a_distribution_strategy(mpii_records):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    distributed = strategy.distribute_datasets_from_function(
        lambda context: build_dataset(mpii_records, "mpii", is_training=True, batch_size=2,
                                      input_context=context))
    image, targets = next(iter(distributed))
    assert strategy.experimental_local_results(image)[0].shape == (2, 256, 256, 3)

    @tf.function
    def step(image, targets):
        return strategy.run(lambda i, t: tf.reduce_sum(t["heatmaps"]) + tf.reduce_sum(i),
                            args=(image, targets))

    assert np.isfinite(strategy.reduce("SUM", step(image, targets), axis=None).numpy())


def test_visualize_samples_writes_a_png(small, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "visualize_samples", REPO / "training" / "visualize_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "samples.png"
    module.main(["--dataset", "mpii", "--annotations", small.mpii_train, "--num", "2",
                 "--train", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_mpii_and_coco_people_go_through_the_pipeline(real_data_dir):
    people = mpii.load_annotations(real_data_dir / "mpii" / "test_mpii.json")
    _, targets, meta = _first(build_dataset(people, "mpii", batch_size=5, with_meta=True))
    on_map = _exact_map_keypoints(targets, 16)
    for b in range(5):
        valid = targets["joint_weights"][b] > 0
        back = map_to_image(on_map[b][valid], meta["inverse_transform"][b], stride=4)
        np.testing.assert_allclose(back, meta["joints"][b][valid], atol=0.5)
    people = coco.load_annotations(real_data_dir / "coco" / "test_coco.json")
    image, targets = _first(build_dataset(people, "coco", is_training=True, batch_size=12))
    assert image.shape == (12, 256, 192, 3) and targets["joint_weights"].sum() > 50
