/** Constants both transports and both ends agree on. */
export const API_PREFIX = '/api/';
export const API_CALL_PATH = '/api/call/';
export const API_WS_PATH = '/api/ws';
/** WebSocket auth rides in Sec-WebSocket-Protocol (browsers cannot set headers): [PROTOCOL, TOKEN_PREFIX + token]. */
export const WS_PROTOCOL = 'edge-console.v1';
export const WS_TOKEN_PREFIX = 'token.';
/** Electron preload bridge names. */
export const IPC_INVOKE_CHANNEL = 'edge:invoke';
export const IPC_EVENT_CHANNEL = 'edge:event';

/** The surface the preload exposes as window.edgeConsole; nothing else crosses the bridge. */
export interface PreloadBridge {
  invoke(name: string, input: unknown): Promise<unknown>;
  on(event: string, listener: (payload: unknown) => void): () => void;
}
