"""The resource page follows a pod's logs in a real browser, across a cut."""

import pytest

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


def _probe_lines(page) -> int:
    return page.locator("#log-lines .line", has_text="GET / HTTP/1.1").count()


def test_the_logs_panel_follows_a_pod_and_resumes_after_a_cut(
    daphne_page,
    daphne_url,
    shop,
    kubesim,
):
    page = daphne_page
    page.goto(f"{daphne_url}/workflows/{shop.pk}/nodes/web/")

    page.locator("#log-lines .line", has_text="nginx/1.27").wait_for()
    page.locator("#log-status", has_text="following").wait_for()
    assert page.locator("#log-pod option").count() == 2

    kubesim.advance(10)
    page.wait_for_function(
        "document.querySelectorAll('#log-lines .line').length > 0 && "
        "[...document.querySelectorAll('#log-lines .line')]"
        ".some(l => l.textContent.includes('GET / HTTP/1.1'))"
    )
    assert _probe_lines(page) == 1

    # The network drops the socket; the panel reconnects with its cursor.
    page.evaluate("window.kubeorchLogs.cut()")
    page.locator("#log-status", has_text="reconnecting").wait_for()
    kubesim.advance(10)
    page.wait_for_function(
        "[...document.querySelectorAll('#log-lines .line')]"
        ".filter(l => l.textContent.includes('GET / HTTP/1.1')).length >= 2"
    )
    page.locator("#log-status", has_text="following").wait_for()
    page.wait_for_timeout(500)

    assert _probe_lines(page) == 2, "no line is lost or shown twice"
    texts = page.locator("#log-lines .line").all_inner_texts()
    assert len(texts) == len(set(texts)), texts

    page.fill("#log-filter", "epoll")
    assert page.locator("#log-lines .line:visible").count() == 1
    download = page.get_attribute("#log-download", "href")
    assert "download=true" in download
