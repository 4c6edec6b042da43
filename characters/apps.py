from django.apps import AppConfig
from django.db.models.signals import post_migrate

from studio import memory

REQUEUE_FUNC = "characters.tasks.requeue_stuck_generations"
RETIRED_REFERENCE_CHECK_FUNC = "characters.services.references.references_check_task"


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
    # Reference-library checks used to run from a Schedule of their own; they are due checks
    # now (characters.tasks.DUE_CHECKS), sent by the ticker and by the job above.
    Schedule.objects.using(using).filter(func=RETIRED_REFERENCE_CHECK_FUNC).delete()


class CharactersConfig(AppConfig):
    name = "characters"
    verbose_name = "Turnaround"

    def ready(self) -> None:
        # Here, not at the top: django_q.signals imports django-q2's models.
        from django_q.signals import post_execute_in_worker

        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="turnaround-schedules")
        # A worker gives back what its task freed (a 4K sheet's pixels) before the next one.
        post_execute_in_worker.connect(memory.release_after_task, dispatch_uid="turnaround-trim")
