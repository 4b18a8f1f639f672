"""Services, Endpoints, EndpointSlices, load balancers and Ingresses."""

from __future__ import annotations

import pytest

from kubesim import resources as r

from .test_controllers import deployment, running


@pytest.fixture
def realistic_kube():
    """A fresh simulated cluster in realistic mode, stepped by hand."""
    yield from running(realistic=True)


@pytest.fixture
def kube():
    """A fresh simulated cluster in instant mode."""
    yield from running()


def service(
    name: str, selector: dict | None, port: int = 80, target=None, **spec
) -> dict:
    """Return a Service with one TCP port."""
    port_spec = {"name": "http", "port": port, "protocol": "TCP"}
    if target is not None:
        port_spec["targetPort"] = target
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "kubeorch", "tier": "front"},
        },
        "spec": {"ports": [port_spec], **spec},
    }
    if selector is not None:
        body["spec"]["selector"] = selector
    return body


def addresses(endpoints: dict, field: str = "addresses") -> list[str]:
    """Return the IPs of one kind of address across the subsets."""
    return sorted(
        a["ip"] for s in endpoints.get("subsets") or [] for a in s.get(field) or []
    )


def test_endpoints_list_the_ready_pods_of_the_selector(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    kube.create(r.SERVICE, service("web", {"app": "web"}, target=80))

    endpoints = kube.get(r.ENDPOINTS, "web")

    pods = kube.pods("web")
    assert addresses(endpoints) == sorted(p["status"]["podIP"] for p in pods)
    [subset] = endpoints["subsets"]
    assert subset["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
    address = subset["addresses"][0]
    assert address["targetRef"]["kind"] == "Pod"
    assert address["nodeName"].startswith("kubesim-node-")
    assert endpoints["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "kubeorch",
        "tier": "front",
    }


def test_named_target_ports_resolve_against_container_ports(kube):
    kube.create(
        r.DEPLOYMENT, deployment("web", ports=[{"name": "web", "containerPort": 8080}])
    )
    kube.create(r.SERVICE, service("web", {"app": "web"}, target="web"))

    [subset] = kube.get(r.ENDPOINTS, "web")["subsets"]

    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_a_target_port_no_container_names_gives_no_endpoints(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    kube.create(r.SERVICE, service("web", {"app": "web"}, target="metrics"))

    endpoints = kube.get(r.ENDPOINTS, "web")

    assert "subsets" not in endpoints


def test_unready_pods_are_listed_as_not_ready(kube):
    probe = {"httpGet": {"path": "/", "port": 80}}
    kube.create(
        r.DEPLOYMENT,
        deployment("web", image="kubesim/unready", replicas=2, readinessProbe=probe),
    )
    kube.create(r.SERVICE, service("web", {"app": "web"}))

    endpoints = kube.get(r.ENDPOINTS, "web")

    assert addresses(endpoints) == []
    assert len(addresses(endpoints, "notReadyAddresses")) == 2
    [piece] = kube.list(r.ENDPOINTSLICE)
    assert [e["conditions"] for e in piece["endpoints"]] == [
        {"ready": False, "serving": False, "terminating": False}
    ] * 2


def test_a_selector_matching_nothing_leaves_the_endpoints_empty(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    kube.create(r.SERVICE, service("web", {"app": "api"}))

    assert "subsets" not in kube.get(r.ENDPOINTS, "web")
    [piece] = kube.list(r.ENDPOINTSLICE)
    assert piece["endpoints"] is None


def test_endpoints_follow_pods_and_selector_changes(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=2))
    kube.create(r.DEPLOYMENT, deployment("api", replicas=1))
    kube.create(r.SERVICE, service("svc", {"app": "web"}))
    assert len(addresses(kube.get(r.ENDPOINTS, "svc"))) == 2

    kube.change(r.DEPLOYMENT, "web", lambda d: d["spec"].__setitem__("replicas", 4))
    assert len(addresses(kube.get(r.ENDPOINTS, "svc"))) == 4

    kube.change(
        r.SERVICE, "svc", lambda s: s["spec"].__setitem__("selector", {"app": "api"})
    )
    assert addresses(kube.get(r.ENDPOINTS, "svc")) == [
        kube.pods("api")[0]["status"]["podIP"]
    ]


def test_endpoint_slices_carry_the_service_name_and_owner(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=2))
    svc = kube.create(r.SERVICE, service("web", {"app": "web"}))

    [piece] = kube.list(r.ENDPOINTSLICE)

    assert piece["metadata"]["name"].startswith("web-")
    assert piece["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "kubeorch",
        "tier": "front",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    assert piece["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert piece["addressType"] == "IPv4"
    assert piece["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
    assert sorted(e["addresses"][0] for e in piece["endpoints"]) == sorted(
        p["status"]["podIP"] for p in kube.pods("web")
    )
    assert all(e["conditions"]["ready"] for e in piece["endpoints"])
    assert all(e["zone"].startswith("kubesim-") for e in piece["endpoints"])


def test_deleting_a_service_removes_its_endpoints_and_slices(kube):
    kube.create(r.DEPLOYMENT, deployment("web"))
    kube.create(r.SERVICE, service("web", {"app": "web"}))

    kube.delete(r.SERVICE, "web")

    assert kube.get(r.ENDPOINTS, "web") is None
    assert kube.list(r.ENDPOINTSLICE) == []


def test_a_service_without_selector_keeps_its_own_endpoints(kube):
    kube.create(r.SERVICE, service("external", None))
    kube.create(
        r.ENDPOINTS,
        {
            "metadata": {"name": "external"},
            "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}],
        },
    )

    assert addresses(kube.get(r.ENDPOINTS, "external")) == ["192.0.2.10"]


def test_load_balancer_service_gets_an_address(kube):
    kube.create(r.SERVICE, service("web", {"app": "web"}, type="LoadBalancer"))
    kube.create(r.SERVICE, service("api", {"app": "api"}, type="LoadBalancer"))

    ips = [
        kube.get(r.SERVICE, n)["status"]["loadBalancer"]["ingress"][0]["ip"]
        for n in ("web", "api")
    ]

    assert ips[0] != ips[1]
    assert all(ip.startswith("172.18.255.") for ip in ips)
    assert "EnsuredLoadBalancer" in kube.reasons(kube.get(r.SERVICE, "web"))


def test_load_balancer_address_takes_a_moment_in_realistic_mode(realistic_kube):
    kube = realistic_kube
    kube.create(r.SERVICE, service("web", {"app": "web"}, type="LoadBalancer"))
    assert kube.get(r.SERVICE, "web")["status"]["loadBalancer"] == {}

    kube.advance(2)

    assert kube.get(r.SERVICE, "web")["status"]["loadBalancer"]["ingress"][0]["ip"]


def test_a_load_balancer_class_nobody_serves_gets_no_address(kube):
    kube.create(
        r.SERVICE,
        service(
            "web",
            {"app": "web"},
            type="LoadBalancer",
            loadBalancerClass="example.com/other",
        ),
    )

    assert kube.get(r.SERVICE, "web")["status"]["loadBalancer"] == {}


def ingress(name: str, class_name: str | None = None) -> dict:
    """Return an Ingress routing / to the Service "web"."""
    spec = {
        "rules": [
            {
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": "web", "port": {"number": 80}}
                            },
                        }
                    ]
                }
            }
        ]
    }
    if class_name:
        spec["ingressClassName"] = class_name
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_ingress_of_the_default_class_gets_an_address(kube):
    kube.create(r.INGRESS, ingress("plain"))
    kube.create(r.INGRESS, ingress("named", "kubesim"))

    for name in ("plain", "named"):
        assert kube.get(r.INGRESS, name)["status"]["loadBalancer"]["ingress"] == [
            {"ip": "172.18.255.200"}
        ]


def test_ingress_of_a_class_without_controller_never_gets_an_address(kube):
    kube.create(r.INGRESS, ingress("lost", "no-controller"))

    kube.advance(3600)

    assert (
        not (kube.get(r.INGRESS, "lost").get("status") or {})
        .get("loadBalancer", {})
        .get("ingress")
    )


def test_ingress_class_of_another_controller_is_not_served(kube):
    kube.create(
        r.INGRESSCLASS,
        {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}},
    )
    kube.create(r.INGRESS, ingress("other", "nginx"))

    assert not (kube.get(r.INGRESS, "other").get("status") or {}).get("loadBalancer")


def test_ingress_address_appears_once_its_class_is_created(kube):
    kube.create(r.INGRESS, ingress("late", "edge"))

    kube.create(
        r.INGRESSCLASS,
        {
            "metadata": {"name": "edge"},
            "spec": {"controller": "kubesim.io/ingress-controller"},
        },
    )

    assert kube.get(r.INGRESS, "late")["status"]["loadBalancer"]["ingress"]
