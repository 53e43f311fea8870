import { arch, hostname, release, type } from 'node:os';
import type { Accelerator } from '../../../shared/telemetry.js';
import { exists, readText } from './fsread.js';
import type { HardwareIdentity } from './types.js';

export function parseOsRelease(text: string): string | null {
  for (const line of text.split('\n')) {
    const m = /^PRETTY_NAME=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) return m[1].replace(/^["']|["']$/g, '').trim() || null;
  }
  return null;
}

async function hardwareModel(root: string): Promise<string> {
  const dt = await readText(root, '/proc/device-tree/model');
  if (dt) return dt;
  const [vendor, product] = await Promise.all([
    readText(root, '/sys/class/dmi/id/sys_vendor'),
    readText(root, '/sys/class/dmi/id/product_name'),
  ]);
  if (product) return vendor && !product.startsWith(vendor) ? `${vendor} ${product}` : product;
  return 'unknown hardware';
}

export async function detectAccelerator(root: string, model: string): Promise<Accelerator> {
  const [tegraRelease, tegrastats, tegrastatsSbin, apexDev, apexClass] = await Promise.all([
    exists(root, '/etc/nv_tegra_release'),
    exists(root, '/usr/bin/tegrastats'),
    exists(root, '/usr/sbin/tegrastats'),
    exists(root, '/dev/apex_0'),
    exists(root, '/sys/class/apex'),
  ]);
  if (tegraRelease || tegrastats || tegrastatsSbin || /jetson/i.test(model)) return 'jetson';
  if (apexDev || apexClass) return 'coral';
  return 'cpu';
}

/** Who this device is, from the files every Linux distribution (or device tree) already has. */
export async function readIdentity(root = '/'): Promise<HardwareIdentity> {
  const [model, osRelease, machineId, serial] = await Promise.all([
    hardwareModel(root),
    readText(root, '/etc/os-release'),
    readText(root, '/etc/machine-id'),
    readText(root, '/proc/device-tree/serial-number'),
  ]);
  return {
    hostname: hostname().slice(0, 255),
    hardwareModel: model.slice(0, 255),
    os: ((osRelease && parseOsRelease(osRelease)) ?? `${type()} ${release()}`).slice(0, 255),
    arch: arch(),
    machineId: machineId ? machineId.slice(0, 128) : null,
    serial: serial ? serial.slice(0, 128) : null,
    accelerator: await detectAccelerator(root, model),
  };
}
