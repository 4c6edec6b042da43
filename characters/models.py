"""Turnaround's domain: projects, characters, and every reference a shot inherits.

Long because it is the whole domain model in one place, as DESIGN.md describes it.

State changes live in services/ (one module per area); the rules that must hold when two people act at once are
database constraints here.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from .panels_detect import REVIEW_BELOW
from .stages import STAGES

# The stage choices come from the one stage table (characters/stages.py): Stage.CASTING, ...
Stage = models.TextChoices(
    "Stage", [(name.upper(), (name, info.label)) for name, info in STAGES.items()]
)


class Project(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    budget_usd = models.DecimalField(
        "budget cap (USD)",
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="New generations are refused once spend (queued work included) would pass it.",
    )
    show_costs_to_guests = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("board", args=[self.slug])


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    REVIEWER = "reviewer", "Reviewer"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} on {self.project}"


class CharacterStage(models.TextChoices):
    CASTING = "casting", "Casting"
    SHEET = "sheet", "Sheet"
    READY = "ready", "Ready"


class Character(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="characters")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    brief = models.TextField(
        max_length=4000, help_text="Who they are and what their face looks like."
    )
    wardrobe = models.TextField(max_length=2000, blank=True)
    distinguishing_marks = models.TextField(max_length=2000, blank=True)
    hand_props = models.TextField(
        max_length=1000,
        blank=True,
        help_text="Props the character carries. Kept out of the sheet so the angles stay clean.",
    )
    locked_candidate = models.OneToOneField(
        "CastingCandidate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    locked_sheet = models.OneToOneField(
        "SheetOption", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference_revision = models.PositiveIntegerField(default=0)
    # Archived characters leave the board (a section lists them, to restore); nothing is deleted.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="character_slug_per_project"),
            models.UniqueConstraint("project", Lower("name"), name="character_name_per_project_ci"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("character", args=[self.project.slug, self.slug])

    @property
    def stage(self) -> str:
        if self.locked_candidate_id is None:
            return CharacterStage.CASTING
        if self.locked_sheet_id is None:
            return CharacterStage.SHEET
        return CharacterStage.READY

    def get_stage_display(self) -> str:
        return CharacterStage(self.stage).label


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        BLOCKED = "blocked", "Blocked by the provider"
        CANCELLED = "cancelled", "Cancelled"

    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.BLOCKED, Status.CANCELLED)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="generations")
    character = models.ForeignKey(
        Character, on_delete=models.CASCADE, null=True, blank=True, related_name="generations"
    )
    stage = models.CharField(max_length=10, choices=Stage.choices)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=80, blank=True)
    prompt = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    reference_ids = models.JSONField(
        default=list, blank=True, help_text="What the request referenced, as 'kind:id' strings."
    )
    seed = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    provider_request_id = models.CharField(max_length=200, blank=True)
    response_metadata = models.JSONField(default=dict, blank=True)
    estimated_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(0))
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # Waiting at a task-based provider (Seedance): running, no worker holds it, and the next
    # status check is due at check_at (provider_request_id is the task). wait_until is the
    # overall deadline for the provider to finish; checks counts the checks made (backoff).
    check_at = models.DateTimeField(null=True, blank=True)
    wait_until = models.DateTimeField(null=True, blank=True)
    checks = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "deadline_at"]),
            models.Index(fields=["status", "check_at"], name="generation_due_checks"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=["queued", "running", "succeeded", "failed", "blocked", "cancelled"]
                ),
                name="generation_status_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} #{self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def is_offline(self) -> bool:
        return self.provider == "offline"

    @property
    def elapsed_seconds(self) -> int:
        start = self.started_at or self.created_at
        end = self.finished_at or timezone.now()
        return max(0, int((end - start).total_seconds()))

    @property
    def typical_seconds(self) -> int:
        """How long this stage usually takes on this provider (the stage table's figure)."""
        return round(STAGES[self.stage].typical(self.provider))


class Asset(models.Model):
    """One stored image or video, under a content-hashed name, with its derived sizes."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assets")
    generation = models.ForeignKey(
        Generation, on_delete=models.SET_NULL, null=True, blank=True, related_name="assets"
    )
    file = models.FileField(max_length=300)
    sha256 = models.CharField(max_length=64)
    mime = models.CharField(max_length=40)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    byte_size = models.PositiveBigIntegerField(default=0)
    thumbnail = models.FileField(max_length=300, blank=True)
    preview = models.FileField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="asset_once_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.mime} {self.width}×{self.height} ({self.sha256[:10]})"

    @property
    def is_video(self) -> bool:
        return self.mime.startswith("video/")

    def url(self, variant: str = "original") -> str:
        return reverse("asset", args=[self.project.slug, self.pk, variant])


class CastingCandidate(models.Model):
    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        SHORTLISTED = "shortlisted", "Shortlisted"
        REJECTED = "rejected", "Rejected"
        APPROVED = "approved", "Approved"

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="candidates")
    generation = models.OneToOneField(
        Generation, on_delete=models.PROTECT, related_name="candidate"
    )
    image = models.ForeignKey(
        Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    upscale_generation = models.OneToOneField(
        Generation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="upscaled_candidate",
    )
    image_4k = models.ForeignKey(
        Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision = models.CharField(max_length=12, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["character"],
                condition=Q(decision="approved"),
                name="one_approved_candidate_per_character",
            )
        ]

    def __str__(self) -> str:
        return f"{self.character} candidate #{self.pk}"


class SheetOption(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        LOCKED = "locked", "Locked"
        FAILED = "failed", "Failed"

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="sheet_options")
    generation = models.OneToOneField(
        Generation, on_delete=models.PROTECT, related_name="sheet_option"
    )
    index = models.PositiveSmallIntegerField(default=1)
    source_candidate = models.ForeignKey(
        CastingCandidate, on_delete=models.PROTECT, related_name="sheet_options"
    )
    preset = models.CharField(max_length=30, default="six")
    image = models.ForeignKey(
        Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    split_method = models.CharField(max_length=20, blank=True)
    split_review = models.BooleanField(
        default=False, help_text="The split is uncertain somewhere: a person should check it."
    )
    split_notes = models.JSONField(
        default=list, blank=True, help_text="Why the split was flagged, in words."
    )
    split_regions = models.JSONField(
        default=list,
        blank=True,
        help_text="Every region detection found, [x, y, w, h]: edges a dragged box snaps to.",
    )
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["character"],
                condition=Q(status="locked"),
                name="one_locked_sheet_per_character",
            )
        ]

    def __str__(self) -> str:
        return f"{self.character} sheet option {self.index}"


class Panel(models.Model):
    sheet = models.ForeignKey(SheetOption, on_delete=models.CASCADE, related_name="panels")
    kind = models.CharField(max_length=30)
    order = models.PositiveSmallIntegerField(default=0)
    x = models.PositiveIntegerField()
    y = models.PositiveIntegerField()
    w = models.PositiveIntegerField()
    h = models.PositiveIntegerField()
    detected = models.BooleanField(
        default=True, help_text="False where the nominal layout was used."
    )
    confidence = models.FloatField(
        default=1.0,
        help_text="0-1: how sure detection was of this box and kind; 1 once a person set it.",
    )
    preview = models.ForeignKey(
        Asset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    crop = models.ForeignKey(
        Asset,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Full-resolution crop, cut when first needed.",
    )
    current_revision = models.ForeignKey(
        "PanelRevision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sheet", "kind"], name="one_panel_kind_per_sheet"),
            models.CheckConstraint(condition=Q(w__gt=0, h__gt=0), name="panel_box_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.sheet} — {self.kind}"

    @property
    def label(self) -> str:
        """'three_quarter_left' -> 'Three quarter left'."""
        return self.kind.replace("_", " ").capitalize()

    @property
    def confidence_percent(self) -> int:
        return round(self.confidence * 100)

    @property
    def doubtful(self) -> bool:
        """Detection was unsure of this panel's box or kind: a person should check it."""
        return self.confidence < REVIEW_BELOW


class PanelRevision(models.Model):
    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    image = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    generation = models.ForeignKey(
        Generation, on_delete=models.SET_NULL, null=True, blank=True, related_name="panel_revisions"
    )
    instruction = models.TextField(blank=True)
    fit_note = models.TextField(
        blank=True, help_text="Set when the answer's shape differed from the panel's."
    )
    reverted_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["panel", "number"]
        constraints = [
            models.UniqueConstraint(fields=["panel", "number"], name="panel_revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.panel} rev {self.number}"


class IdentityScore(models.Model):
    """How far one panel revision's face is from the locked face (characters/identity.py).

    One per panel revision: `revision` is empty for the panel as it came off the sheet (before
    it has a history), so a fix or a revert is scored afresh and never inherits the old verdict.
    """

    class Verdict(models.TextChoices):
        SAME = "same", "Same person"
        DIFFERENT = "different", "May be someone else"
        NO_FACE = "no_face", "No face"
        NO_REFERENCE = "no_reference", "No face in the locked portrait"

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="identity_scores")
    revision = models.ForeignKey(
        PanelRevision,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="identity_scores",
    )
    reference = models.ForeignKey(
        Asset,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The locked face the panel was measured against.",
    )
    distance = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    model = models.CharField(max_length=40)
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["panel", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["panel"],
                condition=Q(revision__isnull=True),
                name="one_identity_score_per_original_panel",
            ),
            models.UniqueConstraint(
                fields=["panel", "revision"],
                condition=Q(revision__isnull=False),
                name="one_identity_score_per_panel_revision",
            ),
            models.CheckConstraint(
                condition=Q(verdict__in=["same", "different"], distance__isnull=False)
                | Q(verdict__in=["no_face", "no_reference"], distance__isnull=True),
                name="identity_distance_only_with_a_face",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.panel}: {self.get_verdict_display()}"

    @property
    def flagged(self) -> bool:
        return self.verdict == self.Verdict.DIFFERENT


class Annotation(models.Model):
    class Kind(models.TextChoices):
        NOTE = "note", "Note"
        CONTINUITY = "continuity", "Continuity error"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        DISMISSED = "dismissed", "Dismissed"

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="annotations")
    revision = models.ForeignKey(
        PanelRevision, on_delete=models.SET_NULL, null=True, blank=True, related_name="annotations"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    guest_name = models.CharField(max_length=80, blank=True)
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    w = models.FloatField(null=True, blank=True)
    h = models.FloatField(null=True, blank=True)
    body = models.TextField(max_length=4000)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.NOTE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    found_by_inspection = models.BooleanField(default=False)
    inspection = models.ForeignKey(
        Generation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="found_annotations",
        help_text="The inspection that flagged it, when one did.",
    )
    resolved_by_revision = models.ForeignKey(
        PanelRevision,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="resolved_annotations",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(parent__isnull=False)
                | Q(x__gte=0, y__gte=0, w__gt=0, h__gt=0, x__lte=1, y__lte=1, w__lte=1, h__lte=1),
                name="annotation_region_inside_panel",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.panel}: {self.body[:40]}"


class ContinuityRule(models.Model):
    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="rules")
    text = models.CharField(max_length=300)
    source_annotation = models.ForeignKey(
        Annotation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text


class Shot(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="shots")
    number = models.PositiveIntegerField()
    characters = models.ManyToManyField(Character, through="ShotCharacter", related_name="shots")
    prompt = models.TextField(max_length=4000)
    duration = models.PositiveSmallIntegerField(default=5)
    ratio = models.CharField(max_length=10, default="16:9")
    resolution = models.CharField(max_length=10, default="720p")
    generation = models.ForeignKey(
        Generation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    video = models.ForeignKey(
        Asset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A render waits (no generation, no worker held) until its characters' references are
    # active in the video provider's asset library; held_reason says why it waits or stopped.
    waiting_for_references = models.BooleanField(default=False)
    held_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="shot_number_per_project")
        ]

    def __str__(self) -> str:
        return f"Shot {self.number}"


class ShotCharacter(models.Model):
    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="cast")
    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="+")
    reference_revision = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shot", "character"], name="character_once_per_shot")
        ]

    def __str__(self) -> str:
        return f"{self.character} in {self.shot} (rev {self.reference_revision})"


