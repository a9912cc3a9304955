"""A small anchor-free detector (CenterNet-style) and a classical baseline for BCCD.

Written for the chapter *Finding blood cells: object detection* (chapters/detection.ipynb),
which builds each piece in the open first:

* :func:`build_centernet`: a small encoder-decoder CNN whose output, at 1/4 of the input
  resolution, holds one heatmap per class (the logit that a cell's centre lies in that output
  pixel), the box size (log width and height) and the sub-pixel offset of the centre
  (Zhou et al., *Objects as points*, 2019);
* :func:`encode_targets` (boxes -> training targets), :func:`centernet_loss` (focal loss on the
  heatmaps, L1 on size and offset at the centres), :func:`decode` (peaks -> boxes);
* :func:`augment` (flips and colour jitter that move the boxes with the pixels) and
  :func:`fit_centernet` (training with :func:`medlab.train.fit`, the epoch chosen on validation
  mAP@0.5);
* :func:`classical_detect`: stain thresholding and connected components (white cells,
  platelets) and a Hough transform for circles on the image's edges (red cells), with no
  learning at all (the baseline).

Boxes are always in the original 640 x 480 pixel frame (``xyxy``, see ``medlab.detection``);
the network sees images shrunk by ``scale``. TensorFlow/Keras are imported inside functions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from medlab.detection import BCCD_SHAPE, CLASSES, as_boxes, evaluate, nms
from medlab.validate import check_array, check_int, check_model, check_number

STRIDE = 4
"""Output stride: one heatmap pixel covers 4 x 4 input pixels."""

HEATMAP_PRIOR = 0.1
"""Initial probability of every heatmap pixel (bias of the heatmap logits), as in CenterNet."""


# ----------------------------------------------------------------------------- model
def build_centernet(input_shape: Sequence[int] = (120, 160, 3), *, n_classes: int = len(CLASSES),
                    width: int = 16, levels: int = 3, name: str = "centernet") -> Any:
    """A small encoder-decoder with CenterNet heads, output at 1/:data:`STRIDE` resolution.

    Parameters
    ----------
    input_shape
        ``(height, width, 3)``, uint8-range RGB (the model rescales to [0, 1] itself); height
        and width must be divisible by ``2 ** levels``.
    n_classes
        Heatmap channels.
    width
        Filters of the stem (a stride-2 convolution and one more, at 1/2 resolution); each
        level down doubles them (at most ``8 * width``).
    levels
        Resolution levels (3: down to 1/8); the decoder climbs back to 1/4 with a skip
        connection from the encoder at each level, as in a U-Net.

    Returns
    -------
    keras.Model
        Output ``(batch, height / 4, width / 4, n_classes + 4)``: heatmap logits, log width,
        log height (in output pixels) and the centre offset (x, y) within the output pixel.
    """
    import keras
    from keras import layers

    h, w = int(input_shape[0]), int(input_shape[1])
    if levels < 2 or h % 2**levels or w % 2**levels:
        raise ValueError(f"input {h}x{w} must be divisible by 2**levels = {2**levels} (levels >= 2)")

    def block(x, filters):
        return conv(conv(x, filters), filters)

    def conv(x, filters, strides=1):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization(momentum=0.9)(x))

    inp = keras.Input(tuple(input_shape))
    x = conv(conv(layers.Rescaling(1 / 255)(inp), width, strides=2), width)  # stem: 1/2
    skips = {1: x}
    for level in range(2, levels + 1):  # encoder: 1/4, 1/8, ...
        x = block(layers.MaxPooling2D()(x), width * min(2 ** (level - 1), 8))
        skips[level] = x
    for level in range(levels - 1, 1, -1):  # decoder: back up to 1/4 resolution (level 2)
        x = layers.UpSampling2D(interpolation="bilinear")(x)
        x = block(layers.Concatenate()([x, skips[level]]), width * min(2 ** (level - 1), 8))

    def head(x, out, bias=0.0):
        x = layers.Conv2D(width * 2, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(out, 1, bias_initializer=keras.initializers.Constant(bias))(x)

    prior = float(np.log(HEATMAP_PRIOR / (1 - HEATMAP_PRIOR)))
    out = layers.Concatenate(name="heads")([head(x, n_classes, prior), head(x, 2), head(x, 2)])
    return keras.Model(inp, out, name=name)


# --------------------------------------------------------------------------- targets
def encode_targets(boxes: Sequence[Any], labels: Sequence[Any], out_shape: Sequence[int],
                   scale: float, *, n_classes: int = len(CLASSES), alpha: float = 0.54,
                   min_size: float = 2.0) -> np.ndarray:
    """Training targets of a batch: heatmaps, log sizes, offsets and a centre mask.

    Each box puts a 2D Gaussian on its class's heatmap, peaking at exactly 1 in the output
    pixel holding its centre, with standard deviations ``alpha * width / 6`` and
    ``alpha * height / 6`` (TTFNet's elliptical Gaussian; overlapping Gaussians take the
    maximum). Size and offset are written only in that centre pixel, where the mask is 1.
    Boxes narrower or lower than ``min_size`` original pixels are skipped: BCCD has two
    single-pixel boxes (``xmin == xmax`` and ``ymin == ymax`` in the XML), points rather than
    cells, with no size to learn.

    Parameters
    ----------
    boxes, labels
        Per image, ``(k, 4)`` boxes (``xyxy``, original pixel frame) and ``k`` class indices.
    out_shape
        ``(height, width)`` of the network output.
    scale
        Factor from the original frame to the network input (the output is ``scale / 4``).

    Returns
    -------
    numpy.ndarray
        float32 ``(n, height, width, n_classes + 5)``.
    """
    oh, ow = int(out_shape[0]), int(out_shape[1])
    f = scale / STRIDE
    out = np.zeros((len(boxes), oh, ow, n_classes + 5), np.float32)
    yy, xx = np.mgrid[0:oh, 0:ow].astype(np.float32)
    for n, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        b = as_boxes(b)
        lab = np.asarray(lab, dtype=np.int64).reshape(-1)
        if len(lab) != len(b):
            raise ValueError(f"image {n}: {len(b)} boxes but {len(lab)} labels")
        big = (b[:, 2] - b[:, 0] >= min_size) & (b[:, 3] - b[:, 1] >= min_size)
        for (x0, y0, x1, y1), c in zip(b[big] * f, lab[big], strict=True):
            bw, bh = x1 - x0, y1 - y0
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            i, j = min(int(cy), oh - 1), min(int(cx), ow - 1)
            sx, sy = max(alpha * bw / 6, 0.3), max(alpha * bh / 6, 0.3)
            g = np.exp(-((xx - j) ** 2 / (2 * sx**2) + (yy - i) ** 2 / (2 * sy**2)))
            np.maximum(out[n, :, :, c], g, out=out[n, :, :, c])
            out[n, i, j, n_classes:n_classes + 5] = [np.log(bw), np.log(bh), cx - j, cy - i, 1.0]
    return out


def centernet_loss(n_classes: int = len(CLASSES), size_weight: float = 1.0,
                   offset_weight: float = 1.0) -> Any:
    """The CenterNet loss as a Keras loss function of ``(y_true, y_pred)``.

    Heatmaps: the penalty-reduced focal loss of CornerNet/CenterNet,
    ``-(1 - p)^2 log p`` at centre pixels and ``-(1 - y)^4 p^2 log(1 - p)`` elsewhere (``y``
    the Gaussian target), summed and divided by the number of centres. Size and offset: L1
    at the centre pixels, divided by the number of centres.
    """
    from keras import ops

    n_classes = check_int(n_classes, "n_classes", low=1)
    size_weight = check_number(size_weight, "size_weight", low=0)
    offset_weight = check_number(offset_weight, "offset_weight", low=0)

    def loss(y_true, y_pred):
        hm_t, reg_t, mask = (y_true[..., :n_classes], y_true[..., n_classes:n_classes + 4],
                             y_true[..., n_classes + 4:])
        p = ops.clip(ops.sigmoid(y_pred[..., :n_classes]), 1e-4, 1 - 1e-4)
        pos = ops.cast(hm_t > 0.999, p.dtype)
        focal = -(pos * (1 - p) ** 2 * ops.log(p)
                  + (1 - pos) * (1 - hm_t) ** 4 * p**2 * ops.log(1 - p))
        n_pos = ops.maximum(ops.sum(mask), 1.0)
        l1 = ops.abs(y_pred[..., n_classes:] - reg_t) * mask
        return (ops.sum(focal) + size_weight * ops.sum(l1[..., :2])
                + offset_weight * ops.sum(l1[..., 2:])) / n_pos

    return loss


# -------------------------------------------------------------------------- decoding
def decode(output: Any, scale: float, *, n_classes: int = len(CLASSES), top_k: int = 100,
           min_score: float = 0.01, nms_iou: float | None = None) -> list[dict[str, np.ndarray]]:
    """Network outputs -> boxes, scores and labels per image (original pixel frame).

    A detection is a heatmap pixel that is the maximum of its 3 x 3 neighbourhood (the
    "peak picking" that replaces NMS in CenterNet) with probability ``>= min_score``; the
    ``top_k`` best of each image are kept. Its box is centred at the pixel plus the predicted
    offset, with the predicted size, scaled back by ``4 / scale`` and clipped to the image.
    ``nms_iou`` optionally adds class-wise NMS on top.
    """
    from scipy import ndimage

    out = np.asarray(output, dtype=np.float64)
    if out.ndim != 4 or out.shape[-1] != n_classes + 4:
        raise ValueError(f"output must be (n, h, w, {n_classes + 4}), got {out.shape}")
    back = STRIDE / scale
    H, W = BCCD_SHAPE
    results = []
    for o in out:
        heat = 1 / (1 + np.exp(-o[..., :n_classes]))
        peak = (heat == ndimage.maximum_filter(heat, size=(3, 3, 1), mode="constant")) & (heat >= min_score)
        i, j, c = np.nonzero(peak)
        s = heat[i, j, c]
        order = np.argsort(-s, kind="stable")[:top_k]
        i, j, c, s = i[order], j[order], c[order], s[order]
        reg = o[i, j, n_classes:]
        cx, cy = (j + reg[:, 2]) * back, (i + reg[:, 3]) * back
        bw, bh = np.exp(np.clip(reg[:, 0], -5, 8)) * back, np.exp(np.clip(reg[:, 1], -5, 8)) * back
        boxes = np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        boxes = np.clip(boxes, 0, [W, H, W, H])
        if nms_iou is not None and len(boxes):
            keep = np.concatenate([np.flatnonzero(c == k)[nms(boxes[c == k], s[c == k], nms_iou)]
                                   for k in range(n_classes)])
            keep = keep[np.argsort(-s[keep], kind="stable")]
            boxes, s, c = boxes[keep], s[keep], c[keep]
        results.append({"boxes": boxes, "scores": s, "labels": c.astype(np.int64)})
    return results


def predict(model: Any, images: np.ndarray, scale: float, *, batch_size: int = 16,
            **decode_kwargs: Any) -> list[dict[str, np.ndarray]]:
    """Run the network on uint8 images and :func:`decode` its output."""
    check_model(model)
    x = check_array(images, "images", ndim=4, finite=True).astype(np.float32)
    batch_size = check_int(batch_size, "batch_size", low=1)
    out = model.predict(x, batch_size=batch_size, verbose=0)
    return decode(out, scale, **decode_kwargs)


# ---------------------------------------------------------------------- augmentation
def augment(images: np.ndarray, boxes: Sequence[Any], rng: np.random.Generator,
            *, flips: bool = True, colour: float = 0.1) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random flips (left-right, up-down) that move the boxes with the pixels, and colour jitter.

    ``images`` are uint8 ``(n, h, w, 3)`` at any scale; ``boxes`` stay in the original
    640 x 480 frame, flipped there. ``colour`` scales each channel by a factor drawn from
    ``[1 - colour, 1 + colour]`` (stain intensity varies between smears).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got "
                        f"{type(rng).__name__}")
    colour = check_number(colour, "colour", low=0, high=1)
    H, W = BCCD_SHAPE
    imgs = np.array(check_array(images, "images", ndim=4), copy=True)
    if len(boxes) != len(imgs):
        raise ValueError(f"boxes has {len(boxes)} entries but images has {len(imgs)}; "
                         "give one (k, 4) array per image")
    out_boxes = []
    for n in range(len(imgs)):
        b = as_boxes(boxes[n]).copy()
        if flips and rng.random() < 0.5:
            imgs[n] = imgs[n, :, ::-1]
            b[:, [0, 2]] = W - b[:, [2, 0]]
        if flips and rng.random() < 0.5:
            imgs[n] = imgs[n, ::-1]
            b[:, [1, 3]] = H - b[:, [3, 1]]
        if colour:
            gain = rng.uniform(1 - colour, 1 + colour, size=3)
            imgs[n] = np.clip(imgs[n] * gain, 0, 255).astype(np.uint8)
        out_boxes.append(b)
    return imgs, out_boxes


# -------------------------------------------------------------------------- training
def _batches_class() -> type:
    import keras

    class CenterNetBatches(keras.utils.PyDataset):
        """Augmented training batches, endless: batch ``i`` is a pure function of ``i``.

        Epoch ``e = i // steps`` shuffles the images with ``default_rng([seed, e])``; batch
        ``b = i % steps`` of it is augmented (:func:`augment`) with ``default_rng([seed, e, b])``
        and encoded (:func:`encode_targets`). Because nothing depends on the order in which Keras
        asks for batches (it prefetches, and draws a few to learn their shapes), every run is the
        same.
        """

        def __init__(self, split: dict, scale: float, batch_size: int, out_shape: tuple[int, int],
                     seed: int) -> None:
            super().__init__()
            self.images, self.boxes, self.labels = split["images"], split["boxes"], split["labels"]
            self.scale, self.batch_size, self.out_shape, self.seed = scale, batch_size, out_shape, seed
            self.steps = int(np.ceil(len(self.images) / batch_size))

        @property
        def num_batches(self) -> None:
            return None  # endless: fit() is given steps_per_epoch

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            epoch, b = divmod(int(index), self.steps)
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            rng = np.random.default_rng([self.seed, epoch, b])
            x, boxes = augment(self.images[idx], [self.boxes[k] for k in idx], rng)
            y = encode_targets(boxes, [self.labels[k] for k in idx], self.out_shape, self.scale)
            return x.astype(np.float32), y

    return CenterNetBatches


def _val_map_class() -> type:
    import keras

    class ValidationMAP(keras.callbacks.Callback):
        """Adds ``val_map50`` (mAP@0.5 on the validation images) to the logs of every epoch.

        Scored every ``eval_every`` epochs and at the last one (the budget's end, or when
        ``max_seconds`` have passed, which also stops training); other epochs log ``-inf``
        (never an improvement, so never kept).
        """

        def __init__(self, val: dict, scale: float, epochs: int, eval_every: int,
                     max_seconds: float | None) -> None:
            super().__init__()
            self.val, self.scale, self.epochs, self.eval_every = val, scale, epochs, eval_every
            self.max_seconds = max_seconds

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            e = epoch + 1
            over = self.max_seconds is not None and time.perf_counter() - self.t0 > self.max_seconds
            score = float("-inf")
            if e % self.eval_every == 0 or e == self.epochs or over:
                pred = predict(self.model, self.val["images"], self.scale)
                score = evaluate(self.val["gt"], dict(zip(self.val["ids"], pred, strict=True)))["map50"]
            if logs is not None:
                logs["val_map50"] = score
            if over:
                self.model.stop_training = True

    return ValidationMAP


def fit_centernet(train: dict, val: dict, scale: float, *, epochs: int = 30, batch_size: int = 8,
                  width: int = 16, levels: int = 3, learning_rate: float = 2e-3,
                  eval_every: int = 1, seed: int = 0, verbose: bool = False,
                  max_seconds: float | None = None) -> Any:
    """Train :func:`build_centernet` on a BCCD split; keep the epoch best on validation mAP@0.5.

    ``train`` and ``val`` are :func:`medlab.data.load_bccd` results at the same ``scale``. The
    training loop is :func:`medlab.train.fit`: Adam with a cosine-decaying learning rate, the
    CenterNet loss, the validation loss logged every epoch. Every ``eval_every`` epochs (and at
    the last one) the validation images are decoded and scored (mAP@0.5, COCO interpolation) by
    a callback that puts the score into the logs before the keep-best rule reads it; the weights
    of the best scored epoch are restored at the end. Each epoch reshuffles the images and
    :func:`augment` draws a fresh flip and colour for every image (see ``CenterNetBatches``).
    ``max_seconds`` stops early (for a time budget; the cosine schedule is then cut short).

    Returns
    -------
    medlab.train.TrainResult
        ``history`` holds ``loss``, ``val_loss`` and ``val_map50`` per epoch (NaN where not
        scored); ``best_value`` is the best validation mAP@0.5.
    """
    import keras

    from medlab.train import fit
    from medlab.validate import check_int, check_number

    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    eval_every = check_int(eval_every, "eval_every", low=1)
    scale = check_number(scale, "scale", low=0, high=1, low_open=True)
    if max_seconds is not None:
        max_seconds = check_number(max_seconds, "max_seconds", low=0, low_open=True)
    keras.utils.set_random_seed(seed)
    model = build_centernet(train["images"].shape[1:], width=width, levels=levels)
    out_shape = tuple(model.output_shape[1:3])
    batches = _batches_class()(train, scale, batch_size, out_shape, seed)
    y_val = encode_targets(val["boxes"], val["labels"], out_shape, scale)
    val_data = (val["images"].astype(np.float32), y_val)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * batches.steps, alpha=0.02)
    score = _val_map_class()(val, scale, epochs, eval_every, max_seconds)
    res = fit(model, batches, _val_dataset(val_data, 16), epochs=epochs, steps_per_epoch=batches.steps,
              optimizer=keras.optimizers.Adam(schedule), loss=centernet_loss(), monitor="val_map50",
              mode="max", callbacks=[score], verbose=verbose)
    res.history["val_map50"] = [v if np.isfinite(v) else float("nan") for v in res.history["val_map50"]]
    return res


def _val_dataset(data: tuple[np.ndarray, np.ndarray], batch_size: int) -> Any:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


# ------------------------------------------------------------------ classical baseline
def classical_detect(image: np.ndarray, scale: float, *, wbc_threshold: float = 0.35,
                     wbc_min_area: float = 2500.0, platelet_threshold: float = 0.3,
                     platelet_max_area: float = 900.0, platelet_size: float = 38.0,
                     rbc_radius: float = 48.0) -> dict[str, np.ndarray]:
    """A detector without learning: stain thresholds, connected components, Hough circles.

    On an RGB smear (uint8, shrunk by ``scale``; areas and sizes below are in original pixels),
    with ``s`` the stain index of :func:`stain_index`, high on the violet nuclei and platelets
    and low on red cells:

    * **WBCs**: connected components of ``s > wbc_threshold`` (after a binary opening) of at
      least ``wbc_min_area`` are nuclei; the box is the component's bounding box grown by 40 %
      about its centre (to cover the cytoplasm), the score ``min(area / 20000, 1)``;
    * **platelets**: connected components of ``s > platelet_threshold`` more than 5 pixels
      (of the shrunk image) away from a WBC nucleus, with an area of 60 to
      ``platelet_max_area`` and a peak ``s`` of at least ``wbc_threshold``; the box is a
      ``platelet_size`` square about the component's centre of mass, the score the peak ``s``;
    * **RBCs**: Canny edges of the grey image (sigma 2; edges within 2 pixels of the shrunk
      image from a nucleus dropped) vote in a Hough transform for circles of radius 0.8 to 1.2
      ``rbc_radius`` (in steps of 4 original pixels); at most 60 peaks, at least
      ``rbc_radius`` apart in x and in y and with an accumulator of at least 0.2, are cell
      centres, boxed as circles of the peak's radius. The score is the largest accumulator
      value over the radii at that centre (the share of a circle's outline on edges).

    Boxes are clipped to the image. Returns ``boxes``, ``scores`` and ``labels`` like
    :func:`decode`.
    """
    from scipy import ndimage
    from skimage.feature import canny
    from skimage.transform import hough_circle, hough_circle_peaks

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (h, w, 3) RGB, got {img.shape}")
    H, W = BCCD_SHAPE
    a = 1 / scale**2  # pixel area back to the original frame
    boxes, scores, labels = [], [], []

    stain = stain_index(img)
    strong = ndimage.binary_opening(stain > wbc_threshold)
    lab, _ = ndimage.label(strong)
    wbc_mask = np.zeros_like(strong)
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        area = float(np.sum(lab[sl] == k)) * a
        if area >= wbc_min_area:
            wbc_mask[sl] |= lab[sl] == k
            y0, y1, x0, x1 = sl[0].start / scale, sl[0].stop / scale, sl[1].start / scale, sl[1].stop / scale
            cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, 0.7 * (x1 - x0), 0.7 * (y1 - y0)
            boxes.append([cx - hw, cy - hh, cx + hw, cy + hh])
            scores.append(min(area / 20000, 1.0))
            labels.append(1)
    weak = (stain > platelet_threshold) & ~ndimage.binary_dilation(wbc_mask, iterations=5)
    lab, _ = ndimage.label(weak)
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        inside = lab[sl] == k
        area, peak = float(inside.sum()) * a, float(stain[sl][inside].max())
        if 60 <= area <= platelet_max_area and peak >= wbc_threshold:
            cy, cx = [c / scale for c in ndimage.center_of_mass(inside)]
            cx, cy = cx + sl[1].start / scale, cy + sl[0].start / scale
            boxes.append([cx - platelet_size / 2, cy - platelet_size / 2,
                          cx + platelet_size / 2, cy + platelet_size / 2])
            scores.append(peak)
            labels.append(2)

    grey = img.mean(axis=2)
    edges = canny(grey, sigma=2.0) & ~ndimage.binary_dilation(wbc_mask, iterations=2)
    radii = np.arange(0.8 * rbc_radius, 1.2 * rbc_radius + 1, 4) * scale
    acc = hough_circle(edges, radii)
    _, px, py, rad = hough_circle_peaks(acc, radii, min_xdistance=int(rbc_radius * scale),
                                        min_ydistance=int(rbc_radius * scale),
                                        threshold=0.2, total_num_peaks=60)
    votes = acc.max(axis=0)[py, px]
    for x, y, rr, v in zip(px, py, rad, votes, strict=True):
        cx, cy, r = (x + 0.5) / scale, (y + 0.5) / scale, rr / scale
        boxes.append([cx - r, cy - r, cx + r, cy + r])
        scores.append(float(v))
        labels.append(0)
    b = np.clip(np.array(boxes, np.float64).reshape(-1, 4), 0, [W, H, W, H])
    return {"boxes": b, "scores": np.array(scores, np.float64), "labels": np.array(labels, np.int64)}


def stain_index(image: np.ndarray) -> np.ndarray:
    """How violet a pixel is: ``clip(2 (B - G) / (R + G + B + 1) + 0.2, 0, 1)`` (uint8 RGB input).

    Blue minus green relative to the brightness (the ``+ 1`` avoids a division by zero on black
    pixels), doubled and shifted by 0.2, then clipped to [0, 1]. In BCCD's photographs (the
    data set does not name its stain) nuclei and platelets are violet (blue high, green low)
    and red cells pink; the index separates them without any learning.
    """
    img = check_array(image, "image", finite=True).astype(np.float64)
    if img.ndim < 3 or img.shape[-1] != 3:
        raise ValueError(f"image must be RGB with a last axis of 3 channels, got shape {img.shape}")
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return np.clip((b - g) / (r + g + b + 1.0) * 2 + 0.2, 0, 1)
