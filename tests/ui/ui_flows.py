"""Flows the dashboard tests drive: importable by the run processes the page starts."""

from __future__ import annotations

from pydantic import BaseModel

import kitaru
from kitaru import checkpoint, flow


class Review(BaseModel):
    approved: bool
    comment: str = ""


@checkpoint(type="tool_call")
def fetch(topic: str) -> dict[str, str]:
    print(f"fetching {topic}")
    return {"topic": topic, "text": f"everything about {topic}"}


@checkpoint(type="llm_call")
def summarize(doc: dict[str, str]) -> str:
    kitaru.log(**{"kitaru.usage": {"calls": 1, "input_tokens": 120, "output_tokens": 30,
                                   "cost_usd": 0.0015, "model": "gpt-test"}},
               note="summarized")
    return f"Summary: {doc['text']}"


@checkpoint
def render(summary: str) -> bytes:
    return summary.encode() + b"\x00\xff"


@flow
def report(topic: str) -> str:
    doc = fetch(topic)
    summary = summarize(doc)
    render(summary)
    review = kitaru.wait(name="review", schema=Review, question="Approve the summary?")
    return f"{summary} [{'approved' if review.approved else 'rejected'}: {review.comment}]"


@checkpoint
def square(n: int) -> int:
    return n * n


@flow
def quick(n: int) -> int:
    return square(n)
