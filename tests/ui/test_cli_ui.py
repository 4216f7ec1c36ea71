"""``kitaru ui`` as a user starts it: the address it prints, a port taken, a typo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

from tests.ui.browser import ROOT, dashboard


def kitaru(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kitaru.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ))


def test_it_prints_where_it_serves_and_stops_on_ctrl_c(store_uri: str) -> None:
    with dashboard() as ui:
        assert ui.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{ui.url}api/session") as answer:
            assert b'"plane":"local"' in answer.read()
        with urllib.request.urlopen(f"{ui.url}static/app.js") as answer:
            assert answer.status == 200


def test_a_port_in_use_and_a_bad_port_are_one_line(store_uri: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = kitaru("ui", "--port", str(port))
    assert (busy.returncode, busy.stderr) == (
        1, f"kitaru: error: port {port} on 127.0.0.1 is in use; pick another with --port "
        "(0 picks a free one)\n")
    typo = kitaru("ui", "--port", "80a")
    assert typo.returncode == 2
    assert "argument --port: must be a port number from 0 to 65535" in typo.stderr
