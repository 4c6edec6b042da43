from django.apps import AppConfig
from django.db.models.signals import post_migrate

REQUEUE_FUNC = "characters.tasks.requeue_stuck_generations"
REFERENCE_CHECK_FUNC = "characters.services.references.references_check_task"


def ensure_schedules(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """Create the every-minute requeue job once; rerunning migrate leaves it as it is."""
    from django_q.models import Schedule  # here: models cannot be imported before apps load

    Schedule.objects.using(using).get_or_create(
        name="requeue stuck generations",
        defaults={
            "func": REQUEUE_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    # The safety net of the reference check (uploads re-create a one-off check a few seconds
    # out while anything is pending): assets in Seedance's library are never waited on in a
    # worker.
    Schedule.objects.using(using).get_or_create(
        name="check reference assets",
        defaults={
            "func": REFERENCE_CHECK_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


class CharactersConfig(AppConfig):
    name = "characters"
    verbose_name = "Turnaround"

    def ready(self) -> None:
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="turnaround-schedules")
