"""A real Docker Swarm of three nodes on this one machine, for the swarm tier and its benchmark.

Each node is an engine in a container (the image scripts/base-images.sh makes; scripts/swarm-node.sh starts
dockerd) on one bridge network of its own, with fixed addresses and a volume for its engine's state, so a
stopped node rejoins. A registry on the same network holds the images: the web image is pushed to it and
deployed by digest, as CI deploys it; the nodes take docker.io's images (Redis, HAProxy) from it as their
registry mirror, since no real registry is reachable here. A second, read-only registry serves the stand-in
Docker Hub's storage as their first mirror, so an image a workflow pushed to "docker.io" is pulled by its
digest. The manager runs sshd, published on 127.0.0.1, for DOCKER_HOST=ssh://. The host engine itself
never joins a swarm.

Run as `python -m testkit.swarm` it prints the node image's reference (the bootstrap makes sure it exists).
"""

import ipaddress
import json
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testkit.capabilities import ENGINE_IN_CONTAINER
from testkit.harness import free_port, run, wait_until

NODE_IMAGE = "tracker-ci/swarm-node:trixie"
REGISTRY_PORT = 5000
REGISTRY_CONFIG = (
    "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n{extra}http:\n  addr: :5000\n"
)
# Candidate subnets for the swarm's network; the first one no other network uses is taken.
SUBNETS = [f"10.231.{third}.0/24" for third in range(7, 40)]


@dataclass
class Node:
    name: str
    address: str

    def docker(self, *args, check=True, timeout=300, **kwargs) -> subprocess.CompletedProcess:
        """The docker CLI inside this node, talking to its own engine."""
        return run(["docker", "exec", "-i", self.name, "docker", *args], check=check, timeout=timeout, **kwargs)

    def shell(self, script: str, *args, check=True, timeout=300) -> subprocess.CompletedProcess:
        return run(
            ["docker", "exec", "-i", self.name, "bash", "-c", script, "bash", *args], check=check, timeout=timeout
        )

    @property
    def hostname(self) -> str:
        return self.name.rsplit("-", 1)[1]

    def engine_answers(self) -> bool:
        return self.docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=10).returncode == 0


