"""Where API keys come from, in order: the provider's environment variable, the OS keyring, then the
add-on preferences. Never a Scene/Object/WindowManager/Text property (those are saved in the .blend).

Pure Python: the keyring and the preferences are passed in as functions, so this module never imports
``bpy``; ``keyring`` (the well-kept cross-platform library: macOS Keychain, Windows Credential Locker,
Secret Service) is imported lazily and is optional: without it, or without a usable backend, the
keyring step is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from . import errors
from .redact import redact, redact_key

__all__ = ["KEYRING_SERVICE", "ResolvedKey", "keyring_get", "keyring_set", "redact_key", "resolve_key"]

#: The keyring "service" under which keys are stored; the username is the environment variable name.
KEYRING_SERVICE = "screenwriter_llm"


@dataclass(frozen=True)
class ResolvedKey:
    """A key and where it came from (``environment``, ``keyring``, ``preferences``); ``value`` never
    appears in ``repr``."""

    value: str = field(repr=False)
    source: str
    env_var: str

    @property
    def redacted(self) -> str:
        """The key as it may be shown: ``sk-…abcd`` (:func:`.redact.redact_key`)."""
        return redact_key(self.value)


def keyring_get(env_var: str) -> str | None:
    """The key stored in the OS keyring for ``env_var``, or None (no keyring library, no usable
    backend, nothing stored, or the backend failed: a locked keyring must not break a request)."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, env_var) or None
    except (KeyringError, RuntimeError, OSError):
        return None


def keyring_set(env_var: str, value: str) -> None:
    """Store ``value`` in the OS keyring for ``env_var``.

    Raises ``RuntimeError`` with a message a person can act on when there is no keyring library or no
    usable backend (for example a Linux machine without a Secret Service).
    """
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError as exc:
        raise RuntimeError("The keyring library is not available in this Blender.") from exc
    try:
        keyring.set_password(KEYRING_SERVICE, env_var, value)
    except (KeyringError, RuntimeError, OSError) as exc:
        raise RuntimeError(
            f"No usable system keyring ({redact(str(exc), (value,))}). Keep the key in the "
            f"environment variable {env_var} or in the add-on preferences instead."
        ) from exc


def resolve_key(
    model: str,
    preferences_get: Callable[[str], str | None] = lambda env_var: None,
    keyring_lookup: Callable[[str], str | None] = keyring_get,
) -> ResolvedKey | None:
    """The key for ``model``'s provider: environment variable, then OS keyring, then preferences.

    ``preferences_get(env_var)`` returns the preference field for that provider (``""``/None when
    empty). Returns None when no source has a key.
    """
    env_var = errors.key_env_var(model)
    value = os.environ.get(env_var)
    if value:
        return ResolvedKey(value, "environment", env_var)
    value = keyring_lookup(env_var)
    if value:
        return ResolvedKey(value, "keyring", env_var)
    value = preferences_get(env_var)
    if value:
        return ResolvedKey(value, "preferences", env_var)
    return None
