"""Shared test configuration: pytester runs pytest itself, for the plugin's tests."""

pytest_plugins = ["pytester"]
