"""The Python client of examples/sdk-parity (python/client.py), on its own.

Two kinds of fake transport: a scripted one with no latency, for the client's decisions
(pytest-asyncio, on asyncio's own loop); and the kit's simulated world
(asyncparity_runtime.World) for its timing, whose traces are the ones the example's
scenarios expect (examples/sdk-parity/scenarios).
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from asyncparity_runtime import World, trace_lines

CLIENT = Path(__file__).resolve().parents[2] / "examples" / "sdk-parity" / "python" / "client.py"


def load_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sdk_parity_client", CLIENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


client = load_client()


class ScriptedTransport:
    """Answers each call with the next response (the last repeats); raises the ones that are exceptions."""

    def __init__(self, *responses: Any) -> None:
        self.responses = list(responses)
        self.urls: list[str] = []

    async def http_get(self, url: str) -> dict[str, Any]:
        self.urls.append(url)
        response = self.responses[min(len(self.urls), len(self.responses)) - 1]
        if isinstance(response, BaseException):
            raise response
        return response


def fast_client(transport: Any, **options: Any) -> Any:
    return client.RetryingClient(transport, backoff=0, **options)


# -- decisions, on asyncio's own loop --------------------------------------------------------


@pytest.mark.asyncio
async def test_a_2xx_body_is_returned_at_the_first_attempt() -> None:
    transport = ScriptedTransport({"status": 200, "body": {"id": 7}})

    assert await fast_client(transport).get_json("/orders/7") == {"id": 7}
    assert transport.urls == ["/orders/7"]


@pytest.mark.asyncio
async def test_5xx_and_transport_errors_are_retried_until_a_2xx() -> None:
    transport = ScriptedTransport({"status": 503}, ConnectionResetError("reset"), {"status": 200, "body": "ok"})
    retries: list[tuple[int, float, str]] = []
    retrying = client.RetryingClient(
        transport, backoff=0.001, on_retry=lambda *retry: retries.append((retry[0], retry[1], str(retry[2])))
    )

    assert await retrying.get_json("/a") == "ok"
    assert retries == [(1, 0.001, "GET /a: HTTP 503"), (2, 0.002, "reset")]


@pytest.mark.asyncio
async def test_a_4xx_is_not_retried() -> None:
    transport = ScriptedTransport({"status": 404})

    with pytest.raises(client.HttpError, match=r"^GET /missing: HTTP 404$") as caught:
        await fast_client(transport).get_json("/missing")
    assert caught.value.status == 404
    assert transport.urls == ["/missing"]


@pytest.mark.asyncio
async def test_giving_up_names_the_attempts_and_chains_the_last_error() -> None:
    transport = ScriptedTransport({"status": 500})

    with pytest.raises(client.RetriesExhaustedError, match=r"^gave up after 2 attempts: GET /a: HTTP 500$") as caught:
        await fast_client(transport, attempts=2).get_json("/a")
    assert isinstance(caught.value.__cause__, client.HttpError)
    assert len(transport.urls) == 2


@pytest.mark.asyncio
async def test_the_breaker_refuses_to_send_after_the_threshold_and_a_success_closes_it() -> None:
    transport = ScriptedTransport({"status": 503}, {"status": 503}, {"status": 200, "body": "up"})
    breaker_client = fast_client(transport, attempts=1, failure_threshold=2, reset_after=0)
    for _ in range(2):
        with pytest.raises(client.RetriesExhaustedError):
            await breaker_client.get_json("/a")
    breaker_client.breaker.reset_after = 3600  # open, and staying so

    with pytest.raises(client.CircuitOpenError, match=r"^circuit open: GET /a not sent$"):
        await breaker_client.get_json("/a")
    assert len(transport.urls) == 2

    breaker_client.breaker.reset_after = 0  # half-open: one attempt goes through
    assert await breaker_client.get_json("/a") == "up"
    assert breaker_client.breaker.failures == 0
    assert breaker_client.breaker.opened_at is None


@pytest.mark.asyncio
async def test_cancelling_the_caller_cancels_the_request_and_is_not_retried() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    class Hanging:
        async def http_get(self, url: str) -> dict[str, Any]:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(url)
                raise
            raise AssertionError("never woken")

    task = asyncio.create_task(fast_client(Hanging()).get_json("/slow"))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == ["/slow"]


# -- timing, on the kit's simulated world: the traces the scenarios expect -------------------


class WorldApi:
    """The shape of the api object the kit hands to bound functions (the contract of issue 12)."""

    def __init__(self, world: World, **http_get: Any) -> None:
        self.http_get = world.operation("http_get", **http_get)
        self.log = world.log
        self.now = world.now


def run(http_get: dict[str, Any], main: Any) -> tuple[dict, list[str]]:
    world = World("sdk-parity")
    api = WorldApi(world, **http_get)
    outcome = world.run(lambda: main(api))
    assert outcome["status"] == "settled", outcome["message"]
    return outcome["result"], trace_lines(outcome["trace"])


SCENARIOS = CLIENT.parents[1] / "scenarios"


async def await_once(api: Any) -> Any:
    return await client.get_json(api, "/orders")


async def client_error(api: Any) -> Any:
    return await client.get_json(api, "/orders/9")


async def breaker_opens(api: Any) -> Any:
    for which in ("first", "second"):
        try:
            await client.get_json(api, "/orders")
        except Exception:  # noqa: BLE001 - the scenario's catch without a kind
            api.log(f"{which} call failed")
    return await client.get_json(api, "/orders")


async def breaker_recovers(api: Any) -> Any:
    for call in range(3):
        try:
            await client.get_json(api, "/orders")
        except Exception:  # noqa: BLE001 - the scenario's catch without a kind
            api.log(f"call {call} failed")
    await asyncio.sleep(0.3)
    return await client.get_json(api, "/orders")


async def cancel_after(api: Any, seconds: float) -> Any:
    call = asyncio.create_task(client.get_json(api, "/orders"))
    await asyncio.sleep(seconds)
    call.cancel()
    try:
        return await call
    except asyncio.CancelledError:
        api.log("cancelled")
    return "cancelled"


MAINS = {
    "success": await_once,
    "retries-then-success": await_once,
    "gives-up": await_once,
    "client-error": client_error,
    "per-request-timeout": await_once,
    "breaker-opens": breaker_opens,
    "breaker-recovers": breaker_recovers,
    "cancellation": lambda api: cancel_after(api, 0.1),
    "cancellation-in-backoff": lambda api: cancel_after(api, 0.05),
}
"""Each scenario's main, as the kit's Python program writes it, by file name."""


def test_every_scenario_of_the_example_has_its_main_here() -> None:
    assert sorted(path.stem for path in SCENARIOS.glob("*.yaml") if path.stem != "asyncparity") == sorted(MAINS)


@pytest.mark.parametrize("name", sorted(MAINS))
def test_the_client_on_the_simulated_world_does_what_the_scenario_expects(name: str) -> None:
    scenario = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8"))
    http_get = dict(scenario["operations"]["http_get"])
    if "returns" in http_get:
        http_get["outcomes"] = [{"returns": http_get.pop("returns")}]

    result, trace = run(http_get, MAINS[name])

    expect = scenario["expect"]
    assert result == {key: expect[key] for key in ("returns", "throws") if key in expect}
    assert trace == expect["trace"].splitlines()


def test_the_buggy_folder_runs_the_timeout_scenario_as_it_is() -> None:
    # buggy/ changes the JavaScript client only: its scenario must stay the original's.
    original = (SCENARIOS / "per-request-timeout.yaml").read_text(encoding="utf-8").splitlines()
    copy = (SCENARIOS.parent / "buggy" / "per-request-timeout.yaml").read_text(encoding="utf-8").splitlines()
    assert original[4:] == copy[4:]
    assert copy[1] == "id: sdk-buggy-per-request-timeout"
