/** Reported in identity and /metrics; bump with the agent API or behaviour. */
export const AGENT_VERSION = '0.1.0';
