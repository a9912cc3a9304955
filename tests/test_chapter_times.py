"""``python -m tools.chapter_times`` reads execution times from a book build's jupyter-cache."""

from __future__ import annotations

import nbformat
import pytest

from tools import chapter_times


def test_reads_the_times_myst_nb_stores(tmp_path, capsys):
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(tmp_path / ".jupyter_cache"))
    for name, seconds in [("beta", 12.4), ("alpha", 3.0)]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = '{name}'")])
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(tmp_path / f"{name}.ipynb"),
                                                  data={"execution_seconds": seconds}), check_validity=False)
    assert chapter_times.chapter_times(tmp_path) == [("alpha", 3.0), ("beta", 12.4)]
    assert chapter_times.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "beta" in out and "total" in out and "15" in out


def test_no_cache_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="build the book first"):
        chapter_times.chapter_times(tmp_path)
