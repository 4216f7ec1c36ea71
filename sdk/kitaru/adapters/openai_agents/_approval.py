"""``wait_for_approval``: the SDK's tool approval as a durable ``kitaru.wait()``.

The run that stopped is already stored (its RunState is in a checkpoint's value), so the
wait holds no process or pod and its payload holds no state: only the question, the
tool calls it is about, and the decisions that come back. The answer is ``true`` or
``false`` (or ``{"approve": false, "message": "..."}``) when one call waits, and an
object with a decision per call id when several do; a call left out stays pending, and
the agent stops at it again.
"""

from __future__ import annotations

from datetime import timedelta

from kitaru.adapters.approvals import ToolDecision, decision_of
from kitaru.adapters.openai_agents._types import OpenAIRunRequest, OpenAIRunResult
from kitaru.errors import KitaruUsageError
from kitaru.waits import wait

#: The decision one tool call gets: a bool, or approve/reject with a message.
Decision = bool | ToolDecision


def wait_for_approval(result: OpenAIRunResult, *, name: str | None = None,
                      timeout: float | timedelta | None = None,
                      denial_message: str = "The tool call was rejected.",
                      ) -> OpenAIRunRequest:
    """Wait durably for decisions on the tool calls ``result`` stopped at; return the
    request that resumes the run with them.

    Args:
        result: An ``interrupted`` result of :class:`KitaruRunner`.
        name: The wait's name (default ``approve_tool``).
        timeout: As for ``kitaru.wait``.
        denial_message: What the model is told when a call is rejected without a message.
    """
    if result.status != "interrupted" or not result.interruptions:
        raise KitaruUsageError("wait_for_approval(): the run did not stop for approval "
                               f"(status {result.status!r})")
    calls = result.interruptions
    described = [{"tool": c.tool_name, "call_id": c.call_id, "arguments": c.arguments}
                 for c in calls]
    if len(calls) == 1:
        call = calls[0]
        answer = wait(schema=Decision, name=name or "approve_tool", timeout=timeout,
                      question=f"Approve tool call {call.tool_name}({call.arguments}) "
                      f"[{call.call_id}]?", metadata={"adapter": "openai-agents",
                                                      "tool_calls": described})
        answers = {call.call_id: answer}
    else:
        answers = wait(schema=dict[str, Decision], name=name or "approve_tool",
                       timeout=timeout, metadata={"adapter": "openai-agents",
                                                  "tool_calls": described},
                       question=f"Approve {len(calls)} tool calls? Answer with a decision "
                       f"per call id: {', '.join(c.call_id for c in calls)}")
    decisions = {call_id: decision_of(answer, denial_message)
                 for call_id, answer in answers.items()}
    return OpenAIRunRequest.resume(result, decisions)
