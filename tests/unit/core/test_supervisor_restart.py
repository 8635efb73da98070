"""`TaskSupervisor.keep`: a task that dies is restarted with a growing pause, reported, and given up on
when it keeps dying; one that then runs `give_up_s` without dying is reported recovered."""

from __future__ import annotations

import asyncio

from cryptoradar.core.metrics import REGISTRY
from cryptoradar.core.supervisor import RestartPolicy, TaskSupervisor


class Recorder:
    def __init__(self) -> None:
        self.failed: list[tuple[str, str, float]] = []
        self.recovered: list[str] = []
        self.gave_up: list[tuple[str, str]] = []
        self.gave_up_event = asyncio.Event()
        self.recovered_event = asyncio.Event()

    def on_task_failed(self, task: str, error: BaseException, restart_in_s: float) -> None:
        self.failed.append((task, str(error), restart_in_s))

    def on_task_recovered(self, task: str) -> None:
        self.recovered.append(task)
        self.recovered_event.set()

    def on_gave_up(self, task: str, error: BaseException) -> None:
        self.gave_up.append((task, str(error)))
        self.gave_up_event.set()


def failures(task: str) -> float:
    return REGISTRY.get_sample_value("cryptoradar_task_failures_total", {"task": task}) or 0.0


async def test_a_dying_task_is_restarted_with_doubling_capped_pauses_then_recovers() -> None:
    events = Recorder()
    supervisor = TaskSupervisor("t1", RestartPolicy(initial_s=0.01, max_s=0.04, give_up_s=0.5), events)
    runs = 0
    healthy = asyncio.Event()
    before = failures("t1:flaky")

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 4:
            raise RuntimeError(f"boom {runs}")
        healthy.set()
        await asyncio.Event().wait()  # then runs for good

    supervisor.keep(flaky, "flaky")
    await asyncio.wait_for(events.recovered_event.wait(), timeout=5)
    assert healthy.is_set()
    assert [(t, e) for t, e, _ in events.failed] == [("t1:flaky", f"boom {n}") for n in (1, 2, 3, 4)]
    assert [delay for *_, delay in events.failed] == [0.01, 0.02, 0.04, 0.04]
    assert events.recovered == ["t1:flaky"]
    assert events.gave_up == []
    assert failures("t1:flaky") - before == 4
    assert len(supervisor.tasks) == 1
    await supervisor.stop(1.0)


async def test_a_task_that_keeps_dying_is_given_up_after_the_configured_time() -> None:
    events = Recorder()
    supervisor = TaskSupervisor("t2", RestartPolicy(initial_s=0.01, max_s=0.02, give_up_s=0.2), events)
    loop = asyncio.get_running_loop()
    started_s = loop.time()

    async def broken() -> None:
        raise OSError("disk gone")

    task = supervisor.keep(broken, "broken")
    await asyncio.wait_for(events.gave_up_event.wait(), timeout=5)
    assert loop.time() - started_s >= 0.2
    assert events.gave_up == [("t2:broken", "disk gone")]
    assert events.recovered == []
    assert len(events.failed) >= 2  # restarted all along until it was given up
    await asyncio.wait_for(task, timeout=1)  # the kept task ended: nothing restarts it any more
    assert supervisor.tasks == []


async def test_a_task_that_returns_is_not_restarted_and_a_cancelled_one_stops() -> None:
    events = Recorder()
    supervisor = TaskSupervisor("t3", RestartPolicy(initial_s=0.01, max_s=0.02, give_up_s=1), events)
    runs = 0

    async def once() -> None:
        nonlocal runs
        runs += 1

    done = supervisor.keep(once, "once")
    await asyncio.wait_for(done, timeout=1)
    forever = supervisor.keep(lambda: asyncio.Event().wait(), "forever")
    await asyncio.sleep(0)
    await supervisor.stop(1.0)
    assert runs == 1
    assert forever.cancelled()
    assert events.failed == []
