import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { SelfContainer, SelfContainerFs } from '../../src/docker/self-container.js';
import {
  containerIdFromCgroup,
  containerIdFromMountinfo,
  detectSelfContainerId,
  resolveSelfContainerId,
} from '../../src/docker/self-container.js';

// Fixtures. The CAPTURED_* ones were read inside containers of a real engine
// (Docker 20.10, cgroup v1, cgroupfs driver, overlay2); the others reproduce
// the formats of the systems they are named after, lines as those write them.

const CAPTURED_V1_CGROUPFS_CGROUP = `9:name=systemd:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
8:pids:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
7:blkio:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
6:freezer:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
5:devices:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
4:memory:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
3:cpuset:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
2:cpuacct:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
1:cpu:/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
0::/docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d
`;

const CAPTURED_V1_CGROUPFS_MOUNTINFO = `401 197 0:108 / / rw,relatime master:9 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/CM4AFLR6ZRK7F7FUR4LZHHWRP5:/var/lib/docker/overlay2/l/OIVVUUWKQMFFOJY6VAHLTNP73D,upperdir=/var/lib/docker/overlay2/d60537cd1be754318f1b0d301d3d4f32b7a4ff262bd6de2877c8bf6810b83ef3/diff,workdir=/var/lib/docker/overlay2/d60537cd1be754318f1b0d301d3d4f32b7a4ff262bd6de2877c8bf6810b83ef3/work
402 401 0:113 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
403 401 0:114 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
404 403 0:115 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
405 401 0:116 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
406 405 0:117 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
407 406 0:29 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
408 406 0:30 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/cpuacct ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuacct
409 406 0:31 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/cpuset ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuset
410 406 0:32 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
411 406 0:33 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/devices ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,devices
412 406 0:34 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/freezer ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,freezer
413 406 0:35 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/blkio ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,blkio
414 406 0:36 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
415 406 0:37 /docker/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=systemd
416 403 0:112 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
417 403 0:118 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
418 401 254:0 /var/lib/docker/containers/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
419 401 254:0 /var/lib/docker/containers/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
420 401 254:0 /var/lib/docker/containers/6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
199 402 0:113 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
200 402 0:113 /fs /proc/fs ro,nosuid,nodev,noexec,relatime - proc proc rw
201 402 0:113 /irq /proc/irq ro,nosuid,nodev,noexec,relatime - proc proc rw
202 402 0:113 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
203 402 0:119 / /proc/acpi ro,relatime - tmpfs tmpfs ro
164 402 0:114 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
204 402 0:114 /null /proc/timer_list rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
205 405 0:120 / /sys/firmware ro,relatime - tmpfs tmpfs ro
`;

/** `docker run --cgroupns private` on the same engine: the cgroup file says nothing. */
const CAPTURED_PRIVATE_CGROUPNS_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;
const CAPTURED_PRIVATE_CGROUPNS_MOUNTINFO = `89 72 254:0 /var/lib/docker/containers/28ca91c433b6deb8aa445a18f517f3f363bb568f2d7b3d0022ff6fed5479b59e/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
90 72 254:0 /var/lib/docker/containers/28ca91c433b6deb8aa445a18f517f3f363bb568f2d7b3d0022ff6fed5479b59e/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
91 72 254:0 /var/lib/docker/containers/28ca91c433b6deb8aa445a18f517f3f363bb568f2d7b3d0022ff6fed5479b59e/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
`;

/**
 * `docker run --network container:<owner>` on the same engine: the /etc files
 * (and the hostname, d88b2930c640) are the network owner's; only the cgroup is ours.
 */
const CAPTURED_SHARED_NETWORK_CGROUP = `9:name=systemd:/docker/57a976a17c60e549353bd7bc622aeadc3c24d1793081f0e4a7e6ebf4e1578cfa
`;
const CAPTURED_SHARED_NETWORK_MOUNTINFO = `124 107 254:0 /var/lib/docker/containers/d88b2930c640e5cd64f65bfe7263e3bf019d671db37b7ea3f3b76536e9efc008/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
125 107 254:0 /var/lib/docker/containers/d88b2930c640e5cd64f65bfe7263e3bf019d671db37b7ea3f3b76536e9efc008/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
126 107 254:0 /var/lib/docker/containers/d88b2930c640e5cd64f65bfe7263e3bf019d671db37b7ea3f3b76536e9efc008/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
`;

const ID = '3f8a1c2b9d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8';
const OUTER = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

