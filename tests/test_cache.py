"""The model cache (medlab.cache): keys derived from the code, verified entries, and its use by recipes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medlab import cache


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLAB_CACHE_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def tiny_model(units=1, name="tiny"):
    import keras

    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(units, name="d")(inputs), name=name)


# ----------------------------------------------------------------------------- the key
def test_the_scan_finds_imports_at_module_level_inside_functions_and_through_attributes():
    source = '''
import numpy as np
import medlab
from medlab import data, glue
from medlab.validate import check_int

def f():
    from medlab.metrics import dice
    import medlab.io
    return medlab.models.unet
'''
    found = cache._medlab_imports(source)
    assert found == {"medlab", "medlab.data", "medlab.validate", "medlab.metrics", "medlab.io",
                     "medlab.models"}
    assert "medlab.glue" not in found  # an attribute of the package, not a module


def test_the_key_of_fit_medmnist_covers_the_code_that_computes_its_report():
    """The old typed list (train, models, data) left out medlab.metrics, which computes the report."""
    reached = cache.code_modules("medlab.train")
    assert {"medlab.train", "medlab.models", "medlab.data", "medlab.metrics", "medlab.validate",
            "medlab.env", "medlab"} <= set(reached)
    assert "medlab.train3d" in cache.code_modules("medlab.train3d")
    assert "medlab.train3d" not in reached and list(reached) == sorted(reached)


def test_code_key_is_stable_and_changes_with_params():
    key = cache.code_key("medlab.metrics", a=1, b=[1, 2])
    assert key == cache.code_key("medlab.metrics", b=[1, 2], a=1)
    assert key != cache.code_key("medlab.metrics", a=2, b=[1, 2])
    assert key != cache.code_key("medlab.io", a=1, b=[1, 2])


def test_code_key_changes_when_a_reached_module_changes(tmp_path, monkeypatch):
    before = cache.code_key("medlab.train", a=1)
    edited = tmp_path / "metrics.py"
    edited.write_text(cache._source_path("medlab.metrics").read_text() + "\n# one more line\n")
    real = cache._source_path
    monkeypatch.setattr(cache, "_source_path", lambda m: edited if m == "medlab.metrics" else real(m))
    assert cache.code_key("medlab.train", a=1) != before


def test_code_key_rejects_arguments_it_cannot_hash():
    with pytest.raises(TypeError, match="JSON"):
        cache.code_key("medlab.metrics", model=object())


# --------------------------------------------------------------------------- the entries
def test_save_then_load_gives_the_same_model_values_and_arrays(folder):
    model = tiny_model()
    record = {"auc": np.float64(0.9), "history": {"loss": [1.0, 0.5]}, "p_test": np.arange(4) / 4,
              "y_test": np.array([0, 1, 1, 0])}
    cache.save("m-1", model, record)
    loaded, got = cache.load("m-1")
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert got["auc"] == 0.9 and type(got["auc"]) is float and got["history"] == {"loss": [1.0, 0.5]}
    np.testing.assert_array_equal(got["p_test"], record["p_test"])
    assert got["y_test"].dtype == np.int64
    assert sorted(p.name for p in folder.iterdir()) == ["m-1.json", "m-1.keras", "m-1.npz"]  # no temporaries
    meta = json.loads((folder / "m-1.json").read_text())
    assert meta["signature"] == {"name": "tiny", "inputs": [[[None, 3], "float32"]],
                                 "outputs": [[[None, 1], "float32"]]}
    assert len(meta["keras_sha256"]) == 64 and "p_test" not in meta["values"]


def test_save_refuses_values_json_cannot_hold(folder):
    with pytest.raises(TypeError, match="JSON"):
        cache.save("m-x", tiny_model(), {"model": object()})
    assert not folder.exists() or not list(folder.iterdir())


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def _corrupt_json(path):
    path.write_text(path.read_text()[:-10])


@pytest.mark.parametrize("damage, file, why", [
    (_flip_a_byte, "m-2.keras", "does not match its recorded SHA-256"),
    (_truncate, "m-2.keras", "does not match its recorded SHA-256"),
    (_flip_a_byte, "m-2.npz", "does not match its recorded SHA-256"),
    (_corrupt_json, "m-2.json", "does not verify"),
    (lambda p: p.unlink(), "m-2.npz", "m-2.npz is missing"),
    (lambda p: p.write_text("[1, 2]"), "m-2.json", "unknown record format"),
])
def test_a_damaged_entry_is_discarded_with_one_message(folder, capsys, damage, file, why):
    cache.save("m-2", tiny_model(), {"auc": 0.9})
    damage(folder / file)
    assert cache.load("m-2") is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "m-2 does not verify" in out and why in out and "training it again" in out
    assert not list(folder.glob("m-2.*"))  # discarded: the next save starts clean


def test_swapped_model_files_are_caught(folder, capsys):
    cache.save("a", tiny_model(1, "a"), {"which": "a"})
    cache.save("b", tiny_model(2, "b"), {"which": "b"})
    a, b = (folder / "a.keras").read_bytes(), (folder / "b.keras").read_bytes()
    (folder / "a.keras").write_bytes(b)
    (folder / "b.keras").write_bytes(a)
    assert cache.load("a") is None and cache.load("b") is None
    assert capsys.readouterr().out.count("SHA-256") == 2


def test_a_file_that_hashes_right_but_holds_another_model_is_caught(folder, capsys):
    """Hashes and record swapped together still name the wrong model: the signature catches it."""
    cache.save("a", tiny_model(1, "a"), {})
    cache.save("b", tiny_model(2, "b"), {})
    meta_a = json.loads((folder / "a.json").read_text())
    meta_b = json.loads((folder / "b.json").read_text())
    (folder / "a.keras").write_bytes((folder / "b.keras").read_bytes())
    meta_a["keras_sha256"] = meta_b["keras_sha256"]
    (folder / "a.json").write_text(json.dumps(meta_a))
    assert cache.load("a") is None
    assert "inputs or outputs are not the ones recorded" in capsys.readouterr().out
    assert cache.load("b") is not None  # a good entry is used


def test_a_file_keras_cannot_read_is_caught(folder, capsys):
    cache.save("m-3", tiny_model(), {})
    (folder / "m-3.keras").write_bytes(b"not a zip file")
    meta = json.loads((folder / "m-3.json").read_text())
    meta["keras_sha256"] = cache._sha256(folder / "m-3.keras")
    (folder / "m-3.json").write_text(json.dumps(meta))
    assert cache.load("m-3") is None
    assert "does not verify" in capsys.readouterr().out


def test_off_turns_the_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDLAB_CACHE_DIR", "off")
    assert cache.cache_dir() is None
    cache.save("m-4", tiny_model(), {})
    assert cache.load("m-4") is None


def test_cached_trains_once_and_again_after_damage(folder, capsys):
    calls = []

    def train():
        calls.append(1)
        return tiny_model(), {"n": len(calls), "p": np.ones(3)}

    kwargs = {"code": "medlab.metrics", "params": {"a": 1}}
    first = cache.cached("run", train, **kwargs)
    second = cache.cached("run", train, **kwargs)
    assert (first[2], second[2]) == (False, True) and len(calls) == 1
    assert second[1]["n"] == 1 and np.array_equal(second[1]["p"], np.ones(3))
    other = cache.cached("run", train, code="medlab.metrics", params={"a": 2})
    assert not other[2] and len(calls) == 2  # other arguments: another entry
    (entry,) = [p for p in folder.glob("run-*.keras") if cache.code_key("medlab.metrics", a=1) in p.name]
    _flip_a_byte(entry)
    third = cache.cached("run", train, **kwargs)
    assert not third[2] and len(calls) == 3 and "does not verify" in capsys.readouterr().out
    assert cache.cached("run", train, **kwargs)[2]  # the retrained entry is good again
    assert not cache.cached("run", train, use=False, **kwargs)[2] and len(calls) == 4


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
