#!/bin/sh
# The official rabbitmq image's contract, with Debian's RabbitMQ: RABBITMQ_DEFAULT_USER, _PASS and
# _VHOST create that user (administrator, all permissions on that vhost) on the first boot of an
# empty data directory; logs go to stdout; the server runs as user rabbitmq in the foreground.
# The management plugin is left off: nothing in the test reads it.
set -eu
cat > /etc/rabbitmq/rabbitmq.conf <<CONF
loopback_users = none
listeners.tcp.default = 5672
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
default_vhost = ${RABBITMQ_DEFAULT_VHOST:-/}
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
CONF
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
