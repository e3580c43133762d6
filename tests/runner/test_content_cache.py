"""Tests for runner/content_cache.py: what a re-run of unchanged files skips.

Hits, misses (a changed file, another kit, an edited kit file), entries that are not
whole (a miss, never an error), writers side by side, the files it must not cache (the
user's bound code), and the cached programs of both in-process Python and the Node
worker giving the outcomes a fresh compile gives. No test here times anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncparity import content_cache, load
from asyncparity.cli import version
from asyncparity.content_cache import ContentCache, kit_key
from asyncparity.load import discover, load_file, load_files
from asyncparity.model import DEFAULT_TARGETS, JS_TARGETS
from asyncparity.node import find_node
from asyncparity.suite import stream_suite
from asyncparity.testees import NodeTestee, PythonTestee

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "spec" / "seed" / "download-fallback.yaml"
COMMAND = Path(sys.executable).parent / "asyncparity"


def packs(folder: Path) -> list[Path]:
    return sorted((folder / content_cache.CONTENT).glob("*/*.pack"))


def entries(folder: Path) -> int:
    return content_cache.count_entries(folder)


OPENED: list[ContentCache] = []
"""The caches a test made, closed after it (a cache writes its pack as it goes, into a file it holds open)."""


@pytest.fixture(autouse=True)
def _caches_closed() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def fresh_cache(tmp_path: Path, version: str = "0.1.0") -> ContentCache:
    cache = ContentCache(tmp_path / ".asyncparity_cache", kit_key(version))
    OPENED.append(cache)
    return cache


def refuse_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make loading a file's text fail the test: a hit must not load it."""

    def loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was loaded again")

    monkeypatch.setattr(load, "load_text", loaded)


def test_every_kit_scenario_read_back_from_the_cache_equals_the_loaded_one(tmp_path: Path) -> None:
    cache = fresh_cache(tmp_path)
    files = discover([ROOT / "spec"])
    loaded = [load_file(path) for path in files]

    stored = [load_file(path, cache=cache) for path in files]
    cache.close()
    rerun = fresh_cache(tmp_path)
    read_back = [load_file(path, cache=rerun) for path in files]

    cached = [path for path in files if cache.may_cache_file(path, path.read_bytes())]
    assert (cache.misses, cache.hits) == (len(cached), 0)
    assert (rerun.misses, rerun.hits) == (0, len(cached))
    assert len(cached) > len(files) - 5 > 100
    assert [result.scenario for result in read_back] == [result.scenario for result in loaded]
    assert [result.scenario for result in stored] == [result.scenario for result in loaded]
    assert all(result.scenario is not None for result in loaded)


