#!/usr/bin/env bash
# Refresh requirements.lock: exact versions and hashes for Linux / Python 3.11, resolved from the
# ranges in requirements.txt (medlab itself, the "-e ." line, is installed separately by setup.sh).
# Run it after changing requirements.txt, then re-run the chapters and commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "uv>=0.4"
grep -v '^-e ' requirements.txt | python -m uv pip compile - --quiet --generate-hashes \
    --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-header \
    --custom-compile-command "bash scripts/lock.sh" -o requirements.lock
sed -i '1i # Exact versions and hashes for Linux / Python 3.11, resolved from requirements.txt.\n# Used by scripts/setup.sh and CI. Refresh with: bash scripts/lock.sh' requirements.lock
echo "==> requirements.lock: $(grep -c '^[a-zA-Z]' requirements.lock) packages"
