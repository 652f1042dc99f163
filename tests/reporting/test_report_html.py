import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from recsys_cl.reporting import RunRecord, write_report, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="headless Chromium not installed (.ci/run installs Debian's chromium)"
)

#: measures the rendered page and writes what it found into <body data-probe="...">, which --dump-dom prints
PROBE = """<script>
window.addEventListener('load', () => {
  const page = document.documentElement, width = page.clientWidth;
  const imgs = [...document.images], boxes = [...document.querySelectorAll('.table-box')];
  const past = el => { const r = el.getBoundingClientRect(); return r.left < -0.5 || r.right > width + 0.5; };
  const name = el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' ' + (el.alt || el.id || '');
  const probe = {
    width: width,
    page_scroll_width: page.scrollWidth,
    body_scroll_width: document.body.scrollWidth,
    images: imgs.length,
    images_loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    tables: document.querySelectorAll('table').length,
    tables_in_boxes: boxes.filter(b => b.querySelector(':scope > table')).length,
    table_rows: document.querySelectorAll('tbody tr').length,
    // nothing but a table inside its own scrolling box may reach past the page's right edge
    past_the_page: [...document.body.querySelectorAll('*')].filter(el => !el.closest('.table-box') && past(el)).map(name),
    boxes_past_the_page: boxes.filter(past).length,
    figures_wider_than_themselves: [...document.querySelectorAll('figure')].filter(f => f.scrollWidth > f.clientWidth + 1).map(name),
    tables_scrolling_in_their_box: boxes.filter(b => b.scrollWidth > b.clientWidth + 1).length,
    boxes_that_spill: boxes.filter(b => b.scrollWidth > b.clientWidth + 1 && !['auto', 'scroll'].includes(getComputedStyle(b).overflowX)).length,
    images_scaled_below_90_percent: imgs.filter(i => i.clientWidth < 0.9 * i.naturalWidth).map(name),
  };
  document.body.setAttribute('data-probe', JSON.stringify(probe));
});
</script></body>"""


def chromium(*args, profile, timeout=120):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def probe_page(report_html, tmp_path, width):
    """Open ``report_html`` in headless Chromium ``width`` px wide and return what PROBE measured."""
    page = tmp_path / f"probe-{width}.html"
    page.write_text(report_html.read_text().replace("</body>", PROBE))
    result = chromium(f"--window-size={width},1200", "--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
                      profile=tmp_path / f"profile-{width}")  # fmt: skip
    found = re.search(r'<body[^>]*data-probe="([^"]*)"', result.stdout)
    assert found, result.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def realistic_report(realistic_results, tmp_path_factory):
    return write_report(realistic_results, tmp_path_factory.mktemp("report") / "rep", n_resamples=200)


def test_report_files_and_figures(fake_results, tmp_path):
    written = write_report(fake_results, tmp_path / "rep", latex=True, n_resamples=200)
    assert set(written) == {"markdown", "html", "latex"}
    md = written["markdown"].read_text()
    assert (
        "## At a glance" in md and "## Main comparison" in md and "## Cold start" in md and "item embeddings as a factor" in md
    )
    assert md.index("## At a glance") < md.index("## Main comparison") < md.index("## Cold start") < md.index("## Cost")
    # a dataset / protocol's figure follows its table in the section
    assert md.index("### ds / loo: ndcg@10 by segment") < md.index("](figures/segments-ds-loo.png)") < md.index("## Cost")
    pngs = sorted(p.name for p in (tmp_path / "rep" / "figures").glob("*.png"))
    assert pngs == ["cost-ds-loo.png", "headline-ndcg-at-10.png", "ranked-ndcg-at-10.png", "segments-ds-loo.png"]
    assert all((tmp_path / "rep" / "figures" / p.replace(".png", ".svg")).is_file() for p in pngs)
    assert all(f"](figures/{p})" in md for p in pngs)
    page = written["html"].read_text()
    assert 'src="figures/' not in page and page.count("data:image/png;base64,") == len(pngs)
    assert page.count('<div class="table-box"><h3>') == page.count("<table>") == 5  # every table in its own scroll box


