"""The node-kind registry: kinds, formats, schemas, summaries and docs."""

from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from tests.workflows.canvases import three_tier
from workflows.canvas import normalize_canvas
from workflows.kinds import (
    EDGE_RULES,
    GROUPS,
    KINDS,
    formats,
    get_kind,
    node_kinds_schema,
)
from workflows.kinds.docs import reference_markdown
from workflows.kinds.fields import Errors, clean_object

EXPECTED_KINDS = {
    "deployment",
    "statefulset",
    "daemonset",
    "job",
    "cronjob",
    "service",
    "ingress",
    "configmap",
    "secret",
    "persistentvolumeclaim",
    "hpa",
    "networkpolicy",
    "customresource",
}
DOCS = Path(__file__).parents[2] / "docs" / "node-kinds.md"


def test_the_registry_has_every_kind_of_the_product_once():
    assert set(KINDS) == EXPECTED_KINDS
    assert get_kind("frobnicator") is None
    assert {kind.group for kind in KINDS.values()} == set(GROUPS)


def test_every_kind_schema_is_a_valid_2020_12_json_schema():
    schema = node_kinds_schema()

    for kind in schema["kinds"]:
        jsonschema.Draft202012Validator.check_schema(kind["schema"])
        assert kind["schema"]["$schema"].endswith("/draft/2020-12/schema")
    for rule in schema["edges"]:
        jsonschema.Draft202012Validator.check_schema(rule["dataSchema"])


def test_the_schema_lists_ports_summary_and_limits_per_kind():
    kinds = {kind["key"]: kind for kind in node_kinds_schema()["kinds"]}

    deployment = kinds["deployment"]
    replicas = deployment["schema"]["properties"]["replicas"]
    assert replicas["default"] == 1 and replicas["maximum"] == 1000
    assert replicas["description"]
    assert deployment["summaryFields"] == ["image", "replicas"]
    assert deployment["ports"] == [{"handle": "in", "direction": "in"}]
    assert "image" in deployment["schema"]["required"]
    assert kinds["ingress"]["ports"][0]["repeat"] == "paths"
    secret_data = kinds["secret"]["schema"]["properties"]["data"]
    assert secret_data["x-sensitive"] is True
    assert "_linkedDeployment" in kinds["service"]["schema"]["properties"]


def test_the_schema_is_a_fresh_copy_each_time():
    first = node_kinds_schema()
    first["kinds"].clear()

    assert len(node_kinds_schema()["kinds"]) == len(KINDS)


def test_normalized_three_tier_nodes_validate_against_their_published_schema():
    canvas = three_tier()
    nodes, _ = normalize_canvas(canvas["nodes"], canvas["edges"])
    schemas = {kind["key"]: kind["schema"] for kind in node_kinds_schema()["kinds"]}

    for item in nodes:
        jsonschema.Draft202012Validator(schemas[item["type"]]).validate(item["data"])


def test_the_edge_table_is_the_one_of_the_product():
    pairs = {(rule.source, target) for rule in EDGE_RULES for target in rule.targets}

    assert ("service", "deployment") in pairs
    assert ("ingress", "service") in pairs
    assert ("hpa", "statefulset") in pairs and ("hpa", "daemonset") not in pairs
    assert ("configmap", "cronjob") in pairs and ("secret", "job") in pairs
    assert ("persistentvolumeclaim", "daemonset") not in pairs
    assert ("networkpolicy", "job") in pairs
    assert len(pairs) == 3 + 1 + 2 + 5 + 5 + 2 + 5


def test_cleaning_fills_defaults_and_refuses_unknown_keys():
    errors = Errors()
    data = clean_object(
        KINDS["service"].fields, {"name": "web", "colour": "red", "_x": 1}, errors
    )

    assert data["type"] == "ClusterIP"
    assert data["ports"] == [
        {
            "name": "",
            "port": 80,
            "targetPort": None,
            "protocol": "TCP",
            "nodePort": None,
        }
    ]
    assert "_x" not in data
    assert errors.by_path == {"colour": ["Unknown field 'colour'."]}


@pytest.mark.parametrize(
    "value, problem",
    [
        ("web", False),
        ("web-1", False),
        ("a" * 63, False),
        ("a" * 64, True),
        ("Web", True),
        ("-web", True),
        ("web.app", True),
        ("", True),
    ],
)
def test_dns_labels(value, problem):
    assert bool(formats.dns_label(value)) is problem


