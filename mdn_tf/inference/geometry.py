"""Where crops and maps sit in the photo: the whole-image box and map -> photo pixels.

Plain arithmetic and `keras.ops`, so the `.keras` predictor, the SavedModel
signatures and every deployment artefact (traced on TensorFlow or on
Keras's PyTorch backend) share one statement of it.

Shapes: N people, J joints.
"""

from keras import ops

BOX_PADDING = 1.25  # the crop is the box enlarged by 25%, as in training


def whole_image_box(height, width, padding=BOX_PADDING):
    """The (x, y, w, h) box whose padded crop is the whole `height` x `width` image.

    The box is the image shrunk by `padding` about its centre, so that the
    usual enlargement brings the crop back to the image's edges. With pixel
    centres at integers the image spans [-0.5, width - 0.5], so its centre is
    ((width - 1) / 2, (height - 1) / 2): a photo of the network's input size
    is then cropped to itself, pixel for pixel. (Until issue 20 the centre
    was width / 2: every whole-image crop was resampled half a pixel off,
    which cost 0.36 PCKh@0.5 on the sample's crops.) Plain arithmetic, so the
    `whole_image` serving signature calls it on tensors.
    """
    size_x, size_y = width / padding, height / padding
    return [0.5 * (width - size_x) - 0.5, 0.5 * (height - size_y) - 0.5, size_x, size_y]


def maps_to_image(keypoints, inverse_transforms, stride):
    """Map-pixel keypoints `[N, J, 2]` to image pixels through `[N, 2, 3]` matrices.

    A map pixel covers `stride` input pixels, so its centre is at
    (k + 0.5) * stride - 0.5 on the network input; the crop -> image matrix
    takes it from there.
    """
    at_input = (keypoints + 0.5) * stride - 0.5  # [N, J, 2]
    linear = inverse_transforms[:, None, :, :2]  # [N, 1, 2, 2]
    shift = inverse_transforms[:, None, :, 2]  # [N, 1, 2]
    return ops.sum(linear * at_input[:, :, None, :], axis=-1) + shift
