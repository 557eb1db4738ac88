// The npm registry mirror this project is built against serves only the linux-glibc builds of
// packages that ship per-platform binaries (e.g. @biomejs/cli-*), so npm leaves the other platforms
// out of package-lock.json and `npm ci` then refuses the lock as out of sync. This adds lock entries
// (os/cpu/libc, optional) for them; npm skips them on this platform. Run after changing dependencies:
//   node scripts/lock-platform-stubs.cjs
const fs = require('fs');
const path = process.argv[2] || 'package-lock.json';
const l = JSON.parse(fs.readFileSync(path));
const platform = { 'android-arm64': [['android'], ['arm64']], 'android-x64': [['android'], ['x64']], 'darwin-arm64': [['darwin'], ['arm64']], 'darwin-x64': [['darwin'], ['x64']], 'linux-arm64-musl': [['linux'], ['arm64'], ['musl']], 'linux-x64-musl': [['linux'], ['x64'], ['musl']], 'win32-arm64': [['win32'], ['arm64']], 'win32-x64': [['win32'], ['x64']] };
let added = 0;
for (const [key, pkg] of Object.entries(l.packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies || {})) {
    const loc = `node_modules/${dep}`;
    if (l.packages[loc]) continue;
    const suffix = Object.keys(platform).find((s) => dep.endsWith(`-${s}`));
    if (!suffix) { console.error('unknown optional', dep); continue; }
    const [os, cpu, libc] = platform[suffix];
    l.packages[loc] = { version, dev: pkg.dev, optional: true, os, cpu, ...(libc ? { libc } : {}) };
    added++;
  }
}
fs.writeFileSync(path, JSON.stringify(l, null, 2) + '\n');
console.log('added', added);
