"""Which environment variables hold which provider's API key: the one list (key resolution, the preferences'
password fields, redaction). Imports nothing, so every provider module may use it."""

from __future__ import annotations

#: The environment variable LiteLLM reads for each provider prefix's API key (checked against
#: LiteLLM 1.106.2's sources; LiteLLM docs, "Providers"). The one list: key resolution, the
#: preferences and redaction all read it. Models without a prefix are OpenAI's.
PROVIDER_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "cohere_chat": "COHERE_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
    "huggingface": "HUGGINGFACE_API_KEY",
    "litellm_proxy": "LITELLM_PROXY_API_KEY",
}

#: Other environment variables LiteLLM reads keys from for the same providers. Never used to find a
#: key (:data:`PROVIDER_KEY_ENV` decides); their values are redacted all the same.
OTHER_KEY_ENV: tuple[str, ...] = (
    "ANTHROPIC_AUTH_TOKEN",
    "AZURE_OPENAI_API_KEY",
    "GOOGLE_API_KEY",
    "OR_API_KEY",
    "CO_API_KEY",
    "TOGETHER_AI_API_KEY",
    "TOGETHER_API_KEY",
    "FIREWORKS_API_KEY",
    "FIREWORKSAI_API_KEY",
    "PERPLEXITY_API_KEY",
    "HF_TOKEN",
)
