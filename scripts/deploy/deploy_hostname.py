"""``[core] hostname_callable`` for the deployment test: each Celery worker runs on this one
machine, so each is given its own name (``DEPLOY_HOSTNAME``) to tell their task instances apart."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("DEPLOY_HOSTNAME") or socket.getfqdn()
