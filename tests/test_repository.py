"""cmp.repository: the one answer every renderer uses for "where is the repository" and
"does this path stay inside it"."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmp import repository


def test_root_is_the_nearest_ancestor_with_git(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "apps" / "web").mkdir(parents=True)
    app = tmp_path / "repo" / "apps" / "web"
    assert repository.root(str(app), {}) == (str((tmp_path / "repo").resolve()), False)


def test_root_without_git_is_the_directory_itself(tmp_path: Path) -> None:
    assert repository.root(str(tmp_path), {}) == (str(tmp_path.resolve()), False)


def test_root_is_the_directory_minus_the_app_source_path(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "app").mkdir()
    env = {"ARGOCD_APP_SOURCE_PATH": "repo/app"}
    assert repository.root(str(tmp_path / "repo" / "app"), env) == (str(tmp_path.resolve()), False)


def test_root_in_the_cmp_server_is_the_request_copy_and_writable(tmp_path: Path) -> None:
    work = tmp_path / "cmp" / "_cmp_server" / "1234"
    (work / "apps" / "web").mkdir(parents=True)
    env = {"ARGOCD_CMP_WORKDIR": str(tmp_path / "cmp")}
    found = repository.root(str(work / "apps" / "web"), env)
    assert found == (str(work.resolve()), True)


def test_cmp_workdir_falls_back_to_tmpdir_as_go_os_tempdir_does(tmp_path: Path) -> None:
    assert repository.cmp_workdir({"TMPDIR": str(tmp_path)}) == str(tmp_path / "_cmp_server")
    assert repository.cmp_workdir({}) == "/tmp/_cmp_server"


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/r", "/r", "."),
        ("/r/a/b", "/r", "a/b"),
        ("/r/../x", "/r", None),
        ("/rx/a", "/r", None),  # a sibling whose name starts with the root's is outside
        ("/", "/r", None),
        ("/r/..data", "/r", "..data"),  # a name that starts with two dots is still inside
    ],
)
def test_relative_to_root_only_inside_it(path: str, root: str, expected: str | None) -> None:
    assert repository.relative(path, root) == expected
    assert repository.inside(path, root) is (expected is not None)
