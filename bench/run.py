"""confighash benchmark: one command, a table on stdout, JSON in bench/results/.

    python bench/run.py            # everything, about 15 minutes on 2 cores
    python bench/run.py --quick    # fewer runs, smaller inputs: a smoke test of a few minutes

What it runs: by default the ``confighash`` of a clean virtual environment, made the way the image
is (``python -m venv``, then a regular ``pip install`` of the project: a wheel, byte-compiled, no
editable finder and none of this interpreter's ``.pth`` hooks). The venv is kept and reused while
the sources (``cmp/``, ``pyproject.toml``) and the interpreter stay the same: in ``WORK/venv``
with ``--work``, else under ``~/.cache/confighash-bench/``. ``--no-venv`` runs the console script
beside the running interpreter instead (on a dev machine, usually an editable install), and
``--confighash CMD`` any command. The start-up rows and the ``load_all`` baseline of b use the
interpreter that runs the measured confighash, so both sides of a ratio pay the same start.

What it measures (issue 5), each as whole processes, several runs, medians; ratios pair by pair
in the same run, the two commands alternating (A B, B A, A B, ...) so drift hits both:

  a  ``confighash build DIR`` / ``kustomize build DIR`` on three apps of the shared corpus
  b  ``confighash stamp FILE`` / a full ``yaml.load_all(..., Loader=CSafeLoader)`` of FILE, on a
     generated stream of thousands of Deployments, their ConfigMaps and Secrets, and CRDs
  c  startup: ``confighash --version`` and ``confighash stamp`` of a tiny stream, next to the
     start of the interpreter that runs it (``python -c pass``, with and without ``-S``) and, if
     that is another one, of the interpreter running the benchmark
  d  peak RSS of the stamp in b
  e  16 ``confighash build`` at once against the same 16 one after another: all succeed, all print
     the same bytes
  f  ``confighash build CHART`` / the ``helm template`` Argo CD runs, on the example chart (with its
     production values) and the descheduler and prometheus test charts; ``confighash build DIR``
     / ``cat`` of the files of the plain example directory (no renderer to compare with: no
     target) (issue 11)
  scaling (not in --quick): the cost of stamp as documents, workloads and document sizes grow

Only the Python standard library is used. Timing never runs in the test suite.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import genstream  # noqa: E402  (bench/ is not a package)

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
BUILD_TARGETS = {  # name → directory under the corpus; the first two carry the 1.03 target
    "kube-prometheus": "kube-prometheus/source",
    "argo-cd-ha": "argo-cd/source/manifests/ha/cluster-install",
    "argo-workflows-postgres": "argo-workflows/source/manifests/quick-start/postgres",
}
TARGETS = {
    "build_ratio": 1.03,
    "stamp_speedup": 5.0,
    "startup_s": 0.100,
    "rss_stream_factor": 3.0,
    "rss_extra_mb": 50.0,
}
LOAD_ALL = (
    "import sys, yaml\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "for _ in yaml.load_all(data, Loader=yaml.CSafeLoader):\n"
    "    pass\n"
)


# --- running one process ----------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    user: float
    sys: float
    maxrss_mb: float  # the largest single process of the run (the child or one it waited for)
    status: int
    out_bytes: int
    out_sha256: str


# The command is started by a small helper process (``python -S``, about 8 MB) that forks, execs
# it, and reports what wait4 says. Started straight from this process, a child's peak RSS would
# include this process's own memory (a forked child counts its parent's pages until it execs),
# and the streams generated here make that hundreds of MB. The helper's own start is not timed.
MEASURE = (
    "import os, sys, time\n"
    "start = time.perf_counter()\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    try:\n"
    "        os.execvp(sys.argv[2], sys.argv[2:])\n"
    "    finally:\n"
    "        os._exit(127)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "wall = time.perf_counter() - start\n"
    "code = os.waitstatus_to_exitcode(status)\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    f.write(f'{wall} {usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss} {code}')\n"
)


def run_once(
    cmd: Sequence[str], *, out: Path | None = None, stdin: Path | None = None, cwd: Path = ROOT
) -> Run:
    """Run ``cmd`` once, stdout to ``out`` (or a temporary file); time it from outside."""
    with tempfile.TemporaryDirectory() as tmp:
        target = out or Path(tmp) / "out"
        report = Path(tmp) / "measure"
        with (
            open(target, "wb") as sink,
            open(Path(tmp) / "err", "wb") as err,
            open(stdin or os.devnull, "rb") as source,
        ):
            helper = [sys.executable, "-S", "-c", MEASURE, str(report), *cmd]
            subprocess.run(helper, stdin=source, stdout=sink, stderr=err, cwd=cwd, check=True)
        wall, user, system, maxrss_kb, code = report.read_text().split()
        data = target.read_bytes()
        if int(code) != 0:
            message = (Path(tmp) / "err").read_text(errors="replace").strip()[-500:]
            print(f"  ! {' '.join(cmd)} exited {code}: {message}", file=sys.stderr)
    return Run(
        wall=float(wall),
        user=float(user),
        sys=float(system),
        maxrss_mb=int(maxrss_kb) / 1024,
        status=int(code),
        out_bytes=len(data),
        out_sha256=hashlib.sha256(data).hexdigest(),
    )


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


@dataclass
class Pair:
    """Commands A and B run alternately; ``ratio`` is A/B of each pair's wall time."""

    name: str
    a: list[Run] = field(default_factory=list)
    b: list[Run] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [x.wall / y.wall for x, y in zip(self.a, self.b, strict=True)]

    def report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "a_wall_s": summary([r.wall for r in self.a]),
            "b_wall_s": summary([r.wall for r in self.b]),
            "a_cpu_s": summary([r.user + r.sys for r in self.a]),
            "b_cpu_s": summary([r.user + r.sys for r in self.b]),
            "a_maxrss_mb": summary([r.maxrss_mb for r in self.a]),
            "b_maxrss_mb": summary([r.maxrss_mb for r in self.b]),
            "ratio": summary(self.ratios),
            "all_ok": all(r.status == 0 for r in self.a + self.b),
            "a_out_bytes": self.a[0].out_bytes if self.a else 0,
            "b_out_bytes": self.b[0].out_bytes if self.b else 0,
        }


