"""The terminal page runs a command in a pod, and leaving it ends the shell."""

import time

import pytest

from runs.models import TerminalSession
from tests.browser import live_daphne
from tests.runs.livetools import canvas, deploy_now, published, web_node

daphne_url = live_daphne.daphne_url
daphne_page = live_daphne.daphne_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(owner, kubeconfig_text):
    workflow = published(owner, kubeconfig_text, canvas(web_node(replicas=1)))
    assert deploy_now(workflow, owner).status == "completed"
    return workflow


def test_the_terminal_runs_a_command_and_closing_it_ends_the_shell(
    daphne_page,
    daphne_url,
    shop,
    owner_api,
    kubesim,
):
    page = daphne_page
    pod = owner_api.get(f"/v1/api/workflows/{shop.pk}/nodes/web/pods").json()["pods"][0]
    page.goto(f"{daphne_url}/workflows/{shop.pk}/nodes/web/")
    page.locator("#open-terminal:not([hidden])").wait_for()
    page.click("#open-terminal")

    page.locator("#terminal-state", has_text="connected").wait_for()
    rows = page.locator(".xterm-rows")
    rows.locator("text=#").first.wait_for()
    page.keyboard.type("echo hello-from-$HOSTNAME")
    page.keyboard.press("Enter")

    rows.get_by_text(f"hello-from-{pod['name']}", exact=True).wait_for()
    assert len(kubesim.exec_sessions()) == 1
    session = TerminalSession.objects.get()
    assert session.user.username == "olivia" and session.pod == pod["name"]

    page.goto(f"{daphne_url}/workflows/{shop.pk}/nodes/web/")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        session.refresh_from_db()
        if not kubesim.exec_sessions() and session.ended_at:
            break
        time.sleep(0.1)

    assert kubesim.exec_sessions() == [], "the shell ended with the page"
    assert session.ended_at is not None and session.end_reason == "closed"
