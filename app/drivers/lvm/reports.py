"""`vgs` and `lvs` reports (`--reportformat json --units b --nosuffix`) as typed values.

LVM prints every field as a string ("107374182400", "12.50", "" when a field does not
apply to the LV); pydantic turns them into ints and floats here, in one place, so the
driver never handles report text.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from app.drivers.base import DriverError

# The fields the driver asks for, in the order the commands name them.
VG_FIELDS = ("vg_name", "vg_size", "vg_free", "vg_extent_size")
LV_FIELDS = (
    "lv_name",
    "vg_name",
    "lv_size",
    "lv_attr",
    "pool_lv",
    "origin",
    "data_percent",
    "metadata_percent",
)


class _Row(BaseModel):
    # A newer lvm may print more than was asked for: ignored, never an error.
    model_config = ConfigDict(extra="ignore", frozen=True)


class VgReport(_Row):
    vg_name: str
    vg_size: int
    vg_free: int
    vg_extent_size: int


class LvReport(_Row):
    lv_name: str
    vg_name: str
    lv_size: int
    # lv_attr's first letter is the volume type (lvs(8)): "t" thin pool, "V" thin
    # volume, "s" COW snapshot, "o" origin of COW snapshots, "-" plain volume.
    lv_attr: str
    pool_lv: str = ""
    origin: str = ""
    # Only thin pools (and thin volumes, COW snapshots) have them; None elsewhere.
    data_percent: float | None = None
    metadata_percent: float | None = None

    @field_validator("data_percent", "metadata_percent", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def is_thin_pool(self) -> bool:
        return self.lv_attr.startswith("t")

    @property
    def is_thin_volume(self) -> bool:
        return self.lv_attr.startswith("V")

    @property
    def is_cow_snapshot(self) -> bool:
        return self.lv_attr.startswith("s")

    @property
    def is_open(self) -> bool:
        """lv_attr's sixth letter: "o" while a process or a target holds the device."""
        return self.lv_attr[5:6] == "o"


class _VgSection(_Row):
    vg: list[VgReport]


class _LvSection(_Row):
    lv: list[LvReport]


class _VgsOutput(_Row):
    report: list[_VgSection]


class _LvsOutput(_Row):
    report: list[_LvSection]


_Output = TypeVar("_Output", _VgsOutput, _LvsOutput)


def parse_vgs(text: str) -> list[VgReport]:
    output = _validate(_VgsOutput, text, "vgs")
    return [vg for section in output.report for vg in section.vg]


def parse_lvs(text: str) -> list[LvReport]:
    output = _validate(_LvsOutput, text, "lvs")
    return [lv for section in output.report for lv in section.lv]


def _validate(model: type[_Output], text: str, tool: str) -> _Output:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise DriverError(f"cannot read the {tool} report: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "report"
    return f"{where}: {error['msg']}"
