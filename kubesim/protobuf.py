"""Decode the protobuf bodies kubectl's typed commands send, for a few kinds.

`kubectl create namespace|configmap|secret|serviceaccount|deployment` send
`application/vnd.kubernetes.protobuf`: the bytes ``k8s\\0`` then a
runtime.Unknown message wrapping the object. Only the fields listed in the
schemas below are understood; any other field with a value raises, so an
object is never stored with something silently missing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not protobuf kubesim can decode."""


@dataclass(frozen=True)
class Field:
    """One message field: its JSON name and how to read it."""

    name: str
    kind: str  # string, int, bool, bytes, message, map, map-bytes
    message: str = ""
    repeated: bool = False


def _f(name, kind, message="", repeated=False):
    return Field(name, kind, message, repeated)


SCHEMAS: dict[str, dict[int, Field]] = {
    "Unknown": {
        1: _f("typeMeta", "message", "TypeMeta"),
        2: _f("raw", "bytes"),
        3: _f("contentEncoding", "string"),
        4: _f("contentType", "string"),
    },
    "TypeMeta": {1: _f("apiVersion", "string"), 2: _f("kind", "string")},
    "ObjectMeta": {
        1: _f("name", "string"),
        2: _f("generateName", "string"),
        3: _f("namespace", "string"),
        11: _f("labels", "map"),
        12: _f("annotations", "map"),
        13: _f("ownerReferences", "message", "OwnerReference", repeated=True),
        14: _f("finalizers", "string", repeated=True),
    },
    "OwnerReference": {
        1: _f("kind", "string"),
        3: _f("name", "string"),
        4: _f("uid", "string"),
        5: _f("apiVersion", "string"),
        6: _f("controller", "bool"),
        7: _f("blockOwnerDeletion", "bool"),
    },
    "Namespace": {
        1: _f("metadata", "message", "ObjectMeta"),
        2: _f("spec", "message", "NamespaceSpec"),
    },
    "NamespaceSpec": {1: _f("finalizers", "string", repeated=True)},
    "ConfigMap": {
        1: _f("metadata", "message", "ObjectMeta"),
        2: _f("data", "map"),
        3: _f("binaryData", "map-bytes"),
        4: _f("immutable", "bool"),
    },
    "Secret": {
        1: _f("metadata", "message", "ObjectMeta"),
        2: _f("data", "map-bytes"),
        3: _f("type", "string"),
        4: _f("stringData", "map"),
        5: _f("immutable", "bool"),
    },
    "ServiceAccount": {
        1: _f("metadata", "message", "ObjectMeta"),
        4: _f("automountServiceAccountToken", "bool"),
    },
    "Deployment": {
        1: _f("metadata", "message", "ObjectMeta"),
        2: _f("spec", "message", "DeploymentSpec"),
    },
    "DeploymentSpec": {
        1: _f("replicas", "int"),
        2: _f("selector", "message", "LabelSelector"),
        3: _f("template", "message", "PodTemplateSpec"),
        4: _f("strategy", "message", "DeploymentStrategy"),
        5: _f("minReadySeconds", "int"),
        6: _f("revisionHistoryLimit", "int"),
        7: _f("paused", "bool"),
        9: _f("progressDeadlineSeconds", "int"),
    },
    "DeploymentStrategy": {1: _f("type", "string")},
    "LabelSelector": {1: _f("matchLabels", "map")},
    "PodTemplateSpec": {
        1: _f("metadata", "message", "ObjectMeta"),
        2: _f("spec", "message", "PodSpec"),
    },
    "PodSpec": {
        2: _f("containers", "message", "Container", repeated=True),
        3: _f("restartPolicy", "string"),
        6: _f("dnsPolicy", "string"),
        8: _f("serviceAccountName", "string"),
        9: _f("nodeName", "string"),
        11: _f("hostNetwork", "bool"),
        12: _f("hostPID", "bool"),
        13: _f("hostIPC", "bool"),
        16: _f("hostname", "string"),
        17: _f("subdomain", "string"),
        19: _f("schedulerName", "string"),
        24: _f("priorityClassName", "string"),
    },
    "Container": {
        1: _f("name", "string"),
        2: _f("image", "string"),
        3: _f("command", "string", repeated=True),
        4: _f("args", "string", repeated=True),
        5: _f("workingDir", "string"),
        6: _f("ports", "message", "ContainerPort", repeated=True),
        7: _f("env", "message", "EnvVar", repeated=True),
        8: _f("resources", "message", "ResourceRequirements"),
        13: _f("terminationMessagePath", "string"),
        14: _f("imagePullPolicy", "string"),
        16: _f("stdin", "bool"),
        17: _f("stdinOnce", "bool"),
        18: _f("tty", "bool"),
        20: _f("terminationMessagePolicy", "string"),
    },
    "ContainerPort": {
        1: _f("name", "string"),
        2: _f("hostPort", "int"),
        3: _f("containerPort", "int"),
        4: _f("protocol", "string"),
    },
    "EnvVar": {1: _f("name", "string"), 2: _f("value", "string")},
    "ResourceRequirements": {},
    "Service": {
        1: _f("metadata", "message", "ObjectMeta"),
        2: _f("spec", "message", "ServiceSpec"),
    },
    "ServiceSpec": {
        1: _f("ports", "message", "ServicePort", repeated=True),
        2: _f("selector", "map"),
        3: _f("clusterIP", "string"),
        4: _f("type", "string"),
        5: _f("externalIPs", "string", repeated=True),
        7: _f("sessionAffinity", "string"),
        8: _f("loadBalancerIP", "string"),
        10: _f("externalName", "string"),
        11: _f("externalTrafficPolicy", "string"),
        12: _f("healthCheckNodePort", "int"),
        13: _f("publishNotReadyAddresses", "bool"),
    },
    "ServicePort": {
        1: _f("name", "string"),
        2: _f("protocol", "string"),
        3: _f("port", "int"),
        4: _f("targetPort", "intorstring"),
        5: _f("nodePort", "int"),
        6: _f("appProtocol", "string"),
    },
}
# Messages of a kind's status are skipped whole: the server resets status anyway.
_TOP_LEVEL_STATUS = {"Namespace": 3, "Deployment": 3, "Service": 3}


