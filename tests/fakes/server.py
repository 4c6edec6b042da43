"""A fake of Recraft, Gemini and Seedance on one loopback port, for tests and by hand.

It speaks each wire format closely enough that the real clients cannot tell: it checks auth and
every field the clients send, answers errors in each provider's own shape, draws answers with
the offline generator at the sizes the real models produce, and injects faults on request.

    python -m tests.fakes.server --port 8765

Mounts: Recraft at /recraft/v1, Gemini at /gemini, Ark (Seedance) at /ark/api/v3, Ark's signed
OpenAPI (the asset library: CreateAssetGroup, CreateAsset, GetAsset) at /ark-open/, result files
at /files/<id>. Like the real Seedance 2.0, the fake refuses a reference image sent inline (data:
or https) as a photoreal face unless `inline_faces_are_photoreal` is turned off (a stylised
character), and takes asset:// references once their asset is Active. Faults: FakeProvider.add_fault(route, kind, ...) in Python, or POST JSON
{"route": ..., "kind": ..., ...} to /_admin/faults. Recorded requests: .requests or
GET /_admin/requests.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.parser
import io
import itertools
import json
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from characters.generators.offline import draw_portrait, traits_from
from characters.stages import STAGES

RECRAFT_KEY = "fake-recraft-key"
GEMINI_KEY = "fake-gemini-key"
ARK_KEY = "fake-ark-key"
ARK_ACCESS_KEY = "AKFAKEACCESSKEY0001"
ARK_SECRET_KEY = "fake-ark-secret-key"
ARK_REGION = "ap-southeast-1"

RECRAFT_MODELS = {
    "recraftv3": {"1024x1365", "1024x1024", "1365x1024", "1024x1536", "1536x1024"},
    "recraftv4_1": {"896x1216", "1024x1024", "1216x896"},
    "recraftv4_1_pro": {"1792x2432", "2048x2048", "2432x1792"},
    "recraftv4": {"896x1216", "1024x1024"},
    "recraftv4_pro": {"1792x2432", "2048x2048"},
}
RECRAFT_RATIOS = {"1:1", "3:4", "4:3", "16:9", "9:16", "2:3", "3:2"}
GEMINI_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
GEMINI_1K = {  # gemini-3-pro-image output sizes at 1K; 2K and 4K are x2 and x4
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
GEMINI_SIZES = {
    (ratio, size): (w * factor, h * factor)
    for ratio, (w, h) in GEMINI_1K.items()
    for size, factor in (("1K", 1), ("2K", 2), ("4K", 4))
}
# Served models. The retired preview ids answer 404, as Google's API does after a shutdown.
GEMINI_IMAGE_MODELS = {"gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-2.5-flash-image"}
GEMINI_TEXT_MODELS = {"gemini-3.1-pro-preview", "gemini-3.5-flash", "gemini-2.5-flash"}
GEMINI_MAX_BYTES = 100 * 1024 * 1024
ARK_MODELS = {"dreamina-seedance-2-0-260128", "dreamina-seedance-2-0-fast-260128"}
ARK_RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"}
ARK_RES = {"480p": 480, "720p": 720, "1080p": 1080}

# A tiny valid-looking MP4: an ftyp box and a free box. Enough for a content-type test.
FAKE_MP4 = (
    struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
    + struct.pack(">I", 16) + b"free" + b"turnaround00"
)  # fmt: skip


def reported(fault: Fault | None, honest: Any) -> Any:
    """What the answer says was charged: the honest figure, or the "cost" fault's `value`
    (1e30, -900000, NaN, Infinity: json.dumps writes the last two as the bare words a lax
    server sends and Python's json.loads reads)."""
    if fault is not None and fault.kind == "cost":
        return fault.params["value"]
    return honest


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def portrait_png(prompt: str, seed: int, width: int, height: int) -> bytes:
    """An offline portrait at any size, fast: drawn small, scaled up with nearest neighbour."""
    scale = min(1.0, 640 / max(width, height))
    small_w, small_h = max(16, round(width * scale)), max(16, round(height * scale))
    img, _ = draw_portrait(traits_from(prompt, seed), small_w, small_h)
    if (small_w, small_h) != (width, height):
        img = img.resize((width, height), Image.Resampling.NEAREST)
    return png_bytes(img)


def sheet_png(prompt: str, seed: int, width: int, height: int) -> bytes:
    """A six-panel turnaround sheet in the default layout, scaled to the model's size."""
    from characters.generators.offline_sheet import draw_sheet
    from characters.layouts import get_preset

    scale = min(1.0, 1376 / max(width, height))
    sw, sh = max(240, round(width * scale)), max(135, round(height * scale))
    sheet, _, _ = draw_sheet(traits_from(prompt, seed), get_preset("six"), sw, sh)
    if (sw, sh) != (width, height):
        sheet = sheet.resize((width, height), Image.Resampling.NEAREST)
    return png_bytes(sheet)


def edited_png(panel: bytes, size: tuple[int, int] | None = None) -> bytes:
    """An edit answers with the panel it was sent, visibly retouched, at the size asked for
    (like Gemini, which answers at its imageConfig size and not the input's)."""
    with Image.open(io.BytesIO(panel)) as src:
        img = src.convert("RGB")
    if size is not None and img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    img = Image.eval(img, lambda v: min(255, v + 6))
    return png_bytes(img)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims a huge image: a decompression bomb for the decoder."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def truncated_png() -> bytes:
    data = portrait_png("truncated", 1, 256, 320)
    return data[: len(data) // 2]


HTML_PAGE = b"<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>"


@dataclass
class Fault:
    """One injected misbehaviour. route is e.g. "recraft.generate"; times is how many hits."""

    route: str
    kind: str
    times: int = 1
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    route: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LibraryAsset:
    id: str
    group_id: str
    url: str
    name: str
    width: int
    height: int
    gets: int = 0
    status: str = "Processing"  # → Active, or Failed with outcome "failed"
    outcome: str = "active"


@dataclass
class Task:
    id: str
    body: dict[str, Any]
    polls: int = 0
    status: str = "queued"
    outcome: str = "succeeded"  # or "sensitive", "never"
    video_id: str = ""
    created: float = field(default_factory=time.monotonic)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer is what the size-cap and deadline faults are for.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeProvider:
    """The shared state behind the handler: files, tasks, faults, recorded requests."""

    def __init__(self, *, polls_to_finish: int = 2, task_seconds: float | None = None) -> None:
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self.tasks: dict[str, Task] = {}
        self.polls_to_finish = polls_to_finish
        # When set, a Seedance task takes this long from its creation, however often it is
        # polled (as the real service does), instead of finishing after polls_to_finish polls.
        self.task_seconds = self.default_task_seconds = task_seconds
        self.groups: dict[str, dict[str, Any]] = {}
        self.assets: dict[str, LibraryAsset] = {}
        self.asset_gets_to_active = 2  # GetAsset reads Processing this many times, then Active
        self.inline_faces_are_photoreal = True
        self.refuse_asset_names: set[str] = set()  # assets whose Name contains one: Failed
        self.counter = itertools.count(1)
        self.stopping = threading.Event()
        self.base_url = ""
        self.server: QuietServer | None = None

    # --- control --------------------------------------------------------------------------

    def add_fault(self, route: str, kind: str, *, times: int = 1, **params: Any) -> None:
        with self.lock:
            self.faults.append(Fault(route, kind, times, params))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.tasks.clear()
            self.task_seconds = self.default_task_seconds
            self.groups.clear()
            self.assets.clear()
            self.asset_gets_to_active = 2
            self.inline_faces_are_photoreal = True
            self.refuse_asset_names = set()

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.route == route or (route.startswith("files") and fault.route == "files"):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def routed(self, route: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.route == route]

    def store(self, data: bytes, mime: str) -> str:
        file_id = f"f{next(self.counter):05d}"
        with self.lock:
            self.files[file_id] = (data, mime)
        return f"{self.base_url}/files/{file_id}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter):06d}"

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        handler = type("BoundHandler", (Handler,), {"fake": self})
        self.server = QuietServer((host, port), handler)
        self.base_url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class Handler(BaseHTTPRequestHandler):
    fake: FakeProvider
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet under tests

    # --- plumbing -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def send(
        self, status: int, body: bytes, mime: str, headers: dict[str, str] | None = None
    ) -> None:
        if getattr(self, "respond_after", None) is not None:
            time.sleep(max(0.0, self.respond_after - time.monotonic()))
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(payload).encode(), "application/json", headers)

    def route_of(self, method: str, path: str) -> str:
        table = [
            ("POST", r"/recraft/v1/images/generations", "recraft.generate"),
            ("POST", r"/recraft/v1/images/crispUpscale", "recraft.upscale"),
            ("GET", r"/recraft/v1/users/me", "recraft.me"),
            ("POST", r"/gemini/v1beta/models/[^/:]+:generateContent", "gemini.generate"),
            ("GET", r"/gemini/v1beta/models/[^/:]+", "gemini.model"),
            ("GET", r"/gemini/v1beta/models", "gemini.models"),
            ("POST", r"/ark/api/v3/contents/generations/tasks", "ark.create"),
            ("GET", r"/ark/api/v3/contents/generations/tasks/[^/]+", "ark.poll"),
            ("DELETE", r"/ark/api/v3/contents/generations/tasks/[^/]+", "ark.delete"),
            ("POST", r"/ark-open/?", "arkopen.call"),
            ("GET", r"/files/[^/]+", "files"),
            ("GET", r"/_admin/requests", "admin.requests"),
            ("POST", r"/_admin/faults", "admin.faults"),
            ("POST", r"/_admin/reset", "admin.reset"),
        ]
        for want, pattern, name in table:
            if method == want and re.fullmatch(pattern, path):
                return name
        return ""

    def dispatch(self, method: str) -> None:
        self.arrived = time.monotonic()
        self.respond_after: float | None = None  # an inclusive latency fault's moment to answer
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route = self.route_of(method, path)
        if not route.startswith("admin"):
            with self.fake.lock:
                self.fake.requests.append(
                    Recorded(
                        method, path, route, {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
        if not route:
            self.send(404, b"404 page not found", "text/plain")
            return
        fault = self.fake.take_fault(route) if not route.startswith("admin") else None
        if fault is not None and self.apply_fault(route, fault):
            return
        handler = getattr(self, "route_" + route.replace(".", "_"))
        handler(path, body, fault)

    # --- faults ---------------------------------------------------------------------------

    def provider_error(self, route: str, status: int, message: str, code: str = "") -> None:
        """An error in the provider's own shape."""
        headers = {}
        if route.startswith("recraft"):
            if code:
                self.send_json(status, {"code": code, "message": message})
            else:
                self.send(status, message.encode(), "text/plain; charset=utf-8")
            return
        if route.startswith("gemini"):
            statuses = {
                400: "INVALID_ARGUMENT",
                403: "PERMISSION_DENIED",
                404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL",
                503: "UNAVAILABLE",
                504: "DEADLINE_EXCEEDED",
            }
            error = {
                "code": status,
                "message": message,
                "status": code or statuses.get(status, "UNKNOWN"),
            }
            self.send_json(status, {"error": error}, headers)
            return
        if route.startswith("ark"):
            self.send_json(
                status, {"error": {"code": code or "InternalServiceError", "message": message}}
            )
            return
        self.send(status, message.encode(), "text/plain")

    def apply_fault(self, route: str, fault: Fault) -> bool:
        """Act out a fault. True when the response has been sent (or never will be)."""
        p = fault.params
        kind = fault.kind
        if kind == "latency":
            seconds = float(p.get("seconds", 0.2))
            if p.get("inclusive"):
                # The answer leaves `seconds` after the request came in, the fake's own work
                # (drawing the picture) included, as a real service's latency includes its own.
                self.respond_after = self.arrived + seconds
            else:
                time.sleep(seconds)  # then the work: the answer comes a little later
            return False
        if kind == "status":
            status = int(p.get("status", 500))
            headers = {}
            if "retry_after" in p:
                headers["Retry-After"] = str(p["retry_after"])
            if route.startswith("gemini") and "retry_delay" in p:
                error = {
                    "code": status,
                    "message": p.get("message", "Resource has been exhausted."),
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": p["retry_delay"],
                        }
                    ],
                }
                self.send_json(status, {"error": error}, headers)
                return True
            if headers:
                body = p.get("message", "Too many requests").encode()
                if route.startswith("recraft"):
                    self.send(status, body, "text/plain", headers)
                else:
                    error = {
                        "error": {
                            "code": p.get("code", "RateLimitExceeded"),
                            "message": body.decode(),
                        }
                    }
                    self.send_json(status, error, headers)
                return True
            self.provider_error(route, status, p.get("message", "server error"), p.get("code", ""))
            return True
        if kind == "hang":
            # Accept, read the request, then never answer until the server stops.
            self.fake.stopping.wait(float(p.get("seconds", 5)))
            self.close_connection = True
            return True
        if kind == "drip":
            body = b'{"data": [' + b" " * 10_000
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            interval = float(p.get("interval", 0.05))
            try:
                for i in range(len(body)):
                    if self.fake.stopping.wait(interval):
                        break
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
            except OSError:
                pass  # the client gave up, as it should
            self.close_connection = True
            return True
        if kind == "canned":
            # An answer given by the test (e.g. built from an official SDK's own types).
            self.send_json(int(p.get("status", 200)), p["payload"])
            return True
        if kind == "malformed_json":
            self.send(200, b'{"created": 1725000000, "data": [{"url": ', "application/json")
            return True
        if kind == "expired":
            status = int(p.get("status", 403))
            body = b'<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>'
            self.send(status, body, "application/xml")
            return True
        if kind == "redirect":
            self.send(302, b"", "text/plain", {"Location": p["location"]})
            return True
        if kind == "oversized":
            size = int(p.get("size", 2_000_000))
            if p.get("declare", True):
                self.send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * size, "image/png")
            else:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for _ in range(size // 65536 + 1):
                        self.wfile.write(b"\x00" * 65536)
                except OSError:
                    pass
                self.close_connection = True
            return True
        if route == "files":
            bodies = {
                "html": (HTML_PAGE, "text/html; charset=utf-8"),
                "html_as_png": (HTML_PAGE, "image/png"),
                "bomb": (bomb_png(), "image/png"),
                "truncated": (truncated_png(), "image/png"),
            }
            if kind in bodies:
                self.send(200, *bodies[kind])
                return True
        # Other kinds shape the normal answer; the route handler reads them.
        return False

    # --- Recraft --------------------------------------------------------------------------

    def recraft_auth(self, route: str) -> bool:
        if self.headers.get("Authorization") != f"Bearer {RECRAFT_KEY}":
            self.send(401, b"request unauthorized", "text/plain; charset=utf-8")
            return False
        return True

    def route_recraft_me(self, path: str, body: bytes, fault: Fault | None) -> None:
        if self.recraft_auth("recraft.me"):
            self.send_json(200, {"id": "u-fake", "email": "fake@example.com", "credits": 1000})

    def route_recraft_generate(self, path: str, body: bytes, fault: Fault | None) -> None:
        route = "recraft.generate"
        if not self.recraft_auth(route):
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self.provider_error(route, 400, "expected a JSON body", "invalid_request")
            return
        try:
            req = json.loads(body)
        except ValueError:
            self.provider_error(route, 400, "invalid JSON", "invalid_request")
            return
        model = req.get("model", "recraftv4_1")
        problems = []
        if model not in RECRAFT_MODELS:
            problems.append(f"unknown model {model!r}")
        prompt = req.get("prompt")
        v3 = model.startswith(("recraftv3", "recraftv2"))
        if not isinstance(prompt, str) or not prompt:
            problems.append("prompt is required")
        elif len(prompt) > (1000 if v3 else 10000):
            problems.append("prompt is too long")
        n = req.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 6:
            problems.append("n must be between 1 and 6")
        size = req.get("size")
        if size is not None and size not in RECRAFT_MODELS.get(model, set()) | RECRAFT_RATIOS:
            problems.append(f"size {size!r} is not supported by {model}")
        if not v3 and ("style" in req or "substyle" in req):
            problems.append("style is not supported by V4 models")
        if v3 and "substyle" in req and "style" not in req:
            problems.append("substyle needs style")
        seed = req.get("random_seed")
        if seed is not None and (not isinstance(seed, int) or not 0 <= seed <= 0xFFFFFFFF):
            problems.append("random_seed must be a uint32")
        fmt = req.get("response_format", "url")
        if fmt not in ("url", "b64_json"):
            problems.append("response_format must be url or b64_json")
        if problems:
            self.provider_error(route, 400, "; ".join(problems), "invalid_request")
            return
        if size and "x" in size:
            width, height = (int(v) for v in size.split("x"))
        else:
            width, height = 1024, 1365
        data = []
        for i in range(n):
            png = portrait_png(prompt, (seed or 0) + i, width, height)
            item = {"image_id": self.fake.new_id("img-")}
            if fmt == "url":
                item["url"] = self.fake.store(png, "image/png")
            else:
                item["b64_json"] = base64.b64encode(png).decode()
            data.append(item)
        credits = reported(fault, 40 * n)
        self.send_json(200, {"created": int(time.time()), "credits": credits, "data": data})

    def route_recraft_upscale(self, path: str, body: bytes, fault: Fault | None) -> None:
        route = "recraft.upscale"
        if not self.recraft_auth(route):
            return
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            self.provider_error(route, 400, "expected multipart/form-data", "invalid_request")
            return
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        files = {}
        for part in message.get_payload() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            files[name] = part.get_payload(decode=True)
        image = files.get("file") or files.get("image")
        if not image:
            self.provider_error(route, 400, "file is required", "invalid_request")
            return
        try:
            with Image.open(io.BytesIO(image)) as src:
                src.load()
                src = src.convert("RGB")
        except Exception:
            self.provider_error(route, 400, "invalid image", "invalid_image")
            return
        if not all(32 <= side <= 4096 for side in src.size):
            self.provider_error(route, 400, "image dimensions out of range", "invalid_image")
            return
        factor = min(4.0, 4096 / max(src.size))
        out = src.resize(
            (round(src.width * factor), round(src.height * factor)), Image.Resampling.NEAREST
        )
        url = self.fake.store(png_bytes(out), "image/png")
        self.send_json(
            200,
            {
                "created": int(time.time()),
                "credits": reported(fault, 4),
                "image": {"image_id": self.fake.new_id("img-"), "url": url},
            },
        )

    # --- Gemini ---------------------------------------------------------------------------

    def gemini_auth(self, route: str) -> bool:
        if self.headers.get("x-goog-api-key") != GEMINI_KEY:
            self.provider_error(route, 400, "API key not valid. Please pass a valid API key.")
            return False
        return True

    def route_gemini_model(self, path: str, body: bytes, fault: Fault | None) -> None:
        if not self.gemini_auth("gemini.model"):
            return
        model = path.rsplit("/", 1)[-1]
        if model not in GEMINI_IMAGE_MODELS | GEMINI_TEXT_MODELS:
            self.provider_error(
                "gemini.model", 404, f"models/{model} is not found for API version v1beta"
            )
            return
        self.send_json(200, {"name": f"models/{model}", "displayName": model, "version": "fake"})

    def route_gemini_models(self, path: str, body: bytes, fault: Fault | None) -> None:
        if not self.gemini_auth("gemini.models"):
            return
        first = sorted(GEMINI_IMAGE_MODELS)[0]
        self.send_json(
            200,
            {"models": [{"name": f"models/{first}", "displayName": first}], "nextPageToken": "x"},
        )

    def route_gemini_generate(self, path: str, body: bytes, fault: Fault | None) -> None:
        route = "gemini.generate"
        if not self.gemini_auth(route):
            return
        if len(body) > GEMINI_MAX_BYTES:
            self.provider_error(
                route, 400, f"Request payload size exceeds the limit: {GEMINI_MAX_BYTES} bytes."
            )
            return
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        if model not in GEMINI_IMAGE_MODELS | GEMINI_TEXT_MODELS:
            self.provider_error(route, 404, f"models/{model} is not found for API version v1beta")
            return
        try:
            req = json.loads(body)
        except ValueError:
            self.provider_error(route, 400, "Invalid JSON payload received.")
            return
        problem, texts, images = self.gemini_validate(req, model)
        if problem:
            self.provider_error(route, 400, problem)
            return
        kind = fault.kind if fault else ""
        if kind == "prompt_block":
            self.send_json(
                200,
                {
                    "promptFeedback": {
                        "blockReason": fault.params.get("reason", "PROHIBITED_CONTENT")
                    },
                    "usageMetadata": {"promptTokenCount": 270},
                },
            )
            return
        if kind == "safety":
            reason = fault.params.get("reason", "IMAGE_SAFETY")
            candidate = {
                "content": {"role": "model", "parts": []},
                "finishReason": reason,
                "index": 0,
            }
            if fault.params.get("message"):
                candidate["finishMessage"] = fault.params["message"]
            self.send_json(
                200,
                {
                    "candidates": [candidate],
                    "usageMetadata": {"promptTokenCount": 270, "totalTokenCount": 270},
                    "modelVersion": model,
                },
            )
            return
        config = req.get("generationConfig", {})
        label_request = next((t for t in texts if "numbered regions" in t), "")
        if model in GEMINI_TEXT_MODELS and label_request:
            # Panel labels: name the regions in the order sent (the layout's order), or, with
            # the "label_swap" fault, swap the third and fourth (profile and back in "six").
            kinds = re.search(r"exactly once from: ([a-z_, ]+)\.", label_request)
            names = [k.strip() for k in kinds.group(1).split(",")] if kinds else []
            count = len(re.findall(r"^Region \d+:", label_request, re.MULTILINE))
            names = names[:count]
            if kind == "label_swap" and len(names) >= 4:
                names[2], names[3] = names[3], names[2]
            text = json.dumps([{"region": i + 1, "kind": k} for i, k in enumerate(names)])
            if kind == "bad_labels":
                text = "The first one is the front, I think."
            parts = [{"text": text}]
            usage = {"promptTokenCount": 1400, "candidatesTokenCount": 80, "totalTokenCount": 1480}
        elif model in GEMINI_TEXT_MODELS:
            labels = [t[len("Panel: ") :] for t in texts if t.startswith("Panel: ")]
            if kind == "bad_findings":
                text = "Here are the findings: the airpod is in panel 2"
            else:
                findings = [
                    {
                        "panel": labels[0] if labels else "front",
                        "box": [0.62, 0.18, 0.12, 0.1],
                        "reason": "An earbud appears in the left ear.",
                    }
                ]
                text = (
                    json.dumps(findings)
                    if config.get("responseMimeType") == "application/json"
                    else str(findings)
                )
            parts = [{"text": text}]
            usage = {
                "promptTokenCount": 1200,
                "candidatesTokenCount": 60,
                "thoughtsTokenCount": 400,
                "totalTokenCount": 1660,
            }
        else:
            image_config = config.get("imageConfig", {})
            # Without imageConfig (or with the "square" fault) Gemini answers 1024x1024.
            ratio = image_config.get("aspectRatio", "1:1") if kind != "square" else "1:1"
            size = image_config.get("imageSize", "1K") if kind != "square" else "1K"
            width, height = GEMINI_SIZES.get((ratio, size), (1024, 1024))
            prompt = " ".join(texts)
            if kind == "html_image":
                final = HTML_PAGE
            elif kind == "bomb":
                final = bomb_png()
            elif kind == "truncated":
                final = truncated_png()
            elif prompt.startswith("Edit this") and images:
                final = edited_png(images[0], (width, height))
            else:
                final = sheet_png(prompt, len(images), width, height)
            thought = portrait_png(prompt, 0, 64, 64)
            parts = [
                {
                    "inlineData": {
                        "mimeType": "image/png",
                        "data": base64.b64encode(thought).decode(),
                    },
                    "thought": True,
                },
                {"text": "Here is the sheet", "thoughtSignature": "c2lnLTE="},
            ]
            if kind != "text_only":
                parts.append(
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(final).decode(),
                        },
                        "thoughtSignature": "c2lnLTI=",
                    }
                )
            tokens = reported(fault, 2000 if size == "4K" else 1120)
            usage = {
                "promptTokenCount": 270,
                "candidatesTokenCount": tokens + 10,
                "candidatesTokensDetails": [
                    {"modality": "TEXT", "tokenCount": 10},
                    {"modality": "IMAGE", "tokenCount": tokens},
                ],
                "thoughtsTokenCount": 150,
                "totalTokenCount": 270 + tokens + 160,
            }
        self.send_json(
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": parts},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": self.fake.new_id("resp-"),
            },
        )

    @staticmethod
    def gemini_validate(req: Any, model: str) -> tuple[str, list[str], list[bytes]]:
        texts: list[str] = []
        images: list[bytes] = []
        if not isinstance(req, dict):
            return "Invalid JSON payload: expected an object.", texts, images
        contents = req.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified", texts, images
        for key in ("personGeneration", "outputMimeType", "outputCompressionQuality"):
            if key in json.dumps(req.get("generationConfig", {})):
                return f'Invalid JSON payload received. Unknown name "{key}"', texts, images
        for turn in contents:
            for part in turn.get("parts", []) if isinstance(turn, dict) else []:
                if "text" in part:
                    texts.append(part["text"]) if turn.get("role", "user") == "user" else None
                elif "inlineData" in part:
                    inline = part["inlineData"]
                    if not isinstance(inline, dict) or not inline.get("mimeType"):
                        return "* inlineData.mimeType: required", texts, images
                    try:
                        images.append(base64.b64decode(inline.get("data", ""), validate=True))
                    except (binascii.Error, ValueError):
                        return "* inlineData.data: invalid base64", texts, images
                else:
                    return "* parts: a part needs text or inlineData", texts, images
        config = req.get("generationConfig", {})
        if model in GEMINI_IMAGE_MODELS:
            if len(images) > 14:
                return "Too many input images (at most 14).", texts, images
            modalities = config.get("responseModalities")
            if modalities is not None and not set(modalities) <= {"TEXT", "IMAGE"}:
                return "* responseModalities: invalid value", texts, images
            image_config = config.get("imageConfig", {})
            ratio = image_config.get("aspectRatio")
            if ratio is not None and ratio not in GEMINI_RATIOS:
                return f"* imageConfig.aspectRatio: unsupported value {ratio!r}", texts, images
            size = image_config.get("imageSize")
            if size is not None and size not in {"1K", "2K", "4K"}:
                return f"* imageConfig.imageSize: unsupported value {size!r}", texts, images
            if size in {"2K", "4K"} and model == "gemini-2.5-flash-image":
                return "imageSize is not supported for this model.", texts, images
        elif (
            config.get("responseSchema") is not None
            and config.get("responseMimeType") != "application/json"
        ):
            return "responseSchema needs responseMimeType application/json", texts, images
        return "", texts, images

    # --- Ark (Seedance) -------------------------------------------------------------------

    def ark_auth(self, route: str) -> bool:
        if self.headers.get("Authorization") != f"Bearer {ARK_KEY}":
            self.send_json(
                401,
                {
                    "error": {
                        "code": "AuthenticationError",
                        "message": "The API key in the request is missing or invalid.",
                    }
                },
            )
            return False
        return True

    def route_ark_create(self, path: str, body: bytes, fault: Fault | None) -> None:
        route = "ark.create"
        if not self.ark_auth(route):
            return
        try:
            req = json.loads(body)
        except ValueError:
            self.provider_error(
                route, 400, "The request body is not valid JSON.", "InvalidParameter"
            )
            return
        problem = self.ark_validate(req)
        if problem:
            code = "MissingParameter" if "required" in problem else "InvalidParameter"
            self.provider_error(route, 400, problem, code)
            return
        code, problem = self.ark_references_problem(req)
        if problem:
            self.provider_error(route, 400, problem, code)
            return
        task = Task(self.fake.new_id("cgt-"), req)
        if fault is not None and fault.kind in ("sensitive", "never"):
            task.outcome = fault.kind
        with self.fake.lock:
            self.fake.tasks[task.id] = task
        self.send_json(200, {"id": task.id})

    @staticmethod
    def ark_validate(req: Any) -> str:
        if not isinstance(req, dict):
            return "The request body must be an object."
        if req.get("model") not in ARK_MODELS:
            return f"The model {req.get('model')!r} does not exist or you do not have access to it."
        content = req.get("content")
        if not isinstance(content, list) or not content:
            return "The parameter `content` is required."
        roles = []
        for item in content:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text":
                if not isinstance(item.get("text"), str):
                    return "content.text must be a string"
            elif kind == "image_url":
                url = (item.get("image_url") or {}).get("url", "")
                if not (
                    url.startswith(("https://", "asset://"))
                    or re.match(r"data:image/[a-z]+;base64,", url)
                ):
                    return "content.image_url.url must be https, asset:// or a data:image URL"
                role = item.get("role")
                if role not in ("first_frame", "last_frame", "reference_image"):
                    return f"content.role {role!r} is invalid"
                roles.append(role)
            elif kind not in ("video_url", "audio_url"):
                return f"content.type {kind!r} is invalid"
        if "reference_image" in roles and {"first_frame", "last_frame"} & set(roles):
            return "first/last frame and reference images cannot be mixed"
        if roles.count("reference_image") > 9:
            return "at most 9 reference images"
        if req.get("ratio", "16:9") not in ARK_RATIOS:
            return "The parameter `ratio` is invalid."
        resolution = req.get("resolution", "720p")
        fast = "fast" in req["model"]
        if resolution not in ARK_RES or (fast and resolution == "1080p"):
            return "The parameter `resolution` is invalid."
        duration = req.get("duration", 5)
        if not isinstance(duration, int) or not (duration == -1 or 4 <= duration <= 15):
            return "The parameter `duration` is invalid."
        seed = req.get("seed", -1)
        if not isinstance(seed, int) or not -1 <= seed <= 4_294_967_295:
            return "The parameter `seed` is invalid."
        for flag in ("generate_audio", "watermark"):
            if flag in req and not isinstance(req[flag], bool):
                return f"The parameter `{flag}` must be a boolean."
        return ""

    def ark_references_problem(self, req: dict[str, Any]) -> tuple[str, str]:
        """Seedance 2.0's checks on reference images: assets must exist and be Active; an
        inline image of a photoreal face is refused as a possible real person."""
        for index, item in enumerate(req["content"]):
            if not isinstance(item, dict) or item.get("type") != "image_url":
                continue
            url = (item.get("image_url") or {}).get("url", "")
            if url.startswith("asset://"):
                asset = self.fake.assets.get(url[len("asset://") :])
                if asset is None:
                    return "InvalidParameter", f"The specified asset {url[8:]} is not found."
                if asset.status != "Active":
                    return "InvalidParameter", f"The specified asset {asset.id} is not active."
            elif self.fake.inline_faces_are_photoreal:
                return (
                    "InputImageSensitiveContentDetected.PrivacyInformation",
                    f"The request failed because the input image 'content[{index}]' may "
                    "contain real person. Request id: 021787901800000000000000000000000000",
                )
        return "", ""

    def route_ark_poll(self, path: str, body: bytes, fault: Fault | None) -> None:
        route = "ark.poll"
        if not self.ark_auth(route):
            return
        task_id = path.rsplit("/", 1)[-1]
        with self.fake.lock:
            task = self.fake.tasks.get(task_id)
        if task is None:
            self.provider_error(
                route, 404, f"The specified task {task_id} is not found.", "ResourceNotFound"
            )
            return
        seconds = self.fake.task_seconds
        if task.status in ("queued", "running") and seconds is not None:
            task.polls += 1
            elapsed = time.monotonic() - task.created
            if elapsed >= seconds and task.outcome != "never":
                task.status = "failed" if task.outcome == "sensitive" else "succeeded"
            elif elapsed >= min(1.0, seconds / 10):
                task.status = "running"
        elif task.status in ("queued", "running"):
            task.polls += 1
            if task.outcome == "never":
                task.status = "running"
            elif task.polls >= self.fake.polls_to_finish + 1:
                task.status = "failed" if task.outcome == "sensitive" else "succeeded"
            elif task.polls >= 2:
                task.status = "running"
        req = task.body
        payload: dict[str, Any] = {
            "id": task.id,
            "model": req["model"],
            "status": task.status,
            "error": None,
            "created_at": 1767225600,
            "updated_at": 1767225600 + task.polls,
            "seed": req.get("seed", -1) if req.get("seed", -1) != -1 else 12345,
            "resolution": req.get("resolution", "720p"),
            "ratio": req.get("ratio", "16:9"),
            "duration": req.get("duration", 5),
            "framespersecond": 24,
        }
        if task.status == "succeeded":
            if not task.video_id:
                task.video_id = self.fake.store(FAKE_MP4, "video/mp4")
            height = ARK_RES[payload["resolution"]]
            width = height * 16 // 9
            tokens = width * height * 24 * max(1, payload["duration"]) // 1024
            payload["content"] = {"video_url": task.video_id}
            tokens = reported(fault, tokens)
            payload["usage"] = {"completion_tokens": tokens, "total_tokens": tokens}
        elif task.status == "failed":
            payload["error"] = {
                "code": "OutputVideoSensitiveContentDetected",
                "message": "The output video may contain sensitive information.",
            }
        self.send_json(200, payload)

    def route_ark_delete(self, path: str, body: bytes, fault: Fault | None) -> None:
        route = "ark.delete"
        if not self.ark_auth(route):
            return
        task_id = path.rsplit("/", 1)[-1]
        with self.fake.lock:
            task = self.fake.tasks.get(task_id)
        if task is None:
            self.provider_error(
                route, 404, f"The specified task {task_id} is not found.", "ResourceNotFound"
            )
            return
        task.status = "cancelled"
        self.send_json(200, {})

    # --- Ark OpenAPI: the asset library -------------------------------------------------

    def openapi_reply(
        self, action: str, status: int, result: Any = None, error: Any = None
    ) -> None:
        """The OpenAPI envelope: ResponseMetadata (+ Error) and Result."""
        meta: dict[str, Any] = {
            "RequestId": f"20261201000000{next(self.fake.counter):020X}",
            "Action": action,
            "Version": "2024-01-01",
            "Service": "ark",
            "Region": ARK_REGION,
        }
        payload: dict[str, Any] = {"ResponseMetadata": meta}
        if error is not None:
            meta["Error"] = {"Code": error[0], "Message": error[1], "Data": None}
        else:
            payload["Result"] = result
        self.send_json(status, payload)

    def openapi_signature_problem(self, query: dict[str, str], body: bytes) -> tuple[int, str, str]:
        """(status, code, message) when the request is not signed right; (0, "", "") if it is.

        Checked with the official SDK's own pieces (byteplussdkcore.signv4), not the app's
        signer, so the two implementations meet here."""
        import hashlib
        import hmac
        from urllib.parse import urlsplit

        from byteplussdkcore.signv4 import SignerV4

        auth = self.headers.get("Authorization", "")
        match = re.fullmatch(
            r"HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/request, "
            r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
            auth,
        )
        if not auth:
            return 401, "MissingAuthenticationToken", "The request is missing an Authorization."
        if match is None:
            return 400, "InvalidAuthorization", "The Authorization header is malformed."
        ak, date, region, service, signed, signature = match.groups()
        if ak != ARK_ACCESS_KEY:
            return 401, "InvalidAccessKey", "The access key is invalid."
        x_date = self.headers.get("X-Date", "")
        if not x_date.startswith(date):
            return 400, "MissingRequestInfo", "X-Date is missing or does not match."
        if hashlib.sha256(body).hexdigest() != self.headers.get("X-Content-Sha256", ""):
            return 401, "SignatureDoesNotMatch", "The body hash does not match."
        names = signed.split(";")
        lines = "".join(f"{n}:{self.headers.get(n, '')}\n" for n in names)
        canonical = "\n".join(
            [
                "POST",
                urlsplit(self.path).path,
                SignerV4.canonical_query(query),
                lines,
                signed,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{date}/{region}/{service}/request"
        to_sign = "\n".join(
            ["HMAC-SHA256", x_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = SignerV4.get_signing_secret_key_v4(ARK_SECRET_KEY, date, region, service)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature) or service != "ark":
            return (
                401,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match.",
            )
        return 0, "", ""

    def route_arkopen_call(self, path: str, body: bytes, fault: Fault | None) -> None:
        from urllib.parse import parse_qsl, urlsplit

        query = dict(parse_qsl(urlsplit(self.path).query))
        action = query.get("Action", "")
        if not action or query.get("Version") != "2024-01-01":
            self.openapi_reply(
                action, 400, error=("MissingParameter", "Action or Version is missing.")
            )
            return
        status, code, message = self.openapi_signature_problem(query, body)
        if status:
            self.openapi_reply(action, status, error=(code, message))
            return
        try:
            req = json.loads(body)
        except ValueError:
            self.openapi_reply(action, 400, error=("InvalidParameter", "The body is not JSON."))
            return
        if fault is not None and fault.kind == "status":
            self.openapi_reply(
                action,
                int(fault.params.get("status", 500)),
                error=(fault.params.get("code", "InternalError"), fault.params.get("message", "x")),
            )
            return
        handler = getattr(self, f"asset_{action}", None)
        if handler is None:
            self.openapi_reply(
                action,
                404,
                error=(
                    "InvalidActionOrVersion",
                    f"Could not find operation {action} for version 2024-01-01.",
                ),
            )
            return
        handler(req, fault)

    def asset_CreateAssetGroup(self, req: dict[str, Any], fault: Fault | None) -> None:
        name = req.get("Name")
        if not isinstance(name, str) or not name or len(name) > 64:
            self.openapi_reply(
                "CreateAssetGroup", 400, error=("InvalidParameter.Name", "Name is invalid.")
            )
            return
        if req.get("GroupType", "AIGC") != "AIGC":
            self.openapi_reply(
                "CreateAssetGroup",
                400,
                error=("InvalidParameter.GroupType", "GroupType must be AIGC."),
            )
            return
        group_id = f"group-20261201000000-{next(self.fake.counter):05d}"
        with self.fake.lock:
            self.fake.groups[group_id] = dict(req)
        self.openapi_reply("CreateAssetGroup", 200, {"Id": group_id})

    def asset_CreateAsset(self, req: dict[str, Any], fault: Fault | None) -> None:
        import urllib.request

        action = "CreateAsset"
        group_id = req.get("GroupId", "")
        if group_id not in self.fake.groups:
            self.openapi_reply(
                action,
                404,
                error=("NotFound.group_id", f"The specified asset_group {group_id} is not found."),
            )
            return
        if req.get("AssetType") != "Image":
            self.openapi_reply(
                action, 400, error=("InvalidParameter.AssetType", "AssetType is invalid.")
            )
            return
        url = req.get("URL", "")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            self.openapi_reply(
                action, 400, error=("InvalidParameter.URL", "URL must be a http(s) URL.")
            )
            return
        try:
            with urllib.request.urlopen(url, timeout=20) as answer:
                data = answer.read(31 * 1024 * 1024)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
        except Exception as exc:
            self.openapi_reply(
                action,
                400,
                error=("InvalidParameter.URL", f"The file could not be downloaded or read: {exc}"),
            )
            return
        for side, name in ((width, "Width"), (height, "Height")):
            if side < 300 or side > 6000:
                which = "TooSmall" if side < 300 else "TooLarge"
                self.openapi_reply(
                    action,
                    400,
                    error=(
                        f"InvalidParameter.{name}{which}",
                        f"{name} must be between 300px and 6000px.",
                    ),
                )
                return
        ratio = width / height
        if ratio < 0.4 or ratio > 2.5:
            which = "TooSmall" if ratio < 0.4 else "TooLarge"
            self.openapi_reply(
                action,
                400,
                error=(
                    f"InvalidParameter.AspectRatio{which}",
                    "Aspect ratio must be between 0.4 and 2.5.",
                ),
            )
            return
        asset = LibraryAsset(
            id=f"asset-20261201000000-{next(self.fake.counter):05d}",
            group_id=group_id,
            url=url,
            name=str(req.get("Name", "")),
            width=width,
            height=height,
            outcome="failed"
            if (fault is not None and fault.kind == "asset_failed")
            or any(n in str(req.get("Name", "")) for n in self.fake.refuse_asset_names)
            else "active",
        )
        with self.fake.lock:
            self.fake.assets[asset.id] = asset
        self.openapi_reply(action, 200, {"Id": asset.id})

    def asset_GetAsset(self, req: dict[str, Any], fault: Fault | None) -> None:
        asset_id = req.get("Id", "")
        with self.fake.lock:
            asset = self.fake.assets.get(asset_id)
            if asset is not None and asset.status == "Processing":
                asset.gets += 1
                if asset.gets > self.fake.asset_gets_to_active:
                    asset.status = "Active" if asset.outcome == "active" else "Failed"
        if asset is None:
            self.openapi_reply(
                "GetAsset",
                404,
                error=("NotFound.asset_id", f"The specified asset {asset_id} is not found."),
            )
            return
        result = {
            "Id": asset.id,
            "Name": asset.name,
            "URL": f"{self.fake.base_url}/files/tos-{asset.id}?X-Tos-Expires=43200",
            "GroupId": asset.group_id,
            "AssetType": "Image",
            "Status": asset.status,
            "ProjectName": req.get("ProjectName", "default"),
            "CreateTime": "2026-12-01T00:00:00Z",
            "UpdateTime": "2026-12-01T00:00:00Z",
        }
        if asset.status == "Failed":
            result["Error"] = {
                "Code": "InputImageSensitiveContentDetected",
                "Message": "The asset image may contain sensitive content.",
            }
        self.openapi_reply("GetAsset", 200, result)

    # --- files and admin ------------------------------------------------------------------

    def route_files(self, path: str, body: bytes, fault: Fault | None) -> None:
        file_id = path.rsplit("/", 1)[-1]
        with self.fake.lock:
            stored = self.fake.files.get(file_id)
        if stored is None:
            self.send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            return
        self.send(200, stored[0], stored[1])

    def route_admin_requests(self, path: str, body: bytes, fault: Fault | None) -> None:
        with self.fake.lock:
            rows = [
                {
                    "method": r.method,
                    "path": r.path,
                    "route": r.route,
                    "headers": r.headers,
                    "size": len(r.body),
                }
                for r in self.fake.requests
            ]
        self.send_json(200, rows)

    def route_admin_faults(self, path: str, body: bytes, fault: Fault | None) -> None:
        spec = json.loads(body or b"{}")
        route, kind = spec.pop("route"), spec.pop("kind")
        self.fake.add_fault(route, kind, times=int(spec.pop("times", 1)), **spec)
        self.send_json(200, {"ok": True})

    def route_admin_reset(self, path: str, body: bytes, fault: Fault | None) -> None:
        self.fake.reset()
        self.send_json(200, {"ok": True})


# Which stage's typical time each synchronous route stands for (--typical). One Gemini route
# serves sheets, edits and inspection: it takes the sheet's time, the longest of the three.
TYPICAL_ROUTES = (
    ("recraft.generate", "casting", "recraft"),
    ("recraft.upscale", "upscale", "recraft"),
    ("gemini.generate", "sheet", "gemini"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--typical",
        action="store_true",
        help="answer as slowly as the real services usually do (the stage table's figures)",
    )
    parser.add_argument(
        "--task-seconds",
        type=float,
        default=None,
        help="each Seedance task takes this long (default: done on the third poll)",
    )
    args = parser.parse_args()
    fake = FakeProvider(task_seconds=args.task_seconds)
    if args.typical:
        for route, stage, provider in TYPICAL_ROUTES:
            seconds = STAGES[stage].typical(provider)
            fake.add_fault(route, "latency", times=10**9, seconds=seconds)
    base = fake.start(args.host, args.port)
    hostport = base.split("//", 1)[1]
    print(f"Fake providers on {base}")
    print(f"  RECRAFT_API_BASE={base}/recraft/v1 RECRAFT_API_KEY={RECRAFT_KEY}")
    print(f"  GEMINI_API_BASE={base}/gemini GEMINI_API_KEY={GEMINI_KEY}")
    print(f"  ARK_API_BASE={base}/ark/api/v3 ARK_API_KEY={ARK_KEY}")
    print(f"  ARK_ASSET_API_BASE={base}/ark-open ARK_ACCESS_KEY={ARK_ACCESS_KEY}")
    print(f"  ARK_SECRET_KEY={ARK_SECRET_KEY} ARK_ASSET_REGION={ARK_REGION}")
    print(f"  TURNAROUND_DOWNLOAD_HOSTS={hostport}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
