"""Importing the flow ``kitaru run`` names, and showing the user's frames when it fails."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import kitaru
from kitaru.errors import KitaruError, KitaruUsageError
from kitaru.flow import Flow, load_flow

# Frames from these files are the machinery between the command and the user's module.
_MACHINERY = (str(Path(kitaru.__file__).parent), str(Path(importlib.__file__).parent),
              "<frozen importlib")


class FlowImportError(KitaruUsageError):
    """The flow's module raised while it was imported.

    Attributes:
        frames: The traceback lines inside the user's code (empty when there are none).
    """

    def __init__(self, message: str, *, frames: list[str]) -> None:
        super().__init__(message)
        self.frames = frames


def _user_frames(exc: BaseException) -> list[str]:
    import traceback  # here: every command loads this module, few show a traceback

    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if not frame.filename.startswith(_MACHINERY)]
    lines = traceback.format_list(frames)
    if isinstance(exc, SyntaxError):
        lines += traceback.format_exception_only(exc)[:-1]  # the file, line and caret
    return ["Traceback (most recent call last):\n", *lines] if lines else []


def import_flow(entrypoint: str) -> Flow[..., Any]:
    """Import the flow at ``module:function``, from the current folder first.

    Raises:
        FlowImportError: The module raised while it was imported, or does not exist.
        KitaruUsageError: The entrypoint is malformed, or names no ``@flow`` function.
    """
    sys.path.insert(0, str(Path.cwd()))
    module = entrypoint.partition(":")[0]
    if module:
        try:
            importlib.import_module(module)
        except Exception as exc:
            detail = str(exc) if isinstance(exc, KitaruError) else f"{type(exc).__name__}: {exc}"
            message = f"entrypoint {entrypoint!r} cannot be imported: {detail}"
            if isinstance(exc, ModuleNotFoundError) and exc.name and (
                    module == exc.name or module.startswith(f"{exc.name}.")):
                message += f"; it is imported from the current folder, {Path.cwd()}"
            raise FlowImportError(message, frames=_user_frames(exc)) from exc
    return load_flow(entrypoint, None)
