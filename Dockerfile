# syntax=docker/dockerfile:1
# One image for every tart-mailer process; the command picks which one runs:
#   python -m services.api | services.public | services.admin          (web, ports 8000-8002)
#   python -m services.sender worker | scheduler                       (queues campaign+send; loop)
#   python -m services.receiver worker | poll | ingest                 (queue inbound; IMAP; pipe)
#   python -m services.public worker | python -m services.api worker   (queues events, webhooks)
#   tart migrate                                                       (one-shot, before a rollout)
# Build: docker build -t tart-mailer:2.0.0 .   (docs/deploy.md)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtualenv holding the locked dependencies and the project ----------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src

# Dependencies first, from pyproject's list pinned by constraints.txt (the whole locked tree), so
# this layer is rebuilt only when those two files change, not on every code edit.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write(chr(10).join(deps))" \
    && pip install --require-virtualenv -c constraints.txt -r /tmp/requirements.txt

# Then the project itself (shared + services, with their .sql, templates and static files).
COPY shared ./shared
COPY services ./services
RUN pip install --require-virtualenv --no-deps -c constraints.txt . \
    && pip check

# ---- runtime: slim base, the virtualenv, the migrations, a non-root user ---------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
LABEL org.opencontainers.image.title="tart-mailer" \
      org.opencontainers.image.description="Self-hosted mailing-list and bulk-mail platform: API, public links, admin, SMTP workers, bounce/DMARC receiver." \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TART_BIND_HOST=0.0.0.0 \
    TART_LOG_FORMAT=json
RUN groupadd --system --gid "${UID}" tart \
    && useradd --system --uid "${UID}" --gid tart --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin tart
COPY --from=build /opt/venv /opt/venv
# shared/migrate.py reads the migrations from ``db/`` beside the ``shared`` package, which for an
# installed package is site-packages (python 3.11 is fixed by the base image).
COPY db/ /opt/venv/lib/python3.11/site-packages/db/
# An empty working directory: nothing in it can shadow the installed packages on sys.path.
WORKDIR /app
USER ${UID}:${UID}
# Web services, then worker /metrics ports (sender, receiver, scheduler, poller, events, webhooks,
# api-maintenance).
EXPOSE 8000 8001 8002 8003 9101 9102 9103 9104 9105 9106 9107
# Exec form: the Python process is PID 1 and receives SIGTERM itself (uvicorn, dramatiq and the
# loops all handle it; see docs/deploy.md, "Graceful shutdown").
CMD ["python", "-m", "services.api"]
