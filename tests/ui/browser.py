"""A real browser on a real ``kitaru ui``: the dashboard process as a user starts it, and
Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KITARU_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying hosts this machine
# cannot reach; a fresh profile per launch keeps runs apart.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``)."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: `make browser` installs "
                    "Debian's (or set KITARU_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Dashboard:
    """``kitaru ui --port 0`` in a process of its own, at ``url``."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kitaru.cli", "ui", "--port", "0", *args], cwd=cwd,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"http://\S+/", line)
        if found is None:
            self.process.kill()
            raise AssertionError(f"kitaru ui printed {line!r}, then: "
                                 f"{self.process.communicate()[1]}")
        self.url = found.group(0)

    def stop(self) -> str:
        """Ctrl-C it; return what it wrote to stderr."""
        self.process.send_signal(2)
        try:
            _, err = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return err


@contextmanager
def dashboard(*args: str, env: dict[str, str] | None = None) -> Iterator[Dashboard]:
    """A running dashboard over the environment's store (or the one in ``args``)."""
    running = Dashboard(list(args), env if env is not None else dict(os.environ))
    try:
        yield running
    finally:
        err = running.stop()
        # Ctrl-C is how it stops: the CLI's one line and exit code for an interrupt.
        assert (running.process.returncode, err) == (130, "kitaru: interrupted\n"), err


class PageErrors:
    """Console errors and uncaught exceptions of a page: a test ends with none."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        page.on("pageerror", lambda exc: self.seen.append(f"uncaught: {exc}"))
        page.on("console", lambda msg: self.seen.append(f"console: {msg.text}")
                if msg.type == "error" and not _refusal(msg.text) else None)


def _refusal(text: str) -> bool:
    # The browser logs each 4xx answer the page asked for on purpose (a refused answer).
    return "Failed to load resource" in text and re.search(r"status of 4\d\d", text) is not None

