"""mdn_tf.losses against NumPy statements of the paper's three loss terms."""

import numpy as np
import pytest
import tensorflow as tf

from mdn_tf import losses


def _np_bce_logits(targets, logits):
    # log(1 + exp(-|z|)) form, so the reference itself is stable.
    return np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))


def _np_huber(error, delta):
    a = np.abs(error)
    return np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_heatmap_bce_matches_numpy_with_joint_weights(rng):
    targets = (rng.random((2, 5, 6, 3)) > 0.8).astype(np.float32)
    logits = rng.normal(0, 3, (2, 5, 6, 3)).astype(np.float32)
    weights = np.array([[1, 0, 1], [1, 1, 0.5]], np.float32)[:, None, None, :]
    got = losses.heatmap_bce(targets, logits, weights).numpy()
    want = (_np_bce_logits(targets, logits) * weights).reshape(2, -1).mean(-1)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_heatmap_bce_is_finite_for_extreme_logits():
    logits = np.array([-1e4, 1e4, -80.0, 80.0], np.float32).reshape(1, 1, 4, 1)
    targets = np.array([1, 0, 0, 1], np.float32).reshape(1, 1, 4, 1)
    with tf.GradientTape() as tape:
        logits_t = tf.constant(logits)
        tape.watch(logits_t)
        loss = losses.heatmap_bce(targets, logits_t)
    grad = tape.gradient(loss, logits_t)
    assert np.isfinite(loss.numpy()).all() and np.isfinite(grad.numpy()).all()
    np.testing.assert_allclose(loss.numpy(), [(1e4 + 1e4 + 0 + 0) / 4], rtol=1e-4)


def test_masked_huber_ignores_pixels_outside_the_mask_even_nan(rng):
    targets = rng.normal(0, 2, (2, 4, 4, 3)).astype(np.float32)
    predictions = rng.normal(0, 2, (2, 4, 4, 3)).astype(np.float32)
    mask = (rng.random((2, 4, 4, 3)) > 0.5).astype(np.float32)
    poisoned = np.where(mask > 0, targets, np.nan).astype(np.float32)
    got = losses.masked_huber(poisoned, predictions, mask, delta=1.0).numpy()
    per_pixel = _np_huber(predictions - targets, 1.0) * mask
    want = per_pixel.reshape(2, -1).sum(-1) / mask.reshape(2, -1).sum(-1)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_masked_huber_is_zero_for_an_empty_mask():
    zeros = np.zeros((1, 3, 3, 2), np.float32)
    got = losses.masked_huber(zeros + 1, zeros, zeros).numpy()
    np.testing.assert_array_equal(got, [0.0])


@pytest.mark.parametrize("combine", ["noisy_or", "max"])
def test_final_map_loss_is_clipped_bce_for_probability_maps(combine, rng):
    targets = (rng.random((2, 4, 4, 2)) > 0.7).astype(np.float32)
    maps = rng.random((2, 4, 4, 2)).astype(np.float32)
    maps[0, 0, 0, 0], maps[0, 0, 1, 0] = 0.0, 1.0  # would be log(0) unclipped
    got = losses.final_map_loss(targets, maps, combine, epsilon=1e-6).numpy()
    # The clip bounds as float32 holds them (1 - 1e-6 is not exact).
    low, high = np.float32(1e-6), np.float32(1 - 1e-6)
    p = np.clip(maps.astype(np.float64), low, high)
    want = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    np.testing.assert_allclose(got, want.reshape(2, -1).mean(-1), rtol=1e-4)


def _tangent_log_reference(p, floor):
    """log(p) above floor; below it the tangent line at floor, written out."""
    return np.where(p >= floor, np.log(np.maximum(p, floor)), np.log(floor) + (p - floor) / floor)


def test_final_map_loss_with_a_floor_is_bce_with_tangent_logs(rng):
    targets = (rng.uniform(size=(2, 5, 5, 3)) > 0.8).astype("float32")
    maps = rng.uniform(size=(2, 5, 5, 3)).astype("float32")
    maps[0, 0, 0] = [0.0, 1e-7, 1.0]  # far below the floor and saturated
    floor = 0.05
    expected = -(targets * _tangent_log_reference(maps, floor)
                 + (1 - targets) * _tangent_log_reference(1 - maps, floor))
    loss = losses.final_map_loss(targets, maps, "noisy_or", floor=floor)
    np.testing.assert_allclose(loss.numpy(), expected.reshape(2, -1).mean(-1), rtol=1e-5)