/** cgroup v1, systemd driver (Debian/RHEL hosts before cgroup v2). */
const V1_SYSTEMD_CGROUP = `12:pids:/system.slice/docker-${ID}.scope
11:cpuset:/system.slice/docker-${ID}.scope
10:memory:/system.slice/docker-${ID}.scope
9:devices:/system.slice/docker-${ID}.scope
4:cpu,cpuacct:/system.slice/docker-${ID}.scope
1:name=systemd:/system.slice/docker-${ID}.scope
0::/system.slice/docker-${ID}.scope
`;

/** cgroup v2, systemd driver, --cgroupns host (default private namespaces show "0::/"). */
const V2_SYSTEMD_HOSTNS_CGROUP = `0::/system.slice/docker-${ID}.scope
`;
/** cgroup v2, cgroupfs driver, --cgroupns host. */
const V2_CGROUPFS_HOSTNS_CGROUP = `0::/docker/${ID}
`;
/** cgroup v2 with systemd running inside the container (it moves itself to a child cgroup). */
const V2_SYSTEMD_INIT_CGROUP = `0::/system.slice/docker-${ID}.scope/init.scope
`;
/** Docker in Docker (cgroup v1, cgroupfs): the innermost id is ours. */
const NESTED_CGROUP = `5:memory:/docker/${OUTER}/docker/${ID}
1:name=systemd:/docker/${OUTER}/docker/${ID}
`;

/** cgroup v2, private namespace (Ubuntu 22.04, Docker 24): only mountinfo tells. */
const V2_PRIVATE_CGROUP = `0::/
`;
const V2_PRIVATE_MOUNTINFO = `1330 1253 0:149 / / rw,relatime master:654 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ZK6YPSF3N2DLXM3QO4AQN3CKDH,upperdir=/var/lib/docker/overlay2/9b0b6a7c/diff,workdir=/var/lib/docker/overlay2/9b0b6a7c/work
1331 1330 0:152 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1332 1330 0:153 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64
1335 1334 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
1337 1332 0:156 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k,inode64
1338 1330 259:2 /var/lib/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
1339 1330 259:2 /var/lib/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
1340 1330 259:2 /var/lib/docker/containers/${ID}/hosts /etc/hosts rw,relatime - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
`;
/** /var/lib/docker on a filesystem of its own: the mount root is relative to that filesystem. */
const SEPARATE_DATA_ROOT_MOUNTINFO = `612 598 8:17 /containers/${ID}/hostname /etc/hostname rw,relatime - xfs /dev/sdb1 rw,attr2,inode64,noquota
`;
/** Rootless Docker (data root under ~/.local/share/docker), cgroup v2 with systemd. */
const ROOTLESS_CGROUP = `0::/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${ID}.scope
`;
const ROOTLESS_MOUNTINFO = `731 712 259:2 /home/alice/.local/share/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
732 712 259:2 /home/alice/.local/share/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
733 712 259:2 /home/alice/.local/share/docker/containers/${ID}/hosts /etc/hosts rw,relatime - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
`;

/** Podman 4, rootful and rootless (cgroup v2), and Podman on cgroup v1 with cgroupfs: never Docker. */
const PODMAN_CGROUP = `0::/machine.slice/libpod-${ID}.scope/container
`;
const PODMAN_ROOTLESS_CGROUP = `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container
`;
const PODMAN_V1_CGROUP = `11:memory:/libpod_parent/libpod-${ID}
1:name=systemd:/libpod_parent/libpod-${ID}
`;
const PODMAN_MOUNTINFO = `870 851 0:48 /containers/storage/overlay-containers/${ID}/userdata/resolv.conf /etc/resolv.conf rw,nosuid,nodev - tmpfs tmpfs rw,size=1620016k,nr_inodes=405004,mode=755,inode64
871 851 0:48 /containers/storage/overlay-containers/${ID}/userdata/hosts /etc/hosts rw,nosuid,nodev - tmpfs tmpfs rw,size=1620016k,nr_inodes=405004,mode=755,inode64
872 851 0:48 /containers/storage/overlay-containers/${ID}/userdata/.containerenv /run/.containerenv rw,nosuid,nodev - tmpfs tmpfs rw,size=1620016k,nr_inodes=405004,mode=755,inode64
873 851 0:48 /containers/storage/overlay-containers/${ID}/userdata/hostname /etc/hostname rw,nosuid,nodev - tmpfs tmpfs rw,size=1620016k,nr_inodes=405004,mode=755,inode64
`;
const PODMAN_ROOTLESS_MOUNTINFO = `1021 1002 259:2 /home/alice/.local/share/containers/storage/overlay-containers/${ID}/userdata/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw
`;

