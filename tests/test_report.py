"""`snakemake --report` on the tiny run, opened in headless Chromium: every table and figure is in the page.

The report is a single-page React app, so its text only exists once its JavaScript has run. The test opens a
copy of report.html with a small script in front of it that walks the page as a user would (every category,
subcategory and result, then one figure), records the text the browser renders after each step and any
JavaScript error, and leaves that record in the DOM; Chromium's ``--dump-dom`` returns it. The assertions are
on that rendered text. Chromium is Debian's ``chromium`` package, installed by scripts/install-chromium.sh
when missing; without apt (or root) the test skips and says so.
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess

import pytest
from conftest import REPO, copy_workflow, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]
CONFIG = ["--configfile", "config/tiny.yaml"]
RESULTS = "results/tiny"
# Every table of the tiny run must be a result of the report (by file name), under its paper and table.
TABLES = {
    "MDS-VQA": [f"mds_table{i}" for i in range(2, 9)],
    "W2S-VQA": ["w2s_table1", "w2s_table5"],
    "Claims": ["claims"],
    "Corpus": ["corpus_summary"],
}
CATEGORIES = ("MDS-VQA", "W2S-VQA", "Corpus", "Claims")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

# Runs before the report's own scripts: records errors, then walks the page once it has loaded and leaves
# the rendered text of every step in <pre id="vqaloop-walk">. `app`, `categories` and `results` are the
# report's own globals (what its menu's click handlers call).
WALK_JS = r"""
(function () {
  const errors = [];
  window.addEventListener("error", (ev) => errors.push("error: " + ev.message));
  window.addEventListener("unhandledrejection", (ev) => errors.push("rejection: " + ev.reason));
  const consoleError = console.error;
  console.error = function (...args) { errors.push("console.error: " + args.join(" ")); consoleError.apply(console, args); };
  window.addEventListener("load", function () {
    const out = [], steps = [];
    const snap = (label) => out.push("=== " + label + "\n" + document.getElementById("app").innerText);
    const walk = location.hash === "#walk";
    steps.push(() => snap("landing"));
    if (walk) {
      for (const [cat, subs] of Object.entries(categories)) {
        steps.push(() => app.showCategory(cat));
        steps.push(() => snap("category " + cat));
        for (const [sub, paths] of Object.entries(subs)) {
          steps.push(() => app.setView({navbarMode: "subcategory", category: cat, subcategory: sub}));
          steps.push(() => snap("subcategory " + cat + " / " + sub));
          for (const path of paths) {
            steps.push(() => app.showResultInfo(path));
            steps.push(() => snap("result " + path));
          }
        }
      }
    }
    const figures = Object.keys(results).filter((p) => results[p].mime_type === "image/png").sort();
    const figure = figures.find((p) => p.endsWith("mds_methods.png")) || figures[0];
    if (figure) {
      steps.push(() => app.showResultInfo(figure));
      steps.push(() => app.setView({content: "img", contentPath: results[figure].data_uri, resultPath: figure}));
      steps.push(() => {
        const shown = Array.from(document.querySelectorAll("#app img")).filter((i) => i.complete && i.naturalWidth > 100);
        out.push("=== figure " + figure + "\nshown: " + shown.map((i) => i.naturalWidth + "x" + i.naturalHeight).join(" "));
      });
    }
    steps.push(() => {
      const pre = document.createElement("pre");
      pre.id = "vqaloop-walk";
      pre.hidden = !walk;
      pre.textContent = out.join("\n") + "\n=== errors\n" + errors.join("\n") + "\n=== end\n";
      document.body.appendChild(pre);
    });
    let i = 0;
    const next = () => {
      if (i >= steps.length) return;
      try { steps[i++](); } catch (e) { errors.push("walk: " + e); }
      setTimeout(next, 50);
    };
    setTimeout(next, 200);
  });
})();
"""


@pytest.fixture(scope="module")
def chromium():
    """The browser's path; installs Debian's chromium when missing, or skips saying why it cannot."""
    proc = subprocess.run(["bash", str(REPO / "scripts/install-chromium.sh")], capture_output=True, text=True,
                          timeout=1200, check=False)  # fmt: skip
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["install-chromium.sh failed"])[-1]
        pytest.skip(f"headless Chromium is not available and could not be installed: {reason}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory, chromium):
    """The tiny DAG, built once (the report needs Snakemake's metadata of a real run)."""
    root = copy_workflow(tmp_path_factory.mktemp("report"))
    shutil.copytree(REPO / "report", root / "report")  # the captions
    proc = snakemake(root, "--cores", "2", *CONFIG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def make_report(root, name="report.html"):
    out = root / RESULTS / name
    proc = snakemake(root, "--report", str(out), *CONFIG, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.stat().st_size > 100_000  # self-contained: scripts, styles and every result embedded
    return out


def open_in_chromium(chromium, report, tmp, *, hash_="walk", screenshot=None):
    """Chromium's rendered DOM of ``report`` (walked by WALK_JS): the walk's text and the browser's stderr."""
    page = report.read_text()
    head = page.index("<head>") + len("<head>")
    driven = tmp / f"driven_{report.stem}.html"
    driven.write_text(page[:head] + "<script>" + WALK_JS + "</script>" + page[head:])
    profile = tmp / f"chromium-profile-{hash_}-{report.stem}"
    profile.mkdir()
    args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=30000"]
    if screenshot is None:
        args.append("--dump-dom")
    else:
        args += [f"--screenshot={screenshot}", "--window-size=1400,1000"]
    proc = subprocess.run([*args, f"{driven.as_uri()}#{hash_}"], capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    match = re.search(r'(?s)<pre id="vqaloop-walk"[^>]*>(.*?)</pre>', proc.stdout)
    return (html.unescape(match.group(1)) if match else None), proc.stderr


def sections(walk: str) -> dict[str, str]:
    """The walk's record, "=== <step>" -> the page's rendered text after that step."""
    parts = re.split(r"(?m)^=== (.*)$", walk)
    return {label: text for label, text in zip(parts[1::2], parts[2::2], strict=True)}


def missing_from_report(walked: dict[str, str], files: list[str]) -> list[str]:
    """The files (paths relative to the workflow) that are not a result of the walked report."""
    return [f for f in files if f"result {f}" not in walked or f.rsplit("/", 1)[-1] not in walked[f"result {f}"]]


@pytest.fixture(scope="module")
def walked(built, chromium, tmp_path_factory):
    report = make_report(built)
    walk, stderr = open_in_chromium(chromium, report, tmp_path_factory.mktemp("browser"))
    assert walk is not None, f"the walk did not finish (no <pre id=vqaloop-walk> in the DOM):\n{stderr[-3000:]}"
    return sections(walk)


def test_the_page_loads_without_errors_and_shows_the_papers(walked):
    assert walked["errors"].strip() == "", walked["errors"]
    landing = walked["landing"]
    for text in ("Snakemake", "Workflow", "Statistics", *CATEGORIES):
        assert text in landing, landing
    # the workflow description (report/workflow.rst) says what everything was computed on
    assert "What it was computed on" in landing and "VMAF" in landing, landing
    assert "run tiny" in landing, landing


def test_every_table_and_figure_of_the_tiny_run_is_in_the_report(built, walked):
    outputs = sorted(p.relative_to(built).as_posix()
                     for p in [*(built / RESULTS / "tables").glob("*"), *(built / RESULTS / "figures").glob("*.png")])  # fmt: skip
    names = {p.rsplit("/", 1)[-1] for p in outputs}
    for tables in TABLES.values():  # the run built them all
        assert {f"{t}.csv" for t in tables} <= names, sorted(names)
    assert any(n.endswith(".png") for n in names)
    assert missing_from_report(walked, outputs) == []
    for category, tables in TABLES.items():
        for table in tables:
            text = walked[f"result {RESULTS}/tables/{table}.csv"]
            assert f"{table}.csv" in text and "DESCRIPTION" in text, text
            assert "embedded corpus" in text, text  # every caption says what it was computed on
            subcategory = {"Claims": "Verdicts", "Corpus": "Embedded corpus"}.get(category, f"Table {table[9:]}")
            assert f"subcategory {category} / {subcategory}" in walked, sorted(walked)


def test_tables_are_rendered_ours_beside_the_papers(built, walked):
    for table in [*TABLES["MDS-VQA"], *TABLES["W2S-VQA"]]:
        text = walked[f"result {RESULTS}/tables/{table}_vs_paper.csv"]
        header = (built / RESULTS / "tables" / f"{table}_vs_paper.csv").read_text().splitlines()[0].split(",")
        assert {"ours", "paper", "difference"} <= set(header)
        assert re.search(r"\bours\s+ours_ci_low\b.*\bpaper\s+difference\b", text), text  # the table's header row
        first = (built / RESULTS / "tables" / f"{table}_wide.csv").read_text().splitlines()[1].split(",")[0]
        assert first in walked[f"result {RESULTS}/tables/{table}.csv"]  # the wide table in the long file's caption
    claims = walked[f"result {RESULTS}/tables/claims.csv"]
    assert "verdict" in claims and re.search(r"\b(agree|disagree|inconclusive)\b", claims), claims


def test_a_figure_is_shown(walked):
    (label,) = [k for k in walked if k.startswith("figure ")]
    sizes = walked[label].split("shown:", 1)[1].split()
    assert sizes, walked[label]  # at least one <img> rendered by the browser with a real size
    assert "mds_methods.png" in label


def test_screenshot_of_a_figure_in_the_report(built, chromium, walked, tmp_path):
    png = tmp_path / "report.png"
    open_in_chromium(chromium, built / RESULTS / "report.html", tmp_path, hash_="figure", screenshot=png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 1000)
    assert len(data) > 30_000, len(data)  # a rendered page with a figure, not a blank one


def test_the_check_fails_when_a_table_is_not_wrapped_in_report(built, chromium, tmp_path):
    """The same check on a report whose claims outputs are plain paths (report() made a no-op there)."""
    rules = built / "rules/claims.smk"
    original = rules.read_text()
    try:
        rules.write_text("def report(path, **kwargs):  # the test: no report() wrapper here\n    return path\n\n"
                         + original)  # fmt: skip
        report = make_report(built, "report_unwrapped.html")
    finally:
        rules.write_text(original)
    walk, stderr = open_in_chromium(chromium, report, tmp_path)
    assert walk is not None, stderr[-3000:]
    walked = sections(walk)
    files = [f"{RESULTS}/tables/claims.csv", f"{RESULTS}/tables/mds_table2.csv"]
    assert missing_from_report(walked, files) == [f"{RESULTS}/tables/claims.csv"]
    assert "category Claims" not in walked and "category MDS-VQA" in walked
