#!/usr/bin/env python
"""Build ``medlab/ps315_basic_profile.json``, the action table of the chapter *Data privacy*.

The table is DICOM PS3.15 Annex E, Table E.1-1 ("Application Level Confidentiality
Profile Attributes"): for every listed attribute, the action of the Basic Application
Level Confidentiality Profile and, where the standard gives one, the action of the
"Retain Longitudinal Temporal Information with Modified Dates" option. pydicom does not
ship this table. Innolitics' ``dicom-standard`` project (MIT licence) parses the
standard's published HTML into JSON every month; this script keeps the two columns the
book uses from its ``standard/confidentiality_profile_attributes.json`` and checks every
tag against pydicom's data dictionary.

Usage::

    python -m tools.make_ps315_table confidentiality_profile_attributes.json \\
        --edition 2024b --commit 8670abdd9ad16c61af5146ef857899699bdd9c5f

The JSON used for the book came from commit 8670abd ("Update standard to rev2024b") of
https://github.com/innolitics/dicom-standard.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from pydicom.datadict import dictionary_description

OUT = Path(__file__).resolve().parents[1] / "medlab" / "ps315_basic_profile.json"
ACTIONS = {"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}


def convert(rows: list[dict], edition: str, commit: str) -> dict:
    table = []
    for row in rows:
        tag = row["tag"].strip()
        name = re.sub(r"\s*\(see Note \d+\)", "", " ".join(row["name"].split()))
        action = row["basicProfile"].strip()
        if action not in ACTIONS:
            raise ValueError(f"{tag}: unknown action {action!r}")
        if tag.startswith("(GGGG"):
            continue  # private attributes: a rule of their own in medlab.privacy, not a tag
        m = re.fullmatch(r"\(([0-9A-FX]{4}),([0-9A-FX]{4})\)", tag)
        if not m:
            raise ValueError(f"cannot read tag {tag!r}")
        pattern = (m[1] + m[2]).upper()
        if "X" not in pattern:
            dictionary_description(int(pattern, 16))  # KeyError if pydicom does not know it
        table.append([pattern, name, action, row.get("rtnLongModifDatesOpt", "")])
    table.sort()
    return {
        "source": "DICOM PS3.15 Annex E, Table E.1-1 (Application Level Confidentiality Profile "
                  f"Attributes), edition {edition}, as parsed by innolitics/dicom-standard "
                  f"(MIT licence), commit {commit}",
        "columns": ["tag", "name", "basic_profile", "modified_dates_option"],
        "private_attributes": "X",
        "rows": table,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_file", type=Path)
    parser.add_argument("--edition", required=True)
    parser.add_argument("--commit", required=True)
    args = parser.parse_args(argv)
    table = convert(json.loads(args.json_file.read_text()), args.edition, args.commit)
    head = {k: v for k, v in table.items() if k != "rows"}
    lines = [json.dumps(head, ensure_ascii=True)[:-1] + ', "rows": [']
    lines += [json.dumps(r, ensure_ascii=True) + "," for r in table["rows"]]
    lines[-1] = lines[-1].rstrip(",")
    OUT.write_text("\n".join(lines) + "\n]}\n")  # one attribute per line: readable diffs
    print(f"{len(table['rows'])} attributes written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
