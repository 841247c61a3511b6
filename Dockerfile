# cxpulse worker and simulator image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY metrics ./metrics
# RocksDB for CXPULSE_STORE=rocksdb:// (deploy/k8s keeps state on a volume per pod).
RUN pip install --no-cache-dir '.[rocksdb]'
# Runs as an unprivileged user; state goes to CXPULSE_DATA_DIR (a volume), nothing else is written.
USER 10001:10001
ENV HOME=/tmp
EXPOSE 6066
ENTRYPOINT ["cxpulse"]
CMD ["worker"]