@dataclass
class Swarm:
    network: str
    subnet: str
    nodes: list[Node] = field(default_factory=list)
    mirrored: set = field(default_factory=set)

    def address(self, host: int) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + host)

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    @property
    def registry(self) -> str:
        return f"{self.network}-registry"

    @property
    def registry_host(self) -> str:
        return f"{self.address(2)}:{REGISTRY_PORT}"

    @property
    def hub_mirror_host(self) -> str:
        return f"{self.address(3)}:{REGISTRY_PORT}"

    ssh_port: int = 0
    ssh_key: Path | None = None

    @property
    def ssh_target(self) -> str:
        """user@host:port of the manager's sshd, for DOCKER_HOST=ssh://<target>."""
        return f"root@127.0.0.1:{self.ssh_port}"

    def known_hosts(self) -> str:
        host_key = self.manager.shell("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
        return f"[127.0.0.1]:{self.ssh_port} {' '.join(host_key)}\n"

    def push(self, image: str, repository: str) -> str:
        """Moves a host image into the manager and pushes it to the swarm's registry as `repository`
        (a path such as realpython/page-tracker:v1); returns its reference by digest there."""
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        try:
            run(["docker", "exec", "-i", self.manager.name, "docker", "load", "--quiet"], stdin=save.stdout)
        finally:
            save.stdout.close()
            save.wait()
        target = f"{self.registry_host}/{repository}"
        self.manager.docker("tag", image, target)
        self.manager.docker("push", "--quiet", target)
        digests = json.loads(
            self.manager.docker("image", "inspect", "--format", "{{json .RepoDigests}}", target).stdout
        )
        name = target.rsplit(":", 1)[0]
        return next(digest for digest in digests if digest.startswith(f"{name}@"))

    def mirror(self, *images: str) -> None:
        """Puts docker.io images (e.g. redis:8.10-trixie) into the registry the nodes use as their mirror,
        each once per swarm."""
        for image in images:
            if image not in self.mirrored:
                self.push(image, image if "/" in image else f"library/{image}")
                self.mirrored.add(image)

    def remove_stack(self, stack: str) -> None:
        """docker stack rm, and wait until its network is gone, so the next deploy starts clean."""
        self.manager.docker("stack", "rm", stack)
        wait_until(
            lambda: (
                not self.manager.docker(
                    "network", "ls", "--quiet", "--filter", f"label=com.docker.stack.namespace={stack}"
                ).stdout.strip()
            ),
            60,
            f"the networks of stack {stack} to go",
            interval=0.5,
        )


def node_image_present() -> bool:
    return run(["docker", "image", "inspect", NODE_IMAGE], check=False).returncode == 0


def _create_network(name: str) -> str:
    for subnet in SUBNETS:
        if run(["docker", "network", "create", "--subnet", subnet, name], check=False).returncode == 0:
            return subnet
    raise AssertionError(f"no free subnet among {SUBNETS[0]} .. {SUBNETS[-1]} for the swarm's network")


def _start_registry(name: str, swarm: Swarm, address: str, config_dir: Path, storage: Path | None = None) -> None:
    """Debian's docker-registry binary (the one the stand-in Docker Hub runs) in a node-image container; with
    `storage`, serving that folder read-only."""
    config = config_dir / f"{name}.yml"
    readonly = "  maintenance:\n    readonly:\n      enabled: true\n" if storage else ""
    config.write_text(REGISTRY_CONFIG.format(extra=readonly), encoding="utf-8")
    volumes = ["--volume", f"{storage}:/var/lib/registry:ro"] if storage else []
    run(["docker", "run", "--detach", "--name", name, "--network", swarm.network, "--ip", address, *volumes,
         "--volume", "/usr/bin/docker-registry:/usr/bin/docker-registry:ro",
         "--volume", f"{config}:/etc/registry.yml:ro", "--entrypoint", "docker-registry",
         NODE_IMAGE, "serve", "/etc/registry.yml"])  # fmt: skip


def _start_node(swarm: Swarm, index: int) -> Node:
    node = Node(f"{swarm.network}-node{index}", swarm.address(10 + index))
    ssh = ["--publish", f"127.0.0.1:{swarm.ssh_port}:22"] if index == 1 else []
    mirrors = [f"--registry-mirror=http://{host}" for host in (swarm.hub_mirror_host, swarm.registry_host)]
    run(["docker", "run", "--detach", "--name", node.name, "--hostname", f"node{index}",
         "--network", swarm.network, "--ip", node.address, *ssh, *ENGINE_IN_CONTAINER,
         "--volume", f"{node.name}:/var/lib/docker", NODE_IMAGE,
         "--insecure-registry", swarm.registry_host, *mirrors])  # fmt: skip
    return node


def _start_sshd(swarm: Swarm, workdir: Path) -> None:
    """sshd on the manager, taking a key made for this swarm (root, as on a fresh manager)."""
    swarm.ssh_key = workdir / "id_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tracker-ci swarm", "-f", swarm.ssh_key])
    public_key = swarm.ssh_key.with_suffix(".pub").read_text(encoding="utf-8")
    swarm.manager.shell(
        'ssh-keygen -A && install -d -m 700 /root/.ssh && printf %s "$1" > /root/.ssh/authorized_keys'
        " && /usr/sbin/sshd",
        public_key,
    )


def _remove(swarm: Swarm) -> None:
    names = [node.name for node in swarm.nodes] + [swarm.registry, f"{swarm.registry}-hub"]
    run(["docker", "rm", "--force", "--volumes", *names], check=False)
    run(["docker", "volume", "rm", "--force", *[node.name for node in swarm.nodes]], check=False)
    run(["docker", "network", "rm", swarm.network], check=False)


@contextmanager
def swarm_of(size: int, name: str, workdir: Path, hub_storage: Path):
    """`size` nodes in one swarm, the first its manager; a 1 s dispatcher heartbeat, so a lost node is
    noticed in seconds. Removed (nodes, their volumes, registries, network) when the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    hub_storage.mkdir(parents=True, exist_ok=True)
    swarm = Swarm(network=name, subnet=_create_network(name), ssh_port=free_port())
    try:
        _start_registry(swarm.registry, swarm, swarm.address(2), workdir)
        _start_registry(f"{swarm.registry}-hub", swarm, swarm.address(3), workdir, storage=hub_storage)
        swarm.nodes = [_start_node(swarm, index) for index in range(1, size + 1)]
        for node in swarm.nodes:
            wait_until(node.engine_answers, timeout=60, what=f"the engine of {node.name}", interval=0.3)
        _start_sshd(swarm, workdir)
        swarm.manager.docker("swarm", "init", "--advertise-addr", swarm.manager.address, "--dispatcher-heartbeat", "1s")
        token = swarm.manager.docker("swarm", "join-token", "--quiet", "worker").stdout.strip()
        for node in swarm.nodes[1:]:
            node.docker("swarm", "join", "--token", token, f"{swarm.manager.address}:2377")
        yield swarm
    finally:
        _remove(swarm)


if __name__ == "__main__":
    print(NODE_IMAGE)
