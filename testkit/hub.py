"""The stand-in Docker Hub and GHCR: one real registry on this machine, reached under the real names, for
the tests and the benchmarks alike."""

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import requests

from testkit.harness import (
    CACHE_DIR,
    HOSTS_FILE,
    hosts_entry,
    port_open,
    require,
    require_command,
    run,
    stop_process,
    wait_until,
)

# Manifest types a registry may store for a pushed image; the digest is the one of whichever it holds.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json"
)


@dataclass(frozen=True)
class Registry:
    """One registry host as users name it (docker.io, ghcr.io), and how the tests read it back."""

    host: str
    api: str
    username: str
    password: str
    ca: Path

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        auth = (self.username, self.password)
        return requests.request(method, f"{self.api}/v2/{path}", auth=auth, verify=self.ca, timeout=10, **kwargs)

    def tags(self, repository: str) -> list[str]:
        response = self._request("GET", f"{repository}/tags/list")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def put_one_platform_index(self, repository: str, tag: str, index_tag: str) -> str:
        """Tags as index_tag an OCI index holding only the manifest that tag names; returns the index's digest."""
        manifest = self._request("GET", f"{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
        manifest.raise_for_status()
        entry = {
            "mediaType": manifest.headers["Content-Type"],
            "digest": manifest.headers["Docker-Content-Digest"],
            "size": len(manifest.content),
            "platform": {"architecture": "amd64", "os": "linux"},
        }
        index_type = "application/vnd.oci.image.index.v1+json"
        index = {"schemaVersion": 2, "mediaType": index_type, "manifests": [entry]}
        response = self._request("PUT", f"{repository}/manifests/{index_tag}", headers={"Content-Type": index_type},
                                 data=json.dumps(index).encode())  # fmt: skip
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]

    def manifest(self, repository: str, reference: str) -> dict:
        """The manifest or index that a tag or digest names."""
        response = self._request("GET", f"{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES})
        response.raise_for_status()
        return response.json()

    def blob(self, repository: str, digest: str) -> bytes:
        response = self._request("GET", f"{repository}/blobs/{digest}")
        response.raise_for_status()
        return response.content

    def manifest_digest(self, repository: str, tag: str) -> str:
        response = self._request("HEAD", f"{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]


@dataclass(frozen=True)
class StandInHub:
    """Docker Hub and GHCR as the engine reaches them, served by one registry on this machine."""

    docker_hub: Registry
    ghcr: Registry
    storage: Path  # the registry's storage: the swarm tier serves it to its nodes as their docker.io mirror
    # What a client other than the engine (cosign) needs to trust the stand-in's certificate: the system's CAs
    # plus the test CA, as the engine has them.
    client_env: dict

    def registry(self, host: str) -> Registry:
        return {"docker.io": self.docker_hub, "ghcr.io": self.ghcr}[host]

    def to_json(self) -> str:
        """What another process of this machine needs to use this hub (pytest-xdist's workers, tests/conftest.py)."""
        hub = self.docker_hub
        return json.dumps([hub.username, hub.password, str(hub.ca), str(self.storage), self.client_env])

    @classmethod
    def from_json(cls, text: str) -> "StandInHub":
        username, password, ca, storage, client_env = json.loads(text)
        return _stand_in(username, password, Path(ca), Path(storage), client_env)


def _stand_in(username: str, password: str, ca: Path, storage: Path, client_env: dict) -> StandInHub:
    return StandInHub(
        docker_hub=Registry("docker.io", "https://registry-1.docker.io", username, password, ca),
        ghcr=Registry("ghcr.io", "https://ghcr.io", username, password, ca),
        storage=storage,
        client_env=client_env,
    )


# The registries' real API hosts; docker.io's images live on registry-1.docker.io, its logins on
# index.docker.io. The hosts entry points them all at the stand-in.
HUB_HOSTS = ["registry-1.docker.io", "index.docker.io", "ghcr.io"]
HUB_PORT = 443


@contextmanager
def stand_in_hub(workdir: Path) -> Iterator[StandInHub]:
    """Debian's docker-registry on 127.0.0.1:443 with TLS (the bootstrap's test CA) and htpasswd auth,
    answering as Docker Hub and GHCR through a hosts entry that is always removed afterwards.

    Where it still differs from the real ones: Docker Hub and GHCR hand out bearer tokens from a separate
    token service, this one takes basic auth on every request; one storage serves both hosts (tests use
    namespaces of their own); and only an engine started with the bootstrap's CA bundle trusts it."""
    server = require_command("docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    ca_dir = CACHE_DIR / "test-ca"
    require((ca_dir / "hub.crt").is_file(), f"no test CA in {ca_dir} (run scripts/bootstrap.sh)")
    require(os.access(HOSTS_FILE, os.W_OK), f"{HOSTS_FILE} is not writable: the stand-in hub needs a hosts entry")
    require(not port_open(HUB_PORT), f"port {HUB_PORT} on 127.0.0.1 is taken: the stand-in hub needs it")
    # A random user: act masks secret values in its log, and a word like "tracker" would mask "tracker-ci".
    username, password = f"user{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    (workdir / "htpasswd").write_text(f"{username}:{hashed}\n", encoding="utf-8")
    config = workdir / "config.yml"
    config.write_text(
        f"""version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {workdir / "storage"}}}
  delete: {{enabled: true}}
http:
  addr: 127.0.0.1:{HUB_PORT}
  tls: {{certificate: {ca_dir / "hub.crt"}, key: {ca_dir / "hub.key"}}}
auth:
  htpasswd: {{realm: tracker-ci, path: {workdir / "htpasswd"}}}
""",
        encoding="utf-8",
    )
    log_file = (workdir / "registry.log").open("w", encoding="utf-8")
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [server, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT
    )
    hub = _stand_in(
        username, password, ca_dir / "ca.crt", workdir / "storage", {"SSL_CERT_FILE": str(ca_dir / "bundle.crt")}
    )
    try:
        with hosts_entry("127.0.0.1", HUB_HOSTS):
            wait_until(lambda: port_open(HUB_PORT), timeout=15, what=f"docker-registry on port {HUB_PORT}")
            _require_engine_trusts(hub.docker_hub, workdir / "docker-config")
            yield hub
    finally:
        stop_process(process)
        log_file.close()


def _require_engine_trusts(registry: Registry, config_dir: Path) -> None:
    """Logs in once as a user would; an engine that does not trust the test CA is named as the cause."""
    env = {**os.environ, "DOCKER_CONFIG": str(config_dir)}
    login = ["docker", "login", registry.host, "--username", registry.username, "--password-stdin"]
    for _ in range(20):  # the engine re-reads /etc/hosts within a few seconds of a change
        result = run(login, input=registry.password, env=env, check=False)
        if result.returncode == 0:
            return
        time.sleep(1)
    require(
        "x509" not in result.stderr and "certificate" not in result.stderr,
        "the Docker engine does not trust the stand-in hub's test CA: start dockerd with "
        f"SSL_CERT_FILE={CACHE_DIR / 'test-ca' / 'bundle.crt'} (scripts/bootstrap.sh does when it starts one)",
    )
    raise AssertionError(f"docker login {registry.host} to the stand-in hub failed: {result.stderr.strip()}")
