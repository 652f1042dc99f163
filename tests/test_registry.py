"""The one registry helper: built-in entries, and plugins found through real entry points.

Plugins here are real installed distributions: a ``*.dist-info`` folder (METADATA, entry_points.txt)
and a module on ``sys.path``, which is what ``pip install`` leaves; nothing is mocked."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from recsys_cl.errors import InputError
from recsys_cl.registry import PluginError, Registry

GROUP = "recsys_cl_test.widgets"


class Widget:
    pass


def _widget_problem(obj):
    return None if isinstance(obj, type) and issubclass(obj, Widget) else f"is {obj!r}, not a Widget"


def install(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str], group: str = GROUP) -> None:
    """Write what ``pip install`` leaves for distribution ``dist``: its dist-info and its modules."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = [f"[{group}]"] + [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("widgets_")]:
        del sys.modules[name]


@pytest.fixture
def widgets():
    registry = Registry("widget", GROUP, accepts=_widget_problem, on_register=lambda name, cls: setattr(cls, "name", name))

    @registry.register("plain")
    class Plain(Widget):
        pass

    registry.rediscover()  # entry points are read once per process: read them again with this test's plugins
    return registry


def test_builtins_register_by_decorator_and_unknown_names_list_the_known_ones(widgets):
    assert widgets.get("plain").name == "plain" and "plain" in widgets and list(widgets) == ["plain"]
    assert str(widgets.origin("plain")) == f"built-in ({__name__})" and widgets.origin("plain").builtin
    with pytest.raises(InputError, match=r"^unknown widget 'plan'; known: plain$"):
        widgets.get("plan")
    with pytest.raises(ValueError, match="widget name 'plain' registered twice"):
        widgets.register("plain")(type("Other", (Widget,), {}))


def test_a_plugin_is_found_by_its_entry_point_and_imported_only_when_named(widgets, site):
    install(site, "widgets-extra", {"fancy": "widgets_extra:Fancy"},
            {"widgets_extra": f"from {__name__} import Widget\nclass Fancy(Widget):\n    pass\n"})  # fmt: skip
    assert widgets.names() == ["plain", "fancy"] and "fancy" in widgets
    assert "widgets_extra" not in sys.modules  # discovered from metadata, not imported
    fancy = widgets.get("fancy")
    assert fancy.__name__ == "Fancy" and fancy.name == "fancy" and widgets.get("fancy") is fancy
    origin = widgets.origin("fancy")
    assert (origin.distribution, origin.version, origin.entry_point) == ("widgets-extra", "0.1", "widgets_extra:Fancy")
    assert str(origin) == "plugin widgets-extra 0.1 (widgets_extra:Fancy)"


def test_a_broken_plugin_is_one_line_naming_its_distribution_and_breaks_nothing_else(widgets, site):
    install(site, "widgets-broken", {"broken": "widgets_broken:Broken", "stranger": "widgets_stranger:NotAWidget",
                                     "exits": "widgets_exits:X"},
            {"widgets_broken": "import no_such_module_anywhere\n", "widgets_stranger": "NotAWidget = 42\n",
             "widgets_exits": "raise SystemExit(3)\n"})  # fmt: skip
    install(site, "widgets-good", {"good": "widgets_good:Good"},
            {"widgets_good": f"from {__name__} import Widget\nclass Good(Widget):\n    pass\n"})
    with pytest.raises(PluginError) as caught:
        widgets.get("broken")
    message = str(caught.value)
    assert message == ("plugin 'broken' of widgets-broken 0.1 (entry point recsys_cl_test.widgets: broken = "
                       "widgets_broken:Broken): cannot be imported: ModuleNotFoundError: No module named 'no_such_module_anywhere'")
    with pytest.raises(PluginError, match=r"'stranger' of widgets-broken 0\.1 .*: is 42, not a Widget$"):
        widgets.get("stranger")
    with pytest.raises(PluginError, match=r"'exits' .*: cannot be imported: SystemExit: 3$"):
        widgets.get("exits")
    assert widgets.get("plain").name == "plain" and widgets.get("good").__name__ == "Good"
    listed = {row.name: row for row in widgets.listing()}
    assert listed["good"].problem is None and listed["plain"].origin.builtin
    assert "ModuleNotFoundError" in listed["broken"].problem and listed["broken"].origin.distribution == "widgets-broken"


