#!/usr/bin/env node
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const entry = join(__dirname, '..', 'dist', 'edgectl.cjs');
if (!existsSync(entry)) {
  console.error(
    'edgectl is not built yet. Run `npm run build` (or `npm start`) in the Edge Console folder first.',
  );
  process.exit(3);
}
require(entry);
