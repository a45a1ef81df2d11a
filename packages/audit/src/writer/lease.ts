import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { BreachwaveError } from '@breachwave/domain';
import type { RedisLease } from '@breachwave/redis';

/** What {@link WriterLease} needs from the writer that holds it. */
export interface WriterLeaseDeps {
  readonly lease: RedisLease;
  readonly log: Logger;
  /** Aborted when the writer closes: cuts a stand-by wait short. */
  readonly signal: AbortSignal;
  readonly isClosing: () => boolean;
  /** The error the writer stopped on, if any: a stopped writer neither renews nor writes. */
  readonly failure: () => Error | undefined;
  /** Called once the lease is found lost, with the error the writer stops on. */
  readonly onLost: (err: BreachwaveError) => void;
}

/**
 * The audit writer's lease on the chain: taken before the files are read, renewed every third of
 * its time and before every write, released on close. Only its holder writes the chain.
 */
export class WriterLease {
  private held = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: WriterLeaseDeps) {}

  /**
   * Takes the lease, standing by (logged once) while another writer holds it when `wait`, and
   * starts renewing it.
   * @throws BreachwaveError BW_AUDIT_WRITER_BUSY when it is held and not `wait`.
   */
  async acquire(wait: boolean): Promise<void> {
    if (this.held) return;
    const { lease, log } = this.deps;
    let announced = false;
    for (;;) {
      const attempt = await lease.tryAcquire();
      if (attempt.acquired) {
        if (attempt.tookOverFrom) log.warn({ key: lease.key, previous: attempt.tookOverFrom }, 'audit writer took over the lease of a writer on this host that is gone');
        break;
      }
      const { holder } = attempt;
      if (!wait) {
        throw new BreachwaveError('BW_AUDIT_WRITER_BUSY', {
          detail: `${lease.key} is held by ${holder ?? 'a writer that just released it'}; stop that writer or try again`,
        });
      }
      if (!announced) {
        log.info({ key: lease.key, holder }, 'audit writer standing by: another writer holds the lease');
        announced = true;
      }
      await sleep(Math.ceil(lease.ttlMs / 3), undefined, { signal: this.deps.signal }).catch(() => {});
      if (this.deps.isClosing()) throw new Error('audit writer is closed');
    }
    this.held = true;
    log.info({ key: lease.key, token: lease.token }, 'audit writer holds the lease');
    this.timer = setInterval(() => {
      // A writer already stopped on an error keeps its lease until close() releases it.
      if (this.deps.failure()) return;
      this.hold().catch((err: unknown) => {
        // A lost lease is the writer's failure, logged once when it stops; a Redis error is retried.
        if (err !== this.deps.failure()) log.warn({ err }, 'audit writer: renewing the lease failed; retrying');
      });
    }, Math.ceil(lease.ttlMs / 3));
    this.timer.unref();
  }

  /**
   * Renews the lease; when it is no longer ours, stops the writer for good (BW_AUDIT_WRITER_BUSY,
   * through `onLost`) and throws. Redis errors propagate and leave the writer running: a lease
   * that lapses while Redis is unreachable is found lost at the next renewal that reaches it.
   */
  async hold(): Promise<void> {
    const failed = this.deps.failure();
    if (failed) throw failed;
    const { lease } = this.deps;
    if (await lease.renew()) return;
    const lost = new BreachwaveError('BW_AUDIT_WRITER_BUSY', {
      detail: `lost the lease ${lease.key} (it expired, or another writer took it); stopped without writing further lines`,
    });
    this.held = false;
    clearInterval(this.timer);
    this.deps.onLost(lost);
    throw lost;
  }

  /** Stops renewing and gives the lease up; a failure is logged (the lease then expires). */
  async release(): Promise<void> {
    clearInterval(this.timer);
    if (!this.held) return;
    this.held = false;
    try {
      await this.deps.lease.release();
    } catch (err) {
      this.deps.log.warn({ err, key: this.deps.lease.key }, 'audit writer: releasing the lease failed; it frees itself when it expires');
    }
  }
}