class ShotRender(models.Model):
    """Every render of a shot, kept so a re-render never loses the earlier one."""

    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="renders")
    generation = models.OneToOneField(
        Generation, on_delete=models.PROTECT, related_name="shot_render"
    )
    video = models.ForeignKey(
        Asset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revisions = models.JSONField(default=dict, help_text="character id → reference revision used")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.shot} render #{self.pk}"


class ReferenceGroup(models.Model):
    """A character's group in a video provider's asset library (Seedance: a virtual portrait)."""

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20)
    group_id = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["character", "provider"], name="one_group_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.character} in {self.provider}: {self.group_id}"


class ReferenceAsset(models.Model):
    """One reference image (the face or a panel) ingested into a provider's asset library.

    queued → pending (the provider is checking it) → active (shots may use it) or refused
    (with the provider's words). A row is kept per source image, so an image that did not
    change between reference revisions is not uploaded again.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to upload"
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        REFUSED = "refused", "Refused"

    character = models.ForeignKey(
        Character, on_delete=models.CASCADE, related_name="reference_assets"
    )
    provider = models.CharField(max_length=20)
    kind = models.CharField(max_length=30, help_text="face, front, profile, …")
    source = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    prepared = models.ForeignKey(
        Asset,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The image as uploaded: within the provider's size and aspect limits.",
    )
    current = models.BooleanField(default=True, help_text="In the character's references now.")
    revision = models.PositiveIntegerField(default=0)
    order = models.PositiveSmallIntegerField(default=0)
    provider_id = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["character", "provider", "source"], name="reference_asset_once"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "pending", "active", "refused"]),
                name="reference_asset_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_check_at"])]

    def __str__(self) -> str:
        return f"{self.character} {self.kind} ({self.status})"

    @property
    def uri(self) -> str:
        return f"asset://{self.provider_id}" if self.provider_id else ""


class ShotNote(models.Model):
    """A reviewer's note on a shot, pinned to a timecode of one render and optionally a box on
    that frame (0-1 of the frame). Replies thread under it, one level deep."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"

    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="notes")
    render = models.ForeignKey(
        ShotRender, on_delete=models.SET_NULL, null=True, blank=True, related_name="notes"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    guest_name = models.CharField(max_length=80, blank=True)
    timecode = models.FloatField(default=0, help_text="Seconds from the start of the render.")
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    w = models.FloatField(null=True, blank=True)
    h = models.FloatField(null=True, blank=True)
    body = models.TextField(max_length=4000)
    still = models.ForeignKey(
        Asset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    inspection = models.ForeignKey(
        Generation, on_delete=models.SET_NULL, null=True, blank=True, related_name="shot_notes"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["timecode", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(timecode__gte=0)
                & (
                    Q(x__isnull=True, y__isnull=True, w__isnull=True, h__isnull=True)
                    | Q(
                        x__gte=0, y__gte=0, w__gt=0, h__gt=0, x__lte=1, y__lte=1, w__lte=1, h__lte=1
                    )
                ),
                name="shot_note_box_inside_frame",
            )
        ]

    def __str__(self) -> str:
        return f"Note on {self.shot} at {self.timecode:.2f}s: {self.body[:40]}"

    @property
    def has_box(self) -> bool:
        return self.w is not None and self.h is not None


class FixBatch(models.Model):
    """ "Fix everywhere": one edit per flagged panel, run in parallel, applied together as one
    recomposed sheet and one reference revision once the last edit is final."""

    inspection = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="fix_batches")
    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="fix_batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    applied_at = models.DateTimeField(null=True, blank=True)
    reference_revision = models.PositiveIntegerField(
        null=True, blank=True, help_text="The character's reference revision the batch made."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Fix everywhere #{self.pk} from inspection #{self.inspection_id}"


class ShareLink(models.Model):
    class Permission(models.TextChoices):
        VIEW = "view", "View"
        COMMENT = "comment", "View and comment"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="share_links")
    label = models.CharField(max_length=120, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    permission = models.CharField(
        max_length=10, choices=Permission.choices, default=Permission.VIEW
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    password = models.CharField(max_length=200, blank=True, help_text="A Django password hash.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    use_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.label or f"Share link #{self.pk}"


class Invite(models.Model):
    """An invitation to join a project with a role, for someone who may not have an account yet.

    Like a share link, its token is shown (and mailed) once and stored only as a SHA-256 hash.
    It works once, and not after `expires_at` or once revoked.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REVIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Invite to {self.project} as {self.role}" + (
            f" for {self.email}" if self.email else ""
        )

    @property
    def is_live(self) -> bool:
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class Vote(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(
        CastingCandidate, on_delete=models.CASCADE, null=True, blank=True, related_name="votes"
    )
    sheet = models.ForeignKey(
        SheetOption, on_delete=models.CASCADE, null=True, blank=True, related_name="votes"
    )
    value = models.SmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "candidate"], name="one_vote_per_candidate"),
            models.UniqueConstraint(fields=["user", "sheet"], name="one_vote_per_sheet"),
            models.CheckConstraint(condition=Q(value__in=[-1, 1]), name="vote_up_or_down"),
            models.CheckConstraint(
                condition=Q(candidate__isnull=False, sheet__isnull=True)
                | Q(candidate__isnull=True, sheet__isnull=False),
                name="vote_has_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {'+1' if self.value > 0 else '-1'}"


class ReferenceChange(models.Model):
    """Why a character's reference revision advanced: one row per revision, written by
    services.character_advance_revision and read by shot staleness ("this shot misses ...")."""

    class Kind(models.TextChoices):
        FACE_LOCKED = "face_locked", "Face locked"
        FACE_UNLOCKED = "face_unlocked", "Face unlocked"
        SHEET_LOCKED = "sheet_locked", "Sheet locked"
        SHEET_UNLOCKED = "sheet_unlocked", "Sheet unlocked"
        PANEL_BOX = "panel_box", "Panel box corrected"
        PANEL_KIND = "panel_kind", "Panel renamed"
        PANEL_FIX = "panel_fix", "Panel fixed"
        PANEL_REVERT = "panel_revert", "Panel reverted"

    character = models.ForeignKey(
        Character, on_delete=models.CASCADE, related_name="reference_changes"
    )
    revision = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    panel_kind = models.CharField(max_length=40, blank=True)
    panel_revision = models.ForeignKey(
        "PanelRevision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    summary = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["character", "revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["character", "revision"], name="one_change_per_reference_revision"
            )
        ]

    def __str__(self) -> str:
        return f"{self.character} rev {self.revision}: {self.get_kind_display()}"


class Activity(models.Model):
    """Append-only audit of every decision."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="activities")
    character = models.ForeignKey(
        Character, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=40)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'} {self.verb} {self.target_type} #{self.target_id}"


class Notification(models.Model):
    """A member was @mentioned in an activity (a comment or an annotation)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="notifications")
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "activity"], name="one_notification_per_mention"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ← {self.activity}"
