import { z } from 'zod';
import type { TenantDirectory } from '../../domain/ports/apiAccess';
import type { SqlClient } from '../../domain/ports/sql';
import type { HeldKeys } from '../services';
import type { ConnectedAccounts } from '../../domain/ports/providerRefs';
import type { ProjectionControl } from '../../domain/ports/projection';
import { apiKeyOut, deadLettersOut, parkedKeysOut, projectionsOut, rebuildOut, releasedOut, resumeOut, skippedOut, stripeAccountLinkOut, stripeAccountsOut, tenantOut } from './responses';
import { route, type RouteSpec } from '../api';
import { Problem } from '../problem';
import { id } from './schemas';

type Accounts = Pick<ConnectedAccounts, 'link' | 'list'>;

/** Tenants and their API keys: admin key only. */
export function adminRoutes(directory: TenantDirectory, accounts: Accounts): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/tenants',
      operationId: 'createTenant',
      summary: 'Create a tenant (a coach, an operator...)',
      tag: 'admin',
      access: 'admin',
      success: 201,
      response: tenantOut,
      problems: { 409: ['tenant-exists'] },
      body: z.object({ tenantId: id, name: z.string().min(1).max(200) }).strict(),
      async handler({ body }) {
        const t = await directory.createTenant(body.tenantId, body.name);
        if (!t) throw new Problem(409, 'tenant-exists', 'Conflict', `Tenant ${body.tenantId} already exists`, [{ path: 'body.tenantId', message: 'taken' }]);
        return { body: { tenantId: t.tenantId, name: t.name, createdAt: t.createdAt.toISOString() } };
      },
    }),
    route({
      method: 'post',
      path: '/tenants/:tenantId/api-keys',
      operationId: 'createApiKey',
      summary: 'Issue an API key for a tenant; the key is shown once',
      tag: 'admin',
      access: 'admin',
      success: 201,
      response: apiKeyOut,
      problems: { 404: ['tenant-not-found'] },
      body: z.object({ label: z.string().max(200).nullable().default(null) }).strict(),
      async handler({ body, params, res }) {
        if (!(await directory.getTenant(params.tenantId))) throw new Problem(404, 'tenant-not-found', 'Not Found', `No tenant ${params.tenantId}`);
        res.locals.idempotencyHide = ['apiKey']; // the key is shown once: never kept for a replay
        const { record, apiKey } = await directory.issueKey(params.tenantId, body.label);
        return { body: { keyId: record.keyId, tenantId: record.tenantId, prefix: record.prefix, label: record.label, apiKey, createdAt: record.createdAt.toISOString() } };
      },
    }),
    route({
      method: 'post',
      path: '/tenants/:tenantId/stripe-account',
      operationId: 'linkStripeAccount',
      summary:
        "Link a tenant's Stripe connected account (the only way an account is linked: account.updated never links). It replaces the tenant's current account, which is kept as previous; it takes Connect payments once Stripe reports charges enabled",
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: stripeAccountLinkOut,
      problems: { 404: ['tenant-not-found'], 409: ['stripe-account-linked-elsewhere'] },
      body: z.object({ accountId: z.string().regex(/^acct_[A-Za-z0-9]{1,64}$/, 'must be a Stripe account id (acct_...)') }).strict(),
      async handler({ body, params }) {
        if (!(await directory.getTenant(params.tenantId))) throw new Problem(404, 'tenant-not-found', 'Not Found', `No tenant ${params.tenantId}`);
        const r = await accounts.link(params.tenantId, body.accountId);
        if (!r.linked) throw new Problem(409, 'stripe-account-linked-elsewhere', 'Conflict', `Stripe account ${body.accountId} is (or was) linked to another tenant`, [{ path: 'body.accountId', message: 'linked to another tenant' }]);
        return { body: { tenantId: params.tenantId, accountId: body.accountId, previousAccountId: r.previousAccountId } };
      },
    }),
    route({
      method: 'get',
      path: '/tenants/:tenantId/stripe-account',
      operationId: 'listStripeAccounts',
      summary: "A tenant's current Stripe connected account and the ones it replaced, with their capabilities",
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: stripeAccountsOut,
      problems: { 404: ['tenant-not-found'] },
      async handler({ params }) {
        if (!(await directory.getTenant(params.tenantId))) throw new Problem(404, 'tenant-not-found', 'Not Found', `No tenant ${params.tenantId}`);
        return { body: { data: await accounts.list(params.tenantId) } };
      },
    }),
    route({
      method: 'delete',
      path: '/tenants/:tenantId/api-keys/:keyId',
      operationId: 'revokeApiKey',
      summary: 'Revoke an API key',
      tag: 'admin',
      access: 'admin',
      success: 204,
      response: null,
      problems: { 404: ['api-key-not-found'] },
      async handler({ params }) {
        const uuid = /^[0-9a-f-]{36}$/i.test(params.keyId);
        if (!uuid || !(await directory.revokeKey(params.tenantId, params.keyId))) throw new Problem(404, 'api-key-not-found', 'Not Found', 'No such API key');
        return { status: 204 };
      },
    }),
  ];
}

