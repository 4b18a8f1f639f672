"""Playwright on Debian's chromium (Playwright's own build cannot be fetched).

Registered by `tests.plugins.infra` in pytest_configure, after
pytest-playwright, so this fixture overrides the one of the same name there.
"""

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the networking flags chromium keeps dialling Google's hosts, which
# this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Launch Debian's chromium with the flags this machine needs."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }
