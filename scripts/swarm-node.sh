#!/bin/sh
# Entry point of the swarm tier's node image: an engine in a container (testkit/swarm.py starts three).
# The engine needs /sys and the cgroup hierarchies writable, which Docker mounts read-only without
# --privileged; the node gets the capabilities for it instead (this host refuses --privileged). The
# hierarchies are bind remounts: a plain remount would change the host's own mount ("mount point is busy").
set -eu
mount -o remount,rw /sys
for hierarchy in /sys/fs/cgroup/*; do
  mount -o remount,bind,rw "$hierarchy"
done
# A node killed outright leaves its engine's PID files in the container's filesystem; a restart would refuse.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
exec dockerd --storage-driver=overlay2 "$@"
