"""Screenshots of the HTML report for the README: docs/screenshots/<fixture>.png.

Renders the report of bundled fixtures (no timestamp, so the pictures only change when the
report does), opens each in Debian's headless Chromium through Playwright at 1400 px, the width
the browser tests read the page at, and saves the top of the page: the verdict, the table of
contents and the first finding.

Usage:  python bench/screenshots.py [--names S01 multi-instance] [--height 1200] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def render(name: str, folder: Path) -> Path:
    from azdiag.diagnosis.engine import diagnose
    from azdiag.render.writer import render_report
    from azdiag.timeline.analysis import analyze

    collection = ROOT / "fixtures" / name
    analysis = analyze(collection)
    html = render_report(analysis, diagnose(analysis), "html", timestamp=False)
    # the report names the input as given; keep the pictures free of this machine's paths
    html = html.replace(str(collection), f"fixtures/{name}")
    path = folder / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="+", default=["S01", "multi-instance"])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1200, help="0: the full page")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            for name in args.names:
                page = browser.new_page(viewport={"width": args.width, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
                page.on(
                    "console",
                    lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None,
                )
                page.goto(render(name, Path(tmp)).resolve().as_uri(), wait_until="load")
                target = args.out / f"{name}.png"
                if args.height:
                    clip = {"x": 0, "y": 0, "width": args.width, "height": args.height}
                    page.screenshot(path=str(target), clip=clip, full_page=True)
                else:
                    page.screenshot(path=str(target), full_page=True)
                page.close()
                if errors:
                    raise SystemExit(f"{name}: errors in the page: {errors}")
                print(f"{target}  ({target.stat().st_size / 1024:.0f} KiB)")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
