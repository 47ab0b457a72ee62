"""Where the token signing keys live: the key file in the data directory (0600, created
on first start, rotated and pruned by `pumice token-keys`) or the `token_keys` setting;
never the database. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import stat
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.db.models import SystemSecret, utcnow
from app.errors import Unauthorized
from app.identity import keyring
from app.identity.keyring import KeyRing, new_secret
from app.identity.tokens import ALGORITHM, TokenIssuer
from app.main import create_app
from app.runtime import Runtime

# The key moves out of the database; replicas on PostgreSQL share a ring.
pytestmark = pytest.mark.both_databases

runner = CliRunner()


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """One start and stop of an API replica: the key ring is read at start."""
    app = create_app(settings, background=False)
    async with app.router.lifespan_context(app):
        yield app.state.runtime


def issue(tokens: TokenIssuer) -> str:
    token, _ = tokens.issue(
        user_id="u1", user_name="alice", project_id="p1", project_name="demo",
        roles=("member",), is_admin=False,
    )  # fmt: skip
    return token


def kid(token: str) -> str | None:
    value = jwt.get_unverified_header(token).get("kid")
    return None if value is None else str(value)


async def secrets_in_database(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(SystemSecret.name))).all())


async def test_a_token_of_the_old_key_verifies_after_rotation_and_is_refused_after_prune(
    settings: Settings,
) -> None:
    async with running(settings) as runtime:
        old = issue(runtime.tokens)
    data_dir = str(settings.data_dir)

    rotated = runner.invoke(cli, ["token-keys", "rotate", "--data-dir", data_dir])
    assert rotated.exit_code == 0, rotated.output
    async with running(settings) as runtime:
        assert runtime.tokens.verify(old).user_id == "u1"
        new = issue(runtime.tokens)
        assert kid(new) != kid(old)

    # Tokens of the old key may live for a token TTL yet: pruning now needs --force.
    early = runner.invoke(cli, ["token-keys", "prune", "--data-dir", data_dir])
    assert early.exit_code == 1
    pruned = runner.invoke(cli, ["token-keys", "prune", "--data-dir", data_dir, "--force"])
    assert pruned.exit_code == 0, pruned.output
    async with running(settings) as runtime:
        with pytest.raises(Unauthorized):
            runtime.tokens.verify(old)
        assert runtime.tokens.verify(new).user_id == "u1"


def test_prune_waits_out_the_token_lifetime_of_the_older_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUMICE_TOKEN_KEYS", raising=False)
    path = keyring.key_file(tmp_path)
    old = keyring.SigningKey(new_secret(), utcnow() - timedelta(hours=9))
    newest = keyring.SigningKey(new_secret(), utcnow() - timedelta(hours=8, minutes=1))
    keyring.create(path, KeyRing((newest, old)))
    # The newest key is older than the default 8 h token lifetime: the rest may go.
    done = runner.invoke(cli, ["token-keys", "prune", "--data-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    ring = keyring.read(path)
    assert ring is not None and [k.secret for k in ring.keys] == [newest.secret]


async def test_the_key_file_is_private_and_the_database_holds_no_key(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    permissive_umask: None,
) -> None:
    async with running(settings) as runtime:
        token = issue(runtime.tokens)
    path = keyring.key_file(settings.data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await secrets_in_database(sessionmaker) == []
    ring = keyring.read(path)
    assert ring is not None and kid(token) == ring.signing.kid
    # A restart keeps the ring: its tokens still verify.
    async with running(settings) as runtime:
        assert runtime.tokens.verify(token).user_id == "u1"


async def test_a_key_left_in_the_database_moves_to_the_key_file_and_its_tokens_still_verify(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    legacy = new_secret()
    async with sessionmaker() as session, session.begin():
        session.add(SystemSecret(name="token-signing-key", value=legacy))
    # A token as the single-key versions signed them: no kid.
    now = int(time.time())
    before = jwt.encode(
        {"iss": "pumice", "sub": "u1", "pid": "p1", "iat": now, "exp": now + 3600},
        legacy,
        algorithm=ALGORITHM,
    )
    with capture_logs() as logs:
        async with running(settings) as runtime:
            assert runtime.tokens.verify(before).user_id == "u1"
    assert await secrets_in_database(sessionmaker) == []
    ring = keyring.read(keyring.key_file(settings.data_dir))
    assert ring is not None and ring.signing.secret == legacy
    assert [e["event"] for e in logs if "database" in e["event"]] == [
        "moved the token signing key out of the database"
    ]
    assert legacy not in repr(logs)
    async with running(settings) as runtime:
        assert runtime.tokens.verify(before).user_id == "u1"


async def test_replicas_given_the_same_token_keys_verify_each_others_tokens(
    settings: Settings, tmp_path: Path
) -> None:
    newest, older = new_secret(), new_secret()
    shared = SecretStr(f"{newest},{older}")
    one = settings.model_copy(update={"token_keys": shared, "data_dir": tmp_path / "one"})
    two = settings.model_copy(update={"token_keys": shared, "data_dir": tmp_path / "two"})
    async with running(one) as first, running(two) as second:
        token = issue(first.tokens)
        assert second.tokens.verify(token).user_id == "u1"
        # A token of the older key (signed before the rotation) is still accepted.
        assert first.tokens.verify(issue(TokenIssuer(older, 60))).user_id == "u1"
    assert not keyring.key_file(tmp_path / "one").exists()
    assert not keyring.key_file(tmp_path / "two").exists()


def test_serve_refuses_a_short_token_key_without_echoing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak = "not-long-enough-secret"
    monkeypatch.setenv("PUMICE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("PUMICE_TOKEN_KEYS", weak)
    result = runner.invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "PUMICE_TOKEN_KEYS" in result.output
    assert weak not in result.output


def test_racing_creators_of_the_key_file_agree_on_one_ring(
    tmp_path: Path, permissive_umask: None
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = keyring.key_file(tmp_path)
    rings = [KeyRing.fresh() for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        kept = list(pool.map(lambda ring: keyring.create(path, ring), rings))
    assert len({ring.signing.secret for ring in kept}) == 1
    on_disk = keyring.read(path)
    assert on_disk is not None and on_disk.signing.secret == kept[0].signing.secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token-keys"]  # no temp left
