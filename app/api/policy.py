"""Who may do what: one table of actions (Cinder's policy names) and their default
rules, checked by one helper. Routers name the action; none spells out a rule."""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import Depends

from app.api.deps import ContextDep
from app.context import RequestContext
from app.errors import Forbidden


class Rule(Enum):
    # Cinder's defaults (its "xena" personas): admin_api, project member or admin,
    # project reader or admin. "In the project" is the URL's project, checked by
    # url_project; these say which roles count there.
    ADMIN = "admin"
    MEMBER = "member"
    READER = "reader"


POLICIES: dict[str, Rule] = {
    # --- volumes, snapshots, backups, manage ---
    "volume:create": Rule.MEMBER,
    "volume:get": Rule.READER,
    "volume:get_all": Rule.READER,
    "volume:update": Rule.MEMBER,
    "volume:delete": Rule.MEMBER,
    "volume:force_delete": Rule.ADMIN,
    "volume:get_volume_metadata": Rule.READER,
    "volume:create_volume_metadata": Rule.MEMBER,
    "volume:update_volume_metadata": Rule.MEMBER,
    "volume:delete_volume_metadata": Rule.MEMBER,
    # Which extension attributes a volume's show and list carry.
    "volume_extension:volume_host_attribute": Rule.ADMIN,
    "volume_extension:volume_mig_status_attribute": Rule.ADMIN,
    "volume_extension:volume_tenant_attribute": Rule.READER,
    "volume:extend": Rule.MEMBER,
    "volume:retype": Rule.MEMBER,
    "volume:update_readonly_flag": Rule.MEMBER,
    # Admin or Nova's service user: the router lets a service caller through.
    "volume:extend_volume_completion": Rule.ADMIN,
    "volume_extension:volume_admin_actions:reset_status": Rule.ADMIN,
    "volume_extension:volume_admin_actions:force_delete": Rule.ADMIN,
    "volume_extension:volume_admin_actions:migrate_volume": Rule.ADMIN,
    "volume_extension:volume_manage": Rule.ADMIN,
    # --- attach: the volume actions and the attachments API ---
    "volume_extension:volume_actions:reserve": Rule.MEMBER,
    "volume_extension:volume_actions:unreserve": Rule.MEMBER,
    "volume_extension:volume_actions:begin_detaching": Rule.MEMBER,
    "volume_extension:volume_actions:roll_detaching": Rule.MEMBER,
    "volume_extension:volume_actions:initialize_connection": Rule.MEMBER,
    "volume_extension:volume_actions:terminate_connection": Rule.MEMBER,
    "volume_extension:volume_actions:attach": Rule.MEMBER,
    "volume_extension:volume_actions:detach": Rule.MEMBER,
    "volume_extension:volume_admin_actions:force_detach": Rule.ADMIN,
    "volume:attachment_create": Rule.MEMBER,
    "volume:attachment_update": Rule.MEMBER,
    "volume:attachment_complete": Rule.MEMBER,
    "volume:attachment_delete": Rule.MEMBER,
    "volume:create_snapshot": Rule.MEMBER,
    "volume:get_snapshot": Rule.READER,
    "volume:get_all_snapshots": Rule.READER,
    "volume:update_snapshot": Rule.MEMBER,
    "volume:delete_snapshot": Rule.MEMBER,
    "volume:get_snapshot_metadata": Rule.READER,
    "volume:update_snapshot_metadata": Rule.MEMBER,
    "volume:delete_snapshot_metadata": Rule.MEMBER,
    "volume_extension:snapshot_admin_actions:reset_status": Rule.ADMIN,
    "volume_extension:snapshot_admin_actions:force_delete": Rule.ADMIN,
    "snapshot_extension:snapshot_manage": Rule.ADMIN,
    "volume_extension:extended_snapshot_attributes": Rule.READER,
    "backup:create": Rule.MEMBER,
    "backup:get": Rule.READER,
    "backup:get_all": Rule.READER,
    "backup:update": Rule.MEMBER,
    "backup:delete": Rule.MEMBER,
    # os-backup-project-attr:project_id (3.18) and user_id (3.56) in a backup's view.
    "backup:backup_project_attribute": Rule.ADMIN,
    "volume_extension:backup_admin_actions:reset_status": Rule.ADMIN,
    "volume_extension:backup_admin_actions:force_delete": Rule.ADMIN,
    "backup:restore": Rule.MEMBER,
    # Cinder's names: export under "export-import", import under "backup-import".
    "backup:export-import": Rule.ADMIN,
    "backup:backup-import": Rule.ADMIN,
    # --- types, group types, groups, qos specs, services, pools, hosts, messages ---
    "volume_extension:types_manage": Rule.ADMIN,
    "volume_extension:access_types_qos_specs_id": Rule.ADMIN,
    "volume_extension:type_get": Rule.READER,
    "volume_extension:type_get_all": Rule.READER,
    "volume_extension:types_extra_specs:index": Rule.READER,
    "volume_extension:types_extra_specs:show": Rule.READER,
    "volume_extension:types_extra_specs:create": Rule.ADMIN,
    "volume_extension:types_extra_specs:update": Rule.ADMIN,
    "volume_extension:types_extra_specs:delete": Rule.ADMIN,
    "volume_extension:volume_type_access:get_all_for_type": Rule.ADMIN,
    "volume_extension:volume_type_access:addProjectAccess": Rule.ADMIN,
    "volume_extension:volume_type_access:removeProjectAccess": Rule.ADMIN,
    "group:group_types_manage": Rule.ADMIN,
    "group:group_types_specs": Rule.ADMIN,
    "group:access_group_types_specs": Rule.ADMIN,
    "group:group_project_attribute": Rule.ADMIN,
    "group:get": Rule.READER,
    "group:get_all": Rule.READER,
    "group:create": Rule.MEMBER,
    "group:update": Rule.MEMBER,
    "group:delete": Rule.MEMBER,
    "group:reset_status": Rule.ADMIN,
    # Group snapshots (3.14), Cinder's defaults.
    "group:create_group_snapshot": Rule.MEMBER,
    "group:delete_group_snapshot": Rule.MEMBER,
    "group:get_group_snapshot": Rule.READER,
    "group:get_all_group_snapshots": Rule.READER,
    "group:reset_group_snapshot_status": Rule.ADMIN,
    "group:group_snapshot_project_attribute": Rule.ADMIN,
    "volume_extension:qos_specs_manage:get_all": Rule.ADMIN,
    "volume_extension:qos_specs_manage:get": Rule.ADMIN,
    "volume_extension:qos_specs_manage:create": Rule.ADMIN,
    "volume_extension:qos_specs_manage:update": Rule.ADMIN,
    "volume_extension:qos_specs_manage:delete": Rule.ADMIN,
    "volume_extension:services:index": Rule.ADMIN,
    "scheduler_extension:scheduler_stats:get_pools": Rule.ADMIN,
    # Not Cinder's: the dry run ranks the pools get_pools shows, so it is as guarded.
    "scheduler_extension:scheduler_stats:dry_run": Rule.ADMIN,
    "volume_extension:capabilities": Rule.ADMIN,
    "volume_extension:hosts": Rule.ADMIN,
    "message:get": Rule.READER,
    "message:get_all": Rule.READER,
    "message:delete": Rule.MEMBER,
    "limits_extension:used_limits": Rule.READER,
    # Not Cinder's: moving a backend or backup service to another agent.
    "agent:reassign_host": Rule.ADMIN,
    # --- quotas ---
    "volume_extension:quotas:show": Rule.READER,
    "volume_extension:quotas:update": Rule.ADMIN,
    "volume_extension:quotas:delete": Rule.ADMIN,
    "volume_extension:quota_classes": Rule.ADMIN,
    "volume_extension:quota_classes:update": Rule.ADMIN,
    # --- volumes from volumes ---
    "volume:revert_to_snapshot": Rule.MEMBER,
    # --- transfers, unmanage, manageable listings ---
    "volume:create_transfer": Rule.MEMBER,
    "volume:accept_transfer": Rule.MEMBER,
    "volume:delete_transfer": Rule.MEMBER,
    "volume:get_transfer": Rule.READER,
    "volume:get_all_transfers": Rule.READER,
    "volume_extension:volume_unmanage": Rule.ADMIN,
    "snapshot_extension:snapshot_unmanage": Rule.ADMIN,
    "volume_extension:list_manageable": Rule.ADMIN,
    "snapshot_extension:list_manageable": Rule.ADMIN,
}


def allows(ctx: RequestContext, action: str, project_id: str | None = None) -> bool:
    """Whether `action` on `project_id` (default: the caller's own) is allowed: another
    project's resources are the admin's only, as Cinder checks the target project."""
    rule = POLICIES[action]  # an action missing here is a bug, not a denial
    if ctx.is_admin:
        return True
    if project_id is not None and project_id != ctx.project_id:
        return False
    if rule is Rule.ADMIN:
        return False
    if rule is Rule.MEMBER:
        return ctx.can_write
    return bool(ctx.roles)


def authorize(ctx: RequestContext, action: str, project_id: str | None = None) -> RequestContext:
    """The caller, if `action` (on `project_id`) is allowed to it; else Cinder's 403."""
    if not allows(ctx, action, project_id):
        raise Forbidden(f"Policy doesn't allow {action} to be performed.")
    return ctx


def may(action: str) -> Any:
    """A dependency: `ctx: Annotated[RequestContext, may("volume:create")]`."""
    if action not in POLICIES:
        raise KeyError(f"no policy for {action!r}")

    def check(ctx: ContextDep) -> RequestContext:
        return authorize(ctx, action)

    return Depends(check)
