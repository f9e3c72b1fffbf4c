# syntax=docker/dockerfile:1.7
#
# The CCG co-commissioning atlas behind gunicorn, with Debian's Chromium for slide export.
#
# The raw sources are NOT part of the build context and never enter an image layer: they are bind-mounted
# for the one RUN that builds the atlas, from a named build context (BuildKit, Docker 23+):
#
#   docker build --build-context sources=../shared/data/raw -t ccg-atlas .
#   docker run --rm -p 127.0.0.1:8050:8050 -e WORKERS=2 ccg-atlas
#
# The image holds only the derived atlas (build/atlas), checked by `python -m geodata build` before it is
# written. See docs/deployment.md for the settings (HOST, PORT, WORKERS, FRAME_ANCESTORS, ...).
#
# The container is one app instance (gunicorn's stock gthread workers, as `make run`): publish it to nginx
# (deploy/nginx.conf, an `upstream` line: docs/deployment.md "Scaling out"), never to the public directly.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Chromium renders the slides (kaleido drives it); DejaVu gives it fonts. Nothing else is fetched at run time.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
ENV BROWSER_PATH=/usr/bin/chromium

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY app.py gunicorn.conf.py ./
COPY dashboard/ dashboard/
COPY geodata/ geodata/
COPY assets/ assets/

# Build the atlas from the mounted sources (read-only; not copied). The build replaces build/atlas only when
# the new atlas is complete and valid, so a broken source stops the image build here. Then, beside it, what
# `make atlas` also writes: the unknown levels' shares (export-csv) and the single-filter views' robustness
# results (dashboard/robust/precompute.py, about 2.5 minutes of CPU).
ENV CCG_ATLAS_DIR=/app/build/atlas
RUN --mount=type=bind,from=sources,target=/sources,readonly \
    CCG_SOURCES=/sources python -m geodata build \
 && python -m dashboard.shares \
 && python -m dashboard.robust.precompute \
 && python -c "from geodata.atlas import read_atlas; a = read_atlas(); print('atlas', a.manifest['build_id'], len(a.table), 'CCGs')"

# Run as an unprivileged user; the code and the atlas stay read-only to it.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin atlas
USER atlas

# Listen on all interfaces inside the container; publish the port on the host's loopback or behind a proxy.
# WORKERS defaults to the CPUs the container sees: set it to the CPU quota (docs/deployment.md).
ENV HOST=0.0.0.0 \
    PORT=8050 \
    FRAME_ANCESTORS="'self'"
EXPOSE 8050

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8050'), timeout=4)"]

# Chromium needs shared memory; kaleido already passes --disable-dev-shm-usage, so Docker's 64 MB default is fine.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:server"]
