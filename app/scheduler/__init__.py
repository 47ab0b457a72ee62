"""The scheduler: capability cache, filters, weighers and the ranked choice.

No database and no FastAPI here: the API's store feeds the cache, and claims
are made in the database by claims.py.
"""

from app.scheduler.cache import CapabilityCache
from app.scheduler.request import VolumeRequest
from app.scheduler.scheduler import Scheduler
from app.scheduler.state import BackendState, PoolState

__all__ = ["BackendState", "CapabilityCache", "PoolState", "Scheduler", "VolumeRequest"]
