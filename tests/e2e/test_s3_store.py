"""Models and data in object storage, on the real control plane (examples/s3-store).

The S3-compatible server is real: moto in server mode, in its own virtualenv
(hack/s3server), listening on this machine at the address the pods reach it by (the API
server's), over HTTP, as they would reach MinIO. The story: the dataset is an s3://
object; the ModelDeployment names an S3 store and a credentials Secret that only the pods
mount; v1 trains, is uploaded with its digest, and serves; v2 goes through the canary and
is promoted; then v1's model.joblib is tampered with in the bucket and v1 is pinned — the
serving pod's fetch-bundle step refuses it by digest (the server never starts, nothing is
unpickled) while v2 keeps serving.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml
from kube import REPO, Kubectl, wait_for
from operator_harness import EXAMPLES, Story
from planted import beacon, node_host, plant_bundle, reported_digest

pytestmark = pytest.mark.e2e
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
BUCKET = "models"
PREFIX = "modelpilot"
KEY_ID, SECRET_KEY = "modelpilot-e2e", "modelpilot-e2e-secret"


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory, kubectl: Kubectl) -> Iterator[str]:
    python = subprocess.run(
        [str(REPO / "hack" / "s3server" / "venv.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    host = node_host(kubectl)
    port = _free_port(host)
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [python, "-m", "moto.server", "-H", host, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{host}:{port}"

    def up() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=60, what="moto server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint: str):
    from minio import Minio

    client = Minio(
        s3_endpoint.removeprefix("http://"),
        access_key=KEY_ID,
        secret_key=SECRET_KEY,
        secure=False,
        region="us-east-1",
    )
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    return client


def example(endpoint: str) -> list[dict]:
    """examples/s3-store with the test server's endpoint and keys."""
    docs = list(yaml.safe_load_all((EXAMPLES / "s3-store" / "iris-s3.yaml").read_text()))
    for doc in docs:
        if doc["kind"] == "Secret":
            doc["stringData"] = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        else:
            doc["spec"]["modelStore"]["s3"]["endpoint"] = endpoint
    return docs


def put(s3, key: str, data: bytes) -> None:
    s3.put_object(BUCKET, key, io.BytesIO(data), len(data))


