"""A small retrying HTTP client for asyncio: the Python half of the sdk-parity example.

``RetryingClient`` wraps any transport with an ``async def http_get(url)`` that returns a
response ``{"status": int, "body": ...}``, and adds what an SDK adds around its HTTP calls:

- retries with exponential backoff: a 5xx response, a transport error or a timeout is
  tried again after ``backoff``, then twice that, and so on (at most ``max_backoff``),
  ``attempts`` tries in all; a 4xx response is the caller's mistake and is not retried;
- a per-request timeout: each attempt gets ``timeout`` seconds (``asyncio.timeout``,
  new in CPython 3.11; ``asyncio.wait_for`` before it);
- a circuit breaker: after ``failure_threshold`` failed attempts in a row, every send is
  refused at once (``CircuitOpenError``) until ``reset_after`` seconds have passed; then
  one attempt is let through, and its success closes the circuit again;
- cancellation, asyncio's way: cancelling the task that awaits ``get_json`` cancels the
  request in flight (or the backoff sleep), and the ``CancelledError`` goes on unchanged:
  it is a ``BaseException``, which the retry loop's ``except Exception`` never catches.

The javascript/client.mjs beside this folder is the same client written for JavaScript;
the scenarios in ../scenarios check that the two do the same thing. The functions at the
end of this file are the ones those scenarios bind (``bind.functions``): the kit calls
``await get_json(api, url)`` with its simulated world as the transport.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Transport(Protocol):
    """What the client sends through: anything with this one coroutine method."""

    async def http_get(self, url: str) -> dict[str, Any]: ...


class ClientError(Exception):
    """Base class of the errors this client raises."""


class HttpError(ClientError):
    """A response whose status is not 2xx, when the client does not retry it."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"GET {url}: HTTP {status}")
        self.url = url
        self.status = status


class RequestTimeoutError(ClientError):
    """One attempt had no response within the per-request timeout."""

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(f"GET {url}: no response in {round(timeout * 1000)} ms")
        self.url = url


class RetriesExhaustedError(ClientError):
    """Every attempt failed; ``__cause__`` is the last attempt's error."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempts: {last}")
        self.attempts = attempts


class CircuitOpenError(ClientError):
    """The circuit breaker is open: the request was not sent."""

    def __init__(self, url: str) -> None:
        super().__init__(f"circuit open: GET {url} not sent")
        self.url = url


if sys.version_info >= (3, 11):

    async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
        # asyncio.timeout cancels the awaited request in place, with no extra task
        # (docs.python.org/3/library/asyncio-task.html#asyncio.timeout).
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # CPython 3.10: wait_for runs the awaitable in a task and cancels it at the deadline

    async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
        return await asyncio.wait_for(awaitable, seconds)


class CircuitBreaker:
    """Counts failed attempts in a row; open from the ``threshold``-th for ``reset_after`` s."""

    def __init__(self, threshold: int, reset_after: float) -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self.failures = 0
        self.opened_at: float | None = None

    def allows(self, now: float) -> bool:
        # Half-open once reset_after has passed: the next attempt goes through, and
        # its failure opens the circuit again (failures is still at the threshold).
        return self.opened_at is None or now - self.opened_at >= self.reset_after

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failed(self, now: float) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = now


RetryHook = Callable[[int, float, Exception], None]
"""``on_retry(attempt, delay, error)``: called before each backoff sleep (delay in seconds)."""


class RetryingClient:
    """GET JSON through ``transport`` with retries, a per-request timeout and a circuit breaker."""

    def __init__(
        self,
        transport: Transport,
        *,
        attempts: int = 3,
        timeout: float = 10.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.transport = transport
        self.attempts = attempts
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.breaker = CircuitBreaker(failure_threshold, reset_after)
        self.on_retry = on_retry

    async def get_json(self, url: str) -> Any:
        """The body of ``GET url``; raises a :class:`ClientError` when it cannot get one."""
        loop = asyncio.get_running_loop()
        for attempt in range(1, self.attempts + 1):
            if not self.breaker.allows(loop.time()):
                raise CircuitOpenError(url)
            try:
                response = await _within(self.timeout, self.transport.http_get(url))
            # asyncio.TimeoutError: what wait_for raises on 3.10, the builtin from 3.11 on.
            except asyncio.TimeoutError as error:
                failure: Exception = RequestTimeoutError(url, self.timeout)
                failure.__cause__ = error
            except Exception as error:  # noqa: BLE001 - any transport error is worth another try
                failure = error
            else:
                status = response["status"]
                if status < 500:
                    self.breaker.succeeded()  # the server answered: it is up
                    if 200 <= status < 300:
                        return response["body"]
                    raise HttpError(url, status)
                failure = HttpError(url, status)
            self.breaker.failed(loop.time())
            if attempt == self.attempts:
                raise RetriesExhaustedError(attempt, failure) from failure
            delay = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
            if self.on_retry is not None:
                self.on_retry(attempt, delay, failure)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")


# -- the functions the scenarios bind ------------------------------------------------------
# The kit calls them with its simulated world (`api`) first: `await get_json(api, url)`.
# One client per world, so that the calls of one scenario run share its circuit breaker
# and every run starts with a closed one. The settings are an application's, scaled
# down to the scenarios' milliseconds; javascript/client.mjs uses the same ones.

_current: list[tuple[Any, RetryingClient]] = []
"""The world of the run in progress and its client (the kit runs one scenario at a time
in a worker process). Held by identity, not in a WeakKeyDictionary: a world's api object
need not take weak references."""


def client_for(api: Any) -> RetryingClient:
    """The client of this world: created on first use, with the scenarios' settings."""
    if not _current or _current[0][0] is not api:
        client = RetryingClient(
            api,
            attempts=3,
            timeout=0.1,
            backoff=0.05,
            max_backoff=1.0,
            failure_threshold=4,
            reset_after=0.25,
            on_retry=lambda attempt, delay, error: api.log(f"retry {attempt} in {round(delay * 1000)} ms: {error}"),
        )
        _current[:] = [(api, client)]
    return _current[0][1]


async def get_json(api: Any, url: str) -> Any:
    """``get_json`` of the scenarios: ``RetryingClient.get_json`` on the world's transport."""
    return await client_for(api).get_json(url)
