"""core/provider/keys.py and redact.py: where a key comes from (environment, then the OS keyring, then the
preferences) and the one redactor that keeps keys out of everything shown (at most the last 4 characters)."""

from __future__ import annotations

import random
import string
import sys
import types

import pytest

from screenwriter_llm.core.provider import errors, keys, redact
from screenwriter_llm.core.provider.redact import ELLIPSIS, KNOWN_PREFIXES, redact_key

ENV_KEY = "sk-ant-api03-EnvironmentKey0123456789abcdefWXYZ"


@pytest.fixture
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in {*errors.PROVIDER_KEY_ENV.values(), *errors.OTHER_KEY_ENV}:
        monkeypatch.delenv(name, raising=False)


class FakeKeyringError(Exception):
    """Stands in for ``keyring.errors.KeyringError``."""


@pytest.fixture
def fake_keyring(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A ``keyring`` module in ``sys.modules``: ``stored`` is its content, ``fail`` an exception to raise."""
    state = types.SimpleNamespace(stored={}, fail=None, calls=[])

    def get_password(service: str, username: str) -> str | None:
        state.calls.append(("get", service, username))
        if state.fail is not None:
            raise state.fail
        return state.stored.get((service, username))

    def set_password(service: str, username: str, password: str) -> None:
        state.calls.append(("set", service, username))
        if state.fail is not None:
            raise state.fail
        state.stored[(service, username)] = password

    module = types.ModuleType("keyring")
    module.get_password = get_password  # type: ignore[attr-defined]
    module.set_password = set_password  # type: ignore[attr-defined]
    errors_module = types.ModuleType("keyring.errors")
    errors_module.KeyringError = FakeKeyringError  # type: ignore[attr-defined]
    module.errors = errors_module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", module)
    monkeypatch.setitem(sys.modules, "keyring.errors", errors_module)
    return state


# --- resolution order ----------------------------------------------------------------------------------


def test_the_environment_wins(no_env_keys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", ENV_KEY)
    looked_up: list[str] = []
    resolved = keys.resolve_key(
        "anthropic/claude-sonnet-4-5",
        preferences_get=lambda env_var: looked_up.append(env_var) or "from-preferences-000000",
        keyring_lookup=lambda env_var: looked_up.append(env_var) or "from-keyring-000000",
    )
    assert resolved == keys.ResolvedKey(ENV_KEY, "environment", "ANTHROPIC_API_KEY")
    assert looked_up == [], "neither the keyring nor the preferences are asked"


def test_then_the_keyring_then_the_preferences(no_env_keys):
    asked: list[tuple[str, str]] = []

    def keyring_lookup(env_var: str) -> str | None:
        asked.append(("keyring", env_var))
        return "from-keyring-0000000000" if env_var == "OPENAI_API_KEY" else None

    def preferences_get(env_var: str) -> str | None:
        asked.append(("preferences", env_var))
        return "from-preferences-0000000000"

    resolved = keys.resolve_key("openai/gpt-4o-mini", preferences_get, keyring_lookup)
    assert resolved is not None and (resolved.value, resolved.source) == ("from-keyring-0000000000", "keyring")
    assert asked == [("keyring", "OPENAI_API_KEY")]
    asked.clear()
    resolved = keys.resolve_key("gemini/gemini-2.0-flash", preferences_get, keyring_lookup)
    assert resolved == keys.ResolvedKey("from-preferences-0000000000", "preferences", "GEMINI_API_KEY")
    assert asked == [("keyring", "GEMINI_API_KEY"), ("preferences", "GEMINI_API_KEY")]


def test_empty_values_are_no_key(no_env_keys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert keys.resolve_key("openai/gpt-4o-mini", lambda env_var: "", lambda env_var: "") is None
    assert keys.resolve_key("openai/gpt-4o-mini", lambda env_var: None, lambda env_var: None) is None


def test_the_env_var_follows_the_model_prefix(no_env_keys, monkeypatch):
    monkeypatch.setenv("TOGETHERAI_API_KEY", "together-key-0000000000000")
    resolved = keys.resolve_key("together_ai/meta-llama/Llama-3-8b", keyring_lookup=lambda env_var: None)
    assert resolved is not None and resolved.env_var == "TOGETHERAI_API_KEY"
    assert keys.resolve_key("gpt-4o-mini", keyring_lookup=lambda env_var: None) is None, "OPENAI_API_KEY is unset"


def test_a_resolved_key_never_shows_its_value():
    resolved = keys.ResolvedKey("sk-proj-SuperSecretValue0123456789abcd", "preferences", "OPENAI_API_KEY")
    assert "SuperSecret" not in repr(resolved) and "SuperSecret" not in str(resolved)
    assert resolved.redacted == "sk-proj-…abcd"


# --- the OS keyring ----------------------------------------------------------------------------------


def test_keyring_get_and_set(fake_keyring):
    keys.keyring_set("OPENAI_API_KEY", "sk-stored-0000000000001234")
    assert fake_keyring.stored == {(keys.KEYRING_SERVICE, "OPENAI_API_KEY"): "sk-stored-0000000000001234"}
    assert keys.keyring_get("OPENAI_API_KEY") == "sk-stored-0000000000001234"
    assert keys.keyring_get("ANTHROPIC_API_KEY") is None
    fake_keyring.stored[(keys.KEYRING_SERVICE, "GROQ_API_KEY")] = ""
    assert keys.keyring_get("GROQ_API_KEY") is None, "an empty entry is no key"


@pytest.mark.parametrize("failure", [FakeKeyringError("locked"), RuntimeError("no backend"), OSError("dbus")])
def test_a_failing_keyring_is_skipped_on_read(fake_keyring, failure):
    fake_keyring.fail = failure
    assert keys.keyring_get("OPENAI_API_KEY") is None


def test_a_failing_keyring_on_write_says_where_else_to_keep_the_key(fake_keyring):
    secret = "sk-proj-WriteFailsFor0123456789abcdWXYZ"
    fake_keyring.fail = FakeKeyringError(f"cannot store {secret}: no Secret Service")
    with pytest.raises(RuntimeError) as raised:
        keys.keyring_set("OPENAI_API_KEY", secret)
    message = str(raised.value)
    assert secret not in message and "sk-proj-…WXYZ" in message
    assert "OPENAI_API_KEY" in message and "add-on preferences" in message


def test_without_the_keyring_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)  # makes "import keyring" raise ImportError
    assert keys.keyring_get("OPENAI_API_KEY") is None
    with pytest.raises(RuntimeError, match="keyring library is not available"):
        keys.keyring_set("OPENAI_API_KEY", "sk-x-0000000000000000")


# --- redact_key: at most the last four characters -----------------------------------------------------


def _random_secret(length: int, rng: random.Random) -> str:
    # Starts with "Q": no known prefix, so every character is secret.
    return ("Q" + "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(length)))[:length]


@pytest.mark.parametrize("length", range(1, 41))
def test_redact_key_never_shows_more_than_the_last_four(length):
    rng = random.Random(length)
    for value in (_random_secret(length, rng), ("sk-" + _random_secret(40, rng))[:length]):
        shown = redact_key(value)
        prefix = next((p for p in KNOWN_PREFIXES if value.startswith(p) and shown.startswith(p)), "")
        tail = shown[len(prefix) :]
        assert tail.startswith(ELLIPSIS), shown
        tail = tail[len(ELLIPSIS) :]
        assert len(tail) <= 4 and value.endswith(tail), (value, shown)
        if length < 12:
            assert shown == ELLIPSIS, "a short secret shows nothing at all"
        if len(value) - len(prefix) >= 12:
            assert tail == value[-4:], "long enough: the last four, so the user can tell keys apart"
        hidden = value[len(prefix) : -4]
        if len(hidden) >= 3:
            assert hidden not in shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("sk-proj-abcdefghijklmnop1234", "sk-proj-…1234"),
        ("sk-ant-api03-zzzzzzzzzzzzwxyz", "sk-ant-api03-…wxyz"),
        ("sk-0123456789abcdefWXYZ", "sk-…WXYZ"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIza…stuv"),
        ("gsk_0123456789abcdefWXYZ", "gsk_…WXYZ"),
        ("sk-ant-api03-short", "sk-ant-api03-…"),  # what follows the prefix is short: no tail
        ("sk-0123456", ELLIPSIS),
        ("my-private-token-value", "…alue"),
    ],
)
def test_redact_key_forms(value, shown):
    assert redact_key(value) == shown


# --- redact: secrets, the environment and key shapes --------------------------------------------------


def test_known_key_in_the_environment_is_redacted_without_being_passed(no_env_keys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", ENV_KEY)
    monkeypatch.setenv("COHERE_API_KEY", "Cohere0Plain1Key2Without3Prefix4WXYZ")  # no key shape to catch it
    monkeypatch.setenv("HF_TOKEN", "hfAlternative0Name1LiteLLM2Reads3abcd")  # one of OTHER_KEY_ENV
    text = "echo: Cohere0Plain1Key2Without3Prefix4WXYZ / hfAlternative0Name1LiteLLM2Reads3abcd / " + ENV_KEY
    out = redact.redact(text)
    assert out == "echo: …WXYZ / …abcd / sk-ant-api03-…WXYZ"
    assert redact.environment_secrets().count(ENV_KEY) == 1


def test_passed_secrets_are_redacted_and_none_is_ignored(no_env_keys):
    secret = "plainprefsvalue0123456789Tail"
    assert redact.redact(f"got {secret}!", (None, "", secret)) == "got …Tail!"
    assert redact.redact(f"got {secret}!", secret) == "got …Tail!", "one bare string is one secret"
    assert redact.redact("", (secret,)) == ""


def test_short_secrets_are_replaced_only_as_whole_words(no_env_keys):
    assert redact.redact("key abcd12 and xabcd12y", ("abcd12",)) == "key … and xabcd12y"
    assert redact.redact("x marks the spot", ("x",)) == "x marks the spot", "too short to look for"


def test_the_longest_secret_goes_first(no_env_keys):
    long_secret = "sk-proj-LongSecretValue0123456789WXYZ"
    out = redact.redact(f"[{long_secret}]", ("sk-proj-LongSecret", long_secret))
    assert out == "[sk-proj-…WXYZ]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-abcdefghijklmnop1234 end", "key sk-proj-…1234 end"),
        ("key sk-ant-api03-zzzzzzzzzzzzzzzzwxyz.", "key sk-ant-api03-…wxyz."),
        ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", "google AIza…stuv"),
        ("groq gsk_0123456789abcdefghijWXYZ", "groq gsk_…WXYZ"),
        ("hf hf_0123456789abcdefghijWXYZ", "hf hf_…WXYZ"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig0", "Authorization: Bearer …sig0"),
        ("{'api_key': 'plain0123456789secretWXYZ'}", "{'api_key': '…WXYZ'}"),
        ("x-api-key: plain0123456789secretWXYZ", "x-api-key: …WXYZ"),
        ("not a key: sk-short and task-sk-word", "not a key: sk-short and task-sk-word"),
        ("the bearer responsibilities-of-office", "the bearer responsibilities-of-office"),
    ],
)
def test_key_shapes_are_redacted_without_being_known(no_env_keys, text, expected):
    assert redact.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "BEARER abcdefghijklmnopqrstuvwxyz0123",
        "API-KEY=plain0123456789secretWXYZ",
        "AUTHORIZATION: plain0123456789secretWXYZ",
        "key sk-proj-abcdefghijklmnop1234",
        "xai-0123456789abcdefghijWXYZ and pplx-0123456789abcdefghijWXYZ",
    ],
)
def test_the_shape_searches_are_skipped_only_for_text_no_shape_can_match(no_env_keys, text):
    """The quick test before the five shape searches (``_MAY_BE_SHAPED``) lets through everything a shape matches."""
    assert redact._MAY_BE_SHAPED.search(text)
    assert redact.redact(text) != text
    plain = "INT. LIGHTHOUSE - NIGHT. The keeper writes a long letter to no one."
    assert not redact._MAY_BE_SHAPED.search(plain) and redact.redact(plain) == plain


def test_the_environment_is_not_read_when_the_caller_passed_its_keys(no_env_keys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-EnvironmentKey0123456789WXYZ")
    assert "EnvironmentKey" not in redact.redact("x sk-proj-EnvironmentKey0123456789WXYZ y")
    text = "x plainEnvironmentKey0123456789WXYZ y"
    monkeypatch.setenv("OPENAI_API_KEY", "plainEnvironmentKey0123456789WXYZ")
    assert redact.redact(text, environment=False) == text, "only what was passed"
    assert redact.redact(text, ("plainEnvironmentKey0123456789WXYZ",), environment=False) == "x …WXYZ y"


def test_redaction_is_idempotent(no_env_keys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-IdempotentKey0123456789WXYZ")
    text = "a sk-proj-IdempotentKey0123456789WXYZ b Bearer abcdefghijklmnopqrstuvwxyz0123"
    once = redact.redact(text)
    assert redact.redact(once) == once and "Idempotent" not in once


def test_keys_and_errors_use_the_one_redactor():
    assert keys.redact_key is redact.redact_key and errors.redact is redact.redact
    assert "redact_key" in keys.__all__
