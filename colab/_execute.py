"""Execute one chapter inside the clean room (run by colab/cleanroom.py with the clean Python).

Arguments: notebook, output notebook, JSON ``{"pattern": regex, "new": url}`` (the install
line's repository, rewritten to the local clone), the cell tag to leave out ("" for none), timeout (s).
Prints one JSON line: ``{"skipped_cells": n}`` and, on failure, ``"error"``.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main() -> int:
    src, dest, urls, skip_tag, timeout = sys.argv[1:6]
    urls = json.loads(urls)
    nb = nbformat.read(src, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    setup.source, n = re.subn(urls["pattern"], urls["new"], setup.source)
    if n != 1:
        print(json.dumps({"error": f"the setup cell does not install from {urls['pattern']}"}))
        return 1
    kept = [c for c in nb.cells if not (skip_tag and skip_tag in c.metadata.get("tags", []))]
    skipped = len(nb.cells) - len(kept)
    if os.environ.get("MEDLAB_COLAB_SETUP_ONLY") == "1":  # cleanroom.py --setup-only
        kept = kept[:kept.index(setup) + 1]
    nb.cells = kept
    client = NotebookClient(nb, timeout=int(timeout), kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(Path(src).parent)}})
    result = {"skipped_cells": skipped}
    t = time.perf_counter()
    try:
        client.execute()
    except Exception as err:  # noqa: BLE001 - any failure of the chapter is reported
        result["error"] = f"{type(err).__name__}: {err}"[-4000:]
    result["execute_seconds"] = round(time.perf_counter() - t, 1)
    first = nb.cells[[c.cell_type for c in nb.cells].index("code")]
    result["setup_output"] = "".join(o.get("text", "") for o in first.get("outputs", [])
                                     if o.get("output_type") == "stream")[-3000:]
    nbformat.write(nb, dest)
    print(json.dumps(result))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
