"""Defaults for the cluster commands, so users do not repeat them: ``kitaru config``.

A flat TOML file, ``$XDG_CONFIG_HOME/kitaru/config.toml`` (``~/.config/kitaru/...``;
``KITARU_CONFIG`` names another), with ``cluster`` (``true`` makes ``--cluster`` the
default), ``context`` and ``namespace``. A flag wins over an environment variable
(``KITARU_CLUSTER``, ``KITARU_KUBE_CONTEXT``, ``KITARU_NAMESPACE``), which wins over
the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kitaru.errors import KitaruUsageError

KEYS = {"cluster": "KITARU_CLUSTER", "context": "KITARU_KUBE_CONTEXT",
        "namespace": "KITARU_NAMESPACE"}


def path() -> Path:
    """Where the file is."""
    if os.environ.get("KITARU_CONFIG"):
        return Path(os.environ["KITARU_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kitaru" / "config.toml"


def read() -> dict[str, str]:
    """The file's settings ({} when there is none)."""
    where = path()
    try:
        text = where.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KitaruUsageError(f"config file {where}: {exc}") from None
    import tomllib  # here: most commands run with no config file

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KitaruUsageError(f"config file {where}: {exc}") from None
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()
            if k in KEYS}


def value(key: str) -> str | None:
    """A setting: its environment variable, else the file."""
    return os.environ.get(KEYS[key]) or read().get(key)


def write(key: str, text: str | None) -> Path:
    """Set (or with None, remove) one setting; return the file."""
    if key not in KEYS:
        raise KitaruUsageError(f"unknown setting {key!r}; settings: {', '.join(KEYS)}")
    if key == "cluster" and text is not None and text not in ("true", "false"):
        raise KitaruUsageError(f"cluster must be true or false, got {text!r}")
    settings = read()
    if text is None:
        settings.pop(key, None)
    else:
        settings[key] = text
    where = path()
    where.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{k} = {v}" if k == "cluster" else f"{k} = {json.dumps(v)}"
             for k, v in sorted(settings.items())]
    where.write_text("".join(f"{line}\n" for line in lines))
    return where
