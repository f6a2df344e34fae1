"""Regenerate the README's screenshots, docs/build.png and docs/lesson.png, in a real headless Chromium.

    .venv/bin/python docs/screenshots.py            (needs `bash .ci/install --dev`: Playwright + Debian's chromium)

It uses the browser test's setup (tests/test_browser.py: its Chromium flags, free port and health check), starts
`streamlit run app.py`, and waits for the same things the test waits for before it shoots: on Build, resnet56's
parameter count and drawn graph; on Lessons, the gradient lesson's metric and chart. Look at the PNGs before
committing them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_browser import CHROMIUM_ARGS, free_port, wait_healthy  # noqa: E402  (the test's own setup)

VIEWPORT = {"width": 1280, "height": 800}  # the browser test's laptop size


def shoot_build(page, url: str, path: Path) -> None:
    page.goto(f"{url}/build?preset=resnet56")
    page.locator('[data-testid="stMetricValue"]', has_text="0.85M").wait_for()
    page.locator('[data-testid="stGraphVizChart"] svg g.node').first.wait_for()
    page.wait_for_timeout(1500)  # the block graph below lays out after the overview
    page.screenshot(path=str(path))


def shoot_lesson(page, url: str, path: Path) -> None:
    page.goto(f"{url}/lessons?lesson=gradients")
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="plain-56: first layer / last layer")
    metric.locator('[data-testid="stMetricValue"]').wait_for()
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').first.wait_for()
    # The experiment, not the introduction: the controls at the top, then the measured ratios and the chart.
    page.locator('[data-testid="stSlider"]').first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.move(VIEWPORT["width"] / 2, VIEWPORT["height"] / 2)
    page.mouse.wheel(0, -110)  # from under the page's fixed header
    page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # off the chart (its toolbar) and the sidebar
    page.wait_for_timeout(1500)  # Vega's first paint
    page.screenshot(path=str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for build.png and lesson.png")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("error: chromium is not installed (bash .ci/install --dev installs it)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port)]
    # Leaving the with-block waits for the server, which ends at once on SIGTERM.
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT) as server:
        try:
            wait_healthy(url, server)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(120_000)
                args.out.mkdir(parents=True, exist_ok=True)
                try:
                    shoot_build(page, url, args.out / "build.png")
                    shoot_lesson(page, url, args.out / "lesson.png")
                except Exception:
                    page.screenshot(path=str(args.out / "failed.png"))  # what the page showed instead
                    print(f"error: the page did not draw; see {args.out / 'failed.png'}", file=sys.stderr)
                    raise
                browser.close()
        finally:
            server.terminate()
    for name in ("build.png", "lesson.png"):
        print(f"{args.out / name}: {(args.out / name).stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
