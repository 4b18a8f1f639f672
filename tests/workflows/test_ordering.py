"""Apply order: kind tiers refined by edges, deterministic."""

import pytest

from tests.workflows.canvases import edge, node, three_tier, web
from workflows.ordering import apply_levels, dependencies


def test_the_three_tier_app_goes_config_workloads_services_ingress_autoscaler():
    canvas = three_tier()

    levels = apply_levels(canvas["nodes"], canvas["edges"])

    assert levels == [
        ["web-config", "web-secret"],
        ["db", "web"],
        ["db-svc", "web-svc"],
        ["web-ingress"],
        ["web-hpa"],
    ]


def test_every_tier_in_order_with_policies_last():
    nodes = [
        node("pol", "networkpolicy"),
        node("hpa", "hpa"),
        node("ing", "ingress"),
        node("svc", "service"),
        web(),
        node("cr", "customresource"),
        node("pvc", "persistentvolumeclaim"),
    ]

    assert apply_levels(nodes, []) == [
        ["cr", "pvc"],
        ["web"],
        ["svc"],
        ["ing"],
        ["hpa"],
        ["pol"],
    ]


def test_a_node_never_precedes_what_it_depends_on():
    canvas = three_tier()
    levels = apply_levels(canvas["nodes"], canvas["edges"])
    position = {
        node_id: index for index, level in enumerate(levels) for node_id in level
    }

    for node_id, needs in dependencies(canvas["nodes"], canvas["edges"]).items():
        for dependency in needs:
            assert position[dependency] < position[node_id], (dependency, node_id)


def test_dependencies_follow_the_edge_table():
    canvas = three_tier()

    needs = dependencies(canvas["nodes"], canvas["edges"])

    assert needs["web"] == {"web-config", "web-secret"}
    assert needs["web-svc"] == {"web"}
    assert needs["web-ingress"] == {"web-svc"}
    assert needs["web-hpa"] == {"web"}
    assert needs["db"] == set()


def test_empty_tiers_leave_no_empty_levels_and_an_empty_canvas_has_none():
    assert apply_levels(
        [web(), node("pol", "networkpolicy")], [edge("pol", "web")]
    ) == [["web"], ["pol"]]
    assert apply_levels([], []) == []


def test_the_order_does_not_depend_on_the_canvas_order():
    canvas = three_tier()

    reordered = apply_levels(
        list(reversed(canvas["nodes"])), list(reversed(canvas["edges"]))
    )

    assert reordered == apply_levels(canvas["nodes"], canvas["edges"])


def test_unknown_types_are_refused():
    with pytest.raises(ValueError, match="unknown type"):
        apply_levels([node("x", "frobnicator")], [])


def test_a_large_canvas_is_ordered_quickly():
    nodes, edges = [], []
    for index in range(500):
        nodes += [web(name=f"w{index}"), node(f"s{index}", "service")]
        nodes[-2]["id"] = f"w{index}"
        edges.append(edge(f"s{index}", f"w{index}"))

    levels = apply_levels(nodes, edges)

    assert [len(level) for level in levels] == [500, 500]
