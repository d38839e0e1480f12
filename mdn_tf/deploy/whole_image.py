"""The whole-image pose path in `keras.ops`: one photo in, keypoints, scores and maps out.

`whole_image_pose(predict_maps, image, ...)` is what every deployment
artefact holds. It is written once, in `keras.ops`, and traced twice: on
TensorFlow (`graph.PoseGraph`, for SavedModel, LiteRT, ONNX and OpenVINO)
and on Keras's PyTorch backend (`torch_program.py`, for the PyTorch
ExportedProgram). It takes one uint8 photo `[1, H, W, 3]` of any size and
returns

- `keypoints` `[1, J, 2]` (x, y) in the photo's pixels and `scores` `[1, J]`:
  the whole-image path of `mdn-tf predict` (crop, network, voting, flip
  test, decoding), and
- `maps` `[1, h, w, J]`: the final maps of the crop, for users who decode
  themselves.

The crop is the same bilinear resampling as the `.keras` path's
`ImageProjectiveTransformV3`: the whole-image box is axis-aligned, so the
warp separates into a row and a column interpolation matrix, built from the
photo's size as tent functions max(0, 1 - |source - pixel|), and the crop is
two matrix products. Only operations every converter maps (matrix products,
ranges, elementwise maths, gathers, reductions): no matrix inverse, no
projective-transform op, no custom op.
"""

from keras import ops

from mdn_tf.inference.decode import decode_keypoints
from mdn_tf.inference.flip_test import flip_test_maps
from mdn_tf.inference.geometry import BOX_PADDING, maps_to_image, whole_image_box


def whole_image_to_image(height, width, input_size, padding=BOX_PADDING):
    """The crop -> image matrix `[2, 3]` of the whole-image box, in closed form.

    `transforms.affine_matrix` and `invert_affine` for an axis-aligned box
    (no rotation, no flip) written out, so the graph needs no matrix inverse
    or trigonometry (TFLite has no builtin MatrixInverse).

    Args:
        height, width: the photo's size, float32 scalar tensors.
        input_size: `(height, width)` of the network input.
        padding: person-box enlargement. Defaults to 1.25.
    """
    input_height, input_width = float(input_size[0]), float(input_size[1])
    x, y, w, h = whole_image_box(height, width, padding)
    center_x, center_y = x + 0.5 * w, y + 0.5 * h
    box_width = ops.maximum(w * padding, h * padding * input_width / input_height)
    box_height = box_width * input_height / input_width
    # image -> crop: crop = s * image + t, per axis; crop -> image: (crop - t) / s.
    scale_x, scale_y = input_width / box_width, input_height / box_height
    shift_x = (input_width - 1.0) / 2.0 - scale_x * center_x
    shift_y = (input_height - 1.0) / 2.0 - scale_y * center_y
    zero = ops.zeros_like(scale_x)
    return ops.stack([ops.stack([1.0 / scale_x, zero, -shift_x / scale_x]),
                      ops.stack([zero, 1.0 / scale_y, -shift_y / scale_y])])


def interpolation_matrix(scale, offset, output_length, input_length):
    """`[output_length, input_length]` bilinear weights sampling the input at scale * o + offset.

    Pixel centres at integers, zero outside the input: the conventions of
    `ImageProjectiveTransformV3(interpolation="BILINEAR", fill_mode="CONSTANT")`.
    """
    source = scale * ops.arange(output_length, dtype="float32") + offset
    pixels = ops.arange(input_length, dtype="float32")
    return ops.relu(1.0 - ops.abs(source[:, None] - pixels[None, :]))


def crop_whole_image(image, input_size, padding=BOX_PADDING):
    """`[1, H, W, 3]` uint8 -> `[1, h, w, 3]` float32 crop in [0, 1] and its crop -> image matrix."""
    _, height, width, _ = ops.shape(image)
    pixels = ops.cast(image[0], "float32") * (1.0 / 255.0)  # [H, W, 3]
    # The photo's size as float scalars, counted rather than cast from the shape:
    # torch.export would fix a symbolic size cast to a tensor to the traced photo's
    # (exact below 2**24 pixels a side).
    height_f = ops.sum(ops.ones_like(pixels[:, 0, 0]))
    width_f = ops.sum(ops.ones_like(pixels[0, :, 0]))
    to_image = whole_image_to_image(height_f, width_f, input_size, padding)
    # Crop row y samples photo row to_image[1, 1] * y + to_image[1, 2]; columns alike.
    rows = interpolation_matrix(to_image[1, 1], to_image[1, 2], input_size[0], height)
    columns = interpolation_matrix(to_image[0, 0], to_image[0, 2], input_size[1], width)
    channels = ops.transpose(pixels, (2, 0, 1))  # [3, H, W]
    crop = ops.matmul(ops.matmul(ops.tile(rows[None], (3, 1, 1)), channels),
                      ops.tile(ops.transpose(columns)[None], (3, 1, 1)))
    return ops.transpose(crop, (1, 2, 0))[None], to_image


def whole_image_pose(predict_maps, image, input_size, flip_permutation=None,
                     quarter_offset=True, padding=BOX_PADDING):
    """Keypoints, scores and final maps of one whole photo.

    Args:
        predict_maps: callable from crops `[N, h, w, 3]` in [0, 1] to float32
            final maps `[N, H', W', J]`.
        image: `[1, H, W, 3]` uint8 photo.
        input_size: `(h, w)` of the network input.
        flip_permutation: `[J]` left/right permutation for the flip test, or
            None without it. Defaults to None.
        quarter_offset: quarter-pixel decoding refinement. Defaults to True.
        padding: person-box enlargement. Defaults to 1.25.

    Returns:
        dict of `keypoints` `[1, J, 2]`, `scores` `[1, J]`, `maps` `[1, H', W', J]`.
    """
    crop, to_image = crop_whole_image(image, input_size, padding)
    if flip_permutation is None:
        maps = predict_maps(crop)
    else:
        maps = flip_test_maps(predict_maps, crop, flip_permutation)
    stride = float(input_size[1]) / float(maps.shape[2])
    keypoints, scores = decode_keypoints(maps, quarter_offset)
    keypoints = maps_to_image(keypoints, to_image[None], stride)
    return {"keypoints": keypoints, "scores": scores, "maps": maps}
