"""Viewing medical images: physical axes, orthogonal planes, slice and window viewers.

Introduced in the chapter *Medical images as data* (chapters/images_as_data.ipynb).
Static functions return a :class:`matplotlib.figure.Figure`; the viewers
return an ipywidgets widget when a Jupyter kernel and ipywidgets are present
(JupyterLab, Colab) and otherwise the same content as a static figure.

Label overlays: introduced in the chapter *U-Net: segmentation shape by shape*
(chapters/unet.ipynb).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_PLANES = ("axial", "coronal", "sagittal")


def widgets_available() -> bool:
    """True when ipywidgets is installed and code runs in a Jupyter kernel."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _enable_colab_widgets() -> None:
    if "google.colab" in sys.modules:  # pragma: no cover - only on Colab
        from google.colab import output

        output.enable_custom_widget_manager()


def _image2d(array, name: str = "array") -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2D image (rows, columns), got shape {arr.shape}")
    return arr


def imshow_mm(ax, array, spacing: Sequence[float] | None = None, **kwargs):
    """Draw a 2D image with axes in millimetres (``spacing`` = row, column) or pixels.

    Extra keyword arguments go to :meth:`matplotlib.axes.Axes.imshow`
    (default ``cmap="gray"``).
    """
    arr = _image2d(array)
    if spacing is None:
        sy, sx, unit = 1.0, 1.0, "pixels"
    else:
        sy, sx, unit = float(spacing[0]), float(spacing[1]), "mm"
        if min(sy, sx) <= 0:
            raise ValueError(f"spacing must be positive, got {spacing}")
    kwargs.setdefault("cmap", "gray")
    kwargs.setdefault("interpolation", "nearest")
    im = ax.imshow(arr, extent=(0, arr.shape[1] * sx, arr.shape[0] * sy, 0), **kwargs)
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    return im


def _volume(image):
    """Reorient a 3D image to LPS and return (array zyx, spacing zyx)."""
    import SimpleITK as sitk

    if not isinstance(image, sitk.Image):
        raise TypeError(f"image must be a SimpleITK.Image, got {type(image).__name__}")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError("expected a 3D single-channel image, got "
                         f"{image.GetDimension()}D with {image.GetNumberOfComponentsPerPixel()} channels")
    lps = sitk.DICOMOrient(image, "LPS")
    return sitk.GetArrayFromImage(lps), tuple(reversed(lps.GetSpacing()))


def plane(array: np.ndarray, spacing: Sequence[float], axis: str, index: int):
    """One slice of an LPS-oriented ``(z, y, x)`` volume, ready to draw.

    Returns the 2D slice and its ``(row, column)`` spacing. Axial slices show
    the patient's right on the left and anterior at the top (radiological
    convention); coronal and sagittal slices have the head at the top.
    """
    if axis not in _PLANES:
        raise ValueError(f"axis must be one of {_PLANES}, got {axis!r}")
    k = _PLANES.index(axis)
    if not 0 <= index < array.shape[k]:
        raise ValueError(f"{axis} index {index} is outside 0..{array.shape[k] - 1}")
    sz, sy, sx = spacing
    if axis == "axial":
        return array[index], (sy, sx)
    if axis == "coronal":
        return array[::-1, index, :], (sz, sx)
    return array[::-1, :, index], (sz, sy)


def _draw(ax, vol, spacing, axis, index, overlay=None, vmin=None, vmax=None, overlay_kw=None):
    sl, sp = plane(vol, spacing, axis, index)
    imshow_mm(ax, sl, sp, vmin=vmin, vmax=vmax)
    if overlay is not None:
        kw = {"cmap": "magma", "alpha": 0.6, "threshold": 0.0, **(overlay_kw or {})}
        ov, _ = plane(overlay, spacing, axis, index)
        imshow_mm(ax, np.ma.masked_less_equal(ov, kw.pop("threshold")), sp, **kw)
    ax.set_title(f"{axis}, slice {index}")
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")