def paired(name: str, a: Callable[[], Run], b: Callable[[], Run], runs: int) -> Pair:
    a()  # one warm-up each: page cache, binaries, .pyc files
    b()
    pair = Pair(name)
    for i in range(runs):
        if i % 2 == 0:
            ra = a()
            rb = b()
        else:
            rb = b()
            ra = a()
        pair.a.append(ra)
        pair.b.append(rb)
        print(f"  {name} run {i + 1}/{runs}: A {ra.wall:.3f}s  B {rb.wall:.3f}s", file=sys.stderr)
    return pair


# --- the commands -----------------------------------------------------------------------------

CLEAN_VENV = "clean venv (wheel install)"
CURRENT = "current interpreter"
GIVEN = "--confighash command"
STAMP = "confighash-bench.json"  # in the venv: what it was built from (see venv_stamp)
# What the wheel is built from: the files the Dockerfile's builder stage copies (README.md only
# because pyproject.toml names it as the readme). They are copied out and installed from the copy:
# an in-tree build writes build/ and *.egg-info into the checkout, and setuptools reuses build/lib,
# so a module since deleted from cmp/ could still land in the wheel.
SOURCES = ("pyproject.toml", "README.md", "cmp")

# Asked of the interpreter that runs the measured confighash, where that finds cmp (see probe):
# its versions, which cmp it imports, and how many of cmp's modules have a current .pyc (a wheel
# install compiles them all; an editable install under PYTHONDONTWRITEBYTECODE=1 compiles them
# from source at every start).
PROBE = """\
import importlib.util, json, os, sys
info = {'python': sys.executable, 'version': sys.version.split()[0], 'prefix': sys.prefix,
        'pyyaml': None, 'libyaml': False, 'xxhash': None, 'cmp': None, 'compiled': [0, 0]}
try:
    import yaml
    info.update(pyyaml=yaml.__version__, libyaml=bool(yaml.__with_libyaml__))
except ImportError:
    pass
try:
    import xxhash
    info['xxhash'] = xxhash.VERSION
except ImportError:
    pass
spec = importlib.util.find_spec('cmp')
if spec is not None and spec.origin:
    info['cmp'] = os.path.dirname(spec.origin)
    names = sorted(n for n in os.listdir(info['cmp']) if n.endswith('.py'))
    fresh = 0
    for name in names:
        source = os.path.join(info['cmp'], name)
        try:
            with open(importlib.util.cache_from_source(source), 'rb') as f:
                head = f.read(16)
        except OSError:
            continue
        st = os.stat(source)
        flags = int.from_bytes(head[4:8], 'little')
        stamp = (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
        read = (int.from_bytes(head[8:12], 'little'), int.from_bytes(head[12:16], 'little'))
        fresh += head[:4] == importlib.util.MAGIC_NUMBER and (flags != 0 or read == stamp)
    info['compiled'] = [fresh, len(names)]
print(json.dumps(info))
"""


