"""The Kubernetes resources Kitaru defines, as pydantic models.

One source of truth: the operator parses objects with these models, and ``crds/`` is
generated from them (``python -m kitaru_operator.crdgen``), so every ``description`` here
is what ``kubectl explain`` prints. A test fails when ``crds/`` drifts from the models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "kitaru.ai"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

Phase = Literal["Pending", "Running", "Waiting", "Succeeded", "Failed", "Cancelled"]
PHASES: tuple[str, ...] = ("Pending", "Running", "Waiting", "Succeeded", "Failed", "Cancelled")
TERMINAL_PHASES = ("Succeeded", "Failed", "Cancelled")

ANY_JSON: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}


class KubeModel(BaseModel):
    """Base of every resource part: camelCase names on the wire, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


#: A Kubernetes object name (an RFC 1123 subdomain), for fields that name another object:
#: refused by the API server's schema rather than sent to it as a path.
OBJECT_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def object_name(description: str, *, required: bool = False) -> Any:
    """A field naming another object in the namespace."""
    if required:
        return Field(min_length=1, max_length=253, pattern=OBJECT_NAME,
                     description=description)
    return Field(default=None, min_length=1, max_length=253, pattern=OBJECT_NAME,
                 description=description)


# -- FlowVersion ------------------------------------------------------------------------


class SecretRef(KubeModel):
    """A reference to a Secret in the same namespace."""

    name: str = object_name("Name of the Secret.", required=True)


class StoreSpec(KubeModel):
    """Where the flow's checkpoint results, journal and artifacts are stored."""

    uri: str = Field(
        pattern=r"^(s3|gs|az|file)://.+",
        description="Store URI: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix "
        "or file:///path (a volume shared with the operator).",
    )
    credentials_secret: SecretRef | None = Field(
        default=None,
        description="Secret whose keys become the run pod's environment (for example "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, "
        "AZURE_STORAGE_CONNECTION_STRING). The operator reads the store with it too.",
    )


class EnvVar(KubeModel):
    """An environment variable of the run pods."""

    name: str = Field(min_length=1, description="Variable name.")
    value: str = Field(default="", description="Variable value.")


class Placement(KubeModel):
    """Where and how a checkpoint's pod runs. Field names follow the Pod API."""

    image: str | None = Field(default=None, description="Image for this checkpoint's pod "
                              "(for example one with GPU libraries); default the flow's.")
    resources: dict[str, Any] | None = Field(
        default=None, description="Container resources: requests and limits.",
        json_schema_extra=ANY_JSON)
    node_selector: dict[str, str] | None = Field(default=None, description="Pod nodeSelector.")
    tolerations: list[dict[str, Any]] | None = Field(
        default=None, description="Pod tolerations.",
        json_schema_extra={"items": ANY_JSON})
    affinity: dict[str, Any] | None = Field(default=None, description="Pod affinity.",
                                            json_schema_extra=ANY_JSON)
    service_account_name: str | None = Field(default=None, description="Service account "
                                             "of the pod (its token is not mounted).")
    active_deadline_seconds: int | None = Field(default=None, ge=1, description="Longest "
                                                "the pod may run before it is stopped.")
    env: list[EnvVar] = Field(default_factory=list, description="Extra environment.")


