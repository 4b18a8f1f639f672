"""The canvas editor in a real headless Chromium, driven like a person would.

Each test opens the editor on the live server, edits with mouse and
keyboard, and checks what reached the database through autosave.
"""

import re

import pytest
from playwright.sync_api import expect

from runs.models import Run
from tests.factories import three_tier_canvas
from workflows.models import Workflow

from .conftest import wait_until
from .editor_page import COMMAND_KEY, EditorPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def graph_of(nodes: list[dict], edges: list[dict]) -> tuple[set, set]:
    """The canvas as (type, name) nodes and edges between them, ids aside."""
    names = {node["id"]: (node["type"], node["data"]["name"]) for node in nodes}
    return (
        set(names.values()),
        {(names[e["source"]], e["sourceHandle"], names[e["target"]]) for e in edges},
    )


def by_name(workflow: Workflow, kind: str, name: str) -> dict:
    return next(
        n for n in workflow.nodes if n["type"] == kind and n["data"]["name"] == name
    )


def test_three_tier_application_is_built_linked_saved_and_reloaded(
    signed_in, live_server, empty_workflow
):
    editor = EditorPage(signed_in, live_server.url, empty_workflow).open()

    # Given the three tiers added by drag and drop and by the command palette
    web = editor.drag_kind("deployment", 560, 260)
    editor.select(web)
    editor.fill("name", "web")
    editor.fill("image", "nginx:1.27")
    editor.fill("replicas", 3)
    editor.add_item("containerPorts")
    editor.fill("containerPorts[0].name", "http")
    editor.fill("containerPorts[0].containerPort", 80)
    editor.open_section("resources")
    editor.open_section("resources.requests")
    editor.fill("resources.requests.cpu", "100m")

    web_svc = editor.add_with_command_palette("add service")
    editor.fill("name", "web")
    editor.fill("ports[0].name", "http")

    config = editor.drag_kind("configmap", 260, 160)
    editor.fill("name", "web-config")
    secret = editor.add_with_command_palette("secret")
    editor.fill("name", "web-secret")
    ingress = editor.drag_kind("ingress", 780, 160)
    editor.fill("name", "web")
    editor.fill("host", "shop.example.com")
    hpa = editor.add_with_command_palette("autoscaler")
    editor.fill("name", "web")
    editor.fill("minReplicas", 3)
    editor.fill("maxReplicas", 10)
    editor.fill("targetCPUUtilization", 70)
    db = editor.drag_kind("statefulset", 560, 520)
    editor.fill("name", "postgres")
    editor.fill("image", "postgres:16.4")
    editor.fill("replicas", 1)
    editor.add_item("containerPorts")
    editor.fill("containerPorts[0].name", "postgres")
    editor.fill("containerPorts[0].containerPort", 5432)
    db_svc = editor.add_with_command_palette("service")
    editor.fill("name", "postgres")
    editor.fill("ports[0].name", "postgres")
    editor.fill("ports[0].port", 5432)
    editor.close_panel()
    editor.auto_layout()

    # When its edges are drawn port to port
    editor.drag_link(web_svc, web)
    editor.drag_link(ingress, web_svc, handle="path-0")
    editor.drag_link(hpa, web)
    editor.drag_link(config, web)
    editor.drag_link(secret, web)
    editor.drag_link(db_svc, db)
    expect(editor.edges).to_have_count(6)
    editor.select(secret)
    editor.page.locator(".kp-links .link-button").click()
    editor.field("mode").select_option("env")

    # Then the linked fields show at once, before any save
    editor.select(web_svc)
    expect(editor.node(web_svc)).to_contain_text("→ web:80")
    computed = editor.page.locator(".kp-computed pre").text_content()
    assert '"_linkedDeployment"' in computed and f'"id": "{web}"' in computed

    # And autosave stores the same graph as the fixture, with the values set
    saved = wait_until(lambda: _saved_with_edges(empty_workflow, 6))
    editor.wait_saved()
    fixture = three_tier_canvas()
    assert graph_of(saved.nodes, saved.edges) == graph_of(
        fixture["nodes"], fixture["edges"]
    )
    stored_web = by_name(saved, "deployment", "web")
    assert stored_web["data"]["image"] == "nginx:1.27"
    assert stored_web["data"]["replicas"] == 3
    assert stored_web["data"]["containerPorts"][0]["containerPort"] == 80
    assert stored_web["data"]["_linkedSecrets"][0]["mode"] == "env"
    assert by_name(saved, "service", "postgres")["data"]["ports"][0]["port"] == 5432
    assert by_name(saved, "statefulset", "postgres")["data"]["replicas"] == 1

    # And a reload shows the same graph
    editor.page.reload()
    editor.open()
    expect(editor.cards).to_have_count(8)
    expect(editor.edges).to_have_count(6)
    editor.select(web)
    expect(editor.field("image")).to_have_value("nginx:1.27")
    expect(editor.field("replicas")).to_have_value("3")
    expect(editor.field("containerPorts[0].containerPort")).to_have_value("80")


