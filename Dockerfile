# One container running `bookkeeper serve`: the API (and, in later issues, the bot and the
# scheduler) in one process. Embedded SQLite under /data by default; set
# BOOKKEEPER_DATABASE_URL=postgresql://… for production and run `bookkeeper migrate` once.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
COPY migrations ./migrations
# The versions tested (constraints.txt, ADR 0050), not whatever is newest on the day of the build.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOOKKEEPER_HOST=0.0.0.0 \
    BOOKKEEPER_PORT=8000 \
    BOOKKEEPER_DATA_DIR=/data
# Tesseract + Norwegian data: the offline extractor reads photos and scanned PDFs with it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-nor \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /data --create-home bookkeeper
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "bookkeeper==0.1.0" && rm -rf /wheels
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Readiness (the database answers): a NATS outage leaves the container healthy, since the
# API works without the bus; /health, which reports the bus too, is for monitors. On the
# port serve binds: `-e BOOKKEEPER_PORT=9000` left a check of 8000 failing for ever.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('BOOKKEEPER_PORT', '8000').strip(), timeout=2)"]
CMD ["bookkeeper", "serve"]