def test_final_map_floor_bounds_the_gradient_of_an_unreached_target_pixel():
    # A target pixel that no vote reaches (m ~ 1e-7) pulled with 1 / m before:
    # millions of times a typical pixel's gradient, enough to inflate Adam's
    # second moments of the displacement heads for the rest of training.
    targets = tf.constant([[[[1.0, 1.0]]]])
    maps = tf.Variable([[[[2e-6, 0.5]]]])
    with tf.GradientTape(persistent=True) as tape:
        clipped = losses.final_map_loss(targets, maps, "noisy_or")
        bounded = losses.final_map_loss(targets, maps, "noisy_or", floor=0.05)
    unreached, typical = tape.gradient(clipped, maps).numpy()[0, 0, 0]
    assert abs(unreached) > 1e5 * abs(typical)
    gradient = tape.gradient(bounded, maps).numpy()[0, 0, 0]
    np.testing.assert_allclose(gradient, [-0.5 / 0.05, -0.5 / 0.5], rtol=1e-5)


def test_final_map_loss_is_mse_for_additive(rng):
    targets = rng.random((2, 4, 4, 2)).astype(np.float32)
    maps = rng.normal(0, 2, (2, 4, 4, 2)).astype(np.float32)
    got = losses.final_map_loss(targets, maps, "additive").numpy()
    np.testing.assert_allclose(got, ((maps - targets) ** 2).reshape(2, -1).mean(-1), rtol=1e-5)


def test_packed_keras_losses_equal_the_functions(rng):
    targets = (rng.random((2, 4, 4, 3)) > 0.5).astype(np.float32)
    weights = (rng.random((2, 4, 4, 3)) > 0.3).astype(np.float32)
    y_pred = rng.normal(0, 1, (2, 4, 4, 3)).astype(np.float32)
    packed = losses.pack_target(targets, weights)
    assert packed.shape == (2, 4, 4, 6)
    cases = [
        (losses.HeatmapBCE(), losses.heatmap_bce(targets, y_pred, weights)),
        (losses.MaskedHuber(0.5), losses.masked_huber(targets, y_pred, weights, 0.5)),
        (losses.FinalMapLoss("additive"), losses.final_map_loss(targets, y_pred, "additive", weights)),
    ]
    for loss_object, per_example in cases:
        np.testing.assert_allclose(
            loss_object(packed, y_pred).numpy(), per_example.numpy().mean(), rtol=1e-6
        )


def test_build_losses_covers_each_variants_outputs():
    names = ["stack_1_heatmaps", "final", "heatmaps", "offsets_x", "offsets_y"]
    mdn, weights = losses.build_losses(names, "mdn", "additive", final_weight=2.0)
    assert sorted(mdn) == sorted(names)
    assert mdn["final"].combine == "additive" and weights["final"] == 2.0
    posthoc, _ = losses.build_losses(names, "posthoc")
    assert "final" not in posthoc and "offsets_x" in posthoc
    baseline, _ = losses.build_losses(["final", "heatmaps"], "baseline")
    assert sorted(baseline) == ["heatmaps"]


def test_stn_field_is_supervised_with_gather_targets_and_the_final_map_loss():
    # The STN's offsets are trained towards the codec's gather displacements
    # (MDNCodec(displacements="gather")), not only through the warped maps.
    names = ["final", "heatmaps", "offsets_x", "offsets_y"]
    stn, _ = losses.build_losses(names, "stn", "noisy_or")
    assert sorted(stn) == ["final", "heatmaps", "offsets_x", "offsets_y"]


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="combine must be one of .* Received: combine='sum'"):
        losses.final_map_loss(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1)), "sum")
    with pytest.raises(ValueError, match="variant must be one of .* Received: variant='x'"):
        losses.build_losses(["final"], "x")
    with pytest.raises(ValueError, match="delta must be a positive number. Received: delta=0"):
        losses.MaskedHuber(0)
    with pytest.raises(ValueError, match=r"floor must be None or a number in \(0, 0.5\). "
                                         "Received: floor=0.7"):
        losses.FinalMapLoss("noisy_or", floor=0.7)


def test_final_map_loss_floor_survives_its_config():
    loss = losses.FinalMapLoss("max", floor=0.05)
    again = losses.FinalMapLoss.from_config(loss.get_config())
    assert again.combine == "max" and again.floor == 0.05
