"""Settings (saved in the .blend, on the Scene) and add-on preferences (saved in Blender's user prefs).

Nothing secret lives here: API keys come from the provider's environment variables (for example
``OPENAI_API_KEY``), never from a Scene property, which would be saved into the .blend file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import AddonPreferences, Context, PropertyGroup, UILayout

from .core.accounting.budget import Limits

ADDON_ID = __package__ or "screenwriter_llm"
#: Preference field per provider key environment variable (the order they are drawn in).
KEY_FIELDS = {
    "OPENAI_API_KEY": "openai_api_key",
    "ANTHROPIC_API_KEY": "anthropic_api_key",
    "GEMINI_API_KEY": "gemini_api_key",
    "AZURE_API_KEY": "azure_api_key",
    "OPENROUTER_API_KEY": "openrouter_api_key",
}


class SCREENWRITER_PG_settings(PropertyGroup):
    """Per-scene model settings (``bpy.types.Scene.screenwriter``)."""

    model: StringProperty(  # type: ignore[valid-type]
        name="Model",
        description=(
            "LiteLLM model string, 'provider/model': openai/gpt-4o-mini, anthropic/claude-sonnet-4-5, "
            "ollama_chat/llama3.1, or any model your LiteLLM Proxy serves"
        ),
        default="openai/gpt-4o-mini",
    )
    temperature: FloatProperty(  # type: ignore[valid-type]
        name="Temperature",
        description="Sampling temperature: 0 is most predictable, 2 most varied",
        default=0.7,
        min=0.0,
        max=2.0,
        step=10,
        precision=2,
    )
    stream: BoolProperty(  # type: ignore[valid-type]
        name="Stream",
        description="Write the answer word by word as it arrives (off: the whole answer lands at once)",
        default=True,
    )
    max_tokens: IntProperty(  # type: ignore[valid-type]
        name="Max Tokens",
        description="Upper limit on the length of the answer, in completion tokens",
        default=2048,
        min=16,
        soft_max=16384,
    )
    fallback_models: StringProperty(  # type: ignore[valid-type]
        name="Fallbacks",
        description=(
            "Models to try in order, separated by commas, when the model fails before its first token "
            "(bad key, not found, rate-limited after retries, unavailable)"
        ),
        default="",
    )

    chat_include_scene: BoolProperty(  # type: ignore[valid-type]
        name="Include Current Scene",
        description="Send the scene under the cursor with each chat message",
        default=True,
    )

    def fallback_list(self) -> list[str]:
        """The fallback model strings, in order, without blanks or repeats of the primary model."""
        seen = {self.model.strip()}
        models = []
        for model in (m.strip() for m in self.fallback_models.split(",")):
            if model and model not in seen:
                seen.add(model)
                models.append(model)
        return models


class SCREENWRITER_AP_preferences(AddonPreferences):
    """Add-on preferences: where requests go."""

    bl_idname = ADDON_ID

    api_base: StringProperty(  # type: ignore[valid-type]
        name="API Base",
        description=(
            "Optional custom endpoint: a local server (http://localhost:11434 for Ollama, "
            "http://localhost:1234/v1 for LM Studio) or your team's LiteLLM Proxy. Empty: the provider's own"
        ),
        default="",
    )

    openai_api_key: StringProperty(  # type: ignore[valid-type]
        name="OpenAI", description="Used when OPENAI_API_KEY is not set and the keyring has none", subtype="PASSWORD"
    )
    anthropic_api_key: StringProperty(  # type: ignore[valid-type]
        name="Anthropic",
        description="Used when ANTHROPIC_API_KEY is not set and the keyring has none",
        subtype="PASSWORD",
    )
    gemini_api_key: StringProperty(  # type: ignore[valid-type]
        name="Gemini", description="Used when GEMINI_API_KEY is not set and the keyring has none", subtype="PASSWORD"
    )
    azure_api_key: StringProperty(  # type: ignore[valid-type]
        name="Azure", description="Used when AZURE_API_KEY is not set and the keyring has none", subtype="PASSWORD"
    )
    openrouter_api_key: StringProperty(  # type: ignore[valid-type]
        name="OpenRouter",
        description="Used when OPENROUTER_API_KEY is not set and the keyring has none",
        subtype="PASSWORD",
    )
    proxy_api_key: StringProperty(  # type: ignore[valid-type]
        name="Proxy Key",
        description="Key for the custom endpoint above (a LiteLLM Proxy virtual key), when the provider has none",
        subtype="PASSWORD",
    )

    def key_for(self, env_var: str) -> str | None:
        """The preference field for the provider whose environment variable is ``env_var``, or None."""
        field = KEY_FIELDS.get(env_var)
        return str(getattr(self, field)) or None if field else None

    def set_key(self, env_var: str, value: str) -> None:
        """Set (or clear, with "") the preference field for ``env_var``."""
        setattr(self, KEY_FIELDS[env_var], value)

    use_cache: BoolProperty(  # type: ignore[valid-type]
        name="Cache Identical Requests",
        description=(
            "Answer a request identical to an earlier one (same model and text, temperature 0) from a local "
            "cache, without calling the provider and at no cost"
        ),
        default=False,
    )
    daily_limit_usd: FloatProperty(  # type: ignore[valid-type]
        name="Daily Limit (USD)", description="Refuse requests that would spend more today (0: no limit)", min=0.0
    )
    monthly_limit_usd: FloatProperty(  # type: ignore[valid-type]
        name="Monthly Limit (USD)",
        description="Refuse requests that would spend more this month (0: no limit)",
        min=0.0,
    )
    daily_limit_tokens: IntProperty(  # type: ignore[valid-type]
        name="Daily Limit (Tokens)",
        description="Refuse requests that would use more tokens today (0: no limit)",
        min=0,
    )
    monthly_limit_tokens: IntProperty(  # type: ignore[valid-type]
        name="Monthly Limit (Tokens)",
        description="Refuse requests that would use more tokens this month (0: no limit)",
        min=0,
    )
    confirm_over_usd: FloatProperty(  # type: ignore[valid-type]
        name="Confirm Over (USD)",
        description="Ask before one request that could cost more than this (0: never ask)",
        min=0.0,
    )
    input_usd_per_mtok: FloatProperty(  # type: ignore[valid-type]
        name="Input Rate",
        description="USD per million input tokens, for models LiteLLM has no price for (0: cost unknown)",
        min=0.0,
    )
    output_usd_per_mtok: FloatProperty(  # type: ignore[valid-type]
        name="Output Rate",
        description="USD per million output tokens, for models LiteLLM has no price for (0: cost unknown)",
        min=0.0,
    )
    default_context_window: IntProperty(  # type: ignore[valid-type]
        name="Default Context Window",
        description="Tokens, for models whose context window LiteLLM does not know (local models)",
        default=8192,
        min=512,
    )

    def limits(self) -> Limits:
        """The budgets as :class:`core.budget.Limits` (0 means off)."""
        return Limits(
            daily_usd=self.daily_limit_usd or None,
            daily_tokens=self.daily_limit_tokens or None,
            monthly_usd=self.monthly_limit_usd or None,
            monthly_tokens=self.monthly_limit_tokens or None,
            confirm_usd=self.confirm_over_usd or None,
        )

    def custom_rates(self) -> tuple[float, float] | None:
        """The user's rates in USD per token, or None when unset."""
        if not self.input_usd_per_mtok and not self.output_usd_per_mtok:
            return None
        return (self.input_usd_per_mtok / 1e6, self.output_usd_per_mtok / 1e6)

    max_retries: IntProperty(  # type: ignore[valid-type]
        name="Max Retries",
        description=(
            "Retries when the provider is busy or down (HTTP 429, 5xx, 529, connection errors) before the "
            "first token, with growing waits of 1, 2, 4, 8, 16 s (or the provider's Retry-After)"
        ),
        default=5,
        min=0,
        max=10,
    )
    first_token_timeout: FloatProperty(  # type: ignore[valid-type]
        name="First Token Timeout",
        description="Seconds to wait for the first words of an answer before giving up",
        default=30.0,
        min=1.0,
        soft_max=300.0,
        subtype="TIME_ABSOLUTE",
        unit="TIME_ABSOLUTE",
    )
    stall_timeout: FloatProperty(  # type: ignore[valid-type]
        name="Stall Timeout",
        description="Seconds of silence in the middle of an answer before it is treated as broken off",
        default=30.0,
        min=1.0,
        soft_max=300.0,
        subtype="TIME_ABSOLUTE",
        unit="TIME_ABSOLUTE",
    )
    total_timeout: FloatProperty(  # type: ignore[valid-type]
        name="Total Limit",
        description="Longest time one analysis may take, retries included",
        default=600.0,
        min=10.0,
        soft_max=3600.0,
        subtype="TIME_ABSOLUTE",
        unit="TIME_ABSOLUTE",
    )

    def draw(self, context: Context) -> None:
        from . import operators, pump  # the preferences module is registered first; these import it

        layout: UILayout = self.layout
        layout.prop(self, "api_base")
        if self.api_base:
            layout.prop(self, "proxy_api_key")

        box = layout.box()
        box.label(text="API Keys: environment variable, then system keyring, then these fields", icon="LOCKED")
        for env_var, field in KEY_FIELDS.items():
            row = box.row(align=True)
            if os.environ.get(env_var):
                row.label(text=f"{env_var} set in the environment", icon="CHECKMARK")
                continue
            if operators.cached_keyring_get(env_var):
                row.label(text=f"{env_var} in the system keyring", icon="CHECKMARK")
                continue
            row.prop(self, field)
            op = row.operator("screenwriter.store_key", text="", icon="KEYINGSET")
            op.env_var = env_var  # type: ignore[union-attr]
        box.label(text="Keys are never saved in .blend files, prompts or output Texts.", icon="INFO")

        row = layout.row()
        row.operator("screenwriter.test_connection", icon="URL")
        status = pump.STATUS.get(operators.CONNECTION_TEST)
        if status:
            row.label(text=status)

        col = layout.column(heading="Budgets")
        row = col.row(align=True)
        row.prop(self, "daily_limit_usd")
        row.prop(self, "monthly_limit_usd")
        row = col.row(align=True)
        row.prop(self, "daily_limit_tokens")
        row.prop(self, "monthly_limit_tokens")
        col.prop(self, "confirm_over_usd")
        col = layout.column(heading="Cost and Context")
        row = col.row(align=True)
        row.prop(self, "input_usd_per_mtok")
        row.prop(self, "output_usd_per_mtok")
        col.prop(self, "default_context_window")
        col.prop(self, "use_cache")
        col = layout.column(heading="Reliability")
        col.prop(self, "max_retries")
        col.prop(self, "first_token_timeout")
        col.prop(self, "stall_timeout")
        col.prop(self, "total_timeout")