def _overlay_array(overlay, shape):
    if overlay is None:
        return None
    arr, _ = _volume(overlay)
    if arr.shape != shape:
        raise ValueError(f"overlay shape {arr.shape} differs from the image shape {shape}; "
                         "resample it onto the image grid first (medlab.preprocess.resample_like)")
    return arr


def orthogonal_views(image, index: Sequence[int] | None = None, *, overlay=None, vmin=None, vmax=None,
                     overlay_kw: Mapping | None = None, figsize=None):
    """Axial, coronal and sagittal slices of a 3D image, drawn in mm.

    ``index`` is ``(z, y, x)`` in the LPS-oriented volume (default: centre).
    ``overlay`` is an image on the same grid (e.g. a probability map), drawn
    with ``overlay_kw`` (``cmap``, ``alpha``, ``threshold``, ``vmin``, ``vmax``).
    The default size is the book's column width (:data:`FIG_WIDTH`), so the page shows the
    text at the style's size.
    """
    import matplotlib.pyplot as plt

    vol, spacing = _volume(image)
    ov = _overlay_array(overlay, vol.shape)
    index = [n // 2 for n in vol.shape] if index is None else list(index)
    fig, axes = plt.subplots(1, 3, figsize=figsize or (FIG_WIDTH, 3.2), layout="constrained")
    for ax, axis, k in zip(axes, _PLANES, range(3), strict=True):
        _draw(ax, vol, spacing, axis, index[k], ov, vmin, vmax, overlay_kw)
    return fig


def _panels(n: int, figsize=None):
    """``n`` square panels: :func:`panel_grid` at the column's width, or one row of ``figsize``."""
    import matplotlib.pyplot as plt

    if figsize is None:
        return panel_grid(n, kind="plot", aspect=1.0)
    fig, grid = plt.subplots(1, n, figsize=figsize, squeeze=False, layout="constrained")
    return fig, grid[0]


def montage(image, axis: str = "axial", *, n: int = 6, overlay=None, vmin=None, vmax=None,
            overlay_kw: Mapping | None = None, figsize=None):
    """``n`` evenly spaced slices of a 3D image along one axis (the static slice scroller).

    Without ``figsize`` the slices are laid out by :func:`panel_grid` (at most three to a row at
    the column's width), so their labels stay legible on the page.
    """

    vol, spacing = _volume(image)
    ov = _overlay_array(overlay, vol.shape)
    if axis not in _PLANES:
        raise ValueError(f"axis must be one of {_PLANES}, got {axis!r}")
    depth = vol.shape[_PLANES.index(axis)]
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= depth:
        raise ValueError(f"n must be an integer in 1..{depth}, got {n!r}")
    picks = np.linspace(0, depth - 1, n + 2).round().astype(int)[1:-1]
    fig, axes = _panels(int(n), figsize)
    for ax, idx in zip(axes, picks, strict=True):
        _draw(ax, vol, spacing, axis, int(idx), ov, vmin, vmax, overlay_kw)
    return fig


def _png(fig) -> bytes:
    """Render a figure to PNG bytes and close it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def interactive_figure(render, controls, header=None):
    """Controls above a figure that ``render(*values)`` redraws whenever a control changes.

    ``render`` receives the controls' values in order and returns a Matplotlib figure (which
    is closed after drawing). The picture is an ``ipywidgets.Image`` holding PNG bytes, not an
    ``Output`` widget: headless executors (nbclient, used by nbconvert and Jupyter Book) can
    deadlock on Output widgets that capture a display while a cell runs, so chapters use this
    instead of ``ipywidgets.interact``. ``header`` replaces the plain list of controls above the
    figure (e.g. a grid of them). Introduced in the chapter *Medical images as data*.
    """
    import ipywidgets as widgets

    if not controls:
        raise ValueError("controls must hold at least one control widget")
    _enable_colab_widgets()
    image = widgets.Image(format="png")

    def update(_change=None) -> None:
        image.value = _png(render(*(c.value for c in controls)))

    for control in controls:
        control.observe(update, names="value")
    update()
    return widgets.VBox([*(controls if header is None else [header]), image])


def slice_viewer(image, axis: str = "axial", *, overlay=None, vmin=None, vmax=None,
                 overlay_kw: Mapping | None = None, interactive: bool | None = None):
    """A slider to scroll through the slices of a 3D image, or a static montage.

    With ``interactive=None`` a widget is returned when :func:`widgets_available`,
    otherwise the figure of :func:`montage`.
    """
    if interactive is None:
        interactive = widgets_available()
    if not interactive:
        return montage(image, axis, overlay=overlay, vmin=vmin, vmax=vmax, overlay_kw=overlay_kw)
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    vol, spacing = _volume(image)
    ov = _overlay_array(overlay, vol.shape)
    if axis not in _PLANES:
        raise ValueError(f"axis must be one of {_PLANES}, got {axis!r}")
    depth = vol.shape[_PLANES.index(axis)]

    def render(index: int):
        fig, ax = plt.subplots(figsize=(5, 5))
        _draw(ax, vol, spacing, axis, index, ov, vmin, vmax, overlay_kw)
        return fig

    slider = widgets.IntSlider(value=depth // 2, min=0, max=depth - 1, description=f"{axis} slice")
    return interactive_figure(render, [slider])


def window_grid(array, spacing: Sequence[float] | None, windows: Mapping[str, tuple[float, float]],
                figsize=None):
    """The same 2D image under several ``{name: (level, width)}`` windows, side by side.

    Without ``figsize`` the panels are laid out by :func:`panel_grid` (at most three to a row).
    """

    arr = _image2d(array)
    if not windows:
        raise ValueError("give at least one window as {name: (level, width)}")
    fig, axes = _panels(len(windows), figsize)
    for ax, (name, (level, width)) in zip(axes, windows.items(), strict=True):
        if width <= 0:
            raise ValueError(f"window {name!r}: width must be positive, got {width}")
        imshow_mm(ax, arr, spacing, vmin=level - width / 2, vmax=level + width / 2)
        ax.set_title(f"{name}\nL {level:g} / W {width:g}")
    return fig


def window_viewer(array, spacing: Sequence[float] | None = None, *, level: float = 40.0,
                  width: float = 400.0, windows: Mapping[str, tuple[float, float]] | None = None,
                  interactive: bool | None = None):
    """Level and width sliders on a 2D image (CT in HU), or a static :func:`window_grid`.

    The static fallback shows ``windows`` (default: the one ``level``/``width``).
    """
    arr = _image2d(array)
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    if interactive is None:
        interactive = widgets_available()
    if not interactive:
        return window_grid(arr, spacing, windows or {"window": (level, width)})
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    lo, hi = float(arr.min()), float(arr.max())

    def render(level: float, width: float):
        fig, ax = plt.subplots(figsize=(5, 5))
        imshow_mm(ax, arr, spacing, vmin=level - width / 2, vmax=level + width / 2)
        ax.set_title(f"level {level:g}, width {width:g}")
        return fig

    controls = [
        widgets.FloatSlider(value=level, min=lo, max=hi, step=1.0, description="level"),
        widgets.FloatSlider(value=width, min=1.0, max=max(hi - lo, 2.0), step=1.0, description="width"),
    ]
    return interactive_figure(render, controls)


TISSUE_COLORS = ("#00000000", "#3b528b", "#21918c", "#fde725")
"""Default colours of labels 0..3 (transparent, then three viridis colours)."""


def label_rgba(labels: np.ndarray, colors: Sequence[str] = TISSUE_COLORS, alpha: float = 0.45) -> np.ndarray:
    """Turn a 2D integer label map into an RGBA image for :func:`matplotlib.pyplot.imshow`.

    Label ``k`` gets ``colors[k]`` with opacity ``alpha``; label 0 is fully
    transparent. Raises ValueError for labels without a colour.
    """
    from matplotlib.colors import to_rgba

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2D label map, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(colors)):
        raise ValueError(f"labels range {labels.min()}..{labels.max()} but only {len(colors)} colours given")
    table = np.array([to_rgba(c) for c in colors], dtype=float)
    table[1:, 3] = alpha
    table[0, 3] = 0.0
    return table[labels]


def overlay(ax: Any, image: np.ndarray, labels: np.ndarray | None = None,
            *, colors: Sequence[str] = TISSUE_COLORS, alpha: float = 0.45,
            window: tuple[float, float] | None = None, extent: Sequence[float] | None = None) -> Any:
    """Draw a greyscale 2D image with an optional label-map overlay on ``ax``.

    ``image`` and ``labels`` are indexed ``[row, column]`` and drawn with row 0
    at the top. ``window`` is the grey range (default: 1st-99th percentile).
    Returns ``ax``.
    """
    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise ValueError(f"image must be 2D, got shape {image.shape}")
    if labels is not None and np.shape(labels) != image.shape:
        raise ValueError(f"labels shape {np.shape(labels)} differs from image shape {image.shape}")
    lo, hi = window if window is not None else np.percentile(image, [1, 99])
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
    if labels is not None:
        ax.imshow(label_rgba(labels, colors, alpha), extent=extent, interpolation="nearest")
    return ax


def three_planes(volume: np.ndarray, labels: np.ndarray | None = None,
                 index: Sequence[int] | None = None, spacing: Sequence[float] = (1.0, 1.0, 1.0),
                 *, titles: Sequence[str] = ("sagittal", "coronal", "axial"),
                 axes: Sequence[Any] | None = None,
                 **kwargs: Any) -> Any:
    """Show a volume indexed ``[x, y, z]`` (RAS-like, as nibabel returns it) in three planes.

    Each plane is drawn with the patient's top (or front) up and millimetre
    axes from ``spacing``; ``index`` is the (x, y, z) voxel where the planes
    cross (default: the centre). Extra keyword arguments go to :func:`overlay`.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3D [x, y, z], got shape {volume.shape}")
    if labels is not None and np.shape(labels) != volume.shape:
        raise ValueError(f"labels shape {np.shape(labels)} differs from volume shape {volume.shape}")
    index = [s // 2 for s in volume.shape] if index is None else list(index)
    if len(index) != 3 or any(not 0 <= i < s for i, s in zip(index, volume.shape, strict=True)):
        raise ValueError(f"index must be 3 voxel indices inside {volume.shape}, got {index!r}")
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(FIG_WIDTH, 3.2), layout="constrained")
    sx, sy, sz = spacing
    nx, ny, nz = volume.shape
    cuts = [(np.s_[index[0], :, :], (0, ny * sy, 0, nz * sz), ("y (mm)", "z (mm)")),
            (np.s_[:, index[1], :], (0, nx * sx, 0, nz * sz), ("x (mm)", "z (mm)")),
            (np.s_[:, :, index[2]], (0, nx * sx, 0, ny * sy), ("x (mm)", "y (mm)"))]
    window = kwargs.pop("window", tuple(np.percentile(volume, [1, 99])))
    for ax, (cut, extent, (xl, yl)), title in zip(axes, cuts, titles, strict=True):
        lab = None if labels is None else np.asarray(labels)[cut].T[::-1]
        overlay(ax, volume[cut].T[::-1], lab, window=window, extent=extent, **kwargs)
        ax.set_title(title)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    return axes[0].figure


