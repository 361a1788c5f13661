"""A Docker engine of its own, as a fresh GitHub runner has one: an empty data root on a journaled ext4.

Who uses it: the fresh-runner test (tests/test_action_act.py), whose builds must find no build cache, and which so
empties no cache of the engine the rest of the suite shares (the emulated arm64 builds' above all); and the pipeline
benchmark (benchmarks/pipeline.py), which empties its engine before each cold and fresh-runner phase.

Why a journaled ext4: this VM's disk is ext4 without a journal. Without one, ext4 passes over every inode deleted in
the last one to six minutes when it allocates a new inode (fs/ext4/ialloc.c, recently_deleted(), which it checks only
when there is no journal), looking each one up as it goes. Emptying an engine deletes tens of thousands of files, so
the next pull or install spent seconds of kernel time in that search (perf: ext4_create -> recently_deleted); a pull
of the 128 MB layer cache took 3.5-5.5 s here against 2.45 s on a journaled file system. A GitHub runner's
/var/lib/docker is on a journaled ext4, where the check is off.

What: the same dockerd as the bootstrap's engine (Docker 28.5 from Debian's newest suite, and so the same built-in
BuildKit), docker CLI, buildx and Compose, with the image store asked for (containerd or classic), the data root on
an ext4 made with mkfs's defaults (a journal) in a sparse loop file, a bridge and an address range of its own, the
test CA's bundle (for the stand-in hub) and the base images copied from the host's engine (a runner pulls them from
Docker Hub). Its containers reach the outside (the package index, for the cold builds) through one MASQUERADE and two
FORWARD rules for its address range alone. Everything is undone on exit, whatever happens: dockerd stopped by its
PID, the rules deleted, the bridge removed, the file system unmounted.

Where it still differs from a runner: the file system lies in a file on this VM's disk (a loop device: one more
layer of caching, no faster disk); the engine does not manage iptables (published ports go through docker-proxy
alone); and the CPUs, memory and disk are this VM's.
"""

import ipaddress
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from testkit.harness import CACHE_DIR, REPO_ROOT, run, stop_process

# An address range the host does not route yet (checked), for the engine's bridge and its Compose networks.
ADDRESS_RANGE = ipaddress.ip_network("10.231.0.0/16")
BRIDGE_ADDRESS = "10.231.0.1/24"
TOOLS = ("dockerd", "truncate", "mkfs.ext4", "mount", "umount", "iptables", "ip")
# The bootstrap's engine (dockerd, containerd and its shim), first on dockerd's PATH.
ENGINE_PATH = os.pathsep.join([str(CACHE_DIR / "engine" / "bin"), os.environ.get("PATH", "")])
IMAGE_STORES = ("containerd", "classic")
BOOTSTRAP = REPO_ROOT / "scripts" / "bootstrap.sh"


class EngineUnavailable(RuntimeError):
    pass


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise EngineUnavailable("an engine of its own needs root: a loop mount, a bridge and iptables rules")
    missing = [tool for tool in TOOLS if shutil.which(tool, path=ENGINE_PATH) is None]
    if missing:
        raise EngineUnavailable(f"an engine of its own needs {', '.join(missing)}")
    # Routes that cover the range (the default route aside) or lie inside it.
    covering = run(["ip", "route", "show", "to", "match", str(ADDRESS_RANGE.network_address)]).stdout.splitlines()
    inside = run(["ip", "route", "show", "root", str(ADDRESS_RANGE)]).stdout.splitlines()
    routed = [line for line in {*covering, *inside} if not line.startswith("default")]
    if routed:
        raise EngineUnavailable(f"{ADDRESS_RANGE} is already routed on this host: {routed}")


def _answers(env: dict) -> bool:
    return subprocess.run(["docker", "info"], env=env, capture_output=True, check=False).returncode == 0


def _copy_images(images: list[str], env: dict) -> None:
    with subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE) as save:
        run(["docker", "load", "--quiet"], stdin=save.stdout, env=env)
    if save.returncode != 0:
        raise EngineUnavailable(f"docker save {' '.join(images)} exited {save.returncode}")


@contextmanager
def journaled_engine(workdir: Path, base_images: list[str], image_store: str, size: str = "40G") -> Iterator[str]:
    """Points this process's docker, buildx and Compose commands at the engine (DOCKER_HOST) while the context
    lasts, and yields that address."""
    _check_prerequisites()
    if image_store not in IMAGE_STORES:
        raise EngineUnavailable(f"image store {image_store!r} is not one of {', '.join(IMAGE_STORES)}")
    # A network interface name has at most 15 characters.
    name = f"tciengine{secrets.token_hex(2)}"
    # Under /run: containerd's socket paths must stay short.
    exec_root = Path("/run") / name
    socket = Path("/run") / f"{name}.sock"
    data = workdir / "engine"
    data.mkdir(parents=True)
    image = workdir / "engine.img"
    forward_rules = [["FORWARD", "--source", str(ADDRESS_RANGE), "--jump", "ACCEPT"],
                     ["FORWARD", "--destination", str(ADDRESS_RANGE), "--match", "conntrack",
                      "--ctstate", "RELATED,ESTABLISHED", "--jump", "ACCEPT"]]  # fmt: skip
    masquerade = ["POSTROUTING", "--source", str(ADDRESS_RANGE), "!", "--destination", str(ADDRESS_RANGE),
                  "--jump", "MASQUERADE"]  # fmt: skip
    with ExitStack() as undo:
        run(["truncate", "--size", size, image])
        undo.callback(image.unlink)
        run(["mkfs.ext4", "-q", "-F", image])
        run(["mount", "-o", "loop", image, data])
        undo.callback(run, ["umount", data])
        run(["ip", "link", "add", name, "type", "bridge"])
        undo.callback(run, ["ip", "link", "delete", name])
        run(["ip", "address", "add", BRIDGE_ADDRESS, "dev", name])
        run(["ip", "link", "set", name, "up"])
        for rule in forward_rules:
            run(["iptables", "--insert", *rule])
            undo.callback(run, ["iptables", "--delete", *rule])
        run(["iptables", "--table", "nat", "--append", *masquerade])
        undo.callback(run, ["iptables", "--table", "nat", "--delete", *masquerade])
        config = workdir / "daemon.json"
        write_config = 'source "$1" && write_daemon_config "$2" "$3"'  # the bootstrap's own writer
        run(["bash", "-c", write_config, "write_daemon_config", BOOTSTRAP, image_store, config])
        log = (workdir / "dockerd.log").open("w", encoding="utf-8")
        undo.callback(log.close)
        dockerd = subprocess.Popen(  # pylint: disable=consider-using-with
            ["dockerd", "--config-file", config, "--data-root", data / "docker", "--exec-root", exec_root,
             "--pidfile", Path("/run") / f"{name}.pid",
             "--host", f"unix://{socket}", "--bridge", name, "--iptables=false", "--ip-masq=false",
             "--default-address-pool", f"base={ADDRESS_RANGE},size=24"],
            env={**os.environ, "PATH": ENGINE_PATH, "SSL_CERT_FILE": str(CACHE_DIR / "test-ca" / "bundle.crt")},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        undo.callback(shutil.rmtree, exec_root, ignore_errors=True)
        undo.callback(stop_process, dockerd, timeout=30)
        address = f"unix://{socket}"
        env = {**os.environ, "DOCKER_HOST": address}
        deadline = time.monotonic() + 60
        while not _answers(env):
            if dockerd.poll() is not None or time.monotonic() > deadline:
                # The log lives in the work folder, which goes when its user ends: show its end here.
                last_lines = (workdir / "dockerd.log").read_text(encoding="utf-8").splitlines()[-20:]
                raise EngineUnavailable("the engine's dockerd did not answer; its log ends:\n" + "\n".join(last_lines))
            time.sleep(0.2)
        _copy_images(base_images, env)
        undo.callback(_restore_docker_host, os.environ.get("DOCKER_HOST"))
        os.environ["DOCKER_HOST"] = address
        yield address


def _restore_docker_host(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("DOCKER_HOST", None)
    else:
        os.environ["DOCKER_HOST"] = previous
