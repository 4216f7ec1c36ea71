"""The base of Kitaru's own pydantic models (records, summaries, API documents).

Each is built on its first use rather than when its module is imported, so a process
pays only for the models it touches: ``kitaru --help`` touches none, a run a handful.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model whose validators and serializers are built on first use."""

    model_config = ConfigDict(defer_build=True)
