"""The dashboard in a real browser: Playwright driving Debian's Chromium (never a downloaded one).

One server (SQLite, API key ``k1``) for the module. A person's path through it: open the jobs
list, ask for a recommendation with the form, submit it as a tuning job, watch a real worker run
tiny `digits` trials (small_cnn, 2 epochs) on the job page without reloading it, see the plots
drawn. Every request the pages make must stay on 127.0.0.1. Screenshots of the three main pages
land in ``test-output/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processes import start_worker, submit, wait_all
from servers import LiveServer, fresh_database, run_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
XSS = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">'

if shutil.which(CHROMIUM) is None:  # `make test` installs it (scripts/install-browser.sh)
    pytest.skip(f"{CHROMIUM} is missing: run scripts/install-browser.sh", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, Path]]:
    directory = tmp_path_factory.mktemp("dashboard")
    with fresh_database("sqlite", directory) as url:
        wait_all([start_worker(url, directory, "--once")])  # offers the test objective `quick`
        with run_server(url, directory) as server:
            yield server, url, directory


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


class Page:
    """A fresh page that records every request it makes and every script error."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def assert_stayed_local(self) -> None:
        outside = [url for url in self.requests
                   if not url.startswith(("http://127.0.0.1:", "data:", "blob:"))]
        assert not outside, f"requests left 127.0.0.1: {outside}"
        assert not self.errors, self.errors

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    recorded = Page(browser)
    yield recorded
    recorded.context.close()


PLOTS_SETTLED = """() => [...document.querySelectorAll('.plot[data-plot]')].every(
    div => div.dataset.drawn || (div.querySelector('p') &&
                                 !div.textContent.includes('loading')))"""


def test_follow_a_job_from_recommendation_to_result_without_reloading(stack, page) -> None:
    server, url, directory = stack
    p = page.page
    p.goto(server.url + "/")
    assert p.locator("h1").inner_text() == "Tuning jobs"

    # the recommend form: a profile in, the explained answer out
    p.click("text=Recommend")
    p.fill('input[name="model"]', "resnet50")
    p.fill('input[name="batch_size"]', "1024")
    p.click('button:has-text("Recommend")')
    p.wait_for_selector("#answer")
    answer = p.locator("#answer").inner_text()
    assert "lr.linear_scaling" in answer and "paddleclas-training-tricks" in answer
    assert "0.4" in answer  # 0.1 x 1024/256
    page.screenshot("recommend")

    # submit it as a tuning job: the server has keys, so the form asks for one
    form = p.locator('[data-role="job-form"]')
    form.locator('select[name="model"]').select_option("small_cnn")
    form.locator('select[name="dataset"]').select_option("digits")
    form.locator('input[name="n_trials"]').fill("3")
    form.locator('input[name="epochs"]').fill("2")
    form.locator('input[name="batch_size"]').fill("128")
    form.locator('input[name="api_key"]').fill("wrong")
    form.locator('button[type="submit"]').click()
    p.wait_for_selector('[data-role="job-message"].error')
    assert "API key" in p.locator('[data-role="job-message"]').inner_text()
    form.locator('input[name="api_key"]').fill(server.api_key)
    form.locator('button[type="submit"]').click()
    p.wait_for_url(re.compile(r"/jobs/\d+$"))
    job_id = int(p.url.rsplit("/", 1)[1])
    assert p.locator('[data-field="state"]').inner_text() == "queued"
    assert p.locator('[data-field="done"]').inner_text() == "0"
    p.evaluate("window.__sameDocument = true")

    # a real worker runs the trials; the page follows by polling, never reloading
    worker = start_worker(url, directory, "--once")
    p.wait_for_function("document.querySelector('[data-field=\"state\"]').textContent"
                        " === 'running'", timeout=90_000)
    p.wait_for_function("document.querySelector('[data-field=\"now\"]').textContent"
                        ".startsWith('Running trial')", timeout=90_000)
    p.wait_for_function("document.querySelector('[data-field=\"state\"]').textContent"
                        " === 'succeeded'", timeout=150_000, polling=500)
    wait_all([worker])
    assert p.evaluate("window.__sameDocument") is True
    assert p.locator('[data-field="done"]').inner_text() == "3"
    assert re.match(r"\d of [1-3]|pruned", p.locator('[data-field="rank"]').inner_text())

    # the plots: Plotly elements with data (the final refresh redraws them)
    p.wait_for_function(PLOTS_SETTLED, timeout=60_000)
    p.wait_for_function("document.querySelector('.plot[data-plot=\"history\"]').data"
                        " && document.querySelector('.plot[data-plot=\"history\"]').data.length"
                        " > 0", timeout=30_000)
    for name in ("history", "intermediate", "curves"):
        traces = p.evaluate(f"document.querySelector('.plot[data-plot=\"{name}\"]').data.length")
        assert traces > 0, name
    assert p.locator(".plot[data-plot='history'] .main-svg").count() > 0
    assert "Advisor vs best trial" in p.locator("#outcome").inner_text()
    assert p.locator("#trials tbody tr").count() == 3
    assert p.locator("#trials .tag.advisor").count() == 1

    # sorting the trials swaps the table in place
    p.click("#trials a.sort:has-text('value')")
    p.wait_for_function("document.querySelector('#trials a.sort.active')"
                        " && document.querySelector('#trials a.sort.active').textContent"
                        ".includes('value')")
    assert p.evaluate("window.__sameDocument") is True
    p.wait_for_timeout(300)
    page.screenshot("job")
    page.assert_stayed_local()

    # the jobs list shows the finished job with its progress bar and the advisor's rank
    p.goto(server.url + "/")
    row = p.locator(f"tr:has(a[href='/jobs/{job_id}'])")
    assert "succeeded" in row.inner_text() and "3/3" in row.inner_text()
    page.screenshot("jobs")
    page.assert_stayed_local()


def test_text_a_client_wrote_is_shown_not_run(stack, page) -> None:
    server, _, _ = stack
    job = submit(server, objective="quick", model={"name": XSS, "params_millions": 0.1},
                 n_trials=2)
    p = page.page
    for path in ("/", f"/jobs/{job['id']}", "/recommend?params_millions=0.1&model="
                 + XSS.replace("#", "%23")):
        p.goto(server.url + path)
        p.wait_for_load_state("networkidle")
        assert p.evaluate("window.__xss") is None, path
        assert "<script>window.__xss = 1</script>" in p.locator("main").inner_text(), path
    page.assert_stayed_local()
