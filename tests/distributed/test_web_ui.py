"""`gp-celery web` in a real headless browser (Debian's chromium, driven by Selenium): the
page draws every node of a running pipeline, rates move while events flow, and a dead letter
is replayed from the page."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ROOT, RedisServer, StartWorker, free_port
from tests.distributed.conftest import (
    FAST_BATCHES,
    GP,
    WORKER_ENV,
    StartListener,
    line,
    send_lines,
    sink_events,
    write_config,
)

STATS_ENV = {**WORKER_ENV, "GP_STATS_SECS": "0.5"}
NODES = ("TcpServer", "parse", "archive")


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless chromium from Debian with its chromedriver; fails loudly if either is missing."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium, "Debian's chromium is needed (scripts/test installs it)"
    assert driver, "Debian's chromium-driver is needed (scripts/test installs it)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    session = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield session
    finally:
        session.quit()


def start_web(
    config: Path, redis_url: str, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    web = subprocess.Popen(
        [GP, "web", "-c", str(config), "--broker", redis_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert web.stdout is not None
    assert "gp-celery web: serving" in web.stdout.readline()
    return web


def test_the_page_draws_the_pipeline_shows_rates_moving_and_replays_a_dead_letter(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
    browser: WebDriver,
) -> None:
    out = tmp_path / "out"
    out.write_text("a file where the sink needs a directory\n")
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}   sink_retries: 0
- TcpServer:
   interface: 127.0.0.1
   port: 0
- RegexParser:
   id: parse
   field_extraction_patterns:
    - test_line: '^id-(?P<number>\\d+) '
- FileSink:
   id: archive
   file_name: {out}/events.jsonl
   json_lines: true
""",
    )
    start_worker(config, redis_server.url, env=STATS_ENV)
    listener = start_listener(config, redis_server.url, env=STATS_ENV)
    port = free_port()
    web = start_web(config, redis_server.url, port)
    flowing = threading.Event()

    def send_while_flowing() -> None:
        number = 0
        while not flowing.is_set():
            send_lines(listener.port, (line(n) for n in range(number, number + 50)))
            number += 50
            flowing.wait(0.1)

    sender = threading.Thread(target=send_while_flowing, daemon=True)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 30)
        for node in NODES:
            wait.until(lambda b, n=node: b.find_elements(By.CSS_SELECTOR, f'g[data-node="{n}"]'))
        drawn = browser.find_elements(By.CSS_SELECTOR, "#graph path.edge")
        assert len(drawn) == 2

        sender.start()

        def cell(index: int) -> int:
            """A number in TcpServer's row, read in one go (the page redraws the table)."""
            text = browser.execute_script(
                "const row = document.querySelector('tr[data-node=\"TcpServer\"]');"
                f"return row ? row.cells[{index}].textContent : '';"
            )
            return int(text.replace(",", "")) if text[:1].isdigit() else 0

        def events_in() -> int:
            return cell(4)

        def rate() -> int:
            return cell(3)

        wait.until(lambda _b: events_in() > 0 and rate() > 0)
        first = events_in()
        wait.until(lambda _b: events_in() > first)  # the page refreshes on its own
        flowing.set()
        sender.join(timeout=30)

        # Every event failed at the sink: the dead letters are listed; fix the sink, replay.
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#letters tr[data-letter]"))
        out.unlink()
        out.mkdir()
        row = browser.find_elements(By.CSS_SELECTOR, "#letters tr[data-letter]")[0]
        letter = row.get_attribute("data-letter")
        row.find_element(By.CSS_SELECTOR, "button.replay").click()
        wait.until(lambda b: "replayed" in b.find_element(By.ID, "replay-result").text)
        outcome = browser.find_element(By.ID, "replay-result").text
        assert outcome.startswith(f"replayed {letter}: ")
        assert "written archive" in outcome
        assert sink_events(out / "events.jsonl"), "the replayed events are in the file"
        wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, f'tr[data-letter="{letter}"]'))
    finally:
        flowing.set()
        web.terminate()
        assert web.wait(timeout=20) == 0


def test_basic_auth_guards_the_page_and_is_required_beyond_loopback(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(tmp_path, f"{FAST_BATCHES}- TcpServer:\n   port: 0\n- DevNullSink\n")
    port = free_port()
    web = start_web(config, redis_server.url, port, env={"GP_WEB_AUTH": "ops:hunter2"})
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/graph", timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/graph")
        request.add_header("Authorization", "Basic b3BzOmh1bnRlcjI=")  # ops:hunter2
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b'"TcpServer"' in response.read()
        forged = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/dead-letters/abcd/replay", method="POST"
        )
        forged.add_header("Authorization", "Basic b3BzOmh1bnRlcjI=")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)  # no X-GP-Celery header: a form post
        assert refused.value.code == 403
    finally:
        web.terminate()
        web.wait(timeout=20)
    beyond = subprocess.run(
        [GP, "web", "-c", str(config), "--broker", redis_server.url, "--bind", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={key: value for key, value in os.environ.items() if key != "GP_WEB_AUTH"},
        check=False,
    )
    assert beyond.returncode == 2
    assert "set GP_WEB_AUTH=user:password" in beyond.stderr
