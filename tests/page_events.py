"""What a page does after an htmx response, replayed with a test client so its cost can be counted.

htmx fires each event named in a response's HX-Trigger header on the body; every element of the
page with `hx-trigger="<event> from:body"` then GETs its hx-get URL, and those answers may fire
events in turn. `follow_ups` replays that cascade against the page as it stands, so a test (and
the request bench) can count the queries of a POST *and everything the page then fetches*.
Out-of-band swaps ride in the first response and cost nothing more, which is the point.
"""

from __future__ import annotations

import json
from html import unescape
from html.parser import HTMLParser

from django.db import connection
from django.test.utils import CaptureQueriesContext


class _Listeners(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.by_event: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        trigger, url = a.get("hx-trigger") or "", a.get("hx-get")
        if not url:
            return
        for part in trigger.split(","):
            words = part.split()
            if len(words) >= 2 and words[1] == "from:body":
                self.by_event.setdefault(words[0], []).append(unescape(url))


def listeners(html: str) -> dict[str, list[str]]:
    """event -> the URLs the page GETs when the event fires on the body."""
    parser = _Listeners()
    parser.feed(html)
    return parser.by_event


def events(response) -> list[str]:
    """The event names of a response's HX-Trigger header (JSON object or comma list)."""
    raw = response.headers.get("HX-Trigger", "")
    if not raw:
        return []
    try:
        return list(json.loads(raw))
    except ValueError:
        return [e.strip() for e in raw.split(",") if e.strip()]


HTMX = {"HX-Request": "true"}


def follow_ups(client, page_html: str, response, *, depth: int = 3) -> list[tuple[str, int]]:
    """The GETs the page makes after `response`, as (url, status), fetched with `client`."""
    on = listeners(page_html)
    done: list[tuple[str, int]] = []
    pending = [response]
    for _ in range(depth):
        fired = [event for r in pending for event in events(r)]
        pending = []
        for event in fired:
            for url in on.get(event, []):
                answer = client.get(url, headers=HTMX)
                done.append((url, answer.status_code))
                pending.append(answer)
    return done


def count_with_follow_ups(client, page_url: str, request) -> tuple[int, object, list]:
    """Queries of `request()` (a callable making one htmx request with `client`) plus every GET
    the page at `page_url` makes because of its answer; also the answer and the follow-ups."""
    page = client.get(page_url).content.decode()
    with CaptureQueriesContext(connection) as ctx:
        response = request()
        fetched = follow_ups(client, page, response)
    return len(ctx.captured_queries), response, fetched
