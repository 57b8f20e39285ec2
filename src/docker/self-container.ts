/**
 * Finds the Docker container this process runs in, so the receiver can leave
 * its own logs alone (reading them would feed every line it logs back into the
 * pipeline). Three sources, most trustworthy first:
 *
 *  1. /proc/self/cgroup names our own cgroup: `/docker/<id>` (cgroupfs driver)
 *     or `/docker-<id>.scope` (systemd driver), the last one on the line when
 *     engines nest. Silent under cgroup v2's default private cgroup namespace,
 *     where the file just says `0::/`.
 *  2. /proc/self/mountinfo: Docker bind-mounts /etc/hostname, /etc/hosts and
 *     /etc/resolv.conf from <data-root>/containers/<id>/. Not always ours: a
 *     container started with --network container:X gets X's files (and X's
 *     hostname), and under Kubernetes they belong to the pod sandbox; so the
 *     Kubernetes case is ignored here, and resolveSelfContainerId() checks
 *     the engine's listing for containers joining the candidate's network.
 *  3. The hostname, which Docker sets to the first 12 hex digits of the id
 *     unless told otherwise: only a hint, used only when /.dockerenv exists,
 *     confirmed against the engine's listing by resolveSelfContainerId().
 *
 * Podman, containerd and CRI-O paths (libpod-<id>.scope, overlay-containers/,
 * cri-containerd-<id>.scope, sandboxes/) do not match: their ids mean nothing
 * to a Docker engine.
 */
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';

export interface SelfContainerFs {
  /** The file's text, or null when it cannot be read (missing, not permitted). */
  readFile(path: string): string | null;
}

export interface SelfContainer {
  /** The full 64-hex id, from the cgroup or the mount table; null when only the hostname hinted at one. */
  id: string | null;
  /** The 12-hex prefix: of `id`, or the hostname that may be one. */
  idPrefix: string;
  source: 'cgroup' | 'mountinfo' | 'hostname';
}

const procFs: SelfContainerFs = {
  readFile(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  },
};

const CGROUP_ID = /\/docker(?:\/([0-9a-f]{64})|-([0-9a-f]{64})\.scope)(?=\/|$)/g;
const MOUNT_SOURCE_ID = /(?:^|\/)containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf)$/;
const DOCKER_MOUNT_POINTS: ReadonlySet<string> = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);
const HOSTNAME_ID_PREFIX = /^[0-9a-f]{12}$/;
const ID_PREFIX_LENGTH = 12;

/** The innermost Docker container id in /proc/self/cgroup, or null. */
export function containerIdFromCgroup(text: string): string | null {
  for (const line of text.split('\n')) {
    // hierarchy-id:controllers:path; the path may itself contain ':'.
    const second = line.indexOf(':', line.indexOf(':') + 1);
    if (second < 0) continue;
    const path = line.slice(second + 1).trimEnd();
    let id: string | null = null;
    for (const match of path.matchAll(CGROUP_ID)) id = match[1] ?? match[2];
    if (id !== null) return id;
  }
  return null;
}

/** The id in the sources of Docker's /etc bind mounts, or null (also under Kubernetes: those belong to the sandbox). */
export function containerIdFromMountinfo(text: string): string | null {
  let found: string | null = null;
  for (const line of text.split('\n')) {
    // id parent major:minor root mount-point options… - fstype source super-options
    const fields = line.split(' ');
    if (fields.length < 5 || !DOCKER_MOUNT_POINTS.has(fields[4])) continue;
    const root = fields[3];
    if (root.includes('/kubelet/pods/')) return null;
    found ??= MOUNT_SOURCE_ID.exec(root)?.[1] ?? null;
  }
  return found;
}

/**
 * What this process can tell about its own container without asking the
 * engine; null when nothing suggests one. `fs` and `hostname` are for tests.
 */
export function detectSelfContainerId(fs: SelfContainerFs = procFs, hostname: string = osHostname()): SelfContainer | null {
  const cgroup = fs.readFile('/proc/self/cgroup');
  const fromCgroup = cgroup === null ? null : containerIdFromCgroup(cgroup);
  if (fromCgroup !== null) return { id: fromCgroup, idPrefix: fromCgroup.slice(0, ID_PREFIX_LENGTH), source: 'cgroup' };
  const mountinfo = fs.readFile('/proc/self/mountinfo');
  const fromMounts = mountinfo === null ? null : containerIdFromMountinfo(mountinfo);
  if (fromMounts !== null) return { id: fromMounts, idPrefix: fromMounts.slice(0, ID_PREFIX_LENGTH), source: 'mountinfo' };
  // Docker creates /.dockerenv in every container; without it a hex hostname is just a hostname.
  if (HOSTNAME_ID_PREFIX.test(hostname) && fs.readFile('/.dockerenv') !== null) return { id: null, idPrefix: hostname, source: 'hostname' };
  return null;
}

/** What resolveSelfContainerId needs from each container of the engine's listing. */
export interface ListedContainer {
  id: string;
  /**
   * HostConfig.NetworkMode from the listing; Docker stores a shared network
   * as `container:<full id>`. Undefined when the caller does not know it: the
   * shared-network check is then skipped.
   */
  networkMode?: string;
}

/**
 * The receiver's own full container id, checked against the engine's listing
 * (all containers), so it can be settled before any container is decided:
 *   - a cgroup id is ours for sure;
 *   - a mount-table id must be listed, and nobody may join its network: if
 *     someone does, we may be that one and the id our network owner's;
 *   - a hostname prefix must name exactly one listed container, with the same
 *     proviso.
 * Any doubt gives null: our own logs then get read, which is better than
 * silently skipping someone else's.
 */
export function resolveSelfContainerId(self: SelfContainer | null, listing: readonly ListedContainer[]): string | null {
  if (self === null) return null;
  if (self.source === 'cgroup') return self.id;
  let candidate: string | null = null;
  for (const c of listing) {
    if (self.id === null ? !c.id.startsWith(self.idPrefix) : c.id !== self.id) continue;
    if (candidate !== null) return null; // a prefix naming two containers settles nothing
    candidate = c.id;
  }
  if (candidate === null) return null;
  const joined = `container:${candidate}`;
  return listing.some((c) => c.networkMode === joined) ? null : candidate;
}
