import os
import re
import shutil
import subprocess

import pytest

from recsys_cl.reporting import RunRecord, write_run
from recsys_cl.reporting import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-images-loaded', imgs.filter(i => i.complete && i.naturalWidth > 0).length);
  document.body.setAttribute('data-tables', document.querySelectorAll('table').length);
  document.body.setAttribute('data-table-rows', document.querySelectorAll('tbody tr').length);
});
</script></body>"""


def test_report_files_and_figures(fake_results, tmp_path):
    written = write_report(fake_results, tmp_path / "rep", latex=True, n_resamples=200)
    assert set(written) == {"markdown", "html", "latex"}
    md = written["markdown"].read_text()
    assert "## Main comparison" in md and "## Cold start" in md and "item embeddings as a factor" in md
    pngs = sorted(p.name for p in (tmp_path / "rep" / "figures").glob("*.png"))
    assert {"bars-ds-loo-ndcg-at-10.png", "coldwarm-ds-loo.png", "curve-ds-loo-ndcg.png", "time-ds-loo.png"} <= set(pngs)
    assert all((tmp_path / "rep" / "figures" / p.replace(".png", ".svg")).is_file() for p in pngs)
    html = written["html"].read_text()
    assert "src=\"figures/" not in html and html.count("data:image/png;base64,") == len(pngs)


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="headless Chromium not installed (.ci/run installs it)")
def test_html_renders_tables_and_images_in_headless_chromium(fake_results, tmp_path):
    assert CHROMIUM, "CI must have Chromium (.ci/run installs Debian's chromium)"
    written = write_report(fake_results, tmp_path / "rep", n_resamples=200)
    probe = tmp_path / "probe.html"
    probe.write_text(written["html"].read_text().replace("</body>", PROBE))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body, result.stderr[-2000:]
    attrs = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1)))
    assert int(attrs["images"]) >= 4 and attrs["images-loaded"] == attrs["images"]
    assert int(attrs["tables"]) == 4 and int(attrs["table-rows"]) == 4 + 1 + 4 + 4  # main, embeddings as a factor, segments, cost


def test_retrieval_only_run_reports_composed_retrieval_in_every_format(tmp_path):
    """A styles run has no cells, only embeddings and composed retrieval: the report still has them."""

    from .conftest import add_composed

    results = tmp_path / "styles"
    write_run(results / "run.json", RunRecord(config={"name": "styles"}, recsys_cl_version="test"))
    written = write_report(add_composed(results), tmp_path / "rep", latex=True, n_resamples=200)
    md, html, tex = (written[kind].read_text() for kind in ("markdown", "html", "latex"))
    assert "## Item embeddings" in md and "### Composed retrieval: reference image + modification text" in md
    assert "| styles | fused learner | 12 | **0.6250** | **0.7500** | **0.5000** | **0.5500** |" in md
    assert "<td>image only</td><td>12</td><td>0.1250</td><td>0.2500</td><td>0.1000</td><td>0.1500</td>" in html
    assert "styles & text only & 12 & 0.5000 & \\textbf{0.7500} & 0.4000 & 0.4500 \\\\" in tex
