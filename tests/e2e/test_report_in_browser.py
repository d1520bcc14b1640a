"""report.html in a real browser: Debian's chromium renders a report made from a real run (no VM needed).

The page is checked as the browser built it (--dump-dom): its cells, that every link reaches a file of
the run folder or an element of the page, that nothing is wider than a phone's screen, and that text
keeps WCAG AA contrast against what is behind it. Screenshots at a phone's and a wide screen's size
are saved next to the report.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from toolkit.results import store

pytestmark = pytest.mark.e2e

REAL_RUN = Path(__file__).parents[1] / "unit" / "fixtures" / "results" / "20261128-032950-a3a1"
CHROMIUM = shutil.which("chromium")
PHONE, WIDE = (412, 915), (1600, 1000)
# Runs in the page once it is laid out; what it measures lands on <body> for --dump-dom to show.
PROBE = """<script>
function rgb(text) { const v = text.match(/[\\d.]+/g).map(Number); return v.length > 3 && v[3] === 0 ? null : v.slice(0, 3); }
function lum(c) { const l = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; }
function behind(el) { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c) return c; }
  return [255, 255, 255]; }
let worst = 99, where = "";
for (const el of document.querySelectorAll("body *")) {
  if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(behind(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < worst) { worst = ratio; where = el.tagName + " " + el.textContent.trim().slice(0, 40); }
}
document.body.dataset.contrast = worst.toFixed(2);
document.body.dataset.contrastWhere = where;
document.body.dataset.pageWidth = document.documentElement.scrollWidth;
document.body.dataset.viewWidth = innerWidth;
</script>"""


class Page(HTMLParser):
    """The parts of a page the test looks at: matrix cells, links, ids, the body's data."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.body: dict[str, str] = {}
        self.lang = ""
        self._table = ""
        self._cell = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        self.ids.update([values["id"]] if "id" in values else [])
        if tag == "html":
            self.lang = values.get("lang", "")
        elif tag == "body":
            self.body = values
        elif tag == "table":
            self._table = values.get("class", "")
        elif tag == "td" and self._table == "matrix" and values.get("class") != "logs":
            self._cell = True
            self.cells.append("")
        elif tag == "a":
            self.links.append(values.get("href", ""))

    def handle_endtag(self, tag: str) -> None:
        self._cell = self._cell and tag != "td"

    def handle_data(self, data: str) -> None:
        if self._cell:
            self.cells[-1] += data.strip()


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """The report of a real run (double_free on three lines), rewritten here from its results.json and logs."""
    if CHROMIUM is None:
        pytest.skip("no chromium: apt-get install chromium (.ci/run installs it)")
    shutil.copytree(REAL_RUN, tmp_path / "results" / REAL_RUN.name)
    record = store.load(tmp_path / "results", REAL_RUN.name)
    return store.write(tmp_path / "results", record) / "report.html"


def test_the_report_renders_in_chromium_with_every_cell_and_working_links(report: Path) -> None:
    page = Page(_chromium(f"--window-size={PHONE[0]},{PHONE[1]}", "--dump-dom", report.as_uri()))
    assert page.lang == "en"
    assert page.cells == ["PASS", "PASS", "FAIL", "SKIP", "SKIP", "FAIL", "SKIP", "SKIP"] * 2 + [
        "PASS", "FAIL", "SKIP", "SKIP", "SKIP", "FAIL", "SKIP", "SKIP",
    ]  # fmt: skip
    files = [link for link in page.links if not link.startswith("#")]
    anchors = [link[1:] for link in page.links if link.startswith("#")]
    assert len(files) == 3 * 3 + 6 * 3 and all((report.parent / link).is_file() for link in files)  # matrix, failures
    assert {"5.10/build.log", "6.12/vm/console.log", "7.x/vm/commands.log"} <= set(files)
    assert len(anchors) == 24 and all(anchor in page.ids for anchor in anchors)


def test_the_report_fits_a_phone_keeps_aa_contrast_and_is_photographed(report: Path) -> None:
    probe = report.with_name("probe.html")
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    for width, height in (PHONE, WIDE):
        body = Page(_chromium(f"--window-size={width},{height}", "--dump-dom", probe.as_uri())).body
        assert int(body["data-page-width"]) <= int(body["data-view-width"]), f"wider than the screen at {width} px"
        assert float(body["data-contrast"]) >= 4.5, f"contrast {body['data-contrast']} at {body['data-contrast-where']}"
    probe.unlink()
    for name, (width, height) in (("phone", PHONE), ("wide", WIDE)):
        shot = report.with_name(f"report-{name}.png")
        _chromium(f"--window-size={width},{height}", f"--screenshot={shot}", report.as_uri())
        assert shot.stat().st_size > 10_000 and _png_size(shot)[1] == height
        print(f"screenshot: {shot}")
