"""Seedance's asset library: photoreal faces reach Seedance 2.0 only as `asset://<id>`.

Why: Seedance 2.0 refuses a reference image (https or `data:` URL) that shows a photoreal face,
AI-generated ones included (HTTP 400 `InputImageSensitiveContentDetected.PrivacyInformation`,
"the input image 'content[N]' may contain real person"). The sanctioned path is the asset
library: one asset group per character (`GroupType` `AIGC`, a virtual portrait), one asset per
image, read each asset until its `Status` is `Active` (or `Failed`, with an `Error`), then send
`{"type": "image_url", "image_url": {"url": "asset://<Id>"}, "role": "reference_image"}`.

The API (research with sources and confidence: ../shared/providers/seedance-assets.md):
- `POST https://ark.ap-southeast-1.byteplusapi.com/?Action=<Action>&Version=2024-01-01`
  (Volcengine: ark.cn-beijing.volcengineapi.com, region cn-beijing), JSON body of PascalCase
  fields, service `ark`. Authentication is an HMAC-SHA256 signature with an access key pair
  (ARK_ACCESS_KEY / ARK_SECRET_KEY); the Bearer ARK_API_KEY is refused there.
- CreateAssetGroup {Name, Description, GroupType: "AIGC", ProjectName} → {Id}
  CreateAsset {GroupId, URL, AssetType: "Image", Name, ProjectName} → {Id}   (by URL only:
  the service downloads the file, so the image must be reachable from the internet)
  GetAsset {Id, ProjectName} → {Id, Status: Processing|Active|Failed, Error{Code,Message}, …}
- Envelope: {"ResponseMetadata": {RequestId, Action, Version, Service, Region, Error?}, "Result"}.
  An error carries ResponseMetadata.Error {Code, Message} with HTTP 4xx/5xx.
- Limits checked synchronously by CreateAsset (400 InvalidParameter.WidthTooSmall/…TooLarge,
  HeightTooSmall/…, AspectRatioTooSmall/…): each side 300–6000 px, width/height 0.4–2.5,
  < 30 MB. Whether the bounds themselves pass is unsure, so prepare_image stays inside them.
- Unsure (one source or none): ClientToken and Moderation fields (not sent); the exact error a
  task gets for a not-Active asset; group TTLs. Assets are isolated by ProjectName: it must be
  the project of the ARK_API_KEY used for tasks (ARK_PROJECT_NAME, default "default").

The signer below follows byteplussdkcore/signv4.py (identical to volcenginesdkcore's), and
tests/generators/test_seedance_assets.py checks it against that SDK and a published vector.
Keys are never logged, shown or put in an error message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from PIL import Image

from .base import GeneratorError
from .http import ProviderHTTPError, ProviderTransport, transport_from_settings

VERSION = "2024-01-01"
SERVICE = "ark"
MIN_SIDE, MAX_SIDE = 300, 6000
MIN_ASPECT, MAX_ASPECT = 0.4, 2.5
# Inside the limits with a margin: whether 300 px or 2.5 themselves pass is not documented.
SAFE_MIN_SIDE, SAFE_MAX_SIDE = 320, 5800
SAFE_MIN_ASPECT, SAFE_MAX_ASPECT = 0.42, 2.4
MAX_UPLOAD_BYTES = 30 * 1024 * 1024

# GetAsset Status → ours.
STATUSES = {"Processing": "pending", "Active": "active", "Failed": "refused"}


# --- signing --------------------------------------------------------------------------------


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def canonical_query(query: dict[str, str]) -> str:
    pairs = sorted((quote(k, safe="-_.~"), quote(str(v), safe="-_.~")) for k, v in query.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def sign(
    *,
    method: str,
    host: str,
    path: str,
    query: dict[str, str],
    body: bytes,
    content_type: str,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = SERVICE,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """The headers that sign one request (BytePlus/Volcengine "HMAC-SHA256" signature V4).

    1. X-Date is UTC YYYYMMDD'T'HHMMSS'Z'; X-Content-Sha256 the hex SHA-256 of the body.
    2. Signed headers: content-type, host, x-content-sha256, x-date (lower case, sorted); the
       host keeps its port unless it is 80 or 443.
    3. Canonical request: method, path, sorted percent-encoded query, one "name:value" line per
       signed header, a blank line, the names joined by ";", the body hash.
    4. String to sign: "HMAC-SHA256", X-Date, "<yyyymmdd>/<region>/<service>/request", and the
       hex SHA-256 of the canonical request, one per line.
    5. Key: HMAC(SK, yyyymmdd) → region → service → "request" (no prefix on the SK).
    """
    now = now or dt.datetime.now(dt.UTC)
    x_date = now.strftime("%Y%m%dT%H%M%SZ")
    body_hash = hashlib.sha256(body).hexdigest()
    if host.endswith((":80", ":443")):
        host = host.rsplit(":", 1)[0]
    headers = {
        "content-type": content_type,
        "host": host,
        "x-content-sha256": body_hash,
        "x-date": x_date,
    }
    names = sorted(headers)
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            "".join(f"{name}:{headers[name]}\n" for name in names),
            ";".join(names),
            body_hash,
        ]
    )
    scope = f"{x_date[:8]}/{region}/{service}/request"
    to_sign = "\n".join(
        ["HMAC-SHA256", x_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = secret_key.encode()
    for part in (x_date[:8], region, service, "request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "Host": host,
        "X-Date": x_date,
        "X-Content-Sha256": body_hash,
        "Authorization": (
            f"HMAC-SHA256 Credential={access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        ),
    }


# --- images ----------------------------------------------------------------------------------


def prepare_image(data: bytes) -> tuple[bytes, int, int]:
    """The image as the library accepts it: JPEG, each side 320–5800 px, aspect 0.42–2.4.

    Too small is scaled up, too large scaled down, too thin or too wide padded with its own
    edge colour (never cropped: a face must stay whole). Returns (jpeg, width, height).
    """
    with Image.open(io.BytesIO(data)) as src:
        img = src.convert("RGB")
    w, h = img.size
    aspect = w / h
    if aspect < SAFE_MIN_ASPECT or aspect > SAFE_MAX_ASPECT:
        target = SAFE_MIN_ASPECT if aspect < SAFE_MIN_ASPECT else SAFE_MAX_ASPECT
        nw, nh = (round(h * target), h) if aspect < target else (w, round(w / target))
        canvas = Image.new("RGB", (nw, nh), img.getpixel((0, 0)))
        canvas.paste(img, ((nw - w) // 2, (nh - h) // 2))
        img, (w, h) = canvas, (nw, nh)
    scale = 1.0
    if min(w, h) < SAFE_MIN_SIDE:
        scale = SAFE_MIN_SIDE / min(w, h)
    if max(w, h) * scale > SAFE_MAX_SIDE:
        scale = SAFE_MAX_SIDE / max(w, h)
    if scale != 1.0:
        img = img.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
    quality = 92
    while True:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        if buf.tell() < MAX_UPLOAD_BYTES or quality <= 60:
            return buf.getvalue(), img.width, img.height
        quality -= 10


# --- the client ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetState:
    status: str  # pending | active | refused
    error: str = ""


class AssetLibraryError(GeneratorError):
    """An asset-library call that failed; refused is True when the provider refused the image
    itself (limits, policy): retrying the same image cannot help."""

    def __init__(self, message: str, *, refused: bool = False, **kwargs: Any) -> None:
        permanent = bool(kwargs.pop("permanent", False))
        super().__init__(message, permanent=refused or permanent, **kwargs)
        self.refused = refused


class SeedanceAssetLibrary:
    name = "seedance"
    display = "Seedance asset library"

    def __init__(
        self,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        project_name: str | None = None,
        clock: Any = None,
        **transport_options: Any,
    ) -> None:
        self._ak = access_key if access_key is not None else settings.ARK_ACCESS_KEY
        self._sk = secret_key if secret_key is not None else settings.ARK_SECRET_KEY
        self.base_url = (base_url or settings.ARK_ASSET_API_BASE).rstrip("/")
        self.region = region or settings.ARK_ASSET_REGION
        self.project_name = project_name or settings.ARK_PROJECT_NAME
        self.clock = clock
        origin = urlsplit(self.base_url)
        self.http: ProviderTransport = transport_from_settings(
            provider=self.display,
            base_url=f"{origin.scheme}://{origin.netloc}",  # calls carry their full path
            auth_headers={},  # each call is signed on its own
            download_hosts=(),
            **transport_options,
        )
        # Scrubbed from any provider text that reaches a message.
        self.http._secrets = tuple(s for s in (self._ak, self._sk) if s)

    def __repr__(self) -> str:  # never the keys
        return f"SeedanceAssetLibrary(base_url={self.base_url!r}, region={self.region!r})"

    @property
    def configured(self) -> bool:
        return bool(self._ak and self._sk)

    def close(self) -> None:
        self.http.close()

    def call(self, action: str, fields: dict[str, Any]) -> dict[str, Any]:
        """One signed OpenAPI call; the Result object, or AssetLibraryError in our words."""
        if not self.configured:
            raise AssetLibraryError(
                "Seedance's asset library needs ARK_ACCESS_KEY and ARK_SECRET_KEY (an access "
                "key pair, not the API key); ask whoever runs Turnaround to set them.",
                permanent=True,
            )
        body = json.dumps({**fields, "ProjectName": self.project_name}).encode()
        query = {"Action": action, "Version": VERSION}
        parts = urlsplit(self.base_url)
        path = f"{parts.path.rstrip('/')}/"  # "/" on the real host
        headers = sign(
            method="POST",
            host=parts.netloc,
            path=path,
            query=query,
            body=body,
            content_type="application/json",
            access_key=self._ak,
            secret_key=self._sk,
            region=self.region,
            now=self.clock() if self.clock else None,
        )
        headers.pop("Host")  # httpx sends the same Host itself
        try:
            response = self.http.request(
                "POST", f"{path}?{canonical_query(query)}", content=body, headers=headers
            )
        except ProviderHTTPError as exc:
            raise self._error(action, exc) from exc
        payload = response.json()
        meta = payload.get("ResponseMetadata") or {} if isinstance(payload, dict) else {}
        error = meta.get("Error") if isinstance(meta, dict) else None
        if error:  # the SDK raises whenever Error is present, whatever the status
            raise AssetLibraryError(
                f"{self.display}: {error.get('Code', '')}: {error.get('Message', '')}",
                refused=str(error.get("Code", "")).startswith("InvalidParameter."),
            )
        result = payload.get("Result") if isinstance(payload, dict) else None
        if not isinstance(result, dict):
            raise AssetLibraryError(f"{self.display} answered {action} without a result.")
        return result

    def _error(self, action: str, exc: ProviderHTTPError) -> AssetLibraryError:
        code = exc.provider_code
        # The provider refused the image itself: its limits, or its content.
        refused = action == "CreateAsset" and (
            code.startswith("InvalidParameter.") or "SensitiveContent" in code
        )
        return AssetLibraryError(
            exc.message,
            refused=refused,
            permanent=exc.permanent,
            status_code=exc.status_code,
            attempts=exc.attempts,
        )

    def check(self) -> str:
        # A read of an id that cannot exist: NotFound once the signature and key are accepted.
        try:
            self.call("GetAsset", {"Id": "asset-turnaround-check"})
        except AssetLibraryError as exc:
            if exc.status_code == 404 or "NotFound" in exc.message:
                return "signed request accepted"
            raise
        return "signed request accepted"

    def create_group(self, *, name: str, description: str = "") -> str:
        result = self.call(
            "CreateAssetGroup",
            {"Name": name[:64], "Description": description[:300], "GroupType": "AIGC"},
        )
        return str(result.get("Id") or "")

    def create_asset(self, *, group_id: str, url: str, name: str) -> str:
        result = self.call(
            "CreateAsset",
            {"GroupId": group_id, "URL": url, "AssetType": "Image", "Name": name[:64]},
        )
        return str(result.get("Id") or "")

    def get_asset(self, asset_id: str) -> AssetState:
        result = self.call("GetAsset", {"Id": asset_id})
        status = STATUSES.get(str(result.get("Status")), "pending")
        error = result.get("Error") or {}
        words = ""
        if status == "refused":
            words = f"{error.get('Code', 'Failed')}: {error.get('Message', '')}".strip(": ")
        return AssetState(status, words)


class OfflineAssetLibrary:
    """The same flow without an account: ids at once, pending until the first check, then
    active. Used when shots run on the offline generator."""

    name = "offline"
    display = "Offline asset library"
    configured = True

    def close(self) -> None:
        pass

    def check(self) -> str:
        return "offline"

    def create_group(self, *, name: str, description: str = "") -> str:
        return f"offline-group-{hashlib.sha256(name.encode()).hexdigest()[:12]}"

    def create_asset(self, *, group_id: str, url: str, name: str) -> str:
        return f"offline-asset-{hashlib.sha256((group_id + name + url).encode()).hexdigest()[:16]}"

    def get_asset(self, asset_id: str) -> AssetState:
        return AssetState("active")


def library_for(provider: str) -> SeedanceAssetLibrary | OfflineAssetLibrary:
    return SeedanceAssetLibrary() if provider == "seedance" else OfflineAssetLibrary()
