"""The model cache (medlab.cache) and its use by medlab.train.fit_medmnist."""

from __future__ import annotations

import numpy as np
import pytest

from medlab import cache


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLAB_CACHE_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def tiny_model():
    import keras

    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(1, name="d")(inputs))


def test_code_key_is_stable_and_changes_with_params_and_code():
    key = cache.code_key(("medlab.metrics",), a=1, b=[1, 2])
    assert key == cache.code_key(("medlab.metrics",), b=[1, 2], a=1)
    assert key != cache.code_key(("medlab.metrics",), a=2, b=[1, 2])
    assert key != cache.code_key(("medlab.metrics", "medlab.io"), a=1, b=[1, 2])


def test_code_key_rejects_arguments_it_cannot_hash():
    with pytest.raises(TypeError, match="JSON"):
        cache.code_key(("medlab.metrics",), model=object())


def test_save_then_load_gives_the_same_model(folder):
    model = tiny_model()
    cache.save("m-1", model, {"auc": 0.9})
    loaded, info = cache.load("m-1")
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert info == {"auc": 0.9}
    assert sorted(p.name for p in folder.iterdir()) == ["m-1.json", "m-1.keras"]  # no temporaries left


def test_missing_or_damaged_entries_are_misses(folder):
    assert cache.load("nothing") is None
    cache.save("m-2", tiny_model(), {})
    (folder / "m-2.keras").write_bytes(b"not a keras file")
    assert cache.load("m-2") is None


def test_off_turns_the_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDLAB_CACHE_DIR", "off")
    assert cache.cache_dir() is None
    cache.save("m-3", tiny_model(), {})
    assert cache.load("m-3") is None


def test_fit_medmnist_trains_once_then_reuses_the_model(folder):
    from medlab import data, train

    kwargs = dict(seed=3, epochs=1, train_limit=64)
    first = train.fit_medmnist("pneumoniamnist", cache=True, **kwargs)
    second = train.fit_medmnist("pneumoniamnist", cache=True, **kwargs)
    assert not first["cached"] and second["cached"]
    assert {k: v for k, v in first.items() if k not in ("model", "cached")} == \
        {k: v for k, v in second.items() if k not in ("model", "cached")}
    x = train.to_float(data.load_medmnist("pneumoniamnist")["val_images"][:32])
    np.testing.assert_allclose(second["model"].predict(x, verbose=0), first["model"].predict(x, verbose=0),
                               rtol=1e-6)
    other = train.fit_medmnist("pneumoniamnist", cache=True, **{**kwargs, "seed": 4})
    assert not other["cached"]  # another seed is another model


def test_default_folder_is_the_models_folder_of_the_data_layers_user_cache(monkeypatch):
    from medlab import data

    monkeypatch.delenv("MEDLAB_CACHE_DIR", raising=False)
    assert cache.cache_dir() == data.user_cache_dir() / "models"
