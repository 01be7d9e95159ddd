"""A small LiveKit server stand-in speaking the Twirp wire format on loopback.

Only the network peer is replaced: tests drive it through the real ``livekit-api`` client.
Requests are decoded with the real protobuf classes, authenticated with the real
``TokenVerifier``, answered with serialized protobuf, and errors use LiveKit's JSON error
shape (``{"code","msg","meta"}``) so the SDK raises its real exceptions (``SipCallError``).

    async with FakeLiveKit() as lk:
        settings.livekit_url = lk.url
        lk.fail("AgentDispatchService", "CreateDispatch", status=503, code="unavailable")
        ...
        assert lk.calls("RoomService", "CreateRoom")
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from livekit import api
from livekit.protocol import agent_dispatch as ad
from livekit.protocol import egress, models, room, sip, webhook

from tests.fakes.base import LoopbackServer

API_KEY = "devkey"
API_SECRET = "devsecret-devsecret-devsecret-devsecret"  # >= 32 chars


@dataclass
class Failure:
    status: int
    code: str
    msg: str
    meta: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # None = every time


@dataclass
class Recorded:
    service: str
    method: str
    request: Any


class FakeLiveKit(LoopbackServer):
    def __init__(self, api_key: str = API_KEY, api_secret: str = API_SECRET) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.rooms: dict[str, models.Room] = {}
        self.dispatches: dict[str, ad.AgentDispatch] = {}
        self.sip_participants: list[sip.CreateSIPParticipantRequest] = []
        self.outbound_trunks: dict[str, sip.SIPOutboundTrunkInfo] = {}
        self.participants: dict[str, list[models.ParticipantInfo]] = {}
        # Set to answer SIP transfers with this response (e.g. a failed status, no error).
        self.transfer_answer: sip.TransferSIPParticipantResponse | None = None
        self.recorded: list[Recorded] = []
        self.failures: dict[tuple[str, str], Failure] = {}
        self.delays: dict[tuple[str, str], float] = {}
        self.hooks: dict[tuple[str, str], Callable[[Any], Any]] = {}
        self.egresses: dict[str, tuple[egress.RoomCompositeEgressRequest, egress.EgressInfo]] = {}
        self._verifier = api.TokenVerifier(api_key, api_secret)
        self._routes: dict[tuple[str, str], tuple[type, Callable[[Any], Any]]] = {
            ("RoomService", "CreateRoom"): (room.CreateRoomRequest, self._create_room),
            ("RoomService", "DeleteRoom"): (room.DeleteRoomRequest, self._delete_room),
            ("RoomService", "ListRooms"): (room.ListRoomsRequest, self._list_rooms),
            ("RoomService", "ListParticipants"): (
                room.ListParticipantsRequest,
                self._list_participants,
            ),
            ("AgentDispatchService", "CreateDispatch"): (
                ad.CreateAgentDispatchRequest,
                self._create_dispatch,
            ),
            ("AgentDispatchService", "ListDispatch"): (
                ad.ListAgentDispatchRequest,
                self._list_dispatch,
            ),
            ("SIP", "CreateSIPParticipant"): (
                sip.CreateSIPParticipantRequest,
                self._create_sip_participant,
            ),
            ("SIP", "CreateSIPOutboundTrunk"): (
                sip.CreateSIPOutboundTrunkRequest,
                self._create_outbound_trunk,
            ),
            ("SIP", "ListSIPOutboundTrunk"): (
                sip.ListSIPOutboundTrunkRequest,
                self._list_outbound_trunks,
            ),
            ("SIP", "DeleteSIPTrunk"): (sip.DeleteSIPTrunkRequest, self._delete_trunk),
            ("SIP", "TransferSIPParticipant"): (
                sip.TransferSIPParticipantRequest,
                self._transfer_sip_participant,
            ),
            ("RoomService", "MoveParticipant"): (
                room.MoveParticipantRequest,
                self._move_participant,
            ),
            ("Egress", "StartRoomCompositeEgress"): (
                egress.RoomCompositeEgressRequest,
                self._start_room_composite_egress,
            ),
            ("Egress", "StopEgress"): (egress.StopEgressRequest, self._stop_egress),
            ("Egress", "ListEgress"): (egress.ListEgressRequest, self._list_egress),
        }

    # --- lifecycle --------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/twirp/livekit.{service}/{method}", self._handle)
        return app

    # --- test controls ----------------------------------------------------------------
    def fail(
        self,
        service: str,
        method: str,
        *,
        status: int = 503,
        code: str = "unavailable",
        msg: str = "injected failure",
        meta: dict[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        self.failures[(service, method)] = Failure(status, code, msg, meta or {}, times)

    def fail_sip(self, sip_status_code: int, sip_status: str, **kw: Any) -> None:
        """Make the next dial fail like LiveKit does for a SIP response (486 Busy Here …)."""
        self.fail(
            "SIP",
            "CreateSIPParticipant",
            status=kw.pop("status", 400),
            code=kw.pop("code", "failed_precondition"),
            msg=kw.pop("msg", f"sip call failed: {sip_status_code} {sip_status}"),
            meta={"sip_status_code": str(sip_status_code), "sip_status": sip_status},
            **kw,
        )

    def fail_transfer(self, sip_status_code: int, sip_status: str, reason: str) -> None:
        """Make the next SIP transfer fail the way LiveKit reports it (486 Busy Here, ...)."""
        self.fail(
            "SIP",
            "TransferSIPParticipant",
            status=400,
            code="failed_precondition",
            msg=f"transfer failed: {sip_status_code} {sip_status}",
            meta={
                "sip_status_code": str(sip_status_code),
                "sip_status": sip_status,
                "sip_transfer_reason": reason,
            },
            times=1,
        )

    def clear_failures(self) -> None:
        self.failures.clear()

    def calls(self, service: str, method: str) -> list[Any]:
        return [r.request for r in self.recorded if r.service == service and r.method == method]

    def add_participant(self, room_name: str, identity: str, kind: int = 0) -> None:
        self.participants.setdefault(room_name, []).append(
            models.ParticipantInfo(identity=identity, sid=f"PA_{uuid.uuid4().hex[:12]}", kind=kind)
        )

    # --- egress: what the egress service does with a request, and LiveKit's webhooks ---
    async def finish_egress(self, egress_id: str, audio: bytes | None = None) -> None:
        """Complete an egress like LiveKit's egress service: upload the file to the S3
        destination of its request (real S3 wire protocol, boto3), then mark it complete.
        ``audio=None`` fails it instead."""
        req, info = self.egresses[egress_id]
        out = req.file_outputs[0]
        if audio is None:
            info.status = egress.EgressStatus.EGRESS_FAILED
            info.error = "pipeline failed: no audio"
            return
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=out.s3.endpoint or None,
            region_name=out.s3.region,
            aws_access_key_id=out.s3.access_key,
            aws_secret_access_key=out.s3.secret,
        )
        await asyncio.to_thread(s3.put_object, Bucket=out.s3.bucket, Key=out.filepath, Body=audio)
        info.status = egress.EgressStatus.EGRESS_COMPLETE
        info.file_results.append(
            egress.FileInfo(
                filename=out.filepath,
                size=len(audio),
                duration=int(12.5 * 1e9),
                location=f"{out.s3.endpoint}/{out.s3.bucket}/{out.filepath}",
            )
        )

    def webhook(
        self,
        event: str,
        *,
        egress_id: str | None = None,
        room_name: str | None = None,
        secret: str | None = None,
        ttl: timedelta = timedelta(minutes=5),
    ) -> tuple[bytes, str]:
        """A webhook as the LiveKit server sends it: the event's protobuf JSON and, in
        ``Authorization``, a JWT signed with the API secret carrying the body's SHA-256."""
        from google.protobuf.json_format import MessageToJson

        ev = webhook.WebhookEvent(event=event, id=f"EV_{uuid.uuid4().hex[:12]}")
        if egress_id is not None:
            ev.egress_info.CopyFrom(self.egresses[egress_id][1])
        if room_name is not None:
            ev.room.CopyFrom(models.Room(name=room_name, sid=f"RM_{uuid.uuid4().hex[:8]}"))
        body = MessageToJson(ev).encode()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        token = (
            api.AccessToken(self.api_key, secret or self.api_secret)
            .with_sha256(digest)
            .with_ttl(ttl)
            .to_jwt()
        )
        return body, token

    # --- wire -------------------------------------------------------------------------
    def _error(self, status: int, code: str, msg: str, meta: dict[str, str] | None = None):
        body: dict[str, Any] = {"code": code, "msg": msg}
        if meta:
            body["meta"] = meta
        return web.Response(status=status, body=json.dumps(body), content_type="application/json")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        service, method = request.match_info["service"], request.match_info["method"]
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self._error(401, "unauthenticated", "missing authorization")
        try:
            self._verifier.verify(auth[len("Bearer ") :])
        except Exception as exc:  # noqa: BLE001
            return self._error(401, "unauthenticated", f"invalid token: {exc}")
        route = self._routes.get((service, method))
        if route is None:
            return self._error(404, "bad_route", f"no handler for {service}/{method}")
        req_cls, handler = route
        if request.content_type != "application/protobuf":
            return self._error(400, "malformed", "expected application/protobuf")
        req = req_cls.FromString(await request.read())
        self.recorded.append(Recorded(service, method, req))
        delay = self.delays.get((service, method))
        if delay:
            await asyncio.sleep(delay)
        failure = self.failures.get((service, method))
        if failure is not None:
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self.failures[(service, method)]
            return self._error(failure.status, failure.code, failure.msg, failure.meta)
        hook = self.hooks.get((service, method))
        if hook is not None:
            result = hook(req)
            if asyncio.iscoroutine(result):
                result = await result
            if isinstance(result, web.StreamResponse):
                return result
        resp = handler(req)
        if isinstance(resp, web.StreamResponse):  # the service answered an error
            return resp
        return web.Response(body=resp.SerializeToString(), content_type="application/protobuf")

    # --- services ---------------------------------------------------------------------
    def _create_room(self, req: room.CreateRoomRequest) -> models.Room:
        existing = self.rooms.get(req.name)
        if existing is not None:
            return existing
        r = models.Room(
            sid=f"RM_{uuid.uuid4().hex[:12]}",
            name=req.name,
            empty_timeout=req.empty_timeout,
            max_participants=req.max_participants,
            metadata=req.metadata,
        )
        self.rooms[req.name] = r
        return r

    def _delete_room(self, req: room.DeleteRoomRequest) -> room.DeleteRoomResponse:
        self.rooms.pop(req.room, None)
        return room.DeleteRoomResponse()

    def _list_rooms(self, req: room.ListRoomsRequest) -> room.ListRoomsResponse:
        names = set(req.names)
        return room.ListRoomsResponse(
            rooms=[r for n, r in self.rooms.items() if not names or n in names]
        )

    def _list_participants(
        self, req: room.ListParticipantsRequest
    ) -> room.ListParticipantsResponse:
        return room.ListParticipantsResponse(participants=self.participants.get(req.room, []))

    def _create_dispatch(self, req: ad.CreateAgentDispatchRequest) -> ad.AgentDispatch:
        d = ad.AgentDispatch(
            id=f"AD_{uuid.uuid4().hex[:12]}",
            agent_name=req.agent_name,
            room=req.room,
            metadata=req.metadata,
        )
        self.dispatches[d.id] = d
        return d

    def _list_dispatch(self, req: ad.ListAgentDispatchRequest) -> ad.ListAgentDispatchResponse:
        return ad.ListAgentDispatchResponse(
            agent_dispatches=[d for d in self.dispatches.values() if d.room == req.room]
        )

    def _create_sip_participant(
        self, req: sip.CreateSIPParticipantRequest
    ) -> sip.SIPParticipantInfo:
        self.sip_participants.append(req)
        identity = req.participant_identity or f"sip_{req.sip_call_to}"
        self.add_participant(req.room_name, identity, kind=3)
        return sip.SIPParticipantInfo(
            participant_id=f"PA_{uuid.uuid4().hex[:12]}",
            participant_identity=identity,
            room_name=req.room_name,
            sip_call_id=f"SCL_{uuid.uuid4().hex[:12]}",
        )

    def _transfer_sip_participant(
        self, req: sip.TransferSIPParticipantRequest
    ) -> sip.TransferSIPParticipantResponse:
        """A SIP REFER the far end accepted: the participant leaves the room."""
        if self.transfer_answer is not None:
            return self.transfer_answer
        people = self.participants.get(req.room_name, [])
        if not any(p.identity == req.participant_identity for p in people):
            return self._error(404, "not_found", "participant not found")  # type: ignore[return-value]
        self.participants[req.room_name] = [
            p for p in people if p.identity != req.participant_identity
        ]
        return sip.TransferSIPParticipantResponse(
            transfer_id=f"STX_{uuid.uuid4().hex[:12]}",
            status=sip.SIPTransferStatus.STS_TRANSFER_SUCCESSFUL,
            reason=sip.SIPTransferReason.STR_COMPLETED,
            sip_status=sip.SIPStatus(code=sip.SIPStatusCode.SIP_STATUS_ACCEPTED, status="Accepted"),
        )

    def _move_participant(self, req: room.MoveParticipantRequest) -> room.MoveParticipantResponse:
        people = self.participants.get(req.room, [])
        moved = [p for p in people if p.identity == req.identity]
        self.participants[req.room] = [p for p in people if p.identity != req.identity]
        self.participants.setdefault(req.destination_room, []).extend(moved)
        return room.MoveParticipantResponse()

    def _create_outbound_trunk(
        self, req: sip.CreateSIPOutboundTrunkRequest
    ) -> sip.SIPOutboundTrunkInfo:
        info = sip.SIPOutboundTrunkInfo()
        info.CopyFrom(req.trunk)
        info.sip_trunk_id = f"ST_{uuid.uuid4().hex[:12]}"
        self.outbound_trunks[info.sip_trunk_id] = info
        return info

    def _list_outbound_trunks(
        self, req: sip.ListSIPOutboundTrunkRequest
    ) -> sip.ListSIPOutboundTrunkResponse:
        return sip.ListSIPOutboundTrunkResponse(items=list(self.outbound_trunks.values()))

    def _start_room_composite_egress(
        self, req: egress.RoomCompositeEgressRequest
    ) -> egress.EgressInfo:
        info = egress.EgressInfo(
            egress_id=f"EG_{uuid.uuid4().hex[:12]}",
            room_name=req.room_name,
            status=egress.EgressStatus.EGRESS_STARTING,
        )
        self.egresses[info.egress_id] = (req, info)
        return info

    def _stop_egress(self, req: egress.StopEgressRequest) -> egress.EgressInfo:
        _, info = self.egresses[req.egress_id]
        if info.status in (egress.EgressStatus.EGRESS_STARTING, egress.EgressStatus.EGRESS_ACTIVE):
            info.status = egress.EgressStatus.EGRESS_ENDING
        return info

    def _list_egress(self, req: egress.ListEgressRequest) -> egress.ListEgressResponse:
        return egress.ListEgressResponse(
            items=[
                i
                for _, i in self.egresses.values()
                if not req.room_name or i.room_name == req.room_name
            ]
        )

    def _delete_trunk(self, req: sip.DeleteSIPTrunkRequest) -> sip.SIPTrunkInfo:
        self.outbound_trunks.pop(req.sip_trunk_id, None)
        return sip.SIPTrunkInfo(sip_trunk_id=req.sip_trunk_id)
