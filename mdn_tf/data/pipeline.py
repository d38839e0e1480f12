"""The tf.data pipeline: records -> cropped, augmented images and MDN targets.

`build_dataset` is the entry point. Reading a record (the readers) is split
from parsing it for training or evaluation (`parse_example`, with an
`is_training` switch), as in the TF Model Garden.

Each element is `(image, targets)`, or `(image, targets, meta)` with
`with_meta=True`:

- image: `[B, H_in, W_in, 3]` float32 RGB in [0, 1].
- targets: the `MDNCodec.encode` dict at map size (H_in / stride):
  "heatmaps" `[B, H, W, J]`, "offsets_x" / "offsets_y" / "offset_weights"
  `[B, H, W, E]`, "final" `[B, H, W, J]`, "joint_weights" `[B, J]`.
- meta: "index" `[B]` (position in `records`), "image" `[B]` path,
  "center" and "scale" `[B, 2]`, "joints" `[B, J, 2]` and "visibility"
  `[B, J]` in original-image coordinates, "head_box" `[B, 4]`, "score" `[B]`,
  and "inverse_transform" `[B, 2, 3]` taking input-crop points back to the
  original image (see `transforms.map_to_image`).

Shapes: B batch, H x W map size, J joints, E voting edges.
"""

import os

import tensorflow as tf

from mdn_tf.data import bad_images, image_files, transforms
from mdn_tf.data.records import stack_records
from mdn_tf.data.targets import MDNCodec
from mdn_tf.skeleton import get_skeleton

DEFAULT_INPUT_SIZE = {"mpii": (256, 256), "coco": (256, 192)}
DEFAULT_STRIDE = 4


