"""One attempt of one call over the client's pooled session: the proxies and CA bundle chosen
once, no redirect followed, the body read up to a cap, the attempt's deadline, and requests in
flight ended at once by :meth:`Transport.close`.

The environment (proxy variables, ``no_proxy``, ``REQUESTS_CA_BUNDLE``) is read when the
transport is built, never per request: the session does not trust the environment itself.
Plain http goes to a loopback host only, that is to this very machine: never through a proxy,
which would carry the bearer token over the network in clear text.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from requests.utils import get_environ_proxies

from airflow_provider_moveworks import __version__
from airflow_provider_moveworks.client.call import ApiCall, transport_error
from airflow_provider_moveworks.client.deadline import AttemptDeadline, DeadlineAdapter
from airflow_provider_moveworks.client.responses import request_id
from airflow_provider_moveworks.exceptions import (
    MoveworksClientError,
    MoveworksError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.validation import check_proxy_url

USER_AGENT = f"airflow-provider-moveworks/{__version__}"
# The largest answer read (after decompression): a page of 100 conversations is far smaller.
MAX_BODY_BYTES = 32 * 1024 * 1024
BODY_CHUNK_BYTES = 65536


class _NoRedirectSession(requests.Session):
    """Never follows a redirect, so never reads its target (a ``Location`` that is not UTF-8
    must be answered like any other status, not raise)."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


class Transport:
    """The session and what every attempt goes through.

    :param urls: the URLs the client calls (base URL, token URL): their proxies are chosen now.
    :param redact: applied to every text of an error about an attempt.
    """

    def __init__(
        self,
        *,
        urls: tuple[str, ...],
        headers: Mapping[str, str],
        timeout: float,
        verify: bool | str,
        proxies: Mapping[str, str] | None,
        pool_maxsize: int,
        redact: Callable[[str], str],
    ) -> None:
        self._timeout = timeout
        self._redact = redact
        self._verify = _ca_bundle_from_environment(verify)
        self._configured_proxies = proxies
        self._proxies = {_origin(url): _proxies_for(url, proxies) for url in urls}
        self._session = _NoRedirectSession()
        self._session.trust_env = False  # read above, once
        adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=pool_maxsize, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers.update({**headers, "Accept": "application/json", "User-Agent": USER_AGENT})
        self.proxy_urls = sorted({url for chosen in self._proxies.values() for url in chosen.values()})
        self._in_flight: set[AttemptDeadline] = set()
        self._in_flight_lock = threading.Lock()
        self.requests = 0  # attempts started (the client's stats read it)

    def send(self, call: ApiCall, auth: AuthBase) -> requests.Response:
        """One attempt: the response with its body read, or a typed error saying whether the
        request was sent."""
        failure: MoveworksError
        with AttemptDeadline(self._timeout) as deadline:
            with self._in_flight_lock:
                self._in_flight.add(deadline)
                self.requests += 1
            try:
                response = self._session.request(
                    call.method,
                    call.url,
                    params=call.params,
                    json=call.json,
                    data=call.data,
                    auth=auth,
                    timeout=self._timeout,
                    verify=self._verify,
                    proxies=self._proxies_of(call.url),
                    allow_redirects=False,
                    stream=True,  # read below, at most MAX_BODY_BYTES of it
                )
                complete = _read_body(response, MAX_BODY_BYTES)
            except requests.RequestException as error:
                failure = transport_error(call, error, deadline, self._timeout, self._redact)
            else:
                if deadline.expired:  # the deadline cut the answer: whatever bytes it left are no answer
                    failure = transport_error(
                        call, requests.ReadTimeout(), deadline, self._timeout, self._redact
                    )
                elif complete:
                    return response
                else:
                    failure = MoveworksClientError(
                        f"{call.purpose}: Moveworks answered {response.status_code} with a body larger "
                        f"than {MAX_BODY_BYTES} bytes; it was not read further",
                        status=response.status_code,
                        request_id=request_id(response, self._redact),
                    )
            finally:
                with self._in_flight_lock:
                    self._in_flight.discard(deadline)
        raise failure  # outside the handler: the original (which may quote a proxy URL) stays out

    def _proxies_of(self, url: str) -> dict[str, str]:
        origin = _origin(url)
        if origin not in self._proxies:  # a URL not named when the transport was built
            self._proxies[origin] = _proxies_for(url, self._configured_proxies)
        return self._proxies[origin]

    def close(self) -> None:
        """End every attempt in flight at once (its socket is shut down) and close the pool; a
        later attempt opens new connections."""
        with self._in_flight_lock:
            in_flight = list(self._in_flight)
        for deadline in in_flight:
            deadline.abort()
        self._session.close()


def _read_body(response: requests.Response, limit: int) -> bool:
    """Read the (decoded) body of a streamed response into it, if it is at most ``limit`` bytes;
    otherwise close the response and say so: a server that keeps sending within the deadline
    must not fill the worker's memory."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(BODY_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            response.close()
            return False
        chunks.append(chunk)
    response._content = b"".join(chunks)
    return True


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _proxies_for(url: str, proxies: Mapping[str, str] | None) -> dict[str, str]:
    """The proxies for ``url``: the config's, then the environment's for the keys it leaves
    (``no_proxy`` applied), as requests itself would choose them; none for plain http. A proxy
    from the environment is checked as the config's are."""
    if urlsplit(url).scheme == "http":
        return {}
    from_environment = get_environ_proxies(url, no_proxy=(proxies or {}).get("no_proxy"))
    chosen = {key: value for key, value in from_environment.items() if key not in (proxies or {})}
    for key, value in chosen.items():
        if key != "no":
            check_proxy_url(f"the {key!r} proxy of the environment ({key.upper()}_PROXY)", value)
    chosen.update(proxies or {})
    for key in ("no_proxy", "no"):
        chosen.pop(key, None)
    return chosen


def _ca_bundle_from_environment(verify: bool | str) -> bool | str:
    """``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` when verification is on with the default CAs,
    as requests reads them; one that does not exist is refused now, not at every request."""
    if verify is not True:
        return verify
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(name)
        if path:
            if not os.path.exists(path):
                raise MoveworksValidationError(
                    f"the environment variable {name}", f"{path!r} is not an existing CA bundle path"
                )
            return path
    return True
