"""The settings snapshot: scene settings, add-on preferences, keys and the online flag, read once.

:func:`from_context` is the only place the request path reads Blender's settings (glTF-Blender-IO's rule: an
operator reads its settings once into plain data and hands that down). Everything below it works on the
plain :class:`~.core.jobs.plan.RequestSettings`. Also where the add-on's user directory and its files are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import bpy
from bpy.types import Context

from . import compat, credentials, endpoints
from .core.accounting.budget import Limits
from .core.jobs.plan import Deadlines, RequestSettings
from .props import ADDON_ID, KEY_FIELDS, SCREENWRITER_AP_preferences, SCREENWRITER_PG_settings

#: Files in the add-on's user directory: the usage ledger and the opt-in response cache (SQLite).
LEDGER_FILE = "usage.sqlite3"
CACHE_FILE = "responses.sqlite3"


def preferences(context: Context | None = None) -> SCREENWRITER_AP_preferences | None:
    """The add-on preferences, or None when the add-on is not enabled under its module name (registered by
    calling ``register()`` directly rather than through Blender's add-on system)."""
    prefs = (context or bpy.context).preferences
    addon = prefs.addons.get(ADDON_ID) if prefs else None
    return cast(SCREENWRITER_AP_preferences, addon.preferences) if addon else None


def scene_settings(context: Context) -> SCREENWRITER_PG_settings:
    """The active scene's ``Scene.screenwriter`` settings. Raises ``RuntimeError`` without a scene."""
    if context.scene is None:
        raise RuntimeError("Screenwriter LLM needs an active scene")
    return cast(SCREENWRITER_PG_settings, context.scene.screenwriter)  # type: ignore[attr-defined]


_data_dirs: dict[str, Path] = {}


def data_dir() -> Path:
    """The add-on's own user directory (usage ledger, response cache, user tasks), created on demand: the
    extension's user directory (``bpy.utils.extension_path_user``, Blender 4.2+) or, for the legacy add-on,
    ``<Blender config>/screenwriter_llm``. Looked up once per user configuration folder (panels ask on every draw;
    each lookup is a few file-system calls)."""
    key = bpy.utils.user_resource("CONFIG")
    cached = _data_dirs.get(key)
    if cached is not None and cached.is_dir():
        return cached
    try:
        folder = Path(bpy.utils.extension_path_user(ADDON_ID, create=True))
    except (ValueError, AttributeError):  # not installed as an extension / Blender before 4.2
        folder = Path(bpy.utils.user_resource("CONFIG", path="screenwriter_llm", create=True))
    _data_dirs[key] = folder
    return folder


def limits(prefs: SCREENWRITER_AP_preferences) -> Limits:
    """The budgets of the preferences as :class:`~.core.accounting.budget.Limits` (0 means off)."""
    return Limits(
        daily_usd=prefs.daily_limit_usd or None,
        daily_tokens=prefs.daily_limit_tokens or None,
        monthly_usd=prefs.monthly_limit_usd or None,
        monthly_tokens=prefs.monthly_limit_tokens or None,
        confirm_usd=prefs.confirm_over_usd or None,
    )


def custom_rates(prefs: SCREENWRITER_AP_preferences | None) -> tuple[float, float] | None:
    """The user's rates in USD per token (the preferences hold USD per million), or None when unset."""
    if prefs is None or (not prefs.input_usd_per_mtok and not prefs.output_usd_per_mtok):
        return None
    return (prefs.input_usd_per_mtok / 1e6, prefs.output_usd_per_mtok / 1e6)


def preference_key(prefs: SCREENWRITER_AP_preferences | None, env_var: str) -> str | None:
    """The preference field holding the key of the provider whose environment variable is ``env_var``."""
    field = KEY_FIELDS.get(env_var)
    return (str(getattr(prefs, field)) or None) if prefs is not None and field else None


def secrets(context: Context | None = None, config: RequestSettings | None = None) -> tuple[str, ...]:
    """Every key the add-on knows (:func:`.credentials.known_secrets`), with those resolved into ``config``."""
    prefs = preferences(context)
    fields = [preference_key(prefs, env_var) for env_var in KEY_FIELDS]
    if prefs is not None:
        fields.append(str(prefs.proxy_api_key) or None)
    if config is not None:
        fields.extend(config.keys.values())
    return credentials.known_secrets(fields)


def fallback_list(model: str, fallbacks: str) -> tuple[str, ...]:
    """The comma-separated fallback models, in order, without blanks or repeats of ``model``."""
    seen = {model.strip()}
    models = []
    for candidate in (m.strip() for m in fallbacks.split(",")):
        if candidate and candidate not in seen:
            seen.add(candidate)
            models.append(candidate)
    return tuple(models)


def from_context(context: Context, **overrides: Any) -> RequestSettings:
    """Read everything a request needs, once, into plain data.

    Args:
        context: Blender's context (the active scene's settings, the preferences).
        overrides: Values that replace the scene's and the preferences': ``model``, ``fallbacks`` (a tuple),
            ``temperature``, ``max_tokens``, ``stream``, ``api_base``, ``mock_response`` (Regenerate runs a stored
            request; the API and the CLI take them as arguments). None values are ignored.

    Returns:
        The snapshot, with the key resolved for each model (environment, keyring, preferences).
    """
    overrides = {name: value for name, value in overrides.items() if value is not None}
    config = scene_settings(context)
    prefs = preferences(context)
    model = str(overrides.get("model", config.model)).strip()
    fallbacks = tuple(overrides.get("fallbacks", fallback_list(model, config.fallback_models)))
    api_base = str(overrides.get("api_base", prefs.api_base if prefs else "")).strip() or None
    proxy_key = (str(prefs.proxy_api_key) or None) if prefs else None
    resolved: dict[str, str | None] = {}
    missing: dict[str, str] = {}
    for candidate in (model, *fallbacks):
        if not candidate or candidate in resolved:
            continue
        key, error = credentials.key_for_model(
            candidate, api_base, lambda env_var: preference_key(prefs, env_var), proxy_key
        )
        resolved[candidate] = key
        if error:
            missing[candidate] = error
    folder = data_dir() if prefs is not None else None
    listed = endpoints.listed(model, api_base)
    return RequestSettings(
        model=model,
        fallbacks=fallbacks,
        temperature=overrides.get("temperature", config.temperature),
        max_tokens=int(overrides.get("max_tokens", config.max_tokens)),
        stream=bool(overrides.get("stream", config.stream)),
        api_base=api_base,
        online=compat.online_access(),
        keys=resolved,
        key_errors=missing,
        deadlines=Deadlines(prefs.first_token_timeout, prefs.stall_timeout, prefs.total_timeout)
        if prefs is not None
        else Deadlines(),
        max_retries=prefs.max_retries if prefs is not None else 5,
        ledger_path=str(folder / LEDGER_FILE) if folder is not None else None,
        cache_path=str(folder / CACHE_FILE) if folder is not None and prefs is not None and prefs.use_cache else None,
        limits=limits(prefs) if prefs is not None else None,
        custom_rates=custom_rates(prefs),
        default_window=prefs.default_context_window if prefs is not None else RequestSettings.default_window,
        mock_response=str(overrides.get("mock_response", "")),
        artist=artist(prefs),
        attribute_title=bool(prefs.send_script_title) if prefs is not None else False,
        listed_models=listed.ids if listed is not None else None,
    )


def artist(prefs: SCREENWRITER_AP_preferences | None) -> str:
    """Who asks, as a studio gateway records it: the Artist preference, else the login name (``getpass.getuser``,
    which reads LOGNAME/USER/USERNAME, then the password database); '' when neither is known."""
    name = str(prefs.artist).strip() if prefs is not None else ""
    if name:
        return name
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return ""