def test_a_hit_does_not_load_the_file_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = fresh_cache(tmp_path)
    first = load_file(SEED, cache=writer)
    writer.close()
    refuse_loading(monkeypatch)
    reader = fresh_cache(tmp_path)

    again = load_file(SEED, cache=reader)

    assert again.scenario == first.scenario and again.path == str(SEED) and again.diagnostics == []
    assert (writer.hits, writer.misses, reader.hits, reader.misses) == (0, 1, 1, 0)
    assert entries(tmp_path / ".asyncparity_cache") == 1
    assert [pack.parent.parent.name for pack in packs(tmp_path / ".asyncparity_cache")] == ["content"]
    assert (tmp_path / ".asyncparity_cache" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_a_changed_file_is_loaded_again(tmp_path: Path) -> None:
    scenario = tmp_path / "seed.yaml"
    scenario.write_bytes(SEED.read_bytes())
    cache = fresh_cache(tmp_path)
    load_file(scenario, cache=cache)

    scenario.write_text(SEED.read_text().replace("summary: ", "summary: Changed. ", 1))
    changed = load_file(scenario, cache=cache)

    assert changed.scenario is not None and changed.scenario.summary.startswith("Changed. ")
    assert (cache.hits, cache.misses) == (0, 2)


def test_the_same_bytes_shown_under_another_path_are_another_entry(tmp_path: Path) -> None:
    cache = fresh_cache(tmp_path)
    load_file(SEED, cache=cache)

    other = load_file(SEED, "seed.yaml", cache=cache)

    assert other.scenario is not None and other.scenario.path == "seed.yaml"
    assert (cache.hits, cache.misses) == (0, 2)


def test_another_kit_version_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    older = fresh_cache(tmp_path, "0.1.0")
    load_file(SEED, cache=older)
    older.close()
    newer = fresh_cache(tmp_path, "0.2.0")

    load_file(SEED, cache=newer)
    newer.close()

    assert (newer.hits, newer.misses) == (0, 1)
    assert entries(tmp_path / ".asyncparity_cache") == 2
    assert len({pack.parent for pack in packs(tmp_path / ".asyncparity_cache")}) == 2


def test_an_edited_kit_source_file_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "compile.py"
    source.write_text("x = 1\n")
    monkeypatch.setattr(content_cache, "kit_files", lambda: [source])
    before = kit_key("0.1.0")

    source.write_text("x = 2\n")

    assert kit_key("0.1.0") != before
    assert kit_key("0.1.0") == kit_key("0.1.0")


def test_the_kit_files_are_its_own_sources() -> None:
    names = {path.name for path in content_cache.kit_files()}

    assert {"load.py", "check_steps.py", "compile.py", "asyncparity_runtime.py", "compile-async.mjs"} <= names


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data[: len(data) // 2],
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),
        lambda data: data[:60] + bytes([data[60] ^ 1]) + data[61:],
        lambda data: b"not a pack" + data,
    ],
    ids=["empty", "truncated", "one-byte-of-the-entry-changed", "table-changed", "not-a-pack"],
)
def test_a_damaged_entry_is_a_miss_and_the_next_run_stores_it_again(tmp_path: Path, damage) -> None:
    writer = fresh_cache(tmp_path)
    expected = load_file(SEED, cache=writer).scenario
    writer.close()
    (pack,) = packs(tmp_path / ".asyncparity_cache")
    pack.write_bytes(damage(pack.read_bytes()))
    runs = [fresh_cache(tmp_path), fresh_cache(tmp_path)]

    again = load_file(SEED, cache=runs[0])
    runs[0].close()
    third = load_file(SEED, cache=runs[1])

    assert again.scenario == expected and third.scenario == expected
    assert [(run.hits, run.misses) for run in runs] == [(0, 1), (1, 0)]


def test_the_index_of_a_cache_keeps_about_130_bytes_an_entry(tmp_path: Path) -> None:
    # A re-run of 10,000 scenarios reads 40,000 entries; the index took 309 bytes each
    # as a list and a tuple a key (issue 13).
    import tracemalloc

    writer = fresh_cache(tmp_path)
    keys = [writer.scenario_key(f"spec/s-{index}.yaml", b"x") for index in range(5000)]
    for index, key in enumerate(keys):
        writer.put(key, f"payload {index}".encode())
    writer.close()
    reader = fresh_cache(tmp_path)
    tracemalloc.start()
    try:
        assert reader.get(keys[1234]) == b"payload 1234"  # reads the index
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    assert kept < 180 * len(keys)
    assert [reader.get(key) for key in keys[:3]] == [b"payload 0", b"payload 1", b"payload 2"]


def test_a_whole_entry_of_the_wrong_content_is_a_miss(tmp_path: Path) -> None:
    cache = fresh_cache(tmp_path)
    key = cache.scenario_key("x.yaml", b"id: x")
    cache.put(key, b'{"id": "x"}')
    program = cache.program_key({"ir": 1, "id": "x"}, "python")
    cache.put(program, b"\x00not marshal")

    assert cache.load_scenario(key) is None
    assert cache.load_program(program) is None
    assert (cache.hits, cache.misses) == (0, 2)


def test_runs_side_by_side_write_packs_of_their_own_and_read_each_others(tmp_path: Path) -> None:
    runs = [fresh_cache(tmp_path) for _ in range(3)]
    key = runs[0].scenario_key("x.yaml", b"x")
    runs[0].put(key, b"first")
    runs[1].put(key, b"second")
    runs[1].put(runs[1].scenario_key("y.yaml", b"y"), b"other")

    runs[1].close()
    between = runs[2].get(key)  # its first look: after the second run's pack, before the first's
    runs[0].close()
    later = fresh_cache(tmp_path)

    assert between == b"second" and runs[2].get(key) == b"second"
    assert later.get(key) in (b"first", b"second")
    assert entries(tmp_path / ".asyncparity_cache") == 3 and len(packs(tmp_path / ".asyncparity_cache")) == 2
    assert [path.suffix for path in (tmp_path / ".asyncparity_cache" / "content").rglob("*") if path.is_file()] == [".pack"] * 2


