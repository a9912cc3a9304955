#!/usr/bin/env bash
# Set up everything and build the whole book (every chapter executed) into _build/html.
# Full mode by default; MEDLAB_QUICK=1 builds a quick preview into _build/quick/_build/html.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
python -m tools.fetch_data --all
python -m tools.static_assets   # MathJax and the widget scripts, served by the site (offline pages)
out=()
if python -c "import sys, medlab; sys.exit(0 if medlab.is_quick() else 1)"; then
    out=(--path-output _build/quick)   # keep quick results out of the full build's cache
fi
jupyter-book build . -W -n --keep-going "${out[@]}"
python -m tools.chapter_times "${out[1]:-.}/_build"
echo "==> the book is in ${out[1]:-.}/_build/html/index.html"
