"""The cluster commands: ``deploy``, ``invoke``, ``flows`` and ``executions ... --cluster``.

Each connects with the user's kube credentials (``--context``, ``--namespace``, else
``KITARU_KUBE_CONTEXT`` / ``KITARU_NAMESPACE``, else the kubeconfig's current ones).
Reading an execution's checkpoints, logs or artifacts goes to the store its FlowVersion
names, with the user's own store credentials.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from kitaru.cli.loading import import_flow
from kitaru.cli.render import table
from kitaru.client import KitaruClient
from kitaru.cluster.api import Cluster, connect
from kitaru.cluster.executions import ClusterExecutions
from kitaru.cluster.flows import deploy as deploy_flow
from kitaru.cluster.flows import flows, tag, untag
from kitaru.cluster.flows import invoke as invoke_flow
from kitaru.errors import KitaruError, KitaruUsageError


def _cluster(args: argparse.Namespace) -> Cluster:
    return connect(context=getattr(args, "context", None),
                   namespace=getattr(args, "namespace", None))


def _env(pairs: list[str] | None) -> dict[str, str]:
    env = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise KitaruUsageError(f"--env {pair!r}: write it as NAME=value")
        env[key] = value
    return env


def deploy(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru deploy module:flow --image IMG``: a new FlowVersion, and tags moved."""
    del client
    flow = import_flow(args.entrypoint)
    cluster = None if args.dry_run and args.version else _cluster(args)
    manifests = deploy_flow(cluster, args.entrypoint, flow.name, image=args.image or "",
                            version=args.version, tag=args.tag, store=args.store,
                            store_secret=args.store_secret, env=_env(args.env),
                            dry_run=args.dry_run)
    if args.dry_run:
        if args.output == "json":
            print(json.dumps(manifests, indent=2))
            return 0
        try:
            import yaml
        except ImportError:
            raise KitaruUsageError("printing YAML needs PyYAML: pip install 'kitaru[cluster]' "
                                   "(or use -o json)") from None
        print(yaml.safe_dump_all(manifests, sort_keys=False), end="")
        return 0
    fv, flow_obj = manifests[0], manifests[-1]
    tags = ", ".join(f"{k}={v}" for k, v in sorted(flow_obj["spec"]["tags"].items()))
    print(f"deployed FlowVersion {fv['metadata']['name']} (version {fv['spec']['version']}); "
          f"flow {flow_obj['metadata']['name']} tags: {tags}")
    return 0


