"""U-Net builder and its shape table (medlab.models, chapter unet)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from medlab.models import unet, unet_table


def by_name(rows):
    return {r["layer"]: r for r in rows}


@pytest.fixture(scope="module")
def table256():
    return unet_table(unet((256, 256, 3), n_classes=2, base_filters=64, depth=4))


def test_original_sizes(table256):
    t = by_name(table256)
    assert (t["input"]["height"], t["input"]["channels"]) == (256, 3)
    for k, size in zip(range(1, 5), (256, 128, 64, 32), strict=True):
        assert (t[f"enc{k}_conv2"]["height"], t[f"enc{k}_conv2"]["channels"]) == (size, 64 * 2 ** (k - 1))
        assert t[f"enc{k}_pool"]["height"] == size // 2  # only pooling halves
        assert t[f"dec{k}_up"]["height"] == size  # one up-step doubles, once
    assert (t["bottleneck_conv2"]["height"], t["bottleneck_conv2"]["channels"]) == (16, 1024)
    assert (t["output"]["height"], t["output"]["width"], t["output"]["channels"]) == (256, 256, 2)


def test_sizes_change_only_at_pool_and_up(table256):
    prev = None
    for r in table256:
        if prev is not None and r["kind"] not in ("MaxPooling2D", "Conv2DTranspose", "Concatenate"):
            assert r["height"] == prev["height"], r["layer"]
        prev = r


def test_concat_channels_add_up(table256):
    t = by_name(table256)
    for k in range(1, 5):
        c = t[f"dec{k}_concat"]
        assert c["inputs"] == [f"dec{k}_up", f"enc{k}_conv2"]
        assert c["channels"] == t[f"dec{k}_up"]["channels"] + t[f"enc{k}_conv2"]["channels"]


def test_params_match_formula(table256):
    t = by_name(table256)
    # independent count: a k x k convolution has k*k*c_in*c_out weights + c_out biases
    assert t["enc1_conv1"]["params"] == 3 * 3 * 3 * 64 + 64
    assert t["dec4_up"]["params"] == 2 * 2 * 1024 * 512 + 512
    assert t["dec1_conv1"]["params"] == 3 * 3 * 128 * 64 + 64
    assert t["output"]["params"] == 64 * 2 + 2
    assert sum(r["params"] for r in table256) == 31_031_810


@pytest.mark.parametrize("upsampling,norm", [("transpose", None), ("upsample", "batch"),
                                             ("transpose", "instance")])
@pytest.mark.parametrize("skip", [True, False])
def test_variants_predict_probabilities(upsampling, norm, skip):
    m = unet((32, 48, 1), n_classes=4, base_filters=4, depth=3, upsampling=upsampling, skip=skip,
             norm=norm)
    out = m.predict(np.random.default_rng(0).random((2, 32, 48, 1), dtype=np.float32), verbose=0)
    assert out.shape == (2, 32, 48, 4)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    kinds = {r["kind"] for r in unet_table(m)}
    assert ("Concatenate" in kinds) == skip


def test_single_class_is_sigmoid():
    m = unet((16, 16, 1), n_classes=1, base_filters=2, depth=2)
    assert m.get_layer("output").get_config()["activation"] == "sigmoid"


@pytest.mark.parametrize("kwargs,match", [
    ({"input_shape": (90, 96, 1)}, "divisible"),
    ({"input_shape": (96, 96)}, "input_shape"),
    ({"depth": 0}, "depth"),
    ({"n_classes": 0}, "n_classes"),
    ({"base_filters": 2.5}, "base_filters"),
    ({"upsampling": "deconv"}, "upsampling"),
    ({"norm": "layer"}, "norm"),
])
def test_bad_arguments(kwargs, match):
    args = {"input_shape": (64, 64, 1), "base_filters": 2, "depth": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        unet(**args)


def test_import_stays_light():
    code = "import medlab, medlab.models, medlab.metrics, medlab.viz, sys; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_chapter_quotes_the_article_table_exactly():
    """The U-Net chapter's copy of the article's table (section 4.2.3) is the article's own rows, in order."""
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    article = root.parent / "shared" / "source" / "article.en.md"
    if not article.is_file():
        pytest.skip("../shared/source is not beside the repository")
    cells = json.loads((root / "chapters" / "unet.ipynb").read_text())["cells"]
    code = next("".join(c["source"]) for c in cells if "ARTICLE_UNET_ROWS = " in "".join(c["source"]))
    quoted = re.search(r'ARTICLE_UNET_ROWS = """\\\n(.*?)"""', code, re.S).group(1).splitlines()
    text = article.read_text()
    block = text[text.index("#### 4.2.3"):].split("```")[1].splitlines()
    rows = [line for line in block if re.search(r"\(\d+x\d+x\d+\)$", line) and not line.startswith("Output")]
    assert quoted == rows
    sources = ["".join(c["source"]) for c in cells]
    markdown = next(s for s in sources if "Where the source article goes wrong" in s)
    assert "\n".join(rows) in markdown  # the admonition shows the same rows
