import { describe, expect, it } from 'vitest';
import {
  MFT_ENTRY_SIZE,
  MFT_HEADER_SIZE,
  MftEntryOffset,
  MftType,
  manifestProblem,
  mftTypeName,
  parseManifest,
} from '../src/entry/kernel.js';
import { HvtError, ManifestError } from '../src/index.js';
import { manifestBytes, setU32 } from './elf-builder.js';

const F = 'kernel.hvt';
const devices = [
  { name: 'storage', type: MftType.BLOCK_BASIC },
  { name: 'service0', type: MftType.NET_BASIC },
];

function invalid(bytes: Uint8Array): ManifestError {
  try {
    parseManifest(bytes, F);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    expect(error).toBeInstanceOf(HvtError);
    expect((error as ManifestError).message).toBe(`${F}: Solo5 manifest is invalid`);
    expect((error as ManifestError).exitStatus).toBe(1);
    return error as ManifestError;
  }
  throw new Error('manifest accepted');
}

describe('parseManifest', () => {
  it('models version, entries, names, types and handles', () => {
    const m = parseManifest(manifestBytes(devices), F);
    expect(m.version).toBe(1);
    expect(m.entries).toHaveLength(3);
    expect(m.entries.map((e) => [e.index, e.name, e.type, e.typeName(), e.attached])).toEqual([
      [0, '', 0x40000000, 'RESERVED_FIRST', false],
      [1, 'storage', 1, 'BLOCK_BASIC', false],
      [2, 'service0', 2, 'NET_BASIC', false],
    ]);
    expect(m.devices().map((e) => e.name)).toEqual(['storage', 'service0']);
    expect(m.findByName('service0')?.index).toBe(2);
    expect(m.findByName('service')).toBeUndefined();
    expect(m.entries[0]?.isDevice()).toBe(false);
    expect(m.entries[1]?.isDevice()).toBe(true);
    expect(m.byteLength).toBe(8 + 3 * 104);
  });

  it('accepts a 67-character name and keeps all 68 name bytes', () => {
    const name = 'a'.repeat(67);
    const m = parseManifest(manifestBytes([{ name, type: 1 }]), F);
    expect(m.entries[1]?.name).toBe(name);
    expect(m.entries[1]?.nameBytes).toHaveLength(68);
  });

  it('rule 1: size of at least 8', () => {
    expect(invalid(new Uint8Array(7)).reason).toBe('size 7 < 8');
    expect(invalid(new Uint8Array(0)).reason).toBe('size 0 < 8');
  });
  it('rule 1: version 1', () => {
    expect(invalid(setU32(manifestBytes(devices), 0, 2)).reason).toBe('version 2 != 1');
    expect(invalid(setU32(manifestBytes(devices), 0, 0)).reason).toBe('version 0 != 1');
  });
  it('rule 1: at most 64 entries', () => {
    const big = manifestBytes(Array.from({ length: 64 }, (_, i) => ({ name: `d${i}`, type: 1 })));
    expect(invalid(big).reason).toBe('entries 65 > 64');
    const max = manifestBytes(Array.from({ length: 63 }, (_, i) => ({ name: `d${i}`, type: 1 })));
    expect(parseManifest(max, F).entries).toHaveLength(64);
    // A huge count must not be trusted to size anything.
    expect(invalid(setU32(manifestBytes([]), 4, 0xffffffff)).reason).toBe(
      'entries 4294967295 > 64',
    );
  });
  it('rule 2: size is exactly 8 + 104 x entries', () => {
    const m = manifestBytes(devices);
    expect(invalid(m.subarray(0, m.length - 1)).reason).toBe('size 319 != 320 for 3 entries');
    const longer = new Uint8Array(m.length + 1);
    longer.set(m);
    expect(invalid(longer).reason).toBe('size 321 != 320 for 3 entries');
    expect(invalid(setU32(manifestBytes(devices), 4, 2)).reason).toBe(
      'size 320 != 216 for 2 entries',
    );
  });
  it('rule 3: at least one entry, entry 0 RESERVED_FIRST with an empty name', () => {
    const empty = new Uint8Array(8);
    setU32(empty, 0, 1);
    expect(invalid(empty).reason).toBe('no entries');
    expect(invalid(setU32(manifestBytes(devices), 8 + 68, 1)).reason).toBe(
      'entry 0 is not of type RESERVED_FIRST',
    );
    const named = manifestBytes(devices);
    named[8] = 0x41;
    expect(invalid(named).reason).toBe('entry 0 has a name');
  });
  it('rule 4: every name terminated, nothing attached', () => {
    const unterminated = manifestBytes(devices);
    unterminated[8 + 2 * 104 + 67] = 0x41;
    expect(invalid(unterminated).reason).toBe('entry 2 name is not terminated');
    const attached = manifestBytes(devices);
    attached[8 + 104 + 96] = 1;
    expect(invalid(attached).reason).toBe('entry 1 is already attached');
    const reservedAttached = manifestBytes(devices);
    reservedAttached[8 + 96] = 2;
    expect(invalid(reservedAttached).reason).toBe('entry 0 is already attached');
  });
  it('does not validate other entries types or name characters', () => {
    const odd = manifestBytes([
      { name: 'x-y z', type: 7 },
      { name: '', type: 0x40000001 },
    ]);
    const m = parseManifest(odd, F);
    expect(m.entries[1]?.typeName()).toBe('<undefined type>');
    expect(m.entries[2]?.typeName()).toBe('<undefined type>');
    expect(manifestProblem(odd)).toBeUndefined();
  });
});