def test_sections_a_later_table_names_are_shown_not_dropped(fake_results, tmp_path, monkeypatch):
    """A table for a section the layout does not list yet (the lead's next ones) still reaches the page."""
    from recsys_cl.reporting import _report
    from recsys_cl.reporting._tables import Table, all_tables

    extra = Table("Embeddings as a factor", ["model", "delta"], [["ALS", "+0.01"]])
    monkeypatch.setattr(
        _report, "all_tables", lambda *a, **k: [*all_tables(*a, **k), ("tuning", extra), ("seed-statistics", extra)]
    )
    md = write_report(fake_results, tmp_path / "rep", n_resamples=50)["markdown"].read_text()
    assert not list((tmp_path / "rep" / "figures").glob("*.svg"))  # vector figures come with --latex only
    tuning = md.index("## Tuning: every model tuned alike on the valid part\n\n### Embeddings as a factor")
    assert tuning < md.index("## Cost") < md.index("## Seed statistics")


def test_each_pairs_figure_follows_its_table(realistic_report):
    md = realistic_report["markdown"].read_text()
    assert (md.index("### hm-synth / loo: ndcg@10 by segment") < md.index("](figures/segments-hm-synth-loo.png)")
            < md.index("### hm-synth / cold-item: ndcg@10 by segment") < md.index("](figures/segments-hm-synth-cold-item.png)"))  # fmt: skip
    assert md.index("## Cost") < md.index("](figures/cost-hm-synth-loo.png)") < md.index("](figures/cost-ml-100k-loo.png)")
    assert md.index("## Tuning") < md.index("](figures/tuning-hm-synth-loo.png)") < md.index("](figures/tuning-ml-100k-loo.png)")
    assert md.index("](figures/tuning-ml-100k-loo.png)") < md.index("## Item embeddings")


@needs_chromium
def test_report_renders_in_headless_chromium_without_widening_the_page(realistic_report, tmp_path):
    """The quickstart-sized report (23 variants, 4 dataset x protocol pairs) in a real browser: every image
    loads, nothing is wider than the page at 1400 px or at 760 px (tables then scroll inside their own box),
    and figures are shown at their drawn size at 1400 px. A screenshot is kept beside the test's files."""
    assert CHROMIUM, "CI must have Chromium (.ci/run installs Debian's chromium)"
    n_figures = len(list(realistic_report["html"].parent.joinpath("figures").glob("*.png")))
    wide = probe_page(realistic_report["html"], tmp_path, 1400)
    assert wide["images"] == wide["images_loaded"] == n_figures >= 14
    assert wide["tables"] == wide["tables_in_boxes"] >= 12 and wide["table_rows"] > 4 * 23
    assert wide["page_scroll_width"] <= wide["width"] and wide["body_scroll_width"] <= wide["width"]
    assert wide["past_the_page"] == [] and wide["boxes_past_the_page"] == 0
    assert wide["figures_wider_than_themselves"] == []
    assert wide["images_scaled_below_90_percent"] == []  # drawn for this width: text keeps its size

    narrow = probe_page(realistic_report["html"], tmp_path, 760)
    assert narrow["page_scroll_width"] <= narrow["width"], narrow
    assert narrow["past_the_page"] == [] and narrow["boxes_past_the_page"] == 0
    assert narrow["tables_scrolling_in_their_box"] >= 1 and narrow["boxes_that_spill"] == 0

    shot = tmp_path / "report-1400.png"
    result = chromium(
        "--window-size=1400,2400", f"--screenshot={shot}", realistic_report["html"].as_uri(), profile=tmp_path / "profile"
    )
    assert shot.is_file(), result.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1400, 2400)
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10  # a page with text and figures, not a blank or error page


def test_retrieval_only_run_reports_composed_retrieval_in_every_format(tmp_path):
    """A styles run has no cells, only embeddings and composed retrieval: the report still has them."""

    from .conftest import add_composed

    results = tmp_path / "styles"
    write_run(results / "run.json", RunRecord(config={"name": "styles"}, recsys_cl_version="test"))
    written = write_report(add_composed(results), tmp_path / "rep", latex=True, n_resamples=200)
    md, html_text, tex = (written[kind].read_text() for kind in ("markdown", "html", "latex"))
    assert "## Item embeddings" in md and "### Composed retrieval: reference image + modification text" in md
    assert "| styles | fused learner | 12 | **0.6250** | **0.7500** | **0.5000** | **0.5500** |" in md
    assert "<td>image only</td><td>12</td><td>0.1250</td><td>0.2500</td><td>0.1000</td><td>0.1500</td>" in html_text
    assert "styles & text only & 12 & 0.5000 & \\textbf{0.7500} & 0.4000 & 0.4500 \\\\" in tex
