"""Tests of medlab.train (chapter: cnn_project)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from sklearn.metrics import roc_auc_score  # noqa: E402

from medlab import models, train  # noqa: E402
from medlab.env import quiet_tensorflow, seed_everything  # noqa: E402

quiet_tensorflow()


def _toy(n=96, seed=0):
    """Synthetic images: class 1 has a bright 6x6 square, class 0 does not, both noisy."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(0.3, 0.1, size=(n, 28, 28, 1))
    x[y == 1, 10:16, 10:16, 0] += 0.5
    return np.clip(x, 0, 1).astype("float32"), y


def test_to_float():
    imgs = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = train.to_float(imgs)
    assert out.shape == (1, 2, 2, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, :, :, 0], [[0, 1], [0.2, 0.4]], rtol=1e-6)
    assert train.to_float(np.zeros((2, 5, 5, 3), np.uint8)).shape == (2, 5, 5, 3)
    with pytest.raises(TypeError, match="uint8"):
        train.to_float(np.zeros((2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="shape"):
        train.to_float(np.zeros((5, 5), np.uint8))


def test_make_dataset_batches_and_checks():
    x, y = _toy(10)
    batches = list(train.make_dataset(x, y[:, None], batch_size=4))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert batches[0][0].shape[1:] == (28, 28, 1)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    with pytest.raises(ValueError, match="labels"):
        train.make_dataset(x, y[:5])
    with pytest.raises(ValueError, match="channel axis"):
        train.make_dataset(x[..., 0], y)


def test_augmenter_keeps_shape_and_has_no_flip_by_default():
    x, _ = _toy(8)
    aug = train.augmenter(seed=1)
    out = np.asarray(aug(x, training=True))
    assert out.shape == x.shape
    assert not np.allclose(out, x)
    np.testing.assert_allclose(np.asarray(aug(x, training=False)), x)
    assert not any("Flip" in type(layer).__name__ for layer in aug.layers)
    assert any("Flip" in type(layer).__name__ for layer in train.augmenter(flip=True).layers)
    with pytest.raises(ValueError):
        train.augmenter(shift=-0.1)


def test_cosine_lr():
    f = train.cosine_lr(1e-3, 11, floor=0.1)
    lrs = [f(e) for e in range(11)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-4)
    assert lrs[5] == pytest.approx(0.55e-3)
    assert all(a >= b for a, b in zip(lrs[:-1], lrs[1:], strict=True))


def _brute_force_youden(y, s):
    best, best_t = -np.inf, None
    for t in np.unique(s)[::-1]:  # highest threshold first, so ties go to the highest
        pred = s >= t
        j = pred[y == 1].mean() + (~pred[y == 0]).mean() - 1
        if j > best + 1e-12:
            best, best_t = j, t
    return best_t, best


def test_youden_threshold_matches_brute_force():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(y * 1.0, 1.0), 2)  # rounding makes ties
    t_ref, j_ref = _brute_force_youden(y, s)
    t = train.youden_threshold(y, s)
    rep = train.binary_report(y, s, t)
    assert rep["sensitivity"] + rep["specificity"] - 1 == pytest.approx(j_ref)
    assert t == pytest.approx(t_ref)
    with pytest.raises(ValueError, match="both classes"):
        train.youden_threshold(np.ones(5), np.arange(5))


def test_binary_report_by_hand():
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.6, 0.3, 0.8, 0.4, 0.9, 0.7])
    rep = train.binary_report(y, s, 0.5)
    # predictions at 0.5: 0 1 0 1 0 1 1 -> tp 3, fn 1, tn 2, fp 1
    assert (rep["tp"], rep["fn"], rep["tn"], rep["fp"]) == (3, 1, 2, 1)
    assert rep["sensitivity"] == pytest.approx(3 / 4)
    assert rep["specificity"] == pytest.approx(2 / 3)
    assert rep["accuracy"] == pytest.approx(5 / 7)
    assert rep["auc"] == pytest.approx(roc_auc_score(y, s))
    with pytest.raises(ValueError, match="0..1"):
        train.binary_report([0, 2], [0.1, 0.2], 0.5)