class FlowVersionSpec(KubeModel):
    """One immutable, deployable version of a flow. Create a new version to change it."""

    flow: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63,
        description="The flow's name (a DNS label); Flow objects route tags to its versions.",
    )
    version: int = Field(ge=1, description="Version number, unique per flow.")
    image: str = Field(min_length=1, description="Container image with the agent code and "
                       "the kitaru SDK.")
    entrypoint: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$",
        description="The @flow function to run, as module:function.",
    )
    env: list[EnvVar] = Field(default_factory=list, description="Extra environment of the "
                              "run pods.")
    store: StoreSpec | None = Field(
        default=None, description="Artifact store; the operator's default store when omitted."
    )
    retries: int = Field(default=3, ge=0, le=20, description="New runs after an "
                         "infrastructure failure (pod killed, OOM, evicted, or a store that "
                         "stayed unreachable for longer than the run pod retries), with "
                         "backoff.")
    service_account_name: str | None = Field(
        default=None, description="Service account of the run pods (its token is not mounted)."
    )
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Longest one run pod may run before it is stopped."
    )
    image_pull_secrets: list[SecretRef] = Field(default_factory=list, description="Secrets "
                                                "for pulling the images of every pod.")
    pod_labels: dict[str, str] = Field(default_factory=dict, description="Extra labels of "
                                       "every pod (Kitaru's own labels win).")
    pod_annotations: dict[str, str] = Field(default_factory=dict, description="Extra "
                                            "annotations of every pod.")
    security_context: dict[str, Any] | None = Field(
        default=None, description="Pod securityContext of every pod.",
        json_schema_extra=ANY_JSON)
    checkpoint_runtime: Literal["isolated", "inline"] = Field(
        default="isolated", description="Runtime of checkpoints whose code names none: "
        "isolated (each runs in a pod of its own) or inline (in the pod running the flow).")
    parallelism: int = Field(default=10, ge=1, le=1000, description="Checkpoint pods of "
                             "one fan-out (.map, .submit, asyncio.gather) running at once.")
    checkpoint_defaults: Placement | None = Field(
        default=None, description="Placement of every checkpoint pod, unless the "
        "checkpoint has its own in spec.checkpoints.")
    checkpoints: dict[str, Placement] = Field(
        default_factory=dict, description="Placement by checkpoint name; fields set here "
        "win over spec.checkpointDefaults.")

    def placement_of(self, checkpoint: str | None) -> Placement:
        """The placement of a checkpoint's pod (empty for a plain run pod)."""
        if checkpoint is None:
            return Placement()
        merged = (self.checkpoint_defaults or Placement()).model_dump(exclude_none=True)
        merged.update((self.checkpoints.get(checkpoint) or Placement()).model_dump(
            exclude_none=True, exclude_defaults=True))
        return Placement.model_validate(merged)


class FlowVersionStatus(KubeModel):
    """What the operator observed about a FlowVersion."""

    conditions: list[Condition] = Field(default_factory=list, description="Ready, with a reason.")


# -- Flow -------------------------------------------------------------------------------


class FlowSpec(KubeModel):
    """Routing of a flow: tags to version numbers. Roll back by moving a tag."""

    tags: dict[str, int] = Field(
        default_factory=dict, description="Tag name to FlowVersion number, e.g. production: 3."
    )


class FlowStatus(KubeModel):
    """Versions of the flow the operator knows, and where its tags point."""

    versions: list[int] = Field(default_factory=list, description="Known version numbers.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tag name to the "
                                 "FlowVersion it resolves to.")
    conditions: list[Condition] = Field(default_factory=list,
                                        description="Ready: every tag has its FlowVersion.")


# -- Execution --------------------------------------------------------------------------



class ReplaySource(KubeModel):
    """Make this execution a replay of another one."""

    execution: str = object_name("The execution to replay.", required=True)
    from_: str | None = Field(
        default=None, alias="from", description="Checkpoint id to replay from (it and its "
        "dependants run again; everything else is reused)."
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="input.<name>, checkpoint.<id> or "
        "checkpoint.<id>.inputs.<param> to new values.",
        json_schema_extra={"additionalProperties": ANY_JSON},
    )
    skip: list[str] = Field(default_factory=list, description="Checkpoints to reuse even "
                            "when downstream of a replay root.")


