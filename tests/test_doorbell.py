"""The ORM broker's doorbell (studio/doorbell.py): an enqueue wakes its queue's worker on this
machine; anything the doorbell misses is still found by polling."""

from __future__ import annotations

import socket
import sys

import pytest
from django.db import connection, transaction
from django_q.tasks import async_task, fetch

from studio.doorbell import DoorbellORM, address
from tests.conftest import queue_name
from tests.scale import Worker, wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the doorbell is a Linux abstract socket"
)


@pytest.fixture
def listener():
    made = []

    def listen(key: str) -> DoorbellORM:
        broker = DoorbellORM(list_key=key)
        assert broker._listener() is not None
        made.append(key)
        return broker

    yield listen
    for key in made:
        DoorbellORM._listening.pop(key).close()


@pytest.mark.django_db(transaction=True)
def test_an_enqueue_rings_the_queues_listener(listener):
    key = queue_name()
    worker_side = listener(key)
    assert worker_side.wait(0.01) is False  # nothing rang: the poll interval passed
    DoorbellORM(list_key=key).enqueue("payload")
    assert worker_side.wait(30) is True
    assert worker_side.wait(0.01) is False  # one ring, taken once


@pytest.mark.django_db
def test_rings_for_other_queues_do_not_wake_it(listener):
    mine, other = queue_name(), queue_name()
    worker_side = listener(mine)
    DoorbellORM(list_key=other).ring()
    assert worker_side.wait(0.01) is False


@pytest.mark.django_db(transaction=True)
def test_an_enqueue_inside_a_transaction_rings_once_it_commits(listener):
    key = queue_name()
    worker_side = listener(key)
    with transaction.atomic():
        DoorbellORM(list_key=key).enqueue("payload")
        assert worker_side.wait(0.01) is False  # the row is not visible yet
    assert worker_side.wait(30) is True


@pytest.mark.django_db
def test_a_second_worker_on_the_same_queue_polls_instead():
    key = queue_name()
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # as another process holds it
    first.bind(address(key))
    try:
        second = DoorbellORM(list_key=key)
        assert second._listener() is None
        DoorbellORM(list_key=key).ring()
        assert second.wait(0.01) is False
        assert first.recv(16) == b"!"  # the ring went to the one listening
    finally:
        first.close()


def test_the_address_depends_on_the_database_and_the_queue(monkeypatch):
    first = address("turnaround")
    assert address("turnaround") == first and address("turnaround-images") != first
    monkeypatch.setitem(connection.settings_dict, "NAME", "/elsewhere/db.sqlite3")
    assert address("turnaround") != first


@pytest.mark.django_db
def test_the_orm_broker_is_the_doorbell_one_when_redis_is_not_set(settings):
    if settings.Q_CLUSTER.get("redis"):
        pytest.skip("the Redis broker needs no doorbell")
    assert settings.Q_CLUSTER["broker_class"] == "studio.doorbell.DoorbellORM"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_is_woken_long_before_its_poll(queue, settings):
    if settings.Q_CLUSTER.get("redis"):
        pytest.skip("the Redis broker needs no doorbell")
    # A 120 s poll: a task found by polling would wait up to two minutes after the first.
    worker = Worker(
        queue=queue, workers=1, lanes=("interactive",), extra={"TURNAROUND_QUEUE_POLL": "120"}
    )
    try:
        first = async_task("math.floor", 1.5, cluster=queue)
        connection.close()
        wait_for(lambda: fetch(first) is not None, timeout=60, what="the first task")
        second = async_task("math.floor", 2.5, cluster=queue)  # the pusher is asleep now
        wait_for(lambda: fetch(second) is not None, timeout=30, what="the rung task")
        assert fetch(second).result == 2
    finally:
        worker.stop()
