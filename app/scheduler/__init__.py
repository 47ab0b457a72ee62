"""The scheduler: capability cache, filters, weighers and the ranked choice.

No database and no FastAPI here (tests/test_layout.py checks it): the API's
report store (app/volumes/capacity/reports.py) feeds the cache, and claims are made
in the database by app/volumes/capacity/claims.py.
"""

from app.scheduler.cache import CapabilityCache
from app.scheduler.request import VolumeRequest
from app.scheduler.scheduler import Scheduler
from app.scheduler.state import BackendState, PoolState

__all__ = ["BackendState", "CapabilityCache", "PoolState", "Scheduler", "VolumeRequest"]
