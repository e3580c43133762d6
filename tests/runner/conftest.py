"""Collection for tests/runner/: the bad-input corpus is data for test_load_bad_input.py,
not scenarios for the asyncparity pytest plugin to collect and fail."""

collect_ignore = ["bad-input"]
