"""Every state change in Turnaround: <entity>_<action>, keyword-only, transaction-aware.

One module per area; callers import from here. Services check the invariant, write the rows,
record the decision in Activity, and enqueue background work on commit.
"""

from ..permissions import Denied
from .casting import candidate_approve, candidate_decide, casting_start, character_unlock_face
from .continuity import (
    annotation_create,
    annotation_reply,
    annotation_set_status,
    brief_requires,
    fix_batch_settle,
    inspect_start,
    inspection_apply,
    inspection_dismiss,
    inspection_fix_everywhere,
    panel_fix_apply,
    panel_fix_request,
    panel_revert,
    rule_create,
    rule_delete,
    shot_note_trace,
)
from .core import (
    MAX_CANDIDATES,
    MIN_CANDIDATES,
    BudgetExceeded,
    ServiceError,
    activity_record,
    character_advance_revision,
    membership_role,
    recording_activity,
    require,
)
from .generations import (
    enqueue_generation,
    enqueue_generations,
    generation_claim,
    generation_create,
    generation_enqueue,
    generation_fail,
    generation_requeue_stuck,
    generation_retry,
    generations_create,
    keep_result,
)
from .projects import (
    BRIEF_FIELDS,
    character_archive,
    character_create,
    character_name_taken,
    character_update_brief,
    project_committed_spend,
    project_create,
    project_set_budget,
)
from .references import references_retry
from .sheets import (
    MAX_SHEET_OPTIONS,
    MIN_PANEL_SIDE,
    SHEET_SIZES,
    character_rules,
    panel_crop,
    panel_set_box,
    sheet_generate,
    sheet_lock,
    sheet_resplit,
    sheet_store_split,
    sheet_unlock,
)
from .shots import (
    MAX_STILL_BYTES,
    SHOT_RATIOS,
    SHOT_RESOLUTIONS,
    shot_create,
    shot_note_create,
    shot_note_reply,
    shot_note_set_status,
    shot_render,
    shot_staleness,
    shots_rerender_stale,
)
from .team import (
    INVITE_DAYS,
    MAX_COMMENT,
    MENTION,
    Invited,
    character_comment,
    invite_accept,
    invite_create,
    invite_find,
    invite_problem,
    invite_send,
    membership_add,
    membership_invite,
    membership_remove,
    membership_set_role,
    notifications_mark_read,
    notify_mentions,
    share_link_check_password,
    share_link_create,
    share_link_find,
    share_link_is_live,
    share_link_record_use,
    share_link_revoke,
    share_token_hash,
    vote_cast,
    vote_tally,
)
