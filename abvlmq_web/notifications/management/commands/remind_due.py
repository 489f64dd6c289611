from django.core.management.base import BaseCommand

from abvlmq_web.progress.services import remind_due_assignments


class Command(BaseCommand):
    help = "Tell residents about assignments due within three days (once each; run daily)."

    def handle(self, *args, **options):
        self.stdout.write(f"{remind_due_assignments()} reminder(s) sent")
