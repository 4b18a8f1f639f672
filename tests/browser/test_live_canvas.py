"""The editor's live canvas in a real browser: colours, diagnosis, mini-logs.

Everything is real: daphne serves the pages and WebSockets, a Celery worker
executes the runs, a watcher (in a thread of this process) watches kubesim
and publishes on the session's Redis, which daphne listens to.
"""

import pytest
from kubernetes import client
from playwright.sync_api import expect

from clusters.connection import api_client_for
from runs.models import NodeStatus
from runs.watcher import Watcher, WatchOptions
from tests.browser import live_daphne
from tests.browser.conftest import wait_until
from tests.browser.editor_page import EditorPage
from tests.factories import three_tier_canvas
from tests.runs.livetools import canvas, deploy_now, published, web_node

daphne_url = live_daphne.daphne_url
daphne_page = live_daphne.daphne_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RUN_TIMEOUT = 30_000

# Record every status a card shows, from the first frame on, so a test can
# tell the path a card took and not only where it ended.
RECORD_STATUSES = """
window.seenStatuses = {};
const record = () => {
  for (const card of document.querySelectorAll('.kc-node')) {
    const seen = (window.seenStatuses[card.dataset.id] ??= []);
    const tone = card.dataset.live || '';
    if (tone && seen[seen.length - 1] !== tone) seen.push(tone);
  }
};
new MutationObserver(record).observe(document.body, {
  subtree: true, attributes: true, attributeFilter: ['data-live'],
});
record();
"""


@pytest.fixture
def watcher(kubesim):
    """A real watcher of kubesim, publishing to the layer daphne hears."""
    fast = WatchOptions(request_timeout=5, backoff_base=0.05, backoff_cap=0.5)
    running = Watcher(
        refresh_interval=0.1,
        batch_window=0.01,
        lease_ttl=5.0,
        unreachable_after=60.0,
        options=fast,
    )
    with running.running():
        yield running


@pytest.fixture
def open_editor(daphne_page, daphne_url):
    """Open a workflow's editor on daphne once its live stream is open."""

    def opened(workflow) -> EditorPage:
        editor = EditorPage(daphne_page, daphne_url, workflow).open()
        editor.page.locator('.kc-editor[data-live="open"]').wait_for()
        return editor

    return opened


def card(editor: EditorPage, node_id: str):
    return editor.node(node_id)


def test_the_cards_follow_a_run_from_grey_to_green(
    open_editor, owner, kubeconfig_text, celery_worker, watcher
):
    workflow = published(owner, kubeconfig_text, three_tier_canvas())
    editor = open_editor(workflow)
    editor.page.evaluate(RECORD_STATUSES)
    ids = [node["id"] for node in workflow.nodes]
    for node_id in ids:
        expect(card(editor, node_id)).to_have_attribute("data-live", "grey")
    expect(card(editor, "web").locator(".kc-node-status")).to_have_text("not deployed")
    editor.select("web")
    expect(editor.page.locator("#mini-logs")).to_be_hidden()

    editor.page.locator("#run-button").click()

    run_bar = editor.page.locator("#run-bar")
    expect(run_bar).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT)
    for node_id in ids:
        expect(card(editor, node_id)).to_have_attribute(
            "data-live", "green", timeout=RUN_TIMEOUT
        )
    expect(card(editor, "web").locator(".kc-node-status")).to_have_text("healthy")
    logs = editor.page.locator("#mini-logs")
    expect(logs).to_be_visible()
    logs.locator(".log-lines .line", has_text="nginx").first.wait_for()
    seen = editor.page.evaluate("window.seenStatuses")
    for node_id in ids:
        assert seen[node_id][0] == "grey" and seen[node_id][-1] == "green", seen


def test_a_missing_image_turns_red_and_its_fix_turns_it_green(
    open_editor, owner, kubeconfig_text, celery_worker, watcher
):
    workflow = published(
        owner, kubeconfig_text, canvas(web_node(image="nginx:doesnotexist", replicas=1))
    )
    editor = open_editor(workflow)

    editor.page.locator("#run-button").click()

    web = card(editor, "web")
    expect(web).to_have_attribute("data-live", "red", timeout=RUN_TIMEOUT)
    editor.select("web")
    diagnosis = editor.page.locator(".kc-panel .kp-diagnosis")
    expect(diagnosis).to_contain_text("What's wrong")
    expect(diagnosis.locator(".kp-cause")).to_contain_text("not found")
    expect(diagnosis.locator(".kp-evidence")).to_contain_text("nginx:doesnotexist")
    fix = diagnosis.locator('.kp-fix[data-fix-id="set-image"]')
    expect(fix.locator(".kp-diff")).to_contain_text('"nginx:doesnotexist"')
    expect(fix.locator('input[name="image"]')).not_to_have_value("")
    expect(editor.page.locator("#run-bar")).to_have_attribute(
        "data-status", "failed", timeout=RUN_TIMEOUT
    )

    fix.locator('input[name="image"]').fill("nginx:1.27")
    fix.locator('input[name="image"]').press("Tab")
    expect(fix.locator(".kp-diff ins")).to_have_text('"nginx:1.27"')
    fix.get_by_role("button", name="Apply and run").click()

    expect(fix.locator(".kp-fix-result")).to_contain_text("run")
    expect(web).to_have_attribute("data-live", "green", timeout=RUN_TIMEOUT)
    expect(diagnosis).to_be_hidden()
    expect(editor.page.locator("#state-badge")).to_have_text("published")
    expect(editor.field("image")).to_have_value("nginx:1.27")
    workflow.refresh_from_db()
    assert workflow.nodes[0]["data"]["image"] == "nginx:1.27"


