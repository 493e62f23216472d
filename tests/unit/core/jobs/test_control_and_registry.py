"""core.jobs.job without a network: deadlines, the event queue, the registry, the shared control state."""

from __future__ import annotations

import threading
import time

from screenwriter_llm.core.events import Cancelled, Failed, Finished, TextDelta
from screenwriter_llm.core.jobs.job import EventQueue, Job, JobRegistry
from screenwriter_llm.core.jobs.plan import Deadlines, Plan
from screenwriter_llm.core.provider.llm import LLMRequest
from screenwriter_llm.core.screenplay import fountain
from screenwriter_llm.core.tasks import demo

MESSAGES = ({"role": "user", "content": "Hi."},)


def silent(request, cancelled, on_response):
    """A provider that never answers until cancelled (or a deadline closes it)."""

    class Response:
        closed = threading.Event()

        def close(self):
            self.closed.set()

    response = Response()
    on_response(type("Wrapper", (), {"completion_stream": response})())
    while not cancelled.is_set() and not response.closed.is_set():
        time.sleep(0.01)
    if response.closed.is_set() and not cancelled.is_set():
        raise TimeoutError("closed")
    return iter(())


def test_first_token_deadline_closes_the_stream_and_says_so():
    plan = Plan.for_request(LLMRequest(model="m", messages=MESSAGES), deadlines=Deadlines(0.05, 1, 10))
    job = Job(plan, stream_fn=silent).start()
    while job.outcome is None:
        job.check_deadlines()
        job.wait_for_event(0.02)
        job.drain()
    assert isinstance(job.outcome, Failed) and job.outcome.error_type == "timeout"
    assert "first-token timeout" in job.outcome.message and job.join(2)


def test_total_deadline_and_cancel_while_waiting():
    plan = Plan.for_request(LLMRequest(model="m", messages=MESSAGES), deadlines=Deadlines(30, 30, 0.0))
    job = Job(plan, stream_fn=silent)
    job.check_deadlines()  # not started: nothing to do
    job.start()
    time.sleep(0.02)
    job.check_deadlines()
    assert "total limit" in job.control.expired
    second = Job(Plan.for_request(LLMRequest(model="m", messages=MESSAGES)), stream_fn=silent).start()
    second.cancel("Stop")
    second.cancel("Again")  # idempotent: the first reason stays
    assert second.join(2)
    second.drain()
    assert isinstance(second.outcome, Cancelled) and second.outcome.reason == "Stop"
    assert job.join(2)


def test_event_queue_waits_without_taking():
    queue = EventQueue()
    assert queue.empty() and queue.wait(0.01) is False
    threading.Timer(0.05, queue.put, (TextDelta("a"),)).start()
    assert queue.wait(2.0) is True and not queue.empty()
    queue.put(TextDelta("b"))
    assert queue.take(1) == [TextDelta("a")] and queue.take(10) == [TextDelta("b")]


def test_registry_tracks_finds_and_cancels():
    registry = JobRegistry()
    a = registry.add(Job(Plan.for_request(LLMRequest(model="m", messages=MESSAGES), target="A"), stream_fn=silent))
    b = registry.add(Job(Plan.for_request(LLMRequest(model="m", messages=MESSAGES), target="B"), stream_fn=silent))
    assert registry.for_target("B") is b and registry.for_target("") is None
    a.start()
    assert registry.cancel_all("Bye", join_timeout=2) == []
    registry.discard(a)
    assert registry.jobs() == [b]


def test_a_worker_that_left_no_outcome_is_failed_not_waited_for():
    job = Job(Plan.for_request(LLMRequest(model="m", messages=MESSAGES)))
    assert job.duration == 0.0 and job.time_to_first_token is None and "Job(" in repr(job)
    job.fail_if_silent()
    job.drain()
    assert isinstance(job.outcome, Failed)
    done = Job(Plan.for_request(LLMRequest(model="m", messages=MESSAGES)))
    done.events.put(Finished("stop", "other/model"))
    done.drain()
    assert done.model == "other/model" and done.answer == ""


def test_offline_demo_answer_counts_the_scene():
    screenplay = fountain.parse("INT. ROOM - DAY\n\nA chair.\n\nBOB\nHello there.\n")
    answer = demo.offline_answer(screenplay, screenplay.scenes[0])
    assert answer.startswith(demo.OFFLINE_LABEL)
    assert "Scene 1: INT. ROOM - DAY" in answer and "Speaking: BOB." in answer
    empty = fountain.parse("INT. ROOM - DAY\n\nA chair.\n")
    assert "no speaking parts" in demo.offline_answer(empty, empty.scenes[0])
