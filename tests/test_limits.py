"""Rate limits that count right (issue 16, items 1 and 3): log-in keyed on the username as
Django's lookup reads it plus a per-address cap, the client's address from a trusted proxy
only, and counts kept in the shared cache with an atomic incr."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.urls import reverse

from characters import limits, tasks
from tests.concurrency import at_once
from tests.conftest import PASSWORD

# Eleven spellings that Django's UsernameField (NFKC) turns into "vic": each logs into vic.
VIC_SPELLINGS = [
    "vic",
    "𝔳𝔦𝔠",
    "ⓥⓘⓒ",
    "ｖｉｃ",
    "𝐯𝐢𝐜",
    "𝓋𝒾𝒸",
    "𝕧𝕚𝕔",
    "𝚟𝚒𝚌",
    "𝗏𝗂𝖼",
    "𝖛𝖎𝖈",
    "𝘷𝘪𝘤",
]


def _login(client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.mark.django_db
class TestLoginLimit:
    def test_look_alike_spellings_all_log_into_the_same_account(self, client, make_user):
        vic = make_user("vic")
        for spelling in VIC_SPELLINGS:
            client.logout()
            assert _login(client, spelling, PASSWORD).status_code == 302, spelling
            assert client.session["_auth_user_id"] == str(vic.pk)

    def test_look_alike_spellings_share_one_count(self, client, make_user):
        make_user("vic")
        answers = [
            _login(client, spelling, "wrong").status_code
            for spelling in VIC_SPELLINGS
            for _ in range(5)
        ]
        assert answers.count(200) == 5  # the form again, with its error: five tries in all
        assert answers.count(429) == 50
        response = _login(client, "ⓥⓘⓒ", PASSWORD)
        assert response.status_code == 429
        assert "Wait 15 minutes" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_case_is_one_count_too(self, client, make_user):
        make_user("vic")
        for spelling in ["vic", "VIC", "Vic", "vIc", "ViC"]:
            assert _login(client, spelling, "wrong").status_code == 200
        assert _login(client, "VIc", "wrong").status_code == 429

    def test_one_address_gets_twenty_tries_across_all_usernames(self, client, make_user):
        make_user("vic")
        for n in range(limits.LOGIN_PER_ADDRESS.allowed):
            assert _login(client, f"someone-{n}", "wrong").status_code == 200
        assert _login(client, "someone-else", "wrong").status_code == 429
        assert _login(client, "vic", PASSWORD).status_code == 429  # until the window passes

    def test_a_successful_log_in_does_not_use_up_the_address(self, client, make_user):
        make_user("vic")
        for _ in range(limits.LOGIN_PER_ADDRESS.allowed + 5):
            client.logout()
            assert _login(client, "vic", PASSWORD).status_code == 302
        assert _login(client, "nobody", "wrong").status_code == 200

    def test_another_address_keeps_its_own_count(self, client, make_user):
        make_user("vic")
        for _ in range(5):
            _login(client, "vic", "wrong")
        assert _login(client, "vic", "wrong").status_code == 429
        response = client.post(
            reverse("login"),
            {"username": "vic", "password": PASSWORD},
            REMOTE_ADDR="198.51.100.20",
        )
        assert response.status_code == 302


class TestClientAddress:
    """Which address a request is counted under."""

    def _ip(self, rf, settings, peer: str, header: str | None = None, proxies=()):
        settings.TURNAROUND_TRUSTED_PROXIES = list(proxies)
        extra = {"HTTP_X_FORWARDED_FOR": header} if header is not None else {}
        return limits.client_ip(rf.get("/", REMOTE_ADDR=peer, **extra))

    def test_without_trusted_proxies_the_header_is_ignored(self, rf, settings):
        assert self._ip(rf, settings, "203.0.113.7", "1.2.3.4") == "203.0.113.7"

    def test_a_header_from_an_untrusted_peer_is_ignored(self, rf, settings):
        ip = self._ip(rf, settings, "203.0.113.7", "1.2.3.4", proxies=["10.0.0.0/8"])
        assert ip == "203.0.113.7"

    def test_the_right_most_untrusted_hop_is_the_client(self, rf, settings):
        # The client wrote "6.6.6.6" itself; our proxies appended what they saw connect.
        ip = self._ip(
            rf,
            settings,
            "10.0.0.5",
            "6.6.6.6, 203.0.113.7, 10.0.0.9",
            proxies=["10.0.0.0/8"],
        )
        assert ip == "203.0.113.7"

    def test_an_unreadable_hop_stops_at_the_last_trusted_one(self, rf, settings):
        ip = self._ip(rf, settings, "10.0.0.5", "203.0.113.7, junk", proxies=["10.0.0.5"])
        assert ip == "10.0.0.5"

    def test_ipv6_and_ports(self, rf, settings):
        proxies = ["::1", "10.0.0.0/8"]
        assert self._ip(rf, settings, "::1", "[2001:db8::1]:443", proxies) == "2001:db8::1"
        assert self._ip(rf, settings, "10.1.1.1", "198.51.100.4:5555", proxies) == "198.51.100.4"

    def test_the_header_can_be_another_one(self, rf, settings):
        settings.TURNAROUND_TRUSTED_PROXIES = ["10.0.0.0/8"]
        settings.TURNAROUND_CLIENT_IP_HEADER = "X-Real-IP"
        request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_REAL_IP="203.0.113.9")
        assert limits.client_ip(request) == "203.0.113.9"


@pytest.mark.django_db
class TestBehindAProxy:
    WRONG = "/s/" + "W" * 43

    def test_one_persons_wrong_links_do_not_lock_out_everyone_behind_the_proxy(
        self, client, settings
    ):
        settings.TURNAROUND_TRUSTED_PROXIES = ["10.0.0.0/8"]
        alice = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
        bob = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "198.51.100.8"}
        answers = [client.get(self.WRONG, **alice).status_code for _ in range(11)]
        assert answers == [404] * 10 + [429]
        assert client.get(self.WRONG, **bob).status_code == 404

    def test_a_client_cannot_escape_the_count_by_writing_the_header(self, client, settings):
        settings.TURNAROUND_TRUSTED_PROXIES = ["10.0.0.0/8"]
        answers = [
            # Through our proxy, which appends the real address after whatever was sent.
            client.get(
                self.WRONG,
                REMOTE_ADDR="10.0.0.5",
                HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.7",
            ).status_code
            for n in range(11)
        ]
        assert answers == [404] * 10 + [429]
        direct = [
            client.get(self.WRONG, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
            for n in range(11)
        ]
        assert direct == [404] * 10 + [429]  # no trusted proxy in front: the header is ignored

    def test_opening_a_good_link_gives_its_try_back(self, client, share_link):
        _, token = share_link("view")
        for _ in range(15):
            assert client.get(f"/s/{token}").status_code == 302
        for _ in range(10):
            assert client.get(self.WRONG).status_code == 404
        refused = client.get(self.WRONG)
        assert refused.status_code == 429
        assert refused.templates[0].name == "429.html"
        assert "Too many wrong links or passwords from here. Wait" in refused.content.decode()

    def test_wrong_passwords_show_the_form_again_and_still_count(self, client, share_link):
        _, token = share_link("comment", password="right horse")
        wrong = {"name": "Nadia", "password": "wrong horse"}
        for _ in range(10):
            response = client.post(f"/s/{token}", wrong)
            assert response.status_code == 200
            assert (
                "That password is not right" in response.text and 'value="Nadia"' in response.text
            )
        assert client.post(f"/s/{token}", wrong).status_code == 429
        assert client.get(self.WRONG).status_code == 429  # one count for links and passwords


@pytest.mark.django_db(transaction=True)
class TestSharedCache:
    def test_the_default_cache_is_the_database_table_or_redis(self, settings):
        backend = settings.CACHES["default"]["BACKEND"]
        expected = "RedisCache" if os.environ.get("REDIS_URL") else "AtomicDatabaseCache"
        assert backend.endswith(expected)

    def test_incr_keeps_the_window(self):
        if not settings_backend().endswith("AtomicDatabaseCache"):
            pytest.skip("the database cache's own incr")
        cache.add("window", 1, 900)
        before = _expiry("window")
        cache.incr("window")
        assert cache.get("window") == 2
        assert _expiry("window") == before  # BaseCache.incr's set() would make it 300 s

    def test_incr_from_many_threads_loses_no_count(self):
        cache.add("racing", 0, 900)

        def bump() -> None:
            for _ in range(15):
                cache.incr("racing")

        outcomes = at_once(*[bump] * 6)
        assert outcomes == [None] * 6  # no thread met an error
        assert cache.get("racing") == 90

    def test_add_takes_a_free_or_expired_key_only_in_one_statement(self, django_assert_num_queries):
        if not settings_backend().endswith("AtomicDatabaseCache"):
            pytest.skip("the database cache's own add")
        with django_assert_num_queries(1):
            assert cache.add("once", "first", 60) is True
        with django_assert_num_queries(1):
            assert cache.add("once", "second", 60) is False  # live: kept as it was
        assert cache.get("once") == "first"
        with connection.cursor() as cursor:  # its window passes
            cursor.execute(
                "UPDATE turnaround_cache SET expires = %s WHERE cache_key = %s",
                ["2000-01-01 00:00:00", cache.make_and_validate_key("once")],
            )
        expired = _expiry("once")
        assert cache.add("once", "third", 60) is True
        assert cache.get("once") == "third" and _expiry("once") != expired  # a new window

    def test_the_requeue_job_sweeps_expired_entries(self):
        if not settings_backend().endswith("AtomicDatabaseCache"):
            pytest.skip("the database cache's own sweep")
        cache.add("old", 1, 60)
        cache.add("fresh", 1, 60)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE turnaround_cache SET expires = %s WHERE cache_key = %s",
                ["2000-01-01 00:00:00", cache.make_and_validate_key("old")],
            )
        tasks.requeue_stuck_generations()
        assert _expiry("old") is None and cache.get("fresh") == 1

    def test_racing_adds_of_one_key_let_exactly_one_through(self):
        wins = at_once(*[lambda: cache.add("contested", 1, 60)] * 6)
        assert sorted(wins) == [False] * 5 + [True]  # an error would not sort among them


def settings_backend() -> str:
    return settings.CACHES["default"]["BACKEND"]


def _expiry(key: str):
    stored = cache.make_and_validate_key(key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT expires FROM turnaround_cache WHERE cache_key = %s", [stored])
        row = cursor.fetchone()
        return None if row is None else row[0]


def _settings(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "TURNAROUND_CACHE", "TURNAROUND_TRUSTED"))
    }
    return subprocess.run(
        [sys.executable, "-c", f"import studio.settings as s; print({expression})"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


class TestCacheSettings:
    def test_no_variables_mean_the_database_table(self):
        out = _settings({}, "s.CACHES['default']['BACKEND'], s.CACHES['default']['LOCATION']")
        assert out.stdout.split() == ["studio.cache.AtomicDatabaseCache", "turnaround_cache"]

    def test_redis_url_is_shared_by_the_cache(self):
        out = _settings(
            {"REDIS_URL": "redis://cache.internal:6379/2"},
            "s.CACHES['default']['BACKEND'], s.CACHES['default']['LOCATION'], s.Q_CLUSTER['cache']",
        )
        assert out.stdout.split() == [
            "django.core.cache.backends.redis.RedisCache",
            "redis://cache.internal:6379/2",
            "default",
        ]

    def test_its_own_variable_wins(self):
        out = _settings(
            {"REDIS_URL": "redis://broker:6379/0", "TURNAROUND_CACHE_URL": "database"},
            "s.CACHES['default']['BACKEND'], s.Q_CLUSTER['cache']",
        )
        assert out.stdout.split() == ["studio.cache.AtomicDatabaseCache", "local"]

    def test_a_wrong_cache_url_says_what_is_accepted(self):
        out = _settings({"TURNAROUND_CACHE_URL": "memcached://x"}, "1")
        assert out.returncode != 0
        assert "TURNAROUND_CACHE_URL must be a redis:// URL, 'database' or 'memory'" in out.stderr

    def test_a_wrong_proxy_says_so(self):
        out = _settings({"TURNAROUND_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}, "1")
        assert out.returncode != 0
        assert "'proxy.internal' is not an address or a CIDR range" in out.stderr

    def test_proxies_and_header_are_read(self):
        out = _settings(
            {
                "TURNAROUND_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
                "TURNAROUND_CLIENT_IP_HEADER": "X-Real-IP",
            },
            "s.TURNAROUND_TRUSTED_PROXIES, s.TURNAROUND_CLIENT_IP_HEADER",
        )
        assert out.stdout.strip() == "['10.0.0.0/8', '192.168.1.1'] X-Real-IP"


def test_a_counter_is_never_left_without_a_window(settings):
    """give_back on a count that reached zero deletes it, so no key outlives its window."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    limit = limits.Limit("t", allowed=1, window=60)
    assert limits.take(limit, "a")
    limits.give_back(limit, "a")
    assert cache.get(limits._key(limit, ("a",))) is None
    limits.give_back(limit, "a")  # nothing there: no error, nothing made
    assert cache.get(limits._key(limit, ("a",))) is None
    assert limits.take(limit, "a") and not limits.take(limit, "a")


@pytest.mark.django_db
def test_refusals_are_logged_without_any_link_token(client, caplog):
    token = "T" * 43
    with caplog.at_level("WARNING", logger="turnaround.access"):
        client.get(f"/s/{token}")
        client.get(f"/invite/{token}")
    lines = [r.getMessage() for r in caplog.records if r.name == "turnaround.access"]
    assert len(lines) == 2
    assert all(token[:10] not in line for line in lines), lines
    assert any("path=/invite/[redacted]" in line for line in lines)


@pytest.mark.django_db
def test_retrying_a_locked_username_does_not_use_up_the_address(client, make_user):
    make_user("vic")
    make_user("wen")
    for _ in range(30):
        _login(client, "vic", "wrong")  # 5 answered, 25 refused
    assert _login(client, "wen", PASSWORD).status_code == 302
