"""MPII predictions in the layout of the official evaluation toolkit.

The toolkit reads `pred_keypoints_mpii.mat` holding `pred`, an annolist-like
struct array: `pred(i).image.name`, and `pred(i).annorect.annopoints.point`
with fields `id` (0-based MPII joint id), `x`, `y` (1-based MATLAB pixels).
We write one entry per evaluated person, in the order of the predictions,
and also `preds` `[N, 16, 2]` 1-based for the common Python evaluation.

Shapes: N people, J = 16 joints.
"""

import os

import numpy as np
import scipy.io


def write_mpii_predictions(path, predictions, image_names):
    """Writes MPII predictions to a `.mat` file.

    Args:
        path: output file, conventionally `pred_keypoints_mpii.mat`.
        predictions: `[N, 16, 2]` 0-based (x, y) in original-image pixels.
        image_names: N image file names, one per prediction row.

    Returns:
        `path`.

    Raises:
        ValueError: predictions not `[N, 16, 2]`, non-finite values, or a
            different number of image names.
    """
    predictions = np.asarray(predictions, np.float64)
    if predictions.ndim != 3 or predictions.shape[1:] != (16, 2):
        raise ValueError(
            f"predictions must have shape [N, 16, 2]. Received: shape {list(predictions.shape)}"
        )
    if not np.all(np.isfinite(predictions)):
        raise ValueError("predictions must be finite. Received: NaN or inf values")
    image_names = [str(name) for name in image_names]
    if len(image_names) != len(predictions):
        raise ValueError(
            f"image_names must name one image per prediction ({len(predictions)}). "
            f"Received: {len(image_names)} names"
        )
    one_based = predictions + 1.0  # MATLAB pixel coordinates, converted once here
    point_dtype = [("id", "O"), ("x", "O"), ("y", "O")]
    entries = np.empty((1, len(predictions)), dtype=[("image", "O"), ("annorect", "O")])
    for i, (name, joints) in enumerate(zip(image_names, one_based)):
        points = np.empty((1, 16), dtype=point_dtype)
        for j, (x, y) in enumerate(joints):
            points[0, j] = (np.array([[j]]), np.array([[x]]), np.array([[y]]))
        annopoints = np.empty((1, 1), dtype=[("point", "O")])
        annopoints[0, 0] = (points,)
        annorect = np.empty((1, 1), dtype=[("annopoints", "O")])
        annorect[0, 0] = (annopoints,)
        image = np.empty((1, 1), dtype=[("name", "O")])
        image[0, 0] = (np.array([name]),)
        entries[0, i] = (image, annorect)
    scipy.io.savemat(os.fspath(path), {"pred": entries, "preds": one_based}, do_compression=True)
    return path


def read_mpii_predictions(path):
    """Reads back the `[N, 16, 2]` 0-based predictions of `write_mpii_predictions`."""
    return np.asarray(scipy.io.loadmat(os.fspath(path))["preds"], np.float64) - 1.0