class ExecutionSpec(KubeModel):
    """One run of a flow, and the requests users make of it."""

    flow_version: str | None = object_name(
        "Name of the FlowVersion to run. Or give flow and tag.")
    flow: str | None = object_name("Flow name, with tag.")
    tag: str | None = Field(default=None, description="Tag resolved through the Flow's "
                            "spec.tags, once; the resolved version is pinned in status.")
    input: dict[str, Any] = Field(
        default_factory=dict, description="The flow's keyword arguments. Fixed once the "
        "Execution is created (answers to waits go in spec.answers).",
        json_schema_extra=ANY_JSON,
    )
    answers: dict[str, Any] = Field(
        default_factory=dict,
        description="Answers to waits, by wait name. Validated against the wait's JSON "
        "schema; an accepted answer can no longer be changed.",
        json_schema_extra={"additionalProperties": ANY_JSON},
    )
    cancel: bool = Field(default=False, description="Set to true to stop the execution.")
    retry: int = Field(default=0, ge=0, description="Raise by one to retry a Failed execution "
                       "from where it failed; finished checkpoints are reused.")
    replay: ReplaySource | None = Field(default=None, description="Replay another execution.")


class Condition(KubeModel):
    """A standard Kubernetes condition."""

    type: str = Field(description="Succeeded, InputRejected, Ready, ...")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="One CamelCase word.")
    message: str = Field(default="", description="Human-readable detail.")
    observed_generation: int | None = Field(default=None, description="Generation it "
                                            "describes.")
    last_transition_time: datetime | None = Field(default=None, description="When it changed.")


class PendingWait(KubeModel):
    """The wait an execution is stopped at."""

    name: str = Field(description="The wait's name: the key to set in spec.answers.")
    kind: Literal["input", "timer"] = Field(
        default="input", description="input: answered in spec.answers (until the "
        "deadline, if any); timer: kitaru.sleep, continues by itself at the deadline.")
    question: str | None = Field(default=None, description="What the flow asks.")
    schema_: dict[str, Any] | None = Field(
        default=None, alias="schema", description="JSON schema the answer must match.",
        json_schema_extra=ANY_JSON,
    )
    since: datetime | None = Field(default=None, description="When the flow started waiting.")
    deadline: datetime | None = Field(default=None, description="When the wait times out, "
                                      "or the timer is due; the execution then goes on.")


class ErrorStatus(KubeModel):
    """Why an execution failed."""

    type: str = Field(description="Exception class name.")
    message: str = Field(description="Error message (truncated).")
    origin: str = Field(description="user_code, runtime, backend, divergence or "
                        "infrastructure.")


class CheckpointCounts(KubeModel):
    """A bounded summary of the journal: never payloads."""

    count: int = Field(default=0, description="Checkpoints committed.")
    last: list[str] = Field(default_factory=list, description="Ids of the last few "
                            "checkpoints run.")


class OutputRef(KubeModel):
    """Where the flow's return value is stored."""

    digest: str = Field(description="sha256 of the serialized value.")
    type: str = Field(description="Python type of the value.")
    uri: str = Field(default="", description="The store the value is in.")
    value: Any = Field(default=None, description="The value itself, as JSON, when its "
                       "stored form is at most 1 KB of plain JSON (else read it from the "
                       "store by digest).")


