"""Benchmark: what a request costs, and how page cost grows with what is shown.

Not a test; it never fails. In-process (django.test.Client, logged in with force_login) on a
temporary SQLite database, offline generator, DEBUG off as under the test runner, and
ROOT_URLCONF = bench.hello_urls (the product URLs plus a bench-only bare "hello" view).

  (a) the candidate card htmx polls (GET .../candidates/<id>/?poll=1, HX-Request) on a
      character with 8 finished candidates: queries and median time, against "hello".
      Goal: <= 2x hello.
  (b) the board for 1, 10, 100 characters (each with a locked face) and the character page
      for 1, 10, 100 finished candidates with images: queries (should stay constant) and
      median time (roughly linear in what is shown).
  (c) the team's update check GET .../changes?since=<id>, nothing new (204) and something new.
  (d) what a change costs the character page, in queries: a sheet POST (4 options, the default)
      and every GET the page then makes because of its answer (events it fires, replayed from
      the page's own hx-trigger listeners: tests/page_events.py); a finished sheet card and
      everything it triggers. Goals: under 15 and under 10.

Run from the worktree: /work/main/.venv/bin/python bench/bench_requests.py [POLL_REPEATS]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import clean_env, machine, median, percentile, sqlite_url  # noqa: E402

POLL_REPEATS = 200
PAGE_REPEATS = 25
SIZES = (1, 10, 100)

WORK = Path(tempfile.mkdtemp(prefix="turnaround-requests-"))
os.environ.clear()
os.environ.update(
    clean_env(
        DATABASE_URL=sqlite_url(WORK),
        DJANGO_MEDIA_ROOT=str(WORK / "media"),
        TURNAROUND_QUEUE_NAME=f"bench-requests-{os.getpid()}",
        DJANGO_DEBUG="1",
    )
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    override_settings,
    setup_test_environment,
)
from django_q.conf import Conf  # noqa: E402

from characters import services  # noqa: E402
from characters.models import Activity, CastingCandidate, Character, Generation  # noqa: E402
from tests.page_events import HTMX, count_with_follow_ups  # noqa: E402


def clone_candidate(source: CastingCandidate, character: Character, *, approve: bool = False):
    """A finished candidate for `character` that shares `source`'s generation fields and
    images: as costly to show as a real one, without drawing a new portrait."""
    generation = Generation.objects.get(pk=source.generation_id)
    generation.pk = None
    generation.character = character
    generation.save()
    return CastingCandidate.objects.create(
        character=character,
        generation=generation,
        image=source.image,
        image_4k=source.image_4k,
        decision=CastingCandidate.Decision.APPROVED if approve else "pending",
    )


def timed(client: Client, url: str, repeats: int, **headers) -> tuple[float, float, int, int]:
    """(median ms, p95 ms, queries of one request, status)."""
    for _ in range(3):
        client.get(url, headers=headers)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers=headers)
    queries = len(ctx.captured_queries)  # read now: the next request resets the log
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        client.get(url, headers=headers)
        times.append((time.perf_counter() - t) * 1000)
    return median(times), percentile(times, 95), queries, response.status_code


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else POLL_REPEATS
    call_command("migrate", verbosity=0)
    setup_test_environment(debug=False)  # DEBUG off, 'testserver' allowed, as under the test runner
    override_settings(ROOT_URLCONF="bench.hello_urls").enable()

    user = get_user_model().objects.create_user("bench", password=None)
    project = services.project_create(name="Bench", owner=user, slug="bench")
    mara = Character.objects.create(
        project=project, name="Mara", slug="mara", brief="A woman, short grey hair, grey eyes."
    )
    t = time.perf_counter()
    Conf.SYNC = True  # offline generator, inline: 8 real finished candidates with images
    eight = services.casting_start(character=mara, user=user, count=8)
    Conf.SYNC = False
    for c in eight:
        c.refresh_from_db()
    source = eight[0]
    by_size = {}
    for n in SIZES:
        ch = Character.objects.create(
            project=project, name=f"Cast {n}", slug=f"cast-{n}", brief="A man, dark beard."
        )
        for _ in range(n):
            clone_candidate(source, ch)
        by_size[n] = ch
    boards = {}
    for n in SIZES:
        p = services.project_create(name=f"Board {n}", owner=user, slug=f"board-{n}")
        for i in range(n):
            ch = Character.objects.create(
                project=p, name=f"Person {i:03}", slug=f"person-{i}", brief="Someone."
            )
            ch.locked_candidate = clone_candidate(source, ch, approve=True)
            ch.save(update_fields=["locked_candidate"])
        boards[n] = p
    print(f"setup {time.perf_counter() - t:.1f} s; {machine()}")
    print("(2 shared cores: times are medians over repeats, in-process, no network)")

    client = Client()
    client.force_login(user)
    htmx = {"HX-Request": "true"}

    print(f"\n(a) polling, {repeats} requests each")
    hello = timed(client, "/hello", repeats)
    hello_user = timed(client, "/hello-user", repeats)
    # The hot path: a card still waiting for its generation polls every second and is told
    # "nothing new" (204) after a status check. A card is rendered once, when it finishes.
    from characters.models import Generation

    Generation.objects.filter(pk=eight[3].generation_id).update(status="running")
    poll_url = f"/p/bench/c/mara/candidates/{eight[3].pk}/?poll=1&seen=running"
    poll = timed(client, poll_url, repeats, **htmx)
    final_url = f"/p/bench/c/mara/candidates/{eight[4].pk}/?poll=1&seen=running"
    final = timed(client, final_url, repeats, **htmx)
    print(
        f"  hello view            median {hello[0]:6.2f} ms  p95 {hello[1]:6.2f}  {hello[2]} queries"
    )
    print(f"  hello, logged in      median {hello_user[0]:6.2f} ms  p95 {hello_user[1]:6.2f}"
          f"  {hello_user[2]} queries  (loads session and user)")  # fmt: skip
    print(f"  pending card poll     median {poll[0]:6.2f} ms  p95 {poll[1]:6.2f}  {poll[2]} queries"
          f"  (status {poll[3]}, 8 candidates)")  # fmt: skip
    print(f"  finished card render  median {final[0]:6.2f} ms  p95 {final[1]:6.2f}  {final[2]} queries"
          f"  (status {final[3]}, once per card)")  # fmt: skip
    ratio = poll[0] / hello[0]
    print(
        f"  ratio poll/hello      {ratio:.1f}x (goal <= 2x)   {'ok' if ratio <= 2 else 'OVER GOAL'}"
    )
    print(f"  ratio poll/hello, logged in  {poll[0] / hello_user[0]:.1f}x  (for context)")

    print(f"\n(b) growth, {PAGE_REPEATS} requests each")
    print(
        f"  {'page':28} {'n':>4} {'queries':>8} {'median ms':>10} {'p95 ms':>8} {'ms per item':>12}"
    )
    rows = []
    for n, p in boards.items():
        rows.append(("board (characters)", n, timed(client, f"/p/{p.slug}/", PAGE_REPEATS)))
    for n, ch in by_size.items():
        url = f"/p/bench/c/{ch.slug}/"
        rows.append(("character (candidates)", n, timed(client, url, PAGE_REPEATS)))
    for label, n, (med, p95, queries, status) in rows:
        flag = "" if status == 200 else f"  status {status}"
        print(f"  {label:28} {n:4} {queries:8} {med:10.1f} {p95:8.1f} {med / n:12.2f}{flag}")
    for label in ("board (characters)", "character (candidates)"):
        qs = [r[2][2] for r in rows if r[0] == label]
        ms = [r[2][0] for r in rows if r[0] == label]
        print(f"  {label}: queries {'constant' if len(set(qs)) == 1 else 'GROW ' + str(qs)},"
              f" time x{ms[-1] / ms[0]:.1f} for x{SIZES[-1] // SIZES[0]} items")  # fmt: skip

    print(f"\n(c) update check, {repeats} requests each")
    last = Activity.objects.filter(character=mara).order_by("-id").values_list("id", flat=True)[0]
    for label, since in (("nothing new", last), ("something new", last - 1)):
        med, p95, queries, status = timed(
            client, f"/p/bench/c/mara/changes?since={since}", repeats, **htmx
        )
        print(f"  changes?since ({label:13}) median {med:6.2f} ms  p95 {p95:6.2f}  "
              f"{queries} queries  status {status}  ({med / hello[0]:.1f}x hello)")  # fmt: skip

    page_changes(client, user, project)


def page_changes(client: Client, user, project) -> None:
    print("\n(d) a change on the character page: queries of the request and its follow-ups")
    ines = Character.objects.create(
        project=project, name="Ines", slug="ines", brief="A woman, red hair, freckles."
    )
    Conf.SYNC = True
    (face,) = services.casting_start(character=ines, user=user, count=1)
    face.refresh_from_db()
    services.candidate_approve(candidate=face, user=user)
    (done,) = services.sheet_generate(character=ines, user=user, count=1)
    Conf.SYNC = False  # the POST below queues its options, as a real one does for the worker
    page = "/p/bench/c/ines/"
    client.get(page)
    post, response, fetched = count_with_follow_ups(
        client,
        page,
        lambda: client.post(
            "/p/bench/c/ines/sheets/generate", {"count": "4", "preset": "six"}, headers=HTMX
        ),
    )
    print(f"  sheet POST (4 options)    {post:3} queries  status {response.status_code}"
          f"  follow-up GETs {len(fetched)}: {[u for u, _ in fetched]}")  # fmt: skip
    card, response, fetched = count_with_follow_ups(
        client,
        page,
        lambda: client.get(
            f"/p/bench/c/ines/sheets/{done.pk}/?fragment=card&poll=1&seen=running", headers=HTMX
        ),
    )
    print(f"  finished sheet card       {card:3} queries  status {response.status_code}"
          f"  follow-up GETs {len(fetched)}: {[u for u, _ in fetched]}")  # fmt: skip
    print(
        f"BENCH sheet_post_with_follow_ups {post} queries goal < 15 {'ok' if post < 15 else 'missed'}"
    )
    print(
        f"BENCH finished_sheet_card_with_follow_ups {card} queries goal < 10 {'ok' if card < 10 else 'missed'}"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        connection.close()
        shutil.rmtree(WORK, ignore_errors=True)
