# Multi-stage image for gemini-agent: a builder resolves the locked environment with uv, the
# runtime stage gets only the virtualenv (no compilers, no package caches, no uv).
#
# Build args: PYTHON_IMAGE (base for both stages; builds without registry access substitute a
# local stand-in, see .ci/provision-docker.sh), VERSION / REVISION / CREATED (OCI labels).
# Optional build secret `ca`: a CA bundle for TLS-intercepting proxies, used only while the
# downloading steps run and never stored in a layer:
#   docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt -t gemini-agent .
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# binutils for `strip` only; the builder stage is never shipped.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
# uv itself lives outside /app so it never reaches the runtime stage.
RUN --mount=type=secret,id=ca,required=false \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
# Dependencies first: this layer is reused until pyproject.toml or uv.lock change. Debug
# symbols in the wheels' extension modules are more than a third of the venv's size; the
# venv holds copies (UV_LINK_MODE=copy), so stripping them leaves uv's cache intact.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=ca,required=false \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-project \
    && find /app/.venv -type f \( -name '*.so' -o -name '*.so.*' \) -exec strip --strip-unneeded {} +
COPY pyproject.toml uv.lock README.md ./
COPY agent ./agent
COPY api ./api
# The project as a regular (non-editable) install, so the runtime needs no source tree;
# --refresh-package: uv's cache would otherwise reuse an older build of this very project.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=secret,id=ca,required=false \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --refresh-package gemini-agent

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="gemini-agent" \
      org.opencontainers.image.description="A Google Gemini agent behind a FastAPI API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# tini as PID 1 (signal forwarding, zombie reaping). A base that already ships it skips apt.
# The account is written directly: minimal bases may lack useradd.
# hadolint ignore=DL3008
RUN if [ ! -x /usr/bin/tini ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends tini \
        && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    fi \
    && echo "app:x:65532:65532:gemini-agent:/app:/usr/sbin/nologin" >> /etc/passwd \
    && echo "app:x:65532:" >> /etc/group
COPY --from=builder --chown=0:0 /app/.venv /app/.venv
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8080
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["agent", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["agent", "serve"]
