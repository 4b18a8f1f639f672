"""Version history, compare view, restore, dry run and state moves in a real
headless Chromium, against the live server (and kubesim for runs)."""

import copy

import pytest
from playwright.sync_api import expect

from runs import actions as run_actions
from runs.models import Run
from tests.factories import make_workflow, three_tier_canvas
from workflows import actions as workflow_actions
from workflows.models import Workflow, WorkflowVersion

from .conftest import wait_until
from .editor_page import COMMAND_KEY, EditorPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def save_changed(workflow: Workflow, change) -> Workflow:
    """Change the stored canvas (a draft) through the save action."""
    workflow.refresh_from_db()
    nodes, edges = change(copy.deepcopy(workflow.nodes), copy.deepcopy(workflow.edges))
    workflow_actions.save_canvas(
        workflow.pk, nodes=nodes, edges=edges, base_revision=workflow.revision
    )
    workflow.refresh_from_db()
    return workflow


def node(nodes: list[dict], node_id: str) -> dict:
    return next(n for n in nodes if n["id"] == node_id)


def second_version(nodes: list[dict], edges: list[dict]):
    """A new image for web, the autoscaler gone, one more ConfigMap."""
    node(nodes, "web")["data"]["image"] = "nginx:1.28"
    nodes = [n for n in nodes if n["id"] != "web-hpa"]
    edges = [e for e in edges if "web-hpa" not in (e["source"], e["target"])]
    extra = copy.deepcopy(node(nodes, "web-config"))
    extra["id"] = "extra-config"
    extra["data"]["name"] = "extra-config"
    extra["position"] = {"x": extra["position"]["x"], "y": 700}
    return [*nodes, extra], edges


@pytest.fixture
def two_versions(owner, cluster) -> Workflow:
    """A draft shop with version 1 (three tiers) and version 2 (edited)."""
    workflow = make_workflow(owner, cluster, canvas=three_tier_canvas())
    workflow_actions.create_version(workflow.pk, user=owner, name="first")
    save_changed(workflow, second_version)
    workflow_actions.create_version(workflow.pk, user=owner, name="second", tag="v2")
    workflow.refresh_from_db()
    return workflow


def open_history(editor: EditorPage):
    editor.page.locator("#history-button").click()
    rows = editor.page.locator("#versions-panel .vh-row")
    expect(rows.first).to_be_visible()
    return rows


def row_numbers(editor: EditorPage) -> list[int]:
    return [
        int(n)
        for n in editor.page.eval_on_selector_all(
            "#versions-panel .vh-row", "rows => rows.map(r => r.dataset.number)"
        )
    ]


def test_history_lists_versions_newest_first_and_saves_a_manual_one(
    signed_in, live_server, two_versions
):
    editor = EditorPage(signed_in, live_server.url, two_versions).open()

    rows = open_history(editor)
    assert row_numbers(editor) == [2, 1]
    expect(rows.first).to_contain_text("second")
    expect(rows.first.locator(".vh-tag")).to_have_text("v2")
    export = rows.first.locator(".vh-export")
    expect(export).to_have_attribute(
        "href", f"/v1/api/workflows/{two_versions.pk}/versions/2/export"
    )

    panel = editor.page.locator("#versions-panel")
    panel.locator("input[name=name]").fill("before the sale")
    panel.locator("input[name=tag]").fill("stable")
    panel.locator("textarea[name=description]").fill("known good")
    panel.get_by_role("button", name="Save version").click()

    expect(panel.locator(".vh-status")).to_contain_text("Saved as version 3")
    assert row_numbers(editor) == [3, 2, 1]
    stored = two_versions.versions.get(number=3)
    assert (stored.name, stored.tag, stored.description, stored.source) == (
        "before the sale",
        "stable",
        "known good",
        "manual",
    )


def test_history_pages_to_older_versions(signed_in, live_server, owner, cluster):
    workflow = make_workflow(owner, cluster, canvas=three_tier_canvas())
    for number in range(1, 53):
        workflow_actions.create_version(workflow.pk, name=f"v{number}")
    editor = EditorPage(signed_in, live_server.url, workflow).open()

    open_history(editor)
    expect(editor.page.locator(".vh-row")).to_have_count(50)
    assert row_numbers(editor)[:2] == [52, 51]
    editor.page.locator(".vh-more").click()

    expect(editor.page.locator(".vh-row")).to_have_count(52)
    assert row_numbers(editor)[-2:] == [2, 1]
    expect(editor.page.locator(".vh-more")).to_be_hidden()


