"""GDPR export: one JSON document with every kind of record stored about the subscriber."""

from __future__ import annotations

import psycopg

from tests.api.conftest import Tenant
from tests.privacy.world import spread


async def test_export_holds_every_kind_of_record(
    tenant: Tenant, sync_conn: psycopg.Connection[dict]
) -> None:
    world = await spread(tenant, sync_conn)
    r = await tenant.client.get(f"/v1/subscribers/{world.subscriber_id}/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith("attachment;")
    doc = r.json()
    assert doc["format"] == "tart-mailer.subscriber-export.v1"
    assert doc["subscriber"]["address"] == world.address
    assert doc["subscriber"]["properties"] == {"name": "Ada"}
    assert [c["action"] for c in doc["consent"]] == ["subscribe", "confirm", "unsubscribe"]
    assert doc["consent"][1]["ip"] == "198.51.100.4"
    assert [s["id"] for s in doc["sends"]] == [world.send_id]
    assert doc["sends"][0]["smtp_reply"].lower().endswith(f"<{world.address}>: user unknown")
    assert [(e["kind"], e["ip"], e["user_agent"]) for e in doc["events"]] == [
        ("open", "203.0.113.7", "Thunderbird")
    ]
    assert [(p["id"], p["recipient"]) for p in doc["reports"]] == [(world.report_id, world.address)]
    assert [w["event"] for w in doc["webhook_deliveries"]] == ["unsubscribe"]
    assert doc["webhook_deliveries"][0]["payload"]["address"] == world.address
    assert doc["confirmations"] == []
    assert doc["truncated"] == []
