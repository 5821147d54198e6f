"""The report page from 360 px to 1920 px: nothing overflows the screen sideways (issue 10).

Headless Chromium opens the sample run's page at each width; a small script written into a
copy of the page records `document.documentElement.scrollWidth` against `innerWidth` (and
the widest element) in the DOM, read back with `--dump-dom`. Headless Chromium's window is
never narrower than 500 px, so the page is opened in an iframe of the tested width inside a
wrapper page, and the probe posts its finding to the wrapper. Screenshots are kept under
out/screenshots/ (git-ignored) to be looked at.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from test_reports import _headless, chromium

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "out" / "screenshots"
PROBE = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var w = window.innerWidth, worst = '', most = 0;
    document.querySelectorAll('body *').forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (r.right > w + 1 && r.width > 0) {
        var inside = el.closest('.wide');
        if (!inside && r.right - w > most) { most = r.right - w; worst = el.tagName + '.' + el.className; }
      }
    });
    var text = 'SCROLL=' + document.documentElement.scrollWidth + ' INNER=' + w +
      ' WORST=' + worst + ' BY=' + Math.round(most);
    parent.postMessage(text, '*');
  }, 500);
});
</script>"""


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "sample_data").is_dir():
        pytest.skip("sample_data/ absent")
    from engine.compute.pipeline import evaluate
    from engine.load.extracts import read_extracts
    from engine.load.rules import load_rules
    from engine.present.page import write_html
    from engine.present.results_json import results_json
    from engine.present.workbook import params_table

    when = date(2025, 6, 30)
    book = load_rules()
    results = results_json(evaluate(read_extracts(ROOT / "sample_data"), book, when))
    return write_html(results, tmp_path_factory.mktemp("page") / "report.html",
                      params=params_table(book, when))


@pytest.mark.parametrize("width", [360, 768, 1280, 1920])
def test_no_horizontal_overflow(sample_page: Path, tmp_path: Path, width: int) -> None:
    binary = chromium()
    SHOTS.mkdir(parents=True, exist_ok=True)
    probe = tmp_path / "probe.html"
    probe.write_text(sample_page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")
    wrapper = tmp_path / "wrapper.html"
    wrapper.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe src="{probe.name}" width="{width}"'
        ' height="900" style="border:0"></iframe><script>window.addEventListener("message",'
        ' function (e) { var p = document.createElement("pre"); p.textContent = e.data;'
        " document.body.appendChild(p); });</script></body></html>",
        encoding="utf-8",
    )
    dom = _headless(binary, tmp_path / "profile", f"--window-size={max(width, 500) + 40},1000",
                    "--dump-dom", wrapper.as_uri())
    found = re.search(r"SCROLL=(\d+) INNER=(\d+) WORST=(\S*) BY=(\d+)", dom.stdout)
    assert found, dom.stderr[-1500:]
    scroll, inner = int(found.group(1)), int(found.group(2))
    assert inner == width
    assert scroll <= inner, f"{width} px : la page déborde ({found.group(0)})"
    if width != 1920:
        png = SHOTS / f"report-{width}.png"
        png.unlink(missing_ok=True)
        _headless(binary, tmp_path / "profile-png", f"--screenshot={png}",
                  f"--window-size={width},2400", "--hide-scrollbars", sample_page.as_uri())
        assert png.is_file() and png.stat().st_size > 20_000


def test_a_mixed_run_says_so_per_convention(sample_page: Path) -> None:
    text = sample_page.read_text(encoding="utf-8")
    assert '<span class="badge mixed">mixte : 8 convention(s) définitive(s), 23 en projection</span>' in text
    assert text.count("<td>définitif</td>") == 8 and text.count("<td>projection</td>") == 23
    assert "intermédiaire (projection)" not in text
