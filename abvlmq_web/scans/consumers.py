"""The websocket of a scan: /ws/scans/<id>/.

Authenticates (session or token), checks the cohort rules, joins the scan's group, sends the
events saved so far, then the live ones, each exactly once: messages carry the per-analysis
sequence number, and anything at or below the last one sent is dropped. While a clip's frames
are assessed it also carries un-numbered ``progress`` messages ("4 of 8 assessed"), until the
first event. Close codes: 4401 not logged in, 4404 no such scan for this user (an outsider
learns nothing more). A refused socket is accepted and then closed with its code: a close
before the accept reaches the browser as a bare 1006, and the page could not tell "log in
again" from "network down".

Self-assess first: a resident who asked to give her own score first, and has not yet, gets no
plane, deduction, score or grade event over the socket (the API and the page conceal them the
same way); the boxes and the end of the analysis still come. Once she has given hers, the page
opens a new socket and the saved events replay in full.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from abvlmq_web.progress.selectors.self_assessment import score_concealed
from abvlmq_web.scans.events import UPLOAD_KEY, scan_group, upload_group
from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.selectors import scan_events, scan_visible

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CONCEALED = frozenset({"plane", "deduction", "score", "grade"})
PROGRESS = ("stage", "done", "total")


def _concealed(*, user, scan_id: int) -> bool:
    analysis = Analysis.objects.select_related("scan").filter(scan_id=scan_id).first()
    return analysis is not None and score_concealed(user=user, analysis=analysis)


class ScanConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        self.scan_id = int(self.scope["url_route"]["kwargs"]["scan_id"])
        if not await database_sync_to_async(scan_visible)(user=user, scan_id=self.scan_id):
            await self._refuse(CLOSE_NOT_FOUND)
            return
        self.last_seq = 0
        self.concealed = await database_sync_to_async(_concealed)(user=user, scan_id=self.scan_id)
        # Join before reading: an event saved after the read is pushed after the join.
        await self.channel_layer.group_add(scan_group(self.scan_id), self.channel_name)
        await self.accept()
        await self._send_saved()

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "last_seq"):
            await self.channel_layer.group_discard(scan_group(self.scan_id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """The page sends nothing but an occasional ping; the stream is one-way. Whatever
        arrives (not JSON, binary, huge) is ignored unread: it never closes the socket with an
        error, as the JSON decoder of the base class did."""

    async def scan_event(self, message: dict) -> None:
        seq = message["seq"]
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:  # a gap: read what lies between from the database
            await self._send_saved(before=seq)
        await self._send(seq, message["event"])

    async def scan_progress(self, message: dict) -> None:
        """How far a clip's assessment has got: ``{"type": "progress", "stage", "done",
        "total"}``, without a number (it is not an event; the page shows the latest)."""
        if self.last_seq:  # the answer's events have begun: the count is behind them
            return
        await self.send_json({"type": "progress", **{k: message[k] for k in PROGRESS}})

    async def _send_saved(self, before: int | None = None) -> None:
        saved = await database_sync_to_async(scan_events)(
            scan_id=self.scan_id, after=self.last_seq, before=before
        )
        for msg in saved:
            await self._send(msg["seq"], msg)

    async def _send(self, seq: int, event: dict) -> None:
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        if self.concealed and event.get("type") in CONCEALED:
            return  # hers to see once she has given her own score
        await self.send_json({**event, "seq": seq})


class UploadProgressConsumer(AsyncJsonWebsocketConsumer):
    """/ws/uploads/<key>/: intake's progress on one upload of this user's, while its request
    runs (a clip's frames de-identified: ``{"stage", "done", "total"}``). Close codes: 4401 not
    logged in, 4404 a key that is not one (16-64 letters, digits and dashes)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        key = str(self.scope["url_route"]["kwargs"]["key"])
        if not UPLOAD_KEY.match(key):
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = upload_group(user_id=user.pk, key=key)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """The page sends nothing; anything it sends is ignored."""

    async def upload_progress(self, message: dict) -> None:
        await self.send_json({k: message[k] for k in ("stage", "done", "total")})
