"""The websocket of a training run: /ws/training-runs/<id>/, for program admins.

On connect it sends the run as it stands (``{"type": "run", ...}``, what the API's
``GET /api/training-runs/<id>/`` gives), then each change the training worker pushes (its step,
loss, progress, time left and log every second while it trains; evaluating; the end). The page
polls the API instead when the socket does not open or drops. Close codes, as a scan's socket:
4401 not logged in, 4404 not a program admin or no such run (nothing more is said).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from abvlmq_web.datasets.events import run_group
from abvlmq_web.datasets.selectors import run_payload, runs

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


def _payload(run_id: int) -> dict | None:
    run = runs().filter(pk=run_id).first()
    return run_payload(run) if run is not None else None


class TrainingRunConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        if not user.is_program_admin:
            await self._refuse(CLOSE_NOT_FOUND)
            return
        # Join before reading: a change written after the read is pushed after the join.
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        payload = await database_sync_to_async(_payload)(self.run_id)
        if payload is None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            del self.group
            await self._refuse(CLOSE_NOT_FOUND)
            return
        await self.accept()
        await self.send_json({"type": "run", **payload})

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """The page sends nothing; whatever arrives is ignored unread."""

    async def training_progress(self, message: dict) -> None:
        await self.send_json({"type": "run", **message["run"]})