def test_configure_device_is_float32_on_any_device():
    import keras
    import tensorflow as tf

    keras.mixed_precision.set_global_policy("mixed_float16")  # left over from elsewhere: reset
    try:
        device = "GPU x" if tf.config.list_physical_devices("GPU") else "CPU"
        assert train.configure_device().startswith(device) and train.configure_device().endswith(", float32")
        assert keras.mixed_precision.global_policy().name == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(TypeError):
        train.configure_device(False)  # the mixed-precision switch was removed (issue #29)


def _fit(seed, epochs=2):
    x, y = _toy()
    seed_everything(seed)
    model = models.pneumonia_cnn(widths=(4, 8), convs_per_block=1, mean=0.3, variance=0.01)
    return train.train_classifier(model, (x, y), (x[:32], y[:32]), epochs=epochs, batch_size=16,
                                  augment=train.augmenter(seed=seed), seed=seed)


def test_training_is_deterministic_with_a_seed_and_timed():
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()  # what medlab.setup(tensorflow=True) does
    a, b = _fit(0), _fit(0)
    assert a.history["loss"] == b.history["loss"]
    assert len(a.epoch_seconds) == 2 == a.epochs_run and a.seconds > 0 and a.cpu_seconds > 0
    assert a.monitor == "val_auc" and a.best_epoch == int(np.argmax(a.history["val_auc"])) + 1
    x, _ = _toy(8)
    np.testing.assert_array_equal(train.predict_proba(a.model, x), train.predict_proba(b.model, x))
    c = _fit(1)
    assert c.history["loss"] != a.history["loss"]


def test_training_learns_the_toy_task():
    res = _fit(0, epochs=8)
    x, y = _toy(64, seed=5)
    assert roc_auc_score(y, train.predict_proba(res.model, x)) > 0.9


def test_save_load_round_trip_in_safe_mode(tmp_path):
    import keras

    res = _fit(0, epochs=1)
    path = tmp_path / "model.keras"
    res.model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x, _ = _toy(8, seed=3)
    np.testing.assert_allclose(train.predict_proba(loaded, x), train.predict_proba(res.model, x),
                               rtol=1e-6, atol=1e-7)


def test_train_classifier_rejects_bad_input():
    x, y = _toy(16)
    model = models.pneumonia_cnn(widths=(4,), convs_per_block=1)
    with pytest.raises(ValueError, match="0..1"):
        train.train_classifier(model, (x, y + 1), (x, y), epochs=1)
    with pytest.raises(ValueError, match="channel"):
        train.train_classifier(model, (np.repeat(x, 3, axis=-1), y), (x, y), epochs=1)
    with pytest.raises(ValueError, match="binary"):
        train.train_classifier(models.source_cnn(n_classes=3), (x, y), (x, y), epochs=1)


def _tiny_model(seed=0):
    import keras

    seed_everything(seed)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


def test_tta_predict_averages_the_copies_as_written_out():
    """Chapter faq: TTA is the mean of predict() over the image and each augmented copy."""
    x, _ = _toy(12)
    model = _tiny_model()

    def flip(images, training=True):  # a deterministic 'augmentation'
        return np.asarray(images)[:, :, ::-1, :]

    plain = np.asarray(model.predict(x, verbose=0))[:, 0]
    flipped = np.asarray(model.predict(x[:, :, ::-1, :], verbose=0))[:, 0]
    np.testing.assert_allclose(train.tta_predict(model, x, flip, copies=0), plain, rtol=1e-6)
    np.testing.assert_allclose(train.tta_predict(model, x, flip, copies=1), (plain + flipped) / 2,
                               rtol=1e-5)
    np.testing.assert_allclose(train.tta_predict(model, x, flip, copies=3),
                               (plain + 3 * flipped) / 4, rtol=1e-5)
    assert not np.allclose(plain, flipped)  # otherwise the test could not fail


def test_tta_predict_with_the_augmenter_is_repeatable_and_checks_input():
    x, _ = _toy(8)
    model = _tiny_model()
    a = train.tta_predict(model, x, train.augmenter(seed=5), copies=2)
    b = train.tta_predict(model, x, train.augmenter(seed=5), copies=2)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert a.shape == (8,) and np.all((a >= 0) & (a <= 1))
    with pytest.raises(ValueError, match="copies"):
        train.tta_predict(model, x, train.augmenter(), copies=-1)
    with pytest.raises(ValueError, match="shape"):
        train.tta_predict(model, x, lambda im, training=True: np.asarray(im)[:, :20], copies=1)


