"""Pod exec: WebSocket channel protocol, the fake shell, session tracking.

Driven by the official client's `kubernetes.stream` and by kubectl, over
real WebSockets against kubesim.
"""

import json
import subprocess
import time
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream
from websocket import ABNF, create_connection

from .helpers import eventually


@pytest.fixture
def web(core, namespace, sim):
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "cfg"}, "data": {"app.properties": "cache.ttl=60\n"}},
    )
    core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "db"}, "stringData": {"password": "hunter2-secret"}},
    )
    container = {
        "name": "web",
        "image": "nginx:1.27",
        "env": [
            {"name": "APP_ENV", "value": "production"},
            {
                "name": "LEVEL",
                "valueFrom": {
                    "configMapKeyRef": {"name": "cfg", "key": "app.properties"}
                },
            },
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
            },
        ],
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/config"},
            {"name": "secrets", "mountPath": "/etc/secrets"},
        ],
    }
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "containers": [container],
                "volumes": [
                    {"name": "config", "configMap": {"name": "cfg"}},
                    {"name": "secrets", "secret": {"secretName": "db"}},
                ],
            },
        },
    )
    assert eventually(
        lambda: core.read_namespaced_pod("web", namespace).status.phase == "Running"
    )
    return "web"


def run(core, namespace, pod, command, **kwargs):
    """Run a command to its end and return (stdout, stderr, exit code)."""
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        command=command,
        stdin=False,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
        **kwargs,
    )
    ws.run_forever(timeout=10)
    return ws.read_stdout(), ws.read_stderr(), ws.returncode


def test_a_command_runs_and_reports_its_exit_code(core, namespace, web):
    out, err, code = run(core, namespace, web, ["sh", "-c", "hostname; exit 3"])

    assert out == "web\n"
    assert err == ""
    assert code == 3


def test_the_shell_reads_virtual_files_and_config_volumes(core, namespace, web):
    out, _, code = run(
        core,
        namespace,
        web,
        ["sh", "-c", "cat /etc/hostname /etc/config/app.properties"],
    )
    release, _, _ = run(core, namespace, web, ["cat", "/etc/os-release"])
    listing, _, _ = run(core, namespace, web, ["ls", "/etc/config"])

    assert code == 0
    assert out == "web\ncache.ttl=60\n"
    assert "ID=debian" in release
    assert listing == "app.properties\n"


def test_secret_values_never_show_in_the_shell(core, namespace, web):
    out, _, code = run(
        core,
        namespace,
        web,
        [
            "sh",
            "-c",
            "echo $DB_PASSWORD; cat /etc/secrets/password; ls -l /etc/secrets; env",
        ],
    )

    assert code == 0
    assert "hunter2-secret" not in out
    assert out.startswith("********\n********\n")
    assert "password" in out and " 14 " in out, "the file shows its true size"
    assert "APP_ENV=production" in out
    assert "LEVEL=cache.ttl=60" in out


def test_an_unknown_command_is_an_exec_failure(core, namespace, web):
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        web,
        namespace,
        command=["curl", "http://example.com"],
        stdout=True,
        stderr=True,
        _preload_content=False,
    )
    ws.run_forever(timeout=10)
    status = json.loads(ws.read_channel(3))

    assert status["status"] == "Failure"
    assert '"curl": executable file not found' in status["message"]


def test_an_interactive_tty_shell_echoes_prompts_and_resizes(core, namespace, web, sim):
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        web,
        namespace,
        command=["/bin/sh"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=True,
        _preload_content=False,
    )
    assert ws.subprotocol == "v5.channel.k8s.io"
    ws.write_channel(4, json.dumps({"Width": 132, "Height": 43}))
    ws.write_stdin("cd /etc/con\x7f\x7f\x7fconfig\rpwd\rstty size\r")
    output = _read_until(ws, "43 132")

    assert output.startswith("# ")
    assert "cd /etc/con\b \b\b \b\b \bconfig\r\n" in output
    assert "/etc/config\r\n" in output
    assert "43 132\r\n" in output
    assert len(sim.exec_sessions()) == 1
    ws.write_stdin("exit 9\r")
    ws.run_forever(timeout=5)
    assert ws.returncode == 9
    assert eventually(lambda: sim.exec_sessions() == [], timeout=5)


def _read_until(ws, text: str, timeout: float = 5.0) -> str:
    output = ""
    deadline = time.monotonic() + timeout
    while text not in output and time.monotonic() < deadline:
        ws.update(timeout=0.2)
        output += ws.read_stdout() or ""
    return output


def test_closing_stdin_ends_the_shell(core, namespace, web, sim):
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        web,
        namespace,
        command=["sh"],
        stdin=True,
        stdout=True,
        stderr=True,
        _preload_content=False,
    )
    ws.write_stdin("echo one\nnosuch\n")
    ws.close_channel(0)
    ws.run_forever(timeout=5)

    assert ws.read_stdout() == "one\n"
    assert ws.read_stderr() == "sh: nosuch: not found\n"
    assert ws.returncode == 127
    assert sim.exec_sessions() == []


