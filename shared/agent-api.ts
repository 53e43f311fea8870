import { z } from 'zod';
import { DeviceIdentity, TelemetrySample } from './telemetry.js';

/**
 * The device agent's HTTP API (all under /v1, `Authorization: Bearer <agent token>`).
 *   GET /v1/identity                 -> AgentIdentityResponse
 *   GET /v1/telemetry?after=&limit=  -> AgentTelemetryResponse   (pull, cursor = seq within bootId)
 *   GET /v1/stream   (WebSocket)     -> AgentStreamMessage per sample (push)
 *   GET /metrics                     -> Prometheus text format
 *   GET /healthz  (no auth)          -> { ok: true }
 */
export const AGENT_API_VERSION = 'v1';

export const AgentIdentityResponse = DeviceIdentity;
export type AgentIdentityResponse = z.infer<typeof AgentIdentityResponse>;

export const AgentTelemetryResponse = z.object({
  deviceId: z.string(),
  bootId: z.string(),
  /** Highest seq the agent has produced; the next pull uses after=latestSeq. */
  latestSeq: z.number().int().nonnegative(),
  /** Lowest seq still buffered; if after < oldestSeq - 1 the collector missed samples (gap is logged). */
  oldestSeq: z.number().int().nonnegative(),
  samples: z.array(z.unknown()),
});
export type AgentTelemetryResponse = z.infer<typeof AgentTelemetryResponse>;

export const AgentStreamMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), identity: DeviceIdentity }),
  z.object({ type: z.literal('sample'), sample: TelemetrySample }),
]);
export type AgentStreamMessage = z.infer<typeof AgentStreamMessage>;