class SetupError(Exception):
    """The confighash to measure could not be set up; the message is one line for stderr."""


@dataclass(frozen=True)
class Install:
    """The confighash measured, how it was installed, and the Python that runs it."""

    kind: str  # CLEAN_VENV, CURRENT or GIVEN
    confighash: list[str]
    python: str  # runs confighash; the start-up rows and b's load_all run under it too
    venv: str | None = None
    venv_built: bool | None = None  # True: built by this run; False: reused
    source_sha256: str | None = None  # of the sources the venv was built from
    probe: dict[str, Any] = field(default_factory=dict)  # what PROBE printed

    def describe(self) -> str:
        p = self.probe
        how = self.kind
        if self.venv_built is not None:
            how += ", built now" if self.venv_built else ", reused"
        if p.get("cmp") and Path(p["cmp"]).resolve() == (ROOT / "cmp").resolve():
            how += f", cmp from the source tree {p['cmp']}"
        libyaml = "with libyaml" if p.get("libyaml") else "WITHOUT libyaml"
        done, total = p.get("compiled", [0, 0])
        return (
            f"confighash: {' '.join(self.confighash)} ({how}); Python {p.get('version')} "
            f"{self.python}, PyYAML {p.get('pyyaml')} {libyaml}, xxhash {p.get('xxhash')}, "
            f"cmp byte-compiled {done}/{total}"
        )


def interpreter_of(cmd: Sequence[str]) -> str | None:
    """The Python that runs ``cmd``: ``cmd[0]`` if it is one, else the one its ``#!`` line names
    (``/usr/bin/env NAME`` and pip's ``/bin/sh`` launcher for long paths included); None if
    ``cmd[0]`` is not found or is not a Python script."""
    python = re.compile(r"(python|pypy)[0-9.]*")
    exe = cmd[0] if os.sep in cmd[0] else shutil.which(cmd[0])
    if exe is None:
        return None
    if python.fullmatch(Path(exe).name):
        return exe
    try:
        with open(exe, "rb") as f:
            head = f.read(1024).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    words = head[0][2:].split()
    if words and Path(words[0]).name == "env":
        names = [w for w in words[1:] if not w.startswith("-")]
        found = shutil.which(names[0]) if names else None
        words = [found] if found else []
    elif words and Path(words[0]).name == "sh" and len(head) > 1:
        launcher = re.match(r"""'''exec' "?([^" ]+)""", head[1])
        words = [launcher.group(1)] if launcher else []
    return words[0] if words and python.fullmatch(Path(words[0]).name) else None