def build_dataset(
    records,
    skeleton="mpii",
    is_training=False,
    batch_size=32,
    input_size=None,
    stride=DEFAULT_STRIDE,
    codec=None,
    mode="cross_part",
    final_supervision=None,
    shuffle_buffer=1024,
    seed=0,
    cache=False,
    repeat=False,
    drop_remainder=None,
    with_meta=False,
    input_context=None,
    check_images=False,
    on_bad_image="error",
    bad_image_log=None,
):
    """Builds a batched, prefetched `tf.data.Dataset` of crops and MDN targets.

    Args:
        records: a list of `PoseRecord` from `mdn_tf.data.mpii` or `.coco`.
        skeleton: "mpii", "coco" or a `Skeleton`; fixes J and the flip pairs.
            Defaults to "mpii".
        is_training: random scale (+-25%), rotation (+-30 degrees, p = 0.6),
            horizontal flip with left/right swap (p = 0.5), colour jitter, and
            shuffling. When False, a deterministic centre crop. Defaults to False.
        batch_size: global batch size (split over replicas with
            `input_context`). Defaults to 32.
        input_size: `(height, width)` of the crops. Defaults to (256, 256) for
            MPII and (256, 192) for COCO.
        stride: input size / map size. Defaults to 4.
        codec: an `MDNCodec` for the targets. Defaults to
            `MDNCodec(skeleton, map_size=input_size // stride, mode=mode,
            final_supervision=final_supervision)`.
        mode: voting edges of the default codec, "within_part" or
            "cross_part". Defaults to "cross_part".
        final_supervision: the model's `FinalSupervision` (its rule, kernel
            and final-target form; `FinalSupervision.for_model(model)`): the
            default codec's "final" target is the one its loss expects.
            Defaults to None (the codec's binary disks).
        shuffle_buffer: shuffle buffer when training. Defaults to 1024.
        seed: seeds the shuffle and the augmentation; a fixed seed gives the
            same sequence every run (a new one every epoch). Defaults to 0.
        cache: when training, keep the encoded JPEG bytes in memory (the
            augmentation stays random); when evaluating, keep the finished
            samples. Defaults to False.
        repeat: repeat forever. Defaults to False.
        drop_remainder: drop the last partial batch. Defaults to `is_training`.
        with_meta: also return the meta dict (for evaluation). Defaults to False.
        input_context: a `tf.distribute.InputContext` (from
            `strategy.distribute_datasets_from_function`); shards the records
            and uses the per-replica batch size. Defaults to None.
        check_images: decode every image once before building (seconds per
            thousand images, in threads) so that the first undecodable file
            is reported with its record before anything runs. Without it,
            such a file is met during iteration (see `on_bad_image`).
            Defaults to False.
        on_bad_image: what an image that cannot be read or decoded does
            during iteration. "error": iteration fails with an
            `InvalidArgumentError` "bad image <path> (<record>): <reason>"
            (`bad_images.call_with_one_line_errors` makes it one line).
            "skip": the example is left out and `bad_image_log` records it
            (missing files are then skipped too instead of raising
            `FileNotFoundError` here). Defaults to "error".
        bad_image_log: a `bad_images.BadImageLog` that records the bad files
            met (share one between datasets to announce each file once).
            Defaults to a new log that prints each skipped file once.

    Returns:
        A `tf.data.Dataset` of `(image, targets)` or `(image, targets, meta)`.

    Raises:
        FileNotFoundError: naming the records whose image file is missing
            (`on_bad_image="error"`).
        ValueError: for an empty record list or mismatched joint counts, and
            with `check_images`, naming the first undecodable image.

    Example:

        records = mdn_tf.data.mpii.load_annotations(paths.mpii_train)
        dataset = build_dataset(records, "mpii", is_training=True, batch_size=16)
        model.fit(dataset, epochs=10)
    """
    skeleton = get_skeleton(skeleton)
    if input_size is None:
        input_size = DEFAULT_INPUT_SIZE.get(skeleton.name, (256, 256))
    input_size = (int(input_size[0]), int(input_size[1]))
    if input_size[0] % stride or input_size[1] % stride:
        raise ValueError(
            f"input_size must be divisible by stride={stride}. Received: input_size={input_size}"
        )
    map_size = (input_size[0] // stride, input_size[1] // stride)
    if codec is None:
        codec = MDNCodec(skeleton, map_size=map_size, mode=mode,
                         final_supervision=final_supervision)
    elif tuple(codec.map_size) != map_size or codec.num_joints != skeleton.num_joints:
        raise ValueError(
            f"codec must have map_size={map_size} and {skeleton.num_joints} joints. "
            f"Received: map_size={codec.map_size}, {codec.num_joints} joints"
        )
    bad_images.check_mode(on_bad_image)
    if on_bad_image == "error":
        _check_images_exist(records)
    if check_images:
        check_image_files(records)
    arrays = stack_records(records)
    if arrays["joints"].shape[1] != skeleton.num_joints:
        raise ValueError(
            f"records have {arrays['joints'].shape[1]} joints but skeleton "
            f"{skeleton.name!r} has {skeleton.num_joints}"
        )
    if drop_remainder is None:
        drop_remainder = bool(is_training)

    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    if input_context is not None:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if cache and is_training:
        # Cache the file bytes, not decoded crops, so augmentation stays random.
        dataset = dataset.map(_read_file, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if is_training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat and is_training:
        dataset = dataset.repeat()
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip((dataset, seeds))
    # Seeds are paired before bad examples can drop out, so skipping one
    # leaves every other example's augmentation unchanged.
    dataset = bad_images.decode_stage(
        dataset, [r.source for r in records], on_bad_image, bad_image_log
    )

    def parse(example, element_seed):
        return parse_example(
            example, codec, skeleton, input_size, is_training, element_seed, with_meta
        )

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if cache and not is_training:
        dataset = dataset.cache()
    if repeat and not is_training:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _check_images_exist(records):
    missing = [r for r in records if not os.path.exists(r.image)]
    if missing:
        first = missing[0]
        raise FileNotFoundError(
            f"{len(missing)} of {len(records)} records point to missing image files; "
            f"the first is {first.source or 'record 0'}: {first.image}"
        )


def check_image_files(records, workers=None):
    """Decodes every record's image once (in threads); raises naming the first that fails.

    The same decode as training (`image_files.decode_image`); `mdn-tf
    check-data` reports every bad file instead of the first.

    Raises:
        ValueError: "<record source>: cannot decode JPEG <path>: <reason>",
            for the first bad record in `records` order.
    """
    paths = list(dict.fromkeys(r.image for r in records))
    problems = dict(zip(paths, image_files.scan(paths, workers)))
    for record in records:
        problem = problems[record.image][0]
        if problem is not None:
            raise ValueError(
                f"{record.source or 'record'}: cannot decode JPEG {record.image}: {problem[1]}"
            )


def _read_file(example):
    return {**example, "contents": tf.io.read_file(example["image"])}


def parse_example(example, codec, skeleton, input_size, is_training, seed, with_meta=False):
    """Turns one stacked record into `(image, targets[, meta])`.

    Args:
        example: a dict of one record's tensors (`stack_records` fields,
            optionally with "pixels", the decoded uint8 image, or "contents",
            the file bytes already read).
        codec: the `MDNCodec` building the targets.
        skeleton: the `Skeleton` (its flip permutation).
        input_size: `(height, width)` of the crop.
        is_training: apply the random augmentation.
        seed: `[2]` int64 stateless seed of this element.
        with_meta: also return the meta dict.
    """
    # build_dataset decodes in `bad_images.decode_stage` (after shuffling, so
    # the shuffle buffer holds records rather than images) and passes
    # "pixels"; a caller of this function alone may pass "contents" or neither.
    if "pixels" in example:
        pixels = example["pixels"]
    else:
        contents = example["contents"] if "contents" in example else tf.io.read_file(example["image"])
        pixels = image_files.decode_image(contents)
    image = tf.image.convert_image_dtype(pixels, tf.float32)
    center, scale = example["center"], example["scale"]
    rotation, flip = tf.constant(0.0), tf.constant(False)
    if is_training:
        augment_seed, color_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        factor, rotation, flip = transforms.sample_augmentation(augment_seed)
        scale = scale * factor
    to_input = transforms.affine_matrix(center, scale, input_size, rotation, flip)
    to_map = transforms.affine_matrix(center, scale, codec.map_size, rotation, flip)
    crop = transforms.warp_image(image, to_input, input_size)
    if is_training:
        crop = transforms.color_jitter(crop, color_seed)
    crop = tf.ensure_shape(crop, list(input_size) + [3])
    keypoints = transforms.apply_affine(to_map, example["joints"])
    keypoints, visibility = transforms.flip_joints(
        keypoints, example["visibility"], skeleton.flip_permutation(), flip
    )
    targets = codec.encode(keypoints, visibility)
    if not with_meta:
        return crop, targets
    meta = {
        "index": example["index"],
        "image": example["image"],
        "center": example["center"],
        "scale": example["scale"],
        "joints": example["joints"],
        "visibility": example["visibility"],
        "head_box": example["head_box"],
        "score": example["score"],
        "inverse_transform": transforms.invert_affine(to_input),
    }
    return crop, targets, meta
