import type { NextFunction, Request, Response } from 'express';
import { constantTimeEqual } from '../domain/shared/constantTime';
import type { TenantDirectory } from '../domain/ports/apiAccess';
import { Problem } from './problem';

/**
 * Bearer authentication. Tenants use their API keys; the admin key (ADMIN_API_KEY) can manage
 * tenants and keys, and may act for one tenant by naming it in the `Settle-Tenant` header.
 * Every command and query is scoped to the resulting tenant.
 */
export type Principal = { kind: 'admin' } | { kind: 'tenant'; tenantId: string; keyId: string };

export interface AuthedLocals {
  principal: Principal;
  /** The tenant this request acts for; absent for admin calls that name none. */
  tenantId?: string;
}

const unauthorized = (detail: string) => new Problem(401, 'unauthorized', 'Unauthorized', detail);

/** RFC 6750: every 401 names the scheme; `invalid_token` when a key was sent but is not valid. */
function challenge(res: Response, invalidToken: boolean): void {
  res.setHeader('WWW-Authenticate', invalidToken ? 'Bearer realm="settle", error="invalid_token"' : 'Bearer realm="settle"');
}

/** `onRefused`: called for every 401 (no key, unknown or revoked key), e.g. to charge the caller's failed-auth budget. */
export function authenticate(directory: TenantDirectory, adminKey: string | undefined, onRefused: (req: Request) => void = () => undefined) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization');
    const key = header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
    if (key === undefined) {
      onRefused(req);
      challenge(res, false);
      throw unauthorized('Send an API key as "Authorization: Bearer <key>"');
    }
    if (adminKey && constantTimeEqual(key, adminKey)) {
      res.locals.principal = { kind: 'admin' } satisfies Principal;
      const acting = req.get('settle-tenant');
      if (acting) {
        if (!(await directory.getTenant(acting))) throw new Problem(404, 'tenant-not-found', 'Not Found', `No tenant ${acting}`);
        res.locals.tenantId = acting;
      }
      next();
      return;
    }
    const found = await directory.authenticate(key);
    if (!found) {
      onRefused(req);
      challenge(res, true);
      throw unauthorized('The API key is unknown or revoked');
    }
    res.locals.principal = { kind: 'tenant', tenantId: found.tenantId, keyId: found.keyId } satisfies Principal;
    res.locals.tenantId = found.tenantId;
    next();
  };
}

export function requireAdmin(_req: Request, res: Response, next: NextFunction): void {
  if ((res.locals.principal as Principal | undefined)?.kind !== 'admin') throw new Problem(403, 'forbidden', 'Forbidden', 'This endpoint needs the admin key');
  next();
}

/** The tenant a request acts for; a 400 when an admin call names none. */
export function tenantOf(res: Response): string {
  const t = res.locals.tenantId as string | undefined;
  if (!t) throw new Problem(400, 'tenant-required', 'Tenant Required', 'Name the tenant to act for in the Settle-Tenant header');
  return t;
}
