"""Pod spec -> process plan: argv, environment, mounts, and the errors a kubelet would give."""

from __future__ import annotations

import pytest
from nodeagent.plan import (
    ConfigError,
    Lookups,
    Mount,
    container_env,
    etc_hosts,
    expand,
    field_value,
    image_entrypoint,
    plan_container,
    referenced_objects,
    resource_value,
    service_env,
)

POD = {
    "metadata": {
        "name": "web-1",
        "namespace": "ml",
        "uid": "u-1",
        "labels": {"app": "web"},
        "annotations": {"a": "b"},
    },
    "spec": {"nodeName": "local-node", "serviceAccountName": "sa"},
    "status": {"podIP": "10.244.0.7", "hostIP": "10.244.0.1", "podIPs": [{"ip": "10.244.0.7"}]},
}


def plan(container: dict, *, volume_paths: dict | None = None, env: dict | None = None, **kw):
    return plan_container(
        POD,
        {"name": "c", **container},
        env=env or {},
        volume_paths=volume_paths or {},
        container_dir="/state/c",
        pod_tmp="/state/tmp",
        netns="mp-1",
        **kw,
    )


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        pytest.param("$(A)-x", {"A": "1"}, "1-x", id="defined-is-replaced"),
        pytest.param("$(MISSING)", {}, "$(MISSING)", id="undefined-is-kept"),
        pytest.param("$$(A)", {"A": "1"}, "$(A)", id="double-dollar-escapes"),
        pytest.param("$A $", {"A": "1"}, "$A $", id="shell-syntax-is-left-alone"),
        pytest.param("$(A)$(B)", {"A": "1", "B": "2"}, "12", id="adjacent"),
    ],
)
def test_expand_follows_kubernetes_rules(text: str, env: dict, expected: str) -> None:
    assert expand(text, env) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "web-1"),
        ("metadata.namespace", "ml"),
        ("metadata.uid", "u-1"),
        ("metadata.labels['app']", "web"),
        ("metadata.annotations['a']", "b"),
        ("spec.nodeName", "local-node"),
        ("spec.serviceAccountName", "sa"),
        ("status.podIP", "10.244.0.7"),
        ("status.podIPs", "10.244.0.7"),
        ("status.hostIP", "10.244.0.1"),
    ],
)
def test_field_refs_read_the_pod(path: str, expected: str) -> None:
    assert field_value(POD, path) == expected


def test_unknown_field_ref_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        field_value(POD, "spec.nope")
    assert err.value.reason == "CreateContainerConfigError"


def test_env_order_is_base_then_env_from_then_env_with_expansion() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "GREETING", "value": "hello $(CFG_WHO) from $(HOSTNAME)"},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "WHO"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
    }
    lookups = Lookups(configmaps={"cfg": {"WHO": "world"}}, secrets={"s": {"pw": "sesame"}})
    env = container_env(POD, container, lookups, {"HOSTNAME": "web-1"})
    assert env == {
        "HOSTNAME": "web-1",
        "CFG_WHO": "world",
        "GREETING": "hello world from web-1",
        "PASSWORD": "sesame",
        "MODE": "world",
        "POD": "web-1",
    }


@pytest.mark.parametrize(
    ("var", "message"),
    [
        pytest.param(
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}},
            'secret "gone" not found',
            id="missing-secret",
        ),
        pytest.param(
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}},
            "couldn't find key k in ConfigMap cfg",
            id="missing-key",
        ),
    ],
)
def test_missing_references_are_config_errors_naming_them(var: dict, message: str) -> None:
    lookups = Lookups(configmaps={"cfg": {}})
    with pytest.raises(ConfigError) as err:
        container_env(POD, {"env": [var]}, lookups, {})
    assert err.value.reason == "CreateContainerConfigError"
    assert message in err.value.message


def test_optional_references_may_be_missing() -> None:
    var = {
        "name": "X",
        "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}},
    }
    assert container_env(POD, {"env": [var]}, Lookups(), {}) == {}


def test_resource_field_ref_uses_the_limit_or_the_node_capacity() -> None:
    container = {"resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}}}
    assert resource_value(container, {"resource": "limits.memory", "divisor": "1Mi"}) == "64"
    assert resource_value(container, {"resource": "requests.cpu", "divisor": "1m"}) == "250"
    assert resource_value(container, {"resource": "limits.cpu"}) == "16"


def test_referenced_objects_cover_env_and_volumes() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "envFrom": [{"secretRef": {"name": "s1"}}],
                    "env": [
                        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}}
                    ],
                }
            ],
            "volumes": [
                {"name": "v", "configMap": {"name": "c2"}},
                {"name": "w", "secret": {"secretName": "s2"}},
                {"name": "p", "projected": {"sources": [{"configMap": {"name": "c3"}}]}},
            ],
        }
    }
    assert referenced_objects(pod) == ({"c1", "c2", "c3"}, {"s1", "s2"})


