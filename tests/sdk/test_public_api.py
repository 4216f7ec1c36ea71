"""The names agent code imports from ``kitaru`` cannot change by accident."""

import kitaru

EXPECTED = {
    "Checkpoint", "CheckpointFuture", "Flow", "FlowHandle", "KitaruClient",
    "KitaruContextError", "KitaruDivergenceError", "KitaruError", "KitaruExecutionError",
    "KitaruSerializationError", "KitaruStateError", "KitaruTimeoutError", "KitaruUsageError",
    "KitaruWaitValidationError", "checkpoint", "current_execution_id", "flow", "is_replay",
    "llm", "load", "log", "register_serializer", "save", "sleep", "wait",
}


def test_public_names_are_pinned() -> None:
    assert set(kitaru.__all__) == EXPECTED
    assert all(hasattr(kitaru, name) for name in EXPECTED)


def test_errors_share_one_base() -> None:
    for name in EXPECTED:
        obj = getattr(kitaru, name)
        if name.endswith("Error"):
            assert issubclass(obj, kitaru.KitaruError)
