import { z } from 'zod';
import type { TenantDirectory } from '../../infrastructure/sql/apiAccess';
import { route, type RouteSpec } from '../api';
import { Problem } from '../problem';
import { id } from './schemas';

/** Tenants and their API keys: admin key only. */
export function adminRoutes(directory: TenantDirectory): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/tenants',
      operationId: 'createTenant',
      summary: 'Create a tenant (a coach, an operator...)',
      tag: 'admin',
      access: 'admin',
      success: 201,
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
      body: z.object({ label: z.string().max(200).nullable().default(null) }).strict(),
      async handler({ body, params }) {
        if (!(await directory.getTenant(params.tenantId!))) throw new Problem(404, 'tenant-not-found', 'Not Found', `No tenant ${params.tenantId}`);
        const { record, apiKey } = await directory.issueKey(params.tenantId!, body.label);
        return { body: { keyId: record.keyId, tenantId: record.tenantId, prefix: record.prefix, label: record.label, apiKey, createdAt: record.createdAt.toISOString() } };
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
      async handler({ params }) {
        const uuid = /^[0-9a-f-]{36}$/i.test(params.keyId!);
        if (!uuid || !(await directory.revokeKey(params.tenantId!, params.keyId!))) throw new Problem(404, 'api-key-not-found', 'Not Found', 'No such API key');
        return { status: 204 };
      },
    }),
  ];
}
