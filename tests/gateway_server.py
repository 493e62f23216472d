"""The studio's gateway for tests: a real LiteLLM Proxy (``litellm[proxy]==1.106.2`` from requirements/proxy.txt,
installed in ``.venv-proxy`` by ``scripts/bootstrap.sh --proxy``) in front of tests/provider_server.py.

:class:`GatewayServer` writes a proxy config into a temporary folder (JSON, which is YAML: the proxy reads it as
``config.yaml``), with two model aliases routed to the upstream's OpenAI route and a master key, and no database.
Beside the config it writes ``attribution_log.py``, a LiteLLM custom callback (``CustomLogger``) registered with
``litellm_settings: {callbacks: ["attribution_log.logger"]}`` (the proxy's ``get_instance_fn`` imports
``<config folder>/attribution_log.py`` and takes its ``logger`` attribute); it appends one JSON line per successful
request, from the proxy's ``standard_logging_object``: ``end_user`` (the body's ``user``), ``request_tags`` (the
``x-litellm-tags: a,b`` header, which the proxy reads by default, or the body's ``tags``), ``model_group`` (the
alias), ``response_cost`` and a few metadata fields. :meth:`GatewayServer.attribution` reads them back, so a test
proves what the gateway saw.

In-process use::

    with ProviderServer() as provider, GatewayServer(provider.base_url) as gateway:
        litellm.completion(model="litellm_proxy/studio-writer", api_base=gateway.base_url,
                           api_key=gateway.master_key, user="artist1", ...)
        assert gateway.attribution()[-1]["end_user"] == "artist1"

Out of process (serves until SIGTERM/SIGINT; ``--print-config`` prints the config and exits)::

    python tests/gateway_server.py --upstream http://127.0.0.1:PORT [--port N] [--ready-file F] [--print-config]

Standard library and subprocess only (the proxy runs in ``.venv-proxy``'s interpreter, never in this one).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

__all__ = [
    "CALLBACK_MODULE",
    "DEFAULT_ALIASES",
    "DEFAULT_MASTER_KEY",
    "GatewayServer",
    "build_config",
    "default_venv",
    "proxy_available",
]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MASTER_KEY = "sk-studio-master"
#: Alias -> (upstream LiteLLM model, model_info or None). Each is routed to ``<upstream_base>/v1``.
DEFAULT_ALIASES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "studio-writer": ("openai/gpt-4.1", {"input_cost_per_token": 0.000003, "output_cost_per_token": 0.000015}),
    "studio-fast": ("openai/gpt-4.1-mini", None),
}
#: The upstream key the proxy sends to the provider server (which accepts any key).
UPSTREAM_KEY = "sk-upstream-test"
#: Module name of the attribution callback written beside the config.
CALLBACK_MODULE = "attribution_log"
START_TIMEOUT = 60.0

# The custom callback, written to <config folder>/attribution_log.py. ATTRIBUTION_PATH is filled in.
_CALLBACK_SOURCE = '''\
"""Written by tests/gateway_server.py: one JSON line per successful proxy request (who, which tags, what cost)."""

import json
import threading

from litellm.integrations.custom_logger import CustomLogger

ATTRIBUTION_PATH = {path!r}
_lock = threading.Lock()
_seen = set()

_METADATA_FIELDS = (
    "user_api_key_hash",
    "user_api_key_alias",
    "user_api_key_user_id",
    "user_api_key_team_id",
    "user_api_key_end_user_id",
    "requester_custom_headers",
    "user_agent",
)


def _record(kwargs, start_time, end_time):
    slo = kwargs.get("standard_logging_object") or {{}}
    # One record per proxy call: litellm_call_id (the response "id" is the upstream's, and a replay repeats it).
    call_id = kwargs.get("litellm_call_id") or slo.get("litellm_call_id") or slo.get("id")
    metadata = slo.get("metadata") or {{}}
    line = {{
        "litellm_call_id": call_id,
        "response_id": slo.get("id"),
        "end_user": slo.get("end_user"),
        "user": kwargs.get("user"),
        "request_tags": list(slo.get("request_tags") or []),
        "model_group": slo.get("model_group"),
        "model": slo.get("model"),
        "api_base": slo.get("api_base"),
        "response_cost": slo.get("response_cost"),
        "prompt_tokens": slo.get("prompt_tokens"),
        "completion_tokens": slo.get("completion_tokens"),
        "stream": slo.get("stream"),
        "status": slo.get("status"),
        "metadata": {{k: metadata.get(k) for k in _METADATA_FIELDS if metadata.get(k) is not None}},
    }}
    with _lock:
        if call_id is not None and call_id in _seen:
            return
        _seen.add(call_id)
        with open(ATTRIBUTION_PATH, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, default=str) + "\\n")


class AttributionLogger(CustomLogger):
    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        _record(kwargs, start_time, end_time)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        _record(kwargs, start_time, end_time)


logger = AttributionLogger()
'''


def default_venv() -> Path:
    """``<repo>/.venv-proxy``, or ``$SCREENWRITER_PROXY_VENV``."""
    return Path(os.environ.get("SCREENWRITER_PROXY_VENV") or REPO / ".venv-proxy")


def proxy_available(venv: Path | None = None) -> bool:
    """True when ``venv`` (default :func:`default_venv`) has the ``litellm`` proxy command."""
    return ((venv or default_venv()) / "bin" / "litellm").is_file()


def build_config(
    upstream_base: str,
    master_key: str = DEFAULT_MASTER_KEY,
    aliases: dict[str, tuple[str, dict[str, Any] | None]] | None = None,
    extra_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The proxy config as a dict: ``aliases`` routed to ``upstream_base + "/v1"``, the master key, the attribution
    callback, no telemetry. ``extra_config``'s sections are merged one level deep (``general_settings``,
    ``litellm_settings``, ``router_settings`` keys are added; ``model_list`` entries are appended)."""
    api_base = upstream_base.rstrip("/") + "/v1"
    model_list: list[dict[str, Any]] = []
    for alias, (model, info) in (DEFAULT_ALIASES if aliases is None else aliases).items():
        entry: dict[str, Any] = {
            "model_name": alias,
            "litellm_params": {"model": model, "api_base": api_base, "api_key": UPSTREAM_KEY},
        }
        if info:
            entry["model_info"] = dict(info)
        model_list.append(entry)
    config: dict[str, Any] = {
        "model_list": model_list,
        "general_settings": {"master_key": master_key},
        "litellm_settings": {"telemetry": False, "callbacks": [f"{CALLBACK_MODULE}.logger"]},
    }
    for key, value in (extra_config or {}).items():
        if key == "model_list":
            config["model_list"].extend(value)
        elif isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class GatewayServer:
    """A LiteLLM Proxy subprocess in front of ``upstream_base`` (a tests/provider_server.py base URL).

    ``port`` 0 picks a free one. ``aliases`` maps alias -> (LiteLLM model, model_info or None), default
    :data:`DEFAULT_ALIASES`. ``extra_config`` is merged into the config (see :func:`build_config`). ``venv`` is the
    environment with ``litellm[proxy]`` (default ``<repo>/.venv-proxy``). Use as a context manager, or
    :meth:`start` / :meth:`stop`. :meth:`start` waits up to ``start_timeout`` s for ``/health/liveliness`` and
    raises RuntimeError (with the log's tail) when the proxy exits or does not answer in time.
    """

    def __init__(
        self,
        upstream_base: str,
        port: int = 0,
        master_key: str = DEFAULT_MASTER_KEY,
        aliases: dict[str, tuple[str, dict[str, Any] | None]] | None = None,
        extra_config: dict[str, Any] | None = None,
        venv: Path | str | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.upstream_base = upstream_base.rstrip("/")
        self.host, self.port, self.master_key = host, port, master_key
        self.venv = Path(venv) if venv is not None else default_venv()
        self.start_timeout = start_timeout
        self.config = build_config(self.upstream_base, master_key, aliases, extra_config)
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        #: Seconds from spawning the proxy to its first 200 on /health/liveliness.
        self.startup_seconds: float | None = None

    # -- paths -------------------------------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self._dir is None:
            raise RuntimeError("the gateway is not started")
        return self._dir / name

    @property
    def config_path(self) -> Path:
        """The config the proxy runs (``config.yaml``, written as JSON)."""
        return self._path("config.yaml")

    @property
    def log_path(self) -> Path:
        """The proxy's stdout and stderr."""
        return self._path("proxy.log")

    @property
    def attribution_path(self) -> Path:
        """The attribution callback's JSON-lines file."""
        return self._path("attribution.jsonl")

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash): the add-on's API Base, LiteLLM's ``litellm_proxy``
        ``api_base``; the OpenAI-compatible routes are under it and under ``/v1``."""
        return f"http://{self.host}:{self.port}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The proxy's process while it runs."""
        return self._process

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Write the config and callback, start the proxy, wait until it is live; returns self."""
        exe = self.venv / "bin" / "litellm"
        if not exe.is_file():
            raise RuntimeError(
                f"no LiteLLM Proxy at {exe}: run scripts/bootstrap.sh --proxy (creates .venv-proxy from "
                "requirements/proxy.txt)"
            )
        self._dir = Path(tempfile.mkdtemp(prefix="screenwriter-gateway-"))
        if self.port == 0:
            self.port = _free_port(self.host)
        self.attribution_path.touch()
        (self._dir / f"{CALLBACK_MODULE}.py").write_text(
            _CALLBACK_SOURCE.format(path=str(self.attribution_path)), encoding="utf-8"
        )
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("LITELLM_")}
        env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        # The proxy answers on loopback only; keep a machine proxy from intercepting its upstream calls.
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        self._log = self.log_path.open("wb")
        began = time.monotonic()
        self._process = subprocess.Popen(
            [str(exe), "--config", str(self.config_path), "--host", self.host, "--port", str(self.port)],
            cwd=str(self._dir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = began + self.start_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                self._fail(f"the LiteLLM Proxy exited with status {code} before it was live")
            if self._live():
                self.startup_seconds = time.monotonic() - began
                return self
            if time.monotonic() > deadline:
                self._fail(f"the LiteLLM Proxy was not live on {self.base_url} within {self.start_timeout:.0f} s")
            time.sleep(0.2)

    def _live(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/health/liveliness", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the proxy's log ("" when there is none)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, RuntimeError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, message: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{message}; the end of its log:\n{tail}")

    def stop(self) -> None:
        """Stop the proxy (SIGTERM to its process group, then SIGKILL) and remove the temp folder. Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the gateway saw ----------------------------------------------------------------------------------

    def attribution(self) -> list[dict[str, Any]]:
        """The attribution callback's records, one per successful request, in the order they were logged."""
        try:
            text = self.attribution_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_for_attribution(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` records were logged (the callback runs after the response); return them.
        Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.attribution()
            if len(records) >= count:
                return records
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(records)} of {count} attribution records within {timeout} s")
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="the provider server's base URL, http://127.0.0.1:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--master-key", default=DEFAULT_MASTER_KEY)
    parser.add_argument("--venv", type=Path, help="the environment with litellm[proxy] (default: .venv-proxy)")
    parser.add_argument(
        "--ready-file", type=Path, help='write {"base_url", "master_key", "pid", "startup_seconds"} here once live'
    )
    parser.add_argument("--print-config", action="store_true", help="print the proxy config (JSON = YAML) and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT (or print the config). Returns the exit status."""
    args = _parse_args(argv)
    if args.print_config:
        print(json.dumps(build_config(args.upstream, args.master_key), indent=2))
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with GatewayServer(args.upstream, port=args.port, master_key=args.master_key, venv=args.venv, host=args.host) as gw:
        if args.ready_file is not None:
            info = {
                "base_url": gw.base_url,
                "master_key": gw.master_key,
                "pid": os.getpid(),
                "proxy_pid": gw.process.pid if gw.process else None,
                "startup_seconds": gw.startup_seconds,
                "attribution_path": str(gw.attribution_path),
            }
            tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
            tmp.write_text(json.dumps(info))
            os.replace(tmp, args.ready_file)
        print(gw.base_url, flush=True)
        while not stop.wait(0.2):
            if gw.process is None or gw.process.poll() is not None:
                print(f"the LiteLLM Proxy exited; the end of its log:\n{gw.log_tail()}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
