"""The nightly run's metrics table, as the Prefect UI shows it, in headless Chromium."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import ServedRun

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
METRICS_KEY = "cofi-eval-metrics"
# The UI fetches the artifact after the page loads; on two shared cores that can take a while.
RENDER_SECONDS = 60


@pytest.fixture
def browser(tmp_path: Path):
    """Headless Chromium through chromedriver, with a fresh profile; skips without them."""
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        pytest.skip(
            f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian chromium, chromium-driver; "
            "CI installs them with .ci/install-browser.sh)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (dev extras)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No sandbox or GPU in containers; nothing reaching out to Google's services.
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=tmp_path)}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(RENDER_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_ui_shows_the_runs_metrics_table(
    served_run: ServedRun, browser, test_artifacts_dir: Path
) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    artifacts = served_run.post(
        "/artifacts/filter",
        {
            "artifacts": {
                "flow_run_id": {"any_": [served_run.flow_run_id]},
                "key": {"any_": [METRICS_KEY]},
            }
        },
    )
    assert artifacts, f"the run made no {METRICS_KEY} artifact"
    # The server's default UI (V2) lives under /v2; its artifact page renders a table artifact.
    url = f"{served_run.base_url}/v2/artifacts/artifact/{artifacts[0]['id']}"
    screenshot = test_artifacts_dir / "prefect-ui-metrics.png"

    browser.get(url)
    try:
        WebDriverWait(browser, RENDER_SECONDS).until(
            lambda driver: (
                "rmse" in driver.find_element(By.TAG_NAME, "body").text.lower()
                and driver.find_elements(By.TAG_NAME, "table")
            )
        )
    except TimeoutException:
        browser.save_screenshot(str(screenshot))
        text = browser.find_element(By.TAG_NAME, "body").text
        pytest.fail(f"{url} showed no metrics table in {RENDER_SECONDS}s; it showed:\n{text}")
    browser.save_screenshot(str(screenshot))

    table = browser.find_element(By.TAG_NAME, "table").text.lower()
    assert "rmse" in table and "global_mean" in table, table
