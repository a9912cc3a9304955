"""The book's workshop: benchmarks, classroom tools, data prefetch and build helpers.

Not part of the ``medlab`` package (not installed, not in the wheel): these tools run from a
clone of the repository, e.g. ``python -m tools.bench classification``. See ``tools/README.md``.
"""
