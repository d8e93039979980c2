"""The store's garbage collection (`modelpilot prepare-store`, the training pod's init step)."""

from __future__ import annotations

from pathlib import Path

from modelpilot.trainer.store import garbage, main, prepare

UID = "22222222-2222-2222-2222-222222222222"
OLD = "11111111-1111-1111-1111-111111111111"


def bundle(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "metadata.json").write_text("{}")
    return path


def layout(tmp_path: Path, revisions: range) -> Path:
    model = tmp_path / "ml" / "iris"
    for n in revisions:
        bundle(model / UID / f"v{n}")
    return model


def test_keeps_the_newest_k_and_what_status_names_and_removes_the_rest(tmp_path):
    model = layout(tmp_path, range(1, 10))
    gone = garbage(model, owner_uid=UID, revision="v10", keep_last=3, keep={"v2"})
    assert sorted(p.name for p in gone) == ["v1", "v3", "v4", "v5", "v6", "v7"]


def test_removes_earlier_incarnations_and_staging_but_nothing_foreign(tmp_path):
    model = layout(tmp_path, range(1, 3))
    bundle(model / OLD / "v1")  # a deleted and re-created ModelDeployment's bundle
    bundle(model / "v1")  # the pre-uid layout: an older operator's pods may serve it
    (model / "notes.txt").write_text("a person's file")
    staging = model / UID / "v2" / ".staging-abc"
    staging.mkdir()
    (model / UID / "v2" / "keep-me").write_text("")
    gone = garbage(model, owner_uid=UID, revision="v3", keep_last=5, keep=())
    assert sorted(gone) == sorted([model / OLD, staging])


def test_prepare_removes_and_creates_the_revision_directory(tmp_path):
    model = layout(tmp_path, range(1, 8))
    staging = model / UID / "v7" / ".staging-killed"
    staging.mkdir()
    old_log = model / UID / "predictions" / "v2" / "requests-1-pod-000001.parquet"
    old_log.parent.mkdir(parents=True)
    old_log.write_bytes(b"PAR1")
    removed = prepare(model / UID / "v8", owner_uid=UID, keep_last=2, keep=["v1"])
    assert sorted(p.name for p in (model / UID).iterdir()) == ["predictions", "v1", "v7", "v8"]
    assert not staging.exists() and len(removed) == 6
    assert list((model / UID / "v8").iterdir()) == []
    # v8's log directory exists for its serving pods; v2's logs outlive its bundle (training
    # data for dataset.include [feedback]).
    assert (model / UID / "predictions" / "v8").is_dir()
    assert old_log.exists()


def test_main_reads_the_environment_the_operator_sets(tmp_path, capsys):
    model = layout(tmp_path, range(1, 4))
    code = main(
        [],
        {
            "MODELPILOT_OUTPUT": str(model / UID / "v4"),
            "MODELPILOT_OWNER_UID": UID,
            "MODELPILOT_KEEP_LAST": "1",
            "MODELPILOT_KEEP_REVISIONS": "v3",
        },
    )
    assert code == 0
    assert sorted(p.name for p in (model / UID).iterdir()) == ["predictions", "v3", "v4"]
    assert "2 old directories removed" in capsys.readouterr().out


def test_the_revision_being_trained_counts_among_the_newest(tmp_path):
    model = layout(tmp_path, range(1, 4))
    gone = garbage(model, owner_uid=UID, revision="v4", keep_last=2, keep=())
    assert [p.name for p in gone] == ["v1", "v2"]


def test_main_refuses_an_output_that_is_not_the_owners(tmp_path):
    assert (
        main(
            [],
            {
                "MODELPILOT_OUTPUT": str(tmp_path / "ml" / "iris" / OLD / "v1"),
                "MODELPILOT_OWNER_UID": UID,
            },
        )
        == 1
    )