def source_digest(root: Path = ROOT) -> str:
    """SHA-256 of what the installed package is made of: pyproject.toml and the files of cmp/."""
    digest = hashlib.sha256()
    package = sorted(
        p
        for p in (root / "cmp").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    for path in [root / "pyproject.toml", *package]:
        data = path.read_bytes()
        digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def venv_stamp(root: Path = ROOT) -> dict[str, str]:
    """What a venv is built from; it is reused only while all of this stays the same."""
    return {
        "source_sha256": source_digest(root),
        "python": sys.version,
        "base_python": os.path.realpath(sys.executable),
    }


def default_venv(work: Path | None) -> Path:
    """WORK/venv with --work; else one per checkout and interpreter in the user's cache."""
    if work is not None:
        return work / "venv"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(f"{ROOT}\0{os.path.realpath(sys.executable)}".encode()).hexdigest()
    return cache / "confighash-bench" / f"venv-{key[:10]}"


def last_error(output: str) -> str:
    """The line of a failed command's output that says why: pip's last ``ERROR:`` line, else
    the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["(no output)"])[-1]


def _step(cmd: list[str], what: str, log: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=env,
        check=False,
    )
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(cmd)}\n{proc.stdout}\n")
    if proc.returncode != 0:
        raise SetupError(
            f"{what} failed (exit {proc.returncode}): {last_error(proc.stdout)} (log: {log})"
        )


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``: two benchmarks never build the same venv at once."""
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def clean_venv(venv: Path) -> tuple[Path, bool, str]:
    """A venv with the project pip-installed into it as in the image (a wheel, byte-compiled,
    dependencies from the package index or PIP_FIND_LINKS). Reused if it was built from the same
    sources by the same interpreter. Returns it, whether it was built now, and the sources' digest.
    """
    venv = venv.absolute()
    venv.parent.mkdir(parents=True, exist_ok=True)
    log = venv.parent / f"{venv.name}-install.log"
    with locked(venv.parent / f"{venv.name}.lock"):
        want = venv_stamp()
        try:
            have = json.loads((venv / STAMP).read_text())
        except (OSError, ValueError):
            have = None
        python = venv / "bin" / "python"
        if have == want and python.exists() and (venv / "bin" / "confighash").exists():
            return venv, False, want["source_sha256"]
        if venv.exists():
            if not (venv / "pyvenv.cfg").exists() and any(venv.iterdir()):
                raise SetupError(f"{venv} exists and is not a virtual environment; remove it")
            shutil.rmtree(venv)
        print(f"bench: building a clean venv in {venv} (log: {log})", file=sys.stderr)
        log.write_text("", encoding="utf-8")
        _step([sys.executable, "-m", "venv", str(venv)], f"python -m venv {venv}", log)
        with tempfile.TemporaryDirectory(prefix="confighash-src-") as tmp:
            src = Path(tmp) / "src"
            src.mkdir()
            for name in SOURCES:
                if (ROOT / name).is_dir():
                    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(ROOT / name, src / name, ignore=skip)
                else:
                    shutil.copy2(ROOT / name, src / name)
            built = venv_stamp(src)  # of the copy: the sources may change while this runs
            env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
            pip = [str(python), "-m", "pip", "install", str(src)]
            _step(pip, f"pip install of {ROOT} into {venv}", log, env)
        (venv / STAMP).write_text(json.dumps(built, indent=2) + "\n", encoding="utf-8")
    return venv, True, built["source_sha256"]


def probe(python: str, confighash: Sequence[str]) -> dict[str, Any]:
    """PROBE's answer, asked where the measured command looks for cmp: ``python -m cmp`` (run in
    ROOT, like every command) finds the source tree first; a console script does not."""
    with tempfile.TemporaryDirectory() as empty:
        cwd = ROOT if "-m" in confighash else empty
        proc = subprocess.run(
            [python, "-c", PROBE], capture_output=True, text=True, cwd=cwd, check=False
        )
    if proc.returncode != 0:
        raise SetupError(f"{python} -c <probe> failed: {last_error(proc.stderr)}")
    info: dict[str, Any] = json.loads(proc.stdout)
    return info


def find_install(args: argparse.Namespace) -> Install:
    """The confighash to measure: --confighash CMD; with --no-venv the console script beside the
    running interpreter; by default a clean venv's (see clean_venv)."""
    if args.confighash or args.no_venv:
        if args.confighash:
            kind, confighash = GIVEN, args.confighash.split()
        else:  # the console script installed with this interpreter (not a version-manager shim)
            beside = Path(sys.executable).with_name("confighash")
            found = str(beside) if beside.exists() else shutil.which("confighash")
            kind, confighash = CURRENT, [found] if found else [sys.executable, "-m", "cmp"]
        python = interpreter_of(confighash)
        if python is None:
            python = sys.executable
            print(
                f"bench: {confighash[0]} is not a Python script; python -c pass and load_all "
                f"run under {python}",
                file=sys.stderr,
            )
        return Install(kind, confighash, python, probe=probe(python, confighash))
    venv, built, digest = clean_venv(default_venv(args.work))
    python = str(venv / "bin" / "python")  # not resolved: the symlink is what makes it the venv
    confighash = [str(venv / "bin" / "confighash")]
    return Install(
        CLEAN_VENV,
        confighash,
        python,
        venv=str(venv),
        venv_built=built,
        source_sha256=digest,
        probe=probe(python, confighash),
    )


@dataclass(frozen=True)
class Tools:
    confighash: list[str]
    kustomize: list[str]
    python: str  # the interpreter of the measured confighash (Install.python)
    install: Install


def find_tools(args: argparse.Namespace) -> Tools:
    if args.kustomize:
        kustomize = args.kustomize.split()
    elif shutil.which("kustomize"):
        kustomize = [str(shutil.which("kustomize")), "build"]
    elif shutil.which("kubectl"):
        kustomize = [str(shutil.which("kubectl")), "kustomize"]
    else:
        sys.exit("bench: neither kustomize nor kubectl is on PATH")
    install = find_install(args)
    return Tools(install.confighash, kustomize, install.python, install)


def machine(tools: Tools) -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    binary = tools.kustomize[0]
    ask = [binary, "version", "--client"] if Path(binary).name == "kubectl" else [binary, "version"]
    version = subprocess.run(ask, capture_output=True, text=True, check=False).stdout
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(pages / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),  # the interpreter running the benchmark
        "pyyaml": yaml.__version__,
        "libyaml": bool(yaml.__with_libyaml__),
        "kustomize": version.strip().replace("\n", "; "),
        "confighash": " ".join(tools.confighash),
        "loadavg_start": os.getloadavg(),
    }