def get(s3, key: str) -> bytes:
    response = s3.get_object(BUCKET, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def iris_csv() -> bytes:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    return frame.sample(frac=1.0, random_state=0).to_csv(index=False).encode()


def stable_is(story: Story, revision: str, timeout: float = 300) -> dict:
    return wait_for(
        lambda: (lambda s: s if (s.get("stable") or {}).get("revision") == revision else None)(
            story.status()
        ),
        timeout=timeout,
        what=f"{revision} stable",
    )


def predict(pod: dict) -> httpx.Response:
    return httpx.post(
        f"http://{pod['status']['podIP']}:8080/v1/models/iris:predict",
        json={"instances": ROWS},
        timeout=10,
    )


class Unpickled:
    """A 'model' that runs a command when unpickled: it must never be."""

    def __reduce__(self):
        return (print, ("UNPICKLED: the tampered model ran",))


def test_bundles_in_s3_serve_by_digest_and_a_tampered_object_is_refused(
    operator, kubectl, namespace, s3, s3_endpoint
):
    story = Story(kubectl, namespace)
    put(s3, "data/iris.csv", iris_csv())

    # Given an S3 store and an s3:// dataset, with a Secret only the pods mount.
    story.apply(example(s3_endpoint))
    v1 = stable_is(story, "v1")["stable"]
    story.wait_condition("Ready", timeout=120)
    uid = story.mdep()["metadata"]["uid"]
    key = f"{PREFIX}/{namespace}/iris/{uid}"

    # Then the bundle is in the bucket, uid-bound, with its digest, and serves.
    model = get(s3, f"{key}/v1/model.joblib")
    assert hashlib.sha256(model).hexdigest() == v1["modelSha256"]
    assert (
        s3.stat_object(BUCKET, f"{key}/v1/model.joblib").metadata["x-amz-meta-sha256"]
        == v1["modelSha256"]
    )
    assert json.loads(get(s3, f"{key}/v1/metadata.json"))["model_sha256"] == v1["modelSha256"]
    [pod] = story.serving_pods("v1")
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["fetch-bundle"]
    server = pod["spec"]["containers"][0]
    assert "valueFrom" not in json.dumps(server["env"]), "the server never sees the keys"
    answer = predict(pod)
    assert answer.status_code == 200, answer.text
    assert answer.headers["modelpilot-model-sha256"] == v1["modelSha256"]

    # And the data probe watches the object by its ETag (size/LastModified), not its bytes.
    watch = wait_for(
        lambda: (lambda w: w if (w.get("signals") or {}).get("etag") else None)(
            story.status().get("dataWatch") or {}
        ),
        timeout=120,
        what="a data probe report with the object's ETag",
    )
    assert watch["signals"]["size"] == str(len(iris_csv()))

    # When v2 (other params) trains: it goes through the canary and is promoted.
    kubectl(
        "patch",
        "mdep",
        "iris",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"training":{"params":{"n_estimators":30,"random_state":0}}}}',
    )
    v2 = stable_is(story, "v2")["stable"]
    assert v2["modelSha256"] != v1["modelSha256"]
    assert hashlib.sha256(get(s3, f"{key}/v2/model.joblib")).hexdigest() == v2["modelSha256"]
    wait_for(lambda: story.names("deployments") == ["iris-v2"], timeout=60, what="v1 removed")

    # When v1's model in the bucket is replaced by a pickle that runs code, and v1 is pinned.
    put(s3, f"{key}/v1/model.joblib", pickle.dumps(Unpickled()))
    kubectl(
        "patch",
        "mdep",
        "iris",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"serving":{"pinRevision":"v1"}}}',
    )

    # Then the pinned pod refuses it by digest, before the server ever starts ...
    def refused() -> dict | None:
        for pod in story.serving_pods("v1"):
            for status in pod["status"].get("initContainerStatuses") or []:
                for state in (status.get("state") or {}, status.get("lastState") or {}):
                    message = (state.get("terminated") or {}).get("message") or ""
                    if "refusing" in message:
                        return pod
        return None

    pod = wait_for(refused, timeout=180, what="fetch-bundle refusing the tampered v1")
    message = json.dumps(pod["status"]["initContainerStatuses"])
    assert v1["modelSha256"] in message, message
    for status in pod["status"].get("containerStatuses") or []:
        assert "running" not in (status.get("state") or {}) and not status.get("restartCount")
    # ... the operator says why ...
    wait_for(
        lambda: "refusing" in json.dumps(story.status().get("conditions") or []),
        timeout=60,
        what="the refusal in a condition",
    )
    # ... and v2 keeps serving.
    assert story.status()["stable"]["revision"] == "v2"
    [v2_pod] = story.serving_pods("v2")
    answer = predict(v2_pod)
    assert answer.status_code == 200, answer.text
    assert answer.headers["modelpilot-model-sha256"] == v2["modelSha256"]
    time.sleep(3)
    assert (
        "UNPICKLED"
        not in kubectl(
            "logs", "-n", namespace, pod["metadata"]["name"], "--all-containers", check=False
        ).stdout
    )


