"""kubectl, a second and independent client, against the same server."""

import json
import shutil
import subprocess

import pytest

KUBECTL = shutil.which("kubectl")

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {{app: web}}
  ports:
  - port: 80
"""


@pytest.fixture
def kubectl(cluster, tmp_path):
    cache = tmp_path / "kube-cache"

    def run(*args, stdin=None, check=True):
        command = [
            KUBECTL,
            "--kubeconfig",
            cluster.kubeconfig,
            "--cache-dir",
            str(cache),
            *args,
        ]
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed: {done.stderr}")
        return done

    return run


def server_side_apply(kubectl, namespace, manifest, *flags, check=True):
    """Run `kubectl apply --server-side` of a manifest given on stdin."""
    return kubectl(
        "apply", "--server-side", *flags, "-n", namespace, "-f", "-",
        stdin=manifest, check=check,
    )  # fmt: skip


def test_version_talks_to_the_server(kubectl):
    output = json.loads(kubectl("version", "-o", "json").stdout)

    assert output["serverVersion"]["major"] == "1"


def test_get_namespaces_as_json(kubectl):
    output = json.loads(kubectl("get", "namespaces", "-o", "json").stdout)

    assert output["kind"] == "List" or output["kind"] == "NamespaceList"
    assert "default" in {i["metadata"]["name"] for i in output["items"]}


def test_server_side_apply_then_get_and_delete(kubectl, namespace):
    manifest = DEPLOYMENT.format(replicas=2)

    applied = server_side_apply(kubectl, namespace, manifest)
    assert "deployment.apps/web serverside-applied" in applied.stdout

    table = kubectl("get", "deployments", "-n", namespace).stdout
    assert table.splitlines()[0].split()[:2] == ["NAME", "READY"]
    assert "web" in table

    live = json.loads(
        kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout
    )
    assert live["spec"]["replicas"] == 2

    deleted = kubectl("delete", "-n", namespace, "-f", "-", stdin=manifest)
    assert 'deployment.apps "web" deleted' in deleted.stdout
    missing = kubectl("get", "deployment", "web", "-n", namespace, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_server_side_apply_without_client_validation(kubectl, namespace):
    manifest = DEPLOYMENT.format(replicas=1)

    applied = server_side_apply(kubectl, namespace, manifest, "--validate=false")

    assert "serverside-applied" in applied.stdout


def test_server_side_apply_conflict_and_force(kubectl, namespace):
    server_side_apply(
        kubectl,
        namespace,
        DEPLOYMENT.format(replicas=1),
    )
    other = DEPLOYMENT.format(replicas=3)

    refused = server_side_apply(
        kubectl, namespace, other, "--field-manager", "someone-else", check=False
    )
    assert refused.returncode != 0
    assert "conflict" in refused.stderr.lower()

    server_side_apply(
        kubectl,
        namespace,
        other,
        "--force-conflicts",
        "--field-manager",
        "someone-else",
    )
    live = json.loads(
        kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout
    )
    assert live["spec"]["replicas"] == 3


def test_client_side_apply_creates_then_configures(kubectl, namespace):
    first = kubectl(
        "apply", "-n", namespace, "-f", "-", stdin=DEPLOYMENT.format(replicas=1)
    )
    again = kubectl(
        "apply", "-n", namespace, "-f", "-", stdin=DEPLOYMENT.format(replicas=1)
    )
    changed = kubectl(
        "apply", "-n", namespace, "-f", "-", stdin=DEPLOYMENT.format(replicas=4)
    )

    assert "deployment.apps/web created" in first.stdout
    assert "deployment.apps/web unchanged" in again.stdout
    assert "deployment.apps/web configured" in changed.stdout


def test_label_selector_and_jsonpath(kubectl, namespace):
    server_side_apply(
        kubectl,
        namespace,
        DEPLOYMENT.format(replicas=1),
    )

    names = kubectl(
        "get",
        "services",
        "-n",
        namespace,
        "-l",
        "app!=nothing",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ).stdout

    assert names.split() == ["web"]


def test_get_pods_shows_status_columns(kubectl, namespace):
    server_side_apply(
        kubectl,
        namespace,
        DEPLOYMENT.format(replicas=1),
    )

    header = kubectl("get", "pods", "-n", namespace).stdout.splitlines()[0].split()

    assert header[:4] == ["NAME", "READY", "STATUS", "RESTARTS"]


def test_scale_through_the_subresource(kubectl, namespace):
    server_side_apply(
        kubectl,
        namespace,
        DEPLOYMENT.format(replicas=1),
    )

    kubectl("scale", "deployment/web", "-n", namespace, "--replicas=5")

    live = json.loads(
        kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout
    )
    assert live["spec"]["replicas"] == 5


def test_diff_against_the_server(kubectl, namespace):
    server_side_apply(
        kubectl,
        namespace,
        DEPLOYMENT.format(replicas=1),
    )

    same = kubectl(
        "diff",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=DEPLOYMENT.format(replicas=1),
        check=False,
    )
    changed = kubectl(
        "diff",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=DEPLOYMENT.format(replicas=2),
        check=False,
    )

    assert same.returncode == 0, same.stderr
    assert changed.returncode == 1, changed.stderr
    assert "replicas: 2" in changed.stdout


def test_typed_create_commands_send_protobuf_and_work(kubectl, namespace):
    kubectl("create", "configmap", "cm", "--from-literal=a=b", "-n", namespace)
    kubectl(
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=pw=hunter2",
        "-n",
        namespace,
    )
    kubectl(
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--port=80",
        "-n",
        namespace,
    )
    kubectl("create", "service", "nodeport", "web", "--tcp=80:8080", "-n", namespace)

    def get(kind, name):
        done = kubectl("get", kind, name, "-n", namespace, "-o", "json")
        return json.loads(done.stdout)

    assert get("configmap", "cm")["data"] == {"a": "b"}
    assert get("secret", "creds")["data"] == {"pw": "aHVudGVyMg=="}
    container = get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["ports"][0]["containerPort"]) == (
        "nginx:1.27",
        80,
    )
    port = get("service", "web")["spec"]["ports"][0]
    assert (port["port"], port["targetPort"], port["protocol"]) == (80, 8080, "TCP")
    assert 30000 <= port["nodePort"] <= 32767


def test_create_namespace_from_the_command_line(kubectl):
    kubectl("create", "namespace", "t-from-kubectl")
    try:
        listed = kubectl("get", "namespace", "t-from-kubectl", "-o", "name").stdout
    finally:
        kubectl("delete", "namespace", "t-from-kubectl")

    assert listed.strip() == "namespace/t-from-kubectl"