def invoke(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru invoke FLOW --input JSON [--tag T | --version N] [--wait]``."""
    inputs = json.loads(args.input) if args.input else {}
    if not isinstance(inputs, dict):
        raise KitaruUsageError(f"--input must be a JSON object of the flow's arguments, "
                               f"got {args.input}")
    cluster = _cluster(args)
    name = invoke_flow(cluster, args.flow, tag_name=args.tag, version=args.version,
                       inputs=inputs)
    if not args.wait:
        print(name)
        return 0
    print(f"execution {name} created in namespace {cluster.namespace}", file=sys.stderr)
    return _follow(cluster, name, args)


def _follow(cluster: Cluster, name: str, args: argparse.Namespace) -> int:
    executions = ClusterExecutions(cluster)
    seen = None
    while True:
        obj = cluster.get("executions", name) or {}
        status = obj.get("status") or {}
        phase = status.get("phase") or "Pending"
        if phase != seen:
            seen = phase
            extra = (f" on {status['waitingOn']!r}; answer with: kitaru executions input "
                     f"--cluster {name} --wait {status['waitingOn']} --value <json>"
                     if phase == "Waiting" and status.get("waitingOn") else "")
            print(f"{name}: {phase}{extra}", file=sys.stderr)
        if phase == "Succeeded":
            output = (status.get("output") or {})
            if "value" in output:
                print(json.dumps(output["value"]))
            else:
                store, exec_id = executions.store_of(name, getattr(args, "store", None))
                print(json.dumps(KitaruClient(store).executions.get(exec_id).output))
            return 0
        if phase in ("Failed", "Cancelled"):
            error = status.get("error") or {}
            raise KitaruError(f"execution {name} {phase.lower()}"
                              + (f": {error.get('type')}: {error.get('message')}"
                                 if error else ""))
        time.sleep(0.5)


def flows_list(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru flows list``: flows with versions and tags."""
    del client
    found = flows(_cluster(args))
    if args.output == "json":
        print(json.dumps([f.model_dump() for f in found], indent=2))
        return 0
    rows = [[f.flow, ", ".join(map(str, f.versions)),
             ", ".join(f"{k}->{v}" for k, v in sorted(f.tags.items())),
             str(sum(f.executions.values()))] for f in found]
    print(table(rows, ["FLOW", "VERSIONS", "TAGS", "EXECUTIONS"]))
    return 0


def flows_show(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru flows show FLOW``: each version, its image, tags and executions."""
    del client
    from kitaru.cluster.api import k8s_name

    found = next((f for f in flows(_cluster(args)) if f.flow == k8s_name(args.flow)), None)
    if found is None:
        raise KitaruUsageError(f"no flow {args.flow!r} in this namespace")
    if args.output == "json":
        print(found.model_dump_json(indent=2))
        return 0
    by_version: dict[int, list[str]] = {}
    for name, number in found.tags.items():
        by_version.setdefault(number, []).append(name)
    rows = [[str(v), found.images.get(v, ""), ", ".join(sorted(by_version.get(v, []))),
             str(found.executions.get(v, 0))] for v in found.versions]
    print(f"flow {found.flow}")
    print(table(rows, ["VERSION", "IMAGE", "TAGS", "EXECUTIONS"]))
    return 0


def flows_tag(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru flows tag FLOW TAG --version N`` (rolling back is moving a tag back)."""
    del client
    tags = tag(_cluster(args), args.flow, args.tag, args.version)
    print(", ".join(f"{k}={v}" for k, v in sorted(tags.items())))
    return 0


def flows_untag(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru flows untag FLOW TAG``."""
    del client
    tags = untag(_cluster(args), args.flow, args.tag)
    print(", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "(no tags)")
    return 0


# -- executions ... --cluster --------------------------------------------------------------

def executions(args: argparse.Namespace, local: Callable[[argparse.Namespace,
                                                            KitaruClient], int]) -> int:
    """Run an ``executions`` (or ``artifacts``) command against the cluster."""
    cluster = _cluster(args)
    ex = ClusterExecutions(cluster)
    command = args.command if args.group == "executions" else "artifacts"
    if command == "list":
        found = ex.list(flow=args.flow, phase=args.status)
        if args.output == "json":
            print(json.dumps([e.model_dump() for e in found], indent=2))
        else:
            rows = [[e.name, e.flow or "", str(e.version or ""), e.phase, e.waiting_on or "",
                     e.created_at] for e in found]
            print(table(rows, ["EXECUTION", "FLOW", "VERSION", "PHASE", "WAITING ON",
                               "CREATED"]))
        return 0
    if command == "input":
        value = _value(args.value)
        wait = ex.input(args.exec_id, value=value, wait=args.wait)
        print(f"{args.exec_id}: answer to {wait!r} sent; the operator resumes it")
        return 0
    if command == "retry":
        print(f"{args.exec_id}: retry {ex.retry(args.exec_id)} requested")
        return 0
    if command == "cancel":
        ex.cancel(args.exec_id)
        print(f"{args.exec_id}: cancel requested")
        return 0
    if command == "replay":
        overrides = _value(args.overrides) if args.overrides else None
        print(ex.replay(args.exec_id, at=args.at, overrides=overrides))
        return 0
    if command == "diff":
        store_a, id_a = ex.store_of(args.exec_a, args.store)
        store_b, id_b = ex.store_of(args.exec_b, args.store)
        if store_a != store_b:
            raise KitaruUsageError(f"{args.exec_a} and {args.exec_b} are in different stores "
                                   f"({store_a}, {store_b})")
        return local(argparse.Namespace(**{**vars(args), "exec_a": id_a, "exec_b": id_b}),
                     KitaruClient(store_a))
    # get, logs, artifacts: read the store the Execution's FlowVersion names.
    store, exec_id = ex.store_of(args.exec_id, args.store)
    if command == "get" and args.output != "json":
        summary = ex.get(args.exec_id)
        print(f"cluster:     {cluster.namespace}/{summary.name} ({summary.phase}"
              + (f", waiting on {summary.waiting_on}" if summary.waiting_on else "") + ")")
    return local(argparse.Namespace(**{**vars(args), "exec_id": exec_id}),
                 KitaruClient(store))


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise KitaruUsageError(f"--value is not valid JSON ({exc.msg}): {text!r}; quote "
                               "strings, for example '\"yes\"'") from None


def config_list(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru config list``: each setting and where it comes from."""
    del client
    import os

    from kitaru.cluster import config

    stored = config.read()
    rows = []
    for key, env in config.KEYS.items():
        if os.environ.get(env):
            rows.append([key, os.environ[env], f"${env}"])
        elif key in stored:
            rows.append([key, stored[key], str(config.path())])
        else:
            rows.append([key, "", "(unset)"])
    if args.output == "json":
        print(json.dumps({r[0]: r[1] or None for r in rows}, indent=2))
    else:
        print(table(rows, ["SETTING", "VALUE", "FROM"]))
    return 0


def config_set(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru config set KEY VALUE``."""
    del client
    from kitaru.cluster import config

    print(f"{args.key} = {args.value} ({config.write(args.key, args.value)})")
    return 0


def config_unset(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru config unset KEY``."""
    del client
    from kitaru.cluster import config

    print(f"{args.key} unset ({config.write(args.key, None)})")
    return 0


def schedules(args: argparse.Namespace, client: KitaruClient) -> int:
    """``kitaru schedules list|show|trigger|suspend|resume``."""
    del client
    cluster = _cluster(args)
    if args.command == "list":
        found = cluster.list("schedules")
        if args.output == "json":
            print(json.dumps(found, indent=2))
            return 0
        rows = [[s["metadata"]["name"], " | ".join(s["spec"].get("schedules") or []),
                 s["spec"].get("interval") or "", str(bool(s["spec"].get("suspend"))),
                 (s.get("status") or {}).get("lastSlot") or "",
                 (s.get("status") or {}).get("nextSlot") or "",
                 ", ".join((s.get("status") or {}).get("active") or [])] for s in found]
        print(table(rows, ["SCHEDULE", "CRON", "INTERVAL", "SUSPENDED", "LAST", "NEXT",
                           "ACTIVE"]))
        return 0
    obj = cluster.get("schedules", args.schedule)
    if obj is None:
        raise KitaruUsageError(f"no Schedule {args.schedule!r} in namespace "
                               f"{cluster.namespace}")
    if args.command == "show":
        print(json.dumps({"spec": obj["spec"], "status": obj.get("status") or {}}, indent=2))
    elif args.command in ("suspend", "resume"):
        cluster.patch("schedules", args.schedule,
                      {"spec": {"suspend": args.command == "suspend"}})
        done = "suspended" if args.command == "suspend" else "resumed"
        print(f"schedule {args.schedule}: {done}")
    else:  # trigger: one Execution now, outside the slots
        template = obj["spec"]["template"]
        spec: dict[str, Any] = {"input": template.get("input") or {}}
        if template.get("flowVersion"):
            spec["flowVersion"] = template["flowVersion"]
        else:
            spec.update(flow=template["flow"], tag=template["tag"])
        made = cluster.create("executions", {
            "apiVersion": "kitaru.ai/v1alpha1", "kind": "Execution",
            "metadata": {"generateName": f"{args.schedule[:40]}-manual-",
                         "labels": {"kitaru.ai/schedule": args.schedule}},
            "spec": spec})
        print(made["metadata"]["name"])
    return 0
