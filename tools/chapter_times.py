"""Print how long each chapter took to execute, read from a book build's jupyter-cache.

    python -m tools.chapter_times [BUILD_DIR]     # default: _build (the full build)

myst-nb stores each executed notebook in ``BUILD_DIR/.jupyter_cache`` with its execution time
(wall seconds); ``scripts/build.sh`` calls this at the end. The README's per-chapter times come
from here.
"""

from __future__ import annotations

import sys
from pathlib import Path


def chapter_times(build_dir: Path) -> list[tuple[str, float | None]]:
    from jupyter_cache import get_cache

    cache = build_dir / ".jupyter_cache"
    if not cache.is_dir():
        raise SystemExit(f"no jupyter-cache in {build_dir}: build the book first (bash scripts/build.sh)")
    records = get_cache(str(cache)).list_cache_records()
    return sorted((Path(r.uri).stem, r.data.get("execution_seconds")) for r in records)


def main(argv: list[str]) -> int:
    build_dir = Path(argv[0]) if argv else Path("_build")
    rows = chapter_times(build_dir)
    total = sum(t for _, t in rows if t)
    print(f"{'chapter':<20}{'execution (s, wall)':>20}")
    for name, seconds in rows:
        print(f"{name:<20}{seconds if seconds is None else round(seconds):>20}")
    print(f"{'total':<20}{round(total):>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
