"""The reference pages of the docs site, written from the code at build time (see gen_pages.py).

Each function returns one page as Markdown. Nothing here restates a default, a name or a range by hand:
the CLI comes from its typer commands (typer's own Markdown renderer), the YAML schema from the pydantic
config models, models and their default search spaces from the registry and ``models/_spaces.py``, the
metrics from the evaluation package's definitions, the benchmark configs from ``benchmarks/*.yaml``.
Reading private modules (``_config``, ``_spaces``, ``_metrics``) is fine here: this is docs tooling, not
production code, and those modules are where the definitions live.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[2]
#: the order of the flow; other public subpackages (found on disk) follow it alphabetically
FLOW = ("data", "embeddings", "models", "evaluation", "bench", "reporting")
GENERATED_NOTE = "*Generated from the code when the site is built ({source}); edit the code, not this page.*\n"


# ---------------------------------------------------------------------------------------------- text helpers
def md(text: str | None) -> str:
    """A docstring as Markdown: RST's ``code`` and :role:`name` become `code`; HTML-like <words> escaped."""
    if not text:
        return ""
    out, fenced = [], False
    for line in inspect.cleandoc(text).split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            line = re.sub(r":(?:class|meth|func|data|attr|mod):`~?([^`]+)`", r"`\1`", line).replace("``", "`")
            if line.endswith("::"):  # RST's literal-block marker; the indented block is code in Markdown too
                line = line[:-1]
        out.append(line)
    return escape_html("\n".join(out))


def escape_html(text: str) -> str:
    """Escape ``<`` and ``>`` outside code spans and fenced blocks (``ROOT/<name>`` would vanish as a tag)."""
    out, fenced, indented = [], False, False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        # an indented code block: 4 spaces after a blank line (or after another such line)
        indented = line.startswith("    ") and (indented or not out or not out[-1].strip())
        if fenced or indented or line.lstrip().startswith("```"):
            out.append(line)
            continue
        parts = line.split("`")
        parts[::2] = [p.replace("<", "&lt;").replace(">", "&gt;") for p in parts[::2]]
        out.append("`".join(parts))
    return "\n".join(out)


def first_paragraph(text: str | None) -> str:
    return md(text).split("\n\n")[0].replace("\n", " ").strip()


def cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (one line, no bare pipe)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def anchor(text: str) -> str:
    """The id Python-Markdown's toc gives a heading (lowercase, punctuation dropped, spaces to dashes)."""
    text = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[-\s]+", "-", text)


