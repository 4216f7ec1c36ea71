"""Adapters that put Kitaru under the agent harnesses users already picked.

- :mod:`kitaru.adapters.openai_agents`: the OpenAI Agents SDK (extra ``openai-agents``).

Each imports its harness only when it is imported itself.
"""
