/**
 * One OpenTelemetry Resource per container, built once from what inspect said
 * and reused for every record of that container: the OTLP encoder groups records
 * by Resource object, so sharing it keeps each export to one ResourceLogs per
 * container. Attribute names follow the semantic conventions (container.*,
 * host.name, service.*); the table in the README is generated from these keys.
 */
import type { Attributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ContainerDetails } from '../docker/engine.js';

export const RESOURCE_KEYS = {
  containerId: 'container.id',
  containerName: 'container.name',
  imageName: 'container.image.name',
  imageTags: 'container.image.tags',
  imageId: 'container.image.id',
  runtimeName: 'container.runtime.name',
  /** Deprecated in the semantic conventions in favour of container.runtime.name; still emitted for dashboards that use it. */
  runtime: 'container.runtime',
  labelPrefix: 'container.label.',
  hostName: 'host.name',
  serviceName: 'service.name',
  serviceNamespace: 'service.namespace',
  tty: 'docker.container.tty',
} as const;

/** What each resource attribute holds; the README table is generated from this. */
export const RESOURCE_ATTRIBUTE_DOCS: ReadonlyArray<readonly [string, string]> = [
  [RESOURCE_KEYS.containerId, 'Full container ID.'],
  [RESOURCE_KEYS.containerName, 'Container name, without the leading `/`; follows renames.'],
  [RESOURCE_KEYS.imageName, 'Image name from the container config, without tag or digest.'],
  [RESOURCE_KEYS.imageTags, 'The tag as a one-element list (`latest` when none was given; absent for digest references).'],
  [RESOURCE_KEYS.imageId, 'Image ID (`sha256:…`).'],
  [RESOURCE_KEYS.runtimeName, '`docker`.'],
  [RESOURCE_KEYS.runtime, '`docker` (deprecated name, kept for existing dashboards).'],
  [`${RESOURCE_KEYS.labelPrefix}<key>`, 'Every container label, copied when the container is first read.'],
  [RESOURCE_KEYS.hostName, 'Name of the Docker host (the engine\'s `Name` from `/info`).'],
  [RESOURCE_KEYS.serviceName, 'The `com.docker.compose.service` label, else the container name.'],
  [RESOURCE_KEYS.serviceNamespace, 'The `com.docker.compose.project` label, when present.'],
  [RESOURCE_KEYS.tty, '`true` for containers started with a TTY (their stderr arrives as stdout); absent otherwise.'],
];

const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';
const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

/** What the Resource is built from: inspect's facts about the container. */
export type ContainerIdentity = Pick<ContainerDetails, 'id' | 'name' | 'image' | 'imageId' | 'labels' | 'tty'>;

/** Splits an image reference into name and tag: "reg:5000/app:1.2@sha256:…" → ["reg:5000/app", "1.2"]. */
export function parseImageReference(reference: string): { name: string; tag: string | null } {
  const at = reference.indexOf('@');
  const withoutDigest = at >= 0 ? reference.slice(0, at) : reference;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  if (colon > lastSlash) return { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) };
  // No tag: Docker resolved "latest" unless the reference pinned a digest.
  return { name: withoutDigest, tag: at >= 0 ? null : 'latest' };
}

export function containerResourceAttributes(container: ContainerIdentity, hostName: string): Attributes {
  const image = parseImageReference(container.image);
  const attributes: Attributes = {
    [RESOURCE_KEYS.containerId]: container.id,
    [RESOURCE_KEYS.containerName]: container.name,
    [RESOURCE_KEYS.imageName]: image.name,
    [RESOURCE_KEYS.runtimeName]: 'docker',
    [RESOURCE_KEYS.runtime]: 'docker',
    [RESOURCE_KEYS.serviceName]: container.labels[COMPOSE_SERVICE_LABEL] ?? container.name,
  };
  if (image.tag !== null) attributes[RESOURCE_KEYS.imageTags] = [image.tag];
  if (container.imageId !== '') attributes[RESOURCE_KEYS.imageId] = container.imageId;
  if (hostName !== '') attributes[RESOURCE_KEYS.hostName] = hostName;
  const project = container.labels[COMPOSE_PROJECT_LABEL];
  if (project !== undefined) attributes[RESOURCE_KEYS.serviceNamespace] = project;
  if (container.tty) attributes[RESOURCE_KEYS.tty] = true;
  for (const [key, value] of Object.entries(container.labels)) attributes[RESOURCE_KEYS.labelPrefix + key] = value;
  return attributes;
}

export function containerResource(container: ContainerIdentity, hostName: string): Resource {
  return resourceFromAttributes(containerResourceAttributes(container, hostName));
}