def test_a_run_writes_a_pack_each_time_it_holds_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content_cache, "FLUSH_ENTRIES", 2)
    cache = fresh_cache(tmp_path)
    for name in "abcde":
        cache.put(cache.scenario_key(name, b""), name.encode())

    held = len(packs(tmp_path / ".asyncparity_cache"))
    cache.close()

    assert held == 2 and len(packs(tmp_path / ".asyncparity_cache")) == 3
    assert [fresh_cache(tmp_path).get(cache.scenario_key(name, b"")) for name in "abcde"] == [b"a", b"b", b"c", b"d", b"e"]


def test_runs_in_two_processes_at_once_share_the_folder(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    shutil.copytree(ROOT / "spec" / "seed", suite)
    command = [str(COMMAND), "run", "-q", "--targets", "python", "suite"]
    runs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)

    assert [run.returncode for run in runs] == [0, 0] and again.returncode == 0
    assert [stderr for _, stderr in outputs] == ["", ""] and again.stderr == ""
    assert [stdout.splitlines()[-1] for stdout, _ in outputs] == [again.stdout.splitlines()[-1]] * 2
    # 3 scenarios and 3 python programs from each run that missed them (the second may
    # have started after the first had written its pack); the third run missed none.
    written = packs(tmp_path / ".asyncparity_cache")
    assert 1 <= len(written) <= 2 and entries(tmp_path / ".asyncparity_cache") == 6 * len(written)


def test_a_folder_that_cannot_be_written_is_a_problem_said_once_not_an_error(tmp_path: Path) -> None:
    (tmp_path / ".asyncparity_cache").write_text("a file where the folder would be")
    cache = fresh_cache(tmp_path)

    first = load_file(SEED, cache=cache)
    cache.close()

    assert first.scenario is not None
    assert cache.problem == "File exists"
    assert (cache.hits, cache.misses) == (0, 1)


def test_a_scenario_that_binds_the_users_code_is_not_cached(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "your-own-code", tmp_path / "own")
    cache = fresh_cache(tmp_path)

    result = load_file(tmp_path / "own" / "get-json.yaml", cache=cache)

    cache.close()

    assert result.scenario is not None and result.scenario.ir["bindings"]
    assert entries(tmp_path / ".asyncparity_cache") == 0
    assert (cache.hits, cache.misses) == (0, 0)


def test_a_scenario_beside_a_folder_file_is_not_cached(tmp_path: Path) -> None:
    (tmp_path / "asyncparity.yaml").write_text("# the folder's bind: would go here\n")
    (tmp_path / "seed.yaml").write_bytes(SEED.read_bytes())
    cache = fresh_cache(tmp_path)

    result = load_file(tmp_path / "seed.yaml", cache=cache)
    cache.close()

    assert result.scenario is not None
    assert entries(tmp_path / ".asyncparity_cache") == 0


def test_each_folder_is_judged_by_its_own_folder_file(tmp_path: Path) -> None:
    # may_cache_file looks at a folder once a run: a sibling without the file is cached.
    for name, folder_file in (("bound", True), ("plain", False), ("bound-again", True)):
        (tmp_path / name).mkdir()
        if folder_file:
            (tmp_path / name / "asyncparity.yaml").write_text("# the folder's bind: would go here\n")
        for number in (1, 2):
            (tmp_path / name / f"seed{number}.yaml").write_bytes(SEED.read_bytes())
    cache = fresh_cache(tmp_path)
    files = sorted(tmp_path.glob("*/seed*.yaml"))

    assert [(path.parent.name, cache.may_cache_file(str(path), path.read_bytes())) for path in files] == [
        ("bound", False),
        ("bound", False),
        ("bound-again", False),
        ("bound-again", False),
        ("plain", True),
        ("plain", True),
    ]


