"""``kitaru.llm()``: one model call, recorded as its own checkpoint.

In a flow the call is a checkpoint of type ``llm_call``: its response is stored like any
checkpoint's result, so a resume, a retry or a replay that reaches it again reads the
answer instead of paying for it twice. The prompt is kept as an artifact of the call,
and the call's usage (tokens, latency, estimated cost) as its metadata under
:data:`USAGE_KEY`, which ``kitaru executions get`` adds up per execution. Outside a
flow it is a plain model call.

Models are named ``provider:model`` (a bare name means OpenAI):

- ``openai:<model>``: OpenAI, or any OpenAI-compatible endpoint set by
  ``OPENAI_BASE_URL`` (vLLM, LiteLLM, a gateway); key ``OPENAI_API_KEY``;
- ``azure:<deployment>``: Azure OpenAI (``AZURE_OPENAI_API_KEY``,
  ``AZURE_OPENAI_ENDPOINT``, ``OPENAI_API_VERSION``);
- ``ollama:<model>``: Ollama's OpenAI-compatible API (``OLLAMA_BASE_URL``, default
  ``http://localhost:11434/v1``; no key);
- ``openrouter:<model>``: OpenRouter (``OPENROUTER_API_KEY``);
- ``anthropic:<model>``: Anthropic's Messages API with its own client
  (``ANTHROPIC_API_KEY``; ``ANTHROPIC_BASE_URL`` to point elsewhere).

``KITARU_LLM_MODEL`` names the default model. Costs are estimated with the
``genai-prices`` tables where they know the model, and left out where they do not.
"""

from __future__ import annotations

import os
import time
from typing import Any, NamedTuple

from kitaru.artifacts import log, save
from kitaru.checkpoint import Checkpoint
from kitaru.errors import KitaruUsageError

#: The checkpoint metadata key that holds a model call's usage.
USAGE_KEY = "kitaru.usage"

_PROVIDERS = ("openai", "azure", "ollama", "openrouter", "anthropic")


class Ask(NamedTuple):
    """What one call asks of a model."""

    prompt: str
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class Reply(NamedTuple):
    """What a provider answered, in the provider-neutral terms the record keeps."""

    text: str
    input_tokens: int
    output_tokens: int


def llm(prompt: str, *, model: str | None = None, system: str | None = None,
        temperature: float | None = None, max_tokens: int | None = None,
        name: str | None = None) -> str:
    """Ask a model once and return its text; in a flow, a checkpoint of its own.

    Args:
        prompt: The user message.
        model: ``provider:model`` (see the module docs); default ``$KITARU_LLM_MODEL``.
        system: A system prompt.
        temperature: Sampling temperature, when the model takes one.
        max_tokens: The most tokens the answer may have.
        name: The checkpoint's name (default ``llm``; ids ``llm``, ``llm_2``, ...).

    Raises:
        KitaruUsageError: No model was named, the provider is unknown, or its API key is
            not set (the message names the variable).
    """
    chosen = model or os.environ.get("KITARU_LLM_MODEL")
    if not chosen:
        raise KitaruUsageError("kitaru.llm(): no model: pass model='openai:gpt-4o-mini' (or "
                               "another provider:model) or set KITARU_LLM_MODEL")
    from kitaru.context import current_run, current_scope

    provider, model_name = parse_model(chosen)
    _check_credentials(provider)
    if current_run() is None or current_scope() is not None:
        # Outside a flow, or inside a checkpoint (whose own result is what is kept).
        return _call(provider, model_name, Ask(prompt, system, temperature, max_tokens))
    step = _checkpoint(name or "llm")
    result: str = step(prompt, model=f"{provider}:{model_name}", system=system,
                       temperature=temperature, max_tokens=max_tokens)
    return result


def parse_model(text: str) -> tuple[str, str]:
    """Split ``provider:model``; a bare model name is OpenAI's."""
    provider, sep, name = text.partition(":")
    if not sep:
        return "openai", text
    if provider not in _PROVIDERS or not name:
        raise KitaruUsageError(f"kitaru.llm(): model {text!r}: use provider:model with "
                               f"provider one of {', '.join(_PROVIDERS)}")
    return provider, name


def _checkpoint(name: str) -> Checkpoint[..., str]:
    found = _CHECKPOINTS.get(name)
    if found is None:
        found = _CHECKPOINTS[name] = Checkpoint(_model_call, name=name, type="llm_call")
    return found


