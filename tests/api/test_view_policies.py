"""The fields Cinder shows only to some callers are gated by their named policy
(app/api/policy.py), so an operator's rule is what decides, not a hard-wired admin check."""

from __future__ import annotations

import httpx
import pytest

from app.api import policy
from app.api.fields import Field
from tests.api.helpers import new_volume, report, show_volume
from tests.conftest import Caller

HOST = "os-vol-host-attr:host"
MIGRATION = "os-vol-mig-status-attr:migstat"
TENANT = "os-vol-tenant-attr:tenant_id"


async def test_a_member_sees_what_the_default_policies_grant(
    client: httpx.AsyncClient, member: Caller, admin: Caller, service: Caller
) -> None:
    await report(client, service)
    volume_id = await new_volume(client, member)
    shown = await show_volume(client, member, volume_id)
    assert TENANT in shown
    assert HOST not in shown and MIGRATION not in shown
    as_admin = (
        await client.get(f"/v3/{member.project_id}/volumes/{volume_id}", headers=admin.headers())
    ).json()["volume"]
    assert {TENANT, HOST, MIGRATION} <= set(as_admin)


async def test_a_field_follows_its_policy_when_the_rule_changes(
    client: httpx.AsyncClient, member: Caller, service: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        policy.POLICIES, "volume_extension:volume_host_attribute", policy.Rule.READER
    )
    monkeypatch.setitem(
        policy.POLICIES, "volume_extension:volume_tenant_attribute", policy.Rule.ADMIN
    )
    await report(client, service)
    volume_id = await new_volume(client, member)
    shown = await show_volume(client, member, volume_id)
    assert HOST in shown and TENANT not in shown


def test_a_field_names_a_policy_that_exists() -> None:
    with pytest.raises(KeyError):
        Field(policy="volume_extension:no_such_attribute")
