// The preload is a dumb pipe: it exposes exactly two functions, scoped to the contract's call and
// event names, and forwards plain data. Validation happens in the main process.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { isCallName, isEventName } from '../../shared/contract.js';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type PreloadBridge } from '../../shared/transport.js';

const bridge: PreloadBridge = {
  invoke(name, input) {
    if (!isCallName(name)) return Promise.reject(new Error(`Unknown call ${String(name)}`));
    return ipcRenderer.invoke(IPC_INVOKE_CHANNEL, name, input) as Promise<unknown>;
  },
  on(event, listener) {
    if (!isEventName(event)) throw new Error(`Unknown event ${String(event)}`);
    const handler = (_e: IpcRendererEvent, frame: { event: string; payload: unknown }) => {
      if (frame.event === event) listener(frame.payload);
    };
    ipcRenderer.on(IPC_EVENT_CHANNEL, handler);
    return () => {
      ipcRenderer.removeListener(IPC_EVENT_CHANNEL, handler);
    };
  },
};

contextBridge.exposeInMainWorld('edgeConsole', bridge);
