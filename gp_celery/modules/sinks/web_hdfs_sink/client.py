"""A WebHDFS REST client that appends: the documented two-step protocol, errors classified.

WebHDFS (the namenode's REST API) and HttpFS (its gateway, port 14000) both take CREATE and
APPEND in two steps, so that no data is sent before the redirect: the first request carries
no body and is answered ``307 Temporary Redirect`` with a ``Location`` (a datanode, or
HttpFS itself with ``data=true``); the data goes to that location. Errors come as JSON
``{"RemoteException": {"exception": ..., "message": ...}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

RETRIABLE_EXCEPTIONS: Final = frozenset(
    {
        "AlreadyBeingCreatedException",  # another writer holds the file's lease for now
        "RecoveryInProgressException",  # the namenode is recovering the lease
        "LeaseExpiredException",
        "RetriableException",  # the namenode says so itself
        "SafeModeException",  # the namenode is starting up
        "StandbyException",  # a failover is under way
        "NotReplicatedYetException",  # the previous block is still being replicated
        "DSQuotaExceededException",  # quota: space may be freed (like EDQUOT for FileSink)
        "NSQuotaExceededException",
        "FileAlreadyExistsException",  # another process created it first: append next time
    }
)
"""RemoteExceptions that trying again later can fix, whatever their HTTP status."""

RETRIABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses worth retrying: timeouts, overload, a server error or a gateway in between.
Every other 4xx (400 bad argument, 401/403 permission, 404 after CREATE: a parent is a
file) needs a person, so the runner dead-letters it."""


def is_retriable(status: int | None, exception: str) -> bool:
    """Can this failure go away by itself? ``status`` None: no HTTP answer at all
    (refused, reset, timed out), which a restarted or reachable server fixes."""
    if status is None or exception in RETRIABLE_EXCEPTIONS:
        return True
    return status in RETRIABLE_STATUSES


@dataclass
class WebHdfsError(Exception):
    """A failed request: the HTTP status (None: no answer), the RemoteException's class
    name ('' when the body had none) and a message for people."""

    status: int | None
    exception: str
    message: str

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no answer"
        exception = f"{self.exception}: " if self.exception else ""
        return f"{status}: {exception}{self.message}"

    @property
    def retriable(self) -> bool:
        return is_retriable(self.status, self.exception)


def error_of(status: int, body: bytes) -> WebHdfsError:
    """The error a non-success response describes (its RemoteException when it has one)."""
    try:
        remote = json.loads(body)["RemoteException"]
        return WebHdfsError(status, str(remote.get("exception", "")), str(remote["message"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        text = body[:200].decode("utf-8", "replace").strip()
        return WebHdfsError(status, "", text or "no error message")


class WebHdfsClient:
    """Appends to files over WebHDFS, creating them (and their directories) when missing."""

    def __init__(self, base_url: str, user: str, timeout_secs: float) -> None:
        import urllib3

        self._urllib3: Any = urllib3
        self._base = base_url.rstrip("/") + "/webhdfs/v1"
        self._user = user
        self._timeout = urllib3.Timeout(connect=timeout_secs, read=timeout_secs)
        self._pool = urllib3.PoolManager(maxsize=4, retries=False)

    def append(self, path: str, data: bytes) -> None:
        """Append ``data`` to ``path``; a missing file is created with it. Raises WebHdfsError."""
        try:
            self._two_step("POST", path, "APPEND", data)
        except WebHdfsError as error:
            if error.status != 404 or error.exception not in ("FileNotFoundException", ""):
                raise
            # HDFS creates missing parent directories with the file.
            self._two_step("PUT", path, "CREATE", data, overwrite="false")

    def _two_step(self, method: str, path: str, op: str, data: bytes, **params: str) -> None:
        query = urlencode({"op": op, "user.name": self._user, **params})
        url = f"{self._base}{quote(path)}?{query}"
        first = self._request(method, url, None)
        if first.status != 307:
            if first.status < 300:
                raise WebHdfsError(first.status, "", f"{op} answered without a redirect")
            raise error_of(first.status, first.data)
        location = first.headers.get("Location")
        if not location:
            raise WebHdfsError(307, "", f"{op} redirect without a Location")
        second = self._request(method, location, data)
        if second.status not in (200, 201):
            raise error_of(second.status, second.data)

    def _request(self, method: str, url: str, body: bytes | None) -> Any:
        headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
        try:
            return self._pool.request(
                method, url, body=body, headers=headers, redirect=False, timeout=self._timeout
            )
        except self._urllib3.exceptions.HTTPError as error:
            raise WebHdfsError(None, "", f"{type(error).__name__}: {error}") from None

    def close(self) -> None:
        self._pool.clear()
