"""The GitHub workflows under .github/workflows cannot run here; this checks what GitHub would
refuse or what would make them silently wrong: valid YAML, the fields a workflow needs, official
actions pinned by a full commit SHA, least privilege, time limits, and that each workflow runs the
command it exists for. Usage: check_workflows.py <repository root>"""

import pathlib
import re
import sys

import yaml

# Each workflow and the commands its steps must run (substring of a `run:` script).
REQUIRED = {
    "linux-x86_64.yml": ["bash scripts/install-deps.sh", "make test", "make package"],
    "linux-arm64.yml": ["bash scripts/install-deps.sh", "make test-arm64"],
    "android.yml": ["assembleRelease", "testDebugUnitTest"],
    "swift-macos.yml": ["-DCROSSGPU_LIBRARY_ONLY=ON", "swift build", "swift test"],
}
# Official actions only: GitHub's own and the Gradle project's.
ALLOWED_OWNERS = {"actions", "gradle"}
PINNED = re.compile(r"^([A-Za-z0-9-]+)/[A-Za-z0-9._-]+(/[A-Za-z0-9._/-]+)?@[0-9a-f]{40}$")
RUNNERS = re.compile(r"^(ubuntu-\d\d\.04(-arm)?|macos-\d+)$")


def check_step(where: str, step, errors: list) -> None:
    if not isinstance(step, dict):
        errors.append(f"{where}: a step must be a mapping")
        return
    if ("uses" in step) == ("run" in step):
        errors.append(f"{where}: a step needs exactly one of uses/run")
    if "uses" in step:
        match = PINNED.match(str(step["uses"]))
        if not match:
            errors.append(f"{where}: {step['uses']} is not owner/repo@<40-hex commit SHA>")
        elif match.group(1) not in ALLOWED_OWNERS:
            errors.append(f"{where}: {step['uses']} is not an official action")
    if "run" in step and not str(step["run"]).strip():
        errors.append(f"{where}: empty run")
    unknown = set(step) - {"name", "uses", "run", "with", "env", "working-directory", "if", "id", "shell"}
    if unknown:
        errors.append(f"{where}: unknown step keys {sorted(unknown)}")


def check_job(where: str, job, errors: list) -> str:
    """Checks one job and returns its run scripts, joined."""
    if not isinstance(job, dict):
        errors.append(f"{where}: a job must be a mapping")
        return ""
    if not RUNNERS.match(str(job.get("runs-on", ""))):
        errors.append(f"{where}: runs-on {job.get('runs-on')!r} is not a pinned GitHub-hosted runner")
    minutes = job.get("timeout-minutes")
    if not isinstance(minutes, int) or not 1 <= minutes <= 360:
        errors.append(f"{where}: timeout-minutes {minutes!r} must be 1..360")
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        errors.append(f"{where}: no steps")
        return ""
    for index, step in enumerate(steps):
        check_step(f"{where} step {index + 1}", step, errors)
    first = steps[0] if isinstance(steps[0], dict) else {}
    if not str(first.get("uses", "")).startswith("actions/checkout@"):
        errors.append(f"{where}: the first step must check the repository out")
    elif (first.get("with") or {}).get("persist-credentials") is not False:
        errors.append(f"{where}: checkout must not persist the token (persist-credentials: false)")
    return "\n".join(str(s.get("run", "")) for s in steps if isinstance(s, dict))


def check_workflow(path: pathlib.Path, errors: list) -> None:
    where = path.name
    try:
        workflow = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        errors.append(f"{where}: not YAML: {error}")
        return
    if not isinstance(workflow, dict):
        errors.append(f"{where}: not a mapping")
        return
    # YAML 1.1 reads the key `on` as the boolean true.
    triggers = workflow.get("on", workflow.get(True))
    if not isinstance(triggers, dict) or not {"push", "pull_request"} <= set(triggers):
        errors.append(f"{where}: must run on push and pull_request, has {triggers!r}")
    if not isinstance(workflow.get("name"), str):
        errors.append(f"{where}: no name")
    if workflow.get("permissions") != {"contents": "read"}:
        errors.append(f"{where}: permissions must be exactly contents: read")
    jobs = workflow.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        errors.append(f"{where}: no jobs")
        return
    scripts = "\n".join(check_job(f"{where} job {name}", job, errors) for name, job in jobs.items())
    for command in REQUIRED.get(path.name, []):
        if command not in scripts:
            errors.append(f"{where}: no step runs {command!r}")


def main() -> int:
    folder = pathlib.Path(sys.argv[1]) / ".github" / "workflows"
    files = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
    errors = []
    missing = set(REQUIRED) - {f.name for f in files}
    errors += [f"missing workflow {name}" for name in sorted(missing)]
    for path in files:
        check_workflow(path, errors)
    for error in errors:
        print(f"FAIL: {error}")
    if not errors:
        print(f"{len(files)} workflows: valid")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
