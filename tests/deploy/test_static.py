"""The deployment files pass the same validators a platform team would run, and say what a
reviewer looks for: required secrets, probes, resources, grace periods longer than the worker
drain, one autoscaler per Deployment, the same processes in compose and Kubernetes.

No tool is optional: a missing validator fails (they are in the dev extras)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.config import Settings
from tests.deploy import checks

ROOT = checks.ROOT
WEB = {"api", "public", "admin", "esp"}


def test_dockerfile_passes_hadolint() -> None:
    checks.check_dockerfile()


def test_dockerfile_runs_as_non_root_from_locked_dependencies() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2, "multi-stage"
    assert re.search(r"^USER \$\{UID\}:\$\{UID\}$", text, re.M)
    assert "ARG UID=10001" in text
    assert "-c constraints.txt" in text
    assert "python:3.11-slim" in text


def test_compose_config_is_valid_with_the_real_binary() -> None:
    checks.check_compose()


def test_compose_file_matches_the_compose_spec_schema() -> None:
    checks.check_compose_schema()


def test_compose_refuses_to_start_without_each_secret() -> None:
    for missing in checks.COMPOSE_SECRETS:
        values = {k: v for k, v in checks.COMPOSE_SECRETS.items() if k != missing}
        result = checks.compose_config(checks.compose_env(**values), "config", "-q")
        assert result.returncode != 0, f"compose accepted a missing {missing}"
        assert f"set {missing} in .env" in result.stderr, result.stderr


def _compose(profile: str | None = None) -> dict[str, Any]:
    args = ["--profile", profile] if profile else []
    result = checks.compose_config(
        checks.compose_env(**checks.COMPOSE_SECRETS), *args, "config", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_compose_services_wait_for_migrate_and_healthy_servers() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3-management")
    for name in ("postgres", "rabbitmq"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["volumes"], name
    assert services["migrate"]["command"] == ["tart", "migrate"]
    tart = [n for n, s in services.items() if s.get("image", "").startswith("tart-mailer")]
    assert set(tart) >= {"api", "public", "admin", "sender", "scheduler", "receiver", "poller"}
    for name in set(tart) - {"migrate"}:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["rabbitmq"]["condition"] == "service_healthy", name
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["environment"]["TART_BIND_HOST"] == "0.0.0.0"
    assert services["sender"]["deploy"]["replicas"] == 2


def test_compose_dev_profile_adds_a_mail_catcher_with_a_web_ui() -> None:
    assert "maildev" not in _compose()["services"]
    maildev = _compose("dev")["services"]["maildev"]
    assert any(port["target"] == 1080 for port in maildev["ports"])


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", value)
    assert match and value, value
    return int(match.group(1) or 0) * 60 + float(match.group(2) or 0)


def test_compose_grace_period_outlasts_the_worker_drain() -> None:
    services = _compose()["services"]
    drain = int(services["sender"]["environment"]["TART_WORKER_SHUTDOWN_SECONDS"])
    for name in ("sender", "receiver", "events", "webhooks"):
        assert _seconds(services[name]["stop_grace_period"]) >= drain + 10, name


def test_compose_grace_periods_are_the_ones_the_docs_promise() -> None:
    """docs/deploy.md, Graceful shutdown: 30 s for web and loops, 45 s for dramatiq workers."""
    services = _compose()["services"]
    table = (ROOT / "docs/deploy.md").read_text().split("## Graceful shutdown", 1)[1]
    promised = {"web (uvicorn)": 30, "dramatiq workers": 45, "scheduler, poller": 30}
    for row, seconds in promised.items():
        assert re.search(rf"^\| {re.escape(row)}.*\| {seconds} s", table, re.M), row
    expected = {
        **dict.fromkeys(("api", "public", "admin", "scheduler", "poller", "api-maintenance"), 30),
        **dict.fromkeys(("sender", "receiver", "events", "webhooks"), 45),
    }
    for name, seconds in expected.items():
        assert _seconds(services[name].get("stop_grace_period", "0s")) == seconds, name


def test_compose_healthchecks_work_on_docker_and_podman() -> None:
    """Podman's API splits exec-form healthcheck arguments on spaces (containers/podman#26519):
    one word per argument keeps a check the same under both engines."""
    for name, service in _compose("dev")["services"].items():
        test = service.get("healthcheck", {}).get("test")
        if test and test[0] == "CMD":
            assert all(" " not in arg for arg in test), f"{name}: {test}"


def test_dockerfile_exposes_every_port_a_process_listens_on() -> None:
    exposed = re.search(r"^EXPOSE (.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert exposed
    ports = {
        int(field.default)
        for name, field in Settings.model_fields.items()
        if name.endswith("_port")
    }
    assert ports <= {int(p) for p in exposed.group(1).split()}


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    missing = [
        f"TART_{name.upper()}"
        for name in Settings.model_fields
        if not re.search(rf"^#? ?TART_{name.upper()}=", text, re.M)
    ]
    assert not missing, f".env.example lacks {missing}"
    compose_only = {
        "TART_IMAGE", "TART_PUBLISH_HOST", "TART_API_PUBLISH_PORT", "TART_PUBLIC_PUBLISH_PORT",
        "TART_ADMIN_PUBLISH_PORT", "TART_ESP_PUBLISH_PORT", "TART_SENDER_REPLICAS",
        "TART_COMPOSE_SUBNET",
    }  # fmt: skip
    known = {f"TART_{name.upper()}" for name in Settings.model_fields} | compose_only
    stale = set(re.findall(r"^#? ?(TART_\w+)=", text, re.M)) - known
    assert not stale, f".env.example documents settings the code no longer has: {stale}"
    compose = (ROOT / "docker-compose.yml").read_text()
    for variable in set(re.findall(r"\$\{(\w+)", compose)):
        assert re.search(rf"^#? ?{variable}=", text, re.M), f"{variable} not in .env.example"


@pytest.mark.parametrize("target", ["base", "overlays/dev", "overlays/prod"])
def test_kustomize_output_passes_kubernetes_validate_strict(target: str) -> None:
    checks.check_kubernetes(target)


def _kinds(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module", params=checks.OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return checks.render(f"overlays/{request.param}")


def test_every_deployment_has_probes_resources_and_a_safe_security_context(
    rendered: list[dict[str, Any]],
) -> None:
    for name, deployment in _kinds(rendered, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["path"], (name, probe)
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in WEB:
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"]["requests"]["cpu"], name
        assert container["resources"]["limits"]["memory"], name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_worker_grace_period_outlasts_the_configured_drain(rendered: list[dict[str, Any]]) -> None:
    (config,) = _kinds(rendered, "ConfigMap").values()
    drain = int(config["data"]["TART_WORKER_SHUTDOWN_SECONDS"])
    for name, deployment in _kinds(rendered, "Deployment").items():
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        if args[-1] == "worker":
            grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            assert grace >= drain + 10, name


def test_replicated_components_have_a_pdb_and_web_has_services_and_ingress(
    rendered: list[dict[str, Any]],
) -> None:
    pdb_selects = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in _kinds(rendered, "PodDisruptionBudget").values()
    }
    for deployment in _kinds(rendered, "Deployment").values():
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        # Single-replica loops (scheduler, poller, api-maintenance) may stop briefly on a drain.
        if deployment["spec"].get("strategy", {}).get("type") != "Recreate":
            assert component in pdb_selects, component
    services = _kinds(rendered, "Service")
    (ingress,) = _kinds(rendered, "Ingress").values()
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    backends = {p["backend"]["service"]["name"] for p in paths if p["path"] == "/"}
    assert backends == {f"tart-{c}" for c in WEB} <= set(services)
    # /metrics and /readyz stay internal: at the edge they go to a Service that selects no pod.
    for rule in ingress["spec"]["rules"]:
        internal = {
            p["path"]: p["backend"]["service"]["name"]
            for p in rule["http"]["paths"]
            if p["pathType"] == "Exact"
        }
        assert internal == {"/metrics": "tart-edge-deny", "/readyz": "tart-edge-deny"}, rule
    deny = services["tart-edge-deny"]["spec"]["selector"]
    for deployment in _kinds(rendered, "Deployment").values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert not deny.items() <= labels.items(), deployment["metadata"]["name"]
    assert _kinds(rendered, "Job")["tart-migrate"]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ] == ["tart", "migrate"]
    assert _kinds(rendered, "NetworkPolicy")["tart-default-deny"]["spec"]["podSelector"] == {}


def test_each_queue_worker_has_exactly_one_autoscaler(rendered: list[dict[str, Any]]) -> None:
    hpas = [
        d["spec"]["scaleTargetRef"]["name"]
        for d in rendered
        if d["kind"] == "HorizontalPodAutoscaler"
    ]
    keda = [d["spec"]["scaleTargetRef"]["name"] for d in rendered if d["kind"] == "ScaledObject"]
    assert sorted(hpas + keda) == ["tart-receiver", "tart-sender"]
    # The autoscaler owns the replica count: a Deployment that sets one is reset on every apply.
    for name, deployment in _kinds(rendered, "Deployment").items():
        assert (name in hpas + keda) == ("replicas" not in deployment["spec"]), name


def test_prod_commits_no_secret_and_dev_secrets_are_placeholders() -> None:
    prod = checks.render("overlays/prod")
    assert not _kinds(prod, "Secret"), "prod secrets come from the external store"
    assert {d["kind"] for d in prod} >= {"ScaledObject", "TriggerAuthentication"}
    dev_secrets = ROOT / "deploy/k8s/overlays/dev/secrets.dev.env"
    for line in dev_secrets.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            if key in ("TART_TOKEN_SECRETS", "TART_SESSION_SECRET", "TART_ERASURE_KEY") or (
                "://" in value
            ):
                assert "dev-insecure" in value or "maildev" in value, line


def test_compose_and_kubernetes_run_the_same_processes() -> None:
    compose = _compose()["services"]
    compose_commands = {" ".join(s["command"]) for s in compose.values() if s.get("command")}
    docs = checks.render("overlays/prod")
    k8s_commands = {
        " ".join(d["spec"]["template"]["spec"]["containers"][0]["args"])
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }
    assert compose_commands == k8s_commands


def test_every_procfile_process_is_deployed() -> None:
    """What `make run` starts is what compose and Kubernetes run (the dev SMTP catcher aside)."""
    compose_commands = {
        " ".join(s["command"]) for s in _compose()["services"].values() if s.get("command")
    }
    procfile = {
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if ":" in line and "dev_smtp" not in line
    }
    assert procfile <= compose_commands, procfile - compose_commands


def test_keda_check_rejects_a_scaled_object_without_its_deployment() -> None:
    docs = checks.render("overlays/prod")
    broken = yaml.safe_load(yaml.safe_dump(docs))
    for doc in broken:
        if doc["kind"] == "ScaledObject":
            doc["spec"]["scaleTargetRef"]["name"] = "tart-nothing"
    with pytest.raises(checks.CheckFailed, match="missing Deployment"):
        checks.check_keda(broken)
    for doc in broken:
        if doc["kind"] == "ScaledObject":
            doc["spec"]["unknownField"] = 1
    with pytest.raises(checks.CheckFailed, match="unknownField"):
        checks.check_keda(broken)


def _defined_metrics() -> set[str]:
    """Sample names the code exports: tart_* from shared/ and services/, dramatiq_* from its
    Prometheus middleware (histograms expose _bucket, _sum and _count)."""
    import dramatiq.middleware.prometheus as dramatiq_prometheus

    sources = [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("services").rglob("*.py")]
    sources.append(Path(dramatiq_prometheus.__file__))
    names: set[str] = set()
    for source in sources:
        for kind, name in re.findall(
            r"(Counter|Histogram|Gauge|Summary)\(\s*\"(\w+)\"", source.read_text()
        ):
            names.add(name)
            if kind in ("Histogram", "Summary"):
                names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names


def test_grafana_dashboard_reads_only_metrics_the_code_exports() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/tart-mailer.json").read_text())
    exprs = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    )
    used = set(re.findall(r"\b((?:tart|dramatiq)_\w+)", exprs))
    unknown = used - _defined_metrics()
    assert not unknown, f"the dashboard reads metrics nothing exports: {unknown}"
    for metric in (
        "tart_http_request_seconds_bucket",
        "tart_sends_total",
        "tart_smtp_seconds_bucket",
        "tart_smtp_replies_total",
        "tart_queue_lag_seconds_bucket",
        "tart_inbound_bounces_total",
        "tart_inbound_complaints_total",
        "tart_inbound_parse_failures_total",
        "dramatiq_messages_total",
        "dramatiq_message_errors_total",
        "dramatiq_message_duration_milliseconds_bucket",
    ):
        assert metric in used, metric
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_deploy_docs_cover_what_operators_need() -> None:
    text = (ROOT / "docs/deploy.md").read_text()
    for heading in (
        "## Quick start with docker compose",
        "## Kubernetes",
        "## Graceful shutdown",
        "## Sizing",
        "## Scaling beyond one machine",
        "## Backup and restore",
        "## Upgrades",
        "## Observability",
    ):
        assert heading in text, heading