# --- The book's figure style (issue #28) -------------------------------------------------------
# Measured on the built book (sphinx-book-theme 1.3, Chromium, window 1300 px wide): the content
# column holds code and output blocks 688 px wide (paragraphs 692 px), a figure directive shows
# its image at most 676 px wide, and captions are set at 16 px, like the body text. A CSS pixel
# is 1/96 inch and a point 1/72 inch, so a figure at most 676 px (7.04 in) wide is shown at its
# natural size, where 12 pt text is 16 px high.

COLUMN_PX = 688
"""Width of the content column (code and output blocks) at a 1300 px window, in CSS pixels."""

FIGURE_PX = 676
"""Widest a figure (``{glue:figure}``) is shown at a 1300 px window, in CSS pixels."""

CAPTION_PX = 16.0
"""Font size of figure captions (and body text) on the built page, in CSS pixels."""

MIN_TEXT_PX = 15.0
"""Smallest text a figure may show on the page at 1300 px (the browser test's floor): the caption
size, less one pixel for a tight bounding box up to 6 % wider than :data:`FIG_WIDTH`."""

FONT_PT = 12.0
"""Smallest font of the style: 12 pt is 16 px when the figure is shown at its natural size."""

FIG_WIDTH = 7.0
"""Default figure width in inches: 672 px, inside a figure's 676 px, so it is never scaled down."""