def _model_call(prompt: str, model: str, system: str | None, temperature: float | None,
                max_tokens: int | None) -> str:
    """The checkpoint body: one call, its prompt saved, its usage logged."""
    from kitaru.context import current_scope

    provider, model_name = parse_model(model)
    scope = current_scope()
    where = scope.checkpoint_id if scope is not None else "llm"
    save(f"{where}.prompt", {"system": system, "prompt": prompt}, type="prompt")
    return _call(provider, model_name, Ask(prompt, system, temperature, max_tokens))


_CHECKPOINTS: dict[str, Checkpoint[..., str]] = {}


def _call(provider: str, model: str, ask: Ask) -> str:
    from kitaru.context import current_scope

    start = time.perf_counter()
    if provider == "anthropic":
        reply = _anthropic(model, ask)
    else:
        reply = _openai_compatible(provider, model, ask)
    usage: dict[str, Any] = {
        "provider": provider, "model": model, "calls": 1,
        "input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
        "latency_seconds": round(time.perf_counter() - start, 3)}
    cost = estimate_cost(provider, model, reply.input_tokens, reply.output_tokens)
    if cost is not None:
        usage["cost_usd"] = cost
    if current_scope() is not None:
        log(**{USAGE_KEY: usage})
    return reply.text


def estimate_cost(provider: str, model: str, input_tokens: int,
                  output_tokens: int) -> float | None:
    """Dollars for a call by the ``genai-prices`` tables; None when they lack the model
    (or the library is not installed)."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    known = {"openai": "openai", "azure": "azure", "anthropic": "anthropic",
             "openrouter": "openrouter"}
    try:
        price = calc_price(Usage(input_tokens=input_tokens, output_tokens=output_tokens),
                           model_ref=model, provider_id=known.get(provider))
    except LookupError:
        return None
    return round(float(price.total_price), 8)


def _check_credentials(provider: str) -> None:
    needed = {"openai": "OPENAI_API_KEY", "azure": "AZURE_OPENAI_API_KEY",
              "openrouter": "OPENROUTER_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(provider)
    if needed and not os.environ.get(needed):
        where = ("on a cluster, put it in the FlowVersion's env from a Secret; locally, "
                 "export it")
        raise KitaruUsageError(f"kitaru.llm(): {provider} needs {needed}, which is not set "
                               f"({where})")


def _openai_compatible(provider: str, model: str, ask: Ask) -> Reply:
    try:
        import openai
    except ImportError:
        raise KitaruUsageError("kitaru.llm(): OpenAI-compatible models need the openai "
                               "package: pip install 'kitaru[llm]'") from None
    client: Any
    if provider == "azure":
        client = openai.AzureOpenAI()
    elif provider == "ollama":
        client = openai.OpenAI(base_url=os.environ.get("OLLAMA_BASE_URL",
                                                       "http://localhost:11434/v1"),
                               api_key="ollama")
    elif provider == "openrouter":
        client = openai.OpenAI(base_url="https://openrouter.ai/api/v1",
                               api_key=os.environ["OPENROUTER_API_KEY"])
    else:
        client = openai.OpenAI()
    messages = ([{"role": "system", "content": ask.system}] if ask.system else []) + [
        {"role": "user", "content": ask.prompt}]
    options: dict[str, Any] = {}
    if ask.temperature is not None:
        options["temperature"] = ask.temperature
    if ask.max_tokens is not None:
        options["max_tokens"] = ask.max_tokens
    response = client.chat.completions.create(model=model, messages=messages, **options)
    usage = response.usage
    return Reply(text=response.choices[0].message.content or "",
                 input_tokens=usage.prompt_tokens if usage else 0,
                 output_tokens=usage.completion_tokens if usage else 0)


def _anthropic(model: str, ask: Ask) -> Reply:
    try:
        import anthropic
    except ImportError:
        raise KitaruUsageError("kitaru.llm(): anthropic: models need the anthropic "
                               "package: pip install 'kitaru[anthropic]'") from None
    options: dict[str, Any] = {}
    if ask.system:
        options["system"] = ask.system
    if ask.temperature is not None:  # no longer a named argument of the client (2.x)
        options["extra_body"] = {"temperature": ask.temperature}
    message = anthropic.Anthropic().messages.create(
        model=model, max_tokens=ask.max_tokens or 1024,
        messages=[{"role": "user", "content": ask.prompt}], **options)
    text = "".join(block.text for block in message.content if block.type == "text")
    return Reply(text=text, input_tokens=message.usage.input_tokens,
                 output_tokens=message.usage.output_tokens)
