"""What kustomize says on stderr while it succeeds reaches the user, marked and redacted."""

from __future__ import annotations

import shutil
from pathlib import Path

from cmp import kustomize
from tests.helpers import fake_kustomize, run_cli

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  k: v\n"


def _app(tmp_path: Path, kustomization: str) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text(kustomization)
    (app / "cm.yaml").write_text(CONFIGMAP)
    return app


def test_real_kustomize_deprecation_warning_is_passed_on_as_kustomize_s(tmp_path: Path) -> None:
    app = _app(tmp_path, "commonLabels:\n  team: a\nresources:\n- cm.yaml\n")
    tool = shutil.which("kustomize") or shutil.which("kubectl")
    assert tool, "kustomize or kubectl is needed"
    path = str(Path(tool).parent)
    run = run_cli(["build", str(app)], environ={"PATH": f"{path}:/usr/bin:/bin"})
    assert run.code == 0, run.stderr
    assert b"team: a" in run.stdout
    warnings = [line for line in run.stderr.splitlines() if "commonLabels" in line]
    assert len(warnings) == 1, run.stderr
    assert warnings[0].startswith("confighash: warning: kustomize: ")
    assert "deprecated" in warnings[0]


def test_kustomize_warning_is_redacted_like_its_errors(tmp_path: Path) -> None:
    app = _app(tmp_path, "resources:\n- cm.yaml\n")
    (app / "secret.yaml").write_text("kind: Secret\nstringData:\n  token: hunter-in-a-file\n")
    script = fake_kustomize(
        tmp_path, f"echo 'Warning: saw hunter-in-a-file' >&2\ncat {app / 'cm.yaml'}\n"
    )
    run = run_cli(["build", "--kustomize", script, str(app)], environ={"PATH": "/usr/bin:/bin"})
    assert run.code == 0, run.stderr
    assert "hunter-in-a-file" not in run.stderr
    assert "confighash: warning: kustomize: Warning: saw" in run.stderr
    assert b"name: app" in run.stdout


def test_a_warning_does_not_fail_strict(tmp_path: Path) -> None:
    app = _app(tmp_path, "resources:\n- cm.yaml\n")
    script = fake_kustomize(tmp_path, f"echo 'Warning: something' >&2\ncat {app / 'cm.yaml'}\n")
    run = run_cli(
        ["build", "--strict", "--kustomize", script, str(app)], environ={"PATH": "/usr/bin:/bin"}
    )
    assert run.code == 0, run.stderr
    assert "confighash: warning: kustomize: Warning: something" in run.stderr


def test_silent_success_passes_no_warning(tmp_path: Path) -> None:
    app = _app(tmp_path, "resources:\n- cm.yaml\n")
    script = fake_kustomize(tmp_path, f"cat {app / 'cm.yaml'}\n")
    seen: list[str] = []
    out = kustomize.build(
        [script, "build"], str(app), [], env={"PATH": "/usr/bin:/bin"}, warn=seen.append
    )
    assert b"name: app" in out
    assert seen == []