def test_a_plugin_cannot_take_a_builtin_name_and_two_plugins_cannot_share_one(widgets, site):
    install(site, "widgets-a", {"plain": "widgets_a:Shadow", "twin": "widgets_a:Twin"},
            {"widgets_a": f"from {__name__} import Widget\nclass Shadow(Widget):\n    pass\nclass Twin(Widget):\n    pass\n"})
    install(site, "widgets-b", {"twin": "widgets_b:Twin"},
            {"widgets_b": f"from {__name__} import Widget\nclass Twin(Widget):\n    pass\n"})
    assert widgets.get("plain").__name__ == "Plain"  # the built-in wins
    shadowed = [row for row in widgets.listing() if row.name == "plain" and not row.origin.builtin]
    assert shadowed and shadowed[0].problem == "ignored: 'plain' is a built-in widget"
    with pytest.raises(PluginError, match=r"^widget 'twin' is declared by several plugins: widgets-a 0\.1 \(widgets_a:Twin\), "
                                          r"widgets-b 0\.1 \(widgets_b:Twin\); uninstall all but one$"):
        widgets.get("twin")


def test_restoring_forgets_entries_registered_inside(widgets):
    with widgets.restoring():
        widgets.register("temporary")(type("Temporary", (Widget,), {}))
        assert "temporary" in widgets
    assert "temporary" not in widgets and widgets.names() == ["plain"]


def test_the_three_registries_speak_one_vocabulary():
    from recsys_cl.data import SOURCES
    from recsys_cl.embeddings import LEARNERS
    from recsys_cl.models import MODELS, Recommender

    assert (MODELS.group, LEARNERS.group, SOURCES.group) == ("recsys_cl.models", "recsys_cl.embeddings", "recsys_cl.sources")
    assert issubclass(MODELS.get("pop"), Recommender) and MODELS.get("pop").registry_name == "pop"
    assert LEARNERS.get("text-nce").name == "text-nce" and SOURCES.get("hm").name == "hm"
    assert str(MODELS.origin("pop")) == "built-in (recsys_cl.models._baselines)"
    assert str(SOURCES.origin("hm")) == "built-in (recsys_cl.data._hm)"
    for registry, kind in ((MODELS, "model"), (LEARNERS, "embedding method"), (SOURCES, "data source")):
        with pytest.raises(InputError, match=f"^unknown {kind} 'nothing-of-that-name'; known: "):
            registry.get("nothing-of-that-name")


def test_a_source_plugin_prepares_a_dataset_like_a_builtin(site, tmp_path):
    """A ``recsys_cl.sources`` entry point naming a ``Source``: prepared through the same ``prepare``."""
    from recsys_cl.data import SOURCES, load_dataset, prepare

    install(site, "widgets-movies", {"ml-copy": "widgets_movies:COPY", "misnamed": "widgets_movies:MISNAMED"},
            {"widgets_movies": "import dataclasses\nfrom recsys_cl.data import SOURCES\n"
                               "COPY = dataclasses.replace(SOURCES.get('ml-100k'), name='ml-copy')\n"
                               "MISNAMED = dataclasses.replace(SOURCES.get('ml-100k'), name='other')\n"},
            group="recsys_cl.sources")  # fmt: skip
    with SOURCES.restoring():
        SOURCES.rediscover()
        prepare("ml-copy", tmp_path / "out", options={"name": "movies"})
        assert load_dataset(tmp_path / "out" / "movies").items.height == 1682
        assert SOURCES.origin("ml-copy").distribution == "widgets-movies"
        with pytest.raises(PluginError, match=r"'misnamed' of widgets-movies 0\.1 .*: the Source is named 'other'; register it under that name$"):
            SOURCES.get("misnamed")
    assert "ml-copy" not in SOURCES
