/**
 * Every process the production form starts, by the name given to `dist/run.js`. Each loader
 * imports that process's `main`, which starts it (and owns its SIGTERM path). Names are part of the
 * image's contract (compose files and manifests pass them as the container's command): renaming one
 * breaks those deployments.
 */
export const PROCESSES = {
  notifier: () => import('@breachwave/notifier-service/main'),
  'pin-rotator': () => import('@breachwave/pin-rotator-service/main'),
  'code-issuer': () => import('@breachwave/code-issuer-service/main'),
  'audit-writer': () => import('@breachwave/audit-writer-service/main'),
  feeder: () => import('@breachwave/feeder-service/main'),
  'ops-api': () => import('@breachwave/ops-api-service/main'),
  breachwave: () => import('@breachwave/cli-service/main'),
} as const satisfies Record<string, () => Promise<unknown>>;

export type ProcessName = keyof typeof PROCESSES;

export function isProcessName(name: string | undefined): name is ProcessName {
  return name !== undefined && Object.hasOwn(PROCESSES, name);
}