def test_compare_view_colours_added_removed_and_changed_nodes(
    signed_in, live_server, two_versions
):
    editor = EditorPage(signed_in, live_server.url, two_versions).open()
    open_history(editor)

    # The default choice is the previous version against the newest.
    panel = editor.page.locator("#versions-panel")
    expect(panel.locator("select[name=from]")).to_have_value("1")
    expect(panel.locator("select[name=to]")).to_have_value("2")
    panel.get_by_role("button", name="Compare", exact=True).click()

    view = editor.page.locator("dialog.vc-dialog")
    expect(view).to_be_visible()
    expect(view.locator("h2")).to_have_text("Compare version 1 with version 2")
    drawn = view.locator(".kc-node")
    expect(drawn).to_have_count(9)
    expect(view.locator('.kc-node[data-id="extra-config"]')).to_have_class(
        "kc-node kind-configmap group-config-storage vc-added"
    )
    expect(view.locator('.kc-node[data-id="web-hpa"]')).to_have_attribute(
        "data-diff", "removed"
    )
    expect(view.locator('.kc-node[data-id="web"]')).to_have_attribute(
        "data-diff", "modified"
    )
    assert view.locator(".kc-node.vc-changed").count() == 1
    assert view.locator(".kc-node.vc-removed").count() == 1
    colours = view.locator('.kc-node[data-id="web"]').evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert colours == "rgb(255, 244, 214)", "changed is amber"
    change = view.locator('.vc-item[data-node="web"] .vc-field')
    expect(change).to_have_count(1)
    expect(change).to_contain_text("image: nginx:1.27 → nginx:1.28")
    expect(view.locator('.vc-edge-item[data-diff="removed"]')).to_contain_text(
        "web-hpa → web"
    )
    expect(view.locator(".vc-summary")).to_contain_text(
        "Nodes: 1 added, 1 removed, 1 changed."
    )

    # Read-only: the editor's canvas is untouched; Escape closes the view.
    editor.page.keyboard.press("Escape")
    expect(view).to_be_hidden()
    wait_until(lambda: editor.ids() == {n["id"] for n in two_versions.nodes})


def test_restoring_an_old_version_of_a_published_workflow_loads_it(
    signed_in, live_server, owner, two_versions
):
    workflow_actions.move_workflow(two_versions.pk, "published")
    editor = EditorPage(signed_in, live_server.url, two_versions).open()
    rows = open_history(editor)

    rows.nth(1).locator(".vh-restore").click()
    confirm = editor.page.locator("dialog.vh-confirm")
    expect(confirm).to_contain_text("moved back to draft first")
    confirm.get_by_role("button", name="Move to draft and restore").click()

    expect(editor.page.locator("#state-badge")).to_have_text("draft")
    expect(editor.node("web-hpa")).to_be_visible()
    expect(editor.node("extra-config")).to_have_count(0)
    expect(editor.page.locator(".vh-status")).to_contain_text(
        "Version 1 restored as version 3"
    )
    assert row_numbers(editor) == [3, 2, 1]
    editor.select("web")
    expect(editor.field("image")).to_have_value("nginx:1.27")
    expect(editor.field("image")).to_be_enabled()

    workflow = editor.wait_saved()
    restored = workflow.versions.get(number=3)
    assert restored.source == WorkflowVersion.Source.RESTORE
    assert restored.restored_from == 1
    assert node(workflow.nodes, "web")["data"]["image"] == "nginx:1.27"

    # The canvas is based on the new revision: the next edit saves cleanly.
    editor.fill("replicas", 4)
    workflow = editor.wait_saved()
    assert node(workflow.nodes, "web")["data"]["replicas"] == 4