MIN_PANEL_WIDTH = {"plot": 2.2, "image": 1.3}
"""Narrowest panel, in inches, that keeps 12 pt tick labels apart (``"plot"``) or shows an image
without axes (``"image"``); :func:`panel_grid` wraps panels onto more rows below it."""

BOOK_RC: dict[str, Any] = {
    "figure.figsize": (FIG_WIDTH, 4.2),
    "font.size": FONT_PT,
    "axes.titlesize": FONT_PT + 1,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": FONT_PT,
    "ytick.labelsize": FONT_PT,
    "legend.fontsize": FONT_PT,
    "legend.title_fontsize": FONT_PT,
    "figure.titlesize": FONT_PT + 2,
    # white, not transparent: black text stays readable on the dark theme, in Colab's dark mode
    # and in an image viewer (the book theme also puts figures on white in dark mode)
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    # text stays text in the SVG: crisp at any zoom, searchable, and its size can be measured
    "svg.fonttype": "none",
    # fixed ids inside the SVG, so that the same figure gives the same file on every run
    "svg.hashsalt": "medlab",
}
"""rcParams of the book's style (applied by :func:`book_style`)."""


def book_style(*, svg: bool = True) -> dict[str, Any]:
    """Apply the book's figure style: column-wide figures, 12 pt text, SVG output in notebooks.

    Called by :func:`medlab.setup` (``figures=True``, the default), so every chapter's figures,
    shown or glued with :func:`medlab.glue`, come out alike. Sets :data:`BOOK_RC` and, inside
    a Jupyter kernel, makes figures display as SVG (``svg=False``: PNG) with a fixed date, so
    a figure's file does not change between runs. Explicit ``figsize``, ``fontsize`` and layout
    arguments still win. Returns the rcParams set. Introduced with issue #28; see
    ``CONTRIBUTING.md``, *Figures and code on the page*.
    """
    if not isinstance(svg, bool):
        raise TypeError(f"svg must be True or False, got {svg!r}")
    import matplotlib

    matplotlib.rcParams.update(BOOK_RC)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with every Jupyter install
        return dict(BOOK_RC)
    shell = get_ipython()
    if shell is not None and hasattr(shell, "kernel"):
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        if svg:
            set_matplotlib_formats("svg", metadata={"Date": None})
        else:
            set_matplotlib_formats("png")
    return dict(BOOK_RC)


