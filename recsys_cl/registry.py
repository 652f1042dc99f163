"""One registry for every kind of name a config may use: models, embedding learners, data sources.

A :class:`Registry` maps a name to an entry (a model class, a learner class, a ``Source``). Built-in
entries register themselves when their module is imported (``@MODELS.register("pop")``); third-party
entries come from Python entry points of the registry's group (``recsys_cl.models``,
``recsys_cl.embeddings``, ``recsys_cl.sources``), declared by an installed distribution::

    [options.entry_points]
    recsys_cl.models =
        my-model = my_package.model:MyModel

Plugins are discovered once, the first time a name is not a built-in one (or everything is listed),
and each is imported only when its name is asked for. So a config names installed code only: nothing
in a YAML is an import path. A plugin that fails to import, or whose object is not of the registry's
kind, is one :class:`PluginError` naming its distribution and entry point (the CLI's one-line error,
exit 2); it never breaks the built-ins or the other plugins. A plugin that takes a built-in's name is
ignored (the built-in wins) and listed as shadowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

from recsys_cl.errors import InputError

Entry = TypeVar("Entry")


class PluginError(InputError):
    """A plugin that cannot be used: its import failed, or it is not what its entry-point group holds."""


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a registered entry comes from: a module of recsys-cl, or an installed plugin distribution."""

    module: str
    #: the plugin's distribution and version (None: built in)
    distribution: str | None = None
    version: str | None = None
    #: ``module:attribute`` of the plugin's entry point
    entry_point: str | None = None

    @property
    def builtin(self) -> bool:
        return self.distribution is None

    def __str__(self) -> str:
        if self.builtin:
            return f"built-in ({self.module})"
        return f"plugin {self.distribution} {self.version} ({self.entry_point})"


@dataclasses.dataclass(frozen=True)
class Listed:
    """One row of :meth:`Registry.listing`: a name, where it comes from, and why it cannot be used (if so)."""

    kind: str
    name: str
    origin: Origin
    problem: str | None = None


