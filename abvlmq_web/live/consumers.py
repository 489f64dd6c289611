"""The live sockets: /ws/live/ (a resident's frames in, what the fast path read out) and
/ws/live/watch/<resident id>/ (an instructor watching, read-only).

/ws/live/[?assignment=<id>]: residents and instructors. The page sends each frame as one binary
message (a PNG, or JPEG, of the marked image area, downscaled to ``side`` px) and JSON text for
the rest (``{"type": "captured", "scan_id": n}`` after a capture's upload). Frames are numbered
by arrival (1, 2, ...), dropped ones included, so the page can match a result to the frame it
sent. What the socket answers:

- ``{"type": "ready", "side", "max_bytes", "rate", "assignment"}`` once, after the accept;
- ``{"type": "live", "seq", "state": "scanning" | "unknown" | "frozen", "plane", "plane_name",
  "confidence", "quality", "grade", "structures", "target_met", "ms", "frame", ...}`` per frame
  scored, smoothed over the last 1.5 s (``scoring.live.Smoother``);
- ``{"type": "dropped", "seq", "reason", "message", "count"}`` for a frame not scored:
  ``too_large`` (over ``ABVLMQ_LIVE_MAX_FRAME_BYTES``, never decoded), ``not_an_image``,
  ``bad_size``, ``too_fast`` (over 6 a second on average, or a burst over 12: 5 a second is
  the page's rate, and frames held up on the way for up to 2 s are no flood), ``behind`` (a
  newer frame arrived while it waited: the latest frame wins). At most one message per
  reason in half a second, its ``count`` the total so far;
- ``{"type": "unavailable", "message"}`` then close 4503 when the model in force has no live
  head.

At most one frame is scored per socket at a time and at most one waits (the newest): the socket
never queues. Closed: the waiting frame is dropped and the one being scored is discarded when it
comes back. Frames are never stored. Close codes as the scan socket's: 4401 not logged in, 4403
a role without a live page (program admins), 4404 an assignment that is not hers; 4429 a
fourth live page of the same user in this process (each page costs the cores a share).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from abvlmq_web.core.audit import audit_record
from abvlmq_web.live import scorer as live_scorer
from abvlmq_web.live.selectors import live_assignment, may_go_live, own_scan, watchable_resident
from scoring.live import FrameRefused, Smoother

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 4503
MAX_SOCKETS_PER_USER = 3  # live pages of one user at once in one web process
_open_sockets: dict[int, int] = {}  # user id -> live sockets open in this process
RATE = 5  # frames a second the page sends
# A token bucket: frames are taken at 6 a second on average, 12 at once at most: a page's
# frames held up on the way (a busy server's loop, a stalled network: up to 2 s of them) arrive
# together and are no flood; at most one is scored and one waits whatever arrives, so a burst
# costs nothing. Over that, frames are too fast.
TAKE_RATE = 6.0
TAKE_BURST = 2 * TAKE_RATE
DROP_REPORT_EVERY = 0.5  # seconds between two "dropped" messages of one reason
MAX_TEXT = 2000  # a control message is small; a longer one is ignored unread

REASONS = {
    "too_fast": "Frames came faster than 5 a second: this one was dropped.",
    "behind": "A newer frame arrived while this one waited: the latest frame wins.",
}


def live_group(user_id: int) -> str:
    return f"live.{user_id}"


class _Refusing:
    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=json.dumps(content))


class LiveConsumer(_Refusing, AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        if not may_go_live(user):
            await self._refuse(CLOSE_FORBIDDEN)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.assignment = None
        wanted = query.get("assignment", [""])[0]
        if wanted:
            self.assignment = await database_sync_to_async(live_assignment)(
                user=user, assignment_id=wanted
            )
            if self.assignment is None:
                await self._refuse(CLOSE_NOT_FOUND)
                return
        run = await database_sync_to_async(live_scorer.runtime)()
        loop = asyncio.get_running_loop()
        self.scorer = await loop.run_in_executor(
            live_scorer.executor(), live_scorer.scorer_for, run
        )
        if _open_sockets.get(user.pk, 0) >= MAX_SOCKETS_PER_USER:
            await self._refuse(CLOSE_TOO_MANY)  # each page takes the cores' time: a few suffice
            return
        _open_sockets[user.pk] = _open_sockets.get(user.pk, 0) + 1
        self.counted = user.pk  # nothing below raises before disconnect() uncounts it
        await self.accept()
        if self.scorer is None:
            message = "The model in force has no live head: live practice is not available."
            await self.send_json({"type": "unavailable", "message": message})
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self.user_id = user.pk
        self.rubric = self.scorer.rubric
        self.smoother = Smoother(self.rubric)
        self.seq = 0
        self.tokens = TAKE_BURST
        self.refilled = time.monotonic()
        self.waiting: tuple[int, bytes, float] | None = None
        self.worker: asyncio.Task | None = None
        self.closed = False
        self.drops: dict[str, int] = {}
        self.drop_reported: dict[str, float] = {}
        a = self.assignment
        await self.send_json(
            {
                "type": "ready",
                "side": self.scorer.side,
                "max_bytes": settings.ABVLMQ_LIVE_MAX_FRAME_BYTES,
                "rate": RATE,
                "assignment": None
                if a is None
                else {
                    "id": a.pk,
                    "title": a.title,
                    "min_grade": a.min_grade,
                    "target_planes": [
                        {"code": c, "name": self.rubric.planes[c].name}
                        for c in a.target_planes
                        if c in self.rubric.planes
                    ],
                },
            }
        )
        await self.channel_layer.group_send(
            live_group(user.pk), {"type": "live.session", "state": "started"}
        )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "counted"):
            left = _open_sockets.get(self.counted, 1) - 1
            if left > 0:
                _open_sockets[self.counted] = left
            else:
                _open_sockets.pop(self.counted, None)
            del self.counted
        if not hasattr(self, "closed"):
            return
        self.closed = True
        self.waiting = None
        if self.worker is not None:
            self.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.worker
        await self.channel_layer.group_send(
            live_group(self.user_id), {"type": "live.session", "state": "ended"}
        )

    # ---------------------------------------------------------------- frames

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if not hasattr(self, "closed"):
            return  # refused, or not ready
        if bytes_data is not None:
            await self._frame(bytes_data)
        elif text_data is not None and len(text_data) <= MAX_TEXT:
            await self._control(text_data)

    async def _frame(self, data: bytes) -> None:
        self.seq += 1
        now = time.monotonic()
        if len(data) > settings.ABVLMQ_LIVE_MAX_FRAME_BYTES:
            limit = settings.ABVLMQ_LIVE_MAX_FRAME_BYTES // 1024
            await self._dropped(self.seq, "too_large", f"A frame is at most {limit} kB.")
            return
        self.tokens = min(TAKE_BURST, self.tokens + (now - self.refilled) * TAKE_RATE)
        self.refilled = now
        if self.tokens < 1.0:
            await self._dropped(self.seq, "too_fast", REASONS["too_fast"])
            return
        self.tokens -= 1.0
        if self.waiting is not None:
            await self._dropped(self.waiting[0], "behind", REASONS["behind"])
        self.waiting = (self.seq, data, now)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.ensure_future(self._work())

    async def _work(self) -> None:
        """Score the waiting frame, then the one that arrived meanwhile, until none waits."""
        loop = asyncio.get_running_loop()
        while self.waiting is not None and not self.closed:
            seq, data, arrived = self.waiting
            self.waiting = None
            result = await loop.run_in_executor(
                live_scorer.executor(), live_scorer.score_frame, self.scorer, data
            )
            del data
            if self.closed:
                return
            if isinstance(result, FrameRefused):
                await self._dropped(seq, result.code, str(result))
                continue
            view = self.smoother.add(result)
            view["target_met"] = self._target_met(view)
            ms = round((time.monotonic() - arrived) * 1000, 1)
            frame = {"width": result.size[0], "height": result.size[1], "colour": result.colour}
            await self.send_json(view | {"seq": seq, "ms": ms, "frame": frame})
            await self.channel_layer.group_send(
                live_group(self.user_id), {"type": "live.view", "view": view}
            )

    def _target_met(self, view: dict) -> bool:
        a = self.assignment
        if a is None or view.get("state") != "scanning":
            return False
        return view["plane"] in a.target_planes and self.rubric.grade_at_least(
            view["grade"], a.min_grade
        )

    async def _dropped(self, seq: int, reason: str, message: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1
        now = time.monotonic()
        if now - self.drop_reported.get(reason, float("-inf")) < DROP_REPORT_EVERY:
            return
        self.drop_reported[reason] = now
        await self.send_json(
            {
                "type": "dropped",
                "seq": seq,
                "reason": reason,
                "message": message,
                "count": self.drops[reason],
            }
        )

    # ---------------------------------------------------------------- captures

    async def _control(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("type") != "captured":
            return
        scan = await database_sync_to_async(own_scan)(
            user=self.scope["user"], scan_id=message.get("scan_id")
        )
        if scan is None:
            return
        auto = bool(message.get("auto"))
        await self.channel_layer.group_send(
            live_group(self.user_id), {"type": "live.capture", "scan_id": scan.pk, "auto": auto}
        )


class LiveWatchConsumer(_Refusing, AsyncWebsocketConsumer):
    """/ws/live/watch/<resident id>/: an instructor of her cohort sees what the resident's page
    shows (``{"type": "live", ...}`` without the frame's number), her captures
    (``{"type": "capture", "scan_id", "auto"}``) and when a session starts or ends
    (``{"type": "session", "state"}``). It sends nothing: whatever arrives is ignored. Anyone
    else: 4401 / 4404 as the scan socket."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        resident_id = self.scope["url_route"]["kwargs"]["user_id"]
        resident = await database_sync_to_async(watchable_resident)(
            viewer=user, resident_id=resident_id
        )
        if resident is None:
            await self._refuse(CLOSE_NOT_FOUND)
            return
        self.group = live_group(resident.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await database_sync_to_async(audit_record)(
            actor=user, action="live.watch", subject=resident, details={}
        )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Read-only: nothing the watcher sends is read."""

    async def live_view(self, message: dict) -> None:
        await self.send_json(message["view"])

    async def live_capture(self, message: dict) -> None:
        await self.send_json(
            {"type": "capture", "scan_id": message["scan_id"], "auto": message["auto"]}
        )

    async def live_session(self, message: dict) -> None:
        await self.send_json({"type": "session", "state": message["state"]})