def test_a_planted_s3_bundle_never_runs_and_the_jobs_own_digest_serves(
    operator, kubectl, namespace, s3, s3_endpoint, tmp_path
):
    story = Story(kubectl, namespace)
    put(s3, "data/iris.csv", iris_csv())
    # Given iris v1 serving from the S3 store,
    story.apply(example(s3_endpoint))
    stable_is(story, "v1")
    uid = story.mdep()["metadata"]["uid"]
    key = f"{PREFIX}/{namespace}/iris/{uid}"
    v1_meta = json.loads(get(s3, f"{key}/v1/metadata.json"))
    with beacon(node_host(kubectl)) as home:
        # when someone who can write to the bucket plants a complete bundle at v2's key,
        # copying v1's binding and a perfect score, with one more object beside it,
        planted_dir = tmp_path / "planted"
        planted = plant_bundle(planted_dir, copy_of=v1_meta, revision="v2", url=home.url)
        put(s3, f"{key}/v2/model.joblib", (planted_dir / "model.joblib").read_bytes())
        put(s3, f"{key}/v2/metadata.json", (planted_dir / "metadata.json").read_bytes())
        put(s3, f"{key}/v2/extra", b"left by someone")
        # and a retrain is asked for (what `modelpilot retrain` does),
        kubectl(
            "annotate",
            "mdep",
            "iris",
            "-n",
            namespace,
            "--overwrite",
            "modelpilot.dev/retrain-requested-at=planted-s3",
        )

        def v2_stable_or_code_ran() -> dict | None:
            if home.hits:
                return {"ran": home.hits}
            status = story.status()
            return status if (status.get("stable") or {}).get("revision") == "v2" else None

        outcome = wait_for(v2_stable_or_code_ran, timeout=300, what="v2 stable")
        # then the planted code never ran, in any pod,
        assert home.hits == [], f"the planted model was unpickled: {home.hits}"
        v2 = outcome["stable"]
        story.wait_condition("Ready", timeout=120)

        # and the digest that serves is the one v2's own Job reported, not the planted one,
        own = reported_digest(kubectl, namespace, "iris-train-v2")
        assert v2["modelSha256"] == own != planted
        assert hashlib.sha256(get(s3, f"{key}/v2/model.joblib")).hexdigest() == own
        assert json.loads(get(s3, f"{key}/v2/metadata.json"))["model_sha256"] == own
        assert "extra" not in [
            o.object_name.rsplit("/", 1)[-1] for o in s3.list_objects(BUCKET, prefix=f"{key}/v2/")
        ]
        [pod] = story.serving_pods("v2")
        answer = predict(pod)
        assert answer.status_code == 200, answer.text
        assert answer.headers["modelpilot-model-sha256"] == own
        assert home.hits == []
        # (control: the planted payload is live — unpickled here, it calls home).
        home.control(planted_dir / "model.joblib")


def test_bad_s3_input_is_refused_at_apply_or_named_in_status(
    operator, kubectl, namespace, s3_endpoint
):
    story = Story(kubectl, namespace)
    docs = example(s3_endpoint)
    [mdep] = [d for d in docs if d["kind"] == "ModelDeployment"]
    # Both stores, or an s3:// dataset without any credentials: the apiserver says no.
    both = json.loads(json.dumps(mdep))
    both["spec"]["modelStore"]["pvc"] = {"claimName": "models"}
    refused = kubectl.apply(both, namespace, check=False)
    assert refused.returncode != 0 and "exactly one of pvc or s3" in refused.stderr
    bare = json.loads(json.dumps(mdep))
    bare["spec"]["modelStore"] = {"pvc": {"claimName": "models"}}
    refused = kubectl.apply(bare, namespace, check=False)
    assert refused.returncode != 0 and "s3:// URI without S3 access" in refused.stderr

    # A Secret that does not exist: the training pod cannot start, and status says which.
    missing = json.loads(json.dumps(mdep))
    missing["spec"]["modelStore"]["s3"]["credentialsSecret"] = "no-such-secret"
    missing["spec"]["training"]["dataset"] = {"builtin": "iris"}
    story.apply([missing])
    condition = wait_for(
        lambda: (lambda c: c if "no-such-secret" in (c.get("message") or "") else None)(
            story.condition("Reconciling")
        ),
        timeout=120,
        what="the missing Secret named in Reconciling",
    )
    assert "CreateContainerConfigError" in condition["message"], condition

    # A bucket that does not exist: the trainer fails and says so.
    secret = next(d for d in docs if d["kind"] == "Secret")
    nobucket = json.loads(json.dumps(missing))
    nobucket["spec"]["modelStore"]["s3"].update(
        credentialsSecret=secret["metadata"]["name"], bucket="no-such-bucket"
    )
    # another training spec, so a new revision (a new Job, with this store) supersedes v1
    nobucket["spec"]["training"]["params"] = {"n_estimators": 21, "random_state": 0}
    story.apply([secret, nobucket])
    stalled = story.wait_condition("Stalled", timeout=180)
    assert "bucket no-such-bucket does not exist" in stalled["message"], stalled