def test_plan_expands_argv_and_mounts_volumes_parents_first() -> None:
    p = plan(
        {
            "command": ["python", "-m", "modelpilot.serving"],
            "args": ["--port", "$(PORT)"],
            "workingDir": "/work",
            "volumeMounts": [
                {
                    "name": "models",
                    "mountPath": "/models/current",
                    "subPath": "v1",
                    "readOnly": True,
                },
                {"name": "scratch", "mountPath": "/models"},
            ],
        },
        volume_paths={"models": "/pv/models", "scratch": "/pods/x/scratch"},
        env={"PORT": "8080"},
    )
    assert p.argv == ("python", "-m", "modelpilot.serving", "--port", "8080")
    assert p.cwd == "/work"
    assert p.mounts == (
        Mount("/pods/x/scratch", "/models"),
        Mount("/state/tmp", "/tmp"),
        Mount("/pv/models/v1", "/models/current", read_only=True),
        Mount("/state/c/termination-log", "/dev/termination-log"),
    )
    assert p.netns == "mp-1"
    assert p.hostname == "web-1"


def test_plan_honours_a_custom_termination_message_path_and_tmp_volume() -> None:
    p = plan(
        {
            "command": ["true"],
            "terminationMessagePath": "/out/summary.json",
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        },
        volume_paths={"tmp": "/pods/x/tmp-vol"},
    )
    assert Mount("/pods/x/tmp-vol", "/tmp") in p.mounts
    assert Mount("/state/tmp", "/tmp") not in p.mounts
    assert Mount("/state/c/termination-log", "/out/summary.json") in p.mounts


def test_a_container_without_command_needs_a_known_entrypoint() -> None:
    with pytest.raises(ConfigError) as err:
        plan({"image": "ghcr.io/x/serving:1.0", "args": ["serve"]})
    assert err.value.reason == "CreateContainerError"
    assert "set `command`" in err.value.message
    p = plan(
        {"image": "ghcr.io/x/serving:1.0", "args": ["--port", "80"]},
        entrypoints={"serving": ["modelpilot", "serve"]},
    )
    assert p.argv == ("modelpilot", "serve", "--port", "80")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/modelpilot/trainer:0.1.0", {"entrypoint": ["train"], "cmd": []}),
        ("ghcr.io/modelpilot/trainer@sha256:abc", {"entrypoint": ["train"], "cmd": []}),
        ("localhost:5000/modelpilot/trainer", {"entrypoint": ["train"], "cmd": []}),
        ("ghcr.io/modelpilot/other-trainer:1", None),
    ],
)
def test_image_entrypoint_matches_without_tag_or_digest(image: str, expected) -> None:
    assert image_entrypoint(image, {"modelpilot/trainer": ["train"]}) == expected


@pytest.mark.parametrize(
    ("args", "argv"),
    [
        pytest.param([], ("modelpilot", "serve"), id="cmd-when-no-args"),
        pytest.param(["train", "--x"], ("modelpilot", "train", "--x"), id="args-replace-cmd"),
    ],
)
def test_entrypoint_and_cmd_follow_docker_rules(args: list, argv: tuple) -> None:
    table = {"modelpilot/serving": {"entrypoint": ["modelpilot"], "cmd": ["serve"]}}
    p = plan({"image": "ghcr.io/modelpilot/serving:0.1.0", "args": args}, entrypoints=table)
    assert p.argv == argv


def test_subpath_may_not_escape_its_volume() -> None:
    with pytest.raises(ConfigError):
        plan(
            {
                "command": ["true"],
                "volumeMounts": [{"name": "v", "mountPath": "/x", "subPath": "../etc"}],
            },
            volume_paths={"v": "/pv"},
        )


def test_volume_mount_of_an_unknown_volume_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        plan({"command": ["true"], "volumeMounts": [{"name": "nope", "mountPath": "/x"}]})


def test_pods_reach_the_apiserver_through_the_service_variables() -> None:
    env = service_env("10.244.0.1", 6443)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.244.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"


def test_etc_hosts_names_the_pod() -> None:
    hosts = etc_hosts(
        pod_name="web-1",
        pod_ip="10.244.0.7",
        host_aliases=[{"ip": "10.0.0.1", "hostnames": ["a", "b"]}],
    )
    assert "10.244.0.7\tweb-1" in hosts
    assert "10.0.0.1\ta\tb" in hosts


@pytest.mark.parametrize(
    ("host_path", "remounted"),
    [
        pytest.param("/tmp/clone/.venv", True, id="clone-under-tmp-stays-visible"),
        pytest.param("/work/main/.venv", False, id="path-no-mount-hides-is-left-alone"),
        pytest.param("/models/x", True, id="path-under-a-volume-stays-visible"),
    ],
)
def test_project_paths_hidden_by_a_pod_mount_are_mounted_again(
    host_path: str, remounted: bool
) -> None:
    p = plan(
        {"command": ["python"], "volumeMounts": [{"name": "m", "mountPath": "/models"}]},
        volume_paths={"m": "/state/vol/m"},
        host_paths=(host_path,),
    )
    again = [m for m in p.mounts if m.target == host_path]
    assert (again == [Mount(host_path, host_path, read_only=True)]) is remounted
    if remounted:
        hiding = next(m for m in p.mounts if host_path.startswith(m.target + "/"))
        # parents first: the remount must come after the mount that hides it
        assert p.mounts.index(hiding) < p.mounts.index(again[0])
