"""Every page's main actions work with the keyboard alone."""

import pytest
from playwright.sync_api import Page, expect

from workflows.models import Workflow

from .editor_page import COMMAND_KEY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tab_to(page: Page, condition: str, limit: int = 60) -> None:
    """Press Tab until `condition` (JS, given `el`) holds for the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {condition})(document.activeElement)"):
            return
    raise AssertionError(f"Tab never reached an element where {condition}")


def type_into_focus(page: Page, text: str) -> None:
    page.keyboard.press(f"{COMMAND_KEY}+a")
    page.keyboard.type(text)


def test_log_in_create_a_workflow_design_link_and_publish_by_keyboard(
    page, live_server, owner, cluster
):
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/")

    # Log in: the username has the focus.
    page.keyboard.type("olivia")
    page.keyboard.press("Tab")
    page.keyboard.type("pw-olivia")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Workflows")

    # New workflow: reach the button, fill the form, submit with Enter.
    tab_to(page, "el.textContent.trim() === 'New workflow'")
    page.keyboard.press("Enter")
    expect(page.locator("#id_name")).to_be_focused()
    page.keyboard.type("keyboard-shop")
    page.keyboard.press("Enter")
    expect(page.locator(".kc-viewport")).to_be_visible()
    workflow = Workflow.objects.get(name="keyboard-shop")
    assert workflow.cluster == cluster

    # Design: add a Deployment with Ctrl+K and type its name and image.
    page.keyboard.press(f"{COMMAND_KEY}+k")
    page.keyboard.type("deployment")
    page.keyboard.press("Enter")
    expect(page.locator('.kc-panel [data-path="name"]')).to_be_focused()
    type_into_focus(page, "web")
    tab_to(page, "el.dataset.path === 'image'")
    page.keyboard.type("nginx:1.27")

    # A Service, linked to it from the panel's link form.
    page.keyboard.press("Escape")
    page.keyboard.press(f"{COMMAND_KEY}+k")
    page.keyboard.type("add service")
    page.keyboard.press("Enter")
    expect(page.locator('.kc-panel [data-path="name"]')).to_be_focused()
    type_into_focus(page, "web")
    tab_to(page, "el.getAttribute('aria-label') === 'Link to'")
    tab_to(page, "el.textContent === 'Link'")
    page.keyboard.press("Enter")
    expect(page.locator("path.kc-edge")).to_have_count(1)

    # Publish with the command palette once the canvas is saved.
    page.keyboard.press("Escape")
    page.keyboard.press(f"{COMMAND_KEY}+k")
    page.keyboard.type("publish")
    page.keyboard.press("Enter")
    expect(page.locator("#state-badge")).to_have_text("published")
    workflow.refresh_from_db()
    assert workflow.state == "published"
    assert {n["data"]["name"] for n in workflow.nodes} == {"web"}
    assert len(workflow.edges) == 1


def test_the_shortcuts_sheet_opens_on_question_mark(
    signed_in, live_server, owner, cluster
):
    from tests.factories import make_workflow

    workflow = make_workflow(owner, cluster)
    signed_in.goto(f"{live_server.url}/workflows/{workflow.pk}/")
    signed_in.locator(".kc-viewport").focus()

    signed_in.keyboard.press("?")

    sheet = signed_in.locator("dialog.kc-shortcuts")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("Undo")
    signed_in.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