/** Kubernetes with containerd (cgroup v2, systemd): a cri-containerd scope and sandbox files. */
const K8S_CONTAINERD_CGROUP = `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5c1e2f4a_6b7d_4e8f_9a0b_1c2d3e4f5a6b.slice/cri-containerd-${ID}.scope
`;
const K8S_CONTAINERD_MOUNTINFO = `1650 1640 259:2 /var/lib/kubelet/pods/5c1e2f4a-6b7d-4e8f-9a0b-1c2d3e4f5a6b/etc-hosts /etc/hosts rw,relatime - ext4 /dev/nvme0n1p2 rw
1653 1640 259:2 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/${OUTER}/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw
1654 1640 259:2 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/${OUTER}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/nvme0n1p2 rw
`;
/** Kubernetes on Docker (cri-dockerd): /etc/hostname belongs to the pause sandbox, not to us. */
const K8S_DOCKER_CGROUPFS_CGROUP = `0::/
`;
const K8S_DOCKER_MOUNTINFO = `2201 2190 259:2 /var/lib/docker/containers/${OUTER}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/nvme0n1p2 rw
2202 2190 259:2 /var/lib/docker/containers/${OUTER}/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw
2203 2190 259:2 /var/lib/kubelet/pods/5c1e2f4a-6b7d-4e8f-9a0b-1c2d3e4f5a6b/etc-hosts /etc/hosts rw,relatime - ext4 /dev/nvme0n1p2 rw
`;
const K8S_DOCKER_SYSTEMD_CGROUP = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5c1e2f4a_6b7d.slice/docker-${ID}.scope
`;

/** A host, not a container (cgroup v2 session scope). */
const HOST_CGROUP = `0::/user.slice/user-1000.slice/session-3.scope
`;
const HOST_MOUNTINFO = `22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
25 22 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
`;

function files(entries: Record<string, string>): SelfContainerFs {
  return { readFile: (path) => entries[path] ?? null };
}

function detect(entries: Record<string, string>, host = 'some-host'): SelfContainer | null {
  return detectSelfContainerId(files(entries), host);
}

test('cgroup: the Docker id under cgroup v1 and v2, cgroupfs and systemd drivers, nested and rootless', () => {
  assert.equal(containerIdFromCgroup(CAPTURED_V1_CGROUPFS_CGROUP), '6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d');
  assert.equal(containerIdFromCgroup(V1_SYSTEMD_CGROUP), ID);
  assert.equal(containerIdFromCgroup(V2_SYSTEMD_HOSTNS_CGROUP), ID);
  assert.equal(containerIdFromCgroup(V2_CGROUPFS_HOSTNS_CGROUP), ID);
  assert.equal(containerIdFromCgroup(V2_SYSTEMD_INIT_CGROUP), ID);
  assert.equal(containerIdFromCgroup(NESTED_CGROUP), ID);
  assert.equal(containerIdFromCgroup(ROOTLESS_CGROUP), ID);
  assert.equal(containerIdFromCgroup(K8S_DOCKER_SYSTEMD_CGROUP), ID);
});

test('cgroup: nothing for private namespaces, hosts, Podman, containerd, or ids of the wrong length', () => {
  for (const text of [
    CAPTURED_PRIVATE_CGROUPNS_CGROUP,
    V2_PRIVATE_CGROUP,
    HOST_CGROUP,
    PODMAN_CGROUP,
    PODMAN_ROOTLESS_CGROUP,
    PODMAN_V1_CGROUP,
    K8S_CONTAINERD_CGROUP,
    `0::/docker/${ID.slice(0, 63)}\n`,
    `0::/docker/${ID}0\n`,
    `0::/system.slice/docker.service\n`,
    `0::/system.slice/my-docker-${ID}.scope\n`,
    '',
    'garbage',
  ]) {
    assert.equal(containerIdFromCgroup(text), null, text);
  }
});

test("mountinfo: the id in the sources of Docker's /etc mounts, any data root", () => {
  assert.equal(containerIdFromMountinfo(CAPTURED_V1_CGROUPFS_MOUNTINFO), '6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d');
  assert.equal(containerIdFromMountinfo(CAPTURED_PRIVATE_CGROUPNS_MOUNTINFO), '28ca91c433b6deb8aa445a18f517f3f363bb568f2d7b3d0022ff6fed5479b59e');
  assert.equal(containerIdFromMountinfo(V2_PRIVATE_MOUNTINFO), ID);
  assert.equal(containerIdFromMountinfo(SEPARATE_DATA_ROOT_MOUNTINFO), ID);
  assert.equal(containerIdFromMountinfo(ROOTLESS_MOUNTINFO), ID);
});

test('mountinfo: nothing for Podman, Kubernetes sandboxes, hosts, or other mount points', () => {
  for (const text of [
    PODMAN_MOUNTINFO,
    PODMAN_ROOTLESS_MOUNTINFO,
    K8S_CONTAINERD_MOUNTINFO,
    K8S_DOCKER_MOUNTINFO,
    HOST_MOUNTINFO,
    // The host's container directory mounted for some other reason is not ours.
    `700 690 259:2 /var/lib/docker/containers/${ID}/hostname /mnt/hostname rw - ext4 /dev/sda1 rw\n`,
    `700 690 259:2 /var/lib/docker/containers /var/lib/docker/containers ro - ext4 /dev/sda1 rw\n`,
    '',
  ]) {
    assert.equal(containerIdFromMountinfo(text), null, text);
  }
});

test('detect: cgroup first, then mountinfo, then a hex hostname only where /.dockerenv exists', () => {
  assert.deepEqual(
    detect({ '/proc/self/cgroup': CAPTURED_V1_CGROUPFS_CGROUP, '/proc/self/mountinfo': CAPTURED_V1_CGROUPFS_MOUNTINFO, '/.dockerenv': '' }, '6e3486487c21'),
    { id: '6e3486487c21628cdf8c9273ba56498ad1a6783e390782716e1b060c8ab1f41d', idPrefix: '6e3486487c21', source: 'cgroup' },
  );
  // With a shared network the /etc files are the owner's: the cgroup must win.
  assert.deepEqual(
    detect({ '/proc/self/cgroup': CAPTURED_SHARED_NETWORK_CGROUP, '/proc/self/mountinfo': CAPTURED_SHARED_NETWORK_MOUNTINFO, '/.dockerenv': '' }, 'd88b2930c640'),
    { id: '57a976a17c60e549353bd7bc622aeadc3c24d1793081f0e4a7e6ebf4e1578cfa', idPrefix: '57a976a17c60', source: 'cgroup' },
  );
  assert.deepEqual(
    detect({ '/proc/self/cgroup': CAPTURED_PRIVATE_CGROUPNS_CGROUP, '/proc/self/mountinfo': CAPTURED_PRIVATE_CGROUPNS_MOUNTINFO, '/.dockerenv': '' }, '28ca91c433b6'),
    { id: '28ca91c433b6deb8aa445a18f517f3f363bb568f2d7b3d0022ff6fed5479b59e', idPrefix: '28ca91c433b6', source: 'mountinfo' },
  );
  assert.deepEqual(detect({ '/proc/self/cgroup': V2_PRIVATE_CGROUP, '/proc/self/mountinfo': HOST_MOUNTINFO, '/.dockerenv': '' }, ID.slice(0, 12)), {
    id: null,
    idPrefix: ID.slice(0, 12),
    source: 'hostname',
  });
  // Unreadable files are no evidence either way.
  assert.deepEqual(detect({ '/.dockerenv': '' }, ID.slice(0, 12)), { id: null, idPrefix: ID.slice(0, 12), source: 'hostname' });
});

test('detect: null on hosts, in Podman and Kubernetes/containerd, and for hostnames that are no id', () => {
  assert.equal(detect({ '/proc/self/cgroup': HOST_CGROUP, '/proc/self/mountinfo': HOST_MOUNTINFO }, 'build-host'), null);
  // A hex hostname without /.dockerenv is just a hostname.
  assert.equal(detect({ '/proc/self/cgroup': HOST_CGROUP, '/proc/self/mountinfo': HOST_MOUNTINFO }, 'deadbeef0123'), null);
  // Podman also names its containers after the id prefix, and has /run/.containerenv, not /.dockerenv.
  for (const [cgroup, mountinfo] of [
    [PODMAN_CGROUP, PODMAN_MOUNTINFO],
    [PODMAN_ROOTLESS_CGROUP, PODMAN_ROOTLESS_MOUNTINFO],
    [PODMAN_V1_CGROUP, PODMAN_MOUNTINFO],
  ]) {
    assert.equal(detect({ '/proc/self/cgroup': cgroup, '/proc/self/mountinfo': mountinfo, '/run/.containerenv': '' }, ID.slice(0, 12)), null);
  }
  assert.equal(detect({ '/proc/self/cgroup': K8S_CONTAINERD_CGROUP, '/proc/self/mountinfo': K8S_CONTAINERD_MOUNTINFO }, 'web-7d9f8c-abcde'), null);
  assert.equal(detect({ '/proc/self/cgroup': K8S_DOCKER_CGROUPFS_CGROUP, '/proc/self/mountinfo': K8S_DOCKER_MOUNTINFO, '/.dockerenv': '' }, 'web-7d9f8c-abcde'), null);
  // A hostname set with --hostname, cgroup namespace private, no mount evidence.
  assert.equal(detect({ '/proc/self/cgroup': V2_PRIVATE_CGROUP, '/.dockerenv': '' }, 'receiver'), null);
  assert.equal(detect({ '/.dockerenv': '' }, 'DEADBEEF0123'), null); // Docker writes lower-case hex
  assert.equal(detect({}, 'some-host'), null);
});

test('detect on this machine: not in a Docker container, so null', (t) => {
  const cgroup = readFileSync('/proc/self/cgroup', 'utf8');
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  // Where the tests themselves run in a container (CI), there is nothing to check here.
  if (/docker/.test(cgroup) || /\s\/etc\/hostname\s/.test(mountinfo)) {
    t.skip('running inside a container');
    return;
  }
  // A Docker host's own mount table is full of /var/lib/docker paths; none of them is ours.
  assert.equal(containerIdFromMountinfo(mountinfo), null);
  assert.equal(detectSelfContainerId(), null, `hostname ${hostname()}`);
});

test('resolve: cgroup ids as they are; mount-table ids and hostname prefixes only when listed and nobody joins their network', () => {
  const listing = [{ id: OUTER, networkMode: 'bridge' }, { id: ID, networkMode: 'default' }];
  const joined = [...listing, { id: 'c'.repeat(64), networkMode: `container:${ID}` }];

  assert.equal(resolveSelfContainerId(null, listing), null);
  assert.equal(resolveSelfContainerId({ id: ID, idPrefix: ID.slice(0, 12), source: 'cgroup' }, []), ID);
  assert.equal(resolveSelfContainerId({ id: ID, idPrefix: ID.slice(0, 12), source: 'cgroup' }, joined), ID, 'the cgroup is ours whoever shares the network');

  const fromMounts: SelfContainer = { id: ID, idPrefix: ID.slice(0, 12), source: 'mountinfo' };
  assert.equal(resolveSelfContainerId(fromMounts, listing), ID);
  assert.equal(resolveSelfContainerId(fromMounts, joined), null, 'we may be the one joining its network');
  assert.equal(resolveSelfContainerId(fromMounts, [{ id: OUTER }]), null, 'not a container of this engine');
  assert.equal(resolveSelfContainerId(fromMounts, [{ id: ID }]), ID, 'network modes unknown: trusted');

  const fromHostname: SelfContainer = { id: null, idPrefix: ID.slice(0, 12), source: 'hostname' };
  assert.equal(resolveSelfContainerId(fromHostname, listing), ID);
  assert.equal(resolveSelfContainerId(fromHostname, [{ id: OUTER }]), null);
  assert.equal(resolveSelfContainerId(fromHostname, joined), null);
  assert.equal(resolveSelfContainerId(fromHostname, [...listing, { id: `${ID.slice(0, 12)}${'0'.repeat(52)}` }]), null, 'an ambiguous prefix');
});

test('resolve with the captured shared-network case: the mount table names the owner, which another container joins', () => {
  const owner = 'd88b2930c640e5cd64f65bfe7263e3bf019d671db37b7ea3f3b76536e9efc008';
  const us = '57a976a17c60e549353bd7bc622aeadc3c24d1793081f0e4a7e6ebf4e1578cfa';
  const listing = [{ id: owner, networkMode: 'default' }, { id: us, networkMode: `container:${owner}` }];
  // Were the cgroup silent (cgroup v2, private namespace), only the mount table and hostname would speak, both for the owner.
  const self = detect({ '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': CAPTURED_SHARED_NETWORK_MOUNTINFO, '/.dockerenv': '' }, owner.slice(0, 12));
  assert.deepEqual(self, { id: owner, idPrefix: owner.slice(0, 12), source: 'mountinfo' });
  assert.equal(resolveSelfContainerId(self, listing), null);
  assert.equal(resolveSelfContainerId({ id: null, idPrefix: owner.slice(0, 12), source: 'hostname' }, listing), null);
});
