"""Make docs/report.png, the README's picture of the HTML report, from the example suite.

The example suite (prompts/, cases/, promptctl.yaml and its committed recordings) is copied into
a throwaway git repository, run offline (`promptctl test --offline --format html`), opened in
Debian's headless Chromium (selenium through /usr/bin/chromedriver; `apt-get install chromium
chromium-driver`), one case is expanded and the window is saved as a PNG.

Run: ``.venv/bin/python scripts/report_screenshot.py`` from the repository root.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.report import browser  # noqa: E402  (the tests' browser set-up, after the path)

EXPAND = "support/reply"  # the prompt whose first case is shown expanded


def main() -> int:
    why = browser.missing()
    if why is not None:
        print(f"report_screenshot: {why}", file=sys.stderr)
        return 1
    out = ROOT / "docs" / "report.png"
    with tempfile.TemporaryDirectory(prefix="promptctl-shot-") as tmp:
        repo = Path(tmp) / "example"
        repo.mkdir()
        for name in ("prompts", "cases"):
            shutil.copytree(ROOT / name, repo / name)
        shutil.copy(ROOT / "promptctl.yaml", repo / "promptctl.yaml")
        git = ["git", "-c", "user.name=promptctl", "-c", "user.email=promptctl@example.invalid"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-q", "-m", "the example suite"], cwd=repo, check=True)
        promptctl = [sys.executable, "-m", "promptctl"]
        subprocess.run(
            [*promptctl, "test", "--offline", "--format", "html", "-o", "report.html"], cwd=repo, check=True
        )
        with browser.chromium(width=1280, height=1500) as driver:
            from selenium.webdriver.common.by import By

            browser.open_file(driver, repo / "report.html")
            driver.find_element(By.CSS_SELECTOR, f'tr.unit[data-prompt="{EXPAND}"]').click()
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
