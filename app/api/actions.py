"""`POST /{collection}/{id}/action`: the body names one action and its arguments, as
every Cinder resource with actions takes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.api.faults import missing
from app.api.schemas.volumes import RequestBody
from app.errors import BadRequest


def read_action_name(payload: RequestBody) -> str:
    """The one action the body names, for an action whose argument is ignored."""
    body = payload.raw
    if not body:
        raise BadRequest(missing("action"))
    if len(body) != 1:
        raise BadRequest("Exactly one action per request.")
    return next(iter(body))


def read_action(payload: RequestBody) -> tuple[str, dict[str, Any]]:
    """The action the body names and its arguments (an object; null stands for {})."""
    action = read_action_name(payload)
    args = payload.raw[action]
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadRequest(f"Invalid arguments for {action}: it must be an object.")
    return action, args


def action_policy(policies: Mapping[str, str], action: str) -> str:
    """The policy of a known action; 400 for any other."""
    policy = policies.get(action)
    if policy is None:
        raise BadRequest(f"There is no such action: {action}")
    return policy


def admin_action_policies(resource: str) -> dict[str, str]:
    """Cinder's `<resource>_admin_actions` policies of os-reset_status and os-force_delete."""
    return {
        f"os-{action}": f"volume_extension:{resource}_admin_actions:{action}"
        for action in ("reset_status", "force_delete")
    }
