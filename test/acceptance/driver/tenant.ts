/** A tenant as a customer's app sets one up: created by the admin, with its own API key. */
import type { Api, Settle } from './service';

export interface Tenant {
  readonly id: string;
  readonly api: Api;
}

export async function newTenant(settle: Settle, id: string, opts: { stripeAccount?: string } = {}): Promise<Tenant> {
  const created = await settle.admin.post('/v1/tenants', { tenantId: id, name: `Tenant ${id.slice(0, 20)}` });
  if (created.status !== 201) throw new Error(`create tenant: ${created.status} ${JSON.stringify(created.body)}`);
  const key = await settle.admin.post<{ apiKey: string }>(`/v1/tenants/${id}/api-keys`, {});
  if (key.status !== 201) throw new Error(`api key: ${key.status} ${JSON.stringify(key.body)}`);
  if (opts.stripeAccount) {
    const linked = await settle.admin.post(`/v1/tenants/${id}/stripe-account`, { accountId: opts.stripeAccount });
    if (linked.status !== 200) throw new Error(`link account: ${linked.status} ${JSON.stringify(linked.body)}`);
  }
  return { id, api: settle.as(key.body.apiKey) };
}

/** An id of exactly `length` characters from [A-Za-z0-9], starting with `prefix`: the API's maximum is 100. */
export function idOfLength(prefix: string, length = 100): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = prefix;
  while (s.length < length) s += chars.charAt((s.length * 7 + Date.now()) % chars.length);
  return s.slice(0, length);
}
