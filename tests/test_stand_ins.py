"""The base images the bootstrap puts in the engine (scripts/base-images.sh), stand-ins or pulled: each holds
exactly the platforms it was asked for, and each platform's programs are machine code of that platform. A
stand-in whose label says amd64 while it holds arm64 programs would run every test that uses it under emulation."""

import pytest

from testkit.harness import engine_image_store
from testkit.images import ELF_MACHINES, NATIVE_PLATFORM, elf_machine_of_program, image_platforms
from testkit.swarm import NODE_IMAGE
from testkit.template import base_image_args

# The programs that show an image's architecture: its main program and, where it has one, the rootfs's shell.
PROGRAMS = {
    "python": ["python3", "sh"],
    "redis": ["redis-server", "sh"],
    "haproxy": ["haproxy", "sh"],
    "ghcr.io/astral-sh/uv": ["uv"],
    "tracker-ci/swarm-node": ["dockerd", "containerd", "tini", "sh"],
}


def asked_platforms() -> dict[str, list[str]]:
    """Each base image the bootstrap is given, with the platforms it asks for (scripts/base-images.sh's arguments:
    the machine's own platform until `--platforms=`); the swarm node, for the machine's own."""
    asked, platforms = {NODE_IMAGE: [NATIVE_PLATFORM]}, [NATIVE_PLATFORM]
    for argument in base_image_args():
        if argument.startswith("--platforms="):
            platforms = sorted(argument.removeprefix("--platforms=").split(","))
        else:
            asked[argument] = platforms
    return asked


# Python 3.12 is in no Debian release, so no stand-in of it is made here (docs/bootstrap.md).
BASE_IMAGES = {reference: platforms for reference, platforms in asked_platforms().items() if "3.12" not in reference}


def expected_platforms(reference: str) -> list[str]:
    """The classic image store holds one platform per tag: there every image is the machine's own."""
    return BASE_IMAGES[reference] if engine_image_store() == "containerd" else [NATIVE_PLATFORM]


@pytest.mark.docker
@pytest.mark.image_store
@pytest.mark.parametrize("reference", sorted(BASE_IMAGES))
def test_should_hold_exactly_the_platforms_the_bootstrap_was_asked_for(reference, docker_engine):
    # When
    held = image_platforms(reference)

    # Then
    assert held == expected_platforms(reference), f"{reference} holds {held}"


@pytest.mark.docker
@pytest.mark.image_store
@pytest.mark.parametrize("reference", sorted(BASE_IMAGES))
def test_should_carry_programs_of_each_platform_it_holds(reference, docker_engine):
    # Given
    programs = PROGRAMS[reference.rsplit(":", 1)[0]]

    for platform in image_platforms(reference):
        # When
        machines = {program: elf_machine_of_program(reference, platform, program) for program in programs}

        # Then: every program is there, in the machine code of the platform it is listed under
        assert machines == dict.fromkeys(programs, ELF_MACHINES[platform]), f"{reference} for {platform}: {machines}"
