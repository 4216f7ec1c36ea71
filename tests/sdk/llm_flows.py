"""Flows that call models through ``kitaru.llm()`` (tests point them at a fake API)."""

from __future__ import annotations

import kitaru
from kitaru import flow


@flow
def summarize_and_approve(topic: str) -> str:
    outline = kitaru.llm(f"Outline {topic}", model="openai:gpt-4o-mini", name="outline")
    draft = kitaru.llm(f"Write from: {outline}", model="openai:gpt-4o-mini",
                       system="You write briefly.", max_tokens=200, name="draft")
    if not kitaru.wait(name="publish", schema=bool, question="Publish the draft?"):
        return "rejected"
    return draft


@flow
def ask_claude(question: str) -> str:
    return kitaru.llm(question, model="anthropic:claude-sonnet-4-5", temperature=0.2)
