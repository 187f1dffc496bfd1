#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ answer on this machine: start them when they are installed
# but stopped, and say clearly what to install when they are absent.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
rabbit_up() { timeout 3 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null; }

if ! pg_up; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        version=$(ls /etc/postgresql | sort -V | tail -n1)
        echo "starting PostgreSQL $version"
        # "already running" is not a failure: a cluster in crash recovery runs but does not answer yet.
        pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>&1 \
            || pg_ctlcluster "$version" main start 2>&1 || true
        for _ in $(seq 1 180); do pg_up && break; sleep 1; done
    else
        echo "PostgreSQL is not installed: apt-get install postgresql (15 or newer), or point TART_DATABASE_URL at a server." >&2
        exit 1
    fi
fi
pg_up || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }

if ! rabbit_up; then
    if command -v rabbitmq-server >/dev/null 2>&1; then
        echo "starting RabbitMQ"
        rabbitmq-server -detached || true  # a node still booting refuses a second start
        for _ in $(seq 1 60); do rabbit_up && break; sleep 1; done
    else
        echo "RabbitMQ is not installed: apt-get install rabbitmq-server, or point TART_AMQP_URL at a broker." >&2
        exit 1
    fi
fi
rabbit_up || { echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; exit 1; }
# The port opens before the broker accepts logins; wait until it does.
for _ in $(seq 1 60); do
    rabbitmqctl -q await_startup >/dev/null 2>&1 && break
    sleep 1
done
echo "PostgreSQL and RabbitMQ are up"
