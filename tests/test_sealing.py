"""Sealed secrets: the first key seals, every key opens, the key file is private and
made once, and a seal the keys cannot open is refused clearly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.config import Settings
from app.identity.keyring import KeyRingError
from app.sealing import KEY_FILE, Sealer, SealingError

ONE = "a" * 40
TWO = "b" * 40


def _settings(tmp_path: Path, keys: str | None = None) -> Settings:
    (tmp_path / "data").mkdir(exist_ok=True)
    return Settings(
        data_dir=tmp_path / "data", secret_keys=SecretStr(keys) if keys is not None else None
    )


def test_a_sealed_secret_is_not_the_secret_and_opens_again(tmp_path: Path) -> None:
    sealer = Sealer(_settings(tmp_path, ONE))
    sealed = sealer.seal("chap-secret-123")
    assert "chap-secret-123" not in sealed
    assert sealer.unseal(sealed) == "chap-secret-123"


def test_every_key_of_the_ring_opens_and_the_first_seals(tmp_path: Path) -> None:
    old = Sealer(_settings(tmp_path, ONE)).seal("s1")
    rotated = Sealer(_settings(tmp_path, f"{TWO},{ONE}"))
    assert rotated.unseal(old) == "s1"
    new = rotated.seal("s2")
    with pytest.raises(SealingError, match="cannot be opened"):
        Sealer(_settings(tmp_path, ONE)).unseal(new)


def test_short_setting_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="at least 32"):
        Sealer(_settings(tmp_path, "short")).seal("x")


def test_without_the_setting_a_private_key_file_is_made_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = settings.data_dir / KEY_FILE
    assert not path.exists()  # made on first use, not before
    sealed = Sealer(settings).seal("s")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Another process (a new Sealer) reads the same file and opens the seal.
    assert Sealer(settings).unseal(sealed) == "s"


def test_a_kind_with_sealed_members_is_queued_only_with_a_sealer(tmp_path: Path) -> None:
    from app import jobkinds
    from app.db.models import Job
    from app.volumes.kernel import jobs

    class Session:
        added: list[Job] = []

        def add(self, job: Job) -> None:
            self.added.append(job)

    payload = jobkinds.ExportVolumePayload(
        volume=jobkinds.VolumeRef(id="v", size_gb=1), chap_user="u", chap_secret="s3cret"
    )

    def queue(sealer: Sealer | None) -> Job:
        return jobs.enqueue(
            Session(),  # type: ignore[arg-type]
            kind=jobkinds.EXPORT_VOLUME,
            payload=payload,
            backend="node1@file",
            resource_id="v",
            max_attempts=3,
            sealer=sealer,
        )

    with pytest.raises(TypeError, match="seals chap_secret"):
        queue(None)
    sealer = Sealer(_settings(tmp_path, ONE))
    job = queue(sealer)
    assert job.payload["chap_secret"] != "s3cret"
    assert jobs.opened_payload(job, sealer)["chap_secret"] == "s3cret"