# ---------------------------------------------------------------------------------------------- pydantic
def type_name(annotation: Any, links: dict[type, str] | None = None) -> str:
    """A field's type as a reader writes it in YAML: ``int``, ``list of str``, ``'tpe' or 'random'``; a
    pydantic model in ``links`` becomes a link to its section."""
    links = links or {}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a, links) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0], links)
    if origin in (list, tuple, set, frozenset) or origin is typing.Sequence:
        inner = [a for a in args if a is not Ellipsis]
        return f"list of {type_name(inner[0], links)}" if inner else "list"
    if origin is dict or origin is typing.Mapping:
        return f"mapping of {type_name(args[0], links)} to {type_name(args[1], links)}" if args else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{links[annotation]})" if annotation in links else annotation.__name__
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " or ".join(repr(m.value) for m in annotation)
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def default_text(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see below" if value.model_dump(exclude_defaults=True) == {} else repr(value.model_dump())
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value!r}`" if value is not None else "`None`"


_BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥", "max_length": "length ≤"}


def constraints(field: Any) -> str:
    found = []
    for item in field.metadata:
        for attr, sign in _BOUNDS.items():
            value = getattr(item, attr, None)
            if value is not None:
                found.append(f"{sign} {value}")
    return ", ".join(found)


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's type holds (``list[ModelSpec]``, ``TuningSpec | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in nested_models(a)]


def fields_table(model: type[BaseModel], extra_column: dict[str, str] | None = None, extra_title: str = "",
                 skip: Iterable[str] = (), links: dict[type, str] | None = None) -> str:
    """One row per field (but ``skip``): key (its YAML name), type, default, constraints and description."""
    head = "| key | type | default | meaning |"
    rule = "|---|---|---|---|"
    if extra_column is not None:
        head, rule = head + f" {extra_title} |", rule + "---|"
    rows = [head, rule]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        key = field.alias or name
        bound = constraints(field)
        meaning = md(field.description) + (f" ({bound})" if bound else "")
        row = f"| `{key}` | {cell(type_name(field.annotation, links))} | {cell(default_text(field))} | {cell(meaning)} |"
        if extra_column is not None:
            row += f" {cell(extra_column.get(name, ''))} |"
        rows.append(row)
    return "\n".join(rows) + "\n"


def schema_sections(root: type[BaseModel], level: int = 2) -> str:
    """``root`` and every model nested in it, breadth first, each as a heading (its key path, "Top level" for
    ``root``), its docstring and its fields table; a field whose type is one of them links to its section."""
    order: list[tuple[type[BaseModel], str]] = []
    queue: list[tuple[type[BaseModel], str]] = [(root, "")]
    while queue:
        model, key = queue.pop(0)
        if any(model is seen for seen, _ in order):
            continue
        order.append((model, key))
        for name, field in model.model_fields.items():
            many = typing.get_origin(field.annotation) is list
            for inner in nested_models(field.annotation):
                queue.append((inner, f"{key}.{field.alias or name}{'[]' if many else ''}".lstrip(".")))
    titles = {model: f"`{key}`" if key else "Top level" for model, key in order}
    links = {model: anchor(title) for model, title in titles.items()}
    out = []
    for model, _ in order:
        doc = md(model.__doc__) if model.__doc__ and model.__doc__ != BaseModel.__doc__ else ""
        out.append(f"{'#' * level} {titles[model]}\n\n" + (f"{doc}\n\n" if doc else ""))
        out.append(f"Type `{model.__name__}`.\n\n{fields_table(model, links=links)}\n")
    return "".join(out)


def registry_items(registry: Any) -> list[tuple[str, Any]]:
    """(name, entry) of a ``recsys_cl.registry.Registry``: built-ins and installed plugins alike, so a
    plugin's models are documented where it is installed."""
    return [(name, registry.get(name)) for name in registry.names()]


# ---------------------------------------------------------------------------------------------- CLI
def click_command():
    import typer.main

    from recsys_cl.cli import app

    return typer.main.get_command(app)


def cli_page() -> str:
    """Every command with its usage, arguments and options, by typer's own Markdown renderer."""
    import typer
    import typer.cli

    command = click_command()
    text = typer.cli.get_docs_for_click(obj=command, ctx=typer.Context(command, info_name="recsys-cl"),
                                        name="recsys-cl", title="Command line")  # fmt: skip
    title, _, body = text.partition("\n")
    return f"{title}\n\n{GENERATED_NOTE.format(source='the typer commands of recsys_cl/cli.py')}\n{md(body)}"


# ---------------------------------------------------------------------------------------------- YAML schema
def config_page() -> str:
    from recsys_cl.bench._config import BenchmarkConfig
    from recsys_cl.data import SOURCES, InteractionOptions, SourceOptions
    from recsys_cl.embeddings import LEARNERS, EmbedOptions

    import recsys_cl.bench._config as config_module

    out = ["# Benchmark YAML\n\n", GENERATED_NOTE.format(source="the pydantic models of recsys_cl/bench/_config.py, "
           "the data sources' and the learners' options"), "\n", md(config_module.__doc__), "\n\n",  # fmt: skip
           "Each section below is one mapping of the file, named by its key path (`models[]`: each entry of the "
           "`models` list). A model entry's `params` are the model's own config: see "
           "[Models and search spaces](models.md).\n\n"]  # fmt: skip
    out.append(schema_sections(BenchmarkConfig))
    out.append("## `datasets[].prepare`: options per source\n\n"
               "`source` picks one of these; `prepare` sets its options (the protocol options of the config are "
               "passed to it too). `synth` holds the generator's options of a synthetic source.\n\n")  # fmt: skip
    out.append(_options_by_base([(f"source `{name}`", source.options, f"{md(source.description)}. Raw folder: {source.raw}; "
               f"{'has users and interactions' if source.has_interactions else 'items only (retrieval)'}.")  # fmt: skip
               for name, source in registry_items(SOURCES)], [InteractionOptions, SourceOptions]))
    out.append("## `embeddings[].options`: options per method\n\n`method` picks one of these learners; `options` "
               "sets its typed options (`train:` holds the training schedule).\n\n")  # fmt: skip
    out.append(_options_by_base([(f"method `{name}`", learner.Options, first_paragraph(learner.__doc__))
                                 for name, learner in registry_items(LEARNERS)], [EmbedOptions]))
    for model in {m for f in EmbedOptions.model_fields.values() for m in nested_models(f.annotation)}:
        out.append(f"### `{model.__name__}` (in `EmbedOptions`)\n\n{md(model.__doc__)}\n\n{fields_table(model)}\n")
    return "".join(out)


def _options_by_base(entries: list[tuple[str, type[BaseModel], str]], bases: list[type[BaseModel]]) -> str:
    """Options classes built on shared bases (most specific first): each base's fields once, where it is first
    used, then each entry's own fields."""
    out, shown = [], set()
    for title, options, text in entries:
        base = next(b for b in bases if issubclass(options, b))
        if base not in shown:
            shown.add(base)
            out.append(f"### Common: `{base.__name__}`\n\n{md(base.__doc__)}\n\n{fields_table(base)}\n")
        own = [n for n in options.model_fields if n not in base.model_fields]
        out.append(f"### {title}\n\n{text}\n\nTakes the options of [`{base.__name__}`](#common-{anchor(base.__name__)})"
                   + (", and:\n\n" if own else " only.\n\n"))  # fmt: skip
        if own:
            out.append(fields_table(options, skip=base.model_fields) + "\n")
        for name in own:
            for inner in nested_models(options.model_fields[name].annotation):
                out.append(f"#### {title}: `{name}` (`{inner.__name__}`)\n\n{md(inner.__doc__)}\n\n{fields_table(inner)}\n")
    return "".join(out)

# ---------------------------------------------------------------------------------------------- models
def model_registry() -> Any:
    """The model registry (``recsys_cl.models.MODELS``)."""
    from recsys_cl.models import MODELS

    return MODELS


def _by_family() -> list[tuple[str, type]]:
    """Registered models grouped by the module they live in (registration order within one)."""
    items = registry_items(model_registry())
    order = [name for name, _ in items]
    return sorted(items, key=lambda item: (_family(item[1]), order.index(item[0])))


def _family(cls: type) -> str:
    """The module a backend lives in, which is how the package groups models into families."""
    return cls.__module__.removeprefix("recsys_cl.models.")


def models_page() -> str:
    from recsys_cl.models._spaces import DEFAULT_SPACES

    out = ["# Models and their default search spaces\n\n",
           GENERATED_NOTE.format(source="the model registry, each model's typed config and "
                                        "recsys_cl/models/_spaces.py"), "\n",
           "Every registered model, by its config name. `params:` of a model entry in a benchmark YAML are the "
           "fields of its config; unknown keys are refused. *Default search* is the space `tune` searches when "
           "the entry has no `search:` (content knobs are added only when the model runs with item embeddings "
           "and its config accepts them). See [Tuning](../tuning.md) and [Models by family](../models.md).\n\n",
           "| model | item embeddings | protocols | what it is |\n|---|---|---|---|\n"]  # fmt: skip
    for name, cls in _by_family():
        content = "several (modalities)" if cls.takes_modalities else ("yes" if cls.uses_item_embeddings else "")
        protocols = ", ".join(cls.protocols) if cls.protocols else "all"
        out.append(f"| [`{name}`](#{anchor(name)}) | {content} | {protocols} | "
                   f"{cell(first_paragraph(cls.__doc__))} |\n")  # fmt: skip
    for name, cls in _by_family():
        entry = DEFAULT_SPACES.get(name)
        out.append(f"\n## {name}\n\n{md(cls.__doc__)}\n\n")
        out.append(f"`create({name!r}, ...)` builds `{cls.__module__}.{cls.__name__}` with config `{cls.Config.__name__}`.\n\n")
        if entry is None or not (entry.space or entry.content):
            out.append("Default search: nothing to tune (one trial).\n\n")
        elif entry.validate_every:
            out.append(f"While tuning it reports its validation score every {entry.validate_every} epochs (for pruning).\n\n")
        ranges = {p: spec.describe() for p, spec in (entry.space.items() if entry else ())}
        ranges |= {p: f"{spec.describe()} (with item embeddings)" for p, spec in (entry.content.items() if entry else ())}
        out.append(fields_table(cls.Config, ranges, "default search"))
    return "".join(out)


# ---------------------------------------------------------------------------------------------- metrics
def metrics_page() -> str:
    import recsys_cl.evaluation._beyond as beyond
    import recsys_cl.evaluation._metrics as metrics
    import recsys_cl.evaluation._repeats as repeats
    import recsys_cl.evaluation._segments as segments
    import recsys_cl.evaluation._significance as significance
    from recsys_cl.evaluation import BEYOND_METRICS, METRICS

    aliases = ", ".join(f"`{a}` → `{m}`" for a, m in metrics._ALIASES.items())
    return "".join([
        "# Metrics\n\n", GENERATED_NOTE.format(source="the docstrings and name lists of recsys_cl/evaluation"), "\n",
        f"Accuracy metrics: {', '.join(f'`{m}`' for m in METRICS)}. Beyond-accuracy metrics: "
        f"{', '.join(f'`{m}`' for m in BEYOND_METRICS)}; `{metrics.BEYOND_GROUP}` in a config or on the command "
        f"line stands for every beyond-accuracy metric whose inputs are given. Each is computed at every cutoff "
        f"of `ks` (`ndcg@10`). Other names accepted: {aliases}.\n\n",
        "## Accuracy\n\n", md(metrics.__doc__), "\n\n",
        "## Beyond accuracy\n\n", md(beyond.__doc__), "\n\n",
        "## Seen items, repeat share and the ceiling\n\n", md(repeats.__doc__), "\n\n",
        "## Segments\n\n", md(segments.__doc__), "\n\n",
        "## Significance\n\n", md(significance.__doc__), "\n",
    ])  # fmt: skip


# ---------------------------------------------------------------------------------------------- benchmarks
def _header_comment(path: Path) -> str:
    """A config's leading comment block as Markdown: prose as paragraphs, indented command lines as code."""
    out: list[str] = []
    code: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        text = line[1:] if line.startswith("#") else None
        if text is not None and text.startswith("  ") and text.strip():
            code.append(text)
            continue
        if code:
            out.append("\n```shell\n" + textwrap.dedent("\n".join(code)) + "\n```\n\n")
            code = []
        if text is None:
            break
        out.append(md(text.strip()) + "\n" if text.strip() else "\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip() + "\n"


def benchmarks_page() -> str:
    from recsys_cl.bench import grid, load_config

    out = ["# Benchmark configs\n\n", GENERATED_NOTE.format(source="benchmarks/*.yaml: their leading comment, "
           "loaded and expanded by recsys_cl.bench"), "\n",
           "The configs shipped in `benchmarks/`. *Cells*: the grid of datasets × protocols × models × embedding "
           "variants × seeds (`[default]` twins of tuned variants come on top). Run one with "
           "`recsys-cl bench benchmarks/NAME.yaml` (`--raw NAME=PATH` for a dataset read from a download).\n\n",
           "| config | datasets (source) | protocols | model entries | embeddings | cells | tuned |\n",
           "|---|---|---|---|---|---|---|\n"]  # fmt: skip
    sections = []
    for path in sorted((ROOT / "benchmarks").glob("*.yaml")):
        config = load_config(path)
        datasets = ", ".join(f"{d.name} ({d.source})" for d in config.datasets)
        cells = sum(1 for _ in grid(config))
        protocols = ", ".join(config.protocols) if config.models else "–"
        tuned = f"{config.tuning.trials} trials a study" if config.tuning else ""
        title = f"`benchmarks/{path.name}`"
        out.append(f"| [{path.name}](#{anchor(title)}) | {cell(datasets)} | {protocols} | {len(config.models)} | "
                   f"{len(config.embeddings)} | {cells} | {tuned} |\n")  # fmt: skip
        sections.append(f"\n## {title}\n\n{_header_comment(path)}")
    return "".join(out + sections)


# ---------------------------------------------------------------------------------------------- Python API
def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return type(obj).__name__


def _call_form(name: str, obj: Any) -> str:
    """``prepare(source, out_root, *, raw, options, progress)`` for a function: its parameter names."""
    if not inspect.isfunction(obj):
        return name
    params, star = [], False
    for param in inspect.signature(obj).parameters.values():
        if param.kind is param.KEYWORD_ONLY and not star:
            params.append("*")
            star = True
        prefix = {param.VAR_POSITIONAL: "*", param.VAR_KEYWORD: "**"}.get(param.kind, "")
        star = star or param.kind is param.VAR_POSITIONAL
        params.append(prefix + param.name)
    return f"{name}({', '.join(params)})"


def public_packages() -> list[str]:
    """``recsys_cl.<name>`` for every subpackage without a leading underscore, flow order first."""
    import pkgutil

    import recsys_cl

    found = [m.name for m in pkgutil.iter_modules(recsys_cl.__path__) if m.ispkg and not m.name.startswith("_")]
    ordered = [n for n in FLOW if n in found] + sorted(n for n in found if n not in FLOW)
    return [f"recsys_cl.{name}" for name in ordered]


def python_page() -> str:
    out = ["# Python API\n\n", GENERATED_NOTE.format(source="the `__all__` and docstrings of the public packages"), "\n",
           "Every stage is a library call; the CLI is a thin layer over them. The public names of each package "
           "(import them from the package, never from its private `_modules`).\n"]  # fmt: skip
    for package in public_packages():
        module = importlib.import_module(package)
        names = getattr(module, "__all__", [])
        out.append(f"\n## `{package}`\n\n{md(module.__doc__)}\n\n")
        out.append("| name | kind | what it is |\n|---|---|---|\n" if names else "No names exported (no `__all__`).\n")
        for name in names:
            obj = getattr(module, name)
            doc = first_paragraph(inspect.getdoc(obj)) if (inspect.isclass(obj) or callable(obj)) else ""
            if inspect.isclass(obj) and doc == first_paragraph(inspect.getdoc(BaseModel)):
                doc = ""
            call = f"`{_call_form(name, obj)}`: " if inspect.isfunction(obj) else ""
            out.append(f"| `{name}` | {_kind(obj)} | {call}{cell(doc)} |\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------- protocols
def protocols_page() -> str:
    import recsys_cl.data._split as split
    from recsys_cl.bench._config import ProtocolOptions

    out = ["# Protocols\n\n", GENERATED_NOTE.format(source="recsys_cl/data/_split.py and the protocol options of "
           "recsys_cl/bench/_config.py"), "\n", md(split.__doc__), "\n\n",
           "Each split checks itself (parts partition the input, no user's train row comes after their test row, "
           "no held-out item in train) and refuses to produce an empty train or test part. Users are also "
           "reported by segment (number of training interactions) and test items by training popularity: see "
           "[Metrics](reference/metrics.md#segments). What a protocol does with items a user already bought is "
           "its *evaluation mode*: see [Evaluation modes](evaluation-modes.md).\n\n",
           "## Options\n\nA benchmark YAML sets them under `protocol_options.<protocol>`; `recsys-cl prepare` "
           "takes the split ones as options (`--test-days`, `--valid-days`, `--cold-item-share`).\n\n"]  # fmt: skip
    for name, field in ProtocolOptions.model_fields.items():
        model = nested_models(field.annotation)[0]
        out.append(f"### `{field.alias or name}`\n\n{md(model.__doc__)}\n\n{fields_table(model)}\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------- layout
def _module_summary(path: Path) -> str:
    import ast

    return first_paragraph(ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))))


def layout_page() -> str:
    """The package's folders and modules with the first paragraph of each docstring (read, not imported)."""
    package = ROOT / "recsys_cl"
    out = ["# Layout\n\n", GENERATED_NOTE.format(source="the docstrings of the modules in recsys_cl/"), "\n",
           "Beside the package: `benchmarks/` (configs users run; `benchmarks/perf/` the performance benchmarks, "
           "`make perf`), `datasets/` (where data lands), `results/` (run records; `results/baselines/` the "
           "committed baselines), `reports/` (generated reports), `tests/` (mirrors the package), `docs/` (this "
           "site).\n\nThe package follows the flow data → embeddings → models → evaluation → bench → reporting; "
           "private `_module.py` files sit behind each package's public `__init__`.\n\n"]  # fmt: skip
    for init in sorted(package.rglob("__init__.py"), key=lambda p: (len(p.parts), str(p))):
        folder = init.parent
        rel = folder.relative_to(ROOT).as_posix()
        out.append(f"## `{rel}/`\n\n{_module_summary(init)}\n\n| module | what it holds |\n|---|---|\n")
        for module in sorted(folder.glob("*.py")):
            if module.name != "__init__.py":
                out.append(f"| `{module.name}` | {cell(_module_summary(module))} |\n")
        out.append("\n")
    return "".join(out)


#: page path under docs/ -> function writing it
PAGES = {
    "protocols.md": protocols_page,
    "layout.md": layout_page,
    "reference/cli.md": cli_page,
    "reference/config.md": config_page,
    "reference/benchmarks.md": benchmarks_page,
    "reference/models.md": models_page,
    "reference/metrics.md": metrics_page,
    "reference/python.md": python_page,
}


def headings(markdown: str) -> list[str]:
    """The heading texts of a page, code blocks skipped (for tests)."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            found.append(line.lstrip("#").strip())
    return found
