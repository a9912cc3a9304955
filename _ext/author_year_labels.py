"""Author-year labels for the bibliography page (issue #28): one citation style.

The text cites author-year (``bibtex_reference_style: author_year`` in ``_config.yml``), but
pybtex's built-in label styles are ``alpha`` ("YSW+23") and ``number`` ("1"), so the list on the
bibliography page carried labels that appear nowhere in the text. This Sphinx extension
registers, as sphinxcontrib-bibtex documents for custom styles, a pybtex label style that writes
"Yang et al. 2023" (one author: "Yang 2023"; two: "Kermany and Zhang 2018"; a letter after the
year when two entries would share a label) and a formatting style ``author_year`` that uses it,
sorted by author, year and title; ``bibtex_default_style: author_year`` selects it. Loaded
through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.alpha import Style as AlphaStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person) -> str:
    """The last name as printed, without braces and LaTeX escapes."""
    from pybtex.richtext import Text

    parts = person.prelast_names + person.last_names
    return " ".join(str(Text.from_latex(p)) for p in parts) or "Anon."


def _authors(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    if not people:
        return entry.fields.get("organization") or entry.fields.get("key") or entry.key
    if len(people) == 1:
        return _surname(people[0])
    if len(people) == 2:
        return f"{_surname(people[0])} and {_surname(people[1])}"
    return f"{_surname(people[0])} et al."


class AuthorYearLabelStyle(BaseLabelStyle):
    """``Surname Year``, ``Surname and Surname Year`` or ``Surname et al. Year``."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        plain = [f"{_authors(e)} {e.fields.get('year', 'n.d.')}" for e in entries]
        counts, seen = Counter(plain), Counter()
        for label in plain:
            if counts[label] > 1:
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class AuthorYearStyle(AlphaStyle):
    """pybtex's alpha style (sorted by author, year, title) with author-year labels."""

    default_label_style = "author_year"


register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle)
register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