# --- a: build against kustomize ---------------------------------------------------------------


def bench_build(tools: Tools, corpus: Path, runs: int, work: Path) -> list[dict[str, Any]]:
    results = []
    for name, rel in BUILD_TARGETS.items():
        directory = corpus / rel
        if not directory.is_dir():
            print(f"  skipped {name}: {directory} not found", file=sys.stderr)
            continue
        ours = [*tools.confighash, "build", str(directory)]
        theirs = [*tools.kustomize, str(directory)]
        pair = paired(name, partial(run_once, ours), partial(run_once, theirs), runs)
        row = pair.report()
        row["dir"] = str(directory)
        row["target"] = TARGETS["build_ratio"] if name != "argo-workflows-postgres" else None
        results.append(row)
    return results


# --- f: a Helm chart against helm template, a plain directory against reading its files ----------

HELM_TARGETS = {  # name -> (chart, value files): charts in this repository, nothing to download
    "example-chart": ("examples/chart", ["values-production.yaml"]),
    "descheduler": ("tests/fixtures/charts/descheduler", []),
    "prometheus": ("tests/fixtures/charts/prometheus", []),  # four vendored dependencies
}


def bench_sources(tools: Tools, runs: int) -> list[dict[str, Any]]:
    """``confighash build CHART`` against the ``helm template`` Argo CD would run for the same
    chart and values, and ``confighash build DIR`` of a plain directory against ``cat`` of its
    files (no renderer at all: no target)."""
    helm = shutil.which("helm")
    results = []
    for name, (rel, values) in HELM_TARGETS.items():
        if helm is None:
            print(f"  skipped {name}: helm is not on PATH", file=sys.stderr)
            continue
        chart = ROOT / rel
        params = json.dumps([{"name": "valueFiles", "array": values}]) if values else "null"
        env = ["env", "ARGOCD_APP_NAME=bench", f"ARGOCD_APP_PARAMETERS={params}"]
        ours = [*env, *tools.confighash, "build", str(chart)]
        theirs = [helm, "template", str(chart), "--name-template", "bench", "--include-crds"]
        for value in values:
            theirs += ["--values", str(chart / value)]
        pair = paired(f"helm {name}", partial(run_once, ours), partial(run_once, theirs), runs)
        results.append({**pair.report(), "dir": str(chart), "target": TARGETS["build_ratio"]})
    plain = ROOT / "examples" / "plain"
    files = [str(p) for p in sorted(plain.iterdir()) if p.suffix in (".yaml", ".yml", ".json")]
    ours = [*tools.confighash, "build", str(plain)]
    pair = paired(
        "directory example", partial(run_once, ours), partial(run_once, ["cat", *files]), runs
    )
    results.append({**pair.report(), "dir": str(plain), "target": None})
    return results


# --- b, d: stamp against a full parse ---------------------------------------------------------


def stream_file(spec: genstream.Spec, work: Path) -> Path:
    key = hashlib.sha256(spec.describe().encode()).hexdigest()[:12]
    path = work / f"stream-{key}.yaml"
    if not path.exists():
        path.write_bytes(genstream.generate(spec))
    return path