class ExecutionStatus(KubeModel):
    """What the operator observed. An index the operator can rebuild from the store and Jobs."""

    phase: Phase = Field(default="Pending", description="Pending, Running, Waiting, Succeeded, "
                         "Failed or Cancelled.")
    flow: str | None = Field(default=None, description="Flow name.")
    flow_version: str | None = Field(default=None, description="Pinned FlowVersion name.")
    version: int | None = Field(default=None, description="Pinned version number.")
    execution_id: str | None = Field(default=None, description="The execution's id in the "
                                     "store, for the kitaru CLI and client "
                                     "(`kitaru executions get <id>`). An Execution deleted "
                                     "and created again under its name gets a new one.")
    run: int = Field(default=0, description="Current or last run number.")
    infra_retries: int = Field(default=0, description="Runs started after infrastructure "
                               "failures.")
    observed_retry: int = Field(default=0, description="spec.retry last acted on.")
    waiting_on: str | None = Field(default=None, description="Name of the pending wait.")
    pending_wait: PendingWait | None = Field(default=None, description="The pending wait.")
    accepted_answers: list[str] = Field(default_factory=list, description="Waits whose "
                                        "answer was accepted (final).")
    checkpoints: CheckpointCounts = Field(default_factory=CheckpointCounts,
                                          description="Journal summary.")
    running_checkpoints: list[str] = Field(default_factory=list, description="Checkpoints "
                                           "whose pods run now (the first few).")
    checkpoint_pods: int = Field(default=0, description="Checkpoint pods running now.")
    output: OutputRef | None = Field(default=None, description="The flow's return value.")
    error: ErrorStatus | None = Field(default=None, description="Why it failed.")
    started_at: datetime | None = Field(default=None, description="First run start.")
    finished_at: datetime | None = Field(default=None, description="When it ended.")
    next_run_after: datetime | None = Field(default=None, description="Backoff before the "
                                            "next run after an infrastructure failure.")
    observed_generation: int | None = Field(default=None, description="Generation last "
                                            "reconciled.")
    conditions: list[Condition] = Field(default_factory=list, description="Succeeded, "
                                        "InputRejected.")


FlowVersionStatus.model_rebuild()


# -- Schedule -----------------------------------------------------------------------------


class ExecutionTemplate(KubeModel):
    """The Execution each slot of a schedule starts."""

    flow_version: str | None = object_name("The FlowVersion to run.")
    flow: str | None = object_name("Or a Flow, with tag.")
    tag: str | None = Field(default=None, description="The Flow's tag (resolved per slot).")
    input: dict[str, Any] = Field(default_factory=dict, description="The flow's arguments.",
                                  json_schema_extra=ANY_JSON)


class ScheduleSpec(KubeModel):
    """When to start Executions of a flow, and what to do with slots that pile up."""

    schedules: list[str] = Field(default_factory=list, description="5-field cron "
                                 "expressions (minute hour day-of-month month day-of-week).")
    interval: str | None = Field(default=None, pattern=r"^[0-9]+(s|m|h|d)$",
                                 description="Every so long, e.g. 30s, 15m, 1h, 1d, from "
                                 "startAt (else the Schedule's creation).")
    timezone: str = Field(default="UTC", description="IANA time zone the cron fields are in.")
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = Field(
        default="Forbid", description="When a slot comes while an earlier Execution runs: "
        "Allow starts another, Forbid skips the slot, Replace deletes the running one.")
    starting_deadline_seconds: int | None = Field(
        default=None, ge=0, description="A slot not started within this long is skipped.")
    catchup_policy: Literal["Latest", "All"] = Field(
        default="Latest", description="Slots missed while the operator was away: only the "
        "latest, or all of them (at most catchupLimit).")
    catchup_limit: int = Field(default=10, ge=1, le=1000,
                               description="With catchupPolicy All, the most slots caught up.")
    suspend: bool = Field(default=False, description="No slot starts while true.")
    start_at: datetime | None = Field(default=None, description="No slot before this time.")
    end_at: datetime | None = Field(default=None, description="No slot after this time.")
    successful_history_limit: int = Field(default=3, ge=0, description="Succeeded "
                                          "Executions kept.")
    failed_history_limit: int = Field(default=1, ge=0, description="Failed Executions kept.")
    template: ExecutionTemplate = Field(description="The Execution each slot starts.")


class ScheduleStatus(KubeModel):
    """What the operator did with a Schedule's slots."""

    last_slot: datetime | None = Field(default=None, description="The newest slot acted on.")
    next_slot: datetime | None = Field(default=None, description="The next slot.")
    active: list[str] = Field(default_factory=list, description="Its Executions still going.")
    last_outcome: str | None = Field(default=None, description="Phase of the newest finished "
                                     "Execution.")
    last_execution: str | None = Field(default=None, description="The newest Execution.")
    conditions: list[Condition] = Field(default_factory=list,
                                        description="Ready: the schedule is valid.")
