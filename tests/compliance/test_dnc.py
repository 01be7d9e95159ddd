"""The do-not-call list: API, CSV import with a per-row report, and a spoken opt-out that
suppresses everything queued for the number at once."""

from __future__ import annotations

from sqlalchemy import select

from nova.compliance import dnc
from nova.core.db import session_scope
from nova.models.worker import DoNotCall
from tests.calls.conftest import payload
from tests.compliance.helpers import DUBAI, NEW_YORK, at
from tests.conftest import register

IMPORT = "/v1/do-not-call/import"


async def _import(client, user, body: bytes | str, query: str = ""):
    data = body.encode() if isinstance(body, str) else body
    headers = {**user["headers"], "Content-Type": "text/csv"}
    return await client.post(IMPORT + query, content=data, headers=headers)


async def _phones(owner: str) -> dict[str, DoNotCall]:
    async with session_scope() as s:
        rows = (await s.execute(select(DoNotCall).where(DoNotCall.owner_id == owner))).scalars()
        return {r.phone: r for r in rows}


async def test_add_list_look_up_and_remove(client, user):
    h = user["headers"]
    r = await client.post(
        "/v1/do-not-call", json={"phone": DUBAI, "reason": "asked by email"}, headers=h
    )
    assert r.status_code == 201
    assert r.json()["phone"] == DUBAI and r.json()["source"] == "api"
    # Written any common way, it is the same number: listed once, 200 the second time.
    r = await client.post("/v1/do-not-call", json={"phone": "+971 50 123 4567"}, headers=h)
    assert r.status_code == 200 and r.json()["reason"] == "asked by email"
    await client.post("/v1/do-not-call", json={"phone": NEW_YORK}, headers=h)
    listing = (await client.get("/v1/do-not-call", headers=h)).json()
    assert listing["total"] == 2 and {i["phone"] for i in listing["items"]} == {DUBAI, NEW_YORK}
    one = (await client.get("/v1/do-not-call", params={"phone": DUBAI}, headers=h)).json()
    assert one["total"] == 1
    # Another account has its own list.
    other = await register(client, "other@example.com")
    assert (await client.get("/v1/do-not-call", headers=other["headers"])).json()["total"] == 0
    r = await client.delete(f"/v1/do-not-call/{DUBAI}", headers=other["headers"])
    assert r.status_code == 404
    assert (await client.delete(f"/v1/do-not-call/{DUBAI}", headers=h)).status_code == 204
    assert (await client.delete(f"/v1/do-not-call/{DUBAI}", headers=h)).status_code == 404
    assert (await client.get("/v1/do-not-call", headers=h)).json()["total"] == 1


async def test_bad_input_and_no_token(client, user):
    h = user["headers"]
    r = await client.post("/v1/do-not-call", json={"phone": "12345"}, headers=h)
    assert r.status_code == 400 and "no country code" in r.json()["detail"]
    r = await client.post("/v1/do-not-call", json={"phone": "+97150"}, headers=h)
    assert r.status_code == 400 and "not a valid phone number" in r.json()["detail"]
    assert (await client.get("/v1/do-not-call")).status_code == 401
    assert (await client.post("/v1/do-not-call", json={"phone": DUBAI})).status_code == 401


async def test_a_spoken_opt_out_cannot_be_removed_by_api(client, user):
    async with session_scope() as s:
        await dnc.opt_out(s, user["user"]["id"], DUBAI, reason="stop calling me")
    r = await client.delete(f"/v1/do-not-call/{DUBAI}", headers=user["headers"])
    assert r.status_code == 409
    # and adding it by API changes nothing about where it came from.
    r = await client.post("/v1/do-not-call", json={"phone": DUBAI}, headers=user["headers"])
    assert r.status_code == 200 and r.json()["source"] == "opt_out"


async def test_opt_out_suppresses_queued_attempts_in_the_same_transaction(
    clock, client, user, livekit, settings
):
    uid = user["user"]["id"]
    suppressed: list[tuple[str, str, bool]] = []

    @dnc.on_opt_out
    async def cancel_queued(session, owner_id: str, phone: str) -> None:
        # Runs inside the opt-out's transaction: the entry is already visible there.
        listed = await dnc.listed(session, owner_id, [phone])
        suppressed.append((owner_id, phone, phone in listed))

    try:
        async with session_scope() as s:
            assert await dnc.opt_out(s, uid, DUBAI, call_id=None, reason="no thanks") is True
        async with session_scope() as s:
            assert await dnc.opt_out(s, uid, DUBAI) is False  # idempotent
    finally:
        dnc._suppressors.remove(cancel_queued)
    assert suppressed == [(uid, DUBAI, True), (uid, DUBAI, True)]
    # And the gate blocks the number from then on, SIP or demo.
    settings.dial_mode = "sip"
    settings.sip_outbound_trunk_id = "ST_trunk"
    clock.set(at("2026-06-12 12:00", "Asia/Dubai"))
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    [call] = r.json()["calls"]
    assert call["status"] == "failed" and "do-not-call" in call["error"]
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []


