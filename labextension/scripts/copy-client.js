// Copy the official socket.io-client browser bundle to where the Python package serves it
// as {base_url}socket.io/socket.io.js (jupyter_rt/static/, built, not committed).
'use strict';
const fs = require('fs');
const path = require('path');

// Only ./package.json and ./dist/socket.io.js are exported; find the package folder.
const root = path.dirname(require.resolve('socket.io-client/package.json'));
const source = path.join(root, 'dist', 'socket.io.min.js');
const version = require('socket.io-client/package.json').version;
const target = path.resolve(__dirname, '..', '..', 'jupyter_rt', 'static');

fs.mkdirSync(target, { recursive: true });
for (const name of ['socket.io.min.js']) {
  const from = path.join(path.dirname(source), name);
  if (fs.existsSync(from)) {
    fs.copyFileSync(from, path.join(target, name));
  }
}
fs.writeFileSync(
  path.join(target, 'socket.io-client.json'),
  JSON.stringify({ name: 'socket.io-client', version, file: 'socket.io.min.js' }, null, 2) + '\n'
);
console.log(`socket.io-client ${version} -> ${path.relative(process.cwd(), target)}`);
