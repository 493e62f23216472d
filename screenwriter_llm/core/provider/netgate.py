"""The one gate every network path goes through: Blender's online-access setting, loopback allowed.

Blender's rule for extensions: when *Preferences > System > Network > Allow Online Access* is off
(``bpy.app.online_access`` is False), an add-on must not go online. Local models on this machine
(loopback endpoints) stay allowed. The caller passes the flag in; this module never imports bpy.

The gate is checked once, when a request is planned, for the endpoint the user chose. Redirects would
take a request past it (and the scene, with the key in ``x-api-key``, to a server the user never chose),
so :func:`redirect_refusal` decides them: only a 307/308 to the same origin is followed
(:mod:`.llm` applies it to every HTTP response LiteLLM receives).
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import SplitResult, urlsplit

#: Default local endpoints of LiteLLM providers that run on this machine, keyed by the model prefix,
#: with the environment variable LiteLLM reads to override each (LiteLLM docs, "Providers").
LOCAL_PROVIDER_DEFAULTS: dict[str, tuple[str, str]] = {
    "ollama": ("OLLAMA_API_BASE", "http://localhost:11434"),
    "ollama_chat": ("OLLAMA_API_BASE", "http://localhost:11434"),
    "lm_studio": ("LM_STUDIO_API_BASE", "http://localhost:1234/v1"),
}

ONLINE_ACCESS_OFF_MESSAGE = (
    "Online access is off, so Screenwriter LLM will not contact {host}. Turn on Edit > Preferences > "
    "System > Network > Allow Online Access, or point the model at a local server (localhost) such as "
    "Ollama or LM Studio."
)


class OnlineAccessDisabled(PermissionError):
    """Raised when a request would leave this machine while Blender's online access is off."""


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1). Names other than
    ``localhost`` are not resolved (resolving would itself be network traffic) and count as remote."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_for(model: str, api_base: str | None) -> str | None:
    """The base URL a request for ``model`` goes to, or None when it is the provider's public
    default (a remote host, e.g. api.openai.com). ``api_base`` wins when set."""
    if api_base:
        return api_base
    prefix = model.split("/", 1)[0] if "/" in model else ""
    if prefix in LOCAL_PROVIDER_DEFAULTS:
        env_var, default = LOCAL_PROVIDER_DEFAULTS[prefix]
        return os.environ.get(env_var) or default
    return None


def describe_host(model: str, api_base: str | None) -> str:
    """A short name of where the request goes, for messages: a host name or "the <provider> service"."""
    url = endpoint_for(model, api_base)
    if url:
        return urlsplit(url if "//" in url else "//" + url).hostname or url
    provider = model.split("/", 1)[0] if "/" in model else "model provider"
    return f"the {provider} service"


def is_loopback_endpoint(model: str, api_base: str | None) -> bool:
    """True when the request for ``model`` (at ``api_base``) stays on this machine."""
    url = endpoint_for(model, api_base)
    if not url:
        return False
    return is_loopback_host(urlsplit(url if "//" in url else "//" + url).hostname)


def check_online_access(model: str, api_base: str | None, online_access: bool, offline_mock: bool = False) -> None:
    """Refuse a request that would go online while online access is off.

    ``offline_mock`` is True for LiteLLM mock responses, which never open a socket.
    Raises :class:`OnlineAccessDisabled` with a message that names the preference to change.
    """
    if online_access or offline_mock or is_loopback_endpoint(model, api_base):
        return
    raise OnlineAccessDisabled(ONLINE_ACCESS_OFF_MESSAGE.format(host=describe_host(model, api_base)))


# --- redirects ----------------------------------------------------------------------------------

#: Redirect statuses that keep the method and the body (RFC 9110 sections 15.4.8 and 15.4.9). 301, 302
#: and 303 turn a POST into a GET without a body: the model server would get an empty request.
BODY_KEEPING_REDIRECTS = frozenset({307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(url: str) -> SplitResult:
    return urlsplit(url if "//" in url else "//" + url)


def origin(url: str) -> tuple[str, str, int | None]:
    """The origin of ``url`` (RFC 6454): lower-case scheme and host, and the port (the scheme's default
    port when none is written), e.g. ``("http", "127.0.0.1", 8080)``. Raises nothing: an unparsable port
    counts as None."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def same_origin(first: str, second: str) -> bool:
    """True when both URLs have the same scheme, host and port (``http://a`` and ``http://a:80`` do)."""
    return origin(first) == origin(second)


def display_url(url: str) -> str:
    """``url`` as it may be shown: scheme, host, port and path; user name, password, query and fragment
    (where keys hide: ``?key=...``) are left out, an elided query shows as ``?…``."""
    parts = _split(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    scheme = f"{parts.scheme}://" if parts.scheme else "//"
    return f"{scheme}{host}{port}{parts.path}" + ("?…" if parts.query else "")


def redirect_refusal(source: str, target: str, status: int) -> str | None:
    """Decide a redirect from ``source`` (the URL requested) to ``target`` (its ``Location``, already
    made absolute) with HTTP ``status``: None when it may be followed (a 307 or 308 to the same origin:
    the same server gets the same request again), else the message that says where the endpoint
    redirected and why it was not followed. Pure: decides, sends nothing."""
    if status in BODY_KEEPING_REDIRECTS and same_origin(source, target):
        return None
    where, to = display_url(source), display_url(target)
    if same_origin(source, target):
        why = (
            "Screenwriter LLM does not follow a redirect that would turn the request into one without "
            "its body, so nothing more was sent."
        )
    else:
        why = "Screenwriter LLM does not follow redirects to another server, so nothing was sent there."
    return (
        f"The endpoint {where} redirected the request (HTTP {status}) to {to}. {why} If that server is the "
        "right one, point the API Base in the add-on preferences at it."
    )