def test_dry_run_is_unchanged_after_a_run_then_shows_exactly_one_edit(
    signed_in, live_server, three_tier_workflow, celery_worker, kubesim
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()
    editor.page.locator("#run-button").click()
    expect(editor.page.locator("#run-bar")).to_have_attribute(
        "data-status", "completed", timeout=30_000
    )

    editor.page.locator("#dry-run-button").click()
    panel = editor.page.locator("#dry-run-panel")
    results = panel.locator(".dr-node")
    expect(results).to_have_count(len(three_tier_workflow.nodes), timeout=20_000)
    actions = results.evaluate_all("e => e.map(n => n.dataset.action)")
    assert set(actions) == {"unchanged"}, actions
    expect(panel.locator(".dr-status")).to_contain_text("8 unchanged")
    panel.locator(".dr-close").click()

    editor.page.locator("#edit-button").click()
    expect(editor.page.locator("#state-badge")).to_have_text("draft")
    editor.select("web")
    editor.fill("image", "nginx:1.28")
    editor.close_panel()
    editor.wait_saved()
    editor.page.locator("#dry-run-button").click()

    changed = panel.locator('.dr-node[data-action="change"]')
    expect(changed).to_have_count(1, timeout=20_000)
    expect(changed).to_have_attribute("data-node", "web")
    fields = changed.locator(".dr-field")
    expect(fields).to_have_count(1)
    expect(fields).to_contain_text("image")
    expect(fields).to_contain_text("nginx:1.27 → nginx:1.28")
    unchanged = panel.locator('.dr-node[data-action="unchanged"]')
    expect(unchanged).to_have_count(len(three_tier_workflow.nodes) - 1)
    assert Run.objects.filter(workflow=three_tier_workflow).count() == 1


def test_a_refused_state_move_shows_the_servers_reason(
    signed_in, live_server, three_tier_workflow
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()

    # Someone else published it meanwhile: publishing again is refused.
    workflow_actions.move_workflow(three_tier_workflow.pk, "published")
    editor.page.locator("#publish-button").click()

    alert = editor.page.locator("#page-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("This workflow is already published.")


def test_archive_is_refused_while_a_run_is_in_progress(
    signed_in, live_server, owner, three_tier_workflow
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()
    workflow_actions.move_workflow(three_tier_workflow.pk, "published")
    # Queued and never picked up: no worker runs in this test.
    run = run_actions.start_run(three_tier_workflow.pk, triggered_by="manual")
    assert run.status == Run.Status.RUNNING

    editor.page.locator("#archive-button").click()
    editor.page.locator("dialog.vh-confirm").get_by_role(
        "button", name="Archive"
    ).click()

    expect(editor.page.locator("#page-alert")).to_contain_text(
        f"Run {run.pk} of this workflow is in progress"
    )
    three_tier_workflow.refresh_from_db()
    assert three_tier_workflow.state == "published"


def test_archive_asks_first_and_restore_to_draft_brings_it_back(
    signed_in, live_server, three_tier_workflow
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()

    editor.page.locator("#archive-button").click()
    confirm = editor.page.locator("dialog.vh-confirm")
    confirm.get_by_role("button", name="Cancel").click()
    expect(editor.page.locator("#state-badge")).to_have_text("draft")

    editor.page.locator("#archive-button").click()
    confirm.get_by_role("button", name="Archive").click()
    expect(editor.page.locator("#state-badge")).to_have_text("archived")
    expect(editor.page.locator("#archive-button")).to_be_hidden()
    expect(editor.page.locator("#dry-run-button")).to_be_hidden()
    wait_until(
        lambda: Workflow.objects.get(pk=three_tier_workflow.pk).state == "archived"
    )

    restore = editor.page.locator("#edit-button")
    expect(restore).to_have_text("Restore to draft")
    restore.click()
    expect(editor.page.locator("#state-badge")).to_have_text("draft")
    expect(editor.page.locator("#archive-button")).to_be_visible()


def test_history_restore_and_dry_run_work_from_the_keyboard(
    signed_in, live_server, two_versions
):
    editor = EditorPage(signed_in, live_server.url, two_versions).open()
    page = editor.page
    keyboard = page.keyboard

    # Tab from the top of the page reaches the History button.
    page.locator(".back").focus()
    history = page.locator("#history-button")
    for _ in range(12):
        if history.evaluate("b => b === document.activeElement"):
            break
        keyboard.press("Tab")
    expect(history).to_be_focused()
    keyboard.press("Enter")
    name = page.locator("#versions-panel input[name=name]")
    expect(name).to_be_focused()
    keyboard.type("by keyboard")
    keyboard.press("Enter")
    expect(page.locator(".vh-status")).to_contain_text("Saved as version 3")

    # Restore the first version: its button, then the confirmation.
    page.locator('.vh-row[data-number="1"] .vh-restore').focus()
    keyboard.press("Enter")
    expect(page.locator("dialog.vh-confirm button[value=yes]")).to_be_focused()
    keyboard.press("Enter")
    expect(editor.node("web-hpa")).to_be_visible()
    wait_until(lambda: two_versions.versions.filter(number=4).exists())

    # Escape closes the panel and gives the focus back.
    page.locator("#versions-panel input[name=tag]").focus()
    keyboard.press("Escape")
    expect(page.locator("#versions-panel")).to_be_hidden()
    expect(history).to_be_focused()
    expect(history).to_have_attribute("aria-expanded", "false")

    # The command palette opens the dry run.
    page.locator(".kc-viewport").focus()
    keyboard.press(f"{COMMAND_KEY}+k")
    page.locator(".kc-command-input").fill("dry run")
    keyboard.press("Enter")
    expect(page.locator("#dry-run-panel")).to_be_visible()
    expect(page.locator("#dry-run-panel .dr-again")).to_be_focused()
