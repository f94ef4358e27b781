// Prints the path of libseccomp's static library for binding.gyp: the addon
// links it in, so that prebuilt binaries need no libseccomp.so on the user's
// machine. HVTJS_LIBSECCOMP_A overrides the search; otherwise the C compiler
// is asked where it would find the library. Fails the build with what to
// install when the library or its header is missing.
//
// binding.gyp passes the target arch (node-gyp's --arch): a cross build asks
// the target's compiler (CC, else the Debian cross gcc for that arch), and an
// archive for another machine is refused here rather than by the linker.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { arch as hostArch } from 'node:os';

const fail = (what) => {
  process.stderr.write(
    `@hvtjs/linux-kvm: ${what}.\n` +
      "The addon links libseccomp statically: install libseccomp's development files " +
      'with the static library (Debian/Ubuntu: libseccomp-dev; Fedora: libseccomp-devel and ' +
      'libseccomp-static; Alpine: libseccomp-dev and libseccomp-static), or set ' +
      'HVTJS_LIBSECCOMP_A to the path of libseccomp.a.\n',
  );
  process.exit(1);
};

const TARGETS = {
  x64: { triple: 'x86_64-linux-gnu', elfMachine: 62 },
  arm64: { triple: 'aarch64-linux-gnu', elfMachine: 183 },
};
const targetArch = process.argv[2] || hostArch();
const target = TARGETS[targetArch];
const crossCompiler = targetArch === hostArch() || !target ? undefined : `${target.triple}-gcc`;
const compiler = process.env.CC || crossCompiler || 'cc';
const header = spawnSync(compiler, ['-E', '-x', 'c', '-'], {
  input: '#include <seccomp.h>\n',
  encoding: 'utf8',
});
if (header.status !== 0) fail('seccomp.h was not found');

let archive = process.env.HVTJS_LIBSECCOMP_A;
if (!archive) {
  const asked = spawnSync(compiler, ['-print-file-name=libseccomp.a'], { encoding: 'utf8' });
  // The compiler echoes the bare name back when it has no such file.
  archive = asked.status === 0 ? asked.stdout.trim() : '';
}
if (!archive?.includes('/') || !existsSync(archive)) fail('libseccomp.a was not found');

/** e_machine of the first ELF object in an ar archive, or undefined. */
function archiveMachine(path) {
  const bytes = readFileSync(path);
  if (bytes.toString('latin1', 0, 8) !== '!<arch>\n') return undefined;
  for (let at = 8; at + 60 <= bytes.length; ) {
    const size = Number.parseInt(bytes.toString('latin1', at + 48, at + 58).trim(), 10);
    const data = at + 60;
    if (!Number.isFinite(size)) return undefined;
    if (bytes.toString('latin1', data, data + 4) === '\x7fELF')
      return bytes.readUInt16LE(data + 18);
    at = data + size + (size % 2);
  }
  return undefined;
}
const machine = archiveMachine(archive);
if (target && machine !== undefined && machine !== target.elfMachine) {
  fail(
    `${archive} is not for ${targetArch} (ELF machine ${machine}); for a cross build set CC to ` +
      `the target's compiler (${target.triple}-gcc) and install libseccomp-dev for the target ` +
      '(Debian multiarch: libseccomp-dev:arm64)',
  );
}
process.stdout.write(archive);
