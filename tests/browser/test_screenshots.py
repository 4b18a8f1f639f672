"""Screenshots of the editor for the README, taken from the real page.

They are written to a temporary folder; with KUBEORCH_UPDATE_SCREENSHOTS=1
they replace docs/editor-*.png:

    KUBEORCH_UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_screenshots.py
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .editor_page import COMMAND_KEY, EditorPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parents[2] / "docs"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_screenshots_of_the_editor_panel_and_command_palette(
    signed_in, live_server, three_tier_workflow, tmp_path
):
    folder = DOCS if os.environ.get("KUBEORCH_UPDATE_SCREENSHOTS") else tmp_path
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()
    editor.auto_layout()
    editor.wait_saved()
    page = editor.page

    page.screenshot(path=folder / "editor-three-tier.png")
    editor.select("web")
    editor.open_section("resources")
    page.screenshot(path=folder / "editor-settings-panel.png")
    editor.close_panel()
    page.keyboard.press(f"{COMMAND_KEY}+k")
    page.keyboard.type("add serv")
    expect(page.locator(".kc-command").first).to_contain_text("Add Service")
    page.screenshot(path=folder / "editor-command-palette.png")

    for name in ("three-tier", "settings-panel", "command-palette"):
        assert (folder / f"editor-{name}.png").read_bytes()[:8] == PNG_SIGNATURE
