# cxpulse worker, gateway and simulator image, installed from uv.lock (pinned versions, checked hashes).
FROM python:3.11-slim
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY pyproject.toml uv.lock README.md ./
COPY streams ./streams
COPY metrics ./metrics
# RocksDB for CXPULSE_STORE=rocksdb:// (deploy/k8s keeps state on a volume per pod).
RUN uv sync --frozen --no-cache --no-editable --extra rocksdb && rm /usr/local/bin/uv
ENV PATH=/app/.venv/bin:$PATH
# Runs as an unprivileged user with a read-only root filesystem (docker-compose.yml and deploy/k8s
# mount one): state goes to CXPULSE_DATA_DIR (a volume), scratch files to /tmp (a tmpfs).
USER 10001:10001
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1
EXPOSE 6066
ENTRYPOINT ["cxpulse"]
CMD ["worker"]