def decode_object(body: bytes) -> dict:
    """Return the JSON form of a protobuf-encoded object; ProtobufError if unknown."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the k8s protobuf magic")
    envelope = _message(body[len(MAGIC) :], "Unknown", raw_bytes=True)
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in SCHEMAS:
        raise ProtobufError(
            f"kubesim cannot decode {kind or 'this kind'} from protobuf"
        )
    obj = _message(envelope.get("raw", b""), kind, skip=_TOP_LEVEL_STATUS.get(kind))
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if offset >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def _fields(data: bytes):
    """Yield (field number, wire type, value) for every field of a message."""
    offset = 0
    while offset < len(data):
        key, offset = _varint(data, offset)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, offset = _varint(data, offset)
        elif wire == 2:
            length, offset = _varint(data, offset)
            value, offset = data[offset : offset + length], offset + length
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        yield number, wire, value


def _message(data: bytes, schema_name: str, *, raw_bytes=False, skip=None) -> dict:
    schema = SCHEMAS[schema_name]
    result: dict = {}
    for number, _wire, value in _fields(data):
        if number == skip:
            continue
        field = schema.get(number)
        if field is None:
            if value in (0, b""):
                continue
            raise ProtobufError(
                f"kubesim cannot decode field {number} of {schema_name} from protobuf"
            )
        decoded = _value(field, value, raw_bytes)
        if field.repeated:
            result.setdefault(field.name, []).append(decoded)
        elif field.kind in ("map", "map-bytes"):
            result.setdefault(field.name, {}).update(decoded)
        else:
            result[field.name] = decoded
    return _without_empty(result)


def _value(field: Field, value, raw_bytes: bool):
    if field.kind == "string":
        return value.decode()
    if field.kind == "int":
        return value
    if field.kind == "bool":
        return bool(value)
    if field.kind == "bytes":
        return value if raw_bytes else base64.b64encode(value).decode()
    if field.kind == "message":
        return _message(value, field.message)
    if field.kind == "intorstring":
        parts = {n: v for n, _, v in _fields(value)}
        return parts.get(3, b"").decode() if parts.get(1) == 1 else parts.get(2, 0)
    entry = {n: v for n, _, v in _fields(value)}
    key = entry.get(1, b"").decode()
    item = entry.get(2, b"")
    if field.kind == "map-bytes":
        return {key: base64.b64encode(item).decode()}
    return {key: item.decode()}


def _without_empty(result: dict) -> dict:
    # JSON omits empty values (omitempty); proto2 writes them explicitly.
    return {k: v for k, v in result.items() if v not in ("", False, None, {}, [])}
