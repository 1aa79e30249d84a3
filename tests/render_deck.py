"""Render a sample deck and report for looking at them (``make deck-render``; not part of ``make test``).

Builds the PPTX and the offline HTML report of a tray of views on every page (a non-default parameter,
subset and threshold among them), converts the PPTX with LibreOffice headless to PDF and PNG pages at
1280×720 (pdftoppm, 96 dpi), and screenshots the report in headless Chromium with every outside host
unreachable. Writes into the folder given (default ``deck-render/``) and prints what it wrote.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAY = [
    {"page": "trajectories", "query": "?param=DSDNA&scale=chg", "part": "figure"},
    {"page": "comparison", "query": "?param=TREG&v2=24", "part": "figure"},
    {"page": "safety", "query": "?threshold=10", "part": "incidence"},
    {"page": "safety", "query": "", "part": "summary"},
    {"page": "patient", "query": "?subject=LSO-088-003", "part": "figure"},
    {"page": "overview", "query": "", "part": "tables"},
    {"page": "overview", "query": "", "part": "figure"},
    {"page": "safety", "query": "", "part": "timeline"},
    {"page": "trajectories", "query": "?view=multi", "part": "figure"},
]


def main(out: Path) -> None:
    import app
    from components import report, slides
    from components.deckviews import Pages
    from data.study import DEFAULT_DATA, load_study

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    study = load_study(DEFAULT_DATA)
    pages = Pages(study, app.PAGES)
    views = [(v, v.title) for v in (pages.view(i) for i in TRAY)]
    pptx = out / "deck.pptx"
    pptx.write_bytes(slides.build(study, views))
    html = out / "report.html"
    html.write_text(report.build(study, views))
    for old in out.glob("deck-*.png"):
        old.unlink()
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(out), str(pptx)], check=True,
                   capture_output=True, timeout=600)
    subprocess.run(["pdftoppm", "-r", "96", "-png", str(out / "deck.pdf"), str(out / "deck")], check=True)
    print(f"{len(list(out.glob('deck-*.png')))} slides as PNG (1280×720) in {out}")

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 720,
                                                                  "deviceScaleFactor": 1, "mobile": False})
        d.get(html.as_uri())
        time.sleep(6)
        plots = d.execute_script("return document.querySelectorAll('.js-plotly-plot .main-svg').length")
        outside = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        print(f"report: {plots} plotly figures drawn, {len(outside)} resources requested")
        import base64

        height = d.execute_script("return document.body.scrollHeight")
        for n, y in enumerate(range(0, height, 720)):  # 1280×720 pieces of the whole page
            shot = d.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": {
                "x": 0, "y": y, "width": 1280, "height": min(720, height - y), "scale": 1}})
            (out / f"report-{n:02d}.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        d.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "deck-render")
