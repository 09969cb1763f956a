# The Churnwatch worker image: the wheel built from this source, installed into a virtualenv
# on python:3.11-slim, run as an unprivileged user, with a health check on /healthz.
#
#   docker build -t churnwatch .
#   docker run --rm -e CHURNWATCH_BROKER=kafka://broker:9092 -p 6066:6066 churnwatch
#
# The image runs `churnwatch worker` by default; any other command works too
# (`docker run --rm churnwatch replay --help`). Settings: CHURNWATCH_* environment
# variables (docs/configuration.md). State lives in /var/lib/churnwatch/data (a volume).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY config ./config
COPY evaluation ./evaluation
COPY models ./models
COPY streams ./streams
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/churnwatch \
    && /opt/churnwatch/bin/pip install --no-cache-dir /wheels/churnwatch-*.whl

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/churnwatch \
        churnwatch \
    && mkdir -p /var/lib/churnwatch/data /var/lib/churnwatch/demo \
    && chown -R churnwatch:churnwatch /var/lib/churnwatch
COPY --from=build /opt/churnwatch /opt/churnwatch
ENV PATH=/opt/churnwatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CHURNWATCH_DATA_DIR=/var/lib/churnwatch/data \
    CHURNWATCH_WEB_HOST=0.0.0.0 \
    CHURNWATCH_WEB_PORT=6066
USER 10001:10001
WORKDIR /var/lib/churnwatch
VOLUME ["/var/lib/churnwatch/data"]
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['CHURNWATCH_WEB_PORT'] + '/healthz', timeout=4)"]
ENTRYPOINT ["churnwatch"]
CMD ["worker"]
