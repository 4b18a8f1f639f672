"""PersistentVolumeClaims: provisioning, binding, waiting and failing."""

from __future__ import annotations

import pytest

from kubesim import resources as r

from .test_controllers import condition, deployment, running


@pytest.fixture
def kube():
    """A fresh simulated cluster in instant mode."""
    yield from running()


def claim(name: str, class_name: str | None = None, size: str = "1Gi") -> dict:
    """Return a ReadWriteOnce claim of that class (none: the default)."""
    spec = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if class_name is not None:
        spec["storageClassName"] = class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": spec,
    }


def mounting(name: str, claim_name: str) -> dict:
    """Return a one-replica Deployment that mounts a claim."""
    body = deployment(
        name, replicas=1, volumeMounts=[{"name": "data", "mountPath": "/data"}]
    )
    body["spec"]["template"]["spec"]["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}
    ]
    return body


def test_a_claim_of_the_standard_class_is_provisioned_and_bound(kube):
    created = kube.create(r.PVC, claim("data", "standard", "5Gi"))

    found = kube.get(r.PVC, "data")
    volume = kube.get(r.PV, f"pvc-{created['metadata']['uid']}", None)
    assert found["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "5Gi"},
    }
    assert found["spec"]["volumeName"] == volume["metadata"]["name"]
    assert found["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    assert volume["status"] == {"phase": "Bound"}
    assert volume["spec"]["claimRef"]["uid"] == created["metadata"]["uid"]
    assert volume["spec"]["capacity"] == {"storage": "5Gi"}
    assert volume["spec"]["storageClassName"] == "standard"
    assert "ProvisioningSucceeded" in kube.reasons(found)


def test_a_claim_without_class_gets_the_default_one(kube):
    kube.create(r.PVC, claim("data"))

    found = kube.get(r.PVC, "data")

    assert found["spec"]["storageClassName"] == "standard"
    assert found["status"]["phase"] == "Bound"


def test_an_unknown_class_keeps_the_claim_pending_with_a_warning(kube):
    kube.create(r.PVC, claim("data", "fast-ssd"))

    found = kube.get(r.PVC, "data")

    assert found["status"]["phase"] == "Pending"
    [event] = [e for e in kube.events_for(found) if e["reason"] == "ProvisioningFailed"]
    assert (event["type"], event["message"]) == (
        "Warning",
        'storageclass.storage.k8s.io "fast-ssd" not found',
    )


def test_creating_the_missing_class_binds_the_claim(kube):
    kube.create(r.PVC, claim("data", "fast-ssd"))

    kube.create(
        r.STORAGECLASS,
        {
            "metadata": {"name": "fast-ssd"},
            "provisioner": "kubesim.io/hostpath",
            "volumeBindingMode": "Immediate",
        },
    )

    assert kube.get(r.PVC, "data")["status"]["phase"] == "Bound"


def test_a_pod_on_an_unbound_immediate_claim_is_unschedulable(kube):
    kube.create(r.PVC, claim("data", "fast-ssd"))
    kube.create(r.DEPLOYMENT, mounting("db", "data"))

    [pod] = kube.pods("db")

    scheduled = condition(pod, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert scheduled["message"].startswith(
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    )


def test_fixing_the_claim_lets_the_pod_run(kube):
    kube.create(r.PVC, claim("data", "fast-ssd"))
    kube.create(r.DEPLOYMENT, mounting("db", "data"))

    kube.delete(r.PVC, "data")
    kube.create(r.PVC, claim("data", "standard"))

    [pod] = kube.pods("db")
    assert pod["status"]["phase"] == "Running"


def test_a_pod_on_a_missing_claim_is_unschedulable(kube):
    kube.create(r.DEPLOYMENT, mounting("db", "nothing"))

    message = condition(kube.pods("db")[0], "PodScheduled")["message"]

    assert message.startswith(
        '0/3 nodes are available: persistentvolumeclaim "nothing" not found.'
    )


def test_wait_for_first_consumer_binds_when_a_pod_is_scheduled(kube):
    kube.create(r.PVC, claim("data", "local-wait"))
    pending = kube.get(r.PVC, "data")
    assert pending["status"]["phase"] == "Pending"
    [event] = [
        e for e in kube.events_for(pending) if e["reason"] == "WaitForFirstConsumer"
    ]
    assert (event["type"], event["message"]) == (
        "Normal",
        "waiting for first consumer to be created before binding",
    )

    kube.create(r.DEPLOYMENT, mounting("db", "data"))

    [pod] = kube.pods("db")
    bound = kube.get(r.PVC, "data")
    assert bound["status"]["phase"] == "Bound"
    assert (
        bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]
        == (pod["spec"]["nodeName"])
    )
    volume = kube.get(r.PV, bound["spec"]["volumeName"], None)
    term = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["values"] == [pod["spec"]["nodeName"]]
    assert pod["status"]["phase"] == "Running"


def test_deleting_a_claim_deletes_its_provisioned_volume(kube):
    kube.create(r.PVC, claim("data", "standard"))
    volume_name = kube.get(r.PVC, "data")["spec"]["volumeName"]

    kube.delete(r.PVC, "data")

    assert kube.get(r.PV, volume_name, None) is None


def test_a_static_volume_binds_a_matching_claim(kube):
    kube.create(
        r.PV,
        {
            "metadata": {"name": "manual"},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": "/srv"},
            },
        },
    )
    assert kube.get(r.PV, "manual", None)["status"]["phase"] == "Available"

    kube.create(r.PVC, claim("data", "", "2Gi"))

    assert kube.get(r.PVC, "data")["spec"]["volumeName"] == "manual"
    assert kube.get(r.PVC, "data")["status"]["capacity"] == {"storage": "10Gi"}

    kube.delete(r.PVC, "data")
    assert kube.get(r.PV, "manual", None)["status"]["phase"] == "Released"
