"""API keys for the bpy layer: environment, OS keyring (cached: a keyring lookup can take a moment), add-on
preferences; and which models need a key they do not have.

The keyring is asked at most once per provider per session, when a request is planned or the preferences
are drawn after :func:`forget` (never on every redraw of a panel). Keys never go into a Scene property, a
Text, a log or a message (DESIGN.md, "Keys").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from .core.provider import errors, keys, netgate

#: Placeholder key for OpenAI-compatible servers on this machine, which need none but whose SDK refuses to
#: start without one. Never sent anywhere but loopback.
LOCAL_PLACEHOLDER_KEY = "sk-local-no-key-needed"

_keyring: dict[str, str | None] = {}


def keyring_get(env_var: str) -> str | None:
    """:func:`core.provider.keys.keyring_get`, remembered for the session; :func:`forget` after storing a key."""
    if env_var not in _keyring:
        _keyring[env_var] = keys.keyring_get(env_var)
    return _keyring[env_var]


def forget() -> None:
    """Drop remembered keyring lookups (after a key was stored, and at unregister)."""
    _keyring.clear()


def key_for_model(
    model: str, api_base: str | None, preference_key: Callable[[str], str | None], proxy_key: str | None
) -> tuple[str | None, str | None]:
    """The key to pass to LiteLLM for ``model``, and the message when it needs one and has none.

    Order: the provider's environment variable, the OS keyring, the preference field; then, with a custom
    endpoint, the proxy key of the preferences; a placeholder for OpenAI-compatible servers on this machine.

    Returns:
        ``(key, error)``: ``key`` None lets LiteLLM use the provider's other credentials (Azure AD, AWS,
        Vertex...); ``error`` is a message saying where to put the key, or None.
    """
    resolved = keys.resolve_key(model, preference_key, keyring_get)
    if resolved is not None:
        return resolved.value, None
    if api_base and proxy_key:
        return proxy_key, None
    provider = model.split("/", 1)[0] if "/" in model else ""
    if netgate.is_loopback_endpoint(model, api_base):
        return (LOCAL_PLACEHOLDER_KEY if provider in ("openai", "") else None), None
    if api_base or provider not in errors.PROVIDER_KEY_ENV:
        return None, None  # a proxy or a provider with other credentials: let LiteLLM decide
    env = errors.key_env_var(model)
    return None, (
        f"No API key for {model}: set the {env} environment variable before starting Blender, store the key "
        "in the add-on preferences (Edit > Preferences > Add-ons > Screenwriter LLM), or choose a local "
        "model (for example ollama_chat/llama3.1)."
    )


def known_secrets(preference_keys: Iterable[str | None] = ()) -> tuple[str, ...]:
    """Every key the add-on knows now: the provider environment variables that are set, the keyring values looked
    up this session, and ``preference_keys`` (the preference fields and the proxy key). The sinks redact these
    from model output before it is written (an endpoint that echoes the key must not land it in a Text)."""
    found = {os.environ.get(env_var) for env_var in errors.PROVIDER_KEY_ENV.values()}
    found |= set(_keyring.values())
    found |= set(preference_keys)
    return tuple(sorted(value for value in found if value and value != LOCAL_PLACEHOLDER_KEY))