def preferences(context: Context | None = None) -> SCREENWRITER_AP_preferences | None:
    """The add-on preferences, or None when the add-on is not enabled under :data:`ADDON_ID`
    (registered by calling ``register()`` directly rather than through Blender's add-on system)."""
    prefs = (context or bpy.context).preferences
    addon = prefs.addons.get(ADDON_ID) if prefs else None
    return cast(SCREENWRITER_AP_preferences, addon.preferences) if addon else None


def settings(context: Context) -> SCREENWRITER_PG_settings:
    """The active scene's ``Scene.screenwriter`` settings. Raises ``RuntimeError`` without a scene."""
    if context.scene is None:
        raise RuntimeError("Screenwriter LLM needs an active scene")
    return cast(SCREENWRITER_PG_settings, context.scene.screenwriter)  # type: ignore[attr-defined]


classes = (SCREENWRITER_PG_settings, SCREENWRITER_AP_preferences)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    """Register the classes and attach ``Scene.screenwriter``."""
    _register()
    bpy.types.Scene.screenwriter = PointerProperty(type=SCREENWRITER_PG_settings)  # type: ignore[attr-defined]
    # The chat draft is per session (WindowManager properties are not saved in the .blend).
    bpy.types.WindowManager.screenwriter_chat_message = StringProperty(  # type: ignore[attr-defined]
        name="Message", description="Your message to the assistant about this script"
    )


def unregister() -> None:
    """Detach ``Scene.screenwriter`` and unregister the classes."""
    del bpy.types.WindowManager.screenwriter_chat_message  # type: ignore[attr-defined]
    del bpy.types.Scene.screenwriter  # type: ignore[attr-defined]
    _unregister()


def data_dir() -> Path:
    """The add-on's own user directory (usage ledger, response cache), created on demand: the
    extension's user directory (``bpy.utils.extension_path_user``, Blender 4.2+) or, for the legacy
    add-on, ``<Blender config>/screenwriter_llm``."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_ID, create=True))
    except (ValueError, AttributeError):  # not installed as an extension / Blender before 4.2
        return Path(bpy.utils.user_resource("CONFIG", path="screenwriter_llm", create=True))