def test_a_file_with_diagnostics_is_not_cached(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("id: bad\nsummary: x\nmain:\n  - sleep: -1\n")
    cache = fresh_cache(tmp_path)

    first = load_file(tmp_path / "bad.yaml", cache=cache)
    second = load_file(tmp_path / "bad.yaml", cache=cache)
    cache.close()

    assert first.diagnostics and second.diagnostics == first.diagnostics
    assert entries(tmp_path / ".asyncparity_cache") == 0


def test_the_python_testee_runs_the_cached_code_with_the_same_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ir = load_file(SEED).scenario.ir
    writer = fresh_cache(tmp_path)
    fresh = PythonTestee().run(ir, "python")
    first = PythonTestee(cache=writer).run(ir, "python")
    writer.close()
    cache = fresh_cache(tmp_path)
    testee = PythonTestee(cache=cache)

    def compiled_again(*args: object) -> None:
        raise AssertionError("the program was compiled again")

    monkeypatch.setattr(testee._target, "program", compiled_again)
    monkeypatch.setattr(testee._target, "compile_target", compiled_again)
    again = testee.run(ir, "python")

    assert first == fresh and again == fresh and fresh["status"] == "settled"
    assert (writer.hits, writer.misses, cache.hits, cache.misses) == (0, 1, 1, 0)


def test_a_file_loaded_through_the_cache_keys_its_programs_by_the_files_key(tmp_path: Path) -> None:
    cache = fresh_cache(tmp_path)
    scenario = load_file(SEED, cache=cache).scenario
    key = scenario.content_key
    by_file = cache.program_key(scenario.ir, "python", source=key)

    assert key == cache.scenario_key(str(SEED), SEED.read_bytes())
    # The file's key holds all the loader made the IR from: the IR is not read again
    # (its JSON, three times a scenario, was about a tenth of a re-run: issue 13).
    assert cache.program_key({"any": "ir"}, "python", source=key) == by_file
    others = {
        cache.program_key(scenario.ir, "python"),
        cache.program_key(scenario.ir, "python-eager", source=key),
        cache.program_key(scenario.ir, "python", "a runtime", source=key),
    }
    assert by_file not in others and len(others) == 3
    assert load_file(SEED).scenario.content_key is None  # loaded without a cache
    cache.close()
    again = load_file(SEED, cache=fresh_cache(tmp_path)).scenario
    assert again == scenario and again.content_key == key


def test_a_rerun_of_the_suite_finds_every_program_by_its_files_key(tmp_path: Path) -> None:
    def run_once() -> tuple[ContentCache, list[str]]:
        cache = fresh_cache(tmp_path)
        with NodeTestee(find_node()) as node:
            node.cache = cache
            python = PythonTestee(cache=cache)
            verdicts = list(stream_suite(load_files([SEED], cache), DEFAULT_TARGETS, python, node))
        cache.close()
        return cache, [verdict.status for verdict in verdicts]

    first, first_verdicts = run_once()
    rerun, rerun_verdicts = run_once()

    assert first_verdicts == rerun_verdicts == ["agree"]
    assert (first.hits, first.misses) == (0, 4)  # the scenario, its python program, its two bodies
    assert (rerun.hits, rerun.misses) == (4, 0)
    # Stored under the keys made from the file's, by the suite's testees.
    check = fresh_cache(tmp_path)
    key = load_file(SEED, cache=check).scenario.content_key
    with NodeTestee(find_node()) as node:
        runtime = node_runtime(node)
    assert check.load_program(check.program_key({}, "python", source=key)) is not None
    assert all(check.load_text(check.program_key({}, target, runtime, key)) for target in JS_TARGETS)


def test_a_request_with_every_body_carries_only_the_scenarios_id(tmp_path: Path) -> None:
    # The worker runs the bodies and reads only the id (spec/PROTOCOL.md); the IR was
    # half of a re-run's request (issue 13).
    ir = load_file(SEED).scenario.ir
    sent: list[dict] = []
    with NodeTestee(find_node()) as node:
        node.cache = first = fresh_cache(tmp_path)
        (fresh,) = node.run_scenarios([ir], JS_TARGETS)
        first.close()
        node.cache = fresh_cache(tmp_path)
        submit = node._submit

        def recording(requests: list[dict]) -> list:
            sent.extend(requests)
            return submit(requests)

        node._submit = recording  # type: ignore[method-assign]
        (again,) = node.run_scenarios([ir], JS_TARGETS)

    assert again == fresh
    assert [(request["scenario"], sorted(request["bodies"])) for request in sent if request["type"] == "run"] == [
        ({"ir": 1, "id": "seed-download-fallback"}, sorted(JS_TARGETS))
    ]


def test_the_node_worker_runs_the_body_it_is_sent_not_one_it_compiles(tmp_path: Path) -> None:
    ir = load_file(SEED).scenario.ir
    other = load_file(ROOT / "spec" / "seed" / "download-succeeds.yaml").scenario.ir
    cache = fresh_cache(tmp_path)
    with NodeTestee(find_node()) as node:
        fresh = [node.run(ir, "js-async"), node.run(other, "js-async")]
        node.cache = cache
        stored = [node.run(ir, "js-async"), node.run(other, "js-async")]
        cache.close()
        node.cache = rerun = fresh_cache(tmp_path)  # a run reads what an earlier run wrote
        again = [node.run(ir, "js-async"), node.run(other, "js-async")]
        # Swap the two entries: the worker then runs the other scenario's body.
        first_key = rerun.program_key(ir, "js-async", node_runtime(node))
        other_key = rerun.program_key(other, "js-async", node_runtime(node))
        first_body, other_body = rerun.load_text(first_key), rerun.load_text(other_key)
        rerun.store_text(first_key, other_body or "")
        rerun.close()
        node.cache = fresh_cache(tmp_path)
        swapped = node.run(ir, "js-async")

    assert stored == fresh and again == fresh
    assert (cache.hits, cache.misses) == (0, 2)
    assert (rerun.hits, rerun.misses) == (4, 0)  # again, and the two read here
    assert first_body != other_body
    assert swapped["trace"] == fresh[1]["trace"] != fresh[0]["trace"]


def node_runtime(node: NodeTestee) -> str:
    assert node.hello is not None
    return json.dumps([node.hello.get("runtime"), node.hello.get("features")], sort_keys=True)


def test_run_caches_and_no_cache_neither_reads_nor_writes(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "spec" / "seed", tmp_path / "suite")

    def asyncparity(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(COMMAND), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)

    uncached = asyncparity("run", "-q", "--no-cache", "suite")
    no_entries = not (tmp_path / ".asyncparity_cache" / "content").exists()
    first = asyncparity("run", "-q", "suite")
    written = entries(tmp_path / ".asyncparity_cache")
    again = asyncparity("run", "-q", "suite")

    assert uncached.returncode == first.returncode == again.returncode == 0
    assert uncached.stdout == first.stdout == again.stdout == "3 passed, 0 failed\n"
    assert no_entries
    # Each scenario, its python program and its two JavaScript bodies; the re-run missed none.
    assert written == 12 and entries(tmp_path / ".asyncparity_cache") == written


def test_cache_clear_removes_the_folder(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "spec" / "seed", tmp_path / "suite")

    def asyncparity(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(COMMAND), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)

    asyncparity("run", "-q", "--targets", "python", "suite")
    cleared = asyncparity("cache", "clear")
    nothing = asyncparity("cache", "clear")

    folder = tmp_path / ".asyncparity_cache"
    # one pack and lastfailed.json
    assert (cleared.returncode, cleared.stdout, cleared.stderr) == (0, f"removed {folder} (2 file(s))\n", "")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, f"no cache at {folder}\n", "")
    assert not folder.exists()
    assert os.listdir(tmp_path) == ["suite"]


