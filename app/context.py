"""Who is asking: the caller's identity as the domain sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

ADMIN_PROJECT_NAME = "admin"
SERVICE_PROJECT_NAME = "service"
ROLES = ("admin", "member", "reader", "service")


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    project_id: str
    project_name: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    # Admin power: the admin role on the admin project, nothing else (see identity).
    is_admin: bool = False
    request_id: str = ""

    @property
    def can_write(self) -> bool:
        return self.is_admin or bool(self.roles & {"admin", "member"})

    @property
    def is_service(self) -> bool:
        # As admin power: the service role on the service project; on a tenant project
        # a role named service is just a role.
        return "service" in self.roles and self.project_name == SERVICE_PROJECT_NAME
