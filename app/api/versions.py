"""Version discovery: GET / (300, every major version) and GET /v3/ (200)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.microversion import MAX_VERSION, MIN_VERSION
from app.api.schemas import services as S
from app.api.schemas.contract import returns

router = APIRouter(tags=["versions"])
UPDATED = "2026-11-25T00:00:00Z"


def _base(request: Request) -> str:
    public = request.app.state.runtime.settings.public_url
    return str(public or request.base_url).rstrip("/")


def _v3(request: Request) -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": str(MAX_VERSION),
        "min_version": str(MIN_VERSION),
        "updated": UPDATED,
        "links": [
            {
                "rel": "describedby",
                "type": "text/html",
                "href": "https://docs.openstack.org/api-ref/block-storage/v3/",
            },
            {"rel": "self", "href": f"{_base(request)}/v3/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


@router.get("/", **returns(S.VersionsResponse, 300))
async def all_versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": [_v3(request)]}, status_code=300)


@router.get("/v3", include_in_schema=False)
@router.get("/v3/", **returns(S.VersionsResponse))
async def v3_version(request: Request) -> dict[str, Any]:
    return {"versions": [_v3(request)]}