def bench_stamp(tools: Tools, spec: genstream.Spec, runs: int, work: Path) -> dict[str, Any]:
    path = stream_file(spec, work)
    size_mb = path.stat().st_size / 2**20
    pair = paired(
        "stamp",
        lambda: run_once([*tools.confighash, "stamp", str(path)]),
        lambda: run_once([tools.python, "-c", LOAD_ALL, str(path)]),
        runs,
    )
    row = pair.report()
    row.update(
        stream=str(path),
        spec=asdict(spec),
        stream_mb=size_mb,
        speedup=summary([1 / r for r in pair.ratios]),
        rss_limit_mb=TARGETS["rss_stream_factor"] * size_mb + TARGETS["rss_extra_mb"],
    )
    return row


# --- c: startup -------------------------------------------------------------------------------


def bench_startup(tools: Tools, runs: int, work: Path) -> list[dict[str, Any]]:
    tiny = stream_file(genstream.Spec(apps=1, crds=0), work)
    python = tools.python  # the one that runs the measured confighash
    cases = {
        "confighash --version": [*tools.confighash, "--version"],
        "confighash stamp (tiny stream)": [*tools.confighash, "stamp", str(tiny)],
        "python -c pass (confighash's interpreter)": [python, "-c", "pass"],
        "python -S -c pass (same, without site/.pth)": [python, "-S", "-c", "pass"],
    }
    if tools.install.probe.get("prefix") != sys.prefix:  # another environment: compare
        cases["python -c pass (the one running the bench)"] = [sys.executable, "-c", "pass"]
    rows = []
    for name, cmd in cases.items():
        run_once(cmd)
        measured = [run_once(cmd) for _ in range(runs)]
        rows.append(
            {
                "name": name,
                "cmd": cmd,
                "wall_s": summary([r.wall for r in measured]),
                "maxrss_mb": summary([r.maxrss_mb for r in measured]),
                "all_ok": all(r.status == 0 for r in measured),
                "target": TARGETS["startup_s"] if name.startswith("confighash") else None,
            }
        )
    return rows


# --- e: concurrency ---------------------------------------------------------------------------


def bench_concurrent(tools: Tools, directory: Path, count: int, work: Path) -> dict[str, Any]:
    cmd = [*tools.confighash, "build", str(directory)]
    run_once(cmd)
    outs = work / "concurrent"
    outs.mkdir(exist_ok=True)
    start = time.perf_counter()
    sequential = [run_once(cmd, out=outs / f"seq-{i}.yaml") for i in range(count)]
    sequential_wall = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        concurrent = list(
            pool.map(lambda i: run_once(cmd, out=outs / f"par-{i}.yaml"), range(count))
        )
    concurrent_wall = time.perf_counter() - start
    digests = {r.out_sha256 for r in sequential + concurrent}
    return {
        "dir": str(directory),
        "count": count,
        "sequential_wall_s": sequential_wall,
        "concurrent_wall_s": concurrent_wall,
        "ratio": concurrent_wall / sequential_wall,
        "all_ok": all(r.status == 0 for r in sequential + concurrent),
        "identical_output": len(digests) == 1,
        "out_bytes": sequential[0].out_bytes,
        "concurrent_maxrss_mb": max(r.maxrss_mb for r in concurrent),
        "cores": os.cpu_count(),
    }


# --- scaling ----------------------------------------------------------------------------------

CHILD = (
    "import sys, time, json, yaml\n"
    "from cmp import pipeline\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "stamp, load = [], []\n"
    "for _ in range(int(sys.argv[2])):\n"
    "    t = time.perf_counter(); pipeline.stamp(data, pipeline.Options())\n"
    "    stamp.append(time.perf_counter() - t)\n"
    "    t = time.perf_counter()\n"
    "    for _ in yaml.load_all(data, Loader=yaml.CSafeLoader): pass\n"
    "    load.append(time.perf_counter() - t)\n"
    "print(json.dumps({'stamp': stamp, 'load': load}))\n"
)
SERIES: dict[str, tuple[str, list[genstream.Spec]]] = {
    "documents": (
        "extra documents no one edits (Services); 500 apps",
        [genstream.Spec(apps=500, crds=0, fillers=n) for n in (2500, 5000, 10000, 20000)],
    ),
    "workloads": (
        "apps (a Deployment, its ConfigMap and its Secret); no CRDs",
        [genstream.Spec(apps=n, crds=0) for n in (500, 1000, 2000, 4000)],
    ),
    "crd_size": (
        "KB per CRD (12 CRDs, documents no one edits); 500 apps",
        [genstream.Spec(apps=500, crds=12, crd_kb=kb) for kb in (100, 400, 1600)],
    ),
    "source_size": (
        "KB of config file per ConfigMap (documents that are parsed); 500 apps",
        [genstream.Spec(apps=500, crds=0, cm_kb=kb) for kb in (1, 8, 64)],
    ),
}


