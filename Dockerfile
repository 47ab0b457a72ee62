# syntax=docker/dockerfile:1
# Two images from one build: `api` (pumice serve, db and identity commands; non-root)
# and `agent` (pumice agent plus the storage tools its drivers run: tgt, qemu-utils,
# lvm2). Dependencies come from uv.lock only (`uv sync --frozen`).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.10 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/pumice
WORKDIR /srv/pumice
# The locked dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN uv sync --frozen --no-dev

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/pumice --create-home pumice
# The migrations are read from the source tree (app/db/migrate.py): keep its layout.
COPY --from=build /opt/pumice /opt/pumice
COPY --from=build /srv/pumice /srv/pumice
ENV PATH=/opt/pumice/bin:$PATH PYTHONUNBUFFERED=1 PUMICE_DATA_DIR=/var/lib/pumice
WORKDIR /var/lib/pumice

FROM runtime AS agent
RUN apt-get update \
    && apt-get install -y --no-install-recommends tgt qemu-utils qemu-block-extra lvm2 \
    && rm -rf /var/lib/apt/lists/*
# tgtadm reaches tgtd through a root-owned socket and LVM needs root: the agent and
# tgtd run as root in their containers (docker-compose.yml); nothing else does.
CMD ["pumice", "agent", "--config", "/etc/pumice/agent.toml"]

FROM runtime AS api
USER pumice
EXPOSE 8776
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8776/healthz', timeout=2)"]
CMD ["pumice", "serve", "--host", "0.0.0.0", "--port", "8776"]
