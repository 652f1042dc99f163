"""Reading a user's YAML file (benchmark configs): safe types only, a duplicate key refused with its key
path, and a cap on what the file may expand to.

PyYAML's safe loader builds no objects, but it keeps the last of two equal keys (a typo silently drops
the first value) and it expands aliases: ``&a [x, x, x, x]`` then ``&b [*a, *a, ...]`` nested a few levels
is a 600-byte file that becomes hundreds of MB of labels, metrics.csv and run.json once a pass-through
value (RecBole ``params``, ``synth``, ``options``) carries it into the run. The composed node graph is
walked once before anything is built, counting every node an alias would repeat, and the walk stops at the
cap, so checking a hostile file costs no more than checking an honest one of the cap's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from recsys_cl.errors import InputError
from recsys_cl.files import read_text

#: values (scalars, lists, mappings) a config may hold once aliases are expanded; the largest shipped
#: configs (benchmarks/hm.yaml, quickstart.yaml) hold under 500 and under 5,000 characters
MAX_NODES = 20_000
#: characters of all its scalars together, aliases expanded
MAX_CHARS = 200_000
#: levels of nesting (a recursive alias, ``&a [*a]``, would otherwise nest without end)
MAX_DEPTH = 32


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    """The document in ``path``; an :class:`InputError` names ``path`` (with ``:line`` or the key path) for a
    file that is missing, not UTF-8, not YAML, has a key twice, or expands beyond the caps."""
    path = Path(path)
    return parse_yaml(read_text(path, what), str(path))


def parse_yaml(text: str, where: str) -> Any:
    """:func:`read_yaml` for text already read (``where`` names it in errors)."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # already reads the start: a control character fails here
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}{at}: invalid YAML: {problem}") from None
    except RecursionError:
        raise InputError(f"{where}: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_node(root: yaml.Node, where: str) -> None:
    """Refuse duplicate keys (with their key path) and documents that expand beyond the caps."""
    nodes = chars = 0
    stack: list[tuple[yaml.Node, str, int]] = [(root, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        nodes += 1
        if isinstance(node, yaml.ScalarNode):
            chars += len(node.value)
        line = node.start_mark.line + 1 if node.start_mark is not None else 0
        if depth > MAX_DEPTH:
            raise InputError(f"{where}:{line}: {path}: nested more than {MAX_DEPTH} levels deep (a recursive YAML alias?)")
        if nodes > MAX_NODES or chars > MAX_CHARS:
            raise InputError(
                f"{where}:{line}: {path or 'the document'}: the file expands to more than {MAX_NODES:,} values or "
                f"{MAX_CHARS:,} characters (YAML aliases repeat what they name); write the values out instead"
            )
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                child = f"{path}.{key}" if path else str(key)
                if key is not None and key != "<<":
                    if key in seen:
                        raise InputError(
                            f"{where}:{key_node.start_mark.line + 1}: {child}: key given twice (also on line "
                            f"{seen[key]}); a YAML mapping keeps only the last, so remove one"
                        )
                    seen[key] = key_node.start_mark.line + 1
                stack.append((key_node, child, depth + 1))
                stack.append((value_node, child, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}.{i}" if path else str(i), depth + 1) for i, item in enumerate(node.value))


__all__ = ["MAX_CHARS", "MAX_NODES", "parse_yaml", "read_yaml"]
