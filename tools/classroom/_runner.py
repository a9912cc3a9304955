"""Executes one notebook inside the grader's sandbox (a standalone script: it imports nothing of the
project, so the sandbox needs neither the grader nor the repository).

    python _runner.py NOTEBOOK EXECUTED OUTPUT_LIMIT_BYTES

Every cell runs (errors are recorded in the executed notebook, not raised); the outputs a notebook
produces are kept up to ``OUTPUT_LIMIT_BYTES`` in all, then dropped with one note. The wall time is
enforced from outside the sandbox.
"""

import json
import os
import sys
import tempfile

import nbformat
from nbclient import NotebookClient


class CappedClient(NotebookClient):
    """A notebook client that keeps at most ``output_limit`` bytes of outputs in all."""

    output_limit = 8 << 20
    _used = 0
    _noted = False

    def output(self, outs, msg, display_id, cell_index):  # noqa: D102 - nbclient's hook
        try:
            size = len(json.dumps(msg.get("content", {}), default=str))
        except (TypeError, ValueError):
            size = self.output_limit
        self._used += size
        if self._used > self.output_limit:
            if not self._noted:
                self._noted = True
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr",
                    text=f"[grader: output beyond {self.output_limit} bytes dropped]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def main(notebook: str, executed: str, limit: str) -> int:
    nb = nbformat.read(notebook, as_version=4)
    client = CappedClient(nb, timeout=None, allow_errors=True, kernel_name="python3",
                          record_timing=False, resources={"metadata": {"path": "."}})
    client.output_limit = int(limit)
    try:
        client.execute()
    finally:  # a fresh file renamed into place: whatever the notebook left at that path is replaced
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(executed) or ".", suffix=".ipynb")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.replace(tmp, executed)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