# ------------------------------------------------------------------ the one training loop
def _regression_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(0, 0.3, 64)).astype("float32")
    return x, y


def _dense(seed=0):
    import keras

    seed_everything(seed)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(8, activation="relu")(inputs)))


def _datasets(seed=0):
    import tensorflow as tf

    x, y = _regression_data(seed)
    train_ds = tf.data.Dataset.from_tensor_slices((x[:48], y[:48])).shuffle(48, seed=seed).batch(8)
    return train_ds, tf.data.Dataset.from_tensor_slices((x[48:], y[48:])).batch(8)


def test_fit_keeps_the_epoch_modelcheckpoint_keeps(tmp_path):
    """The keep-best rule (EarlyStopping, restore_best_weights) and the chapter's open version
    (ModelCheckpoint(save_best_only) + load_weights) end with the same epoch and the same weights."""
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    epochs = 12
    ours = train.fit(_dense(), *_datasets(), epochs=epochs, optimizer=keras.optimizers.SGD(0.3), loss="mse",
                     monitor="val_loss", mode="min")
    model = _dense()
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss="mse")
    best = tmp_path / "best.weights.h5"
    train_ds, val_ds = _datasets()
    hist = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0, shuffle=False,
                     callbacks=[keras.callbacks.ModelCheckpoint(best, monitor="val_loss", save_best_only=True,
                                                                save_weights_only=True)])
    model.load_weights(best)
    assert ours.history["val_loss"] == [float(v) for v in hist.history["val_loss"]]
    assert ours.best_epoch == int(np.argmin(hist.history["val_loss"])) + 1
    assert ours.best_epoch < epochs, "a learning rate this high must overshoot, or the test proves nothing"
    for a, b in zip(ours.model.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours.best_value == min(ours.history["val_loss"])
    assert ours.epochs_run == epochs == len(ours.epoch_seconds) and ours.seconds > 0 and ours.cpu_seconds > 0


def test_fit_first_best_wins_and_the_best_weights_come_back():
    """A callback writes a score with a tie (epochs 2 and 3) into the logs before the keep-best rule
    reads it, as the detector's validation mAP does: epoch 2 is kept, and its weights restored."""
    import keras

    scores = [0.5, 0.7, 0.7, 0.6]
    snapshots = []

    class Score(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_score"] = scores[epoch]
            snapshots.append([w.copy() for w in self.model.get_weights()])

    res = train.fit(_dense(), *_datasets(), epochs=4, optimizer=keras.optimizers.SGD(0.05), loss="mse",
                    monitor="val_score", mode="max", callbacks=[Score()])
    assert res.history["val_score"] == scores and res.best_epoch == 2 and res.best_value == 0.7
    for a, b in zip(res.model.get_weights(), snapshots[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(snapshots[1], snapshots[3], strict=True))


def test_fit_stops_after_patience_and_checks_its_arguments():
    import keras

    class Flat(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_score"] = 1.0 if epoch == 0 else 0.0

    res = train.fit(_dense(), *_datasets(), epochs=10, optimizer=keras.optimizers.SGD(0.05), loss="mse",
                    monitor="val_score", mode="max", patience=2, callbacks=[Flat()])
    assert res.epochs_run == 3 and res.best_epoch == 1
    kwargs = {"epochs": 1, "optimizer": "sgd", "loss": "mse", "monitor": "val_loss", "mode": "min"}
    with pytest.raises(ValueError, match="mode must be one of"):
        train.fit(_dense(), *_datasets(), **{**kwargs, "mode": "auto"})
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        train.fit(_dense(), *_datasets(), **{**kwargs, "epochs": 0})
    with pytest.raises(ValueError, match="monitor 'val_auc' was never logged"):
        with pytest.warns(UserWarning):  # Keras warns each epoch; fit then refuses the result
            train.fit(_dense(), *_datasets(), **{**kwargs, "monitor": "val_auc"})
    with pytest.raises(TypeError, match="fit"):
        train.fit(_dense(), *_datasets(), 1)  # options are keyword-only
