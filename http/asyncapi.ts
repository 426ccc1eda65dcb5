/**
 * The AsyncAPI 3.0 document of the Kafka topics Settle publishes, built from the message
 * contracts the producers check every message against (commands/messageContracts.ts): one
 * channel per topic, one message per type with its JSON Schema (envelope and data) and its Kafka
 * headers. Served at /asyncapi.json; docs/asyncapi.yaml is the same document as YAML (a test
 * keeps them equal: `SETTLE_WRITE_ASYNCAPI=1 npx jest http/asyncapi.embedded.test.ts` rewrites it).
 */
import { z } from 'zod';
import { MESSAGE_TYPES, envelopeSchema, type MessageType } from '../commands/messageContracts';
import { TOPICS } from '../domain/ports/messageBus';

const CHANNELS: Record<keyof typeof TOPICS, { readonly description: string; readonly key: string }> = {
  bookings: { description: 'Booking facts (the CRM sync saga acts on them) and operator retries of the CRM pipeline', key: 'The booking stream id: booking-<tenant>.<bookingId>' },
  payments: { description: 'Payment facts for finance reporting: what was collected, failed, refunded and disputed, per payable', key: 'The payable stream id: booking-<tenant>.<id>, invoice-<tenant>.<id> or subscription-<tenant>.<customer>' },
  crmSyncRetry: { description: 'Scheduled retries of one CRM stage (published when due)', key: 'The booking stream id: booking-<tenant>.<bookingId>' },
};

/** Component name of a message type (`booking.paid` -> `booking.paid`: dots are allowed there). */
const componentOf = (type: string) => type;

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>;
  return rest;
}

export function asyncApiDocument(version: string): Record<string, unknown> {
  const types = Object.keys(MESSAGE_TYPES) as MessageType[];
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const [name, address] of Object.entries(TOPICS) as Array<[keyof typeof TOPICS, string]>) {
    const own = types.filter((t) => MESSAGE_TYPES[t].topic === address);
    channels[name] = {
      address,
      title: address,
      description: `${CHANNELS[name].description}. Kafka key: ${CHANNELS[name].key}. A deployment's KAFKA_TOPIC_PREFIX is put before the address.`,
      messages: Object.fromEntries(own.map((t) => [componentOf(t), { $ref: `#/components/messages/${componentOf(t)}` }])),
    };
    operations[`publish-${name}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${name}` },
      summary: `Settle publishes to ${address} (at least once, ordered per key)`,
      messages: own.map((t) => ({ $ref: `#/channels/${name}/messages/${componentOf(t)}` })),
    };
  }
  for (const t of types) {
    messages[componentOf(t)] = {
      name: t,
      title: t,
      summary: MESSAGE_TYPES[t].summary,
      contentType: 'application/json',
      headers: {
        type: 'object',
        required: ['message-type', 'message-version'],
        properties: { 'message-type': { type: 'string', const: t }, 'message-version': { type: 'string', const: '1' }, 'message-id': { type: 'string', description: 'The envelope id (added by the relay)' } },
      },
      payload: jsonSchema(envelopeSchema(t)),
      bindings: { kafka: { key: { type: 'string', description: 'The aggregate stream id' }, bindingVersion: '0.5.0' } },
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Settle integration messages',
      version,
      description:
        'Facts Settle publishes through its transactional outbox to Kafka. Delivery is at least once: deduplicate on the envelope `id`. Within a version changes are additive only (new optional fields, new types): ignore what you do not know. Amounts are integer minor units with an ISO 4217 currency. Rules: docs/messages.md.',
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { messages },
  };
}

/** YAML (block style) of a JSON value: strings always quoted as JSON strings, which YAML 1.2 reads the same. */
export function toYaml(value: unknown, indent = 0): string {
  const pad = ' '.repeat(indent);
  const scalar = (v: unknown) => (v === null ? 'null' : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === undefined ? String(v) : JSON.stringify(v));
  const isEmpty = (v: unknown) => (Array.isArray(v) ? v.length === 0 : v !== null && typeof v === 'object' && Object.keys(v).length === 0);
  const inline = (v: unknown) => (Array.isArray(v) ? '[]' : '{}');
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        if (item !== null && typeof item === 'object' && !isEmpty(item)) {
          const body = toYaml(item, indent + 2);
          return `${pad}- ${body.slice(indent + 2)}`;
        }
        return `${pad}- ${isEmpty(item) ? inline(item) : scalar(item)}\n`;
      })
      .join('');
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const key = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(k) ? k : JSON.stringify(k);
        if (v !== null && typeof v === 'object' && !isEmpty(v)) return `${pad}${key}:\n${toYaml(v, indent + 2)}`;
        return `${pad}${key}: ${isEmpty(v) ? inline(v) : scalar(v)}\n`;
      })
      .join('');
  }
  return `${pad}${scalar(value)}\n`;
}
