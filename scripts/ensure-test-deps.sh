#!/usr/bin/env bash
# Install the Debian packages the test suite drives as real peers, when they are missing:
# Dovecot (IMAP), Postfix's smtp-sink (benchmarks), Chromium (admin browser tests), wrk.
set -euo pipefail
need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
command -v smtp-sink >/dev/null 2>&1 || [ -x /usr/sbin/smtp-sink ] || need+=(postfix)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq -o DPkg::Lock::Timeout=600
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}"
    # postfix's package starts its daemon; the tests need only its smtp-sink binary.
    if [[ " ${need[*]} " == *" postfix "* ]]; then postfix stop >/dev/null 2>&1 || true; fi
fi
# The system Dovecot would hold port 143; the tests start their own private instance.
if pgrep -x dovecot >/dev/null 2>&1 && [ -f /run/dovecot/master.pid ]; then
    kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi
