"""An engine in a container without --privileged, which this host refuses (its engine lacks SYS_RESOURCE): the
`docker run` options that give it every capability this machine holds, for the swarm tier's nodes."""

from pathlib import Path

# Linux's capabilities by number (linux/capability.h).
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def held_capabilities(status: str) -> list[str]:
    """The capabilities in the bounding set of a /proc/<pid>/status text."""
    bounding = int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapBnd:")), 16)
    return [name for bit, name in enumerate(CAPABILITIES) if bounding >> bit & 1]


# Every capability this machine holds, named one by one (Docker 28 refuses `--cap-add ALL --cap-drop X` for a
# capability the engine itself lacks), no seccomp/AppArmor profile, writable /proc and /sys paths, every device.
ENGINE_IN_CONTAINER = [
    *(f"--cap-add={name}" for name in held_capabilities(Path("/proc/self/status").read_text(encoding="utf-8"))),
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
]  # fmt: skip