def _distribution(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:  # entry points built by hand (or by an old importlib) carry no distribution
        return "an unknown distribution", "?"
    return dist.metadata["Name"] or dist.name, dist.version


class Registry(Generic[Entry]):
    """Names -> entries of one kind, built-in or from plugins.

    ``kind`` names an entry in errors ("model", "embedding method", "data source"); ``group`` is the
    entry-point group plugins declare; ``accepts(obj)`` returns None for a valid plugin object or what is
    wrong with it; ``on_register(name, entry)`` runs for every entry added (e.g. to tell a class its name);
    ``load_builtins`` imports the modules whose import registers the built-ins (sources do it lazily).
    """

    def __init__(
        self,
        kind: str,
        group: str,
        *,
        accepts: Callable[[Any], str | None] = lambda obj: None,
        on_register: Callable[[str, Any], None] | None = None,
        load_builtins: Callable[[], None] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self._accepts = accepts
        self._on_register = on_register
        self._load_builtins = load_builtins
        self._builtins_loaded = load_builtins is None
        self._entries: dict[str, Entry] = {}
        self._origins: dict[str, Origin] = {}
        #: plugin name -> its entry points (several: one name claimed by several distributions); None until discovered
        self._plugins: dict[str, list[metadata.EntryPoint]] | None = None
        self._broken: dict[str, PluginError] = {}

    # ------------------------------------------------------------------ registering
    def register(self, name: str, entry: Any = None, *, module: str | None = None) -> Any:
        """Add a built-in entry: ``register(name, entry)`` returns ``entry``; ``register(name)`` is a class
        decorator. ``module`` (default ``entry.__module__``) is the origin shown by listings."""
        if entry is None:
            return lambda obj: self.register(name, obj, module=module)
        self._add(name, entry, Origin(module or str(getattr(entry, "__module__", "?"))))
        return entry

    def _add(self, name: str, entry: Any, origin: Origin) -> None:
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} name {name!r} registered twice ({self._origins[name]} and {origin})")
        if self._on_register is not None:
            self._on_register(name, entry)
        self._entries[name] = entry
        self._origins[name] = origin

    # ------------------------------------------------------------------ looking up
    def get(self, name: str) -> Entry:
        """The entry called ``name`` (a plugin is imported the first time it is asked for); an
        :class:`InputError` listing the known names, or a :class:`PluginError` for a broken plugin."""
        self._ensure_builtins()
        if name in self._entries:
            return self._entries[name]
        candidates = self._discovered().get(name)
        if not candidates:
            raise InputError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._load_plugin(name, candidates)

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is a built-in or an installed plugin's name (the plugin is not imported)."""
        self._ensure_builtins()
        return name in self._entries or name in self._discovered()

    def names(self) -> list[str]:
        """Built-in names in registration order, then the plugins' (discovered, not imported)."""
        self._ensure_builtins()
        return [*self._entries, *sorted(n for n in self._discovered() if n not in self._entries)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def builtin_items(self) -> list[tuple[str, Entry]]:
        """(name, entry) of the built-ins only: what a check may iterate without importing any plugin."""
        self._ensure_builtins()
        return [(n, e) for n, e in self._entries.items() if self._origins[n].builtin]

    def origin(self, name: str) -> Origin:
        self.get(name)
        return self._origins[name]

    def listing(self) -> list[Listed]:
        """Every name with its origin, importing each plugin: a broken one is listed with its problem
        (a shadowed one too) instead of raising, so one bad plugin does not hide the others."""
        self._ensure_builtins()
        rows = [Listed(self.kind, n, o) for n, o in self._origins.items() if o.builtin]
        for name, candidates in sorted(self._discovered().items()):
            if name in self._entries and self._origins[name].builtin:
                for ep in candidates:
                    rows.append(Listed(self.kind, name, _plugin_origin(ep), f"ignored: {name!r} is a built-in {self.kind}"))
                continue
            try:
                self._load_plugin(name, candidates)
                rows.append(Listed(self.kind, name, self._origins[name]))
            except PluginError as exc:
                rows.append(Listed(self.kind, name, _plugin_origin(candidates[0]), str(exc)))
        return rows

    @contextlib.contextmanager
    def restoring(self) -> Iterator[None]:
        """Entries registered (or plugins loaded) inside the block are gone after it: for tests that
        register a throw-away entry or install a plugin."""
        saved = dict(self._entries), dict(self._origins), self._plugins, dict(self._broken)
        try:
            yield
        finally:
            self._entries, self._origins = saved[0], saved[1]
            self._plugins, self._broken = saved[2], saved[3]
            _installed_entry_points.cache_clear()  # what the block installed is looked up afresh next time

    # ------------------------------------------------------------------ plugins
    def rediscover(self) -> None:
        """Forget what discovery found (plugins loaded stay registered); for tests that install one."""
        _installed_entry_points.cache_clear()
        self._plugins = None
        self._broken.clear()

    def _ensure_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            assert self._load_builtins is not None
            self._load_builtins()

    def _discovered(self) -> dict[str, list[metadata.EntryPoint]]:
        if self._plugins is None:
            found: dict[str, list[metadata.EntryPoint]] = {}
            for ep in _installed_entry_points().select(group=self.group):
                # one distribution seen twice on sys.path (e.g. an install and a --target copy) is one plugin
                if all(ep.value != other.value for other in found.get(ep.name, [])):
                    found.setdefault(ep.name, []).append(ep)
            self._plugins = found
        return self._plugins

    def _load_plugin(self, name: str, candidates: list[metadata.EntryPoint]) -> Entry:
        if name in self._broken:
            raise self._broken[name]
        if name in self._entries:  # loaded before (or registered by the plugin's own import)
            return self._entries[name]
        try:
            if len(candidates) > 1:
                owners = ", ".join(f"{d} {v} ({ep.value})" for ep in candidates for d, v in [_distribution(ep)])
                raise PluginError(f"{self.kind} {name!r} is declared by several plugins: {owners}; uninstall all but one")
            ep = candidates[0]
            where = _describe(ep, self.group)
            try:
                obj = ep.load()
            except BaseException as exc:  # noqa: BLE001 - a plugin's import may raise anything (SystemExit too)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise PluginError(f"{where}: cannot be imported: {type(exc).__name__}: {_first_line(exc)}") from None
            problem = self._accepts(obj)
            if problem:
                raise PluginError(f"{where}: {problem}")
            try:
                self._add(name, obj, _plugin_origin(ep))
            except (ValueError, TypeError) as exc:
                raise PluginError(f"{where}: {_first_line(exc)}") from None
        except PluginError as exc:
            self._broken[name] = exc
            raise
        return self._entries[name]


@functools.lru_cache(maxsize=1)
def _installed_entry_points() -> Any:
    """Every installed distribution's entry points, read once per process for all three groups: the scan
    of sys.path's metadata is what discovery costs (benchmarks/perf/bench_plugins.py)."""
    return metadata.entry_points()  # EntryPoints (3.12+) or SelectableGroups (3.10, 3.11): both have select(group=)


def _plugin_origin(ep: metadata.EntryPoint) -> Origin:
    dist, version = _distribution(ep)
    return Origin(ep.module, dist, version, ep.value)


def _describe(ep: metadata.EntryPoint, group: str) -> str:
    dist, version = _distribution(ep)
    return f"plugin {ep.name!r} of {dist} {version} (entry point {group}: {ep.name} = {ep.value})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def class_registry(kind: str, group: str, base: type, name_attribute: str) -> Registry[Any]:
    """A registry of concrete subclasses of ``base`` (models, learners); each class is told the name it
    is registered under in its ``name_attribute`` (what its run names and records show)."""

    def problem(obj: Any) -> str | None:
        if isinstance(obj, type) and issubclass(obj, base) and not inspect.isabstract(obj):
            return None
        return f"is {obj!r}, not a concrete subclass of {base.__module__.split('._')[0]}.{base.__name__}"

    return Registry(kind, group, accepts=problem, on_register=lambda name, cls: setattr(cls, name_attribute, name))


def listing(*registries: Registry[Any]) -> list[Listed]:
    """Rows of several registries (``recsys-cl plugins``)."""
    return [row for registry in registries for row in registry.listing()]
