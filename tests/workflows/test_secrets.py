"""Sealing and masking the sensitive values of a canvas."""

import json

import pytest

from tests.workflows.canvases import (
    node,
    reveal_for_tests,
    seal_for_tests,
    three_tier,
    web,
)
from workflows.canvas import CanvasInvalid, normalize_canvas
from workflows.secrets import (
    MASK,
    is_sealed,
    mask_canvas,
    reseal_canvas,
    seal_canvas,
    sealed_paths,
)

SENSITIVE_ENV = [
    {"name": "PLAIN", "value": "visible"},
    {"name": "TOKEN", "value": "t0ken", "sensitive": True},
    {"name": "FROM", "valueFrom": {"kind": "secret", "name": "s", "key": "k"}},
]


def saved(nodes, previous=()):
    cleaned, _ = normalize_canvas(nodes, [])
    return seal_canvas(cleaned, list(previous), seal_for_tests)


def test_secret_data_and_sensitive_env_values_are_sealed_and_nothing_else():
    nodes = saved(
        [
            node("creds", "secret", data={"password": "pw", "empty": ""}),
            web(env=SENSITIVE_ENV),
        ]
    )

    creds, workload = nodes
    assert reveal_for_tests(creds["data"]["data"]["password"]) == "pw"
    assert is_sealed(creds["data"]["data"]["empty"])
    env = {var["name"]: var for var in workload["data"]["env"]}
    assert reveal_for_tests(env["TOKEN"]["value"]) == "t0ken"
    assert env["PLAIN"]["value"] == "visible"
    assert "pw" not in json.dumps(nodes) and "t0ken" not in json.dumps(nodes)


def test_sealing_leaves_the_input_and_sealed_values_alone():
    nodes = [node("creds", "secret", data={"a": "enc:already"})]

    sealed = saved(nodes)

    assert sealed[0]["data"]["data"]["a"] == "enc:already"
    assert nodes[0]["data"]["data"]["a"] == "enc:already"


def test_the_mask_keeps_the_stored_value_even_when_the_env_list_was_reordered():
    first = saved(
        [web(env=SENSITIVE_ENV), node("creds", "secret", data={"password": "pw"})]
    )
    shown = mask_canvas(first)
    shown[0]["data"]["env"].reverse()

    second = saved(shown, previous=first)

    assert second[1]["data"]["data"]["password"] == first[1]["data"]["data"]["password"]
    token = next(var for var in second[0]["data"]["env"] if var["name"] == "TOKEN")
    assert reveal_for_tests(token["value"]) == "t0ken"


def test_the_mask_without_a_stored_value_is_refused_per_field():
    previous = saved([node("creds", "secret", data={"password": "pw"})])
    nodes = [node("creds", "secret", data={"password": MASK, "other": MASK})]

    with pytest.raises(CanvasInvalid) as caught:
        saved(nodes, previous=previous)

    assert list(caught.value.errors["nodes"]["creds"]) == ["data[other]"]


def test_a_node_of_another_type_with_the_same_id_keeps_nothing():
    previous = saved([node("x", "secret", data={"password": "pw"})])
    nodes = [web(env=[{"name": "password", "value": MASK, "sensitive": True}])]
    nodes[0]["id"] = "x"

    with pytest.raises(CanvasInvalid):
        saved(nodes, previous=previous)


def test_masking_hides_every_sensitive_value_and_only_those():
    nodes = saved(
        [
            web(env=SENSITIVE_ENV),
            node("creds", "secret", data={"password": "pw", "empty": ""}),
        ]
    )

    masked = mask_canvas(nodes)

    assert "enc:" not in json.dumps(masked)
    env = {var["name"]: var for var in masked[0]["data"]["env"]}
    assert env["TOKEN"]["value"] == MASK and env["PLAIN"]["value"] == "visible"
    assert masked[1]["data"]["data"] == {"password": MASK, "empty": MASK}
    assert is_sealed(nodes[1]["data"]["data"]["password"]), "the input must not change"


def test_the_three_tier_secrets_never_show_in_clear_after_a_save():
    canvas = three_tier()
    clear = ["pg-pa55w0rd-for-tests", "t0k3n-for-tests", "s3ss10n-k3y-f0r-t3sts"]

    stored = saved(canvas["nodes"])

    for value in clear:
        assert value not in json.dumps(stored)
        assert value not in json.dumps(mask_canvas(stored))


def test_sealed_paths_name_the_fields():
    workload = web(env=SENSITIVE_ENV)

    assert sealed_paths(workload) == ["env[1].value"]
    assert sealed_paths(node("s", "secret", data={"a": "1", "b": "2"})) == [
        "data[a]",
        "data[b]",
    ]
    assert sealed_paths({"id": "x", "type": "frobnicator"}) == []


def test_resealing_turns_every_token_into_a_new_one():
    nodes = saved(
        [web(env=SENSITIVE_ENV), node("creds", "secret", data={"password": "pw"})]
    )

    resealed = reseal_canvas(
        nodes, lambda token: seal_for_tests(reveal_for_tests(token) + "!")
    )

    assert reveal_for_tests(resealed[1]["data"]["data"]["password"]) == "pw!"
    env = {var["name"]: var for var in resealed[0]["data"]["env"]}
    assert reveal_for_tests(env["TOKEN"]["value"]) == "t0ken!"
    assert env["PLAIN"]["value"] == "visible"


def test_a_long_sealed_value_still_validates_when_rendered_later():
    long_value = "x" * 60_000
    stored = saved([web(env=[{"name": "BIG", "value": long_value, "sensitive": True}])])

    assert len(stored[0]["data"]["env"][0]["value"]) > 65_536
    normalize_canvas(stored, [])
