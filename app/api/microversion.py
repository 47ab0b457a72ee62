"""Block Storage API microversions: `OpenStack-API-Version: volume 3.N` (and the
legacy `X-OpenStack-Volume-API-Version`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from app.errors import BadRequest, NotAcceptable

SERVICE = "volume"
HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Volume-API-Version"
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@total_ordering
@dataclass(frozen=True)
class APIVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> APIVersion:
        m = _VERSION_RE.match(text.strip())
        if not m:
            raise BadRequest(
                f"API Version String {text} is of invalid format. Must be of format "
                "MajorNum.MinorNum."
            )
        return cls(int(m.group(1)), int(m.group(2)))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, APIVersion):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN_VERSION = APIVersion(3, 0)
MAX_VERSION = APIVersion(3, 71)
EXTEND_VOLUME_COMPLETION = APIVersion(3, 71)
# Feature gates, named as Cinder names them.
MESSAGES = APIVersion(3, 3)
VOLUME_LIST_GLANCE_METADATA = APIVersion(3, 4)
GROUP_VOLUME = APIVersion(3, 13)
# os-migrate_volume may leave the host to the scheduler (and name a cluster).
MIGRATE_WITHOUT_HOST = APIVersion(3, 16)
VOLUME_DETAIL_PROVIDER_ID = APIVersion(3, 21)
POOL_TYPE_FILTER = APIVersion(3, 35)
SUPPORT_COUNT_INFO = APIVersion(3, 45)
VOLUME_SHARED_TARGETS = APIVersion(3, 48)
VOLUME_CLUSTER_NAME = APIVersion(3, 61)
VOLUME_TYPE_ID_IN_VOLUME_DETAIL = APIVersion(3, 63)
ENCRYPTION_KEY_ID_IN_DETAILS = APIVersion(3, 64)
USE_QUOTA = APIVersion(3, 65)
PROJECT_ID_OPTIONAL = APIVersion(3, 67)


def negotiate(header_value: str | None, legacy_value: str | None) -> APIVersion:
    """The version a request asks for. Missing means the minimum."""
    requested: str | None = None
    if header_value:
        # "volume 3.27", possibly among other services: "compute 2.1, volume 3.27"
        for part in header_value.split(","):
            words = part.strip().split()
            if len(words) == 2 and words[0].lower() == SERVICE:
                requested = words[1]
    elif legacy_value:
        requested = legacy_value.strip()
    if not requested:
        return MIN_VERSION
    if requested.lower() == "latest":
        return MAX_VERSION
    version = APIVersion.parse(requested)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise NotAcceptable(
            f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} "
            f"and maximum is {MAX_VERSION}."
        )
    return version