@pytest.mark.parametrize(
    "value, problem",
    [
        ("web.app.v2", False),
        ("web", False),
        ("web..app", True),
        ("web_app", True),
        ("a" * 254, True),
    ],
)
def test_dns_subdomains(value, problem):
    assert bool(formats.dns_subdomain(value)) is problem


@pytest.mark.parametrize(
    "value, expected",
    [
        ("250m", Decimal("0.25")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("128Mi", Decimal(128 * 2**20)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("1Gb", None),
        ("-1", None),
        ("abc", None),
        ("", None),
    ],
)
def test_quantities_parse_like_kubernetes(value, expected):
    assert formats.parse_quantity(value) == expected


def test_memory_in_thousandths_of_a_byte_is_caught_with_a_hint():
    assert "did you mean '128Mi'" in formats.byte_quantity("128m")
    assert formats.byte_quantity("512Mi") is None
    assert formats.cpu_quantity("500m") is None
    assert formats.cpu_quantity("0.0001")


@pytest.mark.parametrize(
    "expression, problem",
    [
        ("*/5 * * * *", False),
        ("0 3 * * MON-FRI", False),
        ("0 0 1 jan,jul *", False),
        ("@hourly", False),
        ("@every 1h30m", False),
        ("61 * * * *", True),
        ("* * * * * *", True),
        ("H * * * *", True),
        ("0 0 L * *", True),
        ("TZ=UTC 0 * * * *", True),
        ("every day", True),
    ],
)
def test_cron_schedules_are_checked_the_kubernetes_way(expression, problem):
    assert bool(formats.cron(expression)) is problem


@pytest.mark.parametrize(
    "reference, problem",
    [
        ("nginx", False),
        ("nginx:1.27", False),
        ("ghcr.io/org/app:v2.1", False),
        ("localhost:5000/app", False),
        ("app@sha256:" + "a" * 64, False),
        ("Nginx", True),
        ("nginx:", True),
        ("nginx latest", True),
    ],
)
def test_image_references(reference, problem):
    assert bool(formats.image(reference)) is problem


def test_time_zones_labels_paths_and_blocks():
    assert formats.time_zone("Europe/Paris") is None
    assert formats.time_zone("Mars/Olympus")
    assert formats.qualified_name("app.kubernetes.io/name") is None
    assert formats.qualified_name("bad key")
    assert formats.label_value("") is None and formats.label_value("a b")
    assert formats.mount_path("/etc/config") is None and formats.mount_path("etc")
    assert formats.mount_path("/a/../b")
    assert formats.cidr("10.0.0.0/16") is None and formats.cidr("10.0.0.0")
    assert formats.hostname("*.example.com") is None and formats.hostname("10.0.0.1")
    assert formats.iana_port_name("http") is None and formats.iana_port_name("8080")
    assert (
        formats.api_version("cert-manager.io/v1") is None
        and formats.api_version("v1beta1") is None
    )
    assert formats.api_version("Cert/V1")


def test_summaries_give_the_card_essentials():
    canvas = three_tier()
    nodes, _ = normalize_canvas(canvas["nodes"], canvas["edges"])
    summaries = {
        item["id"]: KINDS[item["type"]].summary(item["data"]) for item in nodes
    }

    assert summaries["web"] == {"image": "nginx:1.27", "replicas": 3}
    assert summaries["web-svc"] == {"type": "ClusterIP", "port": 80, "ports": 1}
    assert summaries["web-ingress"]["paths"] == 1
    assert summaries["web-config"] == {"keys": 2}
    assert summaries["db"]["claims"] == 1
    for item in nodes:
        kind = KINDS[item["type"]]
        assert set(summaries[item["id"]]) == set(kind.summary_fields)


def test_an_ingress_has_one_port_per_path():
    ports = KINDS["ingress"].ports({"paths": [{"path": "/"}, {"path": "/api"}]})

    assert [port.handle for port in ports] == ["path-0", "path-1"]
    assert {port.direction for port in ports} == {"out"}


def test_the_docs_page_is_generated_from_the_registry():
    assert DOCS.read_text() == reference_markdown(), (
        "docs/node-kinds.md is stale: run python -m workflows.kinds.docs > "
        "docs/node-kinds.md"
    )


def test_the_docs_page_names_every_kind_and_field():
    text = reference_markdown()

    for kind in KINDS.values():
        assert f"(`{kind.key}`)" in text
    assert "`volumeClaimTemplates[].mountPath` **required**" in text
    assert "`env[].value` | text, sensitive when `sensitive`" in text