def panel_grid(n: int, *, ncols: int | None = None, kind: str = "plot", aspect: float = 0.8,
               width: float = FIG_WIDTH, sharex: bool = False, sharey: bool = False):
    """A figure of ``n`` panels laid out so that their labels stay legible at the column's width.

    The rule for multi-panel figures: the figure is ``width`` inches wide (at most the column,
    so never shrunk on the page) and each panel at least :data:`MIN_PANEL_WIDTH` ``[kind]``
    inches wide (``"plot"``: axes with tick labels; ``"image"``: pictures without axes), so a
    row holds at most 3 plots or 5 images and further panels wrap onto new rows. The height
    follows from the rows and ``aspect`` (panel height / width). Fonts are not shrunk to fit:
    the layout changes instead. Returns ``(fig, axes)`` with ``axes`` a flat array of ``n``
    axes (extra cells of the grid are removed); constrained layout keeps labels inside.

    Raises
    ------
    ValueError
        If ``n``, ``ncols``, ``kind``, ``aspect`` or ``width`` is invalid, or ``ncols`` asks
        for panels narrower than the minimum.
    """
    import matplotlib.pyplot as plt

    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if kind not in MIN_PANEL_WIDTH:
        raise ValueError(f"kind must be one of {sorted(MIN_PANEL_WIDTH)}, got {kind!r}")
    if not 0 < aspect <= 4:
        raise ValueError(f"aspect (panel height / width) must be in (0, 4], got {aspect!r}")
    if not 0 < width <= FIGURE_PX / 96:
        raise ValueError(f"width must be in (0, {FIGURE_PX / 96:.2f}] inches (a figure's width on the page), "
                         f"got {width!r}")
    most = max(1, int(width // MIN_PANEL_WIDTH[kind]))
    if ncols is None:
        ncols = min(n, most)
    elif not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    elif ncols > most:
        raise ValueError(f"ncols={ncols} makes {kind} panels narrower than {MIN_PANEL_WIDTH[kind]} in; "
                         f"use at most {most} per row at width {width} in")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    panel = width / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, nrows * panel * aspect + 0.3),
                             squeeze=False, sharex=sharex, sharey=sharey, layout="constrained")
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.remove()
    if kind == "image":
        for ax in flat[:n]:
            ax.set_axis_off()
    return fig, flat[:n]


