from __future__ import annotations

import hashlib
import hmac
import json
import uuid


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pf_payload(event_id: str | None = None, phone: str = "+971501234567", **over) -> dict:
    body = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:16]}",
        "type": "lead.created",
        "created_at": "2026-06-12T08:29:58Z",
        "payload": {
            "lead_id": "L-99812",
            "channel": "email",
            "listing": {
                "reference": "PF-DXB-44871",
                "title": "2BR apartment, Dubai Marina",
                "price": 2450000,
                "currency": "AED",
                "location": "Dubai Marina",
            },
            "contact": {"name": "Omar Haddad", "phone": phone, "email": "omar@example.com"},
            "message": "Is it still available? Can I view this weekend?",
        },
    }
    body.update(over)
    return body


def bayut_payload(event_id: str | None = None, phone: str = "+971551234567") -> dict:
    return {
        "event_id": event_id or f"bay_{uuid.uuid4().hex[:16]}",
        "event_type": "new_lead",
        "timestamp": "2026-06-12T08:29:58+04:00",
        "lead": {
            "id": "B-5521",
            "client_name": "Fatima Al Mansoori",
            "client_phone": phone,
            "client_email": "fatima@example.com",
            "message": "Interested in this villa",
            "property": {
                "reference_number": "BY-AUH-0091",
                "title": "4BR villa, Saadiyat",
                "price": 7800000,
                "location": "Saadiyat Island",
            },
        },
    }


def encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def create_integration(client, headers, portal="property_finder", **over) -> dict:
    body = {
        "portal": portal,
        "product": "Marina Heights residences",
        "context": "Off-plan and ready units, 2-4 bedrooms, payment plans available",
        "goal": "qualify_interest",
        "owner_email": "agent@example.com",
        **over,
    }
    r = await client.post("/portals/integrations", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()
