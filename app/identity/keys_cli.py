"""`pumice token-keys`: rotate the token signing keys of the key file in the data directory
(PUMICE_DATA_DIR). Servers read the ring at start: restart them after a change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from app.lazy import lazy

if TYPE_CHECKING:
    from app import config
    from app.db import models
    from app.identity import keyring
else:
    config = lazy("app.config")
    models = lazy("app.db.models")
    keyring = lazy("app.identity.keyring")

token_keys_app = typer.Typer(help="Token signing keys: rotate, prune, list.", no_args_is_help=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="The data directory (default: PUMICE_DATA_DIR)."),
]
SETTING_OWNS_KEYS = (
    "PUMICE_TOKEN_KEYS is set: the keys are that setting's. Rotate by putting a new key "
    "('pumice token-keys generate') first in it on every replica, and drop the old one "
    "after the token lifetime."
)


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _key_file(data_dir: Path | None) -> tuple[config.Settings, Path]:
    settings = config.Settings(data_dir=data_dir) if data_dir else config.Settings()
    if settings.token_keys is not None:
        _fail(SETTING_OWNS_KEYS)
    if not settings.data_dir.is_dir():
        _fail(f"{settings.data_dir} is not a data directory")
    return settings, keyring.key_file(settings.data_dir)


@contextmanager
def _locked_ring(settings: config.Settings, path: Path) -> Iterator[keyring.KeyRing | None]:
    """The key file's ring (None when there is no file yet), read and changed under the
    data directory's lock; a keyring.KeyRingError ends the command with its message."""
    try:
        with keyring.locked(settings.data_dir):
            yield keyring.read(path)
    except keyring.KeyRingError as exc:
        _fail(str(exc))


def _describe(ring: keyring.KeyRing) -> None:
    for index, key in enumerate(ring.keys):
        made = key.created_at.isoformat(timespec="seconds") if key.created_at else "unknown"
        role = "signs and verifies" if index == 0 else "verifies"
        typer.echo(f"  {key.kid}  created {made}  {role}")


@token_keys_app.command("rotate")
def rotate(data_dir: DataDirOption = None) -> None:
    """Make a new signing key; the older keys keep verifying the tokens they signed."""
    settings, path = _key_file(data_dir)
    with _locked_ring(settings, path) as ring:
        if ring is None:
            ring = keyring.create(path, keyring.KeyRing.fresh())
        else:
            ring = ring.rotated()
            keyring.replace(path, ring)
    typer.echo(f"New signing key {ring.signing.kid} in {path}:")
    _describe(ring)
    typer.echo("Restart the API (pumice serve / pumice up) to sign with it.")


@token_keys_app.command("prune")
def prune(
    data_dir: DataDirOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Prune before the token lifetime has passed.")
    ] = False,
) -> None:
    """Keep only the newest key, once every token an older key signed has expired."""
    settings, path = _key_file(data_dir)
    with _locked_ring(settings, path) as ring:
        if ring is None:
            _fail(f"{path} does not exist: there is nothing to prune")
        newest = ring.signing.created_at
        ttl = timedelta(seconds=settings.token_ttl_seconds)
        if not force and newest is not None and models.utcnow() - newest < ttl:
            _fail(
                f"The signing key is younger than the token lifetime ({ttl}): tokens "
                "signed by older keys may still be in use. Wait, or use --force."
            )
        dropped = len(ring.keys) - 1
        if dropped:
            ring = ring.pruned()
            keyring.replace(path, ring)
    typer.echo(f"Dropped {dropped} key(s); {path} holds:")
    _describe(ring)
    if dropped:
        typer.echo("Restart the API so it stops accepting tokens of the dropped keys.")


@token_keys_app.command("list")
def list_keys(data_dir: DataDirOption = None) -> None:
    """The keys of the key file by id (never the secrets), the signing one first."""
    _, path = _key_file(data_dir)
    try:
        ring = keyring.read(path)
    except keyring.KeyRingError as exc:
        _fail(str(exc))
    if ring is None:
        _fail(f"{path} does not exist yet: the API creates it on its first start")
    _describe(ring)


@token_keys_app.command("generate")
def generate() -> None:
    """Print a new random key, for PUMICE_TOKEN_KEYS."""
    typer.echo(keyring.new_secret())
