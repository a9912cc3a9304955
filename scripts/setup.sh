# Create (or update) the project's virtual environment in .venv and activate it.
# Sourced by build.sh and test.sh. Installs the exact versions of requirements.lock (Linux,
# Python 3.11, hash-checked), then medlab itself; re-installs only when the lock changes.
# On other platforms, or to try newer versions: MEDLAB_USE_RANGES=1 installs requirements.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
stamp=.venv/.medlab-requirements
wanted="$(cat requirements.lock requirements.txt requirements-torch.txt pyproject.toml | sha256sum | cut -d' ' -f1)${MEDLAB_USE_RANGES:+-ranges}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    python -m pip install --quiet --upgrade pip
    if [ -n "${MEDLAB_USE_RANGES:-}" ]; then
        echo "==> installing the ranges of requirements.txt (not the lock)"
        python -m pip install --quiet -r requirements.txt -r requirements-torch.txt
    else
        echo "==> installing requirements.lock (a few minutes the first time)"
        python -m pip install --quiet --require-hashes -r requirements.lock
        python -m pip install --quiet --no-deps -r requirements-torch.txt
        python -m pip install --quiet --no-deps --no-build-isolation -e .
    fi
    echo "$wanted" > "$stamp"
fi
