"""The book's figure style (medlab.viz, issue #28): sizes for the column, 12 pt text, SVG output."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest

import medlab
from medlab import viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _svg(fig) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def test_setup_applies_the_style_and_can_leave_matplotlib_alone(capsys):
    medlab.setup(seed=0, figures=False)
    assert matplotlib.rcParams["font.size"] == matplotlib.rcParamsDefault["font.size"]
    medlab.setup(seed=0)
    for key, value in viz.BOOK_RC.items():
        got = matplotlib.rcParams[key]
        assert (list(got) == list(value)) if isinstance(value, tuple) else got == value, key
    assert "mode:" in capsys.readouterr().out


def test_the_numbers_agree():
    """12 pt at 96/72 px per point is the caption's 16 px; the default width fits the column."""
    assert viz.FONT_PT * 96 / 72 == viz.CAPTION_PX
    assert viz.FIG_WIDTH * 96 <= viz.FIGURE_PX <= viz.COLUMN_PX
    assert viz.CAPTION_PX - 1 == viz.MIN_TEXT_PX
    sizes = [v for k, v in viz.BOOK_RC.items() if k.endswith("size") and k != "figure.figsize"]
    assert min(sizes) == viz.FONT_PT


def test_smallest_text_px_of_a_figure_in_the_style():
    with matplotlib.rc_context(viz.BOOK_RC):
        fig, ax = plt.subplots()
        ax.plot([0, 1, 4])
        ax.set_xlabel("epoch")
        assert viz.smallest_text_px(fig) == pytest.approx(16.0)  # shown at natural size
        wide, ax = plt.subplots(figsize=(14, 4))  # twice the column: scaled to about half
        ax.plot([0, 1])
    units, sizes = viz.svg_text_sizes(_svg(wide))
    expected = 12 * 96 / 72 * viz.FIGURE_PX / (units * 96 / 72)
    assert viz.smallest_text_px(wide) == pytest.approx(expected) and expected < viz.MIN_TEXT_PX
    blank = plt.figure()
    assert viz.smallest_text_px(blank) == float("inf")


def test_svg_text_sizes_reads_matplotlib_svgs():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_title("title", fontsize=15)
    ax.set_xlabel("x", fontsize=7)
    units, sizes = viz.svg_text_sizes(_svg(fig))
    assert 4 * 72 * 0.8 < units < 4 * 72 * 1.05  # tight box of a 4-inch figure, in points
    assert min(sizes) == 7 and max(sizes) == 15
    svg = '<svg viewBox="0 0 10 5"><text style="font: 8px sans">a</text></svg>'
    assert viz.svg_text_sizes(svg) == (10, [8])
    with pytest.raises(ValueError, match="<svg>"):
        viz.svg_text_sizes("<html></html>")
    with pytest.raises(ValueError, match="viewBox"):
        viz.svg_text_sizes("<svg><text>a</text></svg>")


@pytest.mark.parametrize(("n", "kind", "shape"), [(1, "plot", (1, 1)), (3, "plot", (1, 3)),
                                                  (5, "plot", (2, 3)), (7, "image", (2, 5)),
                                                  (12, "image", (3, 5))])
def test_panel_grid_wraps_panels_and_keeps_text_legible(n, kind, shape):
    with matplotlib.rc_context(viz.BOOK_RC):
        fig, axes = viz.panel_grid(n, kind=kind)
        for i, ax in enumerate(axes):
            if kind == "image":
                ax.imshow(np.arange(16.0).reshape(4, 4), cmap="gray")
            else:
                ax.plot([1, 10, 100])
                ax.set_xlabel("epoch")
                ax.set_ylabel("loss")
            ax.set_title(f"panel {i}")
        assert len(axes) == n == len(fig.axes)
        rows, cols = shape
        assert {round(ax.get_subplotspec().get_geometry()[1]) for ax in axes} == {cols}
        assert max(ax.get_subplotspec().rowspan.stop for ax in axes) == rows
        assert fig.get_size_inches()[0] == viz.FIG_WIDTH
        assert viz.smallest_text_px(fig) >= viz.MIN_TEXT_PX
        if kind == "image":
            assert not any(ax.axison for ax in axes)


def test_panel_grid_refuses_bad_layouts():
    with pytest.raises(ValueError, match="ncols=4 makes plot panels narrower"):
        viz.panel_grid(4, ncols=4)
    with pytest.raises(ValueError, match="n must be"):
        viz.panel_grid(0)
    with pytest.raises(ValueError, match="n must be"):
        viz.panel_grid(2.5)
    with pytest.raises(ValueError, match="kind"):
        viz.panel_grid(2, kind="table")
    with pytest.raises(ValueError, match="aspect"):
        viz.panel_grid(2, aspect=0)
    with pytest.raises(ValueError, match="width"):
        viz.panel_grid(2, width=9)
    with pytest.raises(ValueError, match="ncols must be"):
        viz.panel_grid(2, ncols=0)
    fig, axes = viz.panel_grid(2, ncols=1)  # fewer columns than the most is fine
    assert fig.get_size_inches()[1] > fig.get_size_inches()[0] * 0.8 * 2 - 0.01 and len(axes) == 2


def test_notebook_figures_and_glued_figures_are_svg_and_reproducible(tmp_path):
    """In a kernel, medlab.setup makes shown and glued figures SVG, with text kept as text and
    the same bytes on every run (fixed ids, no date)."""
    from nbclient import NotebookClient

    cells = ["import matplotlib.pyplot as plt\nimport medlab\ninfo = medlab.setup(seed=0)",
             "fig, ax = plt.subplots()\nax.plot([0, 1, 4])\nax.set_xlabel('epoch')",
             "medlab.glue('fig_x', fig, display=False)\nplt.close(fig)"]
    runs = []
    for _ in range(2):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
                       ).execute()
        shown = [o for o in nb.cells[1].outputs if "image/svg+xml" in o.get("data", {})]
        glued = [o for o in nb.cells[2].outputs
                 if o.get("metadata", {}).get("scrapbook", {}).get("name") == "fig_x"]
        assert len(shown) == 1 and not any("image/png" in o.get("data", {}) for o in nb.cells[1].outputs)
        assert len(glued) == 1 and "application/papermill.record/image/svg+xml" in glued[0]["data"]
        svg = glued[0]["data"]["application/papermill.record/image/svg+xml"]
        assert "<dc:date>" not in svg and re.search(r"<text\b", svg)
        units, sizes = viz.svg_text_sizes(svg)
        assert min(sizes) == viz.FONT_PT and units * 96 / 72 <= viz.FIGURE_PX
        runs.append(svg)
    assert runs[0] == runs[1]