def _x(name: str, spec: genstream.Spec) -> int:
    return {
        "documents": spec.fillers,
        "workloads": spec.apps,
        "crd_size": spec.crd_kb,
        "source_size": spec.cm_kb,
    }[name]


def linearity(points: list[tuple[float, float]]) -> dict[str, float]:
    """Least-squares line through (x, seconds): slope, intercept, and R²."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in points)
    return {"slope": slope, "intercept": intercept, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}


def bench_scaling(tools: Tools, runs: int, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (what, specs) in SERIES.items():
        rows = []
        for spec in specs:
            path = stream_file(spec, work)
            proc = subprocess.run(
                [tools.python, "-c", CHILD, str(path), str(runs)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            timing = json.loads(proc.stdout)
            stamp, load = statistics.median(timing["stamp"]), statistics.median(timing["load"])
            rows.append(
                {
                    "x": _x(name, spec),
                    "stream_mb": path.stat().st_size / 2**20,
                    "documents": path.read_bytes().count(b"\n---\n") + 1,
                    "stamp_s": stamp,
                    "load_s": load,
                    "speedup": load / stamp,
                }
            )
            print(
                f"  scaling {name} x={rows[-1]['x']}: stamp {stamp:.3f}s load {load:.3f}s",
                file=sys.stderr,
            )
        out[name] = {
            "what": what,
            "rows": rows,
            "stamp_fit": linearity([(r["x"], r["stamp_s"]) for r in rows]),
            "load_fit": linearity([(r["x"], r["load_s"]) for r in rows]),
        }
    return out


# --- the table --------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "MISSED")


def table(result: dict[str, Any]) -> str:
    lines = [
        f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
        f"load {result['machine']['loadavg_start']}",
        result["install"]["describe"],
        "",
        f"{'measure':<48} {'median':>10} {'min':>9} {'max':>9} {'target':>9}  verdict",
    ]

    def row(
        name: str, s: dict[str, float], unit: str, target: float | None, ok: bool | None
    ) -> None:
        fmt = "{:.3f}" if unit in ("x", "s") else "{:.0f}"
        t = "" if target is None else fmt.format(target)
        lines.append(
            f"{name:<48} {fmt.format(s['median']) + unit:>10} {fmt.format(s['min']):>9} "
            f"{fmt.format(s['max']):>9} {t:>9}  {verdict(ok)}"
        )

    for r in result.get("build", []):
        row(
            f"a build/kustomize {r['name']}",
            r["ratio"],
            "x",
            r["target"],
            None if r["target"] is None else r["ratio"]["median"] <= r["target"] and r["all_ok"],
        )
        row(f"    confighash build {r['name']}", r["a_wall_s"], "s", None, None)
        row(f"    kustomize {r['name']}", r["b_wall_s"], "s", None, None)
    for r in result.get("sources", []):
        row(
            f"f build/renderer {r['name']}",
            r["ratio"],
            "x",
            r["target"],
            None if r["target"] is None else r["ratio"]["median"] <= r["target"] and r["all_ok"],
        )
        row(f"    confighash build {r['name']}", r["a_wall_s"], "s", None, None)
        row(f"    renderer {r['name']}", r["b_wall_s"], "s", None, None)
    if "stamp" in result:
        b = result["stamp"]
        row(
            f"b load_all/stamp ({b['stream_mb']:.1f} MB)",
            b["speedup"],
            "x",
            TARGETS["stamp_speedup"],
            b["speedup"]["median"] >= TARGETS["stamp_speedup"],
        )
        row("    confighash stamp", b["a_wall_s"], "s", None, None)
        row("    CSafeLoader load_all", b["b_wall_s"], "s", None, None)
        row(
            "d peak RSS of stamp (MB)",
            b["a_maxrss_mb"],
            "",
            b["rss_limit_mb"],
            b["a_maxrss_mb"]["max"] <= b["rss_limit_mb"],
        )
        row("    peak RSS of load_all (MB)", b["b_maxrss_mb"], "", None, None)
    for r in result.get("startup", []):
        ok = None if r["target"] is None else r["wall_s"]["median"] <= r["target"]
        row(f"c {r['name']}", r["wall_s"], "s", r["target"], ok)
    if "concurrent" in result:
        e = result["concurrent"]
        lines.append(
            f"e {e['count']} concurrent builds on {e['cores']} cores: "
            f"{e['concurrent_wall_s']:.1f}s vs {e['sequential_wall_s']:.1f}s one after another "
            f"(ratio {e['ratio']:.2f}); "
            f"all succeeded: {e['all_ok']}; identical output: {e['identical_output']}"
        )
    for name, series in result.get("scaling", {}).items():
        lines.append(f"scaling by {name} ({series['what']}):")
        for r in series["rows"]:
            lines.append(
                f"    x={r['x']:<6} {r['stream_mb']:6.1f} MB {r['documents']:6d} docs  "
                f"stamp {r['stamp_s']:.3f}s  load_all {r['load_s']:.3f}s  ({r['speedup']:.1f}x)"
            )
        fit = series["stamp_fit"]
        lines.append(
            f"    stamp ≈ {fit['intercept']:.3f}s + {fit['slope'] * 1000:.3f}ms·x "
            f"(R² {fit['r2']:.3f})"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="confighash benchmark (see docs/performance.md)")
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller inputs")
    parser.add_argument("--runs", type=int, help="counted runs per measure (default 7, quick 3)")
    parser.add_argument("--only", default="a,b,c,e,f,scaling", help="sections, comma-separated")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/<time>.json)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="shared corpus dir")
    parser.add_argument(
        "--confighash", help="command to run as confighash (default: a clean venv's, as the image)"
    )
    parser.add_argument(
        "--no-venv",
        action="store_true",
        help="measure the confighash installed beside this interpreter, not a clean venv's",
    )
    parser.add_argument("--kustomize", help="command to run as kustomize build")
    parser.add_argument(
        "--work",
        type=Path,
        help="where generated streams and the venv go (default: temp; the venv in ~/.cache)",
    )
    args = parser.parse_args(argv)
    if args.work is not None:
        args.work = args.work.absolute()  # commands run in ROOT
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = args.runs or (3 if args.quick else 7)
    only = set(args.only.split(","))
    if args.quick:
        only.discard("scaling")
    if only & {"a", "e"} and not args.corpus.is_dir():
        sys.exit(
            f"bench: the corpus is not at {args.corpus} (a and e build its apps); clone beside "
            "../shared or pass --corpus DIR, or leave them out with --only b,c,scaling"
        )
    try:
        tools = find_tools(args)
    except SetupError as e:
        sys.exit(f"bench: {e}")
    except OSError as e:
        sys.exit(f"bench: could not set up the confighash to measure: {e}")
    described = tools.install.describe()
    print(described, file=sys.stderr)
    work = args.work or Path(tempfile.mkdtemp(prefix="confighash-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    spec = genstream.Spec(apps=500, crds=8) if args.quick else genstream.Spec()
    result: dict[str, Any] = {
        "machine": machine(tools),
        "install": {**asdict(tools.install), "describe": described},
        "runs": runs,
        "quick": args.quick,
    }
    started = time.perf_counter()
    if "a" in only:
        result["build"] = bench_build(tools, args.corpus, runs, work)
    if "b" in only:
        result["stamp"] = bench_stamp(tools, spec, runs, work)
    if "c" in only:
        result["startup"] = bench_startup(tools, max(runs, 10 if args.quick else 20), work)
    if "e" in only:
        directory = args.corpus / BUILD_TARGETS["argo-cd-ha"]
        result["concurrent"] = bench_concurrent(tools, directory, 16, work)
    if "scaling" in only:
        result["scaling"] = bench_scaling(tools, 3, work)
    if "f" in only:
        result["sources"] = bench_sources(tools, runs)
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["seconds"] = time.perf_counter() - started
    out = args.out or ROOT / "bench" / "results" / time.strftime("%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
