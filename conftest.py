"""Repository-wide test setup: pytester drives inner pytest sessions in plugin tests."""

pytest_plugins = ["pytester"]