def svg_text_sizes(svg: str) -> tuple[float, list[float]]:
    """The width of an SVG (its ``viewBox``, user units) and the font size of each of its texts.

    Reads the ``font-size`` (or ``font: <size>px``) of every ``<text>`` and ``<tspan>``, which
    is how matplotlib writes text with ``svg.fonttype: none``; a figure drawn with glyph paths has
    no sizes. On a page, a size is shown at ``size * displayed_width / width`` CSS pixels.

    Raises
    ------
    ValueError
        If ``svg`` is not an SVG document with a ``viewBox`` or a width.
    """
    if not isinstance(svg, str):
        raise TypeError(f"svg must be the text of an SVG file, got {type(svg).__name__}")
    import re

    root = re.search(r"<svg\b[^>]*>", svg)
    if root is None:
        raise ValueError("svg has no <svg> element")
    box = re.search(r'viewBox="\s*[-\d.eE]+[\s,]+[-\d.eE]+[\s,]+([\d.eE]+)', root.group(0))
    width = re.search(r'\bwidth="([\d.eE]+)(?:pt|px)?"', root.group(0))
    if box is None and width is None:
        raise ValueError("svg has neither a viewBox nor a width")
    units = float(box.group(1) if box else width.group(1))
    sizes = [float(m) for tag in re.findall(r"<(?:text|tspan)\b[^>]*>", svg)
             for m in re.findall(r"font(?:-size)?:\s*(?:[a-z]+\s+)*([\d.]+)px", tag)]
    return units, sizes


def smallest_text_px(fig, *, column_px: float = FIGURE_PX) -> float:
    """Height in CSS pixels of the smallest text of ``fig`` as the book's page shows it.

    The figure is written as the notebooks show it (SVG, text kept as text, tight bounding
    box); an SVG of ``w`` points is ``w * 96 / 72`` CSS pixels wide and scaled down to
    ``column_px`` (default: a figure's 676 px) when wider. Returns ``inf`` for a figure
    without text. The browser test measures the built pages the same way
    (:func:`svg_text_sizes`); this lets an author check a figure against :data:`MIN_TEXT_PX`
    before building the book.
    """
    if not hasattr(fig, "savefig"):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    import io

    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    units, sizes = svg_text_sizes(buf.getvalue())
    natural_px = units * 96 / 72
    scale = min(1.0, column_px / natural_px) if natural_px > 0 else 1.0
    return min(sizes) * 96 / 72 * scale if sizes else float("inf")