/**
 * Operator endpoints for messages held per key (the outbox relay could not publish them, or a
 * consumer group could not handle them): list, release (retry now) and skip (with a reason).
 */
export function adminOutboxRoutes(heldKeys: HeldKeys): RouteSpec[] {
  const stage = z
    .string()
    .regex(/^(relay|consumer:[a-z0-9-]{1,100})$/, "must be 'relay' or 'consumer:<group>'")
    .optional();
  const keyOf = (params: { readonly key: string }): string => {
    const key = params.key;
    if (key.length < 1 || key.length > 500) throw new Problem(422, 'validation-error', 'Validation Failed', 'The key must be 1 to 500 characters', [{ path: 'params.key', message: 'length 1..500' }]);
    return key;
  };
  const notHeld = (key: string) => new Problem(404, 'message-key-not-held', 'Not Found', `No message of key ${key} is held`);
  return [
    route({
      method: 'get',
      path: '/admin/outbox/parked',
      operationId: 'listParkedMessageKeys',
      summary: 'Message keys held by the outbox relay or a consumer group (parked ones first): key, head message, topic, error, attempts, since',
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: parkedKeysOut,
      async handler() {
        const held = await heldKeys.list();
        return {
          body: {
            data: held.map((h) => ({
              key: h.key,
              stage: h.stage,
              state: h.parked ? 'parked' : 'retrying',
              messageId: h.messageId,
              topic: h.topic,
              error: h.error,
              attempts: h.attempts,
              since: h.since.toISOString(),
              nextAttemptAt: h.nextAttemptAt?.toISOString() ?? null,
              waiting: h.waiting,
            })),
          },
        };
      },
    }),
    route({
      method: 'post',
      path: '/admin/outbox/parked/:key/release',
      operationId: 'releaseParkedMessageKey',
      summary: "Retry a held key's head message now, with a fresh attempt budget (every stage holding the key, or the one named)",
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: releasedOut,
      problems: { 404: ['message-key-not-held'], 422: ['validation-error'] },
      body: z.object({ stage }).strict(),
      async handler({ params, body }) {
        const key = keyOf(params);
        const released = await heldKeys.release(key, body.stage);
        if (released.length === 0) throw notHeld(key);
        return { body: { key, released } };
      },
    }),
    route({
      method: 'post',
      path: '/admin/outbox/parked/:key/skip',
      operationId: 'skipParkedMessage',
      summary: "Skip a held key's head message (recorded with the reason in parked_skips); the key's later messages flow again",
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: skippedOut,
      problems: { 404: ['message-key-not-held'], 422: ['validation-error'] },
      body: z.object({ reason: z.string().trim().min(1).max(1000), requestedBy: z.string().min(1).max(200).default('admin'), stage }).strict(),
      async handler({ params, body }) {
        const key = keyOf(params);
        const skipped = await heldKeys.skip(key, body.reason, body.requestedBy, body.stage);
        if (skipped.length === 0) throw notHeld(key);
        return { body: { key, reason: body.reason, skipped } };
      },
    }),
  ];
}

