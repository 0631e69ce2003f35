"""`make audit`: known vulnerabilities in every pinned package, or a clear "could not audit" and a failing exit.

pip-audit answers "No known vulnerabilities found" and exits 0 even when its vulnerability service could not be
asked about a single package (each one is only "skipped"). A silent pass is worse than no audit, so this reads
pip-audit's JSON report and passes only when every pinned package was really checked.
Exit codes: 0 all audited and clean, 1 vulnerabilities found, 2 could not audit (service unreachable, skipped
packages, pip-audit failed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

COULD_NOT = "make audit: COULD NOT AUDIT"


def audit(lock: Path) -> tuple[list[str], list[str], int]:
    """(vulnerabilities, packages not audited, packages audited) for one hash lock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # the public index only, as for `make lock`
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        proc = subprocess.run(
            [sys.executable, "-m", "pip_audit", "--requirement", str(lock), "--require-hashes", "--disable-pip",
             "--progress-spinner", "off", "--format", "json", "--output", str(report)],
            env=env, capture_output=True, text=True, timeout=900, check=False)
        if not report.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return [], [f"pip-audit failed (exit {proc.returncode}): {last}"], 0
        data = json.loads(report.read_text(encoding="utf-8"))
    vulns: list[str] = []
    skipped: list[str] = []
    audited = 0
    for dep in data.get("dependencies", []):
        if "skip_reason" in dep or "vulns" not in dep:
            skipped.append(f"{dep.get('name')}: {dep.get('skip_reason', 'not audited')}")
            continue
        audited += 1
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            vulns.append(f"{dep['name']}=={dep.get('version')}: {vuln.get('id')} (fixed in: {fixes})")
    return vulns, skipped, audited


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: audit_lock.py LOCK...", file=sys.stderr)
        return 2
    all_vulns: list[str] = []
    all_skipped: list[str] = []
    audited = 0
    for path in paths:
        vulns, skipped, count = audit(Path(path))
        all_vulns += [f"{path}: {v}" for v in vulns]
        all_skipped += [f"{path}: {s}" for s in skipped]
        audited += count
    for line in all_vulns:
        print(f"make audit: VULNERABLE {line}")
    if all_skipped:
        for line in all_skipped[:10]:
            print(f"  not audited: {line}", file=sys.stderr)
        if len(all_skipped) > 10:
            print(f"  … and {len(all_skipped) - 10} more", file=sys.stderr)
        print(f"{COULD_NOT}: {len(all_skipped)} pinned packages were not checked ({audited} were); the vulnerability "
              "service is probably not reachable from this machine. This is NOT a clean result: run `make audit` "
              "where PyPI's JSON API is reachable.", file=sys.stderr)
        return 2
    if all_vulns:
        print(f"make audit: {len(all_vulns)} known vulnerabilities: take the fix as docs/dependencies.md says")
        return 1
    print(f"make audit: {audited} pinned packages audited, no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
