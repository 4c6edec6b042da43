"""Turnaround's pages. Every object lives under its project: /p/<project>/…"""

from django.urls import path

from .views import board, casting, character, continuity, media, sheets, shots

P = "p/<slug:project_slug>/"
C = P + "c/<slug:character_slug>/"

urlpatterns = [
    path("", board.home, name="board-home"),
    path(P, board.board, name="board"),
    path(P + "files/<int:pk>/<str:variant>", media.asset, name="asset"),
    path("r/<str:token>", media.reference_file, name="reference-file"),
    path(P + "generations/<int:pk>/retry", casting.retry, name="generation-retry"),
    # Shots
    path(P + "shots/", shots.shot_list, name="shots"),
    path(P + "shots/rerender-stale", shots.rerender_stale, name="shots-rerender-stale"),
    path(P + "shots/<int:pk>/", shots.shot_card, name="shot"),
    path(P + "shots/<int:pk>/render", shots.shot_rerender, name="shot-render"),
    path(P + "shots/changes", shots.shots_changes, name="shots-changes"),
    path(P + "shots/<int:pk>/notes", shots.note_add, name="shot-note-add"),
    path(P + "shots/<int:pk>/notes/<int:note_pk>/reply", shots.note_reply, name="shot-note-reply"),
    path(
        P + "shots/<int:pk>/notes/<int:note_pk>/status", shots.note_status, name="shot-note-status"
    ),
    path(
        P + "shots/<int:pk>/notes/<int:note_pk>/trace",
        continuity.note_trace,
        name="shot-note-trace",
    ),
    path(P + "inspections/<int:pk>/fix", continuity.fix_everywhere, name="fix-everywhere"),
    path(P + "inspections/<int:pk>/dismiss", continuity.dismiss_findings, name="dismiss-findings"),
    # The character page, then casting
    path(C, character.character, name="character"),
    path(C + "brief", casting.brief, name="character-brief"),
    path(C + "archive", character.archive, name="character-archive"),
    path(C + "cast", casting.cast, name="cast"),
    path(C + "unlock", casting.unlock, name="face-unlock"),
    path(C + "compare", casting.compare, name="compare"),
    path(C + "candidates/<int:pk>/", casting.candidate, name="candidate"),
    path(C + "candidates/<int:pk>/decide", casting.decide, name="candidate-decide"),
    path(C + "candidates/<int:pk>/approve", casting.approve, name="candidate-approve"),
    # Sheets
    path(C + "sheets/generate", sheets.generate, name="sheets-generate"),
    path(C + "sheets/unlock", sheets.unlock, name="sheet-unlock"),
    path(C + "references/retry", sheets.references_retry, name="references-retry"),
    path(C + "sheets/compare", sheets.compare_panels, name="panel-compare"),
    path(C + "sheets/<int:pk>/", sheets.option, name="sheet-option"),
    path(C + "sheets/<int:pk>/lock", sheets.lock, name="sheet-lock"),
    path(C + "panels/<int:pk>/box", sheets.panel_box, name="panel-box"),
    path(C + "panels/<int:pk>/kind", sheets.panel_kind, name="panel-kind"),
    path(C + "panels/<int:pk>/full", sheets.panel_image, name="panel-full"),
    path(C + "manifest.json", sheets.manifest, name="manifest"),
    path(C + "reference-pack.zip", sheets.reference_pack, name="reference-pack"),
    # Continuity
    path(C + "panels/<int:pk>/", continuity.panel, name="panel"),
    path(C + "panels/<int:pk>/annotate", continuity.annotate, name="annotate"),
    path(C + "annotations/<int:pk>/reply", continuity.reply, name="annotation-reply"),
    path(C + "annotations/<int:pk>/status", continuity.annotation_status, name="annotation-status"),
    path(C + "annotations/<int:pk>/fix", continuity.fix, name="annotation-fix"),
    path(C + "revisions/<int:pk>/revert", continuity.revert, name="revision-revert"),
    path(C + "rules", continuity.rule_add, name="rule-add"),
    path(C + "rules/<int:pk>/remove", continuity.rule_remove, name="rule-remove"),
    path(C + "inspect", continuity.inspect, name="inspect"),
    path(C + "inspections/<int:pk>/", continuity.inspection, name="inspection"),
]

# Team review, project settings and share links (issue 6).
from .views import sharing, team  # noqa: E402

urlpatterns += [
    path("p/<slug:project_slug>/activity", team.activity, name="activity"),
    path("p/<slug:project_slug>/settings", sharing.settings_page, name="project-settings"),
    path("p/<slug:project_slug>/settings/members", sharing.member_add, name="member-add"),
    path(
        "p/<slug:project_slug>/settings/members/<int:pk>",
        sharing.member_change,
        name="member-change",
    ),
    path("p/<slug:project_slug>/settings/links", sharing.link_create, name="share-link-create"),
    path(
        "p/<slug:project_slug>/settings/links/<int:pk>/revoke",
        sharing.link_revoke,
        name="share-link-revoke",
    ),
    path("p/<slug:project_slug>/settings/budget", sharing.budget, name="project-budget"),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/changes",
        team.changes,
        name="character-changes",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/comment",
        team.comment,
        name="character-comment",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/candidates/<int:pk>/vote",
        team.candidate_vote,
        name="candidate-vote",
    ),
    path(
        "p/<slug:project_slug>/c/<slug:character_slug>/sheets/<int:pk>/vote",
        team.sheet_vote,
        name="sheet-vote",
    ),
    path("notifications/", team.notifications, name="notifications"),
    path("s/<str:token>", sharing.share_open, name="share-open"),
    path("invite/<str:token>", sharing.invite_open, name="invite-open"),
]

# Identity score and what locking cost (issue 15).
from .views import identity  # noqa: E402

urlpatterns += [
    path(C + "sheets/<int:pk>/identity", identity.sheet_identity, name="sheet-identity"),
    path(P + "cost-to-lock.csv", identity.cost_to_lock_csv, name="cost-to-lock-csv"),
]
