"""COCO keypoint AP through pycocotools, with OKS-NMS and the usual rescoring.

Top-down results are one entry per person box: `image_id`, `category_id`,
`keypoints` [51] (x, y, v triplets in image pixels), `score`. Before
evaluation the usual post-processing of the top-down literature (Xiao et al.
2018) applies: a person's score is its box score times the mean score of its
confident keypoints, and people that overlap another, higher-scoring person
of the same image with OKS above a threshold are suppressed (OKS-NMS).

Shapes: N people, J = 17 keypoints.
"""

import contextlib
import io
import json
import os

import numpy as np

# Per-keypoint OKS falloffs of the COCO keypoint challenge, in skeleton order.
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
     1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
) / 10.0
STATS_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
PERSON_CATEGORY = 1


def rescore(box_score, keypoint_scores, threshold=0.2):
    """Box score times the mean score of the keypoints above `threshold`."""
    keypoint_scores = np.asarray(keypoint_scores, np.float64)
    confident = keypoint_scores[keypoint_scores > threshold]
    return float(box_score) * (float(confident.mean()) if confident.size else 0.0)


def object_keypoint_similarity(keypoints, others, area, sigmas=COCO_SIGMAS):
    """OKS between one person and several others (COCO's formula).

    Args:
        keypoints: `[J, 2]` (x, y) of the reference person.
        others: `[N, J, 2]` (x, y) of the people compared with it.
        area: the reference person's area (its box area for detections).
        sigmas: `[J]` per-keypoint falloff. Defaults to the COCO sigmas.

    Returns:
        `[N]` similarities in [0, 1].
    """
    variances = (2.0 * np.asarray(sigmas)) ** 2
    squared = np.sum((np.asarray(others) - np.asarray(keypoints)[None]) ** 2, axis=-1)
    exponent = squared / variances[None] / (2.0 * (area + np.spacing(1)))
    return np.mean(np.exp(-exponent), axis=-1)


def oks_nms(people, threshold=0.9, sigmas=COCO_SIGMAS):
    """Indices of the people kept by greedy OKS non-maximum suppression.

    Args:
        people: list of dicts with "keypoints" `[J, 2]` or `[J, 3]` (x, y,
            score), "score" and "area", all of one image.
        threshold: a person is dropped when its OKS with a kept, higher-scoring
            person exceeds this. Defaults to 0.9.

    Returns:
        list of kept indices, best score first.
    """
    if not people:
        return []
    points = np.stack([np.asarray(p["keypoints"], np.float64)[:, :2] for p in people])
    scores = np.array([p["score"] for p in people], np.float64)
    areas = np.array([p["area"] for p in people], np.float64)
    order = list(np.argsort(-scores, kind="stable"))
    kept = []
    while order:
        best, rest = order[0], np.array(order[1:], int)
        kept.append(int(best))
        if rest.size == 0:
            break
        similarity = object_keypoint_similarity(points[best], points[rest], areas[best], sigmas)
        order = list(rest[similarity <= threshold])
    return kept


def make_results(image_ids, keypoints, keypoint_scores, boxes, box_scores,
                 nms_threshold=0.9, rescore_threshold=0.2):
    """Top-down predictions to a COCO results list, rescored and OKS-NMSed.

    Args:
        image_ids: `[N]` COCO image ids.
        keypoints: `[N, 17, 2]` (x, y) in image pixels.
        keypoint_scores: `[N, 17]` peak values of the final maps.
        boxes: `[N, 4]` person boxes (x, y, w, h) the crops came from.
        box_scores: `[N]` detector scores (1 for ground-truth boxes).
        nms_threshold: OKS-NMS threshold, None to skip NMS. Defaults to 0.9.
        rescore_threshold: keypoint score counted in the rescoring. Defaults
            to 0.2.

    Returns:
        list of result dicts in the COCO layout.
    """
    keypoints = np.asarray(keypoints, np.float64)
    keypoint_scores = np.asarray(keypoint_scores, np.float64)
    boxes = np.asarray(boxes, np.float64)
    by_image = {}
    for i, image_id in enumerate(np.asarray(image_ids).tolist()):
        by_image.setdefault(int(image_id), []).append({
            "image_id": int(image_id),
            "category_id": PERSON_CATEGORY,
            "keypoints": np.concatenate([keypoints[i], keypoint_scores[i][:, None]], 1),
            "score": rescore(box_scores[i], keypoint_scores[i], rescore_threshold),
            "area": float(boxes[i, 2] * boxes[i, 3]),
        })
    results = []
    for people in by_image.values():
        kept = range(len(people)) if nms_threshold is None else oks_nms(people, nms_threshold)
        for k in kept:
            person = people[k]
            results.append({
                "image_id": person["image_id"],
                "category_id": person["category_id"],
                "keypoints": [round(float(v), 3) for v in person["keypoints"].reshape(-1)],
                "score": person["score"],
            })
    return results


def coco_keypoint_ap(results, annotation_file, verbose=True):
    """COCO keypoint AP/AR (OKS) of `results` with pycocotools' `COCOeval`.

    Args:
        results: list of result dicts (`image_id`, `category_id`,
            `keypoints` [51], `score`) or the path of such a JSON file.
        annotation_file: the `person_keypoints_*.json` ground truth.
        verbose: print the standard AP/AR table. Defaults to True.

    Returns:
        dict with AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl (0..1).

    Raises:
        ValueError: no results, or results for images the annotation file
            does not contain.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if isinstance(results, (str, os.PathLike)):
        with open(results, encoding="utf-8") as handle:
            results = json.load(handle)
    results = list(results)
    if not results:
        raise ValueError("results is empty: COCO AP needs at least one detection. Received: []")
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        truth = COCO(os.fspath(annotation_file))
    unknown = sorted({r["image_id"] for r in results} - set(truth.getImgIds()))
    if unknown:
        raise ValueError(
            f"results refer to image ids not in {os.fspath(annotation_file)}. "
            f"Received: image_id={unknown[:5]}"
        )
    with contextlib.redirect_stdout(quiet):
        predicted = truth.loadRes(results)
        evaluation = COCOeval(truth, predicted, "keypoints")
        evaluation.params.imgIds = sorted({r["image_id"] for r in results})
        evaluation.evaluate()
        evaluation.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluation.summarize()
    if verbose:
        print(summary.getvalue(), end="")
    return {name: float(value) for name, value in zip(STATS_NAMES, evaluation.stats)}


def format_coco_table(stats, title="COCO OKS"):
    """A one-table summary of `coco_keypoint_ap`'s result (percent)."""
    header = f"{title:<10}" + "".join(f"{name:>7}" for name in STATS_NAMES)
    # COCOeval reports -1 where a size range has no ground truth.
    values = f"{'':<10}" + "".join(
        f"{100 * stats[name]:>7.1f}" if stats[name] >= 0 else f"{'-':>7}" for name in STATS_NAMES
    )
    return header + "\n" + values
