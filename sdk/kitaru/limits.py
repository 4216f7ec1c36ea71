"""What a flow or checkpoint definition is checked against: names that can be part of a
store key, the default concurrency, the longest retry delay. Light on purpose: ``import
kitaru`` and a flow module's decorators load this, not the engine."""

from __future__ import annotations

import re

from kitaru.errors import KitaruUsageError

#: Checkpoint bodies a run executes at once from ``.submit()`` and ``.map()``, unless the
#: flow or the call says otherwise.
DEFAULT_MAX_CONCURRENCY = 8

#: The longest wait between two attempts of a checkpoint body, in seconds.
MAX_RETRY_DELAY = 60.0

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it can be part of a store key, else raise a usage error."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise KitaruUsageError(
            f"{kind} {name!r} must start with a letter or digit and hold only letters, "
            "digits, '_', '.' and '-' (at most 200 characters)"
        )
    return name
