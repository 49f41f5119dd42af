#!/usr/bin/env node
// prebuildify has no cmake-js backend: it runs this in place of node-gyp
// (`--node-gyp scripts/prebuildify-cmake.js`). Whatever node-gyp arguments it
// passes, the addon is built by the package's own install script into
// build/Release, where prebuildify picks it up. The N-API build serves every
// Node version, so the target version does not matter.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const result = spawnSync(process.execPath, [path.join(__dirname, 'install.js'), '--force'], { stdio: 'inherit' });
process.exit(result.status === null ? 1 : result.status);
