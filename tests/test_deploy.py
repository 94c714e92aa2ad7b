"""deploy/: the Grafana dashboard is valid JSON whose queries use only metrics the bot exports,
and compose, Prometheus and Grafana provisioning point at each other and at files that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wanbot.config import load_config
from wanbot.metrics import Metrics

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
METRIC = re.compile(r"\bwanbot_[a-z0-9_]+")


def dashboard() -> dict[str, object]:
    loaded = json.loads((DEPLOY / "grafana" / "wanbot.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_every_dashboard_query_uses_exported_metrics() -> None:
    exported = Metrics().sample_names()
    panels = dashboard()["panels"]
    assert isinstance(panels, list) and len(panels) >= 6
    used: set[str] = set()
    for panel in panels:
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            names = set(METRIC.findall(target["expr"]))
            assert names, f"{panel['title']!r}: a query with no wanbot metric: {target['expr']}"
            used |= names
    unknown = used - exported
    assert unknown == set(), f"the dashboard queries metrics the bot does not export: {unknown}"
    # the picture: jobs by outcome, queue depth, job seconds, credits, balance, 429s
    for wanted in (
        "wanbot_jobs_total",
        "wanbot_queue_depth",
        "wanbot_job_seconds_bucket",
        "wanbot_credits_spent_total",
        "wanbot_host_balance",
        "wanbot_discord_429_total",
    ):
        assert wanted in used


def test_panels_have_unique_ids_and_the_provisioned_datasource() -> None:
    board = dashboard()
    panels = board["panels"]
    assert isinstance(panels, list)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    datasource = (
        DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    ).read_text()
    uid = re.search(r"uid:\s*(\S+)", datasource)
    assert uid is not None
    assert {p["datasource"]["uid"] for p in panels} == {uid.group(1)}
    assert board["uid"] == "wanbot"


def test_compose_mounts_exist_and_prometheus_scrapes_the_bot() -> None:
    compose = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    for source in re.findall(r"- (\./[^:]+):", compose):
        assert (DEPLOY / source).exists(), source
    provisioning = (DEPLOY / "grafana" / "provisioning" / "dashboards" / "wanbot.yml").read_text()
    folder = re.search(r"path:\s*(\S+)", provisioning)
    assert folder is not None and f":{folder.group(1)}/wanbot.json" in compose
    prometheus = (DEPLOY / "prometheus.yml").read_text(encoding="utf-8")
    assert '"wanbot:8080"' in prometheus and "metrics_path: /metrics" in prometheus
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text(encoding="utf-8")
    assert "EXPOSE 8080" in dockerfile
    assert 'listen = "0.0.0.0:8080"' in dockerfile


def test_the_postgres_compose_runs_each_shard_once_on_one_database() -> None:
    compose = (DEPLOY / "docker-compose.postgres.yml").read_text(encoding="utf-8")
    mounted = re.findall(r"\./(postgres/shard-\d\.toml):/app/config\.toml:ro", compose)
    assert mounted == ["postgres/shard-0.toml", "postgres/shard-1.toml"]
    assert "PGPASSWORD: ${POSTGRES_PASSWORD" in compose  # the password stays in the environment
    shards = []
    for name in mounted:
        settings = load_config(DEPLOY / name, env={}).settings
        discord_, storage = settings.discord, settings.storage
        assert storage.url == "postgresql://wanbot@postgres:5432/wanbot"
        assert discord_.shard_count == len(mounted)
        shards.extend(discord_.shard_ids)
    assert sorted(shards) == list(range(len(mounted)))  # every shard, each in one process
