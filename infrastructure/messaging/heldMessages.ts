/**
 * Held and parked message keys across the stages of this process (the relay and each consumer
 * group's isolation): list them, release one (retry now, fresh budget), skip its head message
 * with a recorded reason. GET /v1/admin/outbox/parked and the console's System page use it.
 */
import type { ConsumerHold, ConsumerIsolation } from './consumerIsolation';
import type { OutboxHold, OutboxRelay } from './outboxRelay';

export type HeldMessage = (OutboxHold | ConsumerHold) & { stage: string };

export class HeldMessages {
  constructor(
    private readonly relay: OutboxRelay,
    private readonly isolations: () => readonly ConsumerIsolation[],
  ) {}

  /** Every held key: the relay's and each consumer group's, parked ones first. */
  async list(): Promise<HeldMessage[]> {
    const relay = (await this.relay.holds()).map((h) => ({ ...h, stage: 'relay' }));
    const groups = (await Promise.all(this.isolations().map(async (i) => (await i.holds()).map((h) => ({ ...h, stage: `consumer:${i.group}` }))))).flat();
    return [...relay, ...groups].sort((a, b) => Number(b.parked) - Number(a.parked) || a.since.getTime() - b.since.getTime());
  }

  /** Retry a held key now, at every stage that holds it (or one stage). Returns the stages released. */
  async release(key: string, stage?: string): Promise<string[]> {
    const out: string[] = [];
    if ((!stage || stage === 'relay') && (await this.relay.release(key))) out.push('relay');
    for (const i of this.isolations()) if ((!stage || stage === `consumer:${i.group}`) && (await i.release(key))) out.push(`consumer:${i.group}`);
    return out;
  }

  /** Skip a held key's head message, with a recorded reason, at every stage that holds it (or one stage). */
  async skip(key: string, reason: string, skippedBy: string, stage?: string): Promise<Array<{ stage: string; messageId: string; topic: string }>> {
    const out: Array<{ stage: string; messageId: string; topic: string }> = [];
    if (!stage || stage === 'relay') {
      const r = await this.relay.skip(key, reason, skippedBy);
      if (r) out.push({ stage: 'relay', ...r });
    }
    for (const i of this.isolations()) {
      if (stage && stage !== `consumer:${i.group}`) continue;
      const r = await i.skip(key, reason, skippedBy);
      if (r) out.push({ stage: `consumer:${i.group}`, ...r });
    }
    return out;
  }
}
