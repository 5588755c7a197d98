"""`smythtop store push URL` and `--store URL` on the analysis commands, as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smythtop.cli import main
from tests.fleet_store.fleet_testlib import make_store


def test_push_then_report_and_export_read_the_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = (tmp_path / "bucket").as_uri()
    frames = []
    for host in range(2):
        frames += make_store(tmp_path / f"h{host}", host, files=2, per_file=5)
        assert main(["store", "push", url, "--store", str(tmp_path / f"h{host}"), "--host-id", f"h{host}"]) == 0
    assert capsys.readouterr().out.split("\n")[:2] == [
        "uploaded=2 already_pushed=0 host_id=h0",
        "uploaded=2 already_pushed=0 host_id=h1",
    ]
    assert main(["report", "--store", url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["rows"] == len(frames)
    assert main(["report", "--store", f"{url}?secret_key=hunter2"]) == 0
    assert capsys.readouterr().out.startswith(f"smythtop report  {url}\n")  # the URL as given, credentials left out
    out = tmp_path / "fleet.csv"
    assert main(["export", "--store", url, "--format", "csv", "--output", str(out)]) == 0
    assert len(out.read_text().splitlines()) == len(frames) + 1


def test_storage_url_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", "nosuchscheme://b/p?secret_key=hunter2"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("smythtop: error: cannot open storage URL nosuchscheme://b/p ") and "hunter2" not in err
    assert err.count("\n") == 1
    assert main(["baseline", "--component", "Retriever", "--store", (tmp_path / "b").as_uri()]) != 0
    assert "a baseline is saved in a local store" in capsys.readouterr().err
    make_store(tmp_path / "s", 0, files=1, per_file=1)
    assert main(["store", "push", (tmp_path / "b").as_uri(), "--store", str(tmp_path / "s"), "--host-id", "a/b"]) != 0
    assert "host id 'a/b'" in capsys.readouterr().err
