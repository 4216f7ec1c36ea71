"""What importing Kitaru may import: the budget that keeps start-up fast.

``import kitaru`` (what every flow module, CLI command and run pod does first) loads no
cloud client, no Kubernetes client or operator, no web server, no model SDK, no
JSON-schema validator until a schema is checked, and not even pydantic or the engine
(journal, records) until a flow runs or the client reads a store: defining flows and
checkpoints, and ``kitaru --help``, need none of it. A store or an adapter pulls in its
own library when it is imported, and no other. The commands a user waits on (listing,
answering) and a run pod load neither pydantic nor jsonschema at all, nor inspect and
dataclasses in the commands. The timing is in ``bench/startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Top-level packages no plain ``import kitaru`` may load.
HEAVY = ("boto3", "botocore", "google", "azure", "kopf", "kubernetes", "jsonschema", "yaml",
         "starlette", "uvicorn", "openai", "anthropic", "mcp", "httpx", "pydantic_ai",
         "agents", "genai_prices", "prometheus_client", "cronsim", "playwright")


def loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\n"
         "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"],
        capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_kitaru_loads_none_of_the_heavy_libraries_nor_pydantic() -> None:
    loaded = loaded_after("import kitaru")
    assert "kitaru" in loaded  # the sanity check: the probe does see imports
    assert sorted(loaded & {*HEAVY, "pydantic", "pydantic_core"}) == []


def test_defining_flows_and_the_cli_parser_load_none_of_them_either() -> None:
    defining = ("import kitaru\n@kitaru.checkpoint\ndef step(x: int) -> int:\n    return x\n"
                "@kitaru.flow\ndef agent(x: int) -> int:\n    kitaru.wait(schema=bool)\n"
                "    return step(x)\n")
    assert sorted(loaded_after(defining) & {*HEAVY, "pydantic"}) == []
    assert sorted(loaded_after("from kitaru.cli import build_parser; build_parser()")
                  & {*HEAVY, "pydantic"}) == []
    # A flow module with pydantic models of its own loads pydantic, and no more.
    assert sorted(loaded_after("import tests.sdk.sample_flows") & set(HEAVY)) == []


def test_jsonschema_is_loaded_only_to_refuse_an_answer() -> None:
    accepted = loaded_after("from kitaru.waits import check_answer\n"
                            "check_answer('e', 'ok', {'type': 'boolean'}, True)")
    assert sorted(accepted & {"jsonschema", "pydantic"}) == []
    refused = loaded_after("from kitaru.waits import check_answer\n"
                           "from kitaru.errors import KitaruWaitValidationError\n"
                           "try:\n    check_answer('e', 'ok', {'type': 'boolean'}, 'yes')\n"
                           "except KitaruWaitValidationError as exc:\n    print(exc)")
    assert "jsonschema" in refused


@pytest.mark.parametrize(("module", "own"), [
    ("kitaru.stores.s3", {"boto3", "botocore"}),
    ("kitaru.stores.gcs", {"google"}),
    ("kitaru.stores.azure", {"azure"}),
    # An adapter may load its harness later still; its extra's libraries, nothing else.
    ("kitaru.adapters.openai_agents", {"agents", "openai", "genai_prices", "httpx"}),
    ("kitaru.adapters.pydantic_ai", {"pydantic_ai", "genai_prices", "httpx", "openai"}),
    ("kitaru.ui.server", {"starlette"}),
])
def test_a_store_or_adapter_pulls_in_only_its_own_library(module: str, own: set[str]) -> None:
    loaded = loaded_after(f"import {module}")
    assert sorted(loaded & set(HEAVY) - own) == []


def test_standard_types_kitaru_does_not_import_still_round_trip() -> None:
    """uuid, decimal and pathlib are not loaded by `import kitaru`; their values are
    stored as typed JSON once they exist, and read back in a process that never
    imported those modules."""
    stored = subprocess.run([sys.executable, "-c", (
        "import kitaru.serialization as s, uuid, decimal, pathlib\n"
        "value = {'id': uuid.UUID(int=7), 'price': decimal.Decimal('1.10'),\n"
        "         'where': pathlib.Path('/tmp/x')}\n"
        "encoded = s.encode(value, allow_pickle=False, where='test')\n"
        "print(encoded.serializer, encoded.type_name, encoded.data.decode())")],
        capture_output=True, text=True, check=True, timeout=60).stdout.split(" ", 2)
    assert stored[0] == "typed-json"
    read = subprocess.run([sys.executable, "-c", (
        "import sys, kitaru.serialization as s\n"
        "assert 'uuid' not in sys.modules and 'decimal' not in sys.modules\n"
        f"value = s.decode({stored[0]!r}, {stored[1]!r}, {stored[2].strip()!r}.encode())\n"
        "print(sorted((k, type(v).__name__, str(v)) for k, v in value.items()))")],
        capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert read == ("[('id', 'UUID', '00000000-0000-0000-0000-000000000007'), "
                    "('price', 'Decimal', '1.10'), ('where', 'PosixPath', '/tmp/x')]")


#: What the commands a user waits on must not load: pydantic and jsonschema (each costs
#: more than the rest of Kitaru), and inspect with dataclasses (ast, dis, tokenize).
COMMAND_BUDGET = {"pydantic", "pydantic_core", "jsonschema", "inspect", "dataclasses"}


def loaded_by_main(module: str, argv: list[str], env: dict[str, str]) -> set[str]:
    """The top-level packages loaded once ``python -m module *argv`` has finished."""
    code = ("import json, runpy, sys\n"
            f"sys.argv = [{module!r}, *{argv!r}]\n"
            "try:\n"
            f"    runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
            "except SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60, env={**os.environ, **env})
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_listing_answering_and_a_run_pod_stay_within_the_command_budget(
        store_uri: str, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {"KITARU_BENCH_MARKS": str(marks), "KITARU_LAUNCH": "spawn"}
    os.environ.update(env)
    from bench.startup_flows import approve, one_step

    waiting = approve.run(topic="kelp").exec_id
    one_step.run(topic="kelp")
    listed = loaded_by_main("kitaru.cli", ["executions", "list"], env)
    assert "kitaru" in listed and sorted(listed & COMMAND_BUDGET) == []
    answered = loaded_by_main("kitaru.cli", ["executions", "input", waiting, "--value",
                                             "true"], env)
    assert sorted(answered & COMMAND_BUDGET) == []
    # A run pod of a flow whose checkpoints take and return plain values: the engine,
    # the store and the flow's module, and none of those.
    pod = loaded_by_main("kitaru.runtime", [], {
        **env, "KITARU_EXECUTION_ID": "pod-1", "KITARU_RUN": "1",
        "KITARU_ENTRYPOINT": "bench.startup_flows:one_step",
        "KITARU_INPUT": '{"topic": "kelp"}', "KITARU_TERMINATION_LOG": os.devnull})
    assert "kitaru" in pod and sorted(pod & {"pydantic", "jsonschema", "argparse"}) == []
