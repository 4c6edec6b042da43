"""Keep link tokens out of every log: the development server's request lines, Django's own
"Not Found: /s/..." warnings, and gunicorn's access log (docs/deploy.md runs gunicorn with
studio/gunicorn_conf.py, which names RedactingGunicornLogger).

A share link (/s/<token>), an invite (/invite/<token>) and a provider's reference download
(/r/<token>) carry their secret in the path; a page opened from one sends it on in the
Referer, and the log-in link from an invite carries it URL-encoded in ?next=. Each becomes
/s/[redacted] (or %2Fs%2F[redacted]). Imports nothing from Django or gunicorn (an optional
dependency): settings.LOGGING and gunicorn_conf.py both load it.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# /s/, /invite/ or /r/ at the start of a path (after a space, a quote, "=", or scheme://host),
# written plainly or URL-encoded; the token runs to the next separator.
_TOKEN_PATH = re.compile(
    r"""((?:^|(?<=[\s"'=])|(?<=://)[^/\s"']*)(?:/|%2F)(?:s|invite|r)(?:/|%2F))[^/?#&%\s"']+""",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(rf"\1{REDACTED}", text)


class RedactTokens(logging.Filter):
    """A logging filter (settings.LOGGING puts it on every handler) that rewrites the record's
    message and arguments; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True
