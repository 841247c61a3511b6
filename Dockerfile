# cxpulse worker and simulator image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY metrics ./metrics
RUN pip install --no-cache-dir .
EXPOSE 6066
ENTRYPOINT ["cxpulse"]
CMD ["worker"]
