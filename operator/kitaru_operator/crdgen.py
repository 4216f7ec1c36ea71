"""Generating ``crds/`` from the pydantic models: ``python -m kitaru_operator.crdgen``.

Pydantic's JSON schema is turned into a structural OpenAPI v3 schema the API server
accepts: references inlined, optional fields unwrapped from ``anyOf [X, null]``, titles
dropped, free-form values marked ``x-kubernetes-preserve-unknown-fields``. CEL rules,
printer columns and short names are added here, next to the resource they belong to.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from kitaru_operator.models import (
    GROUP,
    VERSION,
    ExecutionSpec,
    ExecutionStatus,
    FlowSpec,
    FlowStatus,
    FlowVersionSpec,
    FlowVersionStatus,
    ScheduleSpec,
    ScheduleStatus,
)

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
#: The Helm chart renders the same files (Helm cannot read outside its chart folder).
CHART_CRD_DIR = Path(__file__).resolve().parents[2] / "helm" / "kitaru" / "files" / "crds"


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            return _structural({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "default" and value in (None, [], {}):
            continue
        if key == "properties":
            out[key] = {name: _structural(v, defs) for name, v in value.items()}
        else:
            out[key] = _structural(value, defs)
    if out.get("additionalProperties") is True:
        del out["additionalProperties"]
    if out.get("additionalProperties") == {}:
        out["additionalProperties"] = {"x-kubernetes-preserve-unknown-fields": True}
    if not out or set(out) <= {"description", "default"}:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the structural OpenAPI schema of a model."""
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    return _structural(schema, schema.get("$defs", {}))  # type: ignore[no-any-return]


def _column(name: str, path: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "jsonPath": path, **extra}


def _crd(
    *,
    kind: str,
    plural: str,
    short: list[str],
    spec: dict[str, Any],
    status: dict[str, Any],
    columns: list[dict[str, Any]],
    description: str,
    root_rules: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
        "required": ["spec"],
    }
    if root_rules:
        root["x-kubernetes-validations"] = root_rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                      "singular": kind.lower(), "shortNames": short, "categories": ["kitaru"]},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": root},
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
            }],
        },
    }


def flowversion_crd() -> dict[str, Any]:
    """The FlowVersion CRD: spec immutable once created."""
    spec = openapi_schema(FlowVersionSpec)
    spec["x-kubernetes-validations"] = [{
        "rule": "self == oldSelf",
        "message": "FlowVersion spec is immutable; create a new FlowVersion with the next "
                   "version number instead",
    }]
    return _crd(kind="FlowVersion", plural="flowversions", short=["fv", "flowver"], spec=spec,
                status=openapi_schema(FlowVersionStatus), columns=[
                    _column("Flow", ".spec.flow"),
                    _column("Version", ".spec.version", "integer"),
                    _column("Image", ".spec.image"),
                    _column("Entrypoint", ".spec.entrypoint", priority=1),
                    _column("Age", ".metadata.creationTimestamp", "date"),
                ], description="An immutable, deployable version of a Kitaru flow.")


def flow_crd() -> dict[str, Any]:
    """The Flow CRD: tag routing."""
    return _crd(kind="Flow", plural="flows", short=["kflow"], spec=openapi_schema(FlowSpec),
                status=openapi_schema(FlowStatus), columns=[
                    _column("Tags", ".spec.tags"),
                    _column("Age", ".metadata.creationTimestamp", "date"),
                ], description="A Kitaru flow's routing of tags to FlowVersion numbers.")


