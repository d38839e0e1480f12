"""From images and person boxes to keypoints in image pixels, in TF ops.

`predict_keypoints` is the whole inference graph: crop each person box to
the network input, run the network (optionally with the flip test), decode
the final maps and map the keypoints back through the inverse crop
transform. It is what `mdn_tf.export` puts into SavedModels, and what
evaluation runs in Python, so the two agree by construction. `crop_boxes`
takes several boxes per image, in the layout of `tf.image.crop_and_resize`.

Shapes: N images, K person boxes on them, J joints.
"""

import tensorflow as tf

from mdn_tf.data import transforms
from mdn_tf.data.records import PIXELS_PER_SCALE
from mdn_tf.inference.decode import decode_keypoints
from mdn_tf.inference.flip_test import flip_test_maps
from mdn_tf.inference.geometry import BOX_PADDING, maps_to_image


def crop_boxes(images, boxes, box_indices, input_size, padding=BOX_PADDING):
    """Crops every person box from the image it indexes, as `tf.image.crop_and_resize`.

    One photo with several people is passed once, with one box per person
    pointing at it. Images are only gathered one at a time inside the loop,
    so K boxes on one large photo never hold K copies of it.

    Args:
        images: `[N, H, W, 3]` uint8 or float in [0, 1].
        boxes: `[K, 4]` (x, y, w, h) in image pixels.
        box_indices: `[K]` int32, the image row of each box, in `[0, N)`;
            not checked here (the exported signature checks it).
        input_size: `(height, width)` of the network input.
        padding: box enlargement factor. Defaults to 1.25.

    Returns:
        crops `[K, height, width, 3]` float32 in [0, 1] and the crop-to-image
        matrices `[K, 2, 3]` at input resolution.
    """
    images = tf.convert_to_tensor(images, name="images")
    boxes = tf.cast(tf.convert_to_tensor(boxes, name="boxes"), tf.float32)
    box_indices = tf.cast(tf.convert_to_tensor(box_indices, name="box_indices"), tf.int32)
    centers = boxes[:, :2] + 0.5 * boxes[:, 2:]
    # affine_matrix widens the box to the input aspect ratio itself.
    scales = boxes[:, 2:] * padding / PIXELS_PER_SCALE

    def crop_one(args):
        index, center, scale = args
        image = tf.image.convert_image_dtype(tf.gather(images, index), tf.float32)
        to_input = transforms.affine_matrix(center, scale, input_size)
        return transforms.warp_image(image, to_input, input_size), transforms.invert_affine(to_input)

    return tf.map_fn(
        crop_one,
        (box_indices, centers, scales),
        fn_output_signature=(
            tf.TensorSpec(list(input_size) + [3], tf.float32),
            tf.TensorSpec([2, 3], tf.float32),
        ),
    )


def crop_people(images, boxes, input_size, padding=BOX_PADDING):
    """Crops one person box per image row (`crop_boxes` with box n on image n).

    Args:
        images: `[N, H, W, 3]` uint8 or float in [0, 1]; row n holds person n.
        boxes: `[N, 4]` (x, y, w, h) in image pixels.
        input_size: `(height, width)` of the network input.
        padding: box enlargement factor. Defaults to 1.25.

    Returns:
        crops `[N, height, width, 3]` float32 in [0, 1] and the crop-to-image
        matrices `[N, 2, 3]` at input resolution.
    """
    images = tf.convert_to_tensor(images, name="images")
    return crop_boxes(images, boxes, tf.range(tf.shape(images)[0]), input_size, padding)


def predict_keypoints(model, crops, inverse_transforms, flip_permutation=None,
                      quarter_offset=True, output="final", return_maps=False):
    """Keypoints in image pixels for crops made by `crop_people` or the pipeline.

    Args:
        model: a pose model returning a dict with `output` maps.
        crops: `[N, h, w, 3]` network inputs.
        inverse_transforms: `[N, 2, 3]` crop-to-image matrices.
        flip_permutation: `[J]` left/right permutation to run the flip test,
            None to skip it. Defaults to None.
        quarter_offset: quarter-pixel refinement. Defaults to True.
        output: name of the maps to decode. Defaults to "final".
        return_maps: also return the decoded maps. Defaults to False.

    Returns:
        keypoints `[N, J, 2]` (x, y) in image pixels and scores `[N, J]`, and
        with `return_maps` the maps `[N, H, W, J]` they were decoded from
        (flip-averaged when the flip test runs).
    """

    def predict_maps(images):
        return tf.cast(model(images, training=False)[output], tf.float32)

    if flip_permutation is None:
        maps = predict_maps(crops)
    else:
        maps = flip_test_maps(predict_maps, crops, flip_permutation)
    stride = tf.cast(tf.shape(crops)[2], tf.float32) / tf.cast(tf.shape(maps)[2], tf.float32)
    keypoints, scores = decode_keypoints(maps, quarter_offset)
    keypoints = maps_to_image(keypoints, tf.cast(inverse_transforms, tf.float32), stride)
    return (keypoints, scores, maps) if return_maps else (keypoints, scores)
