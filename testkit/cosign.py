"""cosign, as the bootstrap installs it (from Debian's newest suite): key pairs and signature checks."""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from testkit.harness import CACHE_DIR, REPO_ROOT, require, run

COSIGN_DIR = CACHE_DIR / "cosign"


def cosign() -> str:
    path = COSIGN_DIR / "cosign"
    require(os.access(path, os.X_OK), f"cosign is not in {COSIGN_DIR} (run scripts/bootstrap.sh)")
    return str(path)


@dataclass(frozen=True)
class KeyPair:
    private_key: str
    public_key: Path
    password: str


def generate_key_pair(folder: Path, password: str) -> KeyPair:
    """A fresh cosign key pair in FOLDER, its private key encrypted with PASSWORD (given through the environment)."""
    folder.mkdir(parents=True, exist_ok=True)
    run([cosign(), "generate-key-pair"], cwd=folder, env={**os.environ, "COSIGN_PASSWORD": password})
    return KeyPair((folder / "cosign.key").read_text(encoding="utf-8"), folder / "cosign.pub", password)


def verify(reference: str, public_key: Path, env: dict) -> tuple[bool, str]:
    """Whether cosign finds a signature of REFERENCE made with the key of PUBLIC_KEY, as a deployer checks it; and
    cosign's output."""
    result = run(
        [cosign(), "verify", "--key", str(public_key), "--insecure-ignore-tlog=true", reference], env=env, check=False
    )
    return result.returncode == 0, result.stdout + result.stderr


def sign(image: str, digest: str, keys: KeyPair, env: dict) -> None:
    """Signs IMAGE@DIGEST with the key pair as the action does: its own sign.sh, the key and password through the
    environment; env holds a DOCKER_CONFIG logged in to the registry."""
    with tempfile.NamedTemporaryFile() as outputs:
        run([REPO_ROOT / "action" / "sign.sh"], env=env | {
            "IMAGE": image, "DIGEST": digest, "GITHUB_OUTPUT": outputs.name, "PATH": f"{COSIGN_DIR}:{env['PATH']}",
            "COSIGN_PRIVATE_KEY": keys.private_key, "COSIGN_PASSWORD": keys.password,
        })  # fmt: skip
