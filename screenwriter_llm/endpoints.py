"""What the add-on knows of its endpoints: the models each offers, as last listed (Refresh Models, Test
Connection through a gateway, ``api.list_models``): fetched off the main thread (:mod:`.core.jobs.discovery`),
kept for the session, read by the model field's search-as-you-type and by request planning (a model the endpoint
does not list is flagged); and what a studio gateway said with the last answer.

Main thread reads only what is kept; the listing itself runs on one worker thread (a
``concurrent.futures.ThreadPoolExecutor`` of one: a second Refresh while one runs gets the same future).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from .core.jobs import discovery
from .core.jobs.discovery import DiscoveryError, ModelList

_lists: dict[str, ModelList] = {}
_keys: dict[tuple[str, str | None], str | None] = {}
_figures: list[object] = []  # the GatewayFigures of the last answer a gateway sent them with
_running: dict[str, Future[ModelList]] = {}
_executor: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    if not _executor:
        _executor.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="screenwriter-models"))
    return _executor[0]


def key_of(model: str, api_base: str | None) -> str | None:
    """Where ``model``'s list is kept (its endpoint), or None when that endpoint has no listing (remembered: the
    sidebar asks on every redraw)."""
    found = _keys.get((model, api_base), False)
    if found is not False:
        return found  # type: ignore[return-value]
    try:
        key: str | None = discovery.endpoint_key(model, api_base)
    except DiscoveryError:
        key = None
    if len(_keys) > 64:
        _keys.clear()
    _keys[(model, api_base)] = key
    return key


def refresh(model: str, api_base: str | None, api_key: str | None, online: bool) -> Future[ModelList]:
    """Start listing the models of ``model``'s endpoint on the worker (or join the listing already running); the
    future's result is kept here when it succeeds. Raises :class:`DiscoveryError` at once for an endpoint that has
    no listing (no network then)."""
    key = discovery.endpoint_key(model, api_base)
    running = _running.get(key)
    if running is not None and not running.done():
        return running
    future = _pool().submit(discovery.fetch, model, api_base, api_key, online)

    def keep(done: Future[ModelList]) -> None:
        if not done.cancelled() and done.exception() is None:
            _lists[key] = done.result()

    future.add_done_callback(keep)
    _running[key] = future
    return future


def running(key: str) -> Future[ModelList] | None:
    """The latest listing started for the endpoint ``key`` (:func:`key_of`), done or not, or None."""
    return _running.get(key)


def listed(model: str, api_base: str | None) -> ModelList | None:
    """The last list of ``model``'s endpoint, or None (never listed, or no listing). Cheap: a dict lookup."""
    key = key_of(model, api_base)
    return _lists.get(key) if key is not None else None


def search(model: str, api_base: str | None, typed: str) -> list[tuple[str, str]]:
    """``(model string, description)`` of the listed models whose name contains ``typed`` (case-insensitive), for
    the model field's search list; the model strings in the add-on's form (``litellm_proxy/studio-writer``)."""
    found = listed(model, api_base)
    if found is None:
        return []
    needle = typed.strip().lower()
    prefix = found.prefix
    results = []
    for entry in found.models:
        full = entry.id if entry.id.startswith(prefix) else prefix + entry.id
        if not needle or needle in full.lower() or needle == model.strip().lower():
            results.append((full, entry.describe()))
    return results


def keep_figures(figures: object) -> None:
    """Keep what a gateway's headers said with the last answer (key spend, rate-limit headroom) for the Usage
    panel."""
    _figures[:] = [figures]


def gateway_figures() -> object | None:
    """The last :class:`~.core.provider.gateway.GatewayFigures` kept, or None."""
    return _figures[0] if _figures else None


def reset() -> None:
    """Forget every list and stop the worker (unregister)."""
    _figures.clear()
    _lists.clear()
    _running.clear()
    while _executor:
        _executor.pop().shutdown(wait=False, cancel_futures=True)
