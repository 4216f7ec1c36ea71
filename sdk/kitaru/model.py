"""The base of Kitaru's own documents and summaries: typed records read from JSON and
written back, without pydantic.

Why not pydantic: every CLI command, resumed run and run pod is a fresh process, and
importing pydantic and building its models costs such a process more than the rest of
its start-up together (see ``bench/startup.py``). These documents are Kitaru's own,
written by Kitaru and read back by Kitaru, so they need a strict check of their shape
with an error that names the document and the field, not a general validator. The
values users pass through Kitaru (flow inputs, checkpoint values, wait answers) are
still checked by pydantic where their types are pydantic's.

A model is a keyword-only record class (typed as a dataclass is, through
``dataclass_transform``) with the part of pydantic's model API Kitaru uses:
``model_validate``, ``model_validate_json``, ``model_dump``, ``model_dump_json``,
``model_copy`` and ``model_json_schema``. Reading checks every field against its
annotation (``str``, ``int``, ``float``, ``bool``, ``datetime``, ``Literal``,
``X | None``, ``list``, ``dict``, nested models, ``Any``; see :mod:`kitaru.shapes`) and
ignores keys it does not know, so a newer writer's documents stay
readable. Unlike pydantic, constructing a model in code does not check it: mypy does.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar, dataclass_transform

from kitaru.shapes import MISSING, Decode, ShapeError, reader

__all__ = ["Field", "Model", "ModelError"]

M = TypeVar("M", bound="Model")


class ModelError(ValueError):
    """A document does not have the shape its model needs.

    Attributes:
        model: The model's name.
        loc: Where in the document: field names and list positions.
        reason: What is wrong there, in plain words.
    """

    def __init__(self, model: str, loc: tuple[str | int, ...], reason: str) -> None:
        self.model, self.loc, self.reason = model, loc, reason
        where = ".".join(str(part) for part in loc)
        super().__init__(f"{model}: {where}: {reason}" if where else f"{model}: {reason}")


class FieldSpec:
    """What :func:`Field` declares about a field (kept as the class's ``__kitaru_fields__``)."""

    __slots__ = ("default", "default_factory", "description", "ge")

    def __init__(self, default: Any = MISSING, default_factory: Callable[[], Any] | Any =
                 MISSING, description: str | None = None, ge: int | None = None) -> None:
        self.default, self.default_factory = default, default_factory
        self.description, self.ge = description, ge

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.default_factory is MISSING


def Field(  # noqa: N802  (named as pydantic's, which it stands in for)
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | Any = MISSING,
    description: str | None = None,
    ge: int | None = None,
) -> Any:
    """A field with a default, a description (for readers of the code and the docs) and
    optionally a lower bound ``ge`` that reading checks."""
    return FieldSpec(default, default_factory, description, ge)


def _encode(value: Any, exclude_none: bool) -> Any:
    """``model_dump``'s value: nested models as dicts, containers copied."""
    if isinstance(value, Model):
        return value.model_dump(exclude_none=exclude_none)
    if isinstance(value, dict):
        return {k: _encode(v, exclude_none) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v, exclude_none) for v in value]
    return value


def _json_default(exclude_none: bool) -> Callable[[Any], Any]:
    """What the JSON encoder calls for what it cannot write itself: a model becomes the
    object of its fields, a datetime ISO 8601 text with UTC as "Z" (as pydantic wrote it,
    and as older journals hold it)."""
    def default(value: Any) -> Any:
        if isinstance(value, Model):
            fields = value.__dict__  # the fields, in order, when it holds nothing else
            if len(fields) != len(value.__kitaru_fields__):
                fields = {name: getattr(value, name) for name in value.__kitaru_fields__}
            return {k: v for k, v in fields.items() if v is not None} if exclude_none else fields
        if isinstance(value, datetime):
            text = value.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        raise TypeError(f"a {type(value).__name__} value cannot be written as JSON")
    return default


#: The C encoder, with and without None fields (records are written compact, in UTF-8).
_ENCODERS = {flag: json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                                    check_circular=False, default=_json_default(flag))
             for flag in (False, True)}