describe('mftTypeName (11.6)', () => {
  it('names the known types and nothing else', () => {
    expect(mftTypeName(1)).toBe('BLOCK_BASIC');
    expect(mftTypeName(2)).toBe('NET_BASIC');
    expect(mftTypeName(0x40000000)).toBe('RESERVED_FIRST');
    for (const t of [0, 3, 0x3fffffff, 0x40000001, 0xffffffff]) {
      expect(mftTypeName(t)).toBe('<undefined type>');
    }
  });
});

describe('binary layout (4.4)', () => {
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

  it('has the offsets of struct mft and struct mft_entry', () => {
    expect(MFT_HEADER_SIZE).toBe(8);
    expect(MFT_ENTRY_SIZE).toBe(104);
    expect(MftEntryOffset).toEqual({
      NAME: 0,
      TYPE: 68,
      BLOCK_CAPACITY: 72,
      BLOCK_SIZE: 80,
      NET_MAC: 72,
      NET_MTU: 78,
      PRIVATE: 88,
      PRIVATE_SIZE: 8,
      ATTACHED: 96,
    });
  });

  it('encodes the attached devices where the guest reads them', () => {
    const source = manifestBytes(devices);
    // Bytes the tender does not own survive: padding after `attached`, and
    // bytes after a name's NUL.
    source.fill(0x5a, 8 + 104 + 97, 8 + 104 + 104);
    source[8 + 104 + 60] = 0x33;
    // The private union must not reach the guest, whatever the ELF held.
    source.fill(0xee, 8 + 2 * 104 + 88, 8 + 2 * 104 + 96);
    const m = parseManifest(source, F);
    const block = m.entries[1]!;
    block.attached = true;
    block.block.capacity = 0x1_2345_6789 * 512;
    block.block.blockSize = 4096;
    const net = m.entries[2]!;
    net.attached = true;
    net.net.mac = new Uint8Array([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    net.net.mtu = 1500;

    const out = m.encode();
    const dv = view(out);
    expect(out.byteLength).toBe(8 + 3 * 104);
    // header
    expect(dv.getUint32(0, true)).toBe(1);
    expect(dv.getUint32(4, true)).toBe(3);
    // entry 0 is untouched apart from its private union and attached flag
    expect(out.subarray(8, 8 + 88)).toEqual(source.subarray(8, 8 + 88));
    expect(out[8 + 96]).toBe(0);
    // entry 1: block
    const e1 = 8 + 104;
    expect(new TextDecoder().decode(out.subarray(e1, e1 + 7))).toBe('storage');
    expect(out[e1 + 7]).toBe(0);
    expect(out[e1 + 60]).toBe(0x33);
    expect(dv.getUint32(e1 + 68, true)).toBe(1);
    expect(dv.getBigUint64(e1 + 72, true)).toBe(0x1_2345_6789n * 512n);
    expect(dv.getUint16(e1 + 80, true)).toBe(4096);
    expect(out.subarray(e1 + 88, e1 + 96)).toEqual(new Uint8Array(8));
    expect(out[e1 + 96]).toBe(1);
    expect(out.subarray(e1 + 97, e1 + 104)).toEqual(new Uint8Array(7).fill(0x5a));
    // entry 2: net, one stride further
    const e2 = 8 + 2 * 104;
    expect(new TextDecoder().decode(out.subarray(e2, e2 + 8))).toBe('service0');
    expect(dv.getUint32(e2 + 68, true)).toBe(2);
    expect([...out.subarray(e2 + 72, e2 + 78)]).toEqual([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    expect(dv.getUint16(e2 + 78, true)).toBe(1500);
    expect(out.subarray(e2 + 88, e2 + 96)).toEqual(new Uint8Array(8));
    expect(out[e2 + 96]).toBe(1);
    // The source is never modified by encoding.
    expect(source[e1 + 96]).toBe(0);
  });

  it('reads union u back as both views, as C would', () => {
    const source = manifestBytes(devices);
    const dv = view(source);
    dv.setBigUint64(8 + 104 + 72, 1n << 40n, true);
    dv.setUint16(8 + 104 + 80, 512, true);
    source.set([1, 2, 3, 4, 5, 6], 8 + 2 * 104 + 72);
    dv.setUint16(8 + 2 * 104 + 78, 9000, true);
    const m = parseManifest(source, F);
    expect(m.entries[1]?.block).toEqual({ capacity: 2 ** 40, blockSize: 512 });
    expect([...m.entries[2]!.net.mac]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(m.entries[2]?.net.mtu).toBe(9000);
    // An unchanged manifest encodes to its source (private union aside).
    expect(m.encode()).toEqual(source);
  });

  it('renders JSON like solo5-elftool query-manifest, without entry 0', () => {
    const m = parseManifest(manifestBytes(devices), F);
    expect(JSON.stringify(m)).toBe(
      '{"type":"solo5.manifest","version":1,"devices":[{"name":"storage","type":"BLOCK_BASIC"},{"name":"service0","type":"NET_BASIC"}]}',
    );
    expect(parseManifest(manifestBytes([]), F).toJSON()).toEqual({
      type: 'solo5.manifest',
      version: 1,
      devices: [],
    });
  });
});