/** Operator endpoints for the read models: status, rebuild, resume after a halt, dead letters. */
export function adminProjectionRoutes(rt: { readonly projections: readonly ProjectionControl[]; readonly db: SqlClient; readonly heldKeys: HeldKeys }): RouteSpec[] {
  const known = (name: string | undefined) => {
    const runner = rt.projections.find((p) => p.name === name);
    if (!runner) throw new Problem(404, 'projection-not-found', 'Not Found', `No projection ${name ?? ''}; known: ${rt.projections.map((p) => p.name).join(', ')}`);
    return runner;
  };
  return [
    route({
      method: 'get',
      path: '/admin/projections',
      operationId: 'listProjections',
      summary: 'Every projection: generation, checkpoint, lag, dead letters, halted, leader',
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: projectionsOut,
      async handler() {
        const data = await Promise.all(
          rt.projections.map(async (p) => {
            const { leader, ...o } = await p.overview();
            return { ...o, leaderHere: leader };
          }),
        );
        return { body: { data } };
      },
    }),
    route({
      method: 'post',
      path: '/admin/projections/:name/rebuild',
      operationId: 'rebuildProjection',
      summary: 'Rebuild a read model from position zero into fresh tables, then switch over atomically',
      tag: 'admin',
      access: 'admin',
      success: 202,
      response: rebuildOut,
      problems: { 404: ['projection-not-found'] },
      body: z.object({}).strict(),
      async handler({ params }) {
        const runner = known(params.name);
        await runner.requestRebuild();
        return { body: { name: runner.name, rebuildRequested: true } };
      },
    }),
    route({
      method: 'post',
      path: '/admin/projections/:name/resume',
      operationId: 'resumeProjection',
      summary: 'Resume a halted projection: retry the event that stopped it, or skip it (it stays dead-lettered)',
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: resumeOut,
      problems: { 404: ['projection-not-found'] },
      body: z.object({ skip: z.boolean().default(false) }).strict(),
      async handler({ params, body }) {
        const runner = known(params.name);
        await runner.resume(body.skip);
        return { body: { name: runner.name, resumed: true, skipped: body.skip } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/projections/:name/dead-letters',
      operationId: 'listDeadLetters',
      summary: 'Events a projection could not apply, with the error and their position',
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: deadLettersOut,
      problems: { 404: ['projection-not-found'] },
      async handler({ params }) {
        const runner = known(params.name);
        // int8 columns arrive as strings (pg) or bigints, timestamptz as a Date or its text
        const { rows } = await rt.db.query<{ generation: number; event_id: string; event_type: string; stream_id: string; position_commit: string | bigint; position_prepare: string | bigint; error: string; created_at: Date | string }>(
          `SELECT id, generation, event_id, event_type, stream_id, position_commit, position_prepare, error, created_at
             FROM projection_dead_letters WHERE projection = $1 ORDER BY id DESC LIMIT 500`,
          [runner.name],
        );
        return {
          body: {
            data: rows.map((r) => ({
              generation: r.generation,
              eventId: r.event_id,
              eventType: r.event_type,
              streamId: r.stream_id,
              position: `${r.position_commit.toString()}/${r.position_prepare.toString()}`,
              error: r.error,
              at: new Date(r.created_at).toISOString(),
            })),
          },
        };
      },
    }),
    // operator endpoints for held message keys (mounted with these, so app.ts needs no change)
    ...adminOutboxRoutes(rt.heldKeys),
  ];
}
