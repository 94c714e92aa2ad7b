# wanbot: small image, non-root, state on a volume, secrets only from the environment.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY wanbot ./wanbot
COPY cogs ./cogs
RUN python -m venv /opt/wanbot \
 && /opt/wanbot/bin/pip install --no-cache-dir --quiet -c constraints.txt .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 wanbot \
 && mkdir -p /data && chown wanbot /data
COPY --from=build /opt/wanbot /opt/wanbot
WORKDIR /app
COPY bot.py config.example.toml ./
ENV PATH=/opt/wanbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WANBOT_CONFIG=/app/config.toml
# The default config keeps the database and scratch files on the volume and serves /healthz and
# /metrics on port 8080 (mount your own file at /app/config.toml to change any of it).
RUN printf '[storage]\nurl = "sqlite:////data/wanbot.db"\n\n[generation]\ndata_dir = "/data"\n\n[http]\nlisten = "0.0.0.0:8080"\n' > /app/config.toml
USER wanbot
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-m", "wanbot.health", "http://127.0.0.1:8080/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "bot.py"]
