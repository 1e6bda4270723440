#!/usr/bin/env node
// Compiles testdata/Probe.sol into Probe.bin (hex creation code) and
// Probe.abi.json with solc-js 0.8.26 (evmVersion london, optimizer 200
// runs, no metadata), the settings tron/contracts uses.
//
//   cd /tmp && npm install solc@0.8.26
//   NODE_PATH=/tmp/node_modules node tron/devnet/testdata/compile.mjs
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(process.env.NODE_PATH || here, 'x.js'));
const solc = require('solc');
if (!solc.version().startsWith('0.8.26+')) {
  console.error(`compile.mjs: want solc 0.8.26, have ${solc.version()}`);
  process.exit(1);
}
const input = {
  language: 'Solidity',
  sources: { 'Probe.sol': { content: fs.readFileSync(path.join(here, 'Probe.sol'), 'utf8') } },
  settings: {
    evmVersion: 'london',
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
for (const e of out.errors || []) {
  if (e.severity === 'error') {
    console.error(e.formattedMessage);
    process.exit(1);
  }
}
const c = out.contracts['Probe.sol'].Probe;
fs.writeFileSync(path.join(here, 'Probe.bin'), c.evm.bytecode.object + '\n');
fs.writeFileSync(path.join(here, 'Probe.abi.json'), JSON.stringify(c.abi, null, 2) + '\n');
console.log(`Probe: ${c.evm.bytecode.object.length / 2} bytes (${solc.version()})`);