def test_a_run_whose_cache_cannot_be_written_says_so_once_and_passes(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "spec" / "seed", tmp_path / "suite")
    (tmp_path / ".asyncparity_cache").mkdir()
    (tmp_path / ".asyncparity_cache" / "content").write_text("a file where the folder would be")

    completed = subprocess.run(
        [str(COMMAND), "run", "-q", "--targets", "python", "suite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    entries_folder = tmp_path / ".asyncparity_cache" / "content" / kit_key_of_the_installed_kit()[:32]
    assert (completed.returncode, completed.stdout) == (0, "3 passed, 0 failed\n")
    assert completed.stderr == f"asyncparity: {entries_folder}: not written (Not a directory); the next run loads afresh\n"


def kit_key_of_the_installed_kit() -> str:
    return kit_key(version())


def test_past_the_most_packs_a_run_keeps_only_what_it_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content_cache, "MAX_PACKS", 4)
    folder = tmp_path / ".asyncparity_cache"
    keys = [fresh_cache(tmp_path).scenario_key(name, b"") for name in "abcd"]
    for key in keys:  # four runs, a pack each
        run = fresh_cache(tmp_path)
        run.put(key, key.encode())
        run.close()
    packs_before = len(packs(folder))
    (holding_a,) = [pack for pack in packs(folder) if content_cache.pack_table(pack)[0][0] == bytes.fromhex(keys[0])]
    holding_a.write_bytes(b"damaged")  # unreadable: its entry is a miss
    run = fresh_cache(tmp_path)
    used = [run.get(key) for key in keys[:3]]
    run.put(run.scenario_key("e", b""), b"e")

    run.close()

    later = fresh_cache(tmp_path)
    kept = {key: later.get(key) for key in [*keys, run.scenario_key("e", b"")]}
    assert packs_before == 4 and len(packs(folder)) == 1
    assert used == [None, keys[1].encode(), keys[2].encode()]
    assert kept == {
        keys[0]: None,
        keys[1]: keys[1].encode(),
        keys[2]: keys[2].encode(),
        keys[3]: None,
        run.scenario_key("e", b""): b"e",
    }
