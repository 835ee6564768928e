"""The one place that writes YAML.

* :func:`dump` — generated files (Rasa training data, configs, reports): PyYAML, Unicode kept, keys in the given
  order, :class:`Literal` strings as ``|`` blocks.
* :func:`load_round_trip` / :func:`dump_round_trip` — files people edit (the FAQ knowledge base): ruamel.yaml
  round-trip, so comments, blank lines, quoting and layout survive and only what was changed is written differently.
"""
from __future__ import annotations

import io
from typing import Any

import yaml


class Literal(str):
    """A string written as a ``|`` block scalar."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Literal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|"))


def dump(data: Any, sort_keys: bool = False) -> str:
    """YAML text for generated files (never for files people edit: see :func:`dump_round_trip`)."""
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=sort_keys)


# --- round trip: files people edit ------------------------------------------------------------------

def _round_trip():  # type: ignore[no-untyped-def]
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never fold a long line that was not folded
    rt.indent(mapping=2, sequence=4, offset=2)  # the knowledge base's layout: "  - id: …" under "faq:"
    rt.allow_unicode = True
    return rt


def load_round_trip(text: str) -> Any:
    """Parse text keeping comments and layout (ruamel ``CommentedMap``/``CommentedSeq``)."""
    return _round_trip().load(text)


def dump_round_trip(data: Any) -> str:
    """Write back what :func:`load_round_trip` read (and was edited in place)."""
    out = io.StringIO()
    _round_trip().dump(data, out)
    return out.getvalue()


def literal_block(text: str) -> Any:
    """A round-trip string written as a ``|`` block (with exactly one final newline)."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text.rstrip("\n") + "\n")
