#!/usr/bin/env bash
# Run the whole test suite: unit tests, every chapter in quick mode, the -W book build,
# stored-output, spelling and style checks. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
python -m tools.fetch_data --all
python -m tools.static_assets   # MathJax and the widget scripts, served by the site (offline pages)
export MEDLAB_QUICK=1
python -m pytest -ra "$@"