async def test_csv_import_with_bom_semicolons_quotes_bad_phones_and_duplicates(client, user):
    uid = user["user"]["id"]
    await client.post("/v1/do-not-call", json={"phone": "+971501234569"}, headers=user["headers"])
    text = (
        "\ufeffName;Phone Number;Reason\r\n"
        "Sarah;+971 50 123 4567;asked twice\r\n"
        '"Doe; John";+1 (212) 555-0100;"said ""stop""; twice"\r\n'
        "Bad;12345;\r\n"
        "\r\n"
        "Dup;+971501234567;again\r\n"
        "Listed;+971501234569;\r\n"
        "Empty;;\r\n"
        "Short;+97150;\r\n"
        "Double zero;00447911123456;\r\n"
    )
    r = await _import(client, user, text)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["added"], report["duplicates"], report["rejected"]) == (
        8,
        3,
        1,
        3,
    )
    assert report["already_listed"] == 1 and not report["problems_truncated"]
    problems = {p["row"]: (p["status"], p["detail"]) for p in report["problems"]}
    assert problems == {
        4: (
            "rejected",
            "no country code: write it as +<country code><number>, or pass default_region",
        ),
        6: ("duplicate", "same number as row 2"),
        7: ("already_listed", "already on the list"),
        8: ("rejected", "no phone number"),
        9: ("rejected", "not a valid phone number"),
    }
    listed = await _phones(uid)
    assert set(listed) == {"+971501234567", "+12125550100", "+447911123456", "+971501234569"}
    assert listed["+12125550100"].reason == 'said "stop"; twice'
    assert listed["+971501234567"].reason == "asked twice"
    assert listed["+971501234567"].source == "import"
    # Importing the same file again adds nothing and says so per row.
    again = (await _import(client, user, text)).json()
    assert again["added"] == 0 and again["already_listed"] == 4


async def test_csv_import_commas_no_header_utf16_default_region_and_multipart(client, user):
    uid = user["user"]["id"]
    h = user["headers"]
    # No header: the first column is the phone; quoted commas stay in their field.
    text = '+971501234567,"Asked, politely"\n"+1 212 555 0100","x, y"\n'
    r = await _import(client, user, text)
    assert r.json()["added"] == 2 and r.json()["problems"] == []
    # Excel's "Unicode text": UTF-16 with a BOM, tab-separated, national numbers for AE.
    text16 = "mobile\tnote\n050 123 4568\tfrom the shop\n04 234 5678\t\n"
    r = await _import(client, user, text16.encode("utf-16"), "?default_region=AE")
    assert r.json()["added"] == 2, r.json()
    # multipart/form-data with a 'file' field; Windows-1252 bytes are read as such.
    body = "phone,reason\n+442071234567,caf\xe9 owner\n".encode("cp1252")
    r = await client.post(IMPORT, files={"file": ("list.csv", body, "text/csv")}, headers=h)
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    listed = await _phones(uid)
    assert listed["+97142345678"].reason is None
    assert listed["+971501234568"].reason == "from the shop"
    assert listed["+442071234567"].reason == "café owner"
    assert listed["+971501234567"].reason == "Asked, politely"


async def test_csv_import_refuses_what_it_cannot_read(client, user):
    assert (await _import(client, user, b"")).status_code == 400
    json_type = {**user["headers"], "Content-Type": "application/json"}
    r = await client.post(IMPORT, content=b"phone\n+971501234567\n", headers=json_type)
    assert r.status_code == 415
    r = await _import(client, user, "050 123 4567\n", "?default_region=XX")
    assert r.status_code == 400 and "default_region" in r.json()["detail"]
    too_many = "phone\n" + "+971501234567\n" * (dnc.MAX_IMPORT_ROWS + 1)
    r = await _import(client, user, too_many)
    assert r.status_code == 400 and "at most 100000" in r.json()["detail"]
    r = await _import(client, user, b"phone\n+971501234567\x00\n")
    assert r.status_code == 400 and "NUL" in r.json()["detail"]
    # An unterminated quote would swallow every row after it: the file is refused.
    r = await _import(client, user, 'phone,reason\n+971501234567,"asked\n+971501234568,x\n')
    assert r.status_code == 400 and "cannot be read near record" in r.json()["detail"]
    async with session_scope() as s:
        assert (await s.execute(select(DoNotCall))).first() is None  # nothing half-written
    assert (await client.post(IMPORT, content=b"+971501234567\n")).status_code == 401


async def test_a_report_lists_at_most_1000_problems(client, user):
    text = "phone\n" + "".join(f"bad-{i}\n" for i in range(1500)) + "+971501234567\n"
    report = (await _import(client, user, text)).json()
    assert (report["rows"], report["rejected"], report["added"]) == (1501, 1500, 1)
    assert len(report["problems"]) == 1000 and report["problems_truncated"] is True
    assert report["problems"][0]["row"] == 2
