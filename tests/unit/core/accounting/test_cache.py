"""core.cache on real SQLite files: keys only for temperature 0, answers and usage round-trip, the size
caps evict the oldest, and concurrent writers do not lose or corrupt anything."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading

import pytest

from screenwriter_llm.core.accounting.cache import CacheError, ResponseCache, canonical_request, request_key

MESSAGES = [
    {"role": "system", "content": "You are a script consultant."},
    {"role": "user", "content": "Analyse: INT. FERRY – NIGHT. Ellen stares at the water."},
]
REQUEST = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "temperature": 0, "max_tokens": 512, "api_base": None}


def test_only_temperature_zero_requests_have_a_key():
    assert request_key(**REQUEST) is not None
    assert request_key(**{**REQUEST, "temperature": 0.7}) is None
    assert request_key(**{**REQUEST, "temperature": 0.0}) == request_key(**REQUEST)


def test_the_key_is_the_sha256_of_the_canonical_request():
    text = canonical_request(**REQUEST)
    assert request_key(**REQUEST) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert json.loads(text)["messages"] == MESSAGES
    assert " " not in text.replace(MESSAGES[0]["content"], "").replace(MESSAGES[1]["content"], "")
    assert "–" in text  # non-ASCII kept as is, not escaped


def test_the_key_ignores_dict_order_and_sees_every_field():
    reordered = [{"content": m["content"], "role": m["role"]} for m in MESSAGES]
    assert request_key(**{**REQUEST, "messages": reordered}) == request_key(**REQUEST)
    assert request_key(**{**REQUEST, "api_base": ""}) == request_key(**REQUEST)
    variants = [
        {"model": "anthropic/claude-haiku-4-5"},
        {"messages": [*MESSAGES, {"role": "user", "content": "More."}]},
        {"messages": [MESSAGES[0], {"role": "user", "content": MESSAGES[1]["content"] + " "}]},
        {"max_tokens": 513},
        {"api_base": "http://127.0.0.1:11434"},
    ]
    keys = {request_key(**{**REQUEST, **v}) for v in variants}
    assert len(keys) == len(variants) and request_key(**REQUEST) not in keys


def test_an_answer_round_trips_with_its_usage(tmp_path):
    cache = ResponseCache(tmp_path / "cache" / "responses.sqlite3")
    key = request_key(**REQUEST)
    assert cache.get(key) is None
    assert cache.put(key, "Ellen's silence carries the scene.", "openai/gpt-4o-mini", 42, 7)
    hit = cache.get(key)
    assert (hit.text, hit.model, hit.prompt_tokens, hit.completion_tokens) == (
        "Ellen's silence carries the scene.",
        "openai/gpt-4o-mini",
        42,
        7,
    )
    assert hit.created.tzinfo is not None
    # Another instance (another Blender session) sees it.
    assert ResponseCache(cache.path).get(key) == hit


def test_uncacheable_requests_are_neither_stored_nor_found(tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite3")
    key = request_key(**{**REQUEST, "temperature": 1.0})
    assert cache.put(key, "varied", "m") is False
    assert cache.get(key) is None
    assert cache.stats() == (0, 0)


def test_the_entry_cap_evicts_the_oldest(tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite3", max_entries=3)
    keys = [request_key(**{**REQUEST, "max_tokens": n}) for n in range(5)]
    for n, key in enumerate(keys[:3]):
        cache.put(key, f"answer {n}", "m")
    cache.put(keys[0], "answer 0 again", "m")  # rewritten: now the newest
    cache.put(keys[3], "answer 3", "m")
    cache.put(keys[4], "answer 4", "m")
    assert [cache.get(k) is not None for k in keys] == [True, False, False, True, True]
    assert cache.get(keys[0]).text == "answer 0 again"
    assert cache.stats()[0] == 3


def test_the_byte_cap_counts_utf8_and_evicts_the_oldest(tmp_path):
    answer = "é" * 200  # 400 bytes in UTF-8
    cache = ResponseCache(tmp_path / "responses.sqlite3", max_bytes=1000)
    keys = [request_key(**{**REQUEST, "max_tokens": n}) for n in range(3)]
    for key in keys:
        cache.put(key, answer, "m")
    assert [cache.get(k) is not None for k in keys] == [False, True, True]
    assert cache.stats() == (2, 800)
    assert cache.put(request_key(**{**REQUEST, "max_tokens": 99}), "x" * 1001, "m") is False
    assert cache.stats() == (2, 800)


def test_clear(tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite3")
    cache.put(request_key(**REQUEST), "a", "m")
    assert cache.clear() == 1 and cache.stats() == (0, 0)


def test_concurrent_writers_lose_nothing_and_respect_the_cap(tmp_path):
    path = tmp_path / "responses.sqlite3"
    caches = [ResponseCache(path, max_entries=150), ResponseCache(path, max_entries=150)]
    start = threading.Barrier(2)
    errors = []

    def write(cache, writer):
        start.wait()
        try:
            for n in range(100):
                cache.put(request_key(**{**REQUEST, "model": f"w{writer}", "max_tokens": n}), f"{writer}:{n}", "m")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c, i)) for i, c in enumerate(caches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert caches[0].stats()[0] == 150
    # The last answer each writer stored is there and intact.
    for writer in range(2):
        assert caches[1].get(request_key(**{**REQUEST, "model": f"w{writer}", "max_tokens": 99})).text == f"{writer}:99"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_locked_cache_is_a_readable_error(tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite3", busy_timeout=0.1)
    holder = sqlite3.connect(cache.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(CacheError, match="cannot be used"):
            cache.put(request_key(**REQUEST), "a", "m")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_bad_caps_are_refused(tmp_path):
    with pytest.raises(ValueError):
        ResponseCache(tmp_path / "responses.sqlite3", max_entries=0)


def test_an_overwritten_cache_file_is_a_readable_error_on_read(tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite3")
    key = request_key(**REQUEST)
    cache.put(key, "an answer", "openai/gpt-4o-mini")
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"responses.sqlite3{suffix}").unlink(missing_ok=True)
    cache.path.write_bytes(b"not a database at all, " * 200)
    with pytest.raises(CacheError, match="cannot be read"):
        cache.get(key)
    with pytest.raises(CacheError, match="cannot be read"):
        cache.stats()
