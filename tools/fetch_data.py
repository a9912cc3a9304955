#!/usr/bin/env python
"""Prefetch and verify the data files of the book.

Usage::

    python -m tools.fetch_data --all          # every file the chapters read
    python -m tools.fetch_data pneumoniamnist.npz CT_small.dcm
    python -m tools.fetch_data --list         # the whole registry

Files missing from the folders of ``$MEDLAB_DATA_DIR`` (only read, never
written) are downloaded once into ``$MEDLAB_DOWNLOAD_DIR``, else the user cache:
MedMNIST from Zenodo, checked against its official MD5; BCCD as one archive of
the pinned commit, every member checked against its SHA-256; images shipped inside
installed packages are located and checked against their SHA-256. Exits with
status 1 if any file is missing or fails its checksum.
"""

from __future__ import annotations

import argparse
import os
import sys

from medlab import data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="registry names to fetch")
    parser.add_argument("--all", action="store_true", help="fetch every file the book uses")
    parser.add_argument("--list", action="store_true", help="list the registry and exit")
    args = parser.parse_args(argv)
    if args.list:
        for entry in data.REGISTRY.values():
            print(f"{entry.name:<36} {entry.kind:<9} {entry.description}")
        return 0
    names = list(data.BOOK_FILES) if args.all else args.names
    if not names:
        parser.error("name files to fetch, or use --all")
    print(f"data folders: {os.pathsep.join(map(str, data.data_dirs()))}")
    failed = 0
    for name in names:
        try:
            path = data.fetch(name)
        except (KeyError, data.DataError) as err:
            failed += 1
            print(f"FAILED    {name}: {err}")
        else:
            print(f"verified  {name:<36} {data.REGISTRY[name].hash[:15]}...  {path}")
    print(f"{len(names) - failed} verified, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
