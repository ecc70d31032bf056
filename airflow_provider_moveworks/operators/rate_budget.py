"""The rate budget a bulk task shares through an Airflow Redis connection (``rate_limit_conn_id``):
the connection read with ``RedisHook``, the budget's key checked, the limiter built. The limiter
itself is :mod:`airflow_provider_moveworks.bulk.shared_budget`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_moveworks.exceptions import MoveworksValidationError

if TYPE_CHECKING:
    from airflow_provider_moveworks.bulk.shared_budget import SharedRateLimiter
    from airflow_provider_moveworks.client.config import ClientConfig


def open_budget(
    redis_conn_id: str,
    settings: ClientConfig,
    *,
    key: str | None,
    budget_rate: float,
    max_rate: float | None,
    fallback_rate: float,
    log: logging.Logger | Any,
) -> SharedRateLimiter:
    """The budget of ``key`` (default: the account's) in ``redis_conn_id``'s Redis. Nothing is
    sent to Redis yet: an unreachable Redis only shows on the first permit (the task then paces
    itself at ``fallback_rate``)."""
    try:
        from airflow.providers.redis.hooks.redis import RedisHook

        from airflow_provider_moveworks.bulk.shared_budget import SharedRateLimiter, configure_redis
    except ImportError:
        raise MoveworksValidationError(
            "rate_limit_conn_id", "needs the Redis provider: pip install 'airflow-provider-moveworks[redis]'"
        ) from None
    key = budget_key_for(settings, key, budget_rate)
    hook = RedisHook(redis_conn_id=redis_conn_id)
    if hook.get_connection(redis_conn_id).extra_dejson.get("cluster"):
        # A cluster client connects (with no timeout) as it is built, before any fallback can help.
        raise MoveworksValidationError(
            "rate_limit_conn_id",
            f"{redis_conn_id!r} is a Redis Cluster; the budget is one key: name a single Redis",
        )
    redis = configure_redis(hook.get_conn())
    log.info(
        "Pacing by the rate budget %s in Redis (%s): %g requests/s shared by every task naming it%s; "
        "%g requests/s alone while Redis does not answer",
        key,
        redis_conn_id,
        budget_rate,
        "" if max_rate is None or max_rate >= budget_rate else f", at most {max_rate:g} for this task",
        fallback_rate,
    )
    return SharedRateLimiter(redis, key, budget_rate, max_rate=max_rate, fallback_rate=fallback_rate, log=log)


def budget_key_for(settings: ClientConfig, key: str | None, budget_rate: float) -> str:
    """``key`` checked, or the account's default key (API host and assistant); never a credential."""
    from airflow_provider_moveworks.assets import api_netloc
    from airflow_provider_moveworks.bulk.shared_budget import MAX_KEY_LENGTH, budget_key
    from airflow_provider_moveworks.client.secrets import SecretRegistry

    if key is None:
        return budget_key(f"{api_netloc(settings.base_url)}/{settings.assistant_name}", budget_rate)
    if not isinstance(key, str) or not key.strip() or not key.isprintable() or len(key) > MAX_KEY_LENGTH:
        raise MoveworksValidationError(
            "rate_limit_key", f"must be printable text of 1 to {MAX_KEY_LENGTH} characters"
        )
    secrets = SecretRegistry()
    secrets.keep(settings.secret)
    if secrets.holds_credential(key):
        raise MoveworksValidationError("rate_limit_key", "holds the connection's credential")
    return budget_key(key, budget_rate)
