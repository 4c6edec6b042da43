"""Calls made at the same moment from real threads, each on its own database connection."""

from __future__ import annotations

import threading

from django.db import connection


def at_once(*calls) -> list[object]:
    """Run the calls in threads released together, each on its own database connection;
    returns each call's result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            outcomes[index] = call()
        except Exception as exc:  # the test looks at what each one met
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