@dataclass_transform(kw_only_default=True, field_specifiers=(Field,))
class Model:
    """A keyword-only record read from and written to JSON; see the module's doc.

    Fields are the class's annotations, with :func:`Field` or a plain value as their
    default, inherited fields first.
    """

    __kitaru_fields__: ClassVar[dict[str, FieldSpec]] = {}
    _reader: ClassVar[Decode | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Not a dataclass: dataclasses imports inspect (and ast, dis, tokenize), which
        # costs every command more than all of these classes together.
        super().__init_subclass__(**kwargs)
        fields = dict(cls.__kitaru_fields__)
        # The class's own annotations (inspect.get_annotations would import inspect).
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        for name, annotation in own.items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            declared = cls.__dict__.get(name, MISSING)
            spec = declared if isinstance(declared, FieldSpec) else FieldSpec(declared)
            if isinstance(spec.default, list | dict | set):
                raise TypeError(f"{cls.__name__}.{name}: a mutable default is shared by "
                                "every instance; use Field(default_factory=...)")
            if spec.default is MISSING and name in cls.__dict__:
                delattr(cls, name)  # a Field without a default: not a class attribute
            elif isinstance(declared, FieldSpec):
                setattr(cls, name, spec.default)
            fields[name] = spec
        cls.__kitaru_fields__ = fields

    def __init__(self, **values: Any) -> None:
        fields = type(self).__kitaru_fields__
        unknown = values.keys() - fields.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) "
                            f"{', '.join(sorted(unknown))}")
        state = self.__dict__
        for name, spec in fields.items():
            if name in values:
                state[name] = values[name]
            elif spec.default is not MISSING:
                state[name] = spec.default
            elif spec.default_factory is not MISSING:
                state[name] = spec.default_factory()
            else:
                raise TypeError(f"{type(self).__name__}() missing keyword argument {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name)
                   for name in self.__kitaru_fields__)

    __hash__ = None  # type: ignore[assignment]  # mutable, as pydantic's models are

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__kitaru_fields__)
        return f"{type(self).__name__}({shown})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """How pydantic validates, serializes and describes the model when it meets one
        (an MCP tool's result, a FastAPI response): as the object of its fields."""
        from pydantic_core import core_schema as cs

        hints = typing.get_type_hints(cls)
        shape = cs.typed_dict_schema({
            name: cs.typed_dict_field(handler.generate_schema(hints[name]),
                                      required=spec.required)
            for name, spec in cls.__kitaru_fields__.items()})
        made = cs.no_info_after_validator_function(lambda fields: cls(**fields), shape)
        return cs.json_or_python_schema(
            json_schema=made,
            python_schema=cs.union_schema([cs.is_instance_schema(cls), made]),
            serialization=cs.plain_serializer_function_ser_schema(
                lambda model: {name: getattr(model, name) for name in cls.__kitaru_fields__},
                return_schema=shape),
            ref=f"{cls.__module__}.{cls.__qualname__}",
        )

    @classmethod
    def _from(cls: type[M], data: Any, loc: tuple[str | int, ...]) -> M:
        read = cls.__dict__.get("_reader")
        if read is None:
            # Made on first read, so a process pays only for the models it reads.
            hints = typing.get_type_hints(cls)
            read = reader(cls, [(name, hints[name], spec.default, spec.default_factory,
                                 spec.ge) for name, spec in cls.__kitaru_fields__.items()])
            cls._reader = read
        made: M = read(data, loc)
        return made

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        """The JSON schema of the model as it is written (pydantic makes it)."""
        from pydantic import TypeAdapter

        schema: dict[str, Any] = TypeAdapter(cls).json_schema(mode="serialization")
        return schema

    @classmethod
    def model_validate(cls: type[M], data: Any) -> M:
        """Read a model from Python data (as ``json.loads`` gives it).

        Raises:
            ModelError: naming the model, the field and what is wrong with it.
        """
        try:
            return cls._from(data, ())
        except ShapeError as problem:
            raise ModelError(cls.__name__, problem.loc, problem.reason) from None

    @classmethod
    def model_validate_json(cls: type[M], data: str | bytes) -> M:
        """Read a model from JSON text.

        Raises:
            ModelError: The text is not JSON, or not of the model's shape.
        """
        try:
            # Records are UTF-8: decoded here, json.loads need not guess the encoding.
            parsed = json.loads(data.decode() if isinstance(data, bytes) else data)
        except json.JSONDecodeError as exc:
            reason = f"invalid JSON: {exc.msg[:1].lower()}{exc.msg[1:]} at line {exc.lineno} " \
                     f"column {exc.colno}"
            raise ModelError(cls.__name__, (), reason) from None
        except UnicodeDecodeError as exc:
            raise ModelError(cls.__name__, (), f"invalid UTF-8: {exc.reason}") from None
        return cls.model_validate(parsed)

    def model_dump(self, *, mode: Literal["python", "json"] = "python",
                   exclude_none: bool = False) -> dict[str, Any]:
        """The fields as a dict (nested models as dicts); ``mode="json"`` gives what JSON
        can hold (date-times as ISO 8601 text), as :meth:`model_dump_json` writes it."""
        if mode == "json":
            dumped: dict[str, Any] = json.loads(self.model_dump_json(exclude_none=exclude_none))
            return dumped
        return {name: _encode(value, exclude_none)
                for name in self.__kitaru_fields__
                if not ((value := getattr(self, name)) is None and exclude_none)}

    def model_dump_json(self, *, indent: int | None = None, exclude_none: bool = False) -> str:
        """The model as JSON text."""
        if indent is None:
            return _ENCODERS[exclude_none].encode(self)
        return json.dumps(self, indent=indent, ensure_ascii=False,
                          default=_json_default(exclude_none))

    def model_copy(self: M, *, update: dict[str, Any] | None = None, deep: bool = False) -> M:
        """A copy with the fields in ``update`` replaced (not checked, as in pydantic)."""
        unknown = (update or {}).keys() - self.__kitaru_fields__.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))}")
        if deep:
            import copy

            made: M = copy.deepcopy(self)
        else:
            made = object.__new__(type(self))
            made.__dict__.update(self.__dict__)
        made.__dict__.update(update or {})
        return made