def test_a_fix_that_no_longer_applies_says_why(
    open_editor, owner, kubeconfig_text, celery_worker, watcher
):
    workflow = published(
        owner, kubeconfig_text, canvas(web_node(image="nginx:doesnotexist", replicas=1))
    )
    editor = open_editor(workflow)
    editor.page.locator("#run-button").click()
    expect(card(editor, "web")).to_have_attribute(
        "data-live", "red", timeout=RUN_TIMEOUT
    )
    editor.select("web")
    fix = editor.page.locator('.kc-panel .kp-fix[data-fix-id="set-image"]')
    expect(fix).to_be_visible()

    fix.locator('input[name="image"]').fill("not a valid image !")
    fix.get_by_role("button", name="Apply fix").click()

    result = fix.locator(".kp-fix-result")
    expect(result).to_contain_text("The fix was not applied")
    expect(result).to_be_in_viewport()
    expect(fix.get_by_role("button", name="Apply fix")).to_be_enabled()


def test_the_mini_logs_follow_the_selected_node_and_a_reconnect_shows_the_truth(
    open_editor, owner, kubeconfig_text, kubesim, watcher
):
    workflow = published(owner, kubeconfig_text, canvas(web_node(replicas=1)))
    assert deploy_now(workflow, owner).status == "completed"
    wait_until(lambda: _state(workflow, "web") == "healthy")
    editor = open_editor(workflow)
    page = editor.page
    web = card(editor, "web")
    expect(web).to_have_attribute("data-live", "green")

    editor.select("web")
    logs = page.locator("#mini-logs")
    expect(logs).to_be_visible()
    logs.locator(".log-lines .line", has_text="nginx/1.27").first.wait_for()
    expect(logs.locator("#log-status")).to_contain_text("following")
    expect(page.locator("#mini-logs-resource")).to_have_attribute(
        "href", f"/workflows/{workflow.pk}/nodes/web/"
    )
    terminal = page.locator("#mini-logs-terminal")
    expect(terminal).to_be_visible()
    assert "/terminal/" in terminal.get_attribute("href")
    probes = logs.locator(".log-lines .line", has_text="GET / HTTP/1.1")
    before = probes.count()
    kubesim.advance(10)
    expect(probes).to_have_count(before + 1)

    # The browser drops off; the node breaks while nobody listens.
    page.evaluate("window.kubeorchEditor.live.pause()")
    expect(page.locator('.kc-editor[data-live="closed"]')).to_be_attached()
    _set_image(workflow, "web", "nginx:doesnotexist")
    wait_until(lambda: _state(workflow, "web") == "degraded")
    page.wait_for_timeout(300)
    expect(web).to_have_attribute("data-live", "green")

    page.evaluate("window.kubeorchEditor.live.resume()")

    expect(web).to_have_attribute("data-live", "red")
    expect(page.locator(".kc-panel .kp-diagnosis .kp-cause")).to_contain_text(
        "not found"
    )

    # A plain cut: the page reconnects by itself and starts from a snapshot.
    snapshots = page.evaluate("window.kubeorchEditor.live.snapshots")
    page.evaluate("window.kubeorchEditor.live.cut()")
    page.wait_for_function(
        f"window.kubeorchEditor.live.snapshots > {snapshots} && "
        "window.kubeorchEditor.live.connected"
    )
    expect(web).to_have_attribute("data-live", "red")


def _state(workflow, node_id: str) -> str | None:
    found = NodeStatus.objects.filter(workflow=workflow, node_id=node_id).first()
    return found.state if found else None


def _set_image(workflow, name: str, image: str) -> None:
    """Change a Deployment's image behind the product's back."""
    api = api_client_for(workflow.cluster)
    try:
        patch = {
            "spec": {
                "template": {"spec": {"containers": [{"name": name, "image": image}]}}
            }
        }
        client.AppsV1Api(api).patch_namespaced_deployment(
            name, workflow.namespace, patch
        )
    finally:
        api.close()
