"""gunicorn settings every deployment uses (docs/deploy.md):

    gunicorn -c studio/gunicorn_conf.py studio.wsgi:application -b 0.0.0.0:8000 -w 5

The access log goes to stdout with link tokens redacted (studio/logs.py): every field of a line
(request line, path, query, Referer, headers) is redacted before the format is applied."""

import sys
from pathlib import Path

from gunicorn.glogging import Logger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the `gunicorn` script too

from studio.logs import redact


class RedactingGunicornLogger(Logger):
    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}


logger_class = RedactingGunicornLogger
accesslog = "-"
timeout = 60