def _saved_with_edges(workflow: Workflow, count: int) -> Workflow | None:
    workflow.refresh_from_db()
    linked = [e for e in workflow.edges if (e.get("data") or {}).get("mode") == "env"]
    return workflow if len(workflow.edges) == count and linked else None


def test_a_disallowed_edge_is_refused_with_the_reason(
    signed_in, live_server, three_tier_workflow
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()
    editor.auto_layout()

    editor.drag_link("web-config", "web-svc")

    alert = editor.page.locator(".kc-toast.error")
    expect(alert).to_contain_text(
        "A ConfigMap cannot link to a Service; it can link to: Deployment, "
        "StatefulSet, DaemonSet, Job, CronJob."
    )
    expect(editor.edges).to_have_count(6)
    expect(editor.save_state).to_have_text("All changes saved")
    three_tier_workflow.refresh_from_db()
    assert len(three_tier_workflow.edges) == 6


def test_deleting_a_node_is_undone_and_redone(
    signed_in, live_server, three_tier_workflow
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()
    editor.select("web-hpa")

    editor.page.keyboard.press("Delete")
    expect(editor.node("web-hpa")).to_have_count(0)
    expect(editor.edges).to_have_count(5)
    gone = wait_until(lambda: _without(three_tier_workflow, "web-hpa"))
    assert gone.nodes[0]["data"]["_linkedAutoscaler"] is None

    editor.page.keyboard.press(f"{COMMAND_KEY}+z")
    expect(editor.node("web-hpa")).to_have_count(1)
    expect(editor.edges).to_have_count(6)
    back = wait_until(lambda: _with(three_tier_workflow, "web-hpa"))
    assert by_name(back, "deployment", "web")["data"]["_linkedAutoscaler"]["id"] == (
        "web-hpa"
    )

    editor.page.keyboard.press(f"{COMMAND_KEY}+Shift+z")
    expect(editor.node("web-hpa")).to_have_count(0)
    wait_until(lambda: _without(three_tier_workflow, "web-hpa"))
    editor.wait_saved()


def _without(workflow: Workflow, node_id: str) -> Workflow | None:
    workflow.refresh_from_db()
    return None if any(n["id"] == node_id for n in workflow.nodes) else workflow


def _with(workflow: Workflow, node_id: str) -> Workflow | None:
    workflow.refresh_from_db()
    return workflow if any(n["id"] == node_id for n in workflow.nodes) else None


def test_publish_and_run_starts_a_run_that_completes(
    signed_in, live_server, three_tier_workflow, celery_worker, kubesim
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()

    editor.page.locator("#run-button").click()

    run_bar = editor.page.locator("#run-bar")
    expect(run_bar).to_be_visible()
    run = wait_until(lambda: Run.objects.filter(workflow=three_tier_workflow).first())
    assert run.triggered_by == "manual"
    expect(run_bar).to_contain_text(str(run.pk)[:8])
    expect(run_bar).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(editor.page.locator("#state-badge")).to_have_text("published")
    expect(editor.page.locator("#edit-button")).to_be_visible()
    expect(editor.node("web").locator(".kc-node-status")).to_have_text("healthy")
    run.refresh_from_db()
    assert run.status == "completed"


def test_a_published_workflow_opens_read_only_until_edit(
    signed_in, live_server, owner, cluster
):
    from tests.factories import make_workflow

    workflow = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="published"
    )
    editor = EditorPage(signed_in, live_server.url, workflow).open()
    expect(editor.save_state).to_have_text("Read-only")
    expect(editor.page.locator("#publish-button")).to_be_hidden()
    editor.select("web")
    expect(editor.field("image")).to_be_disabled()

    editor.page.keyboard.press("Escape")
    editor.page.keyboard.press("Delete")
    expect(editor.page.locator(".kc-toast.error")).to_contain_text("published")
    expect(editor.cards).to_have_count(8)

    editor.page.locator("#edit-button").click()
    expect(editor.page.locator("#state-badge")).to_have_text("draft")
    editor.select("web")
    expect(editor.field("image")).to_be_enabled()
    wait_until(lambda: Workflow.objects.get(pk=workflow.pk).state == "draft")


def test_server_errors_show_on_the_field_and_nothing_is_stored(
    signed_in, live_server, three_tier_workflow
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()
    revision = three_tier_workflow.revision
    editor.select("web")

    editor.fill("image", "")

    expect(editor.save_state).to_have_text("Not saved: fix the problems")
    error = editor.page.locator('.kc-panel [data-field="image"] .kf-error')
    expect(error).to_be_visible()
    expect(editor.node("web")).to_have_class(re.compile(r"\bhas-errors\b"))
    expect(editor.node("web").locator(".kc-node-errors")).to_be_visible()
    three_tier_workflow.refresh_from_db()
    assert three_tier_workflow.revision == revision

    editor.fill("image", "nginx:1.28")
    expect(error).to_have_count(0, timeout=10_000)
    editor.wait_saved()
    assert by_name(three_tier_workflow, "deployment", "web")["data"]["image"] == (
        "nginx:1.28"
    )


def test_a_conflicting_save_keeps_my_edits_and_can_overwrite(
    signed_in, live_server, three_tier_workflow
):
    from workflows import actions

    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()
    theirs = three_tier_canvas()
    theirs["nodes"][0]["data"]["replicas"] = 7
    actions.save_canvas(
        three_tier_workflow.pk,
        nodes=theirs["nodes"],
        edges=theirs["edges"],
        base_revision=three_tier_workflow.revision,
    )
    editor.select("web")

    editor.fill("image", "nginx:1.29")

    dialog = editor.page.locator("dialog.kc-conflict")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Changed: deployment web (image, replicas)")
    expect(editor.save_state).to_have_text("Conflict: not saved")
    dialog.get_by_role("button", name="Overwrite with mine").click()
    editor.wait_saved()
    stored = by_name(three_tier_workflow, "deployment", "web")["data"]
    assert (stored["image"], stored["replicas"]) == ("nginx:1.29", 3)


def test_retargeting_a_link_and_changing_a_port_update_linked_fields_at_once(
    signed_in, live_server, three_tier_workflow
):
    editor = EditorPage(signed_in, live_server.url, three_tier_workflow).open()

    # When the web workload's port changes, its Service follows at once
    editor.select("web")
    editor.fill("containerPorts[0].containerPort", 8080)
    expect(editor.node("web-svc")).to_contain_text("→ web:8080")

    # And when the Service's link is re-targeted to the database
    editor.select("web-svc")
    editor.page.locator(".kp-links .link-button", has_text="web").first.click()
    editor.page.locator("#kp-edge-target").select_option("db")
    expect(editor.node("web-svc")).to_contain_text("→ postgres:5432")

    # Then the server, on save, computes the same links
    def relinked():
        three_tier_workflow.refresh_from_db()
        service = next(n for n in three_tier_workflow.nodes if n["id"] == "web-svc")
        linked = service["data"]["_linkedDeployment"]
        return linked if linked and linked["id"] == "db" else None

    assert wait_until(relinked)["ports"][0]["containerPort"] == 5432
    editor.wait_saved()
    web = by_name(three_tier_workflow, "deployment", "web")["data"]
    assert web["containerPorts"][0]["containerPort"] == 8080
    assert web["_linkedServices"] == []
