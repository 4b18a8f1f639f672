"""Lint: canvases that validate but would not work."""

import pytest

from tests.workflows.canvases import edge, node, three_tier, web
from workflows.lint import Finding, has_errors, lint_canvas


def codes(nodes, edges=(), **options) -> set[tuple[str, str, str]]:
    return {
        (f.node_id, f.level, f.code) for f in lint_canvas(nodes, list(edges), **options)
    }


def test_the_three_tier_app_is_clean():
    canvas = three_tier()

    assert lint_canvas(canvas["nodes"], canvas["edges"]) == []


def test_an_invalid_canvas_gives_error_findings_instead_of_raising():
    findings = lint_canvas(
        [web(replicas=-1), node("svc", "service")], [edge("svc", "nobody")]
    )

    assert (
        Finding(
            "web", "error", "invalid", "replicas: Replicas must be between 0 and 1000."
        )
        in findings
    )
    assert any(f.node_id == "" and "nobody" in f.message for f in findings)
    assert has_errors(findings)


def test_a_service_without_link_or_selector_selects_nothing():
    assert ("svc", "warning", "service-selects-nothing") in codes(
        [node("svc", "service")]
    )


def test_an_unlinked_selector_is_checked_against_the_workloads_pod_labels():
    nodes = [
        web(labels={"app": "web"}),
        node("svc", "service", selector={"app": "wbe"}),
    ]

    assert ("svc", "warning", "service-selects-nothing") in codes(nodes)
    nodes[1]["data"]["selector"] = {"app": "web"}
    assert codes(nodes) == set()
    nodes[1]["data"]["namespace"] = "other"
    assert ("svc", "warning", "service-selects-nothing") in codes(nodes)


def test_a_linked_service_with_its_own_selector_is_warned_about():
    nodes = [web(), node("svc", "service", selector={"app": "x"})]

    assert codes(nodes, [edge("svc", "web")]) == {
        ("svc", "warning", "service-selector-ignored")
    }


@pytest.mark.parametrize(
    "target_port, expected",
    [
        (None, set()),
        (8080, set()),
        ("http", set()),
        (9090, {("svc", "error", "service-port-mismatch")}),
        ("admin", {("svc", "error", "service-port-mismatch")}),
    ],
)
def test_a_linked_service_target_port_must_be_a_container_port(target_port, expected):
    nodes = [
        web(),
        node("svc", "service", ports=[{"port": 80, "targetPort": target_port}]),
    ]

    assert codes(nodes, [edge("svc", "web")]) == expected


def test_a_workload_without_ports_gets_a_guess_warning():
    nodes = [web(containerPorts=[]), node("svc", "service")]

    assert codes(nodes, [edge("svc", "web")]) == {
        ("svc", "warning", "service-port-guessed")
    }


def test_an_hpa_needs_a_target_with_the_requests_it_measures():
    nodes = [web(resources={}), node("hpa", "hpa", targetMemoryUtilization=70)]

    assert ("hpa", "error", "hpa-without-target") in codes(nodes)
    found = codes(nodes, [edge("hpa", "web")])
    assert found == {
        ("hpa", "error", "hpa-without-cpu-requests"),
        ("hpa", "error", "hpa-without-memory-requests"),
    }
    nodes[0] = web()
    assert codes(nodes, [edge("hpa", "web")]) == set()


def test_env_references_to_missing_objects_warn_and_missing_keys_fail():
    env = [
        {
            "name": "A",
            "valueFrom": {"kind": "secret", "name": "creds", "key": "password"},
        },
        {
            "name": "B",
            "valueFrom": {"kind": "configMap", "name": "elsewhere", "key": "k"},
        },
        {
            "name": "C",
            "valueFrom": {
                "kind": "configMap",
                "name": "gone",
                "key": "k",
                "optional": True,
            },
        },
    ]
    nodes = [web(env=env), node("creds", "secret", data={"user": "u"})]

    findings = lint_canvas(nodes, [])

    assert {(f.level, f.code) for f in findings} == {
        ("error", "missing-key"),
        ("warning", "dangling-reference"),
    }
    assert any(
        "'password'" in f.message and "add it on 'creds'" in f.message for f in findings
    )


def test_pull_secrets_and_tls_secrets_are_looked_up():
    nodes = [
        web(imagePullSecrets=["regcred", "opaque"]),
        node("opaque", "secret"),
        node("ing", "ingress", tls=[{"secretName": "cert"}, {"secretName": "opaque"}]),
        node("svc", "service"),
    ]
    edges = [edge("svc", "web"), edge("ing", "svc", "path-0")]

    found = codes(nodes, edges)

    assert found == {
        ("web", "warning", "dangling-reference"),
        ("web", "warning", "secret-type"),
        ("ing", "warning", "dangling-reference"),
        ("ing", "warning", "secret-type"),
    }


def test_an_ingress_path_without_backend_or_with_a_wrong_port_fails():
    nodes = [
        web(),
        node("svc", "service"),
        node("ing", "ingress", paths=[{"path": "/"}, {"path": "/x"}]),
    ]
    edges = [edge("svc", "web"), edge("ing", "svc", "path-0", port=81)]

    findings = lint_canvas(nodes, edges)

    assert {f.code for f in findings} == {
        "ingress-path-without-backend",
        "ingress-backend-port-missing",
    }
    assert all(f.level == "error" for f in findings)


@pytest.mark.parametrize(
    "modes, replicas, expected",
    [
        (["ReadWriteOnce"], 1, set()),
        (["ReadWriteOnce"], 3, {("data", "warning", "pvc-single-writer-shared")}),
        (["ReadWriteOncePod"], 2, {("data", "error", "pvc-single-writer-shared")}),
        (["ReadWriteMany"], 3, set()),
    ],
)
def test_a_single_writer_claim_shared_by_replicas(modes, replicas, expected):
    nodes = [
        web(replicas=replicas),
        node("data", "persistentvolumeclaim", accessModes=modes),
    ]

    assert codes(nodes, [edge("data", "web")]) == expected


def test_an_autoscaled_workload_counts_its_maximum_replicas_for_claims():
    nodes = [
        web(replicas=1),
        node("data", "persistentvolumeclaim"),
        node("hpa", "hpa", maxReplicas=4),
    ]

    assert ("data", "warning", "pvc-single-writer-shared") in codes(
        nodes, [edge("data", "web"), edge("hpa", "web")]
    )


def test_unpinned_images_are_warned_about():
    assert ("web", "warning", "image-unpinned") in codes([web(image="nginx")])
    assert ("web", "warning", "image-unpinned") in codes([web(image="nginx:latest")])
    assert codes([web(image="localhost:5000/nginx")]) == {
        ("web", "warning", "image-unpinned")
    }
    assert codes([web(image="nginx@sha256:" + "a" * 64)]) == set()


def test_a_policy_linked_to_nothing_applies_to_the_whole_namespace():
    assert codes([node("p", "networkpolicy")]) == {
        ("p", "warning", "policy-selects-all")
    }
    assert codes([node("p", "networkpolicy", podSelector={"app": "x"})]) == set()


def test_a_statefulset_without_its_governing_service():
    nodes = [node("db", "statefulset", image="postgres:16.4", headlessService=False)]

    assert codes(nodes) == {("db", "warning", "dangling-reference")}


def test_findings_follow_the_canvas_order():
    nodes = [node("b", "networkpolicy"), node("a", "networkpolicy")]

    assert [f.node_id for f in lint_canvas(nodes, [])] == ["b", "a"]
    assert not has_errors(lint_canvas(nodes, []))
