"""How Python types are named on record (``module:qualname``) and found again.

A class defined in a script run as ``python script.py`` lives in module ``__main__``,
a name that means something else in every later process. Such classes are recorded
under the name later runs import the script under, its file name's stem (the same name
the flow's entrypoint gets), so ``plan.py``'s ``Plan`` is ``plan:Plan``.

Reading resolves names so that a script is never imported twice into one process:

- in the script's own process, ``plan`` (not yet imported) names ``__main__`` itself;
- in a run process, ``load_flow`` has imported ``plan`` as the flow's module, so ``plan``
  is the very module object the flow's function came from, and isinstance checks hold;
- records written before this rule say ``__main__:Plan``; in a process running a flow
  loaded by its entrypoint, ``__main__`` is Kitaru's runtime, so they are read from the
  flow's module instead.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from pydantic import BaseModel

#: Recorded module names this process reads from another module (``__main__`` from
#: the flow's module once a flow is loaded by its entrypoint).
_read_from: dict[str, str] = {}


@functools.lru_cache(maxsize=16)
def script_module_name(file: str) -> str:
    """Return the module name a script file is imported under by later runs: the stem
    of its real file name (a symlink's target names it)."""
    return os.path.splitext(os.path.basename(os.path.realpath(file)))[0]


def _module_name(cls: Any) -> str:
    name: str = cls.__module__
    if name == "__main__":
        file = getattr(sys.modules.get("__main__"), "__file__", None)
        if file:
            return script_module_name(file)
    return name


def type_path(cls: type) -> str:
    """Return ``module:qualname`` of a class (or function), the form recorded with values.

    A class defined in a script run as ``python script.py`` is named by the script's
    module name (``plan:Plan``), not ``__main__``.
    """
    return f"{_module_name(cls)}:{cls.__qualname__}"


def use_flow_module(module_name: str) -> None:
    """Read old ``__main__:X`` records from ``module_name``, the flow this process runs."""
    if module_name != "__main__":
        _read_from["__main__"] = module_name


def _is_main_script(module_name: str) -> bool:
    """Whether importing ``module_name`` would load the file running as ``__main__``."""
    file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not file or script_module_name(file) != module_name:
        return False
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return False
    origin = spec.origin if spec is not None else None
    return origin is not None and os.path.realpath(origin) == os.path.realpath(file)


def find_module(module_name: str) -> ModuleType:
    """Return the module a recorded module name stands for in this process, importing it
    if needed.

    Raises:
        ImportError: The module cannot be imported.
    """
    module_name = _read_from.get(module_name, module_name)
    module = sys.modules.get(module_name)
    if module is not None:
        return module
    if _is_main_script(module_name):
        return sys.modules["__main__"]
    return importlib.import_module(module_name)


def import_type(path: str) -> Any:
    """Import ``module:qualname`` and return the object it names.

    Raises:
        ImportError: The module cannot be imported.
        AttributeError: The module has no such object.
    """
    module_name, _, qualname = path.partition(":")
    obj: Any = find_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def is_pydantic_model(value: Any) -> TypeGuard[BaseModel]:
    """Whether ``value`` is a pydantic model. Without importing pydantic: a value can only
    be a model once pydantic is loaded (a flow that has none never pays for it)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def is_pydantic_class(obj: Any) -> TypeGuard[type[BaseModel]]:
    """Whether ``obj`` is a pydantic model class (see :func:`is_pydantic_model`)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(obj, type) and issubclass(obj, pydantic.BaseModel)
