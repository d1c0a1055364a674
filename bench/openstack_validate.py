"""anker config validate against oslo-config-validator, side by side, on nova.conf files.

Both read the option declarations of the same installed packages (nova's generator config:
tests/openstack/nova-config-generator.conf) and check the same files: the deployed nova.conf
files of the test corpus and a copy of one with planted defects. For each file it prints what
each tool reports (names unknown, deprecated, bad values) and the median wall time of a few
runs of each command (each run is a new process, as an operator runs it); anker's both with
its declarations cached (--cache, from the second run on) and without.

Run it in the environment that has nova installed::

    make openstack-env
    .venv-openstack/bin/python bench/openstack_validate.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "corpus" / "config"
GENERATOR = ROOT / "tests" / "openstack" / "nova-config-generator.conf"
DEPLOYED = [
    CORPUS / "ogalush+Ussuri-InstallConfigsForCentOS8__controller__nova.conf",
    CORPUS / "rdo-packages+nova-distgit__nova-dist.conf",
    CORPUS / "venumurthy+openstack-configs__nova.conf",
]
#: (section, line) planted in a copy of the first deployed file, and what each is
PLANTED = [
    ("DEFAULT", "debgu = True", "typo"),
    ("DEFAULT", "default_thread_pool_size = 0", "below its minimum"),
    ("databse", "connection = mysql+pymysql://nova:pw@db/nova", "misspelt section"),
    ("databse", "max_retries = 3", "misspelt section"),
    ("conductor", "workers = many", "not an integer"),
    ("libvirt", "virt_type = kvmm", "not one of the choices"),
    ("pci", "passthrough_whitelist = {}", "deprecated name"),
    ("vnc", "vncserver_listen = 0.0.0.0", "removed alias"),
    ("keystone_authtoken", "memcached_servres = 127.0.0.1:11211", "typo"),
]
ORIGINAL_VIRT_TYPE = "\nvirt_type=kvm\n"
OSLO_LINE = re.compile(
    r"^(?P<level>ERROR|WARNING):oslo_config\.validator:"
    r"(?:(?P<unknown>\S+)/(?P<uopt>\S+) is not part of the sample config"
    r"|Deprecated opt (?P<dsec>\S+)/(?P<dopt>\S+) found)"
)
IGNORED = re.compile(r'Ignoring missing option "(?P<opt>[^"]+)" from group "(?P<sec>[^"]+)"')


def planted_copy(directory: Path) -> Path:
    text = DEPLOYED[0].read_text()
    for section, line, _ in PLANTED:
        if section == "libvirt":
            text = text.replace(ORIGINAL_VIRT_TYPE, f"\n{line}\n", 1)
            continue
        header = f"[{section}]\n"
        if header in text or f"\n{header}" in text:
            text = text.replace(header, f"{header}{line}\n", 1)
        else:
            text += f"\n{header}{line}\n"
    path = directory / "nova-planted.conf"
    path.write_text(text)
    return path


def timed(command: list[str], runs: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    samples: list[float] = []
    done = None
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - start)
    assert done is not None
    return statistics.median(samples), done


def anker_findings(done: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    report = json.loads(done.stdout)
    found: dict[str, list[str]] = {}
    for problem in report["problems"]:
        where = f"[{problem['section']}] {problem['option'] or ''}".strip()
        hint = f" -> {problem['suggestion']}" if problem.get("suggestion") else ""
        found.setdefault(problem["code"], []).append(where + hint)
    return found


def oslo_findings(done: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in done.stderr.splitlines():
        match = OSLO_LINE.match(line)
        if match and match["unknown"]:
            found.setdefault("not part of the sample config", []).append(
                f"[{match['unknown']}] {match['uopt']}"
            )
        elif match:
            found.setdefault("deprecated opt", []).append(f"[{match['dsec']}] {match['dopt']}")
        elif ignored := IGNORED.search(line):
            found.setdefault("ignored (hard-coded group list)", []).append(
                f"[{ignored['sec']}] {ignored['opt']}"
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command per file")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for path in [*DEPLOYED, planted_copy(Path(directory))]:
            anker = [str(bin_dir / "anker"), "config", "validate", "--generator-config",
                     str(GENERATOR), "--format", "json", str(path)]  # fmt: skip
            first_time, _ = timed(anker, args.runs)  # without the cache
            subprocess.run([*anker, "--cache"], capture_output=True, check=False)  # fills it
            anker_time, anker_done = timed([*anker, "--cache"], args.runs)
            oslo_time, oslo_done = timed(
                [str(bin_dir / "oslo-config-validator"), "--config-file", str(GENERATOR),
                 "--input-file", str(path)],
                args.runs,
            )  # fmt: skip
            results.append(
                {
                    "file": path.name,
                    "anker": {
                        "seconds": round(anker_time, 3),
                        "seconds without cache": round(first_time, 3),
                        "exit": anker_done.returncode,
                        "findings": anker_findings(anker_done),
                    },
                    "oslo-config-validator": {
                        "seconds": round(oslo_time, 3),
                        "exit": oslo_done.returncode,
                        "findings": oslo_findings(oslo_done),
                    },
                }
            )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"median of {args.runs} runs each; namespaces from {GENERATOR.name}\n")
    for result in results:
        print(f"== {result['file']}")
        for tool in ("anker", "oslo-config-validator"):
            side = result[tool]
            uncached = side.get("seconds without cache")  # type: ignore[attr-defined]
            more = f" ({uncached:.3f} s without --cache)" if uncached is not None else ""
            print(f"  {tool}: {side['seconds']:.3f} s{more}, exit {side['exit']}")  # type: ignore[index]
            for kind, items in side["findings"].items():  # type: ignore[index]
                print(f"    {kind} ({len(items)}): {', '.join(items)}")
        print()


if __name__ == "__main__":
    main()
