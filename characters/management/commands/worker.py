"""Run the background workers: one django-q2 cluster per lane, and the ticker that hands due
provider checks to them.

Each lane (settings.TURNAROUND_LANES) is its own queue with its own worker processes, so
4K sheets never hold the workers casting needs, and shots never hold either. The clusters are
forked from this process with the lane's queue name and sizes; this process then runs the
ticker: every TURNAROUND_CHECK_TICK seconds it sends each due provider check to its lane, and
every 15 s it runs the requeue job (so delivery holds even where django-q2's own scheduler
does not run for this queue name, and a check lost with a killed worker comes back soon). Several `worker` processes may run at once, on one machine
or many: checks and claims are conditional UPDATEs, so each is handed out once.

    python manage.py worker                      # every lane
    python manage.py worker --lane video         # one lane (repeat --lane for more)
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from importlib import import_module

import numpy  # noqa: F401  (loaded before the fork: see _preload)
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connections
from django_q.cluster import Cluster
from django_q.conf import Conf
from PIL import Image

from characters import identity, tasks
from characters.generators.http import tls_context
from characters.generators.routing import PROVIDERS
from characters.services import lane_queue
from characters.services.generations import lane_served
from characters.services.identity import IDENTITY_LANE

log = logging.getLogger(__name__)

REQUEUE_EVERY = 15.0


class Command(BaseCommand):
    help = "Start the django-q2 workers, one cluster per lane, and the provider-check ticker."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--lane",
            action="append",
            choices=sorted(settings.TURNAROUND_LANES),
            help="serve only this lane (repeat for several); default: every lane",
        )
        parser.add_argument(
            "--no-ticker",
            action="store_true",
            help="do not send due provider checks from this process",
        )

    def handle(self, *args, lane: list[str] | None, no_ticker: bool, **options) -> None:
        if not settings.SECRET_KEY:  # the clusters sign their tasks with it
            raise CommandError("SECRET_KEY is not set.")
        lanes = lane or list(settings.TURNAROUND_LANES)
        saved = {
            name: getattr(Conf, name)
            for name in (
                "CLUSTER_NAME",
                "WORKERS",
                "BULK",
                "TIMEOUT",
                "RETRY",
                "QUEUE_LIMIT",
                "POLL",
            )
        }
        # Every lane's queue derives from the base name; the forked clusters keep it.
        Conf.TURNAROUND_BASE_QUEUE = Conf.CLUSTER_NAME
        _preload(lanes)
        connections.close_all()  # no connection may be shared with the forked clusters
        clusters: list[Cluster] = []
        try:
            for name in lanes:
                config = settings.TURNAROUND_LANES[name]
                workers = int(config["workers"])
                if workers < 1:
                    continue
                Conf.CLUSTER_NAME = lane_queue(name)
                Conf.WORKERS = workers
                Conf.BULK = workers  # the ORM broker hands over this many per poll
                Conf.QUEUE_LIMIT = workers  # take no more than can start: others may be free
                Conf.TIMEOUT = int(config.get("timeout", saved["TIMEOUT"] or 900))
                Conf.RETRY = int(config.get("retry", saved["RETRY"]))
                Conf.POLL = float(config.get("poll", saved["POLL"]))
                if Conf.TIMEOUT >= Conf.RETRY:
                    raise CommandError(f"lane {name}: the task timeout must stay below retry")
                cluster = Cluster()
                cluster.start()
                clusters.append(cluster)
                if config.get("nice"):
                    _renice(cluster.sentinel.pid, int(config["nice"]))
                self.stdout.write(
                    f"lane {name}: queue {Conf.CLUSTER_NAME}, {workers} workers, "
                    f"timeout {Conf.TIMEOUT} s"
                )
        finally:
            for name, value in saved.items():
                setattr(Conf, name, value)
        if not clusters:
            raise CommandError("No lane has any workers (TURNAROUND_LANES).")

        stopping = []

        def stop(*_: object) -> None:
            stopping.append(True)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            self._tick(clusters, stopping, ticker=not no_ticker)
        finally:
            for cluster in clusters:
                cluster.stop()

    def _tick(self, clusters: list, stopping: list, *, ticker: bool) -> None:
        interval = float(settings.TURNAROUND_CHECK_TICK)
        next_requeue = time.monotonic() + REQUEUE_EVERY
        while not stopping and all(c.sentinel.is_alive() for c in clusters):
            if ticker:
                try:
                    close_old_connections()
                    tasks.dispatch_due_checks()
                    if time.monotonic() >= next_requeue:
                        next_requeue = time.monotonic() + REQUEUE_EVERY
                        tasks.requeue_stuck_generations()
                except Exception:  # the database away for a moment: try again next tick
                    log.exception("could not send due checks")
                    connections.close_all()
            time.sleep(interval)


def _preload(lanes: list[str]) -> None:
    """Load before forking what each worker would otherwise load for itself on its first task
    (the provider clients, the image plugins, the CA bundle, and where identity scores run,
    the face models: 41 MB), then freeze those objects out of the garbage collector's reach.
    The forked workers share the pages instead of each holding a copy: a collection in a
    worker never writes to a frozen object's header, so its page stays shared."""
    for module, _, _ in PROVIDERS.values():
        import_module(module)
    Image.init()
    tls_context()
    if lane_served(IDENTITY_LANE) in lanes:
        try:
            identity.load()
        except identity.ModelsMissing as exc:
            log.warning("%s Identity scores will fail until they are.", exc)
    gc.collect()
    gc.freeze()


def _renice(pid: int, increment: int) -> None:
    """Lower a lane's CPU priority: its sentinel and the processes it has forked (workers it
    forks later inherit the sentinel's)."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass  # not Linux: the sentinel alone
    for each in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, each, os.getpriority(os.PRIO_PROCESS, each) + increment)
        except OSError:
            log.warning("could not lower the priority of process %s", each)
