#!/usr/bin/env bash
# Debian's PostgreSQL (the metadata database) and Redis (the Celery broker, the rate budget) for `make test-deploy`.
# Installed as root through apt; nothing is started here: the test starts throwaway instances.
set -euo pipefail
if dpkg-query -W -f='${Status}\n' postgresql redis-server 2>/dev/null | grep -vq "install ok installed" \
    || [ "$(dpkg-query -W -f='${Status}\n' postgresql redis-server 2>/dev/null | wc -l)" -ne 2 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-services: postgresql and redis-server are missing; run as root to install them" >&2
        exit 1
    fi
    apt-get update -qq
    # policy-rc.d-less machines would start the system services: the test uses its own instances.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql redis-server >/dev/null
fi
ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null
command -v redis-server >/dev/null
