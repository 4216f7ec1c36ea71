"""Documents that never change once written, kept by a long-lived reader.

An execution's spec, each run's start and outcome, every checkpoint record, wait answers
and replay offers are written create-if-absent: the first writer wins and nothing ever
rewrites them. A process that reads the same executions again and again (the dashboard
polls an open page every one or two seconds, the MCP server answers an agent) keeps them
once read, so a page on an execution with a thousand checkpoints costs a few store
requests per poll instead of a thousand. What can change (a run's progress, its logs,
artifacts, a cancel request) is never kept, and nor is a document's absence.
"""

from __future__ import annotations

import _thread  # not threading: a command that only reads would import it for this alone
import re
from collections import OrderedDict
from typing import Any

#: The documents, relative to an execution's folder, that are written create-if-absent.
SETTLED = re.compile(r"execution\.json|runs/\d+/(?:start|outcome)\.json|"
                     r"(?:journal|inputs|reusable)/[^/]+\.json")


class Settled:
    """A bounded, thread-safe keeper of parsed settled documents, least recently used
    first out once ``budget`` bytes (of their stored form) are held."""

    def __init__(self, budget: int = 64 << 20) -> None:
        self.budget = budget
        self.held = 0
        self._docs: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = _thread.allocate_lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            found = self._docs.get(key)
            if found is None:
                return None
            self._docs.move_to_end(key)
            return found[0]

    def keep(self, key: str, doc: Any, size: int) -> None:
        if size > self.budget:
            return
        with self._lock:
            old = self._docs.pop(key, None)
            if old is not None:
                self.held -= old[1]
            self._docs[key] = (doc, size)
            self.held += size
            while self.held > self.budget:
                _, (_, dropped) = self._docs.popitem(last=False)
                self.held -= dropped

    def __len__(self) -> int:
        return len(self._docs)
