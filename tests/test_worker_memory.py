"""Workers give freed memory back: studio.memory.release after every task, and the pages the
worker command loads before forking stay shared (issue 12's memory goal)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from django.db import connection
from django_q.signals import post_execute_in_worker
from django_q.tasks import async_task, fetch

from studio import memory
from tests.scale import ROOT, Worker, wait_for

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or memory._TRIM is None,
    reason="malloc_trim is glibc's",
)

# Allocates ~200 MB in 1 KB pieces (each its own malloc, none mmapped), then keeps one small
# piece allocated after them so the heap's top cannot shrink by itself, then frees the rest.
CHURN = """
import os
_kept = []

def rss_mb(pid="self"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def churn(megabytes=200):
    pieces = [bytes(1024) + os.urandom(8) for _ in range(megabytes * 1024)]
    _kept.append(bytes(2048))
    peak = rss_mb()
    del pieces
    return os.getpid(), peak, rss_mb()
"""


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@glibc_only
def test_release_hands_the_freed_heap_back():
    script = CHURN + textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        from studio import memory
        pid, peak, freed = churn()
        released = memory.release()
        print(peak, freed, rss_mb(), released)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, check=True
    ).stdout
    peak, freed, after, released = out.split()
    peak, freed, after = float(peak), float(freed), float(after)
    assert peak > 200, out
    # glibc kept the freed pieces: freeing alone gave back (almost) nothing.
    assert freed > peak - 50, out
    assert released == "True"
    assert after < freed - 150, out


def test_every_worker_task_ends_with_a_release():
    answered = post_execute_in_worker.send(sender="django_q", func=None, task={})
    assert memory.release_after_task in [receiver for receiver, _ in answered]


@pytest.fixture
def churning_worker(tmp_path, monkeypatch, queue):
    """Starts a real interactive-lane worker with the given settings; the function it returns
    runs CHURN's churn(megabytes) there and gives back its (pid, peak MB, MB after freeing)."""
    (tmp_path / "churn_task.py").write_text(CHURN)
    monkeypatch.syspath_prepend(str(tmp_path))
    started: list[Worker] = []

    def start(**settings: str):
        extra = {"PYTHONPATH": str(tmp_path), **settings}
        started.append(Worker(queue=queue, workers=1, lanes=("interactive",), extra=extra))

        def churn(megabytes: int) -> tuple[int, float, float]:
            task_id = async_task("churn_task.churn", megabytes, cluster=queue)
            connection.close()
            wait_for(lambda: fetch(task_id) is not None, timeout=60, what="a churn task")
            task = fetch(task_id)
            assert task.success, task.result
            return tuple(task.result)

        return churn

    yield start
    for worker in started:
        worker.stop()


@glibc_only
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_is_back_down_after_a_task_that_churned(churning_worker):
    churn = churning_worker()
    pid, peak, freed = churn(200)
    assert peak > 200
    # The signal runs right after the task returns; the worker then waits for the next.
    wait_for(lambda: rss_mb(pid) < freed - 150, timeout=10, what="the worker's release")


@glibc_only
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_that_grew_past_the_cap_is_replaced_after_its_task(churning_worker):
    churn = churning_worker(TURNAROUND_WORKER_MAX_RSS_MB="150")
    pids = [churn(megabytes)[0] for megabytes in (20, 20, 200, 20)]
    # Small tasks keep their worker; the one that reached 200 MB was its worker's last.
    assert pids[0] == pids[1] == pids[2] != pids[3]