def execution_crd() -> dict[str, Any]:
    """The Execution CRD: target rules and the finality of accepted answers."""
    spec = openapi_schema(ExecutionSpec)
    spec["x-kubernetes-validations"] = [
        {"rule": "has(self.flowVersion) != (has(self.flow) || has(self.tag)) || has(self.replay)",
         "message": "set spec.flowVersion, or spec.flow with spec.tag (not both)"},
        {"rule": "has(self.flow) == has(self.tag)",
         "message": "spec.flow and spec.tag go together"},
        {"rule": "!has(oldSelf.flowVersion) || (has(self.flowVersion) && "
                 "self.flowVersion == oldSelf.flowVersion)",
         "message": "spec.flowVersion cannot be changed"},
        {"rule": "self.retry >= oldSelf.retry", "message": "spec.retry can only go up"},
    ]
    status = openapi_schema(ExecutionStatus)
    return _crd(kind="Execution", plural="executions", short=["kex", "kexec"], spec=spec,
                status=status, columns=[
        _column("Flow", ".status.flow"),
        _column("Version", ".status.version", "integer"),
        _column("Phase", ".status.phase"),
        _column("Waiting On", ".status.waitingOn"),
        _column("Until", ".status.pendingWait.deadline"),
        _column("Checkpoints", ".status.checkpoints.count", "integer"),
        _column("Checkpoint Pods", ".status.checkpointPods", "integer"),
        _column("Run", ".status.run", "integer", priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ], description="One run of a Kitaru flow, with its answers to waits and its retry, "
       "cancel and replay requests.")


def answers_policy() -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (CEL): accepted answers in spec.answers are final, and
    spec.input (the flow's arguments) is fixed once the Execution exists.

    CRD rules cannot express either: answers and inputs are free-form JSON, which CRD CEL
    cannot compare, and which answers were accepted lives in status. An admission policy
    sees the whole stored object, so it can refuse changing or removing an accepted answer
    while still letting a rejected one be replaced.
    """
    name = "kitaru-execution-answers-and-input"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [GROUP], "apiVersions": [VERSION], "operations": ["UPDATE"],
                "resources": ["executions"],
            }]},
            "validations": [{
                "expression": "!has(oldObject.status) || "
                              "!has(oldObject.status.acceptedAnswers) || "
                              "oldObject.status.acceptedAnswers.all(k, has(object.spec.answers) "
                              "&& k in object.spec.answers && "
                              "object.spec.answers[k] == oldObject.spec.answers[k])",
                "messageExpression": "'spec.answers: an accepted answer cannot be changed or "
                                     "removed (accepted: ' + "
                                     "oldObject.status.acceptedAnswers.join(', ') + ')'",
                "reason": "Invalid",
            }, {
                "expression": "has(object.spec.input) == has(oldObject.spec.input) && "
                              "(!has(object.spec.input) || "
                              "object.spec.input == oldObject.spec.input)",
                "message": "spec.input: the flow's arguments cannot be changed once the "
                           "Execution exists; answers to waits go in spec.answers, and a "
                           "run with other arguments is a new Execution",
                "reason": "Invalid",
            }],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def schedule_crd() -> dict[str, Any]:
    """The Schedule CRD: Executions started by cron or interval."""
    spec = openapi_schema(ScheduleSpec)
    spec["x-kubernetes-validations"] = [
        {"rule": "size(self.schedules) > 0 || has(self.interval)",
         "message": "set spec.schedules (cron) and/or spec.interval"},
        {"rule": "has(self.template.flowVersion) != (has(self.template.flow) && "
                 "has(self.template.tag))",
         "message": "spec.template: set flowVersion, or flow with tag"},
    ]
    return _crd(kind="Schedule", plural="schedules", short=["ksched"], spec=spec,
                status=openapi_schema(ScheduleStatus), columns=[
                    _column("Schedule", ".spec.schedules"),
                    _column("Interval", ".spec.interval"),
                    _column("Suspended", ".spec.suspend", "boolean"),
                    _column("Last", ".status.lastSlot"),
                    _column("Next", ".status.nextSlot"),
                    _column("Active", ".status.active"),
                    _column("Age", ".metadata.creationTimestamp", "date"),
                ], description="Starts Executions of a flow on a cron schedule or interval.")


def all_crds() -> dict[str, Any]:
    """Return every generated manifest by file name."""
    return {"flowversions.yaml": flowversion_crd(), "flows.yaml": flow_crd(),
            "executions.yaml": execution_crd(), "schedules.yaml": schedule_crd(),
            "policies.yaml": answers_policy()}


def render(manifest: dict[str, Any] | list[dict[str, Any]]) -> str:
    """Return a manifest (or several) as the YAML committed in ``crds/``."""
    header = "# Generated by `python -m kitaru_operator.crdgen` from kitaru_operator/models.py.\n"
    docs = manifest if isinstance(manifest, list) else [manifest]
    return header + yaml.safe_dump_all(docs, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    """Write ``crds/`` and the chart's copy (or, with ``--check``, fail when either differs
    from the models)."""
    parser = argparse.ArgumentParser(prog="python -m kitaru_operator.crdgen")
    parser.add_argument("--check", action="store_true", help="fail when crds/ is stale")
    parser.add_argument("--out", type=Path, default=CRD_DIR)
    args = parser.parse_args(argv)
    stale = []
    folders = [args.out, CHART_CRD_DIR] if args.out == CRD_DIR else [args.out]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for name, crd in all_crds().items():
            path = folder / name
            text = render(crd)
            if args.check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path))
            else:
                path.write_text(text)
    if stale:
        print(f"crds/ is out of date with the models: {', '.join(stale)}; run "
              "python -m kitaru_operator.crdgen", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
