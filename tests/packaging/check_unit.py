"""Structural check of crossgpu-node.service beyond what `systemd-analyze verify` refuses: the
service runs as its own user with its state under /var/lib/crossgpu and the hardening the package
promises (docs/PACKAGING.md). Usage: check_unit.py <unit file> <expected CLI path>"""

import sys


def parse(text: str) -> dict:
    """systemd's unit syntax: [Section] headers, Key=Value lines (repeatable), # and ; comments."""
    sections: dict = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise SystemExit(f"line {number}: not a section or Key=Value: {raw!r}")
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


EXPECTED = {
    "Unit": {"After": "network-online.target avahi-daemon.service", "Wants": "network-online.target"},
    "Service": {
        "Type": "simple",
        "User": "crossgpu",
        "Group": "crossgpu",
        "StateDirectory": "crossgpu crossgpu/config crossgpu/cache",
        "StateDirectoryMode": "0700",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "RestrictSUIDSGID": "yes",
        "RestrictNamespaces": "yes",
        "Restart": "on-failure",
    },
    "Install": {"WantedBy": "multi-user.target"},
}


def main() -> int:
    path, cli = sys.argv[1], sys.argv[2]
    unit = parse(open(path).read())
    errors = []
    for section, keys in EXPECTED.items():
        for key, value in keys.items():
            got = unit.get(section, {}).get(key)
            if got != [value]:
                errors.append(f"[{section}] {key}: expected [{value!r}], got {got}")
    service = unit.get("Service", {})
    exec_start = service.get("ExecStart", [""])
    if len(exec_start) != 1 or not exec_start[0].startswith(f"{cli} node --config /var/lib/crossgpu/config"):
        errors.append(f"ExecStart {exec_start} does not run `{cli} node` on /var/lib/crossgpu/config")
    environment = " ".join(service.get("Environment", []))
    for setting in ("HOME=/var/lib/crossgpu", "CROSSGPU_CACHE_DIR=/var/lib/crossgpu/cache"):
        if setting not in environment.split():
            errors.append(f"Environment lacks {setting}")
    # Nothing may widen what the hardening took away.
    for key in ("PrivateDevices", "ReadWritePaths", "PermissionsStartOnly", "DynamicUser"):
        if key in service:
            errors.append(f"unexpected {key}={service[key]}")
    for error in errors:
        print(f"FAIL: {path}: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
