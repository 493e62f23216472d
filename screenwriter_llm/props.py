"""Declarations: the per-scene settings (saved in the .blend, on the Scene) and the add-on preferences (saved in
Blender's user preferences, never in a .blend).

The preferences hold one password field per provider (used when neither the provider's environment variable
nor the OS keyring has a key) and the proxy key; a Scene property never holds a key, since it would be saved
into the .blend file. The logic that reads these lives in :mod:`.settings` and :mod:`.credentials`.
"""

from __future__ import annotations

import os
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import AddonPreferences, Context, PropertyGroup, UILayout

from . import credentials, runtime
from .core.accounting.accountant import DEFAULT_CONTEXT_WINDOW
from .core.provider.errors import PROVIDER_KEY_ENV

ADDON_ID = __package__ or "screenwriter_llm"
#: Preference field per provider key environment variable, one for every provider of
#: ``core.provider.errors.PROVIDER_KEY_ENV`` (the one list), drawn in that order.
KEY_FIELDS = {env_var: env_var.lower() for env_var in dict.fromkeys(PROVIDER_KEY_ENV.values())}
#: How each provider is named in the preferences (LiteLLM's provider prefix, title-cased, unless listed here).
_DISPLAY_NAMES = {
    "openai": "OpenAI",
    "openrouter": "OpenRouter",
    "deepseek": "DeepSeek",
    "xai": "xAI",
    "litellm_proxy": "LiteLLM Proxy",
    "together_ai": "Together AI",
    "fireworks_ai": "Fireworks AI",
    "huggingface": "Hugging Face",
}
_PROVIDER_NAMES = {
    env_var: _DISPLAY_NAMES.get(provider, provider.replace("_", " ").title())
    for provider, env_var in reversed(PROVIDER_KEY_ENV.items())
}


def _search_models(self: Any, context: Context, edit_text: str) -> list[tuple[str, str]]:
    """The model field's search-as-you-type: the models the endpoint listed at the last Refresh Models, each with
    its context window and price where known (a dict lookup; never the network)."""
    from . import endpoints

    addon = context.preferences.addons.get(ADDON_ID) if context.preferences else None
    api_base = (str(addon.preferences.api_base).strip() or None) if addon else None
    return endpoints.search(str(self.model), api_base, edit_text)


class SCREENWRITER_PG_settings(PropertyGroup):
    """Per-scene model settings (``bpy.types.Scene.screenwriter``)."""

    model: StringProperty(  # type: ignore[valid-type]
        name="Model",
        description=(
            "LiteLLM model string, 'provider/model': openai/gpt-4o-mini, anthropic/claude-sonnet-4-5, "
            "ollama_chat/llama3.1, or litellm_proxy/<alias> for a model your studio's LiteLLM Proxy serves. "
            "Refresh Models lists what the endpoint offers"
        ),
        default="openai/gpt-4o-mini",
        search=_search_models,
        search_options={"SUGGESTION", "SORT"},
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

    artist: StringProperty(  # type: ignore[valid-type]
        name="Artist",
        description=(
            "Your name as a studio gateway (LiteLLM Proxy) records it in its spend logs (the request's user). "
            "Empty: your login name. Sent only to gateways (litellm_proxy/ models)"
        ),
        default="",
    )
    send_script_title: BoolProperty(  # type: ignore[valid-type]
        name="Send Script Title",
        description=(
            "Also tag gateway requests with the script's name, so the studio's spend reports show it per script. "
            "Off by default: the name is yours until you choose to share it"
        ),
        default=False,
    )

    proxy_api_key: StringProperty(  # type: ignore[valid-type]
        name="Proxy API Key",
        description="Key for the custom endpoint above (a LiteLLM Proxy virtual key), when the provider has none",
        subtype="PASSWORD",
    )

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
        default=DEFAULT_CONTEXT_WINDOW,
        min=512,
    )
    tasks_folder: StringProperty(  # type: ignore[valid-type]
        name="Tasks Folder",
        description=(
            "Folder of your own task files (*.md), loaded beside the built-in tasks; a task with a built-in "
            "task's id replaces it. Empty: the 'tasks' folder in the add-on's user directory"
        ),
        subtype="DIR_PATH",
        default="",
    )
    open_answers_in: EnumProperty(  # type: ignore[valid-type]
        name="Open Answers In",
        description="Where a task's answer is shown while it streams, when the task runs from the interface",
        items=(
            ("SPLIT", "Split Editor", "Another Text Editor of the window, else the script's editor split in two"),
            ("WINDOW", "New Window", "A new window with a Text Editor"),
            ("NONE", "Don't Open", "Do not show the answer (it still streams into its Text)"),
        ),
        default="SPLIT",
    )

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
        """The preferences page: where requests go, keys (never their values), budgets, reliability."""
        layout: UILayout = self.layout
        layout.prop(self, "api_base")
        if self.api_base:
            layout.prop(self, "proxy_api_key")
            col = layout.column(heading="Studio Gateway")
            col.prop(self, "artist")
            col.prop(self, "send_script_title")

        box = layout.box()
        box.label(text="API Keys: environment variable, then system keyring, then these fields", icon="LOCKED")
        for env_var, field in KEY_FIELDS.items():
            row = box.row(align=True)
            if os.environ.get(env_var):
                row.label(text=f"{env_var} set in the environment", icon="CHECKMARK")
                continue
            if credentials.keyring_get(env_var):
                row.label(text=f"{env_var} in the system keyring", icon="CHECKMARK")
                continue
            row.prop(self, field)
            op = row.operator("screenwriter.store_key", text="", icon="KEYINGSET")
            op.env_var = env_var  # type: ignore[union-attr]
        box.label(text="Keys are never saved in .blend files, prompts or output Texts.", icon="INFO")

        row = layout.row()
        row.operator("screenwriter.test_connection", icon="URL")
        status = runtime.get().status(runtime.CONNECTION_TEST)
        if status:
            row.label(text=status.text, icon=status.icon)  # type: ignore[arg-type]

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
        layout.prop(self, "tasks_folder")
        layout.prop(self, "open_answers_in")
        col = layout.column(heading="Reliability")
        col.prop(self, "max_retries")
        col.prop(self, "first_token_timeout")
        col.prop(self, "stall_timeout")
        col.prop(self, "total_timeout")


for _env_var, _field in KEY_FIELDS.items():
    # One password field per provider, declared from the one list (Blender reads __annotations__ at register).
    SCREENWRITER_AP_preferences.__annotations__[_field] = StringProperty(
        name=_PROVIDER_NAMES[_env_var],
        description=f"Used when {_env_var} is not set and the keyring has none",
        subtype="PASSWORD",
    )

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
