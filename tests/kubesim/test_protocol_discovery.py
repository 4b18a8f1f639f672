"""Discovery: /version, /api, /apis and the resource lists clients rely on."""

from kubernetes import client


def test_version_is_served_with_and_without_trailing_slash(api_client, raw):
    info = client.VersionApi(api_client).get_code()
    assert info.major == "1"
    assert 27 <= int(info.minor.rstrip("+")) <= 33

    plain = raw("GET", "/version")
    assert plain.status == 200
    assert plain.body["gitVersion"] == info.git_version


def test_core_resource_list_names_kinds_verbs_and_subresources(raw):
    response = raw("GET", "/api/v1")

    assert response.body["kind"] == "APIResourceList"
    resources = {r["name"]: r for r in response.body["resources"]}
    assert resources["pods"]["kind"] == "Pod"
    assert resources["pods"]["namespaced"] is True
    assert "po" in resources["pods"]["shortNames"]
    assert {"create", "get", "list", "watch", "patch", "delete"} <= set(
        resources["pods"]["verbs"]
    )
    assert "pods/log" in resources and "pods/status" in resources
    assert resources["namespaces"]["namespaced"] is False
    assert resources["services"]["shortNames"] == ["svc"]


def test_group_list_and_group_version_documents(raw):
    groups = {g["name"]: g for g in raw("GET", "/apis").body["groups"]}

    assert groups["apps"]["preferredVersion"]["groupVersion"] == "apps/v1"
    for name in ("batch", "networking.k8s.io", "autoscaling", "apiextensions.k8s.io"):
        assert name in groups

    apps = raw("GET", "/apis/apps").body
    assert apps["kind"] == "APIGroup"
    resources = {r["name"]: r for r in raw("GET", "/apis/apps/v1").body["resources"]}
    assert resources["deployments/scale"]["kind"] == "Scale"
    assert resources["deployments/scale"]["group"] == "autoscaling"
    assert "deployments/status" in resources
    assert "statefulsets/scale" in resources


def test_unknown_group_version_is_404(raw):
    assert raw("GET", "/apis/nothing.example.com/v1").status == 404
    assert raw("GET", "/apis/apps/v9").status == 404


def test_dynamic_client_resolves_builtin_kinds(dyn):
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.name == "deployments"
    assert deployments.namespaced is True

    services = dyn.resources.get(api_version="v1", kind="Service")
    assert services.name == "services"


def test_openapi_v3_index_points_at_group_documents(raw):
    index = raw("GET", "/openapi/v3").body["paths"]
    url = index["apis/apps/v1"]["serverRelativeURL"]

    document = raw("GET", url.split("?")[0]).body
    patch = document["paths"][
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    ]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