def test_a_client_that_goes_leaves_no_session(core, namespace, web, sim):
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        web,
        namespace,
        command=["sh"],
        stdin=True,
        stdout=True,
        tty=True,
        _preload_content=False,
    )
    assert eventually(lambda: len(sim.exec_sessions()) == 1, timeout=5)
    listed = json.load(urllib.request.urlopen(f"{sim.url}/_kubesim/exec-sessions"))
    assert listed["sessions"][0]["pod"] == web
    assert listed["sessions"][0]["command"] == ["sh"]

    ws.close()

    assert eventually(lambda: sim.exec_sessions() == [], timeout=5)


def test_deleting_the_pod_ends_its_sessions_with_exit_137(core, namespace, web, sim):
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        web,
        namespace,
        command=["sh"],
        stdin=True,
        stdout=True,
        _preload_content=False,
    )
    assert eventually(lambda: len(sim.exec_sessions()) == 1, timeout=5)

    core.delete_namespaced_pod(web, namespace)
    ws.run_forever(timeout=5)

    assert ws.returncode == 137
    assert sim.exec_sessions() == []


def test_exec_is_refused_into_a_missing_pod_or_container(core, namespace, web):
    with pytest.raises(ApiException) as missing_pod:
        stream(
            core.connect_get_namespaced_pod_exec,
            "nope",
            namespace,
            command=["sh"],
            stdout=True,
        )
    with pytest.raises(ApiException) as missing_container:
        stream(
            core.connect_get_namespaced_pod_exec,
            web,
            namespace,
            command=["sh"],
            container="sidecar",
            stdout=True,
        )

    assert "404" in str(missing_pod.value)
    assert "400" in str(missing_container.value)


def test_exec_into_a_pod_that_is_not_running_is_refused(core, namespace, sim):
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="broken"),
            spec=client.V1PodSpec(
                containers=[client.V1Container(name="app", image="nginx:doesnotexist")]
            ),
        ),
    )

    with pytest.raises(ApiException) as refused:
        stream(
            core.connect_get_namespaced_pod_exec,
            "broken",
            namespace,
            command=["sh"],
            stdout=True,
        )

    assert "400" in str(refused.value)


def test_v4_clients_get_the_status_channel_too(cluster, namespace, web):
    url = (
        cluster_url(cluster).replace("http", "ws", 1)
        + f"/api/v1/namespaces/{namespace}/pods/{web}/exec"
        + "?command=sh&command=-c&command=exit%202&stdout=true"
    )
    ws = create_connection(url, subprotocols=["v4.channel.k8s.io"])
    frames = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == ABNF.OPCODE_CLOSE:
            break
        frames.append(data)

    assert ws.subprotocol == "v4.channel.k8s.io"
    status = json.loads(frames[-1][1:])
    assert frames[-1][0] == 3
    assert status["details"]["causes"][0] == {"reason": "ExitCode", "message": "2"}


def cluster_url(cluster) -> str:
    import yaml

    with open(cluster.kubeconfig) as handle:
        config = yaml.safe_load(handle)
    return config["clusters"][0]["cluster"]["server"]


def test_kubectl_exec_works_as_an_independent_client(cluster, namespace, web):
    done = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            cluster.kubeconfig,
            "-n",
            namespace,
            "exec",
            "-i",
            web,
            "--",
            "sh",
        ],
        input="echo from kubectl\nexit 5\n",
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.stdout == "from kubectl\n"
    assert done.returncode == 5


# --- The shell's own rules ---------------------------------------------------


def test_the_shell_splits_quotes_operators_and_variables_like_sh():
    from kubesim.shell import split_commands

    env = {"NAME": "web", "EMPTY": ""}

    assert split_commands("echo 'a $NAME' \"b $NAME\" c\\ d${NAME}", env) == [
        (";", ["echo", "a $NAME", "b web", "c dweb"])
    ]
    assert split_commands("true && echo yes || echo no; exit 2 # done", env) == [
        (";", ["true"]),
        ("&&", ["echo", "yes"]),
        ("||", ["echo", "no"]),
        (";", ["exit", "2"]),
    ]


def test_pipes_and_redirections_are_refused_not_run(core, namespace, web):
    _, piped, code = run(core, namespace, web, ["sh", "-c", "ls | wc -l"])
    _, redirected, _ = run(core, namespace, web, ["sh", "-c", "echo x > /tmp/f"])

    assert code == 2
    assert "pipes are not supported" in piped
    assert "Read-only file system" in redirected


def test_a_sub_path_mount_shows_one_file(core, namespace, sim):
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "nginx"}, "data": {"nginx.conf": "events {}\n"}},
    )
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "proxy"},
            "spec": {
                "containers": [
                    {
                        "name": "proxy",
                        "image": "nginx:1.27",
                        "volumeMounts": [
                            {
                                "name": "conf",
                                "mountPath": "/etc/nginx/nginx.conf",
                                "subPath": "nginx.conf",
                            }
                        ],
                    }
                ],
                "volumes": [{"name": "conf", "configMap": {"name": "nginx"}}],
            },
        },
    )

    out, _, code = run(core, namespace, "proxy", ["cat", "/etc/nginx/nginx.conf"])

    assert (out, code) == ("events {}\n", 0)
